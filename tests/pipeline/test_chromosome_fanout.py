"""variant_annotations fanned out per chromosome: the joined per-chromosome steps give exactly the single pass.

The shipped data has one chromosome (21), so the bundle here has two: the real chr21 (FASTA, Ensembl GTF) and
a copy of it named 22 (same bases, the GTF's features with their ids renumbered ENSG0 -> ENSG9, ...). The
input is real: saturation-set variants (Ensembl VEP's validation set) on 21, and the same on 22, interleaved.
"""

from __future__ import annotations

import gzip

import dagster as dg
import polars as pl
import pytest

from hcml.config import REPO_ROOT, default_sources
from tests.pipeline.conftest import local_resources

SATURATION = REPO_ROOT / "data" / "truth" / "saturation.vcf.gz"
N_RECORDS = 1500


@pytest.fixture(scope="module")
def two_contigs(tmp_path_factory):
    import pysam

    from hcml.genomics.bundle import build_bundle

    root = tmp_path_factory.mktemp("two_contigs")
    src = default_sources()
    seq = pysam.FastaFile(str(src["fasta"])).fetch("21")
    with open(root / "genome.fa", "w") as fh:
        for name in ("21", "22"):
            fh.write(f">{name}\n")
            fh.writelines(seq[i : i + 60] + "\n" for i in range(0, len(seq), 60))
    lines = [ln for ln in gzip.open(src["gtf"], "rt") if not ln.startswith("#")]
    copy = [
        "22" + ln[2:].replace('"ENSG0', '"ENSG9').replace('"ENST0', '"ENST9').replace('"ENSP0', '"ENSP9')
        for ln in lines
    ]
    (root / "genes.gtf").write_text("".join(lines + copy))
    bundle_dir = build_bundle(root / "genes.gtf", root / "genome.fa", root / "bundle")
    records = [ln for ln in gzip.open(SATURATION, "rt") if not ln.startswith("#")][:N_RECORDS]
    body = []
    for ln in records:
        body += [ln, "22" + ln[2:]]  # interleaved: the split must not rely on sorted input
    vcf = root / "two.vcf"
    vcf.write_text("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n" + "".join(body))
    return root, bundle_dir, vcf


def test_per_chromosome_steps_join_to_the_single_pass(two_contigs, data_dir):
    from assets.annotation import variant_annotations
    from assets.samples import sample_variants
    from hcml.genomics.annotate import annotate
    from hcml.genomics.bundle import ReferenceBundle
    from hcml.genomics.inputs import read_vcf
    from resources.jobs import sample_run_config
    from resources.partitions import samples_partitions

    root, bundle_dir, vcf = two_contigs
    bundle = ReferenceBundle.load(bundle_dir)
    parsed = read_vcf(vcf, bundle)
    assert parsed.rejects.height == 0 and set(parsed.variants["chrom"]) == {"21", "22"}
    single = annotate(parsed.variants, bundle)
    assert single["row"].n_unique() == 2 * N_RECORDS

    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(samples_partitions.name, ["two"])
        result = dg.materialize(
            [sample_variants, variant_annotations],
            instance=instance,
            resources=local_resources(root, bundle_dir),
            partition_key="two",
            run_config=sample_run_config(vcf.as_uri()),
        )
    assert result.success
    steps = {e.step_key for e in result.all_events if e.is_step_success}
    assert {"variant_annotations.annotate_chromosome[chr21]", "variant_annotations.annotate_chromosome[chr22]"} <= steps
    assert all(c.passed for c in result.get_asset_check_evaluations())
    joined = pl.read_parquet(root / "store" / "assets" / "variant_annotations" / "two.parquet")
    assert joined.equals(single)
    meta = {k: v.value for k, v in result.asset_materializations_for_node("variant_annotations")[0].metadata.items()}
    assert meta["n_chromosomes"] == 2 and meta["chromosome_steps_cpu_seconds"] > 0
    assert meta["hcml/cpu_seconds"] >= meta["chromosome_steps_cpu_seconds"]
