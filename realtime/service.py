"""The warm state of the service (reference bundle + scorer) and the in-process interpretation path.

Loaded once at start (import + load well under 2 s, see bench/realtime_startup.py); the scorer is swapped
atomically when the MLflow `champion` alias moves, so requests in flight finish on the model they started with.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from hcml import __version__ as HCML_VERSION
from hcml.config import bundle_dir

log = logging.getLogger("hcml.realtime.service")

FREQUENCY_FIELDS = ("af", "afr_af", "amr_af", "eas_af", "eur_af", "sas_af", "gnomade_af")
SUMMARY_FIELDS = (
    "variant_id",
    "chrom",
    "pos",
    "ref",
    "alt",
    "most_severe_consequence",
    "severity_rank",
    "impact",
    "gene_id",
    "gene_symbol",
    "transcript_id",
    "biotype",
    "canonical",
    "hgvsc",
    "hgvsp",
    "hgvsg",
    "cdna_position",
    "cds_position",
    "protein_position",
    "amino_acids",
    "codons",
    "exon",
    "intron",
    "existing_variation",
    "clin_sig",
    "pathogenicity_score",
    "acmg_class",
    "acmg_points",
    "acmg_criteria",
    "acmg_evidence",
    "acmg_not_evaluated",
    "acmg_richards_class",
    "acmg_rules_agree",
)
CONSEQUENCE_FIELDS = (
    "Feature",
    "Feature_type",
    "Gene",
    "SYMBOL",
    "BIOTYPE",
    "CANONICAL",
    "Consequence",
    "IMPACT",
    "cDNA_position",
    "CDS_position",
    "Protein_position",
    "Amino_acids",
    "Codons",
    "EXON",
    "INTRON",
    "HGVSc",
    "HGVSp",
    "DISTANCE",
    "STRAND",
    "FLAGS",
)


class RequestTooLarge(Exception):
    """More variants or bases than a synchronous request may carry (answered 413)."""


class NothingToAnnotate(Exception):
    """Every input record was rejected (answered 422 with the rejects)."""

    def __init__(self, rejects: list[dict[str, Any]]) -> None:
        super().__init__("no variant could be read from the input")
        self.rejects = rejects


@dataclass
class ServiceState:
    bundle: Any = None
    scorer: Any = None
    bundle_path: Path | None = None
    loaded_at: float = 0.0
    load_seconds: float = 0.0
    scorer_error: str | None = None
    bundle_error: str | None = None
    results: OrderedDict[str, tuple[dict[str, Any], int]] = field(default_factory=OrderedDict)
    results_cap: int = 1000
    results_max_bytes: int = 64 << 20
    results_bytes: int = 0
    batcher: Any = None
    inline: Any = None  # realtime.batching.InlinePolicy: which small requests skip the batcher
    cache: Any = None
    warmup_seconds: float = 0.0
    _bundle_info: dict[str, Any] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def ready(self) -> bool:
        return self.bundle is not None

    def model_info(self) -> dict[str, Any] | None:
        scorer = self.scorer
        if scorer is None:
            return None
        return {
            "name": str(getattr(scorer, "model_name", "unknown")),
            "version": str(getattr(scorer, "model_version", "unknown")),
        }

    def bundle_info(self) -> dict[str, Any] | None:
        if self.bundle is None:
            return None
        if self._bundle_info is not None:
            return self._bundle_info
        manifest = getattr(self.bundle, "manifest", {}) or {}
        self._bundle_info = {
            "bundle_sha256": manifest.get("bundle_sha256"),
            "built_at": manifest.get("built_at"),
            "sources": {
                name: {"sha256": s.get("sha256"), "version": s.get("version")}
                for name, s in (manifest.get("sources") or {}).items()
            },
        }
        return self._bundle_info

    def remember(self, result_id: str, record: dict[str, Any], size: int | None = None) -> None:
        """Keep a result for its provenance link, the oldest dropped past `results_cap` entries or
        `results_max_bytes` bytes (a result larger than the whole budget is not kept). `size`: its JSON bytes
        or an upper bound of them (computed here when not given)."""
        size = json_bytes(record) if size is None else size
        if size > self.results_max_bytes:
            return
        with self._lock:
            self.results[result_id] = (record, size)
            self.results_bytes += size
            while len(self.results) > self.results_cap or self.results_bytes > self.results_max_bytes:
                self.results_bytes -= self.results.popitem(last=False)[1][1]

    def recall(self, result_id: str) -> dict[str, Any] | None:
        with self._lock:
            entry = self.results.get(result_id)
            return entry[0] if entry is not None else None


def json_bytes(value: Any) -> int:
    """Bytes of `value` as JSON: what a cached answer costs, to within Python's per-object overhead."""
    return len(json.dumps(value, separators=(",", ":"), default=str))


