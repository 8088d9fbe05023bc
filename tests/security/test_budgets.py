"""Byte budgets: what a small request may make the server hold. Alleles (the domain core's rule, shared by
every input path), the caches (sized in bytes), a WebSocket's unread answers, and request bodies (size and
role checked before a byte of the body is read or parsed)."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pysam
import pytest

from hcml.config import REPO_ROOT

from .conftest import Server, read_until_closed, rss_bytes, server_token, start_server, status_of, stop_server

FASTA = REPO_ROOT / "data/reference/chr21_full_length_Nmasked.GRCh38.fa.gz"
DEFAULT_ALLELE_LIMIT = 1000  # docs/configuration.md: HCML_MAX_ALLELE_LENGTH
RANGE_DUPS = [f"21:g.{25_000_000 + 1000 * i}_26000000dup" for i in range(32)]  # the 942-byte body of the attack


def _auth(server: Server, role: str = "clinician") -> dict[str, str]:
    return {"Authorization": f"Bearer {server_token(server, role)}"}


def test_range_variants_over_the_allele_limit_are_rejected_cheaply(server):
    before = rss_bytes(server)
    r = httpx.post(f"{server.url}/v1/annotate", json={"variants": RANGE_DUPS}, headers=_auth(server, "researcher"),
                   timeout=120)
    assert r.status_code == 422, r.status_code
    rejects = r.json()["rejects"]
    assert len(rejects) == len(RANGE_DUPS)
    for given, reject in zip(RANGE_DUPS, rejects):
        start = int(given.split(".")[1].split("_")[0])
        # a duplication of start..26,000,000 normalises to an insertion of that span after one anchor base
        assert f"{26_000_000 - start + 2} bases" in reject["reason"], reject
        assert f"21:g.{start}_26000000dup" in reject["reason"] and "POST /v1/submissions" in reject["reason"]
        assert reject["field"] == "ALT"
    assert len(r.content) < 64 << 10
    assert rss_bytes(server) - before < 100 << 20  # the attack took +900 MB and kept it


def _deletion(start: int, length: int) -> tuple[int, str, str]:
    """A deletion of `length` reference bases after the anchor at `start` (VCF style, real sequence)."""
    with pysam.FastaFile(str(FASTA)) as fa:
        ref = fa.fetch("21", start - 1, start + length).upper()
    return start, ref, ref[0]


@pytest.mark.parametrize("length, accepted", [(DEFAULT_ALLELE_LIMIT - 1, True), (DEFAULT_ALLELE_LIMIT, False)])
def test_the_allele_limit_is_the_same_rule_for_every_input_kind(server, bundle, length, accepted):
    """The normalised REF is the anchor + the deleted bases: `length` + 1 against the limit, whether the
    variant comes as a VCF line, an HGVS string, or through the batch reader."""
    from hcml.genomics import inputs

    pos, ref, alt = _deletion(25_900_001, length)
    assert "N" not in ref
    vcf = ("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
           f"21\t{pos}\tlong\t{ref}\t{alt}\t.\t.\t.\n21\t25891796\tsnv\tC\tT\t.\t.\t.\n")
    hgvs = f"21:g.{pos + 1}_{pos + length}del"
    bodies = [{"vcf": vcf}, {"variants": [hgvs, "21-25891796-C-T"]}]  # (a variant string is capped at 1000 characters)
    with httpx.Client(base_url=server.url, headers=_auth(server), timeout=120) as http:
        for body in bodies:
            answer = http.post("/v1/annotate", json=body)
            assert answer.status_code == 200, answer.text[:300]
            result = answer.json()
            assert result["n_variants"] == (2 if accepted else 1), body.keys()
            if not accepted:
                reason = result["rejects"][0]["reason"]
                assert f"{length + 1} bases" in reason and "HCML_MAX_ALLELE_LENGTH" in reason, reason
    batch = inputs.read_vcf(vcf.encode(), bundle)  # the batch pipeline's reader, in this process
    assert batch.variants.height == (2 if accepted else 1) and batch.rejects.height == (0 if accepted else 1)


@pytest.mark.parametrize("small_input_max", ["256", "0"])  # the row-by-row twin, then the vectorised form
def test_the_allele_limit_is_configured_at_call_time(bundle, monkeypatch, small_input_max):
    from hcml.genomics import inputs

    monkeypatch.setenv("HCML_SMALL_INPUT_MAX", small_input_max)
    pos, ref, alt = _deletion(25_891_796, 3)
    strings = ["21-25891796-C-T", f"21-{pos}-{ref}-{alt}", "21:g.25891797_25891799del"]
    monkeypatch.setenv("HCML_MAX_ALLELE_LENGTH", "3")
    parsed = inputs.parse_variant_strings(strings, bundle)
    assert parsed.variants.height == 1 and parsed.rejects.height == 2
    assert all("4 bases" in r and "over HCML_MAX_ALLELE_LENGTH (3)" in r for r in parsed.rejects["reason"])
    assert parsed.rejects["variant_id"].to_list() == strings[1:]
    monkeypatch.setenv("HCML_MAX_ALLELE_LENGTH", "4")
    assert inputs.parse_variant_strings(strings, bundle).variants.height == 3


def test_the_caches_are_bounded_in_bytes(bundle_dir):
    """Real answers through the real warm state; what the caches hold, recomputed independently (JSON
    bytes of each kept entry), never exceeds their budgets however many distinct requests come."""
    from realtime.service import interpret_request, load_state, warm_up

    budget_results, budget_variants = 60_000, 40_000
    state = load_state(bundle_dir, results_cap=10_000, results_max_bytes=budget_results)
    warm_up(state, cache_size=10_000, cache_bytes=budget_variants)
    try:
        ids = []
        for pos in range(25891700, 25891900, 4):  # 50 distinct real positions, several transcripts each
            base = state.bundle.fetch("21", pos, pos).upper()
            alt = "A" if base != "A" else "G"
            ids.append(interpret_request(state, variants=[f"21-{pos}-{base}-{alt}"], owner="u")["result_id"])
        kept = [state.recall(i) for i in ids if state.recall(i) is not None]
        kept_bytes = sum(len(json.dumps(r, separators=(",", ":"), default=str)) for r in kept)
        # the accounting is an upper bound of the kept records' real JSON, and never over the budget
        assert 0 < len(kept) < len(ids) and kept_bytes <= state.results_bytes <= budget_results
        assert state.recall(ids[-1]) is not None and state.recall(ids[0]) is None  # the oldest went first
        cache = state.cache
        held = sum(len(json.dumps(v[0][1], separators=(",", ":"), default=str)) + len(k[1])
                   for k, v in cache._entries.items())
        assert 0 < len(cache) < len(ids) and held == cache.bytes <= budget_variants
    finally:
        if state.batcher is not None:
            state.batcher.stop()


def _connect(server: Server) -> socket.socket:
    host, port = server.url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=30)


@pytest.mark.parametrize("size, statuses", [(900 << 10, {403}), (60 << 20, {403, 413})])
def test_a_body_is_refused_for_a_role_before_it_is_sent(server, size, statuses):
    """Headers announcing a body a researcher may not submit, and no body: the answer comes without it, so
    no byte of it was awaited (over the service-wide 1 MiB, Starlette's limit answers 413 for the route's)."""
    token = server_token(server, "researcher")
    with _connect(server) as sock:
        sock.sendall((f"POST /v1/submissions HTTP/1.1\r\nHost: hcml\r\nAuthorization: Bearer {token}\r\n"
                      f"Content-Type: application/json\r\nContent-Length: {size}\r\n\r\n").encode())
        answer = read_until_closed(sock, 30)
    assert status_of(answer) in statuses, answer[:300]


@pytest.mark.parametrize("path, size", [("/v1/annotate", (1 << 20) + 1), ("/v1/submissions", (64 << 20) + 1)])
def test_a_body_over_its_limit_is_refused_before_it_is_sent(server, path, size):
    token = server_token(server, "clinician")
    with _connect(server) as sock:
        sock.sendall((f"POST {path} HTTP/1.1\r\nHost: hcml\r\nAuthorization: Bearer {token}\r\n"
                      f"Content-Type: application/json\r\nContent-Length: {size}\r\n\r\n").encode())
        answer = read_until_closed(sock, 30)
    assert status_of(answer) == 413, answer[:300]


OUTBOX = 1 << 20


@pytest.fixture(scope="module")
def small_outbox_server(tmp_path_factory: pytest.TempPathFactory, bundle_dir: Path) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("small-outbox")
    srv = start_server(data_dir, bundle_dir, data_dir / "server.log", HCML_REALTIME_WS_OUTBOX_BYTES=str(OUTBOX))
    try:
        yield srv
    finally:
        stop_server(srv)


@pytest.fixture(scope="module")
def small_total_server(tmp_path_factory: pytest.TempPathFactory, bundle_dir: Path) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("small-total")
    srv = start_server(data_dir, bundle_dir, data_dir / "server.log",
                       HCML_REALTIME_WS_OUTBOX_TOTAL_BYTES=str(OUTBOX))  # per socket: the default 8 MiB
    try:
        yield srv
    finally:
        stop_server(srv)


def test_many_sockets_that_never_read_share_one_budget(small_total_server):
    """Three non-reading sockets, each ~3 MB of answers beyond what the kernel buffers (under the 8 MiB a
    socket may hold), together over the 1 MiB all sockets may hold: the server closes with 1013."""
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    server = small_total_server
    url = server.url.replace("http", "ws") + "/v1/ws"
    variants = [f"21-{p}-{server_base(p)}-{'A' if server_base(p) != 'A' else 'G'}" for p in range(25891700, 25891720)]
    token = server_token(server, "researcher")
    request = json.dumps({"type": "annotate", "variants": variants})
    with connect(url, compression=None) as reader:  # one answer read, for its size
        reader.send(json.dumps({"type": "auth", "token": token}))
        reader.recv(timeout=30)
        reader.send(request)
        while (frame := reader.recv(timeout=60)) and json.loads(frame)["type"] != "result":
            pass
    n = (7 << 20) // len(frame) + 1  # 7 MB of answers a socket: ~4 MB in the server's send buffer, 3 MB queued
    host, port = server.url.removeprefix("http://").split(":")
    codes = []
    sockets = []
    for _ in range(3):
        raw = socket.socket()
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 16)  # no receive-buffer autotuning
        raw.connect((host, int(port)))
        ws = connect(url, sock=raw, max_queue=1, compression=None)
        ws.send(json.dumps({"type": "auth", "token": token}))
        sockets.append(ws)
    for ws in sockets:
        try:
            for _ in range(n):
                ws.send(request)
        except ConnectionClosed:
            pass
    for ws in sockets:
        try:
            while True:
                ws.recv(timeout=60)
        except ConnectionClosed as closed:
            codes.append(closed.rcvd.code if closed.rcvd else None)
        except TimeoutError:
            codes.append("open")
        finally:
            ws.close()
    assert 1013 in codes, codes


def test_a_websocket_client_that_never_reads_is_closed_not_buffered(small_outbox_server):
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    server = small_outbox_server
    variants = [f"21-{p}-{server_base(p)}-{'A' if server_base(p) != 'A' else 'G'}" for p in range(25891700, 25891720)]
    before = rss_bytes(server)
    url = server.url.replace("http", "ws") + "/v1/ws"
    answered, close_code = 0, None
    with connect(url, max_queue=1, compression=None) as ws:  # the client stops reading its socket at once
        ws.send(json.dumps({"type": "auth", "token": server_token(server, "researcher")}))
        try:
            for i in range(600):
                ws.send(json.dumps({"type": "annotate", "ref": i, "variants": variants}))
        except ConnectionClosed:
            pass
        peak = rss_bytes(server)
        try:
            while True:  # read at last: the answers sent before the limit, then the close
                frame = json.loads(ws.recv(timeout=60))
                answered += frame["type"] == "result"
        except ConnectionClosed as closed:
            close_code = closed.rcvd.code if closed.rcvd else None
    assert close_code == 1013, (close_code, answered)
    assert answered < 600
    assert peak - before < 200 << 20  # 600 unread 20-variant answers held whole would be several hundred MB


def server_base(pos: int) -> str:
    with pysam.FastaFile(str(FASTA)) as fa:
        return fa.fetch("21", pos - 1, pos).upper()


def test_a_refused_body_is_not_read_to_its_end(server):
    """A 60 MB body the server refused before it came (413): the server answers, then ends the connection
    instead of parsing and discarding all of it (uvicorn drains it, as often as the client likes)."""
    token = server_token(server, "researcher")
    sent = 0
    with _connect(server) as sock:
        sock.sendall((f"POST /v1/submissions HTTP/1.1\r\nHost: hcml\r\nAuthorization: Bearer {token}\r\n"
                      f"Content-Type: application/json\r\nContent-Length: {60 << 20}\r\n\r\n").encode())
        sock.settimeout(30)
        head = sock.recv(4096)
        chunk = b"A" * (1 << 16)
        try:
            while sent < 60 << 20:
                sock.sendall(chunk)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass
    assert status_of(head) in (403, 413), head[:200]
    assert sent < 60 << 20  # the server stopped reading long before the end
