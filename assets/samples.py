"""One sample's variants, read from the VCF a sensor or the CLI points at (one dynamic partition each)."""

import dagster as dg
import polars as pl

from assets._common import OWNERS, PHI_TAGS, frame_metadata, measured, parquet_bytes
from assets.sources import SAMPLE_SOURCES
from hcml.genomics.bundle import ReferenceBundle
from resources import ReferenceBundleResource, StorageResource
from resources.jobs import SampleSourceConfig
from resources.partitions import samples_partitions

REF_CHECK = "ref_alleles_match_genome"
ACCOUNTED_CHECK = "input_records_accounted"
VARIANT_COLUMNS = ["row", "line", "variant_id", "chrom", "pos", "ref", "alt", "norm_pos", "norm_ref", "norm_alt"]


def zygosity(gt: pl.Expr) -> pl.Expr:
    alleles = gt.str.replace_all("/", "|", literal=True).str.split("|")
    n_alt = alleles.list.eval((pl.element() != "0") & (pl.element() != ".")).list.sum()
    n_called = alleles.list.eval(pl.element() != ".").list.sum()
    return (
        pl.when(gt.is_null())
        .then(None)
        .when(n_alt == 0)
        .then(pl.lit("reference"))
        .when((n_alt == n_called) & (n_called >= 2))
        .then(pl.lit("homozygous"))
        .when(n_called == 1)
        .then(pl.lit("hemizygous"))
        .otherwise(pl.lit("heterozygous"))
    )


def select_sample(
    variants: pl.DataFrame, genotypes: pl.DataFrame | None, samples: list[str], sample: str | None
) -> tuple[pl.DataFrame, int, str | None]:
    """The variants the sample carries (with gt and zygosity), how many it does not, and the sample used."""
    if sample is None and len(samples) == 1:
        sample = samples[0]
    if sample is None or genotypes is None:
        if sample is not None:
            raise dg.Failure("a sample was requested, but the VCF has no genotype columns")
        out = variants.with_columns(
            pl.lit(None, pl.Utf8).alias("sample"),
            pl.lit(None, pl.Utf8).alias("gt"),
            pl.lit(None, pl.Utf8).alias("zygosity"),
        )
        return out, 0, None
    if sample not in samples:
        # the sample name is not repeated here: it may identify a patient (it is in the run config)
        raise dg.Failure(f"the requested sample is not among the VCF's {len(samples)} sample column(s)")
    gts = genotypes.filter(pl.col("sample") == sample).select("row", "sample", "gt")
    out = variants.join(gts, on="row", how="left").with_columns(zygosity(pl.col("gt")).alias("zygosity"))
    carried = out.filter(pl.col("zygosity").is_in(["heterozygous", "homozygous", "hemizygous"]))
    return carried, out.height - carried.height, sample


def read_source(uri: str, data: bytes, bundle: ReferenceBundle, sample: str | None):
    """One sample of a cohort VCF (HCML_COHORT_MIN_SAMPLES sample columns or more): only its column is parsed,
    by htslib (`hcml.cohort.genotypes.read_sample`); None for any other input (read by `read_vcf`)."""
    import tempfile
    from pathlib import Path

    from hcml.cohort.genotypes import cohort_min_samples, read_sample, vcf_samples
    from hcml.genomics.errors import InputError
    from hcml.storage import StoreError, _local_path

    if sample is None:
        return None
    try:
        path = _local_path(uri)
        local = path.is_file()
    except StoreError:
        local = False
    with tempfile.TemporaryDirectory(prefix="hcml-cohort-") as tmp:
        if not local:
            path = Path(tmp) / "source.vcf"
            path.write_bytes(data)
        try:
            n_samples = len(vcf_samples(path))
        except InputError:
            return None  # not for htslib: `read_vcf` says what is wrong with it
        if n_samples < cohort_min_samples():
            return None
        return read_sample(path, bundle, sample)


def _patient_pseudonym(config: SampleSourceConfig, sample: str | None) -> str:
    """The submission's patient pseudonym, else the HMAC pseudonym of the VCF sample name, else empty."""
    from hcml.events.pseudonym import pseudonymise

    return config.patient_pseudonym or (pseudonymise(sample) if sample else "")


@dg.asset(
    partitions_def=samples_partitions,
    deps=["reference_bundle", *SAMPLE_SOURCES],
    group_name="clinical",
    kinds={"parquet", "polars"},
    owners=OWNERS,
    tags=PHI_TAGS,
    code_version="1",
    check_specs=[
        dg.AssetCheckSpec(
            REF_CHECK,
            asset="sample_variants",
            blocking=True,
            description="Every REF allele equals the genome at its position.",
        ),
        dg.AssetCheckSpec(
            ACCOUNTED_CHECK,
            asset="sample_variants",
            blocking=True,
            description="Records in = variants kept + not carried by this sample + rejected.",
        ),
    ],
)
def sample_variants(
    context: dg.AssetExecutionContext,
    config: SampleSourceConfig,
    reference: ReferenceBundleResource,
    storage: StorageResource,
):
    """The variants one sample carries, parsed from its VCF (multi-allelics split, left-aligned).

    The source is a pointer (local path, file:// or azure:// URI); its SHA-256 goes into the metadata and
    from there into the report's provenance. Records that cannot be read are kept as rejects, each with
    its line and reason, never dropped.
    """
    from hcml.genomics.errors import InputError
    from hcml.genomics.inputs import read_vcf
    from hcml.provenance import sha256_bytes

    metadata: dict = {}
    store = storage.open()
    with measured(metadata):
        bundle = reference.load()
        data = store.get(config.source_uri)
        try:
            parsed = read_source(config.source_uri, data, bundle, config.sample) or read_vcf(data, bundle)
        except InputError as exc:
            raise dg.Failure(f"cannot read {config.source_uri}: {exc}") from exc
        variants = parsed.variants.select([c for c in VARIANT_COLUMNS if c in parsed.variants.columns])
        carried, not_carried, sample = select_sample(variants, parsed.genotypes, parsed.samples, config.sample)
        rejects_uri = None
        if parsed.rejects.height:
            rejects_uri = store.put(f"rejects/{context.partition_key}.parquet", parquet_bytes(parsed.rejects))
        ref_ok = [
            bundle.fetch(c, p, p + len(r) - 1) == r for c, p, r in carried.select("chrom", "pos", "ref").iter_rows()
        ]
    n_ref_bad = ref_ok.count(False)
    metadata.update(
        frame_metadata(
            carried,
            source_uri=config.source_uri,
            input_sha256=sha256_bytes(data),
            input_bytes=len(data),
            sample=sample or "",
            submission_id=config.submission_id or "",
            patient_pseudonym=_patient_pseudonym(config, sample),
            n_input=parsed.n_input,
            n_parsed=parsed.variants.height,
            n_not_carried=not_carried,
            n_rejected=parsed.rejects.height,
            rejects_uri=rejects_uri or "",
            vcf_samples=len(parsed.samples),
        )
    )
    yield dg.Output(carried, metadata=metadata)
    yield dg.AssetCheckResult(
        check_name=REF_CHECK,
        passed=n_ref_bad == 0,
        metadata={"checked": len(ref_ok), "mismatches": n_ref_bad},
    )
    accounted = parsed.n_input == carried.height + not_carried + parsed.rejects.height
    yield dg.AssetCheckResult(
        check_name=ACCOUNTED_CHECK,
        passed=accounted,
        metadata={
            "n_input": parsed.n_input,
            "kept": carried.height,
            "not_carried": not_carried,
            "rejected": parsed.rejects.height,
        },
    )
