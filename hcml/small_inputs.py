"""When a call is small enough for the row-by-row twins of the vectorised (polars) steps.

Polars pays roughly 10-15 us per operation whatever the frame's size, and a clinical request of one to a
few dozen variants goes through several hundred such operations (parse, annotate, summarise):
about 10 ms of fixed cost for a few microseconds of real work. The hot steps therefore have a twin written
for a handful of rows (plain Python / numpy over the same bundle indexes and tables) that returns exactly
the same frame. Every twin is held equal to its vectorised form by tests that force each path on the same
real inputs (`forced`) and compare every column; the vectorised form stays the definition.

HCML_SMALL_INPUT_MAX (default 256): calls with at most this many rows (variants, or feature rows) take the
twin; 0 turns the twins off. HCML_SMALL_PATH (default `auto`) forces the choice for every call: `on` (the
twins whatever the size) or `off` (the vectorised forms); tests run with `pytest --small-path=on|off`. The twins stay cheaper than polars up to a few hundred variants (one process,
`bench/realtime_small_inputs.py`: interpret of 100 variants 13.7 -> 4.6 ms CPU, 200: 14.0 -> 7.4 ms, 400: 16.9
-> 13.1 ms, 800: 21.4 -> 24.9 ms), so a clinical panel takes them too.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Literal

_DEFAULT_MAX = 256
_forced: Literal["small", "vectorised"] | None = None


def small_input_max() -> int:
    """HCML_SMALL_INPUT_MAX, read at call time (0 or a negative value: never the twin)."""
    raw = os.environ.get("HCML_SMALL_INPUT_MAX", "")
    try:
        return int(raw) if raw.strip() else _DEFAULT_MAX
    except ValueError:
        raise ValueError(f"HCML_SMALL_INPUT_MAX must be an integer, got {raw!r}") from None


def small_path_setting() -> Literal["auto", "on", "off"]:
    """HCML_SMALL_PATH, read at call time: `auto` (by size), `on` or `off` (forced for every call)."""
    raw = os.environ.get("HCML_SMALL_PATH", "").strip().lower() or "auto"
    if raw not in ("auto", "on", "off"):
        raise ValueError(f"HCML_SMALL_PATH must be auto, on or off, got {raw!r}")
    return raw  # type: ignore[return-value]


def use_small_path(n_rows: int) -> bool:
    """True when a call of `n_rows` rows should take the row-by-row twin."""
    if _forced is not None:
        return _forced == "small"
    setting = small_path_setting()
    if setting != "auto":
        return setting == "on"
    return 0 < n_rows <= small_input_max()


@contextlib.contextmanager
def forced(path: Literal["small", "vectorised"]) -> Iterator[None]:
    """Make every step take `path` whatever the input's size (tests and benchmarks compare the two)."""
    global _forced
    if path not in ("small", "vectorised"):
        raise ValueError(f"path must be 'small' or 'vectorised', got {path!r}")
    previous, _forced = _forced, path
    try:
        yield
    finally:
        _forced = previous
