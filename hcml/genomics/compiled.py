"""hcml's compiled core (`hcml_core`, Rust, rust/hcml_core): the sequence rules that run once per variant or
per variant x transcript pair (genetic code, translation, 3' shifting). Built from source by scripts/setup.sh;
there is no Python fallback (the rules are defined there only)."""

try:
    import hcml_core as core
except ModuleNotFoundError as error:  # pragma: no cover - a broken install
    raise ImportError(
        "hcml's compiled core (module hcml_core, rust/hcml_core) is not installed in this Python: run "
        "scripts/setup.sh, which builds it with maturin (it needs Rust's cargo: https://rustup.rs)"
    ) from error

__all__ = ["core"]
