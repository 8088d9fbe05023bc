"""The request path around `interpret`: the verified-token cache, the column-wise rendering of an
interpretation, and small requests answered inline instead of through the batcher -- each held equal to the
form it replaces, on real inputs."""

from __future__ import annotations

import gzip
import math
import random
import time
from typing import Any

import jwt
import pytest

from hcml.config import REPO_ROOT

from .conftest import auth

DATA = REPO_ROOT / "data"


# ----------------------------------------------------------------------------------- token cache
@pytest.fixture()
def verifier(rt_env):
    from realtime.auth import TokenVerifier
    from realtime.settings import load_settings

    return TokenVerifier(load_settings())


@pytest.fixture()
def decode_calls(monkeypatch):
    """Counts full signature checks (PyJWT's decode)."""
    calls = []
    real = jwt.decode

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(jwt, "decode", counting)
    return calls


def _token(ttl_seconds: int, role: str = "clinician") -> str:
    from realtime.auth import dev_private_key, mint_token
    from realtime.settings import DEV_ISSUER, load_settings

    return mint_token(dev_private_key(), role=role, subject="cache-test", issuer=DEV_ISSUER,
                      audience=load_settings().oidc_audience, ttl_seconds=ttl_seconds)


def test_a_verified_token_is_checked_once(verifier, decode_calls):
    token = _token(3600)
    first = verifier.verify(token)
    assert len(decode_calls) == 1
    for _ in range(5):
        assert verifier.verify(token) == first
    assert len(decode_calls) == 1
    other = _token(3600, role="researcher")  # another string: checked in full, its own claims
    assert verifier.verify(other).roles == ("researcher",)
    assert len(decode_calls) == 2


def test_the_cache_never_outlives_the_token(verifier):
    """A token valid for one to two more seconds (exp in the past, inside PyJWT's leeway) is accepted and
    remembered, then refused as expired once PyJWT would refuse it: the cache keeps to exp + leeway."""
    from realtime.auth import LEEWAY_SECONDS, AuthError

    token = _token(-(LEEWAY_SECONDS - 2))
    exp = jwt.decode(token, options={"verify_signature": False})["exp"]
    assert verifier.verify(token).subject == "cache-test"
    assert verifier.verify(token).subject == "cache-test"  # from the cache
    time.sleep(max(0.0, exp + LEEWAY_SECONDS - time.time()) + 0.05)
    with pytest.raises(AuthError, match="token expired"):
        verifier.verify(token)
    with pytest.raises(AuthError, match="token expired"):  # and it stays refused
        verifier.verify(token)


def test_the_cache_is_bounded_in_time_for_key_rotation(verifier, decode_calls):
    from realtime.auth import VERIFIED_CACHE_SECONDS

    token = _token(8 * 3600)
    verifier.verify(token)
    now = time.time()
    verifier.clock = lambda: now + VERIFIED_CACHE_SECONDS - 1
    verifier.verify(token)
    assert len(decode_calls) == 1
    verifier.clock = lambda: now + VERIFIED_CACHE_SECONDS + 1
    verifier.verify(token)  # checked against the keys again
    assert len(decode_calls) == 2


def test_refused_tokens_are_refused_every_time(verifier, decode_calls):
    from realtime.auth import AuthError

    token = _token(3600)
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    expired = _token(-3600)
    for _ in range(3):
        with pytest.raises(AuthError, match="signature is invalid"):
            verifier.verify(tampered)
        with pytest.raises(AuthError, match="token expired"):
            verifier.verify(expired)
    assert len(decode_calls) == 6
    verifier.verify(token)
    with pytest.raises(AuthError, match="signature is invalid"):  # a good token cached changes nothing
        verifier.verify(tampered)


