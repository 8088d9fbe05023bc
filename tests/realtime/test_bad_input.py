"""Bad input gets a precise 4xx, never a 5xx, and never reads anything but the request."""

from __future__ import annotations

import pytest

from .conftest import auth

pytestmark = pytest.mark.small_path  # the outcome depends on the path: CI runs it with each forced

VCF_HEADER = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"


@pytest.fixture(scope="module")
def small_client(rt_env):
    """The app with small limits, to test them without megabytes of input."""
    from fastapi.testclient import TestClient

    from realtime.app import create_app

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HCML_REALTIME_MAX_VARIANTS", "5")
        mp.setenv("HCML_REALTIME_MAX_BODY_BYTES", "4096")
        mp.setenv("HCML_REALTIME_MAX_SEQUENCE", "300")
        with TestClient(create_app()) as c:
            yield c


def _h(tokens):
    return auth(tokens["clinician"])


def test_malformed_json_is_422_naming_the_problem(client, tokens):
    r = client.post("/v1/annotate", content=b'{"variants": ["21-25891796-C-T"', headers={
        **_h(tokens), "Content-Type": "application/json"})
    assert r.status_code == 422
    assert r.json()["detail"][0]["type"] == "json_invalid"


@pytest.mark.parametrize("body, needle", [
    ({}, "exactly one"),
    ({"variants": ["21-25891796-C-T"], "sequence": "ACGT"}, "exactly one"),
    ({"variants": []}, "at least 1"),
    ({"variants": "21-25891796-C-T"}, "valid list"),
    ({"variants": [""]}, "at least 1"),
    ({"variants": ["21-25891796-C-T"], "patient": "x"}, "Extra inputs"),
    ([1, 2], "valid dictionary"),
])
def test_schema_violations_are_422(client, tokens, body, needle):
    r = client.post("/v1/annotate", json=body, headers=_h(tokens))
    assert r.status_code == 422, r.text
    assert needle in str(r.json()["detail"])


def test_validation_errors_do_not_echo_the_input(client, tokens):
    secret = "PATIENT-MRN-778899"
    r = client.post("/v1/annotate", json={"variants": [secret], "vcf": secret}, headers=_h(tokens))
    assert r.status_code == 422
    assert secret not in r.text


def test_unknown_transcript_is_a_precise_reject(client, tokens):
    r = client.post("/v1/annotate", json={"variants": ["21-25891796-C-T", "ENST00000999999.1:c.100A>G"]},
                    headers=_h(tokens))
    assert r.status_code == 200
    body = r.json()
    assert body["n_variants"] == 1 and body["n_rejects"] == 1
    assert "ENST00000999999" in body["rejects"][0]["reason"]
    only_bad = client.post("/v1/annotate", json={"variants": ["ENST00000999999.1:c.100A>G"]}, headers=_h(tokens))
    assert only_bad.status_code == 422
    assert only_bad.json()["rejects"][0]["text"] == "ENST00000999999.1:c.100A>G"


def test_wrong_reference_allele_is_rejected_with_the_field(client, tokens):
    # chr21:25891796 is C in GRCh38 (see test_annotate's pysam check); claim it is G
    r = client.post("/v1/annotate", json={"variants": ["21-25891796-G-T"]}, headers=_h(tokens))
    assert r.status_code == 422
    reject = r.json()["rejects"][0]
    assert reject["field"] and "REF" in reject["field"].upper()


@pytest.mark.parametrize("vcf", [
    "this is not a vcf\n",
    VCF_HEADER + "21\tnot-a-number\t.\tC\tT\t.\t.\t.\n",
    "##fileformat=VCFv4.2\n21\t25891796\t.\tC\tT\t.\t.\t.\n",
])
def test_malformed_vcf_is_4xx(client, tokens, vcf):
    r = client.post("/v1/annotate", json={"vcf": vcf}, headers=_h(tokens))
    assert 400 <= r.status_code < 500, r.text
    assert r.json()["detail"]


def test_a_path_is_never_read_as_a_vcf(client, tokens):
    r = client.post("/v1/annotate", json={"vcf": "/etc/passwd"}, headers=_h(tokens))
    assert r.status_code == 422
    assert "root:" not in r.text


@pytest.mark.parametrize("sequence", ["ACGTXYZ" * 10, "NNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNN", "ACGT"])
def test_bad_sequences_are_4xx(client, tokens, sequence):
    r = client.post("/v1/annotate", json={"sequence": sequence}, headers=_h(tokens))
    assert 400 <= r.status_code < 500, r.text


def test_variant_count_limit_is_413(small_client, tokens):
    r = small_client.post("/v1/annotate", json={"variants": ["21-25891796-C-T"] * 6}, headers=_h(tokens))
    assert r.status_code == 413
    assert "limit is 5" in r.json()["detail"] and "/v1/submissions" in r.json()["detail"]
    vcf = VCF_HEADER + "".join(f"21\t{25891790 + i}\t.\tN\tA\t.\t.\t.\n" for i in range(6))
    r = small_client.post("/v1/annotate", json={"vcf": vcf}, headers=_h(tokens))
    assert r.status_code == 413


def test_body_size_limit_is_413(small_client, tokens):
    r = small_client.post("/v1/annotate", json={"sequence": "A" * 5000}, headers=_h(tokens))
    assert r.status_code == 413


def test_sequence_length_limit_is_413(small_client, tokens):
    r = small_client.post("/v1/annotate", json={"sequence": "ACGT" * 100}, headers=_h(tokens))
    assert r.status_code == 413
    assert "limit is 300" in r.json()["detail"]


def test_queue_without_kafka_is_503_with_retry_after(client, tokens):
    vcf = VCF_HEADER + "21\t25891796\t.\tC\tT\t.\t.\t.\n"
    r = client.post("/v1/submissions", json={"vcf": vcf}, headers=_h(tokens))
    assert r.status_code == 503
    assert int(r.headers["retry-after"]) > 0
    assert "Kafka" in r.json()["detail"]


def test_unknown_submission_and_result_are_404(client, tokens):
    assert client.get("/v1/submissions/does-not-exist", headers=_h(tokens)).status_code == 404
    assert client.get("/v1/submissions/../../etc", headers=_h(tokens)).status_code == 404
    assert client.get("/v1/results/nope", headers=_h(tokens)).status_code == 404


@pytest.mark.parametrize("body", [
    {"variants": ["21-25891796-C-T", "21-100000000000000000000-C-T"]},
    {"vcf": VCF_HEADER + "21\t25891796\t.\tC\tT\t.\t.\t.\n21\t9223372036854775806\t.\tCCCC\tT\t.\t.\t.\n"},
])
def test_positions_past_every_contig_are_rejects_not_5xx(client, tokens, body):
    """Positions beyond 64-bit integers (or close enough to overflow pos + length) once crashed the parse."""
    r = client.post("/v1/annotate", json=body, headers=_h(tokens))
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["n_variants"] == 1 and out["n_rejects"] == 1
    assert out["rejects"][0]["field"] == "POS" and "past the end of every contig" in out["rejects"][0]["reason"]
