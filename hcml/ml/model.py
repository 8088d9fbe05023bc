"""The serving form of a trained model (numpy arrays + JSON spec), for either kind the training can ship.

`kind` "mlp": the torch network's standardisation and layer weights; `kind` "gbm": gradient-boosted trees as
flat arrays (hcml.ml.gbm). Both: the fill value of each feature a row lacks (protein and constraint features
of a variant without a sequence / a gene without constraint), Platt calibration, the gene table. Files:
`model.npz` + `spec.json`. Scoring needs numpy only (no torch, scikit-learn, MLflow); `tests/ml` checks it
equals the trained model's output to 1e-6.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from hcml.ml import gbm
from hcml.ml.features import FLOAT_FEATURES, GENE_FEATURES, FeatureBlock, feature_matrix, summary_block
from hcml.ml.genes import COUNT_SCHEMA, GeneFeatureLookup

MODEL_NAME = "hcml-pathogenicity"
NPZ_NAME = "model.npz"
SPEC_NAME = "spec.json"


_BLAS_CONTROLLER: list = []


def _single_thread_blas():
    """BLAS limited to one thread: for a 1,000 x 91 matrix, thread start-up and contention on a shared
    CPU cost more than the arithmetic (measured: ~1 ms single-threaded vs 4-13 ms multi-threaded)."""
    if not _BLAS_CONTROLLER:
        try:
            from threadpoolctl import ThreadpoolController

            _BLAS_CONTROLLER.append(ThreadpoolController())
        except Exception:  # noqa: BLE001 - threadpoolctl missing or unsupported: run unlimited
            _BLAS_CONTROLLER.append(None)
    ctl = _BLAS_CONTROLLER[0]
    return ctl.limit(limits=1, user_api="blas") if ctl is not None else contextlib.nullcontext()


@dataclass
class ExportedModel:
    """Numpy MLP: standardise -> [Linear -> ReLU]* -> Linear -> Platt(a, b) -> sigmoid."""

    feature_names: list[str]
    mean: np.ndarray
    std: np.ndarray
    weights: list[np.ndarray]  # (in, out) each
    biases: list[np.ndarray]
    platt_a: float
    platt_b: float
    gene_table: pl.DataFrame
    gene_priors: dict[str, float]
    model_name: str = MODEL_NAME
    model_version: str = "bundled"
    info: dict[str, Any] = field(default_factory=dict)
    kind: str = "mlp"
    fill: np.ndarray | None = None  # per feature: the value a missing (NaN) one takes
    trees: dict[str, np.ndarray] | None = None  # kind "gbm"
    platt_missense: tuple[float, float] | None = None  # missense rows' own calibration (class_missense == 1)

    def score_thresholds(self) -> dict[str, dict[str, float]] | None:
        """The PP3/BP4 score thresholds stored with the model: `hcml.ml.evidence.model_thresholds`."""
        from hcml.ml.evidence import model_thresholds

        return model_thresholds(self)

    # -- scoring -------------------------------------------------------------------------------------
    def filled(self, x: np.ndarray) -> np.ndarray:
        """The matrix with each missing (NaN) feature replaced by its fill value."""
        if self.fill is None:
            return x
        missing = np.isnan(x)
        if not missing.any():
            return x
        return np.where(missing, self.fill.astype(x.dtype), x)

    def logits(self, x: np.ndarray) -> np.ndarray:
        """Uncalibrated output for a feature matrix in `feature_names` order."""
        x = self.filled(x)
        if self.kind == "gbm":
            return gbm.raw_score(self.trees, x)
        with _single_thread_blas():
            h = (x.astype(np.float32, copy=False) - self.mean) / self.std
            for w, b in zip(self.weights[:-1], self.biases[:-1], strict=True):
                h = np.maximum(h @ w + b, 0.0)
            return (h @ self.weights[-1] + self.biases[-1])[:, 0]

    def predict_matrix(self, x: np.ndarray) -> np.ndarray:
        return self.calibrate(self.logits(x), x)

    def calibrate(self, logits: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Platt scaling of raw outputs: missense rows with their own (a, b) when the model has one."""
        z0 = np.asarray(logits, np.float64)
        z = self.platt_a * z0 + self.platt_b
        if self.platt_missense is not None:
            missense = x[:, self.feature_names.index("class_missense")] == 1
            z = np.where(missense, self.platt_missense[0] * z0 + self.platt_missense[1], z)
        return 1.0 / (1.0 + np.exp(-z))

    def _gene_lookup(self) -> GeneFeatureLookup:
        """The gene statistics of this model's table, built once (again if the table is replaced)."""
        lookup = self.__dict__.get("_gene_lookup_cache")
        if lookup is None or lookup[0] is not self.gene_table or lookup[1] is not self.gene_priors:
            lookup = self.__dict__["_gene_lookup_cache"] = (
                self.gene_table,
                self.gene_priors,
                GeneFeatureLookup(self.gene_table, self.gene_priors),
            )
        return lookup[2]

    def matrix(self, features: pl.DataFrame) -> np.ndarray:
        """Feature rows (from features_from_*) -> the model's matrix, adding its gene statistics (equal to
        `feature_matrix(apply_gene_table(...))`; the gene columns come from a lookup built once per model)."""
        lookup = self._gene_lookup()
        gene_at = {g: j for j, g in enumerate(GENE_FEATURES)}
        other = [n for n in self.feature_names if n not in gene_at]
        x = np.empty((features.height, len(self.feature_names)), np.float32)
        cols = [i for i, n in enumerate(self.feature_names) if n not in gene_at]
        x[:, cols] = feature_matrix(features, other)
        genes = [(i, gene_at[n]) for i, n in enumerate(self.feature_names) if n in gene_at]
        if genes:
            x[:, [i for i, _ in genes]] = lookup.gather(features["gene_symbol"])[:, [j for _, j in genes]]
        return x

    def score_features(self, features: pl.DataFrame) -> np.ndarray:
        if features.height == 0:
            return np.zeros(0, dtype=np.float64)
        return self.predict_matrix(self.matrix(features))

    def score(self, summary: pl.DataFrame, sequences: Mapping[str, str] | None = None) -> np.ndarray:
        """P(pathogenic) per row of a `hcml.genomics.annotate.summarise()` frame (features as arrays, no frame:
        the same `feature_block` as training, the model's matrix filled from its values and the gene lookup).
        `sequences`: the proteins the rows' HGVSp name (normally `hcml.ml.proteins.bundle_proteins`)."""
        if summary.height == 0:
            return np.zeros(0, dtype=np.float64)
        return self.predict_matrix(self.block_matrix(summary_block(summary, sequences)))

    def block_matrix(self, block: FeatureBlock) -> np.ndarray:
        """`matrix(block.frame())` without the frame: the model's columns taken from the block's values and
        the gene lookup in one gather."""
        names = tuple(self.feature_names)
        plan = self.__dict__.get("_block_plan")
        if plan is None or plan[0] != names:
            at = {n: i for i, n in enumerate(FLOAT_FEATURES)}
            at |= {n: len(FLOAT_FEATURES) + j for j, n in enumerate(GENE_FEATURES)}
            missing = [n for n in names if n not in at]
            if missing:
                raise KeyError(f"model features not computed by hcml.ml.features: {missing}")
            plan = self.__dict__["_block_plan"] = (names, np.array([at[n] for n in names]))
        lookup = self._gene_lookup()
        get, unknown = lookup.row.get, lookup.unknown
        genes = lookup.values[[get(g, unknown) for g in block.gene_symbol]]
        return np.concatenate([block.values, genes], axis=1)[:, plan[1]]

    def weights_sha256(self) -> str:
        """Content hash of everything that determines a score (feature order, arrays, gene table)."""
        import hashlib

        h = hashlib.sha256(json.dumps([self.kind, self.feature_names]).encode())
        extra = [] if self.fill is None else [self.fill]
        extra += [self.trees[k] for k in gbm.TREE_ARRAYS] if self.trees is not None else []
        extra += [np.array(self.platt_missense)] if self.platt_missense is not None else []
        for a in (self.mean, self.std, *self.weights, *self.biases, np.array([self.platt_a, self.platt_b]), *extra):
            h.update(np.ascontiguousarray(a).tobytes())
        h.update(self.gene_table.write_csv().encode())
        return h.hexdigest()

    # -- persistence ---------------------------------------------------------------------------------
    def save(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        arrays = {"mean": self.mean, "std": self.std, "platt": np.array([self.platt_a, self.platt_b])}
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            arrays[f"w{i}"] = w
            arrays[f"b{i}"] = b
        if self.fill is not None:
            arrays["fill"] = self.fill
        if self.platt_missense is not None:
            arrays["platt_missense"] = np.array(self.platt_missense)
        for k, v in (self.trees or {}).items():
            arrays[f"tree_{k}"] = v
        np.savez(directory / NPZ_NAME, **arrays)
        spec = {
            "kind": self.kind,
            "model_name": self.model_name,
            "model_version": self.model_version,
            "feature_names": self.feature_names,
            "n_layers": len(self.weights),
            "gene_priors": self.gene_priors,
            "gene_table": {c: self.gene_table[c].to_list() for c in self.gene_table.columns},
            "info": self.info,
        }
        (directory / SPEC_NAME).write_text(json.dumps(spec, indent=1, sort_keys=True))
        return directory

    @classmethod
    def load(cls, directory: Path, model_version: str | None = None) -> ExportedModel:
        spec = json.loads((directory / SPEC_NAME).read_text())
        with np.load(directory / NPZ_NAME) as z:
            arrays = {k: z[k] for k in z.files}
        _single_thread_blas()  # create the BLAS controller at load time, not on the first request
        n = spec["n_layers"]
        table = pl.DataFrame(spec["gene_table"], schema={"gene_symbol": pl.Utf8, **COUNT_SCHEMA})
        return cls(
            feature_names=spec["feature_names"],
            mean=arrays["mean"].astype(np.float32),
            std=arrays["std"].astype(np.float32),
            weights=[arrays[f"w{i}"].astype(np.float32) for i in range(n)],
            biases=[arrays[f"b{i}"].astype(np.float32) for i in range(n)],
            platt_a=float(arrays["platt"][0]),
            platt_b=float(arrays["platt"][1]),
            gene_table=table,
            gene_priors=spec["gene_priors"],
            model_name=spec.get("model_name", MODEL_NAME),
            model_version=str(model_version or spec.get("model_version", "bundled")),
            info=spec.get("info", {}),
            kind=spec.get("kind", "mlp"),
            fill=arrays["fill"].astype(np.float32) if "fill" in arrays else None,
            platt_missense=tuple(float(v) for v in arrays["platt_missense"]) if "platt_missense" in arrays else None,
            trees={k: arrays[f"tree_{k}"] for k in gbm.TREE_ARRAYS} if spec.get("kind") == "gbm" else None,
        )