# ------------------------------------------------------------------------------------- rendering
def _records_reference(interpretation: Any) -> list[dict[str, Any]]:
    """The rendering as it was written before (polars select + to_dicts): the expectation."""
    from realtime.service import CONSEQUENCE_FIELDS, FREQUENCY_FIELDS, SUMMARY_FIELDS

    def clean(value: Any) -> Any:
        if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
            return None
        return value

    summary = interpretation.summary
    if summary.height == 0:
        return []
    annotations = interpretation.annotations
    per_row: dict[int, list[dict[str, Any]]] = {}
    cons_cols = [c for c in CONSEQUENCE_FIELDS if c in annotations.columns]
    if annotations.height and "row" in annotations.columns:
        for rec in annotations.select(["row", *cons_cols]).to_dicts():
            row = rec.pop("row")
            per_row.setdefault(row, []).append({k: clean(v) for k, v in rec.items()})
    keep = [c for c in ("row", *SUMMARY_FIELDS, *FREQUENCY_FIELDS) if c in summary.columns]
    out = []
    for rec in summary.select(keep).to_dicts():
        row = rec.pop("row", None)
        item = {k: clean(rec.get(k)) for k in SUMMARY_FIELDS if k in rec}
        item["frequencies"] = {k: clean(rec.get(k)) for k in FREQUENCY_FIELDS if k in rec}
        item["consequences"] = per_row.get(row, [])
        out.append(item)
    return out


def _assert_same_records(got: list[dict], want: list[dict]) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert list(g) == list(w)  # same keys in the same order (the JSON text is the same)
        assert g == w
        assert [list(c) for c in g["consequences"]] == [list(c) for c in w["consequences"]]
        for k, v in g.items():  # same Python types (an int stays an int in the JSON)
            assert type(v) is type(w[k]), k


def _real_vcfs() -> list[bytes]:
    with gzip.open(DATA / "truth" / "saturation.vcf.gz", "rt") as fh:
        lines = fh.read().splitlines()
    header = [x for x in lines if x.startswith("#")]
    records = [x for x in lines if not x.startswith("#")]
    return [(DATA / "samples" / "HG00096_chr21_region.vcf").read_bytes(),
            (DATA / "samples" / "clinvar2016_chr21_region.vcf").read_bytes(),
            "\n".join(header + records[::5]).encode() + b"\n"]  # ~7,000 SNVs and indels of the saturation set


