"""Writers: checked against Ensembl VEP's own output and formats, not against themselves.

The annotations frame here is Ensembl VEP 115's output for the saturation set (data/truth), so the VEP tab
writer must reproduce VEP's values; the VCF must parse with htslib (pysam) and carry one CSQ entry per VEP
row with as many sub-fields as its Format header; the JSON must validate against a schema written from
Ensembl's REST /vep documentation.
"""

from __future__ import annotations

import io
import json

import jsonschema
import polars as pl
import pysam
import pytest

from hcml.genomics.inputs import parse_variant_strings, read_vcf
from hcml.genomics.outputs import CSQ_FIELDS, csq_header, write_json, write_parquet, write_vcf, write_vep


@pytest.fixture(scope="module")
def saturation(bundle, data_root):
    return read_vcf(data_root / "truth" / "saturation.vcf.gz", bundle)


@pytest.fixture(scope="module")
def vep_rows(data_root):
    return pl.read_csv(data_root / "truth" / "saturation.vep115.tsv.gz", separator="\t", infer_schema=False)


def annotations_from_vep(vep_rows: pl.DataFrame, parsed) -> pl.DataFrame:
    """VEP's own rows in the annotations schema of docs/CONTRACTS.md (row/chrom/pos/ref/alt joined in)."""
    v = parsed.variants.select("row", pl.col("variant_id").alias("Uploaded_variation"), "chrom", "pos", "ref", "alt")
    t = vep_rows.with_columns([pl.when(pl.col(c) == "-").then(None).otherwise(pl.col(c)).alias(c) for c in vep_rows.columns if c != "Allele"])
    t = t.join(v, on="Uploaded_variation", how="inner", maintain_order="left")
    return t.with_columns(
        pl.lit("Transcript").alias("Feature_type"),
        pl.col("DISTANCE").cast(pl.Int64),
        pl.col("STRAND").cast(pl.Int8),
        pl.col("Consequence").str.split(",").list.first().alias("most_severe_consequence"),
    )


@pytest.fixture(scope="module")
def annotations(vep_rows, saturation):
    return annotations_from_vep(vep_rows, saturation)


def test_vep_tab_reproduces_vep_output(annotations, vep_rows, tmp_path):
    out = tmp_path / "out.vep.tsv"
    write_vep(annotations, out, meta={"Reference bundle sha256": "x"})
    lines = out.read_text().splitlines()
    meta = [l for l in lines if l.startswith("##")]
    header = [l for l in lines if l.startswith("#") and not l.startswith("##")]
    assert meta and len(header) == 1 and lines.index(header[0]) == len(meta)
    columns = header[0][1:].split("\t")
    assert columns[:7] == ["Uploaded_variation", "Location", "Allele", "Gene", "Feature", "Feature_type", "Consequence"]
    # every column of VEP's own file is written under VEP's name
    assert set(vep_rows.columns) <= set(columns)
    back = pl.read_csv(out, separator="\t", comment_prefix="##", infer_schema=False).rename({"#Uploaded_variation": "Uploaded_variation"})
    assert back.height == vep_rows.height
    assert back.select(vep_rows.columns).equals(vep_rows)  # byte-for-byte VEP's values, '-' for missing


def test_vcf_output_parses_with_htslib_and_carries_csq(annotations, saturation, vep_rows, tmp_path):
    out = tmp_path / "out.vcf"
    write_vcf(saturation, annotations, out)
    with pysam.VariantFile(str(out)) as vf:
        info = vf.header.info["CSQ"]
        fmt = info.description.split("Format: ")[1].split("|")
        assert fmt == CSQ_FIELDS and fmt[:3] == ["Allele", "Consequence", "IMPACT"]
        n_records, n_entries = 0, 0
        for rec in vf:
            n_records += 1
            entries = rec.info.get("CSQ", ())
            n_entries += len(entries)
            for entry in entries:
                assert len(entry.split("|")) == len(fmt)
    assert n_records == saturation.n_input  # every input record, in order
    assert n_entries == vep_rows.height  # one CSQ entry per VEP row
    # multi-consequence terms are joined by '&' as VEP does
    text = out.read_text()
    assert "|stop_lost&inframe_deletion|" in text or "stop_lost&inframe_deletion" in text


