"""Dynamic batching: a request answered inside a batch gets exactly what it gets alone."""

from __future__ import annotations

import threading

from polars.testing import assert_frame_equal

from hcml.config import REPO_ROOT

SAMPLES = REPO_ROOT / "data" / "samples"


def _inputs(bundle):
    from hcml.genomics import inputs

    hg = (SAMPLES / "HG00096_chr21_region.vcf").read_bytes()
    return [
        inputs.parse_variant_strings(["21-25891796-C-T", "ENST00000346798.7:c.2149G>A", "ENST00000999999.1:c.1A>G"],
                                     bundle),
        inputs.read_vcf(hg, bundle),
        inputs.read_vcf((SAMPLES / "clinvar2016_chr21_region.vcf").read_bytes(), bundle),
        inputs.parse_variant_strings(["21-25891796-G-T"], bundle),  # only a reject: no variant
    ]


def _concurrently(n: int, call) -> dict:
    """call(i) for i in range(n), each on its own thread started together: {i: result}."""
    results: dict = {}
    threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, call(i))) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_batched_equals_alone(bundle):
    from hcml.interpret import interpret
    from hcml.ml.serving import load_scorer

    from realtime.batching import interpret_many

    scorer = load_scorer()
    parsed = _inputs(bundle)
    together = interpret_many(parsed, bundle, scorer)
    assert len(together) == len(parsed)
    for p, batched in zip(parsed, together):
        alone = interpret(p, bundle, scorer)
        assert batched.summary.height == p.variants.height
        if p.variants.height == 0:
            assert batched.summary.height == 0 and batched.rejects.height == p.rejects.height
            continue
        # scores: float32 matrix products may differ in the last bits with the batch shape
        assert_frame_equal(batched.summary, alone.summary, check_exact=False, rel_tol=1e-5, abs_tol=1e-7)
        assert_frame_equal(batched.annotations.sort("row", maintain_order=True),
                           alone.annotations.sort("row", maintain_order=True))
        assert_frame_equal(batched.rejects, alone.rejects)


def test_batcher_serves_concurrent_requests(bundle):
    from hcml.ml.serving import load_scorer

    from realtime.batching import InterpretBatcher

    scorer = load_scorer()
    parsed = _inputs(bundle)[:3]
    batcher = InterpretBatcher(bundle)
    try:
        results = _concurrently(12, lambda i: batcher.interpret(parsed[i % 3], scorer))
    finally:
        batcher.stop()
    assert sorted(results) == list(range(12))
    for i, r in results.items():
        assert set(r.summary["variant_id"]) == set(parsed[i % 3].variants["variant_id"])
    assert batcher.requests == 12 and batcher.batches <= 12


def _comparable(body: dict) -> dict:
    out = {k: v for k, v in body.items() if k not in ("result_id", "provenance_url", "elapsed_ms")}
    for v in out["variants"]:
        v["pathogenicity_score"] = round(v["pathogenicity_score"], 5)
    return out


def test_variant_cache_answers_as_the_full_path(client, tokens, rt_env):
    """The same strings twice (second time from the cache) and through an app without a cache: one answer."""
    from fastapi.testclient import TestClient

    import pytest

    from realtime.app import create_app

    strings = ["bad-variant", "21-25891796-C-T", "ENST00000346798.7:c.2149G>A", "21-25891796-C-T",
               "ENST00000999999.1:c.1A>G", "21-25897620-C-T"]
    h = {"Authorization": f"Bearer {tokens['clinician']}"}
    first = client.post("/v1/annotate", json={"variants": strings}, headers=h).json()
    cache = client.app.state.runtime.state.cache
    hits = cache.hits
    second = client.post("/v1/annotate", json={"variants": strings}, headers=h).json()
    assert cache.hits >= hits + 5  # every distinct string came from the cache
    assert _comparable(first) == _comparable(second)
    assert [r["line"] for r in second["rejects"]] == [1, 5]
    assert second["n_variants"] == 4  # the repeated string is answered twice, as the reader does
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HCML_REALTIME_VARIANT_CACHE", "0")
        with TestClient(create_app()) as plain:
            assert plain.app.state.runtime.state.cache is None
            uncached = plain.post("/v1/annotate", json={"variants": strings}, headers=h).json()
    assert _comparable(uncached) == _comparable(second)


def test_parse_many_equals_parsing_alone(bundle):
    from hcml.genomics import inputs

    from realtime.batching import parse_many

    lists = [["21-25891796-C-T", "bad", "ENST00000346798.7:c.2149G>A"], ["ENST00000999999.1:c.1A>G"],
             ["21:g.25891796C>G", "21-25897620-C-T"]]
    for strings, together in zip(lists, parse_many(lists, bundle)):
        alone = inputs.parse_variant_strings(strings, bundle)
        assert_frame_equal(together.variants, alone.variants)
        assert_frame_equal(together.rejects, alone.rejects)
        assert together.n_input == alone.n_input


def test_concurrent_string_jobs_are_parsed_together(bundle):
    from hcml.ml.serving import load_scorer

    from realtime.batching import InterpretBatcher

    scorer = load_scorer()
    jobs = [["21-25891796-C-T", "bad"], ["21-25897620-C-T"], ["ENST00000346798.7:c.2149G>A", "21-25891796-C-G"]] * 4
    batcher = InterpretBatcher(bundle)
    try:
        results = _concurrently(len(jobs), lambda i: batcher.interpret_strings(jobs[i], scorer))
    finally:
        batcher.stop()
    for i, r in results.items():
        n_bad = sum(s == "bad" for s in jobs[i])
        assert r.summary.height == len(jobs[i]) - n_bad and r.rejects.height == n_bad
        if n_bad:
            assert r.rejects["line"].to_list() == [jobs[i].index("bad") + 1]
    assert len(results) == len(jobs)
