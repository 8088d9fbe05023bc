"""Bearer tokens, roles, the development key and the audit trail of refusals."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric import rsa

from realtime.auth import AuthError, TokenVerifier, mint_token, public_jwk
from realtime.settings import DEV_ISSUER, load_settings

from .conftest import auth


def _other_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def test_every_clinical_endpoint_requires_a_token(client):
    for method, path, body in [
        ("POST", "/v1/annotate", {"variants": ["21-25891796-C-T"]}),
        ("POST", "/v1/submissions", {"vcf": "##fileformat=VCFv4.2\n"}),
        ("GET", "/v1/submissions/abc", None),
        ("GET", "/v1/results/abc", None),
        ("GET", "/v1/results/abc/provenance", None),
        ("GET", "/v1/whoami", None),
        ("GET", "/v1/audit", None),
    ]:
        r = client.request(method, path, json=body)
        assert r.status_code == 401, (method, path, r.text)
        assert r.headers["www-authenticate"].startswith("Bearer")
        assert "missing bearer token" in r.json()["detail"]


def test_dev_token_identifies_subject_and_role(client, tokens):
    r = client.get("/v1/whoami", headers=auth(tokens["researcher"]))
    assert r.status_code == 200
    assert r.json() == {"subject": "test-researcher", "roles": ["researcher"]}


@pytest.mark.parametrize("mutation, expected", [
    ("expired", "token expired"),
    ("foreign_key", "signing key"),
    ("audience", "audience"),
    ("issuer", "issuer"),
    ("no_role", "roles"),
    ("garbage", "malformed"),
    ("hs256", "RS256 only"),
])
def test_bad_tokens_are_refused_precisely(client, mutation, expected):
    from realtime.auth import dev_private_key

    settings = load_settings()
    key = dev_private_key()
    kwargs = dict(role="clinician", subject="someone", issuer=DEV_ISSUER, audience=settings.oidc_audience)
    if mutation == "expired":
        token = mint_token(key, ttl_seconds=-3600, **kwargs)
    elif mutation == "foreign_key":
        token = mint_token(_other_key(), **kwargs)
    elif mutation == "audience":
        token = mint_token(key, **{**kwargs, "audience": "someone-else"})
    elif mutation == "issuer":
        token = mint_token(key, **{**kwargs, "issuer": "https://evil.example"})
    elif mutation == "no_role":
        token = mint_token(key, **{**kwargs, "role": "janitor"})
    elif mutation == "garbage":
        token = "not.a.jwt"
    else:
        token = jwt.encode({"sub": "x", "roles": ["admin"], "iss": DEV_ISSUER, "aud": "hcml",
                            "exp": int(time.time()) + 60}, "shared-secret-guess-000000000000000", algorithm="HS256")
    r = client.get("/v1/whoami", headers=auth(token))
    assert r.status_code in (401, 403), r.text
    assert expected in r.json()["detail"]
    if mutation == "no_role":
        assert r.status_code == 403


def test_wrong_role_is_403(client, tokens):
    vcf = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n21\t25891796\t.\tC\tT\t.\t.\t.\n"
    r = client.post("/v1/submissions", json={"vcf": vcf}, headers=auth(tokens["researcher"]))
    assert r.status_code == 403
    assert "researcher" in r.json()["detail"]
    r = client.get("/v1/audit", headers=auth(tokens["clinician"]))
    assert r.status_code == 403
    r = client.get("/v1/audit", headers=auth(tokens["admin"]))
    assert r.status_code == 200


def test_refusals_are_audited(client, tokens):
    client.get("/v1/whoami", headers=auth("not.a.jwt"))
    client.get("/v1/audit", headers=auth(tokens["clinician"]))
    records = client.get("/v1/audit", headers=auth(tokens["admin"]), params={"limit": 50}).json()
    unauth = [r for r in records if r["outcome"] == "unauthenticated" and r["action"] == "GET /v1/whoami"]
    denied = [r for r in records if r["outcome"] == "denied" and r["action"] == "GET /v1/audit"]
    assert unauth and unauth[-1]["status"] == 401 and "subject" not in unauth[-1]
    assert denied and denied[-1]["subject"] == "test-clinician" and denied[-1]["role"] == "clinician"
    for rec in records:
        assert {"ts", "action", "outcome", "status"} <= set(rec)


def test_dev_token_cli_mints_and_is_refused_with_a_real_issuer(rt_env, monkeypatch):
    from realtime.cli import dev_token

    runner = CliRunner()
    ok = runner.invoke(dev_token, ["--role", "admin"])
    assert ok.exit_code == 0, ok.output
    token = ok.output.strip()
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["roles"] == ["admin"] and claims["iss"] == DEV_ISSUER
    # verified by the service's verifier (the same key under data_dir())
    assert TokenVerifier(load_settings()).verify(token).roles == ("admin",)

    monkeypatch.setenv("HCML_OIDC_ISSUER", "https://sso.hospital.example/realms/clinical")
    monkeypatch.setenv("HCML_OIDC_JWKS_URL", "https://sso.hospital.example/certs")
    refused = runner.invoke(dev_token, ["--role", "admin"])
    assert refused.exit_code == 2
    assert "real issuer" in refused.output


class _JWKSHandler(BaseHTTPRequestHandler):
    body = b"{}"

    def do_GET(self):  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


def test_real_issuer_mode_validates_against_the_jwks_over_http(rt_env, monkeypatch):
    """An identity provider's key set served over HTTP: its tokens pass, development tokens do not."""
    from realtime.auth import mint_dev_token

    dev = mint_dev_token(load_settings(), "clinician")  # minted while still in development mode
    idp_key = _other_key()
    handler = type("H", (_JWKSHandler,), {"body": json.dumps({"keys": [public_jwk(idp_key)]}).encode()})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        issuer = "https://sso.hospital.example/realms/clinical"
        monkeypatch.setenv("HCML_OIDC_ISSUER", issuer)
        monkeypatch.setenv("HCML_OIDC_JWKS_URL", f"http://127.0.0.1:{httpd.server_address[1]}/certs")
        verifier = TokenVerifier(load_settings())
        good = mint_token(idp_key, role=["researcher", "offline_access"], subject="dr.who", issuer=issuer,
                          audience="hcml")
        principal = verifier.verify(good)
        assert principal.subject == "dr.who" and principal.roles == ("researcher",)
        keycloak_style = mint_token(idp_key, role=[], subject="dr.kc", issuer=issuer, audience="hcml",
                                    extra={"roles": None, "realm_access": {"roles": ["clinician"]}})
        assert verifier.verify(keycloak_style).roles == ("clinician",)
        with pytest.raises(AuthError) as err:
            verifier.verify(dev)
        assert err.value.status == 401
    finally:
        httpd.shutdown()


def test_dev_key_is_private_and_stable(rt_env):
    from realtime.auth import dev_private_key
    from realtime.settings import dev_key_path

    a = public_jwk(dev_private_key())
    b = public_jwk(dev_private_key())
    assert a == b
    assert dev_key_path().stat().st_mode & 0o077 == 0
