"""The row-by-row twin of parsing (hcml.small_inputs) returns exactly what the vectorised form returns.

Every test runs the same real inputs under `forced("vectorised")` (the definition) and `forced("small")` and
compares the frames with `assert_frame_equal` at default strictness (columns, order, dtypes, values, row
order, reject messages). Inputs come from the real data: every record of the saturation set, the two
samples, the chr21 rows of the ClinVar release and the population file's alleles (Ensembl '-' alleles,
multi-allelic sites), indels planted at the right end of the genome's longest tandem repeats (long left
shifts), and bad inputs made by perturbing those records.
"""

from __future__ import annotations

import gzip
import random
import re

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from hcml.genomics import inputs
from hcml.genomics.inputs import parse_variant_strings
from hcml.genomics.normalise import CANDIDATE_SCHEMA, check_and_normalise_rows
from hcml.genomics.variant_strings import candidate_rows
from hcml.small_inputs import forced


def _records(path):
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt") as fh:
        return [line.rstrip("\n").split("\t") for line in fh if not line.startswith("#") and line.strip()]


def _vcf_strings(path) -> list[str]:
    return [f"{c[0]}-{c[1]}-{c[3]}-{alt}" for c in _records(path) for alt in c[4].split(",")]


@pytest.fixture(scope="module")
def saturation_strings(data_root) -> list[str]:
    return _vcf_strings(data_root / "truth" / "saturation.vcf.gz")


@pytest.fixture(scope="module")
def sample_strings(data_root) -> list[str]:
    out = []
    for name in ("HG00096_chr21_region.vcf", "clinvar2016_chr21_region.vcf"):
        out += _vcf_strings(data_root / "samples" / name)
    return out


@pytest.fixture(scope="module")
def clinvar_strings(data_root) -> list[str]:
    """The chr21 rows of the ClinVar release the model trains on (GRCh38 position, given alleles)."""
    with gzip.open(data_root / "clinvar" / "clinvar_2016-05-20.lifted_GRCh38.tsv.gz", "rt") as fh:
        head = fh.readline().rstrip("\n").split("\t")
        col = {name: i for i, name in enumerate(head)}
        rows = [line.rstrip("\n").split("\t") for line in fh]
    return [
        f"chr{r[col['chrom_grch38']]}:{r[col['pos_grch38']]}:{r[col['ref']]}:{r[col['alt']]}"
        for r in rows
        if r[col["chrom_grch38"]] == "21"
    ]


@pytest.fixture(scope="module")
def population_strings(data_root) -> list[str]:
    """Every allele of the population file as Ensembl writes it: `-` for an empty allele (insertions have
    start = end + 1), several ALTs per site."""
    with gzip.open(data_root / "population" / "known_variants_chr21_25-26Mb.tsv.gz", "rt") as fh:
        head = fh.readline().rstrip("\n").split("\t")
        col = {name: i for i, name in enumerate(head)}
        rows = [line.rstrip("\n").split("\t") for line in fh]
    out = []
    for r in rows:
        alleles = r[col["allele_string"]].split("/")
        for alt in alleles[1:]:
            out.append(f"{r[col['chrom']]}-{r[col['start']]}-{alleles[0]}-{alt}")
    return out


@pytest.fixture(scope="module")
def repeat_indels(bundle) -> list[str]:
    """Insertions and deletions of one repeat unit written at the right end of the longest tandem repeats of
    the sequenced region (they shift left across the whole repeat, some by more than a hundred bases), and
    at their left end (no shift)."""
    start, end = 24_980_001, 26_180_000
    seq = bundle.fetch("21", start, end)
    runs = [(m.start(), m.end(), m.group(2)) for m in re.finditer(r"(([ACGT]{1,6}?)\2{4,})", seq)]
    runs.sort(key=lambda r: r[1] - r[0], reverse=True)
    out = []
    for a, b, unit in runs[:400]:
        right = start + b - 1  # last base of the run (1-based)
        last = seq[b - 1]
        out.append(f"21-{right}-{last}-{last}{unit}")  # insertion after the run
        out.append(f"21-{right - len(unit)}-{seq[b - len(unit) - 1:b]}-{seq[b - len(unit) - 1]}")  # deletion
        left = start + a - 1  # base before the run
        out.append(f"21-{left}-{seq[a - 1]}-{seq[a - 1]}{unit}")
        out.append(f"21:g.{right - len(unit) + 1}_{right}dup")  # HGVS forms of the same insertion
        out.append(f"21:g.{right}_{right + 1}ins{unit}")
    return out


