"""Gene-level statistics learned from training genes only.

For a variant in a gene the model was trained on: how many labelled variants the gene has, and its
smoothed pathogenic fraction (overall and among missense). Training rows get out-of-fold values (their own
label never feeds their own feature); a seeded share of training genes is masked so the network also
learns the regime of an unseen gene, which is what every held-out (and every new) gene gets: the prior.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from hcml.ml.features import GENE_FEATURES

SMOOTHING = 5.0  # pseudo-count pulling small genes towards the prior
OOF_FOLDS = 5
MASKED_GENE_SHARE = 0.3


COUNT_SCHEMA = {
    "n": pl.Float64,
    "n_pathogenic": pl.Float64,
    "n_missense": pl.Float64,
    "n_missense_pathogenic": pl.Float64,
}


def gene_table(features: pl.DataFrame, labels: np.ndarray) -> tuple[pl.DataFrame, dict[str, float]]:
    """Per gene: n, pathogenic count, missense n and count; and the priors (global rates)."""
    df = features.select("gene_symbol", "consequence_class").with_columns(pl.Series("label", labels, dtype=pl.Float64))
    prior = float(df["label"].mean()) if df.height else 0.5
    mis = df.filter(pl.col("consequence_class") == "missense")
    prior_mis = float(mis["label"].mean()) if mis.height else prior
    table = (
        df.group_by("gene_symbol")
        .agg(
            pl.len().cast(pl.Float64).alias("n"),
            pl.col("label").sum().alias("n_pathogenic"),
            (pl.col("consequence_class") == "missense").sum().cast(pl.Float64).alias("n_missense"),
            pl.col("label").filter(pl.col("consequence_class") == "missense").sum().alias("n_missense_pathogenic"),
        )
        .sort("gene_symbol")
    )
    return table, {"pathogenic": prior, "missense_pathogenic": prior_mis}


def _stats_to_features(counts: pl.DataFrame, priors: dict[str, float]) -> pl.DataFrame:
    n = pl.col("n").fill_null(0.0)
    nm = pl.col("n_missense").fill_null(0.0)
    return counts.select(
        (n > 0).cast(pl.Float32).alias("gene_known"),
        n.log1p().cast(pl.Float32).alias("gene_log_n"),
        ((pl.col("n_pathogenic").fill_null(0.0) + SMOOTHING * priors["pathogenic"]) / (n + SMOOTHING))
        .cast(pl.Float32)
        .alias("gene_pathogenic_rate"),
        (
            (pl.col("n_missense_pathogenic").fill_null(0.0) + SMOOTHING * priors["missense_pathogenic"])
            / (nm + SMOOTHING)
        )
        .cast(pl.Float32)
        .alias("gene_missense_pathogenic_rate"),
    )


class GeneFeatureLookup:
    """GENE_FEATURES of every gene of a fitted table and of an unknown gene (the prior), computed once with
    `_stats_to_features` (row-wise, so the values equal `apply_gene_table`'s): scoring a few variants then
    costs a dict lookup and a numpy gather instead of a polars join and hstack (~0.5 ms a call)."""

    def __init__(self, table: pl.DataFrame, priors: dict[str, float]) -> None:
        stats = _stats_to_features(
            pl.concat([table.select(list(COUNT_SCHEMA)), table.select(list(COUNT_SCHEMA)).clear(1)]), priors
        )
        self.values = stats.select(GENE_FEATURES).to_numpy().astype(np.float32, copy=False)  # last row: unknown
        unknown = table.height
        symbols = table["gene_symbol"].to_list()
        self.row = {g: i for i, g in reversed(list(enumerate(symbols))) if g is not None}
        self.unknown = unknown

    def gather(self, gene_symbol: pl.Series) -> np.ndarray:
        """(n, len(GENE_FEATURES)) float32 for these genes."""
        get, unknown = self.row.get, self.unknown
        return self.values[np.fromiter((get(g, unknown) for g in gene_symbol.to_list()), np.int64, len(gene_symbol))]


def apply_gene_table(features: pl.DataFrame, table: pl.DataFrame, priors: dict[str, float]) -> pl.DataFrame:
    """Add GENE_FEATURES from a fitted table; genes not in it get the prior (gene_known = 0)."""
    joined = features.select("gene_symbol").join(table, on="gene_symbol", how="left", maintain_order="left")
    return features.drop([c for c in GENE_FEATURES if c in features.columns]).hstack(_stats_to_features(joined, priors))


def out_of_fold_gene_features(
    features: pl.DataFrame, labels: np.ndarray, seed: int
) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, float]]:
    """Training rows: gene features from the other folds; masked genes get the prior.

    Returns (features with GENE_FEATURES, the full table for serving, priors)."""
    full_table, priors = gene_table(features, labels)
    rng = np.random.default_rng(seed)
    fold = rng.integers(0, OOF_FOLDS, size=features.height)
    genes = full_table["gene_symbol"].to_list()
    masked = set(np.asarray(genes, dtype=object)[rng.random(len(genes)) < MASKED_GENE_SHARE].tolist())
    parts = []
    index = np.arange(features.height)
    for k in range(OOF_FOLDS):
        in_fold = fold == k
        table_k, _ = gene_table(features.filter(pl.Series(~in_fold)), labels[~in_fold])
        part = apply_gene_table(features.filter(pl.Series(in_fold)), table_k, priors)
        parts.append(part.with_columns(pl.Series("_i", index[in_fold])))
    out = pl.concat(parts).sort("_i").drop("_i")
    is_masked = out["gene_symbol"].is_in(list(masked))
    unknown = _stats_to_features(pl.DataFrame(schema=COUNT_SCHEMA).clear(1), priors).row(0, named=True)
    out = out.with_columns(
        [pl.when(is_masked).then(pl.lit(v, dtype=pl.Float32)).otherwise(pl.col(k)).alias(k) for k, v in unknown.items()]
    )
    return out, full_table, priors
