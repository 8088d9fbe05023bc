"""The hcml-realtime image run as OpenShift runs it (UID 1000770000 in group 0, read-only root filesystem, the
Knative service's emptyDirs as tmpfs): it answers the probes and a clinical annotation with a development
token minted by `hcml dev-token` inside the container, and carries neither Dagster nor torch."""

from __future__ import annotations

import json

import httpx
import polars as pl

from hcml.config import REPO_ROOT

from . import engine


def test_probes_answer(realtime_server):
    assert httpx.get(realtime_server.url + "/healthz", timeout=10).status_code == 200
    ready = httpx.get(realtime_server.url + "/readyz", timeout=10)
    assert ready.status_code == 200, ready.text


def test_runs_as_the_arbitrary_uid_on_a_read_only_root(realtime_server):
    status = realtime_server.exec("cat", "/proc/1/status").stdout
    uid = next(line.split()[1:] for line in status.splitlines() if line.startswith("Uid:"))
    gid = next(line.split()[1:] for line in status.splitlines() if line.startswith("Gid:"))
    assert set(uid) == {"1000770000"} and set(gid) == {"0"}, (uid, gid)
    for path in ("/opt/hcml/app/probe", "/opt/hcml/bundle/probe", "/etc/probe"):
        touched = realtime_server.exec("touch", path)
        assert touched.returncode != 0 and "Read-only file system" in touched.stderr, (path, touched.stderr)
    # the emptyDir-backed data directory is where it writes: the dev key and the audit outbox live there
    assert realtime_server.exec("touch", "/var/lib/hcml/probe").returncode == 0


def test_annotate_with_a_dev_token(realtime_server):
    minted = realtime_server.exec("hcml", "dev-token", "--role", "clinician")
    assert minted.returncode == 0, minted.stderr
    token = minted.stdout.strip()
    headers = {"Authorization": f"Bearer {token}"}
    assert httpx.post(realtime_server.url + "/v1/annotate", json={"variants": ["21-25891796-C-T"]},
                      timeout=30).status_code == 401  # no token, no answer
    # ClinVar's record of this APP variant (the 2016 release in data/) is the expectation: its c. on
    # NM_000484.3 (= ENST00000346798, APP-770) and its p.; the same allele written as HGVS c. lands there too
    clinvar = pl.read_csv(REPO_ROOT / "data/clinvar/clinvar_2016-05-20.lifted_GRCh38.tsv.gz", separator="\t",
                          infer_schema=False).filter(pl.col("pos_grch38") == "25891796", pl.col("alt") == "T").row(
                              0, named=True)
    c_dot, p_dot = clinvar["hgvs_c"].split(":")[1], clinvar["hgvs_p"].split(":")[1]
    r = httpx.post(realtime_server.url + "/v1/annotate", headers=headers, timeout=60,
                   json={"variants": ["21-25891796-C-T", f"ENST00000346798.7:{c_dot}"]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["n_variants"], body["n_rejects"]) == (2, 0), body["rejects"]
    genomic, hgvs = body["variants"]
    on_tx = [c for c in genomic["consequences"] if (c.get("Feature") or "").startswith("ENST00000346798")]
    assert on_tx and on_tx[0]["HGVSc"].endswith(c_dot) and on_tx[0]["HGVSp"].endswith(p_dot), on_tx
    assert "missense_variant" in on_tx[0]["Consequence"]
    assert (genomic["chrom"], genomic["pos"], genomic["ref"], genomic["alt"]) == (
        hgvs["chrom"], hgvs["pos"], hgvs["ref"], hgvs["alt"])
    # the model baked into the image scored it (the numpy serving form: no torch in the image)
    assert body["model"] and genomic["pathogenicity_score"] is not None and 0 <= genomic["pathogenicity_score"] <= 1
    # the audit log went to the data directory (the emptyDir: the only writable place) and names this request
    audit = realtime_server.exec("cat", "/var/lib/hcml/realtime/audit.jsonl")
    assert audit.returncode == 0, audit.stderr
    records = [json.loads(line) for line in audit.stdout.splitlines()]
    assert any(a["action"] == "POST /v1/annotate" and a["status"] == 200 and a.get("result_id") == body["result_id"]
               for a in records), records[-3:]


def test_no_dagster_torch_or_mlflow_installed(realtime_image):
    probe = ("import importlib.util, json; print(json.dumps([m for m in ('dagster', 'torch', 'mlflow', 'sklearn',"
             " 'hcml_dagster', 'dagster_k8s') if importlib.util.find_spec(m)]))")
    out = engine.podman("run", "--rm", "--user", engine.OPENSHIFT_USER, "--read-only", "--network=none",
                        realtime_image, "python", "-c", probe)
    assert json.loads(out.stdout) == []