def _perturbed(good: list[str], seed: int) -> list[str]:
    """Bad and odd inputs made from real records: REF mismatches, unknown contigs (chr prefixes), positions
    past the contig end or at 0, malformed strings, lowercase, N, ALT = REF, long alleles and texts, empty
    Ensembl alleles, HGVS g./c. mistakes, unicode, duplicates."""
    rng = random.Random(seed)
    out = []
    for s in rng.sample(good, min(len(good), 1500)):
        chrom, pos, ref, alt = s.split("-")
        p = int(pos)
        wrong = "".join({"A": "C", "C": "G", "G": "T", "T": "A"}.get(b, "A") for b in ref[:1]) + ref[1:]
        out += [
            f"{chrom}-{pos}-{wrong}-{alt}",  # REF mismatch
            f"chr{chrom}-{pos}-{ref}-{alt}",  # a prefix the bundle knows
            f"chrchr{chrom}-{pos}-{ref}-{alt}",
            f"22-{pos}-{ref}-{alt}",
            f"chrUn_KI270302v1-{pos}-{ref}-{alt}",
            f"NC_000021.9:g.{pos}{ref[0]}>{alt[0]}" if len(ref) == len(alt) == 1 else f"{chrom}:{pos}:{ref}:{alt}",
            f"{chrom}-{p + 46_709_983}-{ref}-{alt}",  # past the end
            f"{chrom}-{46_709_983 - len(ref) + 2}-{ref}-{alt}",  # straddles the end
            f"{chrom}-0-{ref}-{alt}",
            f"{chrom}-{pos}-{ref.lower()}-{alt.lower()}",
            f"{chrom} {pos} {ref} {alt}",
            f"{chrom}:{pos}-{ref}>{alt}",
            f"{chrom}-{pos}-{ref}-{ref}",  # ALT = REF
            f"{chrom}-{pos}-{ref}N-{alt}",
            f"{chrom}-{pos}-{ref}-{alt}N",
            f"{chrom}-{pos}-N-{alt}",
            f"{chrom}-{rng.randint(1, 5_000_000)}-{ref}-{alt}",  # N-masked region: REF cannot be checked
            f"{chrom}-{rng.randint(1, 5_000_000)}-N-{alt}",
            f"{chrom}-{pos}-{ref}-",  # missing allele
            f"{chrom}-{pos}-{ref}",
            f"{chrom}-{pos}--{alt}",
            f"{chrom}-{pos}-{ref[0]}--",  # Ensembl deletion of the REF base
            f"{chrom}-{pos}---{alt}",
            f"{chrom}-{pos}-{ref}-{alt}-extra",
            f"{chrom}-{pos}X-{ref}-{alt}",
            f"{chrom}-{pos}-{ref}-<DEL>",
            f"{chrom}-{pos}-{ref}-*",
            f"{chrom}-{pos}-{ref}-{alt}[21:{pos}[",
            f"{chrom}-{pos}-{ref}-{alt * 40}",  # long ALT: quoted up to 50 characters
            f"{chrom}-{pos}-{ref * 60}-{alt}",  # long REF: mismatch quoted up to 50 characters
            f"{chrom}-{pos}-{ref}-{alt}" + "A" * 300,  # text over 200 characters
            f"{chrom}:g.{pos}_{p - 1}del",
            f"{chrom}:g.{pos}_{p + 2}del{ref}",
            f"{chrom}:g.{pos}ins{alt}",
            f"{chrom}:g.{pos}_{p + 1}ins{alt}",
            f"{chrom}:g.{pos}_{p + 3}delins{alt}",
            f"{chrom}:g.{pos}dup",
            f"{chrom}:g.{pos}{ref[0]}>{ref[0]}",
            f"ENST00000346798.7:c.{rng.randint(1, 2300)}G>A",
            "ENST00000346798.9:c.100G>A",
            "ENST00000000000:c.100G>A",
            f"{chrom}-{pos}-{ref}-{alt}",  # duplicates: the record itself, twice
            f"{chrom}-{pos}-{ref}-{alt}",
            f"{chrom}-٣{pos}-{ref}-{alt}",  # a non-ASCII digit
            f"{chrom}-{pos}-{ref}-{alt}é",
            "not a variant",
            "21",
            "-",
        ]
    return out


