"""A synchronous result is its requester's: GET /v1/results/{id} and its /provenance answer another user 404,
the rule submissions follow (their requester, or an admin)."""

from __future__ import annotations

import httpx

from .conftest import server_token, signed_token

VARIANT = "21-25891796-C-T"


def test_another_users_result_and_provenance_are_not_found(server):
    alice = signed_token(server, {"sub": "clinician-alice", "roles": ["clinician"]})
    bob = signed_token(server, {"sub": "clinician-bob", "roles": ["clinician"]})
    researcher = server_token(server, "researcher")
    admin = server_token(server, "admin")
    with httpx.Client(base_url=server.url, timeout=30) as http:
        answer = http.post("/v1/annotate", json={"variants": [VARIANT]}, headers={"Authorization": f"Bearer {alice}"})
        assert answer.status_code == 200, answer.text
        rid = answer.json()["result_id"]
        for path in (f"/v1/results/{rid}", f"/v1/results/{rid}/provenance"):
            for token in (bob, researcher):
                refused = http.get(path, headers={"Authorization": f"Bearer {token}"})
                assert refused.status_code == 404, (path, refused.text)
                assert VARIANT.split("-")[1] not in refused.text  # nothing of alice's answer
            own = http.get(path, headers={"Authorization": f"Bearer {alice}"})
            assert own.status_code == 200 and own.json()["result_id"] == rid
            assert http.get(path, headers={"Authorization": f"Bearer {admin}"}).status_code == 200
        assert http.get(f"/v1/results/{rid}", headers={"Authorization": f"Bearer {alice}"}).json() == answer.json()


def test_a_result_over_the_websocket_is_its_requesters_too(server):
    import json

    from websockets.sync.client import connect

    alice = signed_token(server, {"sub": "clinician-alice", "roles": ["clinician"]})
    bob = signed_token(server, {"sub": "clinician-bob", "roles": ["clinician"]})
    with connect(server.url.replace("http", "ws") + "/v1/ws") as ws:
        ws.send(json.dumps({"type": "auth", "token": alice}))
        assert json.loads(ws.recv(timeout=30))["type"] == "ready"
        ws.send(json.dumps({"type": "annotate", "ref": "a", "variants": [VARIANT]}))
        while (frame := json.loads(ws.recv(timeout=60)))["type"] != "result":
            pass
    rid = frame["result_id"]
    with httpx.Client(base_url=server.url, timeout=30) as http:
        assert http.get(f"/v1/results/{rid}", headers={"Authorization": f"Bearer {bob}"}).status_code == 404
        assert http.get(f"/v1/results/{rid}", headers={"Authorization": f"Bearer {alice}"}).status_code == 200
