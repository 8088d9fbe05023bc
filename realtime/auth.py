"""OIDC bearer tokens (RS256) checked against a JWKS, roles, and the local development key.

In production `HCML_OIDC_ISSUER` names the hospital's identity provider and `HCML_OIDC_JWKS_URL` its key set;
tokens carry the roles in `roles` (or Keycloak's `realm_access.roles`). With no issuer configured the
service trusts only the local development key under data_dir(), which `hcml dev-token` signs with; minting
is refused as soon as a real issuer is configured, so a development token can never open a real deployment.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from realtime.settings import DEV_ISSUER, Settings, dev_key_path

ROLES = ("clinician", "researcher", "admin")
ALGORITHM = "RS256"
LEEWAY_SECONDS = 30
VERIFIED_CACHE_SIZE = 4096  # distinct tokens whose verified claims are kept
VERIFIED_CACHE_SECONDS = 300.0  # at most this long (the JWKS client's key lifespan), never past expiry


class AuthError(Exception):
    """A request's credentials were refused; `status` is 401 (who are you?) or 403 (not allowed)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class DevTokenRefused(Exception):
    """`hcml dev-token` while a real issuer is configured."""


@dataclass(frozen=True)
class Principal:
    subject: str
    roles: tuple[str, ...]
    refused_after: float = field(
        default=float("inf"), compare=False
    )  # epoch seconds from which the token is refused (exp + leeway)

    @property
    def role(self) -> str:
        """The strongest role held, for the audit log."""
        for role in ("admin", "clinician", "researcher"):
            if role in self.roles:
                return role
        return "none"


_key_lock = threading.Lock()


def dev_private_key(path: Path | None = None) -> rsa.RSAPrivateKey:
    """The local development key, generated (RSA 2048, mode 0600) on first use."""
    path = path or dev_key_path()
    with _key_lock:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            pem = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(pem)
            os.replace(tmp, path)
        return serialization.load_pem_private_key(path.read_bytes(), password=None)  # type: ignore[return-value]


def public_jwk(key: rsa.RSAPrivateKey | rsa.RSAPublicKey) -> dict[str, Any]:
    public = key.public_key() if isinstance(key, rsa.RSAPrivateKey) else key
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(public))
    jwk.update({"use": "sig", "alg": ALGORITHM, "kid": _thumbprint(jwk)})
    return jwk


