"""`hcml serve` with parse + interpret replaced by a fixed CPU cost: the request path and scheduling measured
as they will be once `interpret` is cheap, before it is.

    HCML_BENCH_SIMULATE_MS=2 HCML_BENCH_SIMULATE_STRINGS=strings.json \\
        .venv/bin/python bench/realtime_simulated_server.py serve --port 8000

Used by `bench/realtime_latency.py --simulate-interpret-ms X`. Before serving, every variant string of
`strings.json` (what the load generator will send) is parsed and interpreted once, for real and in one
vectorised call, and each variant's rows are kept. Then `parse_variant_strings` and `interpret` answer from
those rows (the same frames the real calls give, so rendering, JSON and the batcher's splitting work on
real shapes) after holding the GIL in a busy loop for the simulated CPU time: X ms for a call of one variant
(30 % of it in parsing, 70 % in interpret), plus 0.1 ms per further variant (a 100-variant call: X + 9.9 ms,
about what the vectorised polars path costs). Inputs not prepared take the real code.
HCML_BENCH_SWITCH_INTERVAL_MS sets `sys.setswitchinterval` in the server process (default: Python's 5 ms).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

EXTRA_MS_PER_VARIANT = 0.1
PARSE_SHARE = 0.3


def _spin(ms: float) -> None:
    end = time.process_time() + ms / 1000
    while time.process_time() < end:
        pass


def install(strings: list[str], total_ms: float) -> None:
    import polars as pl

    import hcml.interpret as interpret_module
    from hcml.config import bundle_dir
    from hcml.genomics import inputs
    from hcml.genomics.bundle import ReferenceBundle
    from hcml.ml.serving import load_scorer

    real_parse = inputs.parse_variant_strings
    real_interpret = interpret_module.interpret
    order_by_severity = interpret_module.order_by_severity
    bundle = ReferenceBundle.load(bundle_dir())
    strings = list(dict.fromkeys(strings))
    parsed_all = real_parse(strings, bundle)
    whole = real_interpret(parsed_all, bundle, load_scorer())
    variants = parsed_all.variants
    by_row = {r: s for r, s in zip(variants["row"].to_list(), variants["variant_id"].to_list())}
    empty_rejects = parsed_all.rejects.clear()
    variant_rows = {by_row[k[0]]: f for k, f in variants.partition_by("row", as_dict=True).items()}
    annotation_rows = {by_row[k[0]]: f for k, f in whole.annotations.partition_by("row", as_dict=True).items()}
    summary_rows = {by_row[k[0]]: f for k, f in whole.summary.partition_by("row", as_dict=True).items()}
    ready = set(variant_rows) & set(annotation_rows) & set(summary_rows)

    def cost(n: int) -> float:
        return total_ms + EXTRA_MS_PER_VARIANT * max(0, n - 1)

    def renumber(frames: list[pl.DataFrame], rows: list[int]) -> pl.DataFrame:
        dtype = frames[0].schema["row"]
        return pl.concat([f.with_columns(pl.lit(r, dtype=dtype).alias("row")) for f, r in zip(frames, rows)])

    def parse_variant_strings(items, bundle_, *args, **kwargs):
        items = list(items)
        if not items or args or kwargs or any(s not in ready for s in items):
            return real_parse(items, bundle_, *args, **kwargs)
        _spin(cost(len(items)) * PARSE_SHARE)
        frames = [variant_rows[s] for s in items]
        v = renumber(frames, list(range(len(items))))
        v = v.with_columns(pl.Series("line", range(1, len(items) + 1), dtype=v.schema["line"]))
        return inputs.ParsedInput(variants=v, rejects=empty_rejects, n_input=len(items), kind="variants")

    def interpret(parsed, bundle_, scorer):
        v = parsed.variants
        ids = v["variant_id"].to_list() if v.height else []
        if not ids or any(i not in ready for i in ids):
            return real_interpret(parsed, bundle_, scorer)
        _spin(cost(len(ids)) * (1 - PARSE_SHARE))
        rows = v["row"].to_list()
        annotations = renumber([annotation_rows[i] for i in ids], rows)
        summary = renumber([summary_rows[i] for i in ids], rows)
        if len(ids) > 1:
            summary = order_by_severity(summary)
        return interpret_module.Interpretation(annotations=annotations, summary=summary, rejects=parsed.rejects)

    inputs.parse_variant_strings = parse_variant_strings
    interpret_module.interpret = interpret


def main() -> None:
    total_ms = float(os.environ["HCML_BENCH_SIMULATE_MS"])
    strings = json.loads(Path(os.environ["HCML_BENCH_SIMULATE_STRINGS"]).read_text())
    started = time.perf_counter()
    install(strings, total_ms)
    print(f"simulated parse + interpret: {total_ms} ms a variant, {len(strings)} strings prepared in "
          f"{time.perf_counter() - started:.1f} s", file=sys.stderr)
    switch = os.environ.get("HCML_BENCH_SWITCH_INTERVAL_MS")
    if switch:
        sys.setswitchinterval(float(switch) / 1000)
    from realtime.cli import serve

    serve.main(args=sys.argv[2:] if sys.argv[1:2] == ["serve"] else sys.argv[1:], prog_name="hcml serve")


if __name__ == "__main__":
    main()
