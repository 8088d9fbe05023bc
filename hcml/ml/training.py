"""Training: the gene-disjoint training set, a seeded torch MLP and gradient-boosted trees on the same matrix,
each Platt-calibrated on the validation genes; the one with the lower validation log-loss is shipped.

Missing protein / constraint features (a variant without an accepted sequence, a gene gnomAD lacks): training
rows take the values of a random training row of the same consequence class that has them (hot-deck), so a
model cannot learn "has a sequence" (coverage is biased towards pathogenic rows); validation, test and served
rows take the training median (`ExportedModel.fill`), as the clinic will.
Same data + same seed -> the same model (single-threaded, deterministic torch ops, seeded shuffling).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import polars as pl
import torch
from torch import nn

from hcml.ml import gbm
from hcml.ml.data import assign_splits, frame_sha256
from hcml.ml.features import GENE_FEATURES, SEQUENCE_FEATURES, VARIANT_FEATURES, feature_matrix, features_from_hgvs
from hcml.ml.genes import apply_gene_table, out_of_fold_gene_features
from hcml.ml.model import ExportedModel
from hcml.ml.proteins import CONSTRAINT_FEATURES, PROTEIN_FEATURES

FEATURE_NAMES: list[str] = [*VARIANT_FEATURES, *GENE_FEATURES, *SEQUENCE_FEATURES]


@dataclass(frozen=True)
class TrainConfig:
    seed: int = 17
    hidden: tuple[int, ...] = (128, 64)
    dropout: float = 0.1
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    batch_size: int = 512
    max_epochs: int = 40
    patience: int = 5
    kinds: tuple[str, ...] = ("mlp", "gbm")  # trained and compared; the better on validation is shipped

    def as_params(self) -> dict[str, Any]:
        d = asdict(self)
        d["hidden"] = ",".join(str(h) for h in self.hidden)
        d["kinds"] = ",".join(self.kinds)
        return d


@dataclass
class TrainedModel:
    exported: ExportedModel  # the shipped one (the better on validation)
    network: nn.Module | None
    history: list[dict[str, float]] = field(default_factory=list)
    training_set_sha256: str = ""
    candidates: dict[str, ExportedModel] = field(default_factory=dict)  # every kind trained
    gbm_model: Any = None  # the scikit-learn classifier (reference for the exported trees)
    validation_log_loss: dict[str, float] = field(default_factory=dict)


def build_training_set(labels: pl.DataFrame) -> pl.DataFrame:
    """Labels (from data.clinvar_labels) -> one row per variant: ids, label, split, HGVS features."""
    split = assign_splits(labels)
    feats = features_from_hgvs(split)
    return (
        split.select("chrom", "pos", "ref", "alt", "symbol", "hgvs_c", "hgvs_p", "label", "split")
        .hstack(feats.drop("gene_symbol"))
        .with_columns(pl.col("symbol").alias("gene_symbol"))
    )


@contextlib.contextmanager
def _deterministic_torch(seed: int) -> Iterator[None]:
    threads = torch.get_num_threads()
    was_det = torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(seed)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(was_det)


def _network(n_in: int, config: TrainConfig) -> nn.Sequential:
    layers: list[nn.Module] = []
    width = n_in
    for h in config.hidden:
        layers += [nn.Linear(width, h), nn.ReLU(), nn.Dropout(config.dropout)]
        width = h
    layers.append(nn.Linear(width, 1))
    return nn.Sequential(*layers)


def _fit_platt(logits: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Platt scaling sigmoid(a*z + b) by maximum likelihood on held-out validation genes."""
    z = torch.tensor(logits, dtype=torch.float64)
    t = torch.tensor(y, dtype=torch.float64)
    params = torch.tensor([1.0, 0.0], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([params], lr=0.5, max_iter=200, line_search_fn="strong_wolfe")
    loss_fn = nn.BCEWithLogitsLoss()

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = loss_fn(params[0] * z + params[1], t)
        loss.backward()
        return loss

    opt.step(closure)
    a, b = params.detach().tolist()
    return float(a), float(b)


def _blocks(names: list[str]) -> list[np.ndarray]:
    """Column indices of the features filled together (a row has all of a block or none of it)."""
    at = {n: i for i, n in enumerate(names)}
    return [np.array([at[n] for n in block if n in at]) for block in (PROTEIN_FEATURES, CONSTRAINT_FEATURES)]


def hot_deck(x: np.ndarray, classes: np.ndarray, names: list[str], seed: int) -> np.ndarray:
    """Training rows missing a block take that block from a random row of the same class that has it (any
    class when none has it): the filled values look like real ones, whatever the row's label."""
    rng = np.random.default_rng(seed + 7)
    x = x.copy()
    for cols in _blocks(names):
        if not len(cols):
            continue
        missing = np.isnan(x[:, cols]).any(axis=1)
        donors_all = np.flatnonzero(~missing)
        for c in np.unique(classes[missing]):
            rows = np.flatnonzero(missing & (classes == c))
            donors = np.flatnonzero(~missing & (classes == c))
            donors = donors if len(donors) else donors_all
            x[np.ix_(rows, cols)] = x[np.ix_(rng.choice(donors, len(rows)), cols)]
    return x


def _log_loss(y: np.ndarray, p: np.ndarray) -> float:
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def train_model(training_set: pl.DataFrame, config: TrainConfig | None = None, progress=None) -> TrainedModel:
    """Train on split=='train', early-stop and calibrate on split=='validation'; test genes are untouched."""
    config = config or TrainConfig()
    train = training_set.filter(pl.col("split") == "train")
    val = training_set.filter(pl.col("split") == "validation")
    y_train = train["label"].to_numpy().astype(np.float32)
    y_val = val["label"].to_numpy().astype(np.float32)
    train_f, table, priors = out_of_fold_gene_features(train, y_train, config.seed)
    val_f = apply_gene_table(val, table, priors)
    names = list(FEATURE_NAMES)
    x_raw = feature_matrix(train_f, names)
    fill = np.nanmedian(np.where(np.isnan(x_raw), np.nan, x_raw), axis=0).astype(np.float32)
    fill[np.isnan(fill)] = 0.0
    x_train = hot_deck(x_raw, train["consequence_class"].to_numpy(), names, config.seed)
    x_val = np.where(np.isnan(v := feature_matrix(val_f, names)), fill, v).astype(np.float32)
    info = {"n_train": train.height, "n_validation": val.height}
    missense_val = val["consequence_class"].to_numpy() == "missense"
    common = {"feature_names": names, "gene_table": table, "gene_priors": priors, "fill": fill}
    candidates: dict[str, ExportedModel] = {}
    losses: dict[str, float] = {}
    network, history, gbm_model = None, [], None
    if "mlp" in config.kinds:
        network, history, exported = _train_mlp(x_train, y_train, x_val, y_val, missense_val, config, common, progress)
        candidates["mlp"] = exported
    if "gbm" in config.kinds:
        gbm_model = gbm.fit(x_train, y_train, config.seed)
        trees = gbm.export_trees(gbm_model)
        raw = gbm.raw_score(trees, x_val)
        platt_a, platt_b = _fit_platt(raw, y_val)
        candidates["gbm"] = ExportedModel(
            mean=np.zeros(len(names), np.float32),
            std=np.ones(len(names), np.float32),
            weights=[],
            biases=[],
            platt_a=platt_a,
            platt_b=platt_b,
            kind="gbm",
            trees=trees,
            platt_missense=_fit_platt(raw[missense_val], y_val[missense_val]),
            info={"params": {"n_trees": len(trees["roots"]), **gbm_model.get_params()}},
            **common,
        )
    for kind, model in candidates.items():
        losses[kind] = _log_loss(y_val, model.predict_matrix(x_val))
    chosen = min(losses, key=losses.get)
    exported = candidates[chosen]
    exported.info = {
        **exported.info,
        **info,
        "params": {**config.as_params(), **exported.info.get("params", {})},
        "kind": chosen,
        "validation_log_loss": losses,
    }
    return TrainedModel(
        exported=exported,
        network=network,
        history=history,
        training_set_sha256=frame_sha256(training_set),
        candidates=candidates,
        gbm_model=gbm_model,
        validation_log_loss=losses,
    )


def _train_mlp(x_train, y_train, x_val, y_val, missense_val, config: TrainConfig, common: dict, progress):
    mean = x_train.mean(axis=0).astype(np.float32)
    std = x_train.std(axis=0).astype(np.float32)
    std[std < 1e-6] = 1.0
    with _deterministic_torch(config.seed):
        net = _network(x_train.shape[1], config)
        opt = torch.optim.AdamW(net.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
        loss_fn = nn.BCEWithLogitsLoss()
        xt = torch.from_numpy((x_train - mean) / std)
        yt = torch.from_numpy(y_train)
        xv = torch.from_numpy((x_val - mean) / std)
        yv = torch.from_numpy(y_val)
        gen = torch.Generator().manual_seed(config.seed)
        best = (float("inf"), None, 0)
        history = []
        for epoch in range(config.max_epochs):
            net.train()
            order = torch.randperm(len(xt), generator=gen)
            total = 0.0
            for start in range(0, len(order), config.batch_size):
                idx = order[start : start + config.batch_size]
                opt.zero_grad()
                loss = loss_fn(net(xt[idx])[:, 0], yt[idx])
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(idx)
            net.eval()
            with torch.no_grad():
                val_loss = float(loss_fn(net(xv)[:, 0], yv))
            history.append({"epoch": epoch, "train_loss": total / len(xt), "val_loss": val_loss})
            if progress:
                progress(history[-1])
            if val_loss < best[0] - 1e-5:
                best = (val_loss, {k: v.clone() for k, v in net.state_dict().items()}, epoch)
            elif epoch - best[2] >= config.patience:
                break
        net.load_state_dict(best[1])
        net.eval()
        with torch.no_grad():
            val_logits = net(xv)[:, 0].double().numpy()
        platt_a, platt_b = _fit_platt(val_logits, y_val)

    linears = [m for m in net if isinstance(m, nn.Linear)]
    exported = ExportedModel(
        mean=mean,
        std=std,
        weights=[m.weight.detach().numpy().T.copy() for m in linears],
        biases=[m.bias.detach().numpy().copy() for m in linears],
        platt_a=platt_a,
        platt_b=platt_b,
        platt_missense=_fit_platt(val_logits[missense_val], y_val[missense_val]),
        kind="mlp",
        info={"best_epoch": best[2]},
        **common,
    )
    return net, history, exported


def torch_probabilities(trained: TrainedModel, x: np.ndarray) -> np.ndarray:
    """The trained torch network's calibrated probabilities (reference for the exported MLP)."""
    e = trained.candidates["mlp"]
    xf = e.filled(x)
    with torch.no_grad():
        z = trained.network(torch.from_numpy((xf - e.mean) / e.std))[:, 0].double().numpy()
    return e.calibrate(z, x)


def sklearn_probabilities(trained: TrainedModel, x: np.ndarray) -> np.ndarray:
    """The scikit-learn classifier's calibrated probabilities (reference for the exported trees)."""
    e = trained.candidates["gbm"]
    z = trained.gbm_model.decision_function(e.filled(x).astype(np.float64))
    return e.calibrate(z, x)