def _assert_same(items, bundle):
    """parse_variant_strings under both forms: identical ParsedInputs (or identical exceptions)."""
    return _same_parsed(lambda: parse_variant_strings(items, bundle))


def _twin_takes(items, bundle) -> bool:
    """Whether the twin handles these strings itself (rather than handing them to the vectorised form)."""
    rows, _ = candidate_rows(items, bundle)
    return check_and_normalise_rows([tuple(r[c] for c in CANDIDATE_SCHEMA) for r in rows], bundle) is not None


def _chunks(items, sizes=(1, 2, 5, 32, 17, 3)):
    i = k = 0
    while i < len(items):
        n = sizes[k % len(sizes)]
        yield items[i : i + n]
        i, k = i + n, k + 1


@pytest.mark.parametrize("name", ["saturation_strings", "sample_strings", "clinvar_strings", "population_strings",
                                  "repeat_indels"])
def test_real_sets_whole_and_in_small_calls(name, request, bundle):
    items = request.getfixturevalue(name)
    assert len(items) > 100
    assert _twin_takes(items, bundle)
    want = _assert_same(items, bundle)
    assert want.variants.height >= 50  # (most ClinVar rows lie outside the sequenced region: N rejects)
    # the sizes the realtime service sends (a subset of the two largest sets keeps the run short)
    pool = items if len(items) <= 5_000 else random.Random(3).sample(items, 5_000)
    for chunk in _chunks(pool):
        _assert_same(chunk, bundle)


def test_real_sets_need_left_alignment(saturation_strings, repeat_indels, population_strings, bundle):
    """The inputs do exercise the normaliser: many indels move, some by more than the twin's 64-base fetch."""
    with forced("vectorised"):
        v = pl.concat(
            [parse_variant_strings(s, bundle).variants for s in (saturation_strings, repeat_indels, population_strings)]
        )
    moved = v.filter(pl.col("norm_pos") != pl.col("pos"))
    assert moved.height > 1_000
    assert (moved["pos"] - moved["norm_pos"]).max() > 64


def test_bad_inputs_perturbed_from_real_records(saturation_strings, sample_strings, clinvar_strings, bundle):
    good = [s for s in saturation_strings + sample_strings if s.count("-") == 3]
    bad = _perturbed(good, seed=5)
    assert _twin_takes(bad, bundle)
    want = _assert_same(bad, bundle)
    # every kind of reject is there
    fields = set(want.rejects["field"].to_list())
    assert {"REF", "ALT", "CHROM", "POS", "variant", "hgvs"} <= fields, fields
    reasons = " ".join(want.rejects["reason"].to_list())
    for piece in ("does not match the reference genome", "cannot be checked", "unknown contig", "past the end",
                  "is not a position", "equals REF", "other than A, C, G, T"):
        assert piece in reasons, piece
    # in the realtime service's call sizes (a shuffled part: the vectorised form costs ~10 ms a call)
    rng = random.Random(9)
    for chunk in _chunks(rng.sample(bad, 1500)):
        _assert_same(chunk, bundle)
    # mixed with good records
    mixed = rng.sample(bad, 1000) + rng.sample(clinvar_strings, 300) + rng.sample(good, 700)
    rng.shuffle(mixed)
    for chunk in _chunks(mixed, sizes=(32, 7, 1)):
        _assert_same(chunk, bundle)


def test_one_string_text_and_list_forms(bundle):
    for items in ("21-25891796-C-T", "21-25891796-C-T, 21:g.25891796C>T\n# a comment\nchr21:25891796:C:T",
                  ["21-25891796-C-T", "  ", "ENST00000346798.7:c.2149G>A"], ["21-1-N-A"]):
        _assert_same(items, bundle)
    for items in ("", [], ["", "  ", "# only a comment"]):
        with pytest.raises(inputs.InputError):
            _run_raise(items, bundle, "small")


def _run_raise(items, bundle, path):
    with forced(path):
        return parse_variant_strings(items, bundle)


def test_positions_beyond_int64_are_rejects_in_both_forms(bundle):
    """Positions beyond Int64 once made the vectorised form raise (and the twin handed them over); the
    shared candidate step now rejects them, so the twin takes the call and both forms agree."""
    items = ["21-25891796-C-T", "21-100000000000000000000-C-T"]
    assert _twin_takes(items, bundle)
    parsed = _assert_same(items, bundle)
    assert parsed.rejects.select("line", "field").rows() == [(2, "POS")]


