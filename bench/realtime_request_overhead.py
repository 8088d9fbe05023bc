"""What a single-variant `POST /v1/annotate` costs the server besides `interpret`, in process.

    .venv/bin/python bench/realtime_request_overhead.py [--requests 400] [--variants 1] [--cache]
                                                        [--sample N] [--concurrency 1]

The ASGI app (`create_app()` over the real bundle and the bundled model, lifespan run, the variant cache off
unless `--cache`) is called directly -- no socket, no HTTP parser, no client -- with a different real variant
per request (SNVs and indels of data/truth/saturation.vcf.gz, HG00096, the ClinVar sample), one request at a
time. For each request it measures the process CPU time (`time.process_time`: every thread, including the
route's worker thread and the batcher) and the wall time of the whole ASGI call, and, separately, the CPU
time spent inside `parse_variant_strings` + `hcml.interpret.interpret` (the part the other engineers make
cheap). "outside" = whole request - (parse + interpret): routing, pydantic, token validation, audit line,
metrics, tracing middleware, the batcher hop, rendering the frames to records, JSON serialisation.

`--sample N` runs a small in-process sampling profiler (every thread's stack every ~0.5 ms, like py-spy)
and prints the N functions with the most samples (inclusive) outside parse + interpret.
`--concurrency K` keeps K requests in flight (the batcher then forms batches of up to K); only the CPU per
request is meaningful then (a request answered inline on the loop never lets the others start their clocks:
queueing is measured over a socket, bench/realtime_latency.py).
Set POLARS_MAX_THREADS=1 for the figures quoted in docs/realtime.md.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[max(0, min(len(s) - 1, int(round(q / 100 * len(s) + 0.5)) - 1))]


class LifespanDriver:
    """Runs an ASGI app's lifespan (startup on enter, shutdown on exit) without a server."""

    def __init__(self, app) -> None:
        self.app = app
        self.inbox: asyncio.Queue = asyncio.Queue()
        self.outbox: asyncio.Queue = asyncio.Queue()

    async def __aenter__(self):
        self.task = asyncio.create_task(self.app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}},
                                                 self.inbox.get, self.outbox.put))
        await self.inbox.put({"type": "lifespan.startup"})
        msg = await self.outbox.get()
        if msg["type"] != "lifespan.startup.complete":
            raise RuntimeError(f"lifespan startup failed: {msg}")
        return self

    async def __aexit__(self, *exc) -> None:
        await self.inbox.put({"type": "lifespan.shutdown"})
        await self.outbox.get()
        await self.task


async def asgi_post(app, path: str, body: bytes, headers: list[tuple[bytes, bytes]]) -> tuple[int, bytes]:
    scope = {
        "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
        "method": "POST", "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "headers": headers, "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000),
        "state": {},
    }
    sent = False
    status = 0
    chunks: list[bytes] = []

    async def receive():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message):
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


class Sampler:
    """Every thread's Python stack every `interval` seconds; counts per function (inclusive, once a sample)."""

    def __init__(self, interval: float = 0.0005) -> None:
        self.interval = interval
        self.inclusive: collections.Counter[str] = collections.Counter()
        self.leaf: collections.Counter[str] = collections.Counter()
        self.samples = 0
        self.active = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        me = threading.get_ident()
        while not self._stop.is_set():
            time.sleep(self.interval)
            if not self.active.is_set():
                continue
            for ident, frame in sys._current_frames().items():
                if ident == me:
                    continue
                names = []
                f = frame
                while f is not None:
                    code = f.f_code
                    names.append(f"{Path(code.co_filename).name}:{code.co_name}")
                    f = f.f_back
                if not names or names[0] in IDLE:
                    continue
                if any(n in INTERPRET for n in names):
                    continue  # inside parse + interpret: the others' part
                self.samples += 1
                self.leaf[names[0]] += 1
                for n in set(names):
                    self.inclusive[n] += 1


IDLE = {"threading.py:wait", "batching.py:_run", "queue.py:get", "selectors.py:select", "base_events.py:_run_once",
        "threading.py:_wait_for_tstate_lock", "_base.py:result", "thread.py:_worker", "sampler",
        "bench_realtime_request_overhead.py:_run"}