def load_state(path: Path | None = None, results_cap: int = 1000, results_max_bytes: int = 64 << 20) -> ServiceState:
    """Load the bundle and the scorer. A missing model leaves scores null rather than the service down."""
    start = time.perf_counter()
    state = ServiceState(results_cap=results_cap, results_max_bytes=results_max_bytes)
    state.bundle_path = Path(path) if path else bundle_dir()
    try:
        from hcml.genomics.bundle import ReferenceBundle

        state.bundle = ReferenceBundle.load(state.bundle_path)
    except Exception as exc:  # reported by /readyz; the service is not ready without a bundle
        state.bundle_error = f"{type(exc).__name__}: {exc}"
    state.scorer, state.scorer_error = load_scorer_safely()
    state.load_seconds = time.perf_counter() - start
    state.loaded_at = time.time()
    return state


def warm_up(state: ServiceState, cache_size: int = 100_000, cache_bytes: int = 128 << 20) -> None:
    """Start the batcher and annotate one real variant, so the first clinical request finds every lazy
    import done and every index of the bundle built."""
    from realtime.batching import InlinePolicy, InterpretBatcher

    if state.bundle is None:
        return
    start = time.perf_counter()
    if state.inline is None:
        state.inline = InlinePolicy()
    state.batcher = state.batcher or InterpretBatcher(state.bundle, on_lone=state.inline.observe)
    if state.cache is None and cache_size > 0:
        state.cache = VariantCache(cache_size, cache_bytes)
    try:
        tx = state.bundle.transcripts.filter(pl.col("cds_start").is_not_null()).row(0, named=True)
        pos = int(tx["cds_start"])
        ref = state.bundle.fetch(tx["chrom"], pos, pos)
        alt = "A" if ref != "A" else "G"
        interpret_request(state, variants=[f"{tx['chrom']}-{pos}-{ref}-{alt}"], remember=False)
        # the first call paid the lazy imports: time a second, warm one for the inline decision
        state.inline.estimate_ms = None
        alt = "C" if ref not in "AC" else "T"
        interpret_request(state, variants=[f"{tx['chrom']}-{pos}-{ref}-{alt}"], remember=False)
    except Exception as exc:  # a bundle without coding transcripts still serves
        log.warning("warm-up request failed", extra={"error": type(exc).__name__})
    state.warmup_seconds = time.perf_counter() - start


def load_scorer_safely() -> tuple[Any, str | None]:
    try:
        from hcml.ml.serving import load_scorer

        return load_scorer(), None
    except Exception as exc:
        return None, f"{type(exc).__name__}: {exc}"


# ------------------------------------------------------------------------------------------- parsing
def parse_request(
    state: ServiceState,
    *,
    variants: list[str] | None,
    vcf: str | None,
    sequence: str | None,
    max_variants: int,
    max_sequence: int,
) -> tuple[Any, str]:
    """ParsedInput for one of the three input kinds, with the size limits of the synchronous path."""
    from hcml.genomics import inputs

    if variants is not None:
        if len(variants) > max_variants:
            raise RequestTooLarge(
                f"{len(variants)} variants in 'variants': the synchronous limit is {max_variants}; "
                "queue larger inputs with POST /v1/submissions"
            )
        return inputs.parse_variant_strings(variants, state.bundle), "variants"
    if vcf is not None:
        # bytes, never str: a str without a newline would be read as a server-side path
        parsed = inputs.read_vcf(vcf.encode("utf-8"), state.bundle)
        if parsed.n_input > max_variants:
            raise RequestTooLarge(
                f"{parsed.n_input} alleles in 'vcf': the synchronous limit is {max_variants}; "
                "queue larger VCFs with POST /v1/submissions"
            )
        return parsed, "vcf"
    assert sequence is not None
    if len(sequence) > max_sequence:
        raise RequestTooLarge(f"'sequence' has {len(sequence)} characters: the limit is {max_sequence}")
    return inputs.call_sequence(sequence, state.bundle), "sequence"


def payload_text(variants: list[str] | None, vcf: str | None, sequence: str | None) -> str:
    """The input as one text (what the audit copy of a synchronous submission carries)."""
    if variants is not None:
        return "\n".join(variants)
    return vcf if vcf is not None else (sequence or "")


