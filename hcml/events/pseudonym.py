"""Keyed pseudonyms for patient identifiers (HMAC-SHA256): the raw identifier never leaves the caller.

The key comes from HCML_PSEUDONYM_KEY (read at call time). Without it a random development key is
created once under `data_dir()/secrets/pseudonym.key` (mode 0600) so a fresh clone works; production
sets the variable from a secret, and the same key must be used everywhere that links pseudonyms.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import warnings
from pathlib import Path

from hcml.config import data_dir

PSEUDONYM_RE = r"^[0-9a-f]{64}$"


def _key() -> bytes:
    raw = os.environ.get("HCML_PSEUDONYM_KEY", "")
    if raw:
        return raw.encode("utf-8")
    path = Path(data_dir()) / "secrets" / "pseudonym.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
        try:
            os.link(tmp, path)  # atomic and exclusive: a concurrent first use keeps the key that won
            warnings.warn(f"HCML_PSEUDONYM_KEY is not set: created a development key in {path}", stacklevel=3)
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
    return path.read_text().strip().encode("utf-8")


def pseudonymise(patient_id: str) -> str:
    """The keyed pseudonym (64 hex characters) of a patient identifier; stable for one key."""
    if not isinstance(patient_id, str) or not patient_id.strip():
        raise ValueError("patient_id must be a non-empty string")
    return hmac.new(_key(), patient_id.strip().encode("utf-8"), hashlib.sha256).hexdigest()
