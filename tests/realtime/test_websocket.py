"""GET /v1/ws: authenticate, submit, receive progress then the result; errors keep the connection open."""

from __future__ import annotations

import pytest
from starlette.websockets import WebSocketDisconnect


def _frames_until(ws, kind: str, limit: int = 20) -> list[dict]:
    frames = []
    for _ in range(limit):
        frame = ws.receive_json()
        frames.append(frame)
        if frame["type"] in (kind, "error"):
            return frames
    raise AssertionError(f"no {kind!r} frame in {frames}")


def test_annotate_over_websocket_pushes_progress_then_result(client, tokens):
    with client.websocket_connect("/v1/ws") as ws:
        ws.send_json({"type": "auth", "token": tokens["clinician"]})
        ready = ws.receive_json()
        assert ready == {"type": "ready", "subject": "test-clinician", "roles": ["clinician"]}
        ws.send_json({"type": "annotate", "ref": "r1", "variants": ["21-25891796-C-T", "21-25891796-C-G"]})
        frames = _frames_until(ws, "result")
        stages = [f["stage"] for f in frames if f["type"] == "progress"]
        assert stages == ["received", "parsed", "annotated"]
        result = frames[-1]
        assert result["type"] == "result" and result["ref"] == "r1"
        assert {(v["pos"], v["alt"]) for v in result["variants"]} == {(25891796, "T"), (25891796, "G")}
        # the same answer as the HTTP endpoint
        http = client.post("/v1/annotate", json={"variants": ["21-25891796-C-T", "21-25891796-C-G"]},
                           headers={"Authorization": f"Bearer {tokens['clinician']}"}).json()
        assert [v["consequences"] for v in http["variants"]] == [v["consequences"] for v in result["variants"]]

        # a bad frame is answered with an error and the connection stays usable
        ws.send_text("{not json")
        err = ws.receive_json()
        assert err["type"] == "error" and err["status"] == 400
        ws.send_json({"type": "annotate", "ref": "r2", "variants": ["ENST00000999999.1:c.1A>G"]})
        frames = _frames_until(ws, "result")
        assert frames[-1]["type"] == "error" and frames[-1]["status"] == 422 and frames[-1]["ref"] == "r2"
        ws.send_json({"type": "annotate", "ref": "r3", "variants": []})
        assert _frames_until(ws, "result")[-1]["status"] == 422
        ws.send_json({"type": "subscribe", "submission_id": "nope"})
        assert ws.receive_json()["status"] == 404
        ws.send_json({"type": "dance"})
        assert ws.receive_json()["status"] == 400


def test_websocket_refuses_bad_tokens_and_roles(client, tokens):
    with client.websocket_connect("/v1/ws") as ws:
        ws.send_json({"type": "auth", "token": "not.a.jwt"})
        err = ws.receive_json()
        assert err["type"] == "error" and err["status"] == 401
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == 1008
    with client.websocket_connect("/v1/ws") as ws:
        ws.send_json({"variants": ["21-25891796-C-T"]})  # no auth frame first
        assert ws.receive_json()["status"] == 401
    with client.websocket_connect("/v1/ws") as ws:
        ws.send_json({"type": "auth", "token": tokens["researcher"]})
        assert ws.receive_json()["type"] == "ready"
        ws.send_json({"type": "submit", "ref": "q", "vcf": "##fileformat=VCFv4.2\n"})
        err = ws.receive_json()
        assert err["status"] == 403 and err["ref"] == "q"


def test_websocket_submit_without_kafka_is_503(client, tokens):
    with client.websocket_connect("/v1/ws", headers={"Authorization": f"Bearer {tokens['clinician']}"}) as ws:
        assert ws.receive_json()["type"] == "ready"
        ws.send_json({"type": "submit", "ref": "q", "vcf": "##fileformat=VCFv4.2\n"})
        err = ws.receive_json()
        assert err["status"] == 422 and "#CHROM" in err["detail"]  # bad input first
        vcf = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n21\t25891796\t.\tC\tT\t.\t.\t.\n"
        ws.send_json({"type": "submit", "ref": "q", "vcf": vcf})
        err = ws.receive_json()
        assert err["status"] == 503 and "Kafka" in err["detail"]


def test_websocket_sessions_are_audited(client, tokens):
    records = client.get("/v1/audit", headers={"Authorization": f"Bearer {tokens['admin']}"},
                         params={"limit": 200}).json()
    actions = {(r["action"], r["outcome"]) for r in records}
    assert ("WS connect", "ok") in actions
    assert ("WS connect", "unauthenticated") in actions
    assert ("WS annotate", "ok") in actions
    assert ("WS annotate", "rejected") in actions
    assert ("WS submit", "denied") in actions
    annotated = [r for r in records if r["action"] == "WS annotate" and r["outcome"] == "ok"]
    assert annotated[0]["n_variants"] == 2 and annotated[0]["subject"] == "test-clinician"