def input_digest(variants: list[str] | None, vcf: str | None, sequence: str | None) -> str:
    """sha256 of the input as received: provenance can name it without storing it."""
    h = hashlib.sha256()
    if variants is not None:
        h.update("\n".join(variants).encode())
    elif vcf is not None:
        h.update(vcf.encode())
    elif sequence is not None:
        h.update(sequence.encode())
    return h.hexdigest()


# ------------------------------------------------------------------------------------------ rendering
def rejects_records(rejects: pl.DataFrame | None) -> list[dict[str, Any]]:
    if rejects is None or rejects.height == 0:
        return []
    cols = [c for c in ("line", "variant_id", "field", "reason", "text") if c in rejects.columns]
    return rejects.select(cols).to_dicts()


def _column_values(frame: pl.DataFrame, name: str) -> list[Any]:
    """A column as Python values, NaN and infinities as None (JSON has neither; only float columns hold them)."""
    series = frame.get_column(name)
    values = series.to_list()
    if series.dtype.is_float():
        return [None if v is not None and not math.isfinite(v) else v for v in values]
    return values


def variant_records(interpretation: Any) -> list[dict[str, Any]]:
    """One JSON object per variant (summary fields, frequencies, score) with its per-feature consequences.

    Read column by column (`Series.to_list`, ~1 us each) rather than through `select(...).to_dicts()`
    (~90 us of polars planning per select for a one-variant answer), and NaN/inf cleaned in float columns
    only: the same Python values, in the same order (tests/realtime/test_request_path.py holds the two equal
    on real interpretations)."""
    summary: pl.DataFrame = interpretation.summary
    if summary.height == 0:
        return []
    annotations: pl.DataFrame = interpretation.annotations
    per_row: dict[int, list[dict[str, Any]]] = {}
    present = set(annotations.columns)  # `.columns` builds a new list on every call
    cons_cols = [c for c in CONSEQUENCE_FIELDS if c in present]
    if annotations.height and "row" in present:
        rows = annotations.get_column("row").to_list()
        values = zip(*(_column_values(annotations, c) for c in cons_cols)) if cons_cols else [()] * len(rows)
        for row, vals in zip(rows, values):
            per_row.setdefault(row, []).append(dict(zip(cons_cols, vals)))
    present = set(summary.columns)
    fields = [c for c in SUMMARY_FIELDS if c in present]
    freqs = [c for c in FREQUENCY_FIELDS if c in present]
    n = summary.height
    field_values = zip(*(_column_values(summary, c) for c in fields)) if fields else [()] * n
    freq_values = zip(*(_column_values(summary, c) for c in freqs)) if freqs else [()] * n
    rows = summary.get_column("row").to_list() if "row" in present else [None] * n
    out = []
    for row, vals, fvals in zip(rows, field_values, freq_values):
        item = dict(zip(fields, vals))
        item["frequencies"] = dict(zip(freqs, fvals))
        item["consequences"] = per_row.get(row, [])
        out.append(item)
    return out


