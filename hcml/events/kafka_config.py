"""The one place every hcml Kafka client gets its librdkafka configuration: bootstrap + security.

`client_config(bootstrap, **client_specific)` returns `bootstrap.servers`, the security settings read from
the environment when called (never at import), and the client's own settings on top. Producers, consumers,
the admin client, the realtime service, the results worker, the lag probe and the Dagster sensors all build
their configuration through it, so a hospital cluster's TLS / SASL settings reach every client.

| variable | librdkafka |
|---|---|
| `HCML_KAFKA_SECURITY_PROTOCOL` (`PLAINTEXT` default, `SSL`, `SASL_PLAINTEXT`, `SASL_SSL`) | `security.protocol` |
| `HCML_KAFKA_SASL_MECHANISM` (`PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512`) | `sasl.mechanism` |
| `HCML_KAFKA_SASL_USERNAME` / `HCML_KAFKA_SASL_USERNAME_FILE` | `sasl.username` |
| `HCML_KAFKA_SASL_PASSWORD` / `HCML_KAFKA_SASL_PASSWORD_FILE` | `sasl.password` |
| `HCML_KAFKA_SSL_CA_LOCATION` | `ssl.ca.location` (PEM; unset: the system's CA store) |
| `HCML_KAFKA_SSL_CERTIFICATE_LOCATION` + `HCML_KAFKA_SSL_KEY_LOCATION` | `ssl.certificate.location`, `ssl.key.location` (mTLS) |

Inconsistent settings raise `KafkaConfigError` naming the variable; no message ever contains a secret's
value. `AuthWatch` is an `error_cb` that remembers an authentication / TLS failure, so a client can stop
waiting and raise `KafkaAuthenticationError` instead of retrying until its timeout.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")

PROTOCOL = "HCML_KAFKA_SECURITY_PROTOCOL"
MECHANISM = "HCML_KAFKA_SASL_MECHANISM"
USERNAME = "HCML_KAFKA_SASL_USERNAME"
USERNAME_FILE = "HCML_KAFKA_SASL_USERNAME_FILE"
PASSWORD = "HCML_KAFKA_SASL_PASSWORD"
PASSWORD_FILE = "HCML_KAFKA_SASL_PASSWORD_FILE"
CA_LOCATION = "HCML_KAFKA_SSL_CA_LOCATION"
CERTIFICATE_LOCATION = "HCML_KAFKA_SSL_CERTIFICATE_LOCATION"
KEY_LOCATION = "HCML_KAFKA_SSL_KEY_LOCATION"
SSL_VARIABLES = (CA_LOCATION, CERTIFICATE_LOCATION, KEY_LOCATION)
SASL_VARIABLES = (MECHANISM, USERNAME, USERNAME_FILE, PASSWORD, PASSWORD_FILE)


class KafkaConfigError(ValueError):
    """The Kafka security settings in the environment are inconsistent; the message names the variable."""


class KafkaAuthenticationError(RuntimeError):
    """The broker refused the client's credentials or its TLS handshake failed."""


