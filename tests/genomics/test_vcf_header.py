"""The VCF header rule (`hcml.genomics.vcf.vcf_header`) and the CLI route: each bad header refused naming the
line; a VCF without ##fileformat read."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from hcml.cli import main
from hcml.genomics.errors import InputError
from hcml.genomics.vcf import parse_vcf, vcf_text_header
from tests.vcf_header_cases import BAD_HEADERS, WITHOUT_FILEFORMAT


@pytest.mark.parametrize("name", sorted(BAD_HEADERS))
def test_rule_names_the_line(name):
    body, expected = BAD_HEADERS[name]
    with pytest.raises(InputError) as caught:
        vcf_text_header(body)
    assert expected in str(caught.value)
    with pytest.raises(InputError) as parsed:  # the reader applies the same rule
        parse_vcf(body.encode())
    assert str(parsed.value) == str(caught.value)


def test_fileformat_is_not_required():
    header, samples = vcf_text_header(WITHOUT_FILEFORMAT)
    assert header == [WITHOUT_FILEFORMAT.splitlines()[0]] and samples == []
    assert parse_vcf(WITHOUT_FILEFORMAT.encode()).n_records == 1


@pytest.mark.parametrize("name", sorted(BAD_HEADERS))
def test_cli_route(name, bundle_dir, tmp_path):
    body, expected = BAD_HEADERS[name]
    path = tmp_path / "in.vcf"
    path.write_text(body)
    result = CliRunner().invoke(main, ["annotate", str(path), "--bundle", str(bundle_dir)])
    assert result.exit_code != 0
    assert expected in result.output + (result.stderr or "")