def test_records_equal_the_to_dicts_rendering_on_real_sets(bundle):
    from hcml.genomics import inputs
    from hcml.interpret import interpret
    from hcml.ml.serving import load_scorer

    from realtime.service import variant_records

    scorer = load_scorer()
    sizes = []
    for vcf in _real_vcfs():
        interpretation = interpret(inputs.read_vcf(vcf, bundle), bundle, scorer)
        sizes.append(interpretation.summary.height)
        _assert_same_records(variant_records(interpretation), _records_reference(interpretation))
    assert min(sizes) > 10 and max(sizes) > 5000, sizes
    no_score = interpret(inputs.read_vcf(_real_vcfs()[0], bundle), bundle, None)  # null scores
    _assert_same_records(variant_records(no_score), _records_reference(no_score))
    # NaN and infinities (JSON has neither) become null in both forms, whatever float column holds them
    import dataclasses

    import polars as pl

    n = interpretation.summary.height
    odd = [math.nan, math.inf, -math.inf, None, 0.25][:5] * (n // 5 + 1)
    summary = interpretation.summary.with_columns(pl.Series("pathogenicity_score", odd[:n], dtype=pl.Float64),
                                                  pl.Series("af", odd[1:n + 1], dtype=pl.Float32))
    odd_one = dataclasses.replace(interpretation, summary=summary)
    _assert_same_records(variant_records(odd_one), _records_reference(odd_one))
    assert {r["pathogenicity_score"] for r in variant_records(odd_one)} == {None, 0.25}


# -------------------------------------------------------------------------------- inline answers
def _real_strings(n: int, seed: int = 5) -> list[str]:
    out = []
    with gzip.open(DATA / "truth" / "saturation.vcf.gz", "rt") as fh:
        for line in fh:
            if not line.startswith("#"):
                c = line.split("\t", 5)
                out.append(f"{c[0]}-{c[1]}-{c[3]}-{c[4]}")
    random.Random(seed).shuffle(out)
    return out[:n]


def _comparable(body: dict) -> dict:
    return {k: v for k, v in body.items() if k not in ("result_id", "provenance_url", "elapsed_ms")}


@pytest.fixture(scope="module")
def warm_state(rt_env):
    from realtime.service import load_state, warm_up

    state = load_state()
    warm_up(state, cache_size=0)  # no variant cache: every request does the work
    yield state
    state.batcher.stop()


def test_inline_answers_equal_the_batcher_path(warm_state):
    """The same requests through the batcher and on the calling thread: the same answers, in the same order,
    for 300 real single variants and for small lists with rejects, repeats and comment lines."""
    from realtime.service import interpret_request

    requests = [[s] for s in _real_strings(300)]
    requests += [["21-25891796-C-T", "bad-variant", "ENST00000346798.7:c.2149G>A"],
                 ["ENST00000999999.1:c.1A>G", "21-25897620-C-T", "21-25891796-C-T", "21-25891796-C-T"],
                 ["# a comment", "21-25891796-C-T"]]  # the reader's own path (not per string)
    for strings in requests:
        batched = interpret_request(warm_state, variants=strings, inline=False)
        inline = interpret_request(warm_state, variants=strings, inline=True)
        assert _comparable(inline) == _comparable(batched), strings


def test_inline_errors_are_the_batcher_path_errors(warm_state):
    from realtime.service import NothingToAnnotate, RequestTooLarge, interpret_request

    for inline in (False, True):
        with pytest.raises(NothingToAnnotate) as caught:
            interpret_request(warm_state, variants=["nonsense", "21-25891796-G-T"], inline=inline)
        assert [r["line"] for r in caught.value.rejects] == [1, 2]
        with pytest.raises(RequestTooLarge):
            interpret_request(warm_state, variants=["21-25891796-C-T"] * 3, max_variants=2, inline=inline)


def test_policy_inlines_small_requests_only_when_cheap():
    from realtime.batching import InlinePolicy

    policy = InlinePolicy(max_variants=4, max_ms=5.0)
    assert not policy.allows(1)  # nothing timed yet: the batcher
    policy.observe(1, 0.002)
    assert policy.estimate_ms == pytest.approx(2.0)
    assert policy.allows(1) and policy.allows(4)
    assert not policy.allows(5)  # too many variants
    assert not policy.allows(0)
    policy.observe(9, 1.0)  # larger requests do not count
    assert policy.estimate_ms == pytest.approx(2.0)
    for _ in range(10):  # interpret became slow (e.g. a model swap): back to the batcher
        policy.observe(1, 0.012)
    assert policy.estimate_ms > 5.0 and not policy.allows(1)
    off = InlinePolicy(max_variants=0, max_ms=5.0)
    off.observe(1, 0.001)
    assert not off.allows(1)


def test_policy_settings_from_the_environment(monkeypatch):
    from realtime.batching import InlinePolicy

    monkeypatch.delenv("HCML_REALTIME_INLINE_MAX_VARIANTS", raising=False)
    monkeypatch.delenv("HCML_REALTIME_INLINE_MAX_MS", raising=False)
    monkeypatch.delenv("HCML_SMALL_INPUT_MAX", raising=False)
    assert (InlinePolicy().max_variants, InlinePolicy().max_ms) == (32, 8.0)
    monkeypatch.setenv("HCML_SMALL_INPUT_MAX", "12")  # never more than the row-by-row twins take
    assert InlinePolicy().max_variants == 12
    monkeypatch.setenv("HCML_REALTIME_INLINE_MAX_VARIANTS", "7")
    monkeypatch.setenv("HCML_REALTIME_INLINE_MAX_MS", "2.5")
    policy = InlinePolicy()
    assert (policy.max_variants, policy.max_ms) == (7, 2.5)
    monkeypatch.setenv("HCML_REALTIME_INLINE_MAX_MS", "fast")
    with pytest.raises(ValueError, match="HCML_REALTIME_INLINE_MAX_MS must be a number"):
        InlinePolicy()


def test_the_batcher_times_lone_requests_and_parses_them_alone(bundle):
    from polars.testing import assert_frame_equal

    from hcml.genomics import inputs
    from hcml.ml.serving import load_scorer

    from realtime.batching import InterpretBatcher

    seen: list[tuple[int, float]] = []
    batcher = InterpretBatcher(bundle, on_lone=lambda n, s: seen.append((n, s)))
    strings = ["21-25891796-C-T", "bad", "ENST00000346798.7:c.2149G>A"]
    try:
        got = batcher.interpret_strings(strings, load_scorer())
    finally:
        batcher.stop()
    alone = inputs.parse_variant_strings(strings, bundle)
    assert_frame_equal(got.rejects, alone.rejects)
    assert got.summary.height == alone.variants.height == 2
    assert len(seen) == 1 and seen[0][0] == 3 and seen[0][1] > 0


def test_the_endpoint_answers_inline_as_through_the_batcher(rt_env, tokens, monkeypatch):
    """POST /v1/annotate with inline answers allowed and with them off: the same JSON for real variants."""
    from fastapi.testclient import TestClient

    from realtime.app import create_app

    strings = _real_strings(40, seed=9)
    answers = {}
    for mode, max_ms in (("inline", "1000"), ("batcher", "0")):
        monkeypatch.setenv("HCML_REALTIME_VARIANT_CACHE", "0")
        monkeypatch.setenv("HCML_REALTIME_INLINE_MAX_MS", max_ms)
        with TestClient(create_app()) as c:
            policy = c.app.state.runtime.state.inline
            answers[mode] = []
            for s in strings:
                r = c.post("/v1/annotate", json={"variants": [s]}, headers=auth(tokens["clinician"]))
                assert r.status_code == 200, r.text
                answers[mode].append(_comparable(r.json()))
            bad = c.post("/v1/annotate", json={"variants": ["21-25891796-G-T"]}, headers=auth(tokens["clinician"]))
            assert bad.status_code == 422 and bad.json()["rejects"][0]["field"]
            with c.websocket_connect("/v1/ws") as ws:  # the WebSocket takes the same decision
                ws.send_json({"type": "auth", "token": tokens["clinician"]})
                assert ws.receive_json()["type"] == "ready"
                for i, s in enumerate(strings[:10]):
                    ws.send_json({"type": "annotate", "ref": i, "variants": [s]})
                    frames = [ws.receive_json() for _ in range(4)]
                    assert [f.get("stage", f["type"]) for f in frames] == ["received", "parsed", "annotated", "result"]
                    assert all(f["ref"] == i for f in frames)
                    answers[mode].append(_comparable({k: v for k, v in frames[-1].items() if k not in ("type", "ref")}))
            if mode == "inline":
                assert policy.inline >= len(strings) + 10
            else:
                assert policy.inline == 0
    assert answers["inline"] == answers["batcher"]


def test_answers_from_the_variant_cache_are_inline(rt_env, tokens, monkeypatch):
    """With inline misses off, a request whose strings are all in the variant cache is still answered on the
    event loop, with the answer the batcher path gave the first time."""
    from fastapi.testclient import TestClient

    from realtime.app import create_app

    monkeypatch.setenv("HCML_REALTIME_VARIANT_CACHE", "1000")
    monkeypatch.setenv("HCML_REALTIME_INLINE_MAX_VARIANTS", "0")
    strings = _real_strings(3, seed=13)
    with TestClient(create_app()) as c:
        policy = c.app.state.runtime.state.inline
        first = c.post("/v1/annotate", json={"variants": strings}, headers=auth(tokens["clinician"])).json()
        assert policy.inline == 0
        again = c.post("/v1/annotate", json={"variants": [f" {s} " for s in reversed(strings)]},
                       headers=auth(tokens["clinician"])).json()
        assert policy.inline == 1
        partly = c.post("/v1/annotate", json={"variants": [strings[0], _real_strings(4, seed=13)[3]]},
                        headers=auth(tokens["clinician"])).json()
        assert policy.inline == 1 and partly["n_variants"] == 2  # one string not cached: the batcher
    assert _comparable(again) == _comparable(first)


class _Lifespan:
    """The app's lifespan without a server (startup on enter, shutdown on exit)."""

    def __init__(self, app) -> None:
        import asyncio

        self.app, self.inbox, self.outbox = app, asyncio.Queue(), asyncio.Queue()

    async def __aenter__(self):
        import asyncio

        self.task = asyncio.create_task(self.app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}},
                                                 self.inbox.get, self.outbox.put))
        await self.inbox.put({"type": "lifespan.startup"})
        assert (await self.outbox.get())["type"] == "lifespan.startup.complete"
        return self

    async def __aexit__(self, *exc) -> None:
        await self.inbox.put({"type": "lifespan.shutdown"})
        await self.outbox.get()
        await self.task