def _env(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


def _secret(name: str, file_variable: str) -> str | None:
    """`name`, or the content of the file `file_variable` names (a mounted Kubernetes secret) without its
    line ending."""
    direct, file_name = os.environ.get(name), _env(file_variable)
    if direct and file_name:
        raise KafkaConfigError(f"{name} and {file_variable} are both set: set only one")
    if file_name:
        try:
            value = Path(file_name).read_text(encoding="utf-8")
        except OSError as exc:
            raise KafkaConfigError(
                f"{file_variable}: cannot read {file_name!r} ({exc.strerror or type(exc).__name__})"
            ) from None
        value = value.strip("\r\n")
        if not value:
            raise KafkaConfigError(f"{file_variable}: {file_name!r} is empty")
        return value
    return direct or None


def _readable_file(name: str) -> str | None:
    path = _env(name)
    if path is not None and not os.access(path, os.R_OK):
        raise KafkaConfigError(f"{name}: {path!r} is not a readable file")
    return path


def security_config() -> dict[str, Any]:
    """The librdkafka security settings from the environment (read now); {} for the PLAINTEXT default."""
    protocol = (_env(PROTOCOL) or "PLAINTEXT").upper()
    if protocol not in PROTOCOLS:
        raise KafkaConfigError(f"{PROTOCOL}: {protocol!r} is not one of {', '.join(PROTOCOLS)}")
    sasl, ssl = protocol.startswith("SASL_"), protocol.endswith("SSL")
    config: dict[str, Any] = {}
    if protocol != "PLAINTEXT":
        config["security.protocol"] = protocol

    if sasl:
        mechanism = (_env(MECHANISM) or "").upper()
        if not mechanism:
            raise KafkaConfigError(
                f"{MECHANISM} must be set when {PROTOCOL} is {protocol} (one of {', '.join(MECHANISMS)})"
            )
        if mechanism not in MECHANISMS:
            raise KafkaConfigError(f"{MECHANISM}: {mechanism!r} is not one of {', '.join(MECHANISMS)}")
        username = _secret(USERNAME, USERNAME_FILE)
        if not username:
            raise KafkaConfigError(f"{USERNAME} (or {USERNAME_FILE}) must be set when {PROTOCOL} is {protocol}")
        password = _secret(PASSWORD, PASSWORD_FILE)
        if not password:
            raise KafkaConfigError(f"{PASSWORD} (or {PASSWORD_FILE}) must be set when {PROTOCOL} is {protocol}")
        config.update({"sasl.mechanism": mechanism, "sasl.username": username, "sasl.password": password})
    else:
        stray = [name for name in SASL_VARIABLES if os.environ.get(name)]
        if stray:
            raise KafkaConfigError(
                f"{stray[0]} is set but {PROTOCOL} is {protocol}: SASL needs "
                f"SASL_PLAINTEXT or SASL_SSL (refusing to connect without the credentials)"
            )

    if ssl:
        ca = _readable_file(CA_LOCATION)
        certificate, key = _readable_file(CERTIFICATE_LOCATION), _readable_file(KEY_LOCATION)
        if bool(certificate) != bool(key):
            missing = KEY_LOCATION if certificate else CERTIFICATE_LOCATION
            raise KafkaConfigError(
                f"{missing} must be set too: mutual TLS needs both {CERTIFICATE_LOCATION} and {KEY_LOCATION}"
            )
        if ca:
            config["ssl.ca.location"] = ca
        if certificate:
            config.update({"ssl.certificate.location": certificate, "ssl.key.location": key})
    else:
        stray = [name for name in SSL_VARIABLES if _env(name)]
        if stray:
            raise KafkaConfigError(f"{stray[0]} is set but {PROTOCOL} is {protocol}: TLS needs SSL or SASL_SSL")
    return config


CLIENT_LOGGER = "hcml.kafka.client"


def client_config(bootstrap: str, **client_specific: Any) -> dict[str, Any]:
    """librdkafka configuration of one client: bootstrap, security from the environment, then its own keys.

    Raises KafkaConfigError for inconsistent security settings (before any connection is tried)."""
    # librdkafka's own lines go through Python logging (the JSON handler and its redaction), not plain text
    # on stderr; the client delivers them from its poll()/flush() calls
    config: dict[str, Any] = {"bootstrap.servers": bootstrap, "logger": logging.getLogger(CLIENT_LOGGER)}
    config.update(security_config())
    config.update(client_specific)
    return config


def describe(config: dict[str, Any]) -> dict[str, Any]:
    """`config` safe to log or show: secret values replaced by `***`."""
    return {
        k: ("***" if ("password" in k or k.endswith(".pem") or "secret" in k) and v else v)
        for k, v in config.items()
        if not callable(v) and not isinstance(v, logging.Logger)
    }


class AuthWatch:
    """An `error_cb` that remembers the first authentication / TLS failure librdkafka reports.

    librdkafka retries a refused login until the caller's own timeout; with the watch a client can stop at
    the first refusal (`raise_if_failed`) and say why, instead of reporting a timeout."""

    def __init__(self, chain: Any = None) -> None:
        self.error: str | None = None
        self._chain = chain
        self._lock = threading.Lock()

    def __call__(self, err: Any) -> None:
        from confluent_kafka import KafkaError

        refused = err.code() in (
            KafkaError._AUTHENTICATION,
            KafkaError._SSL,
            KafkaError.SASL_AUTHENTICATION_FAILED,
            KafkaError.TOPIC_AUTHORIZATION_FAILED,
            KafkaError.CLUSTER_AUTHORIZATION_FAILED,
        )
        # the broker refusing our client certificate reaches librdkafka as a TLS alert on a failed receive
        refused = refused or (err.code() == KafkaError._TRANSPORT and "SSL routines" in (err.str() or ""))
        if refused:
            with self._lock:
                if self.error is None:
                    self.error = err.str()
        if self._chain is not None:
            self._chain(err)

    def raise_if_failed(self, during: str = "") -> None:
        if self.error is not None:
            where = f" ({during})" if during else ""
            raise KafkaAuthenticationError(f"Kafka refused the client{where}: {self.error}")

    @contextlib.contextmanager
    def failures(self, during: str = "", serve: Any = None) -> Iterator[None]:
        """Turn an exception raised while the broker refused the client (a metadata request that timed out,
        say) into `KafkaAuthenticationError` saying so; other exceptions pass unchanged. `serve` (e.g.
        `lambda: consumer.poll(0)`) hands librdkafka's pending error events to the callback first."""
        try:
            yield
        except KafkaAuthenticationError:
            raise
        except Exception as exc:
            if serve is not None and self.error is None:
                try:
                    serve()
                except Exception:
                    pass
            if self.error is None:
                raise
            raise KafkaAuthenticationError(
                f"Kafka refused the client{f' ({during})' if during else ''}: {self.error}"
            ) from exc


def watched(config: dict[str, Any]) -> tuple[dict[str, Any], AuthWatch]:
    """`config` with an `AuthWatch` as its `error_cb` (chaining any `error_cb` already there)."""
    watch = AuthWatch(config.get("error_cb"))
    return {**config, "error_cb": watch}, watch