def test_the_switch_chooses_the_twin_for_small_calls(bundle, monkeypatch, saturation_strings):
    calls = []
    real = inputs.check_and_normalise_rows

    def spy(cands, b):
        calls.append(len(cands))
        return real(cands, b)

    monkeypatch.setattr(inputs, "check_and_normalise_rows", spy)
    monkeypatch.setenv("HCML_SMALL_PATH", "auto")  # whatever --small-path the session runs with
    monkeypatch.setenv("HCML_SMALL_INPUT_MAX", "32")
    parse_variant_strings(saturation_strings[:32], bundle)
    parse_variant_strings(saturation_strings[:33], bundle)
    monkeypatch.setenv("HCML_SMALL_INPUT_MAX", "0")
    parse_variant_strings(saturation_strings[:1], bundle)
    assert calls == [32]


# ---- the VCF and raw-sequence readers share `finish`: the same twin, the same equality ----------------------


def _same_parsed(fn):
    """Run `fn` under both forms; the ParsedInputs (or the exceptions) must be identical."""
    out = []
    for path in ("vectorised", "small"):
        with forced(path):
            try:
                out.append(fn())
            except Exception as exc:  # noqa: BLE001
                out.append(exc)
    want, got = out
    if isinstance(want, Exception):
        assert type(got) is type(want) and str(got) == str(want)
        return want
    assert not isinstance(got, Exception), got
    assert_frame_equal(got.variants, want.variants)
    assert_frame_equal(got.rejects, want.rejects)
    for name in ("genotypes", "records"):
        a, b = getattr(got, name), getattr(want, name)
        assert (a is None) == (b is None), name
        if b is not None:
            assert_frame_equal(a, b)
    assert (got.n_input, got.kind, got.samples, got.header) == (want.n_input, want.kind, want.samples, want.header)
    return want


def _vcf_parts(path):
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt") as fh:
        lines = fh.read().splitlines()
    n = next(i for i, line in enumerate(lines) if line.startswith("#CHROM")) + 1
    return lines[:n], [line for line in lines[n:] if line.strip()]


@pytest.fixture
def vcf_twin_calls(monkeypatch):
    """How often the VCF record twin parsed a call itself ("taken") or handed it over ("left")."""
    from hcml.genomics import vcf

    counts = {"taken": 0, "left": 0}
    real = vcf.parse_vcf_rows

    def spy(*args):
        out = real(*args)
        counts["taken" if out is not None else "left"] += 1
        return out

    monkeypatch.setattr(vcf, "parse_vcf_rows", spy)
    return counts


@pytest.fixture
def twin_calls(monkeypatch):
    """How often the twin handled a call itself ("taken") or handed it to the vectorised form ("left")."""
    counts = {"taken": 0, "left": 0}
    real = inputs.check_and_normalise_rows

    def spy(cands, b):
        out = real(cands, b)
        counts["taken" if out is not None else "left"] += 1
        return out

    monkeypatch.setattr(inputs, "check_and_normalise_rows", spy)
    return counts


VCFS = [
    "data/truth/saturation.vcf.gz",
    "data/samples/HG00096_chr21_region.vcf",
    "data/samples/clinvar2016_chr21_region.vcf",
    "tests/genomics/test_inputs_data/known_indels.vcf.gz",  # 8,505 real dbSNP indels, many left-shifted
]


@pytest.mark.parametrize("rel", VCFS)
def test_vcf_whole_and_in_small_pieces(rel, repo_root, bundle, twin_calls, vcf_twin_calls):
    from hcml.genomics.inputs import read_vcf

    path = repo_root / rel
    want = _same_parsed(lambda: read_vcf(path, bundle))
    assert want.variants.height >= 25
    header, records = _vcf_parts(path)
    pool = records if len(records) <= 1_500 else random.Random(4).sample(records, 1_500)
    chunks = list(_chunks(pool))
    for chunk in chunks:
        text = "\n".join(header + chunk) + "\n"
        _same_parsed(lambda: read_vcf(text, bundle))
    assert twin_calls == {"taken": len(chunks) + 1, "left": 0}
    assert vcf_twin_calls == {"taken": len(chunks) + 1, "left": 0}