def test_vcf_output_keeps_rejected_and_multiallelic_records(bundle, tmp_path):
    vcf = (
        "##fileformat=VCFv4.2\n##INFO=<ID=DP,Number=1,Type=Integer,Description=\"depth\">\n"
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
        "21\t25891784\tm\tC\tT,G\t50\tPASS\tDP=3\n"
        "21\t25891784\tbad\tA\tT\t.\t.\t.\n"
    )
    parsed = read_vcf(vcf, bundle)
    ann = pl.DataFrame(
        {"row": [0, 1], "Uploaded_variation": ["m", "m"], "Location": ["21:25891784"] * 2, "Allele": ["T", "G"],
         "Gene": ["ENSG00000142192"] * 2, "Feature": ["ENST00000346798"] * 2, "Feature_type": ["Transcript"] * 2,
         "Consequence": ["missense_variant", "missense_variant"]}
    )
    out = tmp_path / "o.vcf"
    write_vcf(parsed, ann, out)
    body = [l for l in out.read_text().splitlines() if not l.startswith("#")]
    assert body[0].startswith("21\t25891784\tm\tC\tT,G\t50\tPASS\tDP=3;CSQ=T|missense_variant|")
    assert ",G|missense_variant|" in body[0]
    assert body[1] == "21\t25891784\tbad\tA\tT\t.\t.\t."
    with pysam.VariantFile(str(out)) as vf:
        assert [len(r.info.get("CSQ", ())) for r in vf] == [2, 0]


# Written from Ensembl's REST documentation of POST /vep/:species/region (response fields and types)
REST_VEP_SCHEMA = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["input", "id", "seq_region_name", "start", "end", "strand", "allele_string", "assembly_name",
                     "most_severe_consequence"],
        "properties": {
            "input": {"type": "string"},
            "id": {"type": "string"},
            "seq_region_name": {"type": "string"},
            "start": {"type": "integer"},
            "end": {"type": "integer"},
            "strand": {"enum": [1, -1]},
            "allele_string": {"type": "string", "pattern": "^[ACGTN-]+(/[ACGTN-]+)+$"},
            "assembly_name": {"type": "string"},
            "most_severe_consequence": {"type": "string"},
            "transcript_consequences": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["transcript_id", "gene_id", "consequence_terms", "impact", "variant_allele"],
                    "properties": {
                        "transcript_id": {"type": "string", "pattern": "^ENST"},
                        "gene_id": {"type": "string"},
                        "gene_symbol": {"type": "string"},
                        "biotype": {"type": "string"},
                        "consequence_terms": {"type": "array", "items": {"type": "string", "pattern": "^[A-Za-z_0-9]+$"}, "minItems": 1},
                        "impact": {"enum": ["HIGH", "MODERATE", "LOW", "MODIFIER"]},
                        "variant_allele": {"type": "string"},
                        "strand": {"enum": [1, -1]},
                        "distance": {"type": "integer"},
                        "cdna_start": {"type": "integer"}, "cdna_end": {"type": "integer"},
                        "cds_start": {"type": "integer"}, "cds_end": {"type": "integer"},
                        "protein_start": {"type": "integer"}, "protein_end": {"type": "integer"},
                        "amino_acids": {"type": "string"}, "codons": {"type": "string"},
                        "hgvsc": {"type": "string"}, "hgvsp": {"type": "string"},
                        "exon": {"type": "string", "pattern": r"^\d+(-\d+)?/\d+$"},
                        "intron": {"type": "string", "pattern": r"^\d+(-\d+)?/\d+$"},
                        "canonical": {"const": 1},
                        "flags": {"type": "array", "items": {"type": "string"}},
                    },
                    "additionalProperties": False,
                },
            },
            "intergenic_consequences": {"type": "array"},
            "colocated_variants": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["id", "start", "end"],
                    "properties": {
                        "id": {"type": "string"},
                        "frequencies": {"type": "object", "additionalProperties": {"type": "object",
                                        "additionalProperties": {"type": "number"}}},
                        "clin_sig": {"type": "array", "items": {"type": "string"}},
                    },
                },
            },
        },
    },
}


def test_json_has_the_ensembl_rest_shape(annotations, saturation, vep_rows, tmp_path):
    sub = annotations.filter(pl.col("row") < 3000)
    out = tmp_path / "out.json"
    write_json(sub, out, parsed=saturation)
    records = json.loads(out.read_text())
    jsonschema.validate(records, REST_VEP_SCHEMA)
    assert len(records) == sub["row"].n_unique()
    assert sum(len(r.get("transcript_consequences", [])) for r in records) == sub.height
    # VEP's positions as given by VEP: Location column "21:start[-end]"
    loc = dict(zip(sub["Uploaded_variation"].to_list(), sub["Location"].to_list()))
    for r in records:
        # VEP prints an insertion (start = end + 1) as "end-start" in Location
        span = [int(x) for x in loc[r["id"]].split(":")[1].split("-")]
        assert (min(r["start"], r["end"]), max(r["start"], r["end"])) == (span[0], span[-1])
        if "-" in r["allele_string"].split("/")[0]:
            assert r["start"] == r["end"] + 1
    first_cds = next(tc for r in records for tc in r.get("transcript_consequences", []) if "cds_start" in tc)
    assert first_cds["cds_start"] <= first_cds["cds_end"]


