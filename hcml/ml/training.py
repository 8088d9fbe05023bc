"""Training: the gene-disjoint training set, a seeded torch MLP, Platt calibration on validation genes.

Same data + same seed -> the same weights (single-threaded, deterministic torch ops, seeded shuffling).
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass, field
from typing import Any, Iterator

import numpy as np
import polars as pl
import torch
from torch import nn

from hcml.ml.data import assign_splits, frame_sha256
from hcml.ml.features import GENE_FEATURES, VARIANT_FEATURES, feature_matrix, features_from_hgvs
from hcml.ml.genes import apply_gene_table, out_of_fold_gene_features
from hcml.ml.model import ExportedModel

FEATURE_NAMES: list[str] = [*VARIANT_FEATURES, *GENE_FEATURES]


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

    def as_params(self) -> dict[str, Any]:
        d = asdict(self)
        d["hidden"] = ",".join(str(h) for h in self.hidden)
        return d


@dataclass
class TrainedModel:
    exported: ExportedModel
    network: nn.Module
    history: list[dict[str, float]] = field(default_factory=list)
    training_set_sha256: str = ""


def build_training_set(labels: pl.DataFrame) -> pl.DataFrame:
    """Labels (from data.clinvar_labels) -> one row per variant: ids, label, split, HGVS features."""
    split = assign_splits(labels)
    feats = features_from_hgvs(split)
    return split.select("chrom", "pos", "ref", "alt", "symbol", "hgvs_c", "hgvs_p", "label", "split").hstack(
        feats.drop("gene_symbol")
    ).with_columns(pl.col("symbol").alias("gene_symbol"))


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


def train_model(training_set: pl.DataFrame, config: TrainConfig | None = None, progress=None) -> TrainedModel:
    """Train on split=='train', early-stop and calibrate on split=='validation'; test genes are untouched."""
    config = config or TrainConfig()
    train = training_set.filter(pl.col("split") == "train")
    val = training_set.filter(pl.col("split") == "validation")
    y_train = train["label"].to_numpy().astype(np.float32)
    y_val = val["label"].to_numpy().astype(np.float32)
    train_f, table, priors = out_of_fold_gene_features(train, y_train, config.seed)
    val_f = apply_gene_table(val, table, priors)
    x_train = feature_matrix(train_f, FEATURE_NAMES)
    x_val = feature_matrix(val_f, FEATURE_NAMES)
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
        feature_names=list(FEATURE_NAMES),
        mean=mean,
        std=std,
        weights=[m.weight.detach().numpy().T.copy() for m in linears],
        biases=[m.bias.detach().numpy().copy() for m in linears],
        platt_a=platt_a,
        platt_b=platt_b,
        gene_table=table,
        gene_priors=priors,
        info={"params": config.as_params(), "best_epoch": best[2], "n_train": train.height, "n_validation": val.height},
    )
    return TrainedModel(exported=exported, network=net, history=history, training_set_sha256=frame_sha256(training_set))


def torch_probabilities(trained: TrainedModel, x: np.ndarray) -> np.ndarray:
    """The trained torch network's calibrated probabilities (reference for the exported form)."""
    e = trained.exported
    with torch.no_grad():
        z = trained.network(torch.from_numpy((x - e.mean) / e.std))[:, 0].double().numpy()
    return 1.0 / (1.0 + np.exp(-(e.platt_a * z + e.platt_b)))