def _perturbed_vcf_lines(records: list[str], seed: int) -> list[str]:
    """Bad and odd VCF records made from real ones (every column kept but the one perturbed)."""
    rng = random.Random(seed)
    out = []
    for line in rng.sample(records, min(len(records), 300)):
        c = line.split("\t")
        chrom, pos, vid, ref, alt = c[:5]
        rest = c[5:]

        def rec(*f, tail=rest):
            return "\t".join([*f, *tail])

        wrong = {"A": "C", "C": "G", "G": "T", "T": "A"}.get(ref[0], "A") + ref[1:]
        out += [
            rec(chrom, pos, vid, wrong, alt),  # REF mismatch
            rec(chrom, pos, ".", ref, alt),  # VEP's default id
            rec("chr" + chrom, pos, ".", ref, alt),
            rec("22", pos, vid, ref, alt),
            rec("chrUn_KI270302v1", pos, vid, ref, alt),
            rec(chrom, str(int(pos) + 46_709_983), vid, ref, alt),
            rec(chrom, "0", vid, ref, alt),
            rec(chrom, "-5", vid, ref, alt),
            rec(chrom, "abc", vid, ref, alt),
            rec(chrom, f" {pos} ", vid, ref, alt),
            rec(chrom, pos, vid, ref.lower(), alt.lower()),
            rec(chrom, pos, vid, ref, "."),
            rec(chrom, pos, vid, ref, ""),
            rec(chrom, pos, vid, "", alt),
            rec(chrom, pos, vid, ref, "<DEL>"),
            rec(chrom, pos, vid, ref, "*"),
            rec(chrom, pos, vid, ref, f"{alt}[21:{pos}["),
            rec(chrom, pos, vid, ref, f"{alt},<NON_REF>"),
            rec(chrom, pos, ".", ref, f"{alt},N,{alt}A"),
            rec(chrom, pos, vid, ref, ref),
            rec(chrom, pos, vid, ref + "N", alt),
            rec(chrom, pos, vid, "N", alt),
            rec(chrom, str(rng.randint(1, 5_000_000)), vid, ref, alt),  # N-masked: REF cannot be checked
            rec(chrom, pos, vid, ref, alt * 40),
            rec(chrom, pos, vid, ref * 60, alt),
            rec(chrom, pos, vid, ref, alt + "é"),
            rec(chrom, pos, vid, "é" + ref, alt),
            rec(chrom, pos, vid, ref, alt) + "\r",
            "\t".join([chrom, pos, vid, ref]),  # too few columns
            rec(chrom, pos, vid, ref, alt, tail=rest + ["extra"]),
            "#" + line,  # a header line after #CHROM
            rec("", pos, vid, ref, alt),
            rec(" ", pos, vid, ref, alt),
            line + "\t" + "x" * 300,  # a long line: the reject text is cut
            line,
            # POS as polars reads an integer (sign, zeros, spaces) and what it does not
            rec(chrom, "+" + pos, vid, ref, alt),
            rec(chrom, "000" + pos, vid, ref, alt),
            rec(chrom, pos + ".0", vid, ref, alt),
            rec(chrom, "1e3", vid, ref, alt),
            rec(chrom, "1_000", vid, ref, alt),
            rec(chrom, "", vid, ref, alt),
            rec(chrom, "-0", vid, ref, alt),
            rec(chrom, "x" * 60, vid, ref, alt),
            rec(chrom, "\x0b" + pos + "\x0c", vid, ref, alt),
            rec(chrom, pos, "", ref, alt),
            rec(chrom, pos, ".", ref, f"{ref}A,{ref[0]}"),  # VEP ids of a multi-allelic indel record
            rec(chrom, pos, ".", ref, f"{alt},"),
            rec(chrom, pos, ".", ref, ","),
            "   ",  # blank lines are not records
            "\t",
            "\x1c",  # not blank for polars
        ]
        if len(rest) >= 5:  # a sample column: GT forms, FORMAT without GT first
            for fmt, value in (("GT", "1/2"), ("GT", "2|0"), ("GT:DP", "./.:3"), ("GT", "0"), ("DP:GT", "3:0|1"),
                               ("GT", ""), ("GT:DP", ":5")):
                out.append(rec(chrom, pos, vid, ref, f"{alt},{alt}C", tail=rest[:3] + [fmt, value]))
                out.append(rec(chrom, pos, vid, ref, alt, tail=rest[:3] + [fmt, value]))
    return out


