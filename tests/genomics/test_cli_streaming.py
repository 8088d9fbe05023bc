"""`hcml annotate` reads, annotates and writes a VCF a chunk of records at a time: its outputs must not depend
on the chunk size, and must equal annotating the whole file at once (`read_vcf` + `annotate`)."""

from __future__ import annotations

import gzip

import polars as pl
import pytest
from click.testing import CliRunner

from hcml.cli import main

pytest.importorskip("hcml.genomics.annotate")

FORMATS = ("vep", "vcf", "json", "parquet")


@pytest.fixture(scope="module")
def messy_vcf(data_root, tmp_path_factory):
    """The real HG00096 sample VCF made as awkward as real files are: every record twice in a row (a cohort's
    repeated sites), a multi-allelic record, records the reader rejects (REF against the genome, a short line,
    a POS that is not a number), blank lines, a record with an old CSQ, and a CRLF line ending."""
    lines = (data_root / "samples" / "HG00096_chr21_region.vcf").read_text().splitlines()
    header = [l for l in lines if l.startswith("#")]
    body = [l for l in lines if l and not l.startswith("#")]
    out = []
    for k, line in enumerate(body):
        f = line.split("\t")
        if k == 3:  # a second ALT: a multi-allelic record, genotype of the second allele
            alt2 = next(b for b in "ACGT" if b not in (f[3], f[4]))
            out.append("\t".join(f[:4] + [f"{f[4]},{alt2}"] + f[5:9] + ["1|2"]))
        if k == 5:
            out.append("\t".join(f[:3] + ["A" if f[3] != "A" else "C"] + f[4:]))  # REF not the genome's
            out.append("\t".join(f[:5]))  # too few columns
            out.append("")
        if k == 8:
            out.append("\t".join(f[:1] + ["12x"] + f[2:]))  # POS not an integer
            out.append("\t".join(f[:7] + ["DP=3;CSQ=T|old"] + f[8:]))  # an existing CSQ, replaced
        if k == 11:
            out.append(line + "\r")
        out += [line, line]
    text = "\n".join(header + out) + "\n"
    path = tmp_path_factory.mktemp("messy") / "messy.vcf"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def messy_vcf_with_sv(messy_vcf, bundle, tmp_path_factory):
    """`messy_vcf` with a symbolic deletion as its last record (a structural ALT anywhere adds the overlap
    columns to the whole output)."""
    ref = bundle.fetch("21", 25891700, 25891700)
    path = tmp_path_factory.mktemp("messy_sv") / "messy_sv.vcf"
    path.write_text(messy_vcf.read_text() + f"21\t25891700\tsv1\t{ref}\t<DEL>\t.\t.\tSVTYPE=DEL;END=25891800\tGT\t0|1\n")
    return path


def annotate_cli(args, env=None, input=None):
    result = CliRunner().invoke(main, ["annotate", *args], input=input, env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    return result


def outputs(vcf, bundle_dir, out_dir, chunk_records):
    env = {"HCML_ANNOTATE_CHUNK_RECORDS": str(chunk_records)}
    got = {}
    for fmt in FORMATS:
        out, rejects = out_dir / f"out.{fmt}", out_dir / f"rejects.{fmt}.tsv"
        result = annotate_cli([str(vcf), "--bundle", str(bundle_dir), "--format", fmt, "-o", str(out),
                               "--rejects", str(rejects)], env=env)
        if fmt == "parquet":
            got[fmt] = pl.read_parquet(out)
        else:  # the VEP tab header carries the time of writing
            got[fmt] = "\n".join(l for l in out.read_text().splitlines() if not l.startswith("## Output produced at"))
        got[f"rejects.{fmt}"] = rejects.read_text()
        got[f"summary.{fmt}"] = result.stderr.strip().rsplit(" (", 1)[0]
    return got


@pytest.mark.parametrize("name", ["messy_vcf", "messy_vcf_with_sv"])
def test_outputs_do_not_depend_on_the_chunk_size(name, bundle_dir, bundle, tmp_path, request):
    from hcml.genomics.annotate import annotate
    from hcml.genomics.inputs import read_vcf

    messy_vcf = request.getfixturevalue(name)
    n_lines = sum(1 for l in messy_vcf.read_text().splitlines() if not l.startswith("#"))
    (tmp_path / "whole").mkdir()
    whole = outputs(messy_vcf, bundle_dir, tmp_path / "whole", 10 * n_lines)
    parsed = read_vcf(messy_vcf, bundle)
    assert parsed.rejects.height == 3 and parsed.variants["line"].is_duplicated().any()  # the awkward parts are there
    assert whole["summary.vep"].endswith(f"{parsed.n_input} in = {parsed.variants.height} annotated + 3 rejected")
    # one chunk equals annotating the whole file at once
    assert whole["parquet"].equals(annotate(parsed.variants, bundle))
    if name == "messy_vcf_with_sv":
        assert "OverlapBP" in whole["vep"] and "sv1" in whole["vep"]
    for size in (1, 2, 7, 100):
        (tmp_path / str(size)).mkdir()
        chunked = outputs(messy_vcf, bundle_dir, tmp_path / str(size), size)
        for key, value in whole.items():
            if isinstance(value, pl.DataFrame):
                assert chunked[key].equals(value), (size, key)
            else:
                assert chunked[key] == value, (size, key)


def test_bgzipped_and_stdin_inputs_chunk_the_same(messy_vcf, bundle_dir, tmp_path):
    import pysam

    gz = tmp_path / "messy.vcf.gz"
    pysam.tabix_compress(str(messy_vcf), str(gz))
    plain = gzip.decompress(gz.read_bytes())
    expected = annotate_cli([str(messy_vcf), "--bundle", str(bundle_dir), "--format", "vcf"],
                            env={"HCML_ANNOTATE_CHUNK_RECORDS": "1000000"}).stdout
    for source, stdin in ((str(gz), None), ("-", plain), ("-", gz.read_bytes())):
        got = annotate_cli([source, "--bundle", str(bundle_dir), "--format", "vcf"],
                           env={"HCML_ANNOTATE_CHUNK_RECORDS": "3"}, input=stdin).stdout
        assert got == expected, source


def test_bad_chunk_size_is_a_whole_input_error(messy_vcf, bundle_dir):
    result = CliRunner().invoke(main, ["annotate", str(messy_vcf), "--bundle", str(bundle_dir)],
                                env={"HCML_ANNOTATE_CHUNK_RECORDS": "0"})
    assert result.exit_code == 2 and "HCML_ANNOTATE_CHUNK_RECORDS" in result.stderr


def test_annotation_parts_put_together_are_the_chunk(messy_vcf, bundle):
    """The Parquet writer expands a chunk part by part: the parts, in order, are the whole expansion (and
    that equals annotating every record)."""
    from hcml.genomics.annotate import annotate
    from hcml.genomics.annotate_cli import annotate_chunk
    from hcml.genomics.inputs import read_vcf

    parsed = read_vcf(messy_vcf, bundle)
    chunk = annotate_chunk(parsed, bundle)
    assert chunk.reps is not None  # the repeated records share their allele's rows
    whole = chunk.annotations()
    assert whole.equals(annotate(parsed.variants, bundle))
    parts = list(chunk.annotation_parts(50))
    assert len(parts) > 1 and pl.concat(parts).equals(whole)
