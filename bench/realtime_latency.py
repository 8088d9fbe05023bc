"""Load generator for the realtime service on loopback: it starts `hcml serve`, measures, and stops it.

    .venv/bin/python bench/realtime_latency.py [--rate 200] [--seconds 15] [--panel-rate 20] [--ws 300]

Figures (targets on the 2-core development machine), first on a server without the variant
cache, every request carrying different real variants (SNVs of data/truth/saturation.vcf.gz):
- single-variant POST /v1/annotate at a fixed arrival rate (open loop, latency counted from each request's
  scheduled send time, so a stall cannot hide queued requests): p50 < 5 ms, p99 < 20 ms at 200 req/s;
- 100-variant panel POST /v1/annotate: p99 < 100 ms;
- WebSocket submit -> result frame (single variant, closed loop): p99 < 50 ms;
then on a server with the cache, repeated queries (the same variant; HG00096's 100-SNV panel).
The client is a minimal asyncio HTTP/1.1 client over keep-alive connections, so that the load generator
itself costs as little of the two cores as possible; it shares the machine with the server.
The queued path (submit -> Kafka -> Dagster run -> pushed result) is measured by bench/realtime_queued.py.

`--simulate-interpret-ms X` serves with parse + interpret replaced by X ms of CPU a variant over the real
answers (bench/realtime_simulated_server.py): the request path and its scheduling as they will be once
`interpret` is that cheap. `--only single,panel,ws,cached,mixed` runs a subset (`mixed`, not in the default:
the single-variant and the panel load at the same time, each measured); `--switch-interval-ms` sets the
server's `sys.setswitchinterval` (with --simulate-interpret-ms only); `--server-env K=V` passes settings.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.realtime_startup import ensure_bundle  # noqa: E402

HG00096 = REPO / "data" / "samples" / "HG00096_chr21_region.vcf"


def percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(q / 100 * len(s) + 0.5)) - 1))
    return s[k]


def summary(name: str, lat_ms: list[float], extra: str = "") -> dict:
    out = {"name": name, "n": len(lat_ms), "p50_ms": percentile(lat_ms, 50), "p90_ms": percentile(lat_ms, 90),
           "p99_ms": percentile(lat_ms, 99), "max_ms": max(lat_ms), "mean_ms": statistics.fmean(lat_ms)}
    print(f"{name}: n={out['n']} p50={out['p50_ms']:.2f} ms p90={out['p90_ms']:.2f} ms "
          f"p99={out['p99_ms']:.2f} ms max={out['max_ms']:.2f} ms {extra}")
    return out


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        body = await self.reader.readexactly(length)
        return status, body


def saturation_snvs(limit: int = 20_000) -> list[str]:
    """Distinct real SNVs over the exons of the five canonical transcripts (data/truth/saturation.vcf.gz)."""
    import gzip

    out = []
    with gzip.open(REPO / "data" / "truth" / "saturation.vcf.gz", "rt") as fh:
        for line in fh:
            if line.startswith("#"):
                continue
            f = line.split("\t")
            if len(f[3]) == 1 and len(f[4]) == 1:
                out.append(f"{f[0]}-{f[1]}-{f[3]}-{f[4]}")
    import random

    random.Random(7).shuffle(out)
    return out[:limit]


def build_request(path: str, body: dict, token: str, host: str) -> bytes:
    payload = json.dumps(body).encode()
    return (f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n").encode() + payload


async def open_loop(host: str, port: int, raws: bytes | list[bytes], rate: float, seconds: float,
                    pool_size: int = 32, warmup: int = 100) -> tuple[list[float], int]:
    """Requests at `rate`/s for `seconds` (cycling through `raws`); latency from each scheduled send time.
    Returns (ms list, errors). Warm-up requests use the last `warmup` of `raws`, measured ones the first."""
    raws = [raws] if isinstance(raws, bytes) else raws
    raw = raws[-1]
    first = Connection(*await asyncio.open_connection(host, port))
    await first.request(raw)  # the first request pays the lazy imports; not counted
    first.writer.close()
    pool: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(pool_size):
        pool.put_nowait(Connection(*await asyncio.open_connection(host, port)))
    for i in range(warmup):  # warm the connections and the allocator
        conn = await pool.get()
        await conn.request(raws[-1 - (i % len(raws))])
        pool.put_nowait(conn)
    latencies: list[float] = []
    errors = 0

    async def one(scheduled: float, raw: bytes) -> None:
        nonlocal errors
        conn = await pool.get()
        try:
            status, _ = await conn.request(raw)
            if status != 200:
                errors += 1
            latencies.append((time.perf_counter() - scheduled) * 1000)
        finally:
            pool.put_nowait(conn)

    n = int(rate * seconds)
    start = time.perf_counter() + 0.05
    tasks = []
    for i in range(n):
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(scheduled, raws[i % len(raws)])))
    await asyncio.gather(*tasks)
    while not pool.empty():
        pool.get_nowait().writer.close()
    return latencies, errors


async def websocket_round_trips(url: str, token: str, n: int, variant_lists: list[list[str]]) -> list[float]:
    from websockets.asyncio.client import connect

    out = []
    async with connect(url, max_size=64 << 20) as ws:
        await ws.send(json.dumps({"type": "auth", "token": token}))
        assert json.loads(await ws.recv())["type"] == "ready"
        for i in range(n + 20):
            t0 = time.perf_counter()
            variants = variant_lists[i % len(variant_lists)]
            await ws.send(json.dumps({"type": "annotate", "ref": f"r{i}", "variants": variants}))
            while True:
                frame = json.loads(await ws.recv())
                if frame["type"] in ("result", "error"):
                    break
            assert frame["type"] == "result", frame
            if i >= 20:  # warm-up
                out.append((time.perf_counter() - t0) * 1000)
    return out


def start_server(bundle: Path, data_dir: Path, variant_cache: bool = True, workers: int = 1,
                 simulate_ms: float | None = None, strings: list[str] | None = None,
                 extra_env: dict[str, str] | None = None) -> tuple[subprocess.Popen, int]:
    import socket

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("HCML_OIDC")}
    env.pop("HCML_KAFKA_BOOTSTRAP", None)  # the sync path never waits on Kafka; measure it alone
    env.update(HCML_BUNDLE_DIR=str(bundle), HCML_DATA_DIR=str(data_dir), HCML_LOG_LEVEL="WARNING",
               HCML_REALTIME_VARIANT_CACHE="100000" if variant_cache else "0")
    env.update(extra_env or {})
    command = [sys.executable, "-m", "hcml.cli"]
    if simulate_ms is not None:
        listing = data_dir / "simulate_strings.json"
        listing.write_text(json.dumps(strings or []))
        env.update(HCML_BENCH_SIMULATE_MS=str(simulate_ms), HCML_BENCH_SIMULATE_STRINGS=str(listing))
        command = [sys.executable, str(REPO / "bench" / "realtime_simulated_server.py")]
    proc = subprocess.Popen([*command, "serve", "--port", str(port), "--log-level", "warning",
                             "--workers", str(workers)],
                            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=open(data_dir / "server.log", "ab"))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc, port
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the server did not become ready; see " + str(data_dir / "server.log"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=float, default=200.0, help="single-variant requests per second")
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--panel-rate", type=float, default=20.0, help="100-variant panel requests per second")
    ap.add_argument("--panel-seconds", type=float, default=10.0)
    ap.add_argument("--ws", type=int, default=300, help="WebSocket round trips")
    ap.add_argument("--workers", type=int, default=1, help="uvicorn worker processes of the server")
    ap.add_argument("--bundle", default=None)
    ap.add_argument("--json", default=None, help="also write the figures to this file")
    ap.add_argument("--simulate-interpret-ms", type=float, default=None,
                    help="serve with parse + interpret costing this much CPU a variant (real answers)")
    ap.add_argument("--switch-interval-ms", type=float, default=None, help="the server's sys.setswitchinterval")
    ap.add_argument("--server-env", action="append", default=[], help="K=V for the server's environment")
    ap.add_argument("--only", default="single,panel,ws,cached", help="which measurements")
    args = ap.parse_args()
    only = set(args.only.split(","))
    extra_env = dict(kv.split("=", 1) for kv in args.server_env)
    if args.switch_interval_ms is not None:
        if args.simulate_interpret_ms is None:
            ap.error("--switch-interval-ms needs --simulate-interpret-ms (use --server-env for the real server)")
        extra_env["HCML_BENCH_SWITCH_INTERVAL_MS"] = str(args.switch_interval_ms)

    bundle = ensure_bundle(args.bundle)
    data_dir = Path(tempfile.mkdtemp(prefix="hcml-bench-realtime-"))
    os.environ["HCML_DATA_DIR"] = str(data_dir)
    from realtime.auth import mint_dev_token
    from realtime.settings import load_settings

    token = mint_dev_token(load_settings(), "clinician", subject="bench")
    records = [l.split("\t") for l in HG00096.read_text().splitlines() if not l.startswith("#")]
    panel = [f"{r[0]}-{r[1]}-{r[3]}-{r[4]}" for r in records[:100]]
    single = ["21-25891796-C-T"]  # an APP missense variant with ClinVar and gnomAD entries
    figures = {"cpu_count": os.cpu_count(), "loadavg_before": os.getloadavg()}
    import psutil

    snvs = saturation_snvs()

    def measure(cache: bool) -> None:
        proc, port = start_server(bundle, data_dir, variant_cache=cache, workers=args.workers,
                                  simulate_ms=args.simulate_interpret_ms, strings=snvs + single + panel,
                                  extra_env=extra_env)
        host = f"127.0.0.1:{port}"
        server = psutil.Process(proc.pid)

        def cpu_s() -> float:  # the server and its worker processes
            procs = [server, *server.children(recursive=True)]
            return sum(p.cpu_times().user + p.cpu_times().system for p in procs)

        audit = data_dir / "realtime" / "audit.jsonl"

        def in_server_ms(offset: int, skip: int) -> list[float]:
            """duration_ms of the POST /v1/annotate audit lines written since `offset`, less the first `skip`
            (warm-up): the time each request spent inside the server, from its first byte handled to its last
            sent. A tail here and not in the CPU per request is the process waiting for a core."""
            if not audit.exists():
                return []
            with open(audit, "rb") as fh:
                fh.seek(offset)
                rows = [json.loads(x) for x in fh.read().splitlines() if x.strip()]
            return [r["duration_ms"] for r in rows if r.get("action") == "POST /v1/annotate"][skip:]

        def run(key: str, title: str, raws, rate: float, seconds: float, note: str, **kw) -> None:
            c0 = cpu_s()
            offset = audit.stat().st_size if audit.exists() else 0
            lat, err = asyncio.run(open_loop("127.0.0.1", port, raws, rate, seconds, **kw))
            warm = kw.get("warmup", 100) + 1
            cpu_ms = (cpu_s() - c0) * 1000 / (len(lat) + warm)
            figures[key] = summary(title, lat, f"errors={err} server CPU {cpu_ms:.2f} ms/request {note}")
            figures[key]["server_cpu_ms_per_request"] = cpu_ms
            inside = in_server_ms(offset, warm)
            if inside:
                figures[key]["in_server"] = summary("    in the server (audit duration_ms)", inside)

        try:
            if cache:
                if "cached" not in only:
                    return
                run("single_repeated", f"[cache on] single variant POST /v1/annotate @ {args.rate:.0f}/s, the same "
                    "variant", build_request("/v1/annotate", {"variants": single}, token, host), args.rate,
                    args.seconds, "(repeat queries: answered from the variant cache)")
                run("panel_repeated", f"[cache on] HG00096's 100-variant panel, repeated, @ {args.panel_rate:.0f}/s",
                    build_request("/v1/annotate", {"variants": panel}, token, host), args.panel_rate,
                    args.panel_seconds, "", pool_size=8, warmup=20)
                return
            n_single = int(args.rate * args.seconds) + 101
            if "single" in only:
                distinct = [build_request("/v1/annotate", {"variants": [v]}, token, host) for v in snvs[:n_single]]
                run("single", f"[no cache] single variant POST /v1/annotate @ {args.rate:.0f}/s, a different real "
                    "variant each request", distinct, args.rate, args.seconds, "(targets p50 < 5 ms, p99 < 20 ms)")
            if "panel" in only:
                panels = [build_request("/v1/annotate", {"variants": snvs[i:i + 100]}, token, host)
                          for i in range(0, len(snvs) - 100, 100)]
                run("panel", f"[no cache] 100-variant panel, different variants each time, @ {args.panel_rate:.0f}/s",
                    panels, args.panel_rate, args.panel_seconds, "(target p99 < 100 ms)", pool_size=8, warmup=20)
            if "mixed" in only:
                distinct = [build_request("/v1/annotate", {"variants": [v]}, token, host) for v in snvs[:n_single]]
                panels = [build_request("/v1/annotate", {"variants": snvs[i:i + 100]}, token, host)
                          for i in range(0, len(snvs) - 100, 100)][::-1]  # other variants than the singles'
                c0 = cpu_s()
                offset = audit.stat().st_size if audit.exists() else 0

                async def both():
                    return await asyncio.gather(
                        open_loop("127.0.0.1", port, distinct, args.rate, args.seconds),
                        open_loop("127.0.0.1", port, panels, args.panel_rate, args.seconds, pool_size=8, warmup=20))

                (lat_s, err_s), (lat_p, err_p) = asyncio.run(both())
                cpu_ms = (cpu_s() - c0) * 1000
                figures["mixed_single"] = summary(
                    f"[no cache, mixed] single variant @ {args.rate:.0f}/s while 100-variant panels run "
                    f"@ {args.panel_rate:.0f}/s", lat_s, f"errors={err_s} (targets p50 < 5 ms, p99 < 20 ms)")
                figures["mixed_panel"] = summary(f"[no cache, mixed] the panels", lat_p,
                                                 f"errors={err_p} server CPU {cpu_ms / 1000:.2f} s in all")
            if "ws" in only:
                lat = asyncio.run(websocket_round_trips(f"ws://{host}/v1/ws", token, args.ws, [[v] for v in snvs]))
                figures["websocket"] = summary("[no cache] WebSocket annotate -> result, a different variant each "
                                               "time", lat, "(target p99 < 50 ms)")
        finally:
            proc.terminate()
            proc.wait(timeout=30)

    if args.simulate_interpret_ms is not None:
        print(f"SIMULATED: parse + interpret cost {args.simulate_interpret_ms} ms of CPU a variant "
              "(bench/realtime_simulated_server.py); everything else is the real service")
    if only & {"single", "panel", "ws", "mixed"}:
        measure(cache=False)
    if "cached" in only:
        measure(cache=True)
    figures["loadavg_after"] = os.getloadavg()
    print(f"machine: {figures['cpu_count']} CPUs, load average before {figures['loadavg_before'][0]:.1f}, "
          f"after {figures['loadavg_after'][0]:.1f} (other processes share these cores)")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
