"""The service follows the MLflow `champion` alias: a moved alias swaps the scorer (real MLflow server)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow


def test_champion_alias_move_reloads_the_scorer(mlflow_env, bundle_dir, monkeypatch):
    from hcml.ml import registry
    from hcml.ml.serving import load_bundled

    from realtime.service import interpret_request, load_state, warm_up
    from realtime.model_watcher import ModelWatcher

    monkeypatch.setenv("HCML_BUNDLE_DIR", str(bundle_dir))
    model = load_bundled()
    first = registry.log_and_register(model, params={}, metrics={}, report={}, plots={},
                                      training_set_sha256="0" * 64)
    second = registry.log_and_register(model, params={}, metrics={}, report={}, plots={},
                                       training_set_sha256="1" * 64)
    registry.set_champion(first.model_version)

    state = load_state()
    warm_up(state)
    try:
        assert state.scorer.model_version == first.model_version
        watcher = ModelWatcher(state, poll_seconds=0)
        assert watcher.check_once() is False  # alias unchanged: nothing reloaded
        before = interpret_request(state, variants=["21-25891796-C-T"])
        assert before["model"]["version"] == first.model_version

        registry.set_champion(second.model_version)
        assert watcher.check_once() is True
        assert state.scorer.model_version == second.model_version and watcher.reloads == 1
        misses = state.cache.misses
        after = interpret_request(state, variants=["21-25891796-C-T"])
        assert state.cache.misses == misses + 1  # the cache is keyed by model version
        assert after["model"]["version"] == second.model_version
        # the same weights under another version: the same score, recomputed (not served from the old cache)
        assert after["variants"][0]["pathogenicity_score"] == pytest.approx(before["variants"][0]["pathogenicity_score"])
    finally:
        if state.batcher is not None:
            state.batcher.stop()
