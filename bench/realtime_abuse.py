"""A clinician's latency and the server's memory while the service is attacked (tests/security/ has each attack
as a test; this measures what they cost everyone else). Starts `hcml serve`, measures, stops it.

    .venv/bin/python bench/realtime_abuse.py [--rate 50] [--seconds 20] [--ceiling-mb 512] [--ranges-rate 20]

First a quiet baseline, then the same open-loop single-variant load (a new real SNV each request, latency
from each request's scheduled send time: bench/realtime_latency.py's client) while attacker processes run:
- ranges:   32 HGVS range duplications such as `21:g.25000000_26000000dup` per request, `--ranges-rate`
            a second (a 942-byte body that once cost a 158 MB answer and +900 MB; back to back, `0`, it is a
            plain CPU flood by an authenticated user, which only a rate limit would answer);
- headers:  a 1 MiB header every 100 ms, 50 connections each holding a half-sent request head (slowloris,
            a byte a second), a 4 MiB WebSocket frame before authentication every 200 ms;
- unread:   two WebSocket clients sending 20-variant requests at 20/s each and never reading an answer
            (they reconnect when the server closes them);
- bodies:   a researcher's 60 MB body to POST /v1/submissions, streamed, again and again.
Targets: the clinician's single-variant p99 < 50 ms under attack; server RSS (sampled every 50 ms from
/proc) under `--ceiling-mb` throughout. Both printed with the attackers' own counts.

Attackers run on their own machines in a real deployment; here they share this machine's cores with the server
and the clinician's client. So by default the attacker processes run at the lowest CPU priority (nice 19): the
server then pays for what the attacks cost *it*, not for the attackers' own CPU. `--attackers-share-cpu` runs
them at normal priority (the harsher, machine-bound figure). The CPU seconds of the server and of the
attackers during the attacked phase, and the load average, are printed beside the latencies.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.realtime_latency import build_request, open_loop, saturation_snvs, start_server, summary  # noqa: E402
from bench.realtime_startup import ensure_bundle  # noqa: E402

ATTACKS = ("ranges", "headers", "unread", "bodies")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class MemorySampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self.samples = pid, 0.0, 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.05):
            try:
                self.peak = max(self.peak, rss_mb(self.pid))
                self.samples += 1
            except OSError:
                return


# ------------------------------------------------------------------------------------------- attackers
def _send_all(sock: socket.socket, data: bytes) -> bool:
    try:
        sock.sendall(data)
        return True
    except OSError:
        return False


def attack_ranges(port: int, token: str, until: float, counts: dict, rate: float = 20.0) -> None:
    raw = build_request("/v1/annotate", {"variants": [f"21:g.{25_000_000 + 1000 * i}_26000000dup"
                                                      for i in range(32)]}, token, "127.0.0.1")
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.settimeout(30)
        reader = sock.makefile("rb")
        while time.time() < until:
            began = time.time()
            sock.sendall(raw)
            status = int(reader.readline().split()[1])
            length = 0
            while (line := reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            reader.read(length)
            counts[status] = counts.get(status, 0) + 1
            if rate > 0:
                time.sleep(max(0.0, began + 1 / rate - time.time()))


def attack_headers(port: int, token: str, until: float, counts: dict) -> None:
    slow = []
    for _ in range(50):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        slow.append(s)
    big = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (1 << 20) + b"\r\n\r\n"
    frame_at = 0.0
    while time.time() < until:
        with socket.create_connection(("127.0.0.1", port)) as s:
            counts["big_header_sent_whole"] = counts.get("big_header_sent_whole", 0) + _send_all(s, big)
            s.settimeout(5)
            try:
                key = "big_header_" + (s.recv(64)[9:12].decode() or "closed")
            except OSError:
                key = "big_header_reset"
            counts[key] = counts.get(key, 0) + 1
        for s in list(slow):  # a byte a second keeps a naive server waiting
            if not _send_all(s, b"a"):
                slow.remove(s)
                counts["slowloris_closed"] = counts.get("slowloris_closed", 0) + 1
                s.close()
                s2 = socket.create_connection(("127.0.0.1", port))
                s2.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                slow.append(s2)
        if time.time() > frame_at:
            frame_at = time.time() + 0.2
            asyncio.run(_preauth_frame(port, counts))
        time.sleep(0.1)
    for s in slow:
        s.close()


async def _preauth_frame(port: int, counts: dict) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    try:
        async with connect(f"ws://127.0.0.1:{port}/v1/ws", max_size=None, compression=None) as ws:
            await ws.send(json.dumps({"type": "auth", "token": "x" * (4 << 20)}))
            await ws.recv()
    except ConnectionClosed as exc:
        code = exc.rcvd.code if exc.rcvd else None
        counts[f"preauth_close_{code}"] = counts.get(f"preauth_close_{code}", 0) + 1
    except OSError:
        counts["preauth_refused"] = counts.get("preauth_refused", 0) + 1


def attack_unread(port: int, token: str, until: float, counts: dict) -> None:
    variants = saturation_snvs(20_000)[-20:]

    def one_client() -> None:
        from websockets.exceptions import ConnectionClosed
        from websockets.sync.client import connect

        while time.time() < until:
            try:
                with connect(f"ws://127.0.0.1:{port}/v1/ws", max_queue=1, compression=None) as ws:
                    ws.send(json.dumps({"type": "auth", "token": token}))
                    while time.time() < until:
                        ws.send(json.dumps({"type": "annotate", "variants": variants}))
                        counts["sent"] = counts.get("sent", 0) + 1
                        time.sleep(0.05)
            except ConnectionClosed:
                counts["closed_by_server"] = counts.get("closed_by_server", 0) + 1
            except OSError:
                time.sleep(0.1)

    threads = [threading.Thread(target=one_client) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def attack_bodies(port: int, token: str, until: float, counts: dict) -> None:
    head = (f"POST /v1/submissions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {60 << 20}\r\n\r\n").encode()
    chunk = b'{"vcf": "' + b"A" * (1 << 20)
    while time.time() < until:
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(head)
            sent = 0
            while sent < 60 and _send_all(s, chunk):
                sent += 1
            s.settimeout(5)
            try:
                status = s.recv(64)[9:12].decode() or "closed"
            except OSError:
                status = "closed"
            counts[status] = counts.get(status, 0) + 1
            counts["mb_sent_before_refusal"] = counts.get("mb_sent_before_refusal", 0) + sent


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process from /proc (clock ticks -> seconds)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_attack(kind: str, port: int, token: str, until: float, out: multiprocessing.Queue,
               ranges_rate: float, niceness: int = 19) -> None:
    if niceness:
        os.nice(niceness)
    counts: dict = {}
    try:
        if kind == "ranges":
            attack_ranges(port, token, until, counts, ranges_rate)
        else:
            {"headers": attack_headers, "unread": attack_unread, "bodies": attack_bodies}[kind](
                port, token, until, counts)
    except Exception as exc:  # an attacker failing is reported, not hidden
        counts["attacker_error"] = f"{type(exc).__name__}: {exc}"
    out.put((kind, counts))


# ------------------------------------------------------------------------------------------------ main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=float, default=50.0, help="clinician single-variant requests per second")
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--ceiling-mb", type=float, default=512.0, help="server RSS ceiling (MB) under attack")
    ap.add_argument("--ranges-rate", type=float, default=20.0, help="range-attack requests a second (0: flood)")
    ap.add_argument("--attacks", default=",".join(ATTACKS))
    ap.add_argument("--bundle", default=None)
    ap.add_argument("--attackers-share-cpu", action="store_true",
                    help="run the attacker processes at normal CPU priority (default: nice 19)")
    args = ap.parse_args()
    bundle = ensure_bundle(args.bundle)
    data_dir = Path(tempfile.mkdtemp(prefix="hcml-bench-abuse-"))
    os.environ["HCML_DATA_DIR"] = str(data_dir)
    from realtime.auth import mint_dev_token
    from realtime.settings import load_settings

    proc, port = start_server(bundle, data_dir)
    try:
        settings = load_settings()
        clinician = mint_dev_token(settings, "clinician", subject="bench-clinician")
        researcher = mint_dev_token(settings, "researcher", subject="bench-attacker")
        snvs = saturation_snvs(20_000)
        n = int(args.rate * args.seconds)
        baseline_raws = [build_request("/v1/annotate", {"variants": [v]}, clinician, "127.0.0.1") for v in snvs[:n]]
        attack_raws = [build_request("/v1/annotate", {"variants": [v]}, clinician, "127.0.0.1")
                       for v in snvs[n:2 * n]]
        sampler = MemorySampler(proc.pid)
        sampler.start()
        quiet_rss = rss_mb(proc.pid)
        lat, errors = asyncio.run(open_loop("127.0.0.1", port, baseline_raws, args.rate, args.seconds,
                                            pool_size=8, warmup=50))
        quiet = summary("clinician single variant, quiet", lat, f"errors={errors}")
        baseline_rss, sampler.peak = rss_mb(proc.pid), 0.0
        kinds = [k for k in args.attacks.split(",") if k]
        until = time.time() + args.seconds + 8
        results: multiprocessing.Queue = multiprocessing.get_context("spawn").Queue()
        ctx = multiprocessing.get_context("spawn")
        niceness = 0 if args.attackers_share_cpu else 19
        attackers = [ctx.Process(target=run_attack,
                                 args=(k, port, researcher, until, results, args.ranges_rate, niceness))
                     for k in kinds]
        for a in attackers:
            a.start()
        time.sleep(3)  # the attacks under way before the clinician's load starts
        server_cpu0 = cpu_seconds(proc.pid)
        attacker_cpu0 = sum(cpu_seconds(a.pid) for a in attackers if a.pid)
        lat, errors = asyncio.run(open_loop("127.0.0.1", port, attack_raws, args.rate, args.seconds,
                                            pool_size=8, warmup=20))
        server_cpu = cpu_seconds(proc.pid) - server_cpu0
        attacker_cpu = sum(cpu_seconds(a.pid) for a in attackers if a.pid and a.is_alive()) - attacker_cpu0
        print(f"  attacked phase: server CPU {server_cpu:.1f} s, attackers' CPU {attacker_cpu:.1f} s "
              f"(nice {niceness}), load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        attacked = summary(f"clinician single variant, under attack ({', '.join(kinds)})", lat, f"errors={errors}")
        counts = dict(results.get(timeout=120) for _ in attackers)
        for a in attackers:
            a.join(timeout=30)
        sampler.stop.set()
        after_rss = rss_mb(proc.pid)
        for kind in kinds:
            print(f"  attack {kind}: {json.dumps(counts.get(kind, {}), sort_keys=True)}")
        print(f"server RSS: start {quiet_rss:.0f} MB, after the quiet run {baseline_rss:.0f} MB, "
              f"peak under attack {sampler.peak:.0f} MB ({sampler.samples} samples), after {after_rss:.0f} MB")
        p99_ok = attacked["p99_ms"] < 50
        mem_ok = sampler.peak < args.ceiling_mb
        print(f"target p99 < 50 ms under attack: {attacked['p99_ms']:.1f} ms ({'met' if p99_ok else 'MISSED'}); "
              f"quiet p99 {quiet['p99_ms']:.1f} ms")
        print(f"target server RSS < {args.ceiling_mb:.0f} MB throughout: peak {sampler.peak:.0f} MB "
              f"({'met' if mem_ok else 'MISSED'})")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except Exception:
            proc.kill()


if __name__ == "__main__":
    main()