@pytest.mark.parametrize("rel", ["data/samples/HG00096_chr21_region.vcf", "data/truth/saturation.vcf.gz"])
def test_vcf_bad_records_perturbed_from_real_ones(rel, repo_root, bundle, twin_calls, vcf_twin_calls):
    from hcml.genomics.inputs import read_vcf

    header, records = _vcf_parts(repo_root / rel)
    bad = _perturbed_vcf_lines(records, seed=2)
    text = "\n".join(header + bad) + "\n"
    want = _same_parsed(lambda: read_vcf(text, bundle))
    assert {"REF", "ALT", "CHROM", "POS", "line"} <= set(want.rejects["field"].to_list())
    assert "symbolic" in " ".join(want.rejects["reason"].to_list())
    rng = random.Random(8)
    # records with a symbolic ALT are read by the vectorised form only (hcml.genomics.structural): checked
    # above in the whole text, left out of the pieces that count the twin's own calls
    sequence_only = [x for x in bad if "<" not in (x.split("\t")[4:5] or [""])[0]]
    for chunk in _chunks(rng.sample(sequence_only, 1_200)):
        text = "\n".join(header + chunk) + "\n"
        _same_parsed(lambda: read_vcf(text, bundle))
    # most small calls are the twin's own (those with non-ASCII alleles are left to the vectorised form)
    assert twin_calls["taken"] > twin_calls["left"] > 0
    assert vcf_twin_calls["taken"] > vcf_twin_calls["left"] > 0


@pytest.mark.parametrize(
    "text",
    [
        "",
        "this is not a vcf\nat all\n",
        "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n",
        "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n\n  \n",
        "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO",
        "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\n21\t25891796\t.\tC\tT\n",
        "##contig=<ID=21,length=48129895>\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n21\t25891796\t.\tC\tT\t.\t.\t.\n",
        "##contig=<ID=chr21,length=46709983>\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\nchr21\t25891796\t.\tC\tT\t.\t.\t.",
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\r\n21\t25891796\t.\tc\tt,A\t.\t.\t.\r\n\r\n",
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n21\t99999999999999999999\t.\tC\tT\t.\t.\t.\n",
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n21\t9223372036854775807\t.\tC\tT\t.\t.\t.\n",
    ],
)
def test_vcf_whole_input_errors_and_edges(text, bundle):
    from hcml.genomics.inputs import read_vcf

    _same_parsed(lambda: read_vcf(text.encode(), bundle))


def test_sequences_with_planted_real_variants(bundle, saturation_strings, twin_calls):
    """Reads of the reference around real saturation variants, with the variant planted (both strands)."""
    from hcml.genomics.inputs import call_sequence
    from hcml.genomics.transcript_map import revcomp

    rng = random.Random(6)
    n_called = 0
    for s in rng.sample(saturation_strings, 60):
        _, pos, ref, alt = s.split("-")
        p = int(pos)
        left, right = bundle.fetch("21", p - 150, p - 1), bundle.fetch("21", p + len(ref), p + len(ref) + 150)
        read = left + alt + right
        junk = "".join(rng.choice("ACGT") for _ in range(40))
        two = left[:60] + left[63:] + alt + right[:50] + "GATTACA" + right[50:]  # + a deletion and an insertion
        for text in (read, ">read\n" + revcomp(read), left + ref + right, junk + read + junk[::-1],
                     f">named read\n{two}", two[:90], "N" * 40 + read):
            want = _same_parsed(lambda: call_sequence(text, bundle))
            if not isinstance(want, Exception):
                n_called += want.variants.height
    assert n_called >= 50
    assert twin_calls["taken"] >= 50 and twin_calls["left"] == 0


class _FetchOnly:
    """A bundle with only the contract's contigs / contig_name / fetch (no cached contig text)."""

    def __init__(self, bundle):
        self.contigs, self.contig_name, self.fetch = bundle.contigs, bundle.contig_name, bundle.fetch


def test_a_bundle_without_contig_text(bundle, repeat_indels, saturation_strings):
    items = repeat_indels + random.Random(1).sample(saturation_strings, 500) + ["21-1000-N-A", "21-1000-A-C"]
    with forced("vectorised"):
        want = parse_variant_strings(items, bundle)
    with forced("small"):
        got = parse_variant_strings(items, _FetchOnly(bundle))
    assert_frame_equal(got.variants, want.variants)
    assert_frame_equal(got.rejects, want.rejects)
