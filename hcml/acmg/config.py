"""The classification's settings: documented defaults, a YAML file (`HCML_ACMG_CONFIG`) and per-gene overrides.

The file (all keys optional) has a `defaults:` mapping and a `genes:` mapping of gene symbol -> overrides:

```yaml
defaults:
  bs1_af: 0.01
genes:
  APP:
    bs1_af: 0.001
    disabled: [BP1]
```

Its canonical sha256 goes into every report's provenance, so a changed setting is a changed report.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import yaml

# The criteria this package evaluates (the rest are listed as not evaluated, hcml.acmg.criteria).
EVALUATED = ("PVS1", "PS1", "PM2", "PM4", "PM5", "PP2", "PP3", "BA1", "BS1", "BP1", "BP4", "BP7")


@dataclass(frozen=True)
class Settings:
    """Thresholds of one gene (the defaults, or a gene's overrides applied to them)."""

    ba1_af: float = 0.05  # BA1: allele frequency above this (Richards 2015: > 5 %)
    bs1_af: float = 0.01  # BS1: above this, "greater than expected for the disorder" (set per gene)
    pm2_max_af: float = 0.0001  # PM2_Supporting: absent, or at most this (ClinGen SVI: supporting strength)
    pvs1_max_loeuf: float = 0.35  # PVS1 mechanism: gnomAD LOEUF below this (gnomAD's LoF-intolerant bin)
    pvs1_min_clinvar_lof: int = 2  # ... or at least this many other ClinVar P/LP null variants in the gene
    pvs1_without_exons: str = "VeryStrong"  # nonsense/frameshift with no exon structure (read from HGVS): NMD
    # assumed, as for most premature stops (set "Strong" to count the unchecked last-exon case against it)
    pvs1_nmd_min_removed: float = 0.10  # NMD escape: PVS1_Strong if more than this share of the protein is lost
    pp2_min_mis_z: float = 3.09  # PP2: gnomAD missense z at least this (missense-constrained gene) ...
    pp2_min_clinvar_missense: int = 2  # ... at least this many other P/LP missense in ClinVar ...
    pp2_max_benign_missense_share: float = 0.10  # ... and at most this share of its labelled missense benign
    bp1_min_clinvar_lof: int = 10  # BP1: at least this many P/LP null variants ...
    bp1_max_missense_share: float = 0.05  # ... and at most this share of the gene's P/LP variants missense
    clinvar_min_stars: int = 1  # ClinVar records used as evidence: review status of at least this many stars
    disabled: tuple[str, ...] = ()  # criteria switched off for the gene (listed as "not evaluated: disabled")


@dataclass(frozen=True)
class AcmgConfig:
    defaults: Settings = field(default_factory=Settings)
    genes: dict[str, Settings] = field(default_factory=dict)
    source: str = "built-in defaults"
    sha256: str = ""

    def for_gene(self, gene: str | None) -> Settings:
        return self.genes.get(gene or "", self.defaults)


_KEYS = {f.name: f.type for f in fields(Settings)}


class AcmgConfigError(ValueError):
    """A configuration file that cannot be used; the message names the file and the key."""


def config_path() -> Path | None:
    """HCML_ACMG_CONFIG, read at call time (unset: the built-in defaults)."""
    raw = os.environ.get("HCML_ACMG_CONFIG", "").strip()
    return Path(raw) if raw else None


def _settings(base: Settings, values: object, where: str) -> Settings:
    if values is None:
        return base
    if not isinstance(values, dict):
        raise AcmgConfigError(f"{where}: expected a mapping of settings, got {type(values).__name__}")
    changes: dict = {}
    for key, value in values.items():
        if key not in _KEYS:
            raise AcmgConfigError(f"{where}.{key}: unknown setting (known: {', '.join(sorted(_KEYS))})")
        if key == "disabled":
            if not isinstance(value, list) or any(c not in EVALUATED for c in value):
                raise AcmgConfigError(
                    f"{where}.disabled: a list of criteria among {', '.join(EVALUATED)}, got {value!r}"
                )
            changes[key] = tuple(value)
        elif key == "pvs1_without_exons":
            if value not in ("VeryStrong", "Strong", "Moderate", "Supporting"):
                raise AcmgConfigError(f"{where}.{key}: one of VeryStrong, Strong, Moderate, Supporting, got {value!r}")
            changes[key] = value
        elif key == "clinvar_min_stars" and "genes." in where:
            raise AcmgConfigError(f"{where}.{key}: a setting of the defaults only (the ClinVar evidence is one table)")
        elif key.endswith(("_min_clinvar_lof", "_min_clinvar_missense", "_stars")):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise AcmgConfigError(f"{where}.{key}: a non-negative integer, got {value!r}")
            changes[key] = value
        else:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise AcmgConfigError(f"{where}.{key}: a number, got {value!r}")
            changes[key] = float(value)
    return replace(base, **changes)


def _digest(defaults: Settings, genes: dict[str, Settings]) -> str:
    body = {"defaults": defaults.__dict__, "genes": {g: s.__dict__ for g, s in sorted(genes.items())}}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=list).encode()).hexdigest()


def parse_config(text: str, source: str) -> AcmgConfig:
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise AcmgConfigError(f"{source}: not valid YAML ({exc})") from None
    if not isinstance(raw, dict) or set(raw) - {"defaults", "genes"}:
        raise AcmgConfigError(f"{source}: expected top-level keys 'defaults' and/or 'genes'")
    defaults = _settings(Settings(), raw.get("defaults"), f"{source}: defaults")
    genes_raw = raw.get("genes") or {}
    if not isinstance(genes_raw, dict):
        raise AcmgConfigError(f"{source}: genes: expected a mapping of gene symbol -> settings")
    genes = {str(g): _settings(defaults, v, f"{source}: genes.{g}") for g, v in genes_raw.items()}
    return AcmgConfig(defaults=defaults, genes=genes, source=source, sha256=_digest(defaults, genes))


_DEFAULT = AcmgConfig(sha256=_digest(Settings(), {}))
_parsed: dict[tuple, AcmgConfig] = {}


def default_config() -> AcmgConfig:
    """The built-in defaults (no HCML_ACMG_CONFIG)."""
    return _DEFAULT


def load_config() -> AcmgConfig:
    """The configuration in force now: HCML_ACMG_CONFIG's file, else the defaults. The variable is read on
    every call; a file is parsed again whenever its size or modification time changes (a request pays a stat)."""
    path = config_path()
    if path is None:
        return _DEFAULT
    try:
        st = path.stat()
        key = (str(path), st.st_mtime_ns, st.st_size)
        cached = _parsed.get(key)
        if cached is not None:
            return cached
        text = path.read_text()
    except OSError as exc:
        raise AcmgConfigError(f"HCML_ACMG_CONFIG={path}: cannot read ({exc.strerror})") from None
    config = parse_config(text, str(path))
    _parsed.clear()
    _parsed[key] = config
    return config