INTERPRET = {"inputs.py:parse_variant_strings", "interpret.py:interpret"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=400)
    ap.add_argument("--variants", type=int, default=1, help="variants per request")
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--cache", action="store_true", help="variant cache on (default off: every request a miss)")
    ap.add_argument("--same", action="store_true", help="the same variant every request (with --cache: all hits)")
    ap.add_argument("--sample", type=int, default=0, help="print the top N sampled functions outside interpret")
    ap.add_argument("--concurrency", type=int, default=1)
    ap.add_argument("--profile", type=int, default=0,
                    help="cProfile the event loop thread (inline answers run there) and print the top N by "
                         "own time outside parse + interpret")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--simulate-interpret-ms", type=float, default=None,
                    help="parse + interpret replaced by this much CPU a variant over the real answers "
                         "(bench/realtime_simulated_server.py): only the path around them left to measure")
    args = ap.parse_args()

    from bench.realtime_small_inputs import real_variants
    from bench.realtime_startup import ensure_bundle

    bundle = ensure_bundle(None)
    data_dir = Path(tempfile.mkdtemp(prefix="hcml-bench-overhead-"))
    for k in [k for k in os.environ if k.startswith("HCML_OIDC") or k in ("HCML_KAFKA_BOOTSTRAP", "HCML_AUDIT_LOG")]:
        os.environ.pop(k)
    os.environ.update(HCML_BUNDLE_DIR=str(bundle), HCML_DATA_DIR=str(data_dir), HCML_LOG_LEVEL="WARNING",
                      HCML_REALTIME_VARIANT_CACHE="100000" if args.cache else "0")
    os.environ.pop("HCML_MLFLOW_TRACKING_URI", None)

    pool = real_variants()
    k = args.variants
    n_total = args.warmup + args.requests
    if args.simulate_interpret_ms is not None:
        from bench.realtime_simulated_server import install

        install(pool[:n_total * k], args.simulate_interpret_ms)

    import hcml.interpret
    from hcml.genomics import inputs

    inside = threading.local()
    spent = [0.0]

    def timed(fn):
        def wrapper(*a, **kw):
            if getattr(inside, "on", False):
                return fn(*a, **kw)
            inside.on = True
            t0 = time.process_time()  # polars may run on its own threads: a thread clock would miss them
            try:
                return fn(*a, **kw)
            finally:
                spent[0] += time.process_time() - t0
                inside.on = False
        wrapper.__wrapped__ = fn
        return wrapper

    inputs.parse_variant_strings = timed(inputs.parse_variant_strings)
    hcml.interpret.interpret = timed(hcml.interpret.interpret)

    from realtime.app import create_app
    from realtime.auth import mint_dev_token
    from realtime.settings import load_settings

    token = mint_dev_token(load_settings(), "clinician", subject="bench")
    headers = [(b"host", b"127.0.0.1:8000"), (b"authorization", f"Bearer {token}".encode()),
               (b"content-type", b"application/json")]
    bodies = [json.dumps({"variants": pool[i * k:(i + 1) * k] if not args.same else pool[:k]}).encode()
              for i in range(n_total)]
    app = create_app()
    sampler = Sampler() if args.sample else None

    async def run() -> dict:
        async with LifespanDriver(app):
            for body in bodies[:args.warmup]:
                status, _ = await asgi_post(app, "/v1/annotate", body, headers)
                assert status == 200, status
            cpu, wall, inner, outside = [], [], [], []
            profiler = None
            if args.profile:
                import cProfile

                profiler = cProfile.Profile()
                profiler.enable()
            if sampler:
                # the sampler needs the GIL to read the stacks: switch often, or it would only ever see the
                # spots where the other threads release the GIL (system calls, signature checks)
                sys.setswitchinterval(0.0001)
                sampler.start()
                sampler.active.set()
            measured = bodies[args.warmup:]
            if args.concurrency == 1:
                for body in measured:
                    spent[0] = 0.0
                    c0, w0 = time.process_time(), time.perf_counter()
                    status, out = await asgi_post(app, "/v1/annotate", body, headers)
                    c1, w1 = time.process_time(), time.perf_counter()
                    assert status == 200, (status, out[:200])
                    cpu.append((c1 - c0) * 1000)
                    wall.append((w1 - w0) * 1000)
                    inner.append(spent[0] * 1000)
                    outside.append(cpu[-1] - inner[-1])
            else:
                spent[0] = 0.0
                c0, w0 = time.process_time(), time.perf_counter()
                sem = asyncio.Semaphore(args.concurrency)

                async def one(body: bytes) -> None:
                    async with sem:
                        t0 = time.perf_counter()
                        status, out = await asgi_post(app, "/v1/annotate", body, headers)
                        assert status == 200, (status, out[:200])
                        wall.append((time.perf_counter() - t0) * 1000)

                await asyncio.gather(*(one(b) for b in measured))
                c1 = time.process_time()
                n = len(measured)
                cpu = [(c1 - c0) * 1000 / n]
                inner = [spent[0] * 1000 / n]
                outside = [cpu[0] - inner[0]]
            if profiler:
                profiler.disable()
                r_profile.append(profiler)
            if sampler:
                sampler.active.clear()
                sampler.stop()
            batcher = app.state.runtime.state.batcher
            policy = getattr(app.state.runtime.state, "inline", None)
            return {"cpu": cpu, "wall": wall, "inner": inner, "outside": outside,
                    "inline": getattr(policy, "inline", None), "handed_over": getattr(policy, "handed_over", None),
                    "batches": getattr(batcher, "batches", None), "batched_requests": getattr(batcher, "requests", None)}

    r_profile: list = []
    r = asyncio.run(run())
    load = os.getloadavg()[0]
    if args.simulate_interpret_ms is not None:
        print(f"SIMULATED parse + interpret: {args.simulate_interpret_ms} ms of CPU a variant")
    print(f"{args.requests} requests of {k} variant(s), cache {'on' if args.cache else 'off'}, concurrency "
          f"{args.concurrency}, POLARS_MAX_THREADS={os.environ.get('POLARS_MAX_THREADS', '-')}, load {load:.1f}")
    for name in ("cpu", "inner", "outside", "wall") if args.concurrency == 1 else ("cpu", "inner", "outside"):
        v = r[name]
        print(f"  {name:8s} ms per request: p50 {pct(v, 50):.3f}  p90 {pct(v, 90):.3f}  p99 {pct(v, 99):.3f}"
              f"  mean {sum(v) / len(v):.3f}")
    if r["batches"]:
        print(f"  batcher: {r['batched_requests']} requests in {r['batches']} batches")
    if r["inline"] is not None:
        print(f"  answered inline on the event loop: {r['inline']}, handed to the batcher: {r['handed_over']}")
    if sampler and sampler.samples:
        print(f"  sampled stacks outside parse + interpret: {sampler.samples} (inclusive share)")
        for name, n in sampler.inclusive.most_common(args.sample):
            print(f"    {100 * n / sampler.samples:5.1f}%  {name}  (self {100 * sampler.leaf[name] / sampler.samples:.1f}%)")
    if r_profile:
        import pstats

        stats = pstats.Stats(r_profile[0])
        inside = {k for k, v in stats.stats.items()
                  if any(part in k[0] for part in ("/hcml/", "/polars/", "/numpy/", "/torch/"))}
        rows = sorted(((v[2], k) for k, v in stats.stats.items() if k not in inside), reverse=True)
        n = args.requests
        print(f"  cProfile, event loop thread, own time per request outside hcml/polars/numpy/torch (us):")
        for tottime, (filename, line, func) in rows[:args.profile]:
            print(f"    {tottime / n * 1e6:8.1f}  {Path(filename).name}:{line} {func}")
    if args.json:
        args.json.write_text(json.dumps({k2: (pct(v, 50) if isinstance(v, list) else v) for k2, v in r.items()}))


if __name__ == "__main__":
    main()