class VariantCache:
    """Answers per variant string, for one (bundle, model): a string seen before skips parsing, annotation
    and scoring. Clinical queries repeat (the same pathogenic variants, the same common SNPs); the answer
    for a string depends only on the bundle and the model, which are part of the key."""

    def __init__(self, capacity: int = 100_000, max_bytes: int = 128 << 20) -> None:
        self.capacity = capacity
        self.max_bytes = max_bytes
        self.bytes = 0
        self._entries: OrderedDict[tuple, tuple[tuple[str, dict[str, Any]], int]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple) -> tuple[str, dict[str, Any]] | None:
        sized = self.get_sized(key)
        return sized[0] if sized is not None else None

    def get_sized(self, key: tuple) -> tuple[tuple[str, dict[str, Any]], int] | None:
        """(value, JSON bytes of its payload), or None."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
                self.hits += 1
                return entry[0], entry[1] - len(key[1])
            self.misses += 1
            return None

    def put(self, key: tuple, value: tuple[str, dict[str, Any]], size: int | None = None) -> None:
        """Keep `value` (`size`: JSON bytes of its payload, computed here when not given), the least recently
        used dropped past `capacity` entries or `max_bytes` bytes."""
        size = (json_bytes(value[1]) if size is None else size) + len(key[1])
        if size > self.max_bytes:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self.bytes -= old[1]
            self._entries[key] = (value, size)
            self.bytes += size
            while len(self._entries) > self.capacity or self.bytes > self.max_bytes:
                self.bytes -= self._entries.popitem(last=False)[1][1]

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: tuple) -> bool:
        with self._lock:
            return key in self._entries


def _cache_generation(state: ServiceState, scorer: Any) -> tuple:
    """The part of a cache key that names what answered: the bundle and the model."""
    from hcml.acmg.config import load_config

    return (
        (state.bundle_info() or {}).get("bundle_sha256"),
        str(getattr(scorer, "model_version", "")),
        load_config().sha256,
    )


def answer_inline(state: ServiceState, variants: list[str] | None) -> bool:
    """Should this request be answered on the calling thread (the event loop) rather than through the batcher?
    Yes for a few variant strings while such requests are cheap (`InlinePolicy`), and for strings all
    answered by the variant cache (microseconds of work)."""
    if variants is None or state.inline is None:
        return False
    if state.cache is not None and 0 < len(variants) <= state.inline.max_cached:
        generation = _cache_generation(state, state.scorer)
        if all((generation, v.strip()) in state.cache for v in variants):
            state.inline.inline += 1
            return True
    return state.inline.allows(len(variants))


def _interpret_parsed(state: ServiceState, parsed: Any, scorer: Any, use_batcher: bool = True) -> list[dict[str, Any]]:
    from hcml.interpret import interpret

    if parsed.variants.height == 0:
        return []
    if state.batcher is not None and use_batcher:
        interpretation = state.batcher.interpret(parsed, scorer)
    else:
        interpretation = interpret(parsed, state.bundle, scorer)
    return variant_records(interpretation)


def _sort_records(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Most severe first, then highest score, then input order (the order of hcml.interpret)."""
    worst = 1 << 30
    return sorted(
        records,
        key=lambda r: (
            r.get("severity_rank") if r.get("severity_rank") is not None else worst,
            -float(r["pathogenicity_score"]) if r.get("pathogenicity_score") is not None else 1.0,
        ),
    )


def _variant_strings_cached(
    state: ServiceState,
    variants: list[str],
    scorer: Any,
    max_variants: int,
    progress: Any,
    inline: bool = False,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int, int] | None:
    """(records, rejects, n_input, answer bytes) for variant strings: the cache (if on) answers what it knows, the rest is
    parsed with the other requests waiting (batcher; `inline`: on this thread) and interpreted; None to take
    the plain path."""
    from hcml.genomics import inputs

    items = [v.strip() for v in variants]
    if any(not v or v.startswith("#") for v in items):
        return None  # the reader drops those and renumbers: leave such inputs to it
    if len(items) > max_variants:
        raise RequestTooLarge(
            f"{len(items)} variants in 'variants': the synchronous limit is {max_variants}; "
            "queue larger inputs with POST /v1/submissions"
        )
    generation = _cache_generation(state, scorer)
    known: dict[str, tuple[str, dict[str, Any]]] = {}
    sizes: dict[str, int] = {}  # JSON bytes per answer: sized once, on the miss that computed it
    missing: list[str] = []
    for item in dict.fromkeys(items):
        sized = state.cache.get_sized((generation, item)) if state.cache is not None else None
        if sized is None:
            missing.append(item)
        else:
            known[item], sizes[item] = sized
    if missing:
        if state.batcher is not None and not inline:  # parsed together with the other requests waiting
            interpretation = state.batcher.interpret_strings(missing, scorer)
            n_parsed = interpretation.summary.height + interpretation.rejects.height
            interpreted = variant_records(interpretation)
            parsed_rejects = interpretation.rejects
        else:
            began = time.perf_counter()
            parsed = inputs.parse_variant_strings(missing, state.bundle)
            n_parsed = parsed.variants.height + parsed.rejects.height
            interpreted = _interpret_parsed(state, parsed, scorer, use_batcher=not inline)
            parsed_rejects = parsed.rejects
            if inline and state.inline is not None:
                state.inline.observe(len(missing), time.perf_counter() - began)
        if n_parsed != len(missing):
            return None  # one string gave several variants: not cacheable per string
        found: dict[str, tuple[str, dict[str, Any]]] = {}
        for rej in rejects_records(parsed_rejects):
            found[missing[int(rej["line"]) - 1]] = ("reject", rej)
        if progress:
            progress("parsed", n_variants=len(interpreted), n_rejects=len(found))
        for rec in interpreted:
            found[rec["variant_id"]] = ("variant", rec)
        if set(found) != set(missing):
            return None  # the reader named a variant otherwise than as given
        for item, entry in found.items():
            sizes[item] = json_bytes(entry[1])
            if state.cache is not None:
                state.cache.put((generation, item), entry, sizes[item])
        known.update(found)
    elif progress:
        progress("parsed", n_variants=len(items), n_rejects=0)
    records, rejects = [], []
    for i, item in enumerate(items, start=1):
        kind, payload = known[item]
        if kind == "variant":
            records.append(dict(payload))
        else:
            rejects.append({**payload, "line": i})
    return _sort_records(records), rejects, len(items), sum(sizes[item] for item in items)


