"""The realtime service's settings, read from the environment when asked (never at import time).

Every variable is listed in docs/configuration.md; defaults make `hcml serve` work on a fresh clone.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from hcml.config import data_dir

DEV_ISSUER = "hcml-dev"  # the issuer the local development key signs as; never a real identity provider
DEFAULT_AUDIENCE = "hcml"


def _number(name: str, default, parse, what: str):
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return parse(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be {what}, got {raw!r}") from exc


def _int(name: str, default: int) -> int:
    return _number(name, default, int, "an integer")


def _float(name: str, default: float) -> float:
    return _number(name, default, float, "a number")


def _fsync_policy() -> bool:
    raw = (os.environ.get("HCML_REALTIME_OUTBOX_FSYNC") or "always").strip().lower()
    if raw not in ("always", "never"):
        raise ValueError(f"HCML_REALTIME_OUTBOX_FSYNC must be 'always' or 'never', got {raw!r}")
    return raw == "always"


@dataclass(frozen=True)
class Settings:
    oidc_issuer: str  # HCML_OIDC_ISSUER (default: the development issuer)
    oidc_audience: str  # HCML_OIDC_AUDIENCE
    oidc_jwks_url: str | None  # HCML_OIDC_JWKS_URL: https://..., http://... or file:///path
    max_body_bytes: int  # HCML_REALTIME_MAX_BODY_BYTES: sync endpoints
    max_submission_bytes: int  # HCML_REALTIME_MAX_SUBMISSION_BYTES: POST /v1/submissions
    max_variants: int  # HCML_REALTIME_MAX_VARIANTS: per sync request
    max_sequence_length: int  # HCML_REALTIME_MAX_SEQUENCE: bases per sync request
    outbox_dir: Path  # HCML_REALTIME_OUTBOX_DIR: the durable event outbox (default $HCML_DATA_DIR/realtime/outbox)
    outbox_max_bytes: int  # HCML_REALTIME_OUTBOX_MAX_BYTES: over it, sync answers are refused (503)
    outbox_fsync: bool  # HCML_REALTIME_OUTBOX_FSYNC: "always" (fdatasync before answering) or "never"
    kafka_bootstrap: str | None  # HCML_KAFKA_BOOTSTRAP (shared with hcml.events)
    model_poll_seconds: float  # HCML_REALTIME_MODEL_POLL_SECONDS: how often the champion alias is checked
    audit_log: Path  # HCML_AUDIT_LOG
    results_cache: int  # HCML_REALTIME_RESULTS_CACHE: sync results kept for their provenance link
    retry_after_seconds: int  # HCML_REALTIME_RETRY_AFTER: Retry-After on 503
    variant_cache: int  # HCML_REALTIME_VARIANT_CACHE: answers kept per variant string (0: no cache)
    variant_cache_bytes: int  # HCML_REALTIME_VARIANT_CACHE_BYTES: and at most this many bytes of them
    results_cache_bytes: int  # HCML_REALTIME_RESULTS_CACHE_BYTES: bytes of sync results kept
    ws_outbox_bytes: int  # HCML_REALTIME_WS_OUTBOX_BYTES: unread answers per WebSocket before it is closed
    ws_outbox_total_bytes: int  # HCML_REALTIME_WS_OUTBOX_TOTAL_BYTES: unread answers of all WebSockets together

    @property
    def dev_mode(self) -> bool:
        return self.oidc_issuer == DEV_ISSUER


def dev_key_path() -> Path:
    """The local development signing key (generated on first use), under data_dir()."""
    return data_dir() / "realtime" / "dev-signing-key.pem"


def load_settings() -> Settings:
    """The settings; a ValueError naming the variable when one is malformed (the service refuses to start)."""
    kafka_bootstrap = os.environ.get("HCML_KAFKA_BOOTSTRAP") or None
    if kafka_bootstrap:
        from hcml.events.kafka_config import client_config

        client_config(kafka_bootstrap)  # inconsistent TLS / SASL settings: KafkaConfigError naming the variable
    return Settings(
        oidc_issuer=os.environ.get("HCML_OIDC_ISSUER") or DEV_ISSUER,
        oidc_audience=os.environ.get("HCML_OIDC_AUDIENCE") or DEFAULT_AUDIENCE,
        oidc_jwks_url=os.environ.get("HCML_OIDC_JWKS_URL") or None,
        max_body_bytes=_int("HCML_REALTIME_MAX_BODY_BYTES", 1 << 20),
        max_submission_bytes=_int("HCML_REALTIME_MAX_SUBMISSION_BYTES", 64 << 20),
        max_variants=_int("HCML_REALTIME_MAX_VARIANTS", 1000),
        max_sequence_length=_int("HCML_REALTIME_MAX_SEQUENCE", 100_000),
        outbox_dir=Path(os.environ.get("HCML_REALTIME_OUTBOX_DIR") or (data_dir() / "realtime" / "outbox")),
        outbox_max_bytes=_int("HCML_REALTIME_OUTBOX_MAX_BYTES", 256 << 20),
        outbox_fsync=_fsync_policy(),
        kafka_bootstrap=kafka_bootstrap,
        model_poll_seconds=_float("HCML_REALTIME_MODEL_POLL_SECONDS", 30.0),
        audit_log=Path(os.environ.get("HCML_AUDIT_LOG") or (data_dir() / "realtime" / "audit.jsonl")),
        results_cache=_int("HCML_REALTIME_RESULTS_CACHE", 1000),
        retry_after_seconds=_int("HCML_REALTIME_RETRY_AFTER", 30),
        variant_cache=_int("HCML_REALTIME_VARIANT_CACHE", 100_000),
        variant_cache_bytes=_int("HCML_REALTIME_VARIANT_CACHE_BYTES", 128 << 20),
        results_cache_bytes=_int("HCML_REALTIME_RESULTS_CACHE_BYTES", 64 << 20),
        ws_outbox_bytes=_int("HCML_REALTIME_WS_OUTBOX_BYTES", 8 << 20),
        ws_outbox_total_bytes=_int("HCML_REALTIME_WS_OUTBOX_TOTAL_BYTES", 64 << 20),
    )


@dataclass(frozen=True)
class ProtocolLimits:
    max_header_bytes: int  # HCML_REALTIME_MAX_HEADER_BYTES: request line + headers
    header_timeout_seconds: float  # HCML_REALTIME_HEADER_TIMEOUT_SECONDS: head complete / body progress
    ws_preauth_bytes: int  # HCML_REALTIME_WS_PREAUTH_BYTES: largest WebSocket frame before authentication


def protocol_limits() -> ProtocolLimits:
    """The connection-level limits (realtime.protocol), read per connection: a few dictionary look-ups."""
    return ProtocolLimits(
        max_header_bytes=_int("HCML_REALTIME_MAX_HEADER_BYTES", 64 << 10),
        header_timeout_seconds=_float("HCML_REALTIME_HEADER_TIMEOUT_SECONDS", 10.0),
        ws_preauth_bytes=_int("HCML_REALTIME_WS_PREAUTH_BYTES", 16 << 10),
    )
