"""Crypto-shredding: patient data bound for append-only places (Kafka topics, backups) is sealed with a
per-patient data key (AES-256-GCM); erasing the patient deletes the key, and what remains is unreadable.

Keys live in `HCML_KEYSTORE_DIR` (default `$HCML_DATA_DIR/secrets/patient-keys`), one 32-byte file per key
id, mode 0600: in production a mounted volume kept out of every backup (a key in a backup would outlive
the erasure). The key id is the patient's keyed pseudonym; a submission without a patient id uses the key
of its UTC day (`day-YYYY-MM-DD`), which events retention deletes, so those shred on schedule.

A sealed value is text: `hcml-sealed:v1:<key id>:<base64(nonce | ciphertext+tag)>`, with the key id and
the field name as associated data (a sealed value moved to another field or patient does not open).
`seal_text` / `open_text` are the one encrypt / decrypt path: `hcml.events.messages` seals a
submission's payload and sample when it is built and opens them when it is parsed.
"""

from __future__ import annotations

import base64
import os
import secrets
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hcml.config import data_dir

PREFIX = "hcml-sealed:v1:"
_cache: dict[tuple[str, str, str], tuple[str, AESGCM]] = {}  # (keystore, data dir, key id) -> (key file, cipher)


class Shredded(Exception):
    """The value's key was deleted (the patient was erased, or retention ran): it cannot be read."""


def keystore_dir() -> Path:
    return Path(os.environ.get("HCML_KEYSTORE_DIR") or data_dir() / "secrets" / "patient-keys")


def day_key_id(when: datetime | None = None) -> str:
    return "day-" + (when or datetime.now(UTC)).strftime("%Y-%m-%d")


def _key_path(key_id: str) -> Path:
    if not key_id or not all(c.isalnum() or c == "-" for c in key_id):
        raise ValueError("a key id is a pseudonym or day-YYYY-MM-DD")
    return keystore_dir() / f"{key_id}.key"


def _cipher(key_id: str, create: bool) -> AESGCM:
    scope = (os.environ.get("HCML_KEYSTORE_DIR", ""), os.environ.get("HCML_DATA_DIR", ""), key_id)
    cached = _cache.get(scope)  # the variables are read at each call; the paths built once per value
    if cached is not None and (create or os.path.exists(cached[0])):  # a key shredded elsewhere is gone here
        return cached[1]
    path = _key_path(key_id)
    if not path.exists():
        if not create:
            raise Shredded(f"key {key_id[:12]}... is gone: the data it sealed is erased")
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(AESGCM.generate_key(bit_length=256))
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)  # exclusive: concurrent first uses keep one key
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
    try:
        cipher = AESGCM(path.read_bytes())
    except FileNotFoundError:
        raise Shredded(f"key {key_id[:12]}... is gone: the data it sealed is erased") from None
    _cache[scope] = (str(path), cipher)
    return cipher


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def seal_text(key_id: str, field: str, text: str) -> str:
    """Encrypt `text` under the key `key_id` (created on first use)."""
    nonce = secrets.token_bytes(12)
    sealed = _cipher(key_id, create=True).encrypt(nonce, text.encode("utf-8"), f"{key_id}:{field}".encode())
    return f"{PREFIX}{key_id}:{base64.b64encode(nonce + sealed).decode('ascii')}"


def open_text(field: str, value: str) -> str:
    """The plaintext of a sealed value; Shredded when its key is deleted, ValueError when it is damaged."""
    key_id, _, blob = value[len(PREFIX) :].partition(":")
    raw = base64.b64decode(blob, validate=True)
    try:
        return _cipher(key_id, create=False).decrypt(raw[:12], raw[12:], f"{key_id}:{field}".encode()).decode("utf-8")
    except InvalidTag:
        raise ValueError(f"{field}: sealed value does not authenticate (damaged, or moved from elsewhere)") from None


def shred(key_id: str) -> bool:
    """Delete a data key (overwritten first); True when there was one."""
    path = _key_path(key_id)
    for scope in [s for s in _cache if s[2] == key_id]:
        _cache.pop(scope, None)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return False
    with open(path, "r+b") as fh:
        fh.write(secrets.token_bytes(size))
        fh.flush()
        os.fsync(fh.fileno())
    path.unlink()
    return True


def key_ids() -> list[str]:
    root = keystore_dir()
    return sorted(p.stem for p in root.glob("*.key")) if root.is_dir() else []