async def _post(app, token: str, strings: list[str]) -> tuple[int, dict]:
    import json

    body = json.dumps({"variants": strings}).encode()
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": "/v1/annotate", "raw_path": b"/v1/annotate", "query_string": b"", "root_path": "",
             "headers": [(b"host", b"test"), (b"authorization", f"Bearer {token}".encode()),
                         (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80), "state": {}}
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    sent: list[dict] = []

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    await app(scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return status, json.loads(b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body"))


def test_concurrent_requests_are_answered_inline_one_by_one(rt_env, tokens, monkeypatch):
    """Requests read at the same moment are answered inline one after the other (handing such a burst to the
    batcher was measured slower once interpret is cheap: docs/realtime.md), with the answers they get alone
    and through the batcher."""
    import asyncio

    from realtime.app import create_app

    monkeypatch.setenv("HCML_REALTIME_VARIANT_CACHE", "0")
    strings = _real_strings(16, seed=21)
    answers = {}
    for mode, max_ms in (("inline", "1000"), ("batcher", "0")):
        monkeypatch.setenv("HCML_REALTIME_INLINE_MAX_MS", max_ms)
        app = create_app()

        async def scenario():
            async with _Lifespan(app):
                policy = app.state.runtime.state.inline
                together = await asyncio.gather(*(_post(app, tokens["clinician"], [s]) for s in strings))
                alone = [await _post(app, tokens["clinician"], [s]) for s in strings]
                assert policy.inline == (2 * len(strings) if mode == "inline" else 0)
                return together, alone

        answers[mode] = asyncio.run(scenario())
    inline_together = [_comparable(b) for _, b in answers["inline"][0]]
    inline_alone = [_comparable(b) for _, b in answers["inline"][1]]
    assert all(status == 200 for part in (*answers["inline"], *answers["batcher"]) for status, _ in part)
    assert inline_together == inline_alone  # one by one on the loop: exactly the answers alone
    assert inline_alone == [_comparable(b) for _, b in answers["batcher"][1]]  # lone batcher calls: the same
    for (_, i), (_, b) in zip(answers["inline"][1], answers["batcher"][0]):  # shared batcher calls
        for vi, vb in zip(i["variants"], b["variants"]):
            # scores: float32 matrix products may differ in the last bits with a batch's shape (test_batching.py)
            assert vi.pop("pathogenicity_score") == pytest.approx(vb.pop("pathogenicity_score"), rel=1e-5)
        assert _comparable(i) == _comparable(b)


def test_one_server_span_per_request_and_the_trace_continues(client, tokens):
    """hcml's span is the request's only SERVER span (FastAPI's native tracing is off), it continues the
    caller's traceparent, and the response names the same trace."""
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import SpanKind

    from hcml import observability as obs

    exporter = InMemorySpanExporter()
    obs.configure_tracing("hcml-test", exporter=exporter)
    caller_trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    r = client.post("/v1/annotate", json={"variants": ["21-25891796-C-T"]},
                    headers={**auth(tokens["clinician"]), "traceparent": f"00-{caller_trace}-00f067aa0ba902b7-01"})
    assert r.status_code == 200
    assert r.headers["traceparent"].split("-")[1] == caller_trace
    ours = [s for s in exporter.get_finished_spans() if format(s.context.trace_id, "032x") == caller_trace]
    servers = [s for s in ours if s.kind == SpanKind.SERVER]
    assert [s.name for s in servers] == ["HTTP POST"], [(s.name, s.kind) for s in ours]
    assert servers[0].attributes["http.response.status_code"] == 200
    exporter.clear()
