"""Reload the scorer when the model registry's `champion` alias moves (a thread polling MLflow)."""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

log = logging.getLogger("hcml.realtime.submissions")


class ModelWatcher:
    """Reload the scorer when the MLflow `champion` alias points at another version."""

    def __init__(self, state: Any, poll_seconds: float) -> None:
        self.state = state
        self.poll_seconds = poll_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.reloads = 0

    def start(self) -> None:
        if not os.environ.get("HCML_MLFLOW_TRACKING_URI") or self.poll_seconds <= 0:
            return
        self._thread = threading.Thread(target=self._run, name="hcml-model-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)

    def check_once(self) -> bool:
        """Reload if the alias moved; True when the scorer was swapped."""
        from realtime.service import load_scorer_safely

        current = str(getattr(self.state.scorer, "model_version", ""))
        latest = champion_version()
        if latest is None or latest == current:
            return False
        scorer, error = load_scorer_safely()
        if scorer is None:
            self.state.scorer_error = error
            return False
        self.state.scorer, self.state.scorer_error = scorer, None  # atomic swap of one reference
        self.reloads += 1
        log.info("pathogenicity model reloaded", extra={"model_version": str(getattr(scorer, "model_version", ""))})
        return True

    def _run(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.check_once()
            except Exception as exc:
                log.warning("champion alias check failed", extra={"error": type(exc).__name__})


def champion_version() -> str | None:
    """The version the registry's `champion` alias points at now (None when unknown)."""
    from hcml.ml import registry

    return registry.alias_version("champion")
