"""The compiled ACMG reference kept on disk: numpy arrays (.npz, no pickle) and two Parquet tables, in the
bundle's own cache/ (written by `hcml reference build`, so that a read-only image starts by reading it) or else
under data_dir()/cache. Compiling it from the bundle costs a cold start ~0.3 s of CPU; reading it ~0.05 s.

The key names the bundle (its sha256), the review-star floor and the code and data it is compiled from (this
package's reference modules, the HGVS reading, the labels, the constraint table): any change compiles anew.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from hcml.acmg import reference as R

if TYPE_CHECKING:
    from hcml.genomics.bundle.load import ReferenceBundle

FORMAT = "1"
_EXAMPLE_COLUMNS = ["clinvar_id", "hgvs_p", "significance", "alt_aa"]
_ARRAY_FIELDS = ("loeuf", "mis_z", "residue_plp_missense", "change_plp")


def cache_key(bundle: ReferenceBundle, min_stars: int) -> str:
    import hcml.ml.data as data
    import hcml.ml.features as features
    import hcml.ml.hgvs_text as hgvs_text

    digest = hashlib.sha256()
    for source in (R.__file__, features.__file__, hgvs_text.__file__, data.__file__, __file__):
        digest.update(Path(str(source)).read_bytes())
    digest.update(R.constraint_path().read_bytes())
    sha = str(bundle.manifest.get("bundle_sha256", "unknown"))[:16]
    return f"acmg_reference_{FORMAT}_{sha}_{digest.hexdigest()[:12]}_stars{min_stars}"


def _strings(values) -> np.ndarray:
    return np.asarray(list(values), dtype=np.str_)


def save(ref: R.AcmgReference, place: Path, key: str) -> None:
    """Written under a temporary name, then renamed: a reader sees the whole of it or none."""
    place.mkdir(parents=True, exist_ok=True)
    tmp = place / f".{key}.{os.getpid()}.{threading.get_ident()}.tmp"  # a writer of its own
    tmp.mkdir(exist_ok=True)
    aliases = list(ref.record_index.items())
    alleles = list(ref.allele_ids.items())
    tx = list(ref.transcripts.items())
    span = sorted(ref.population_span.items())
    arrays = {
        "gene_counts": np.column_stack([ref.gene_counts[c] for c in R.GENE_COUNTS]),
        "residue_keys": ref.residue_index.keys,
        "change_keys": ref.change_index.keys,
        "transcript_ids": _strings(t for t, _ in tx),
        "transcript_values": np.asarray([v for _, v in tx], np.int64).reshape(len(tx), 2),
        "span_contigs": _strings(c for c, _ in span),
        "span_values": np.asarray([v for _, v in span], np.int64).reshape(len(span), 2),
        "constraint_source": np.asarray(ref.constraint_source),
        **{f: getattr(ref, f) for f in _ARRAY_FIELDS},
        **{f"record_{c}": v for c, v in ref.record_arrays.items()},
    }
    np.savez(tmp / "arrays.npz", **arrays)
    # the long string columns as Parquet: a fixed-width numpy text array would be ~40 MB
    pl.DataFrame({"gene": list(ref.genes)}).write_parquet(tmp / "genes.parquet")
    pl.DataFrame(aliases, schema={"clinvar_id": pl.Utf8, "row": pl.Int64}, orient="row").write_parquet(
        tmp / "aliases.parquet"
    )
    pl.DataFrame(alleles, schema={"allele": pl.Utf8, "clinvar_id": pl.Utf8}, orient="row").write_parquet(
        tmp / "alleles.parquet"
    )
    ref.records.write_parquet(tmp / "records.parquet")
    for name, examples in (("change", ref.change_examples), ("residue", ref.residue_examples)):
        columns = _EXAMPLE_COLUMNS[: len(examples.rows[0]) if examples.rows else 4]
        table = pl.DataFrame(examples.rows, schema=columns, orient="row") if examples.rows else pl.DataFrame()
        table.with_columns(pl.Series("key", examples.keys)).write_parquet(tmp / f"{name}_examples.parquet")
    try:
        tmp.rename(place / key)
    except OSError:  # another process wrote it first: theirs is the same
        shutil.rmtree(tmp, ignore_errors=True)
        if not (place / key).is_dir():
            raise


def load(path: Path) -> R.AcmgReference:
    with np.load(path / "arrays.npz", allow_pickle=False) as z:
        a = {k: z[k] for k in z.files}
    gene_counts = a["gene_counts"]
    examples = {}
    for name in ("change", "residue"):
        table = pl.read_parquet(path / f"{name}_examples.parquet")
        examples[name] = R.Examples(table["key"].to_numpy(), table.drop("key").rows())
    genes = pl.read_parquet(path / "genes.parquet")["gene"].to_list()
    aliases = pl.read_parquet(path / "aliases.parquet")
    alleles = pl.read_parquet(path / "alleles.parquet")
    return R.AcmgReference(
        genes=dict(zip(genes, range(len(genes)), strict=True)),
        gene_counts={c: gene_counts[:, j] for j, c in enumerate(R.GENE_COUNTS)},
        residue_index=R.KeyIndex(a["residue_keys"]),
        change_index=R.KeyIndex(a["change_keys"]),
        records=pl.read_parquet(path / "records.parquet"),
        record_index=dict(zip(aliases["clinvar_id"].to_list(), aliases["row"].to_list(), strict=True)),
        record_arrays={k.removeprefix("record_"): v for k, v in a.items() if k.startswith("record_")},
        change_examples=examples["change"],
        residue_examples=examples["residue"],
        allele_ids=dict(zip(alleles["allele"].to_list(), alleles["clinvar_id"].to_list(), strict=True)),
        transcripts=dict(zip(a["transcript_ids"].tolist(), map(tuple, a["transcript_values"].tolist()), strict=True)),
        population_span=dict(zip(a["span_contigs"].tolist(), map(tuple, a["span_values"].tolist()), strict=True)),
        constraint_source=str(a["constraint_source"]),
        **{f: a[f] for f in _ARRAY_FIELDS},
    )


def compiled(bundle: ReferenceBundle, min_stars: int) -> R.AcmgReference:
    """The bundle's reference from a cache file when one of this bundle and code exists, else compiled and
    written to the first place that takes it (a read-only bundle and data dir: compiled each start)."""
    from hcml.config import data_dir

    key = cache_key(bundle, min_stars)
    places = [Path(bundle.path) / "cache", data_dir() / "cache"]
    for place in places:
        if (place / key).is_dir():
            try:
                return load(place / key)
            except Exception:  # noqa: BLE001 - a damaged cache entry is compiled again
                pass
    ref = R.build_reference(bundle, min_stars)
    for place in places:
        try:
            save(ref, place, key)
            break
        except OSError:
            continue
    return ref


def reference_for(bundle: ReferenceBundle, min_stars: int = 1) -> R.AcmgReference:
    """The bundle's compiled reference, once per bundle object and review-star floor: read from the bundle's
    cache (this module), compiled when there is none (the realtime service warms it at start-up)."""
    cache = bundle.__dict__.setdefault("_acmg_reference", {})
    ref = cache.get(min_stars)
    if ref is None:
        ref = cache[min_stars] = compiled(bundle, min_stars)
    return ref