def test_json_colocated_frequencies_and_clin_sig():
    ann = pl.DataFrame(
        {"row": [0], "chrom": ["21"], "pos": [25891784], "ref": ["C"], "alt": ["T"], "Uploaded_variation": ["v"],
         "Location": ["21:25891784"], "Allele": ["T"], "Gene": ["ENSG00000142192"], "Feature": ["ENST00000346798"],
         "Feature_type": ["Transcript"], "Consequence": ["missense_variant"], "IMPACT": ["MODERATE"],
         "Existing_variation": ["rs63750264"], "AF": [0.0002], "EUR_AF": [0.001], "CLIN_SIG": ["pathogenic"],
         "most_severe_consequence": ["missense_variant"]}
    )
    buf = io.StringIO()
    write_json(ann, buf)
    (rec,) = json.loads(buf.getvalue())
    jsonschema.validate([rec], REST_VEP_SCHEMA)
    (co,) = rec["colocated_variants"]
    assert co["id"] == "rs63750264" and co["frequencies"] == {"T": {"af": 0.0002, "eur": 0.001}}
    assert co["clin_sig"] == ["pathogenic"]


def test_parquet_round_trip(annotations, tmp_path):
    out = tmp_path / "a.parquet"
    write_parquet(annotations, out)
    back = pl.read_parquet(out)
    assert back.equals(annotations) and back.schema == annotations.schema


def test_sites_only_vcf_for_variant_strings(bundle, tmp_path):
    parsed = parse_variant_strings(["21-25891784-C-T"], bundle)
    ann = pl.DataFrame({"row": [0], "Uploaded_variation": ["21-25891784-C-T"], "Location": ["21:25891784"],
                        "Allele": ["T"], "Gene": [None], "Feature": [None], "Feature_type": [None],
                        "Consequence": ["intergenic_variant"]})
    out = tmp_path / "s.vcf"
    write_vcf(parsed, ann, out)
    with pysam.VariantFile(str(out)) as vf:
        (rec,) = list(vf)
        assert (rec.chrom, rec.pos, rec.ref, rec.alts) == ("21", 25891784, "C", ("T",))
        assert rec.info["CSQ"][0].split("|")[:2] == ["T", "intergenic_variant"]
    assert csq_header() in out.read_text()


def test_vcf_output_replaces_an_existing_csq(bundle, tmp_path):
    vcf = (
        "##fileformat=VCFv4.2\n##INFO=<ID=CSQ,Number=.,Type=String,Description=\"old. Format: Allele\">\n"
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
        "21\t25891784\tv\tC\tT\t.\t.\tDP=3;CSQ=T\n"
    )
    parsed = read_vcf(vcf, bundle)
    ann = pl.DataFrame({"row": [0], "Uploaded_variation": ["v"], "Location": ["21:25891784"], "Allele": ["T"],
                        "Gene": ["g"], "Feature": ["f"], "Feature_type": ["Transcript"], "Consequence": ["missense_variant"]})
    out = tmp_path / "o.vcf"
    write_vcf(parsed, ann, out)
    text = out.read_text()
    assert text.count("##INFO=<ID=CSQ") == 1 and "old. Format" not in text
    (body,) = [l for l in text.splitlines() if not l.startswith("#")]
    assert body.split("\t")[7].startswith("DP=3;CSQ=T|missense_variant|") and body.count("CSQ=") == 1


def test_vep_tab_of_hcml_annotations_has_vep_shape(saturation, bundle, vep_rows, tmp_path):
    """hcml's own annotations written as VEP tab: every row has the header's field count, the columns
    VEP's file also has carry VEP's names, and every variant VEP reported appears under the same id."""
    annotate = pytest.importorskip("hcml.genomics.annotate").annotate
    out = tmp_path / "hcml.vep.tsv"
    write_vep(annotate(saturation.variants, bundle), out)
    lines = out.read_text().splitlines()
    (header,) = [l for l in lines if l.startswith("#Uploaded_variation")]
    columns = header[1:].split("\t")
    body = lines[lines.index(header) + 1 :]
    assert body and all(len(l.split("\t")) == len(columns) for l in body)
    assert all("" not in l.split("\t") for l in body)
    shared = [c for c in vep_rows.columns if c in columns]
    assert len(shared) >= 21  # the list: Uploaded_variation ... CANONICAL
    ours = {l.split("\t", 1)[0] for l in body}
    assert set(vep_rows["Uploaded_variation"]) <= ours
