"""The service as it runs: `hcml serve` in its own process. No Dagster in its import graph, and no patient
identifier, variant or sequence in any of its logs (the audit log included)."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import httpx
import pysam

from hcml.config import REPO_ROOT

from .conftest import server_token, service_env

PROBE = r"""
import json, sys
from fastapi.testclient import TestClient
from realtime.app import create_app
from realtime.auth import mint_dev_token
from realtime.settings import load_settings
import realtime.cli, realtime.worker, realtime.ws, realtime.submissions, hcml.interpret
with TestClient(create_app()) as c:
    h = {"Authorization": "Bearer " + mint_dev_token(load_settings(), "clinician")}
    r = c.post("/v1/annotate", json={"variants": ["21-25891796-C-T"]}, headers=h)
    assert r.status_code == 200, r.text
    with c.websocket_connect("/v1/ws") as ws:
        ws.send_json({"type": "auth", "token": h["Authorization"][7:]})
        ws.receive_json()
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("dagster", "dagster_k8s", "dagster_azure",
                                                                      "dagster_postgres", "hcml_dagster", "torch"))))
"""


def test_no_dagster_or_torch_in_the_service_import_graph(tmp_path, bundle_dir):
    """Cold start on scale-from-zero: the app, the worker and a served request import neither."""
    env = service_env(tmp_path, bundle_dir)
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_logs_never_contain_patient_data(server):
    token = server_token(server, "clinician")
    h = {"Authorization": f"Bearer {token}"}
    with pysam.FastaFile(str(REPO_ROOT / "data/reference/chr21_full_length_Nmasked.GRCh38.fa.gz")) as fa:
        sequence = fa.fetch("21", 25891600, 25891900)
    variant, hgvs, patient, sample = "21-25891796-C-T", "ENST00000346798.7:c.2149G>A", "MRN-4455667", "JANEDOE1970"
    vcf = ("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + sample + "\n"
           "21\t25891796\trs63750066\tC\tT\t.\t.\t.\tGT\t0|1\n")
    calls = [
        ("/v1/annotate", {"variants": [variant, hgvs]}, 200),
        ("/v1/annotate", {"sequence": sequence}, 200),
        ("/v1/annotate", {"vcf": vcf}, 200),
        ("/v1/annotate", {"variants": [variant], "patient_id": patient}, 422),  # rejected body
        ("/v1/annotate", {"variants": ["21-25891796-G-" + patient]}, 422),  # every record rejected
        ("/v1/submissions", {"vcf": vcf, "patient_id": patient}, 503),  # Kafka not configured here
    ]
    with httpx.Client(base_url=server.url, headers=h, timeout=30) as http:
        for path, body, status in calls:
            assert http.post(path, json=body).status_code == status, (path, body)
        http.post("/v1/annotate", content=b'{"variants": ["' + patient.encode() + b'"', headers={
            "Content-Type": "application/json"})
        assert http.get("/v1/whoami", headers={"Authorization": "Bearer " + patient}).status_code == 401
    audit_path = server.data_dir / "realtime" / "audit.jsonl"
    deadline = time.monotonic() + 30  # the record is written just after the response is sent
    while time.monotonic() < deadline and '"GET /v1/whoami"' not in audit_path.read_text():
        time.sleep(0.05)
    audit_lines = audit_path.read_text().splitlines()
    audit = [json.loads(x) for x in audit_lines]
    actions = [(a["action"], a["status"]) for a in audit]
    assert actions.count(("POST /v1/annotate", 200)) == 3
    assert ("POST /v1/submissions", 503) in actions and ("GET /v1/whoami", 401) in actions
    assert all(a.get("subject") == "dev-clinician" for a in audit if a["status"] != 401)
    server_log = server.logs()
    assert "POST /v1/annotate" in server_log  # the access log is on: the grep below is not vacuous
    for text in (server_log, "\n".join(audit_lines)):
        for secret in (variant, "25891796", hgvs, "c.2149G>A", patient, sample, sequence[:40], sequence[-40:], token):
            assert secret not in text, f"{secret!r} leaked into a log"