def acmg_record(scorer: Any) -> dict[str, Any]:
    """The classification's version, configuration sha256, PP3/BP4 thresholds and the criteria never evaluated."""
    from hcml.acmg.classify import provenance_record

    return provenance_record(model=scorer)


def interpret_request(
    state: ServiceState,
    *,
    variants: list[str] | None = None,
    vcf: str | None = None,
    sequence: str | None = None,
    max_variants: int = 1000,
    max_sequence: int = 100_000,
    progress: Any = None,
    remember: bool = True,
    inline: bool = False,
    owner: str | None = None,
) -> dict[str, Any]:
    """Parse, annotate and score one synchronous request; the JSON answer of POST /v1/annotate.

    `progress(stage, **counts)` is called after each step (the WebSocket pushes it to the page).
    `inline`: do the work on the calling thread instead of handing it to the batcher (a small request while
    `InlinePolicy` says it is cheap); the answer is the same either way. `owner`: the subject who may read the
    remembered result back (GET /v1/results/{id}), besides an admin.
    """
    start = time.perf_counter()
    scorer = state.scorer  # one model for the whole request, even if the alias moves meanwhile
    cached = None
    if variants is not None and (state.cache is not None or state.batcher is not None):
        cached = _variant_strings_cached(state, variants, scorer, max_variants, progress, inline=inline)
    if cached is not None:
        records, rejects, n_input, answer_bytes = cached
        kind = "variants"
        if not records and rejects:
            raise NothingToAnnotate(rejects)
    else:
        parsed, kind = parse_request(
            state, variants=variants, vcf=vcf, sequence=sequence, max_variants=max_variants, max_sequence=max_sequence
        )
        rejects = rejects_records(parsed.rejects)
        n_variants = parsed.variants.height
        n_input = int(getattr(parsed, "n_input", n_variants + len(rejects)))
        if progress:
            progress("parsed", n_variants=n_variants, n_rejects=len(rejects))
        if n_variants == 0 and rejects:  # every record was bad; a clean input with no variant is a valid answer
            raise NothingToAnnotate(rejects)
        records = _interpret_parsed(state, parsed, scorer, use_batcher=not inline)
        answer_bytes = json_bytes(records) + json_bytes(rejects)
    if progress:
        progress("annotated", n_variants=len(records), n_rejects=len(rejects))
    result_id = uuid.uuid4().hex
    model = (
        {
            "name": str(getattr(scorer, "model_name", "unknown")),
            "version": str(getattr(scorer, "model_version", "unknown")),
        }
        if scorer is not None
        else None
    )
    bundle_info = state.bundle_info()
    provenance = {
        "result_id": result_id,
        "created_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "input_kind": kind,
        "input_sha256": input_digest(variants, vcf, sequence),
        "n_input": n_input,
        "n_variants": len(records),
        "n_rejects": len(rejects),
        "bundle": bundle_info,
        "model": model,
        "hcml_version": HCML_VERSION,
        "path": "realtime",
        "classification": acmg_record(scorer),
    }
    body = {
        "result_id": result_id,
        "input_kind": kind,
        "n_variants": len(records),
        "n_rejects": len(rejects),
        "variants": records,
        "rejects": rejects,
        "model": model,
        "bundle_sha256": (bundle_info or {}).get("bundle_sha256"),
        "provenance_url": f"/v1/results/{result_id}/provenance",
        "acmg": provenance["classification"],
        "elapsed_ms": round((time.perf_counter() - start) * 1000, 3),
    }
    if remember:
        # sized without serialising the variants again: theirs were sized once, on the miss that computed them
        rest = {k: v for k, v in body.items() if k not in ("variants", "rejects")}
        size = answer_bytes + len(records) + len(rejects) + json_bytes(rest) + json_bytes(provenance) + 64
        state.remember(result_id, {"provenance": provenance, "result": body, "owner": owner}, size)
    return body