def _thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 key thumbprint, used as the key id."""
    import base64
    import hashlib

    canonical = json.dumps({k: jwk[k] for k in ("e", "kty", "n")}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()


def mint_token(
    key: rsa.RSAPrivateKey,
    *,
    role: str | list[str],
    subject: str,
    issuer: str,
    audience: str,
    ttl_seconds: int = 3600,
    extra: dict[str, Any] | None = None,
) -> str:
    roles = [role] if isinstance(role, str) else list(role)
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "sub": subject,
        "roles": roles,
        "iat": now,
        "nbf": now - 1,
        "exp": now + ttl_seconds,
        "jti": uuid.uuid4().hex,
    }
    claims.update(extra or {})
    return jwt.encode(claims, key, algorithm=ALGORITHM, headers={"kid": public_jwk(key)["kid"]})


def mint_dev_token(settings: Settings, role: str, subject: str | None = None, ttl_seconds: int = 8 * 3600) -> str:
    """A token signed by the local development key; refused when a real issuer is configured."""
    if not settings.dev_mode:
        raise DevTokenRefused(
            f"the service is configured with a real issuer (HCML_OIDC_ISSUER={settings.oidc_issuer!r}): "
            "development tokens are refused; get a token from that identity provider"
        )
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    return mint_token(
        dev_private_key(),
        role=role,
        subject=subject or f"dev-{role}",
        issuer=DEV_ISSUER,
        audience=settings.oidc_audience,
        ttl_seconds=ttl_seconds,
    )


class TokenVerifier:
    """Validates bearer tokens: signature (RS256 only), issuer, audience, expiry, and a known role.

    A token that passed is remembered by its exact string (the signature covers every claim, so the same
    string always carries the same claims) until the instant PyJWT would start refusing it as expired
    (`exp` + leeway), and for at most VERIFIED_CACHE_SECONDS so that a key withdrawn from the issuer's JWKS
    stops being honoured within that time: a clinician's session sends the same token with every request,
    and the RS256 signature check (~75 us) is the largest fixed cost of a request after `interpret`.
    Refused tokens are never remembered; every refusal is checked (and explained) in full each time.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._verified: OrderedDict[str, tuple[Principal, float]] = OrderedDict()
        self._verified_lock = threading.Lock()
        self.clock = time.time  # the cache's clock (tests move it)
        self._jwks_client: jwt.PyJWKClient | None = None
        self._static_keys: dict[str, Any] = {}
        if settings.dev_mode:
            jwk = public_jwk(dev_private_key())
            self._static_keys = {jwk["kid"]: jwt.PyJWK(jwk, algorithm=ALGORITHM).key}
        else:
            url = settings.oidc_jwks_url
            if not url:
                raise ValueError("HCML_OIDC_ISSUER is set but HCML_OIDC_JWKS_URL is not: cannot validate tokens")
            if url.startswith("file://") or url.startswith("/"):
                path = Path(url.removeprefix("file://"))
                keyset = jwt.PyJWKSet.from_dict(json.loads(path.read_text()))
                self._static_keys = {k.key_id: k.key for k in keyset.keys if k.key_id}
            else:
                self._jwks_client = jwt.PyJWKClient(url, cache_keys=True, lifespan=300, timeout=5)

    def _key_for(self, token: str) -> Any:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise AuthError(401, f"malformed bearer token: {exc}") from exc
        if header.get("alg") != ALGORITHM:
            raise AuthError(401, f"token algorithm {header.get('alg')!r} is not accepted (RS256 only)")
        kid = header.get("kid")
        if self._jwks_client is not None:
            try:
                return self._jwks_client.get_signing_key_from_jwt(token).key
            except jwt.PyJWKClientError as exc:
                raise AuthError(401, f"token signing key not found in the issuer's JWKS: {exc}") from exc
        if kid is None and len(self._static_keys) == 1:
            return next(iter(self._static_keys.values()))
        key = self._static_keys.get(kid) if kid is not None else None
        if key is None:
            raise AuthError(401, "token signing key (kid) is not in the configured JWKS")
        return key

    def verify(self, token: str) -> Principal:
        now = self.clock()
        with self._verified_lock:
            hit = self._verified.get(token)
            if hit is not None:
                if now < hit[1]:
                    self._verified.move_to_end(token)
                    return hit[0]
                del self._verified[token]
        principal, expires = self._verify_signed(token)
        until = min(expires + LEEWAY_SECONDS, now + VERIFIED_CACHE_SECONDS)
        with self._verified_lock:
            self._verified[token] = (principal, until)
            while len(self._verified) > VERIFIED_CACHE_SIZE:
                self._verified.popitem(last=False)
        return principal

    def _verify_signed(self, token: str) -> tuple[Principal, float]:
        """The full check: the Principal and the token's `exp` (seconds since the epoch)."""
        key = self._key_for(token)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self.settings.oidc_audience,
                issuer=self.settings.oidc_issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise AuthError(401, "token expired") from exc
        except jwt.InvalidAudienceError as exc:
            raise AuthError(401, f"token audience is not {self.settings.oidc_audience!r}") from exc
        except jwt.InvalidIssuerError as exc:
            raise AuthError(401, "token issuer is not the configured issuer") from exc
        except jwt.InvalidSignatureError as exc:
            raise AuthError(401, "token signature is invalid") from exc
        except jwt.MissingRequiredClaimError as exc:
            raise AuthError(401, f"token lacks the required claim {exc.claim!r}") from exc
        except jwt.PyJWTError as exc:
            raise AuthError(401, f"invalid token: {exc}") from exc
        roles = claims.get("roles")
        if roles is None:
            realm = claims.get("realm_access")  # signed, yet shaped by whoever configured the issuer
            roles = realm.get("roles", []) if isinstance(realm, dict) else []
        if isinstance(roles, str):
            roles = [roles]
        known = tuple(r for r in roles if isinstance(r, str) and r in ROLES) if isinstance(roles, list) else ()
        if not known:
            raise AuthError(403, f"token carries none of the roles {', '.join(ROLES)}")
        expires = float(claims["exp"])  # PyJWT refused a non-numeric one
        return Principal(subject=str(claims["sub"]), roles=known, refused_after=expires + LEEWAY_SECONDS), expires


def single_authorization(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The one Authorization header of a request (latin-1), None without one; two or more are refused
    (400): proxies and frameworks disagree on which one wins."""
    values = [v for k, v in headers if k.lower() == b"authorization"]
    if len(values) > 1:
        raise AuthError(400, f"{len(values)} Authorization headers: send exactly one")
    return values[0].decode("latin-1") if values else None


def bearer_from_header(value: str | None) -> str:
    if not value:
        raise AuthError(401, "missing bearer token (Authorization: Bearer <token>)")
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError(401, "Authorization header must be 'Bearer <token>'")
    return token.strip()


def require_role(principal: Principal, allowed: tuple[str, ...]) -> None:
    if not any(r in allowed for r in principal.roles):
        raise AuthError(403, f"role {principal.role!r} may not do this (needs one of: {', '.join(allowed)})")
