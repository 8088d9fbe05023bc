"""Dynamic batching of concurrent requests into one `interpret` call.

Annotating and scoring have a fixed cost per call (polars plans, joins, feature frames) that dwarfs the
cost per variant for the one-to-a-hundred-variant requests of the clinic. One worker thread takes whatever
requests are waiting, annotates them together and hands each its own rows back. Nothing waits on purpose:
at low load a batch is a single request; under load the batch forms while the previous one runs, so the
fixed cost is paid once per batch instead of once per request (and the GIL is not fought over by
threads doing the same work). Each variant's annotation and score do not depend on the other variants
in its batch (tests/realtime/test_batching.py checks batched == alone).
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

log = logging.getLogger("hcml.realtime.batching")


@dataclass
class _Job:
    parsed: Any  # a ParsedInput, or None for variant strings still to parse (`strings`)
    scorer: Any
    future: Future
    strings: list[str] | None = None

    @property
    def size(self) -> int:
        return len(self.strings) if self.strings is not None else self.parsed.variants.height


class InlinePolicy:
    """Which small requests are answered on the event loop itself instead of through the batcher.

    The batcher pays for itself when `interpret`'s fixed cost per call is large (~10 ms with polars alone):
    under load it shares that cost between the requests waiting. Once a small call costs a couple of
    milliseconds (the row-by-row twins of hcml.small_inputs), the hand-offs cost more than they save: the
    request thread, the batcher thread and the event loop pass the GIL back and forth (each wait up to
    `sys.getswitchinterval()`), and a lone request gains nothing from a batch; nor do concurrent small
    requests, whose combined batch can cross into the vectorised size (8 requests of 10 variants in flight:
    4.4 ms CPU a request through the batcher, 3.0 ms inline one by one). So a request of at most
    `max_variants` variant strings is done inline when the recent cost of such a request (parse + interpret,
    wall time, exponentially averaged over both paths) is at most `max_ms`; otherwise it goes to the batcher
    as before. Also while the batcher is busy with a panel: single variants at 200/s beside 100-variant
    panels at 20/s waited for the panel in the batcher (p50 8.7-9.4 ms, p99 35-48 ms); inline they share the
    GIL with it (p50 3.2-3.6 ms, p99 6.7-10.8 ms when the process is not saturated; docs/realtime.md). The
    answer is the same either way (tests/realtime/test_request_path.py).

    HCML_REALTIME_INLINE_MAX_VARIANTS (default: 32, or HCML_SMALL_INPUT_MAX when smaller -- the row-by-row
    twins take panels of a few hundred variants, but a panel's 5-8 ms on the event loop would hold up the
    single variants behind it, so panels go to the batcher thread; 0 turns inline answers off) and HCML_REALTIME_INLINE_MAX_MS (default 8 ms: a twin-sized request costs
    2-6 ms, the polars forms alone ~10 ms or more), read when the service starts.
    """

    ALPHA = 0.2  # weight of the newest observation

    def __init__(self, max_variants: int | None = None, max_ms: float | None = None) -> None:
        if max_variants is None:
            from hcml.small_inputs import small_input_max

            max_variants = _env_number("HCML_REALTIME_INLINE_MAX_VARIANTS", min(32, small_input_max()), int)
        self.max_variants = max_variants
        self.max_ms = _env_number("HCML_REALTIME_INLINE_MAX_MS", 8.0, float) if max_ms is None else max_ms
        self.max_cached = 1000  # strings all answered by the variant cache: inline up to this many
        self.estimate_ms: float | None = None  # None until a small request has been timed
        self.inline = 0
        self.handed_over = 0

    def observe(self, n_variants: int, seconds: float) -> None:
        """The cost of one small request's parse + interpret, done alone (inline or a batch of one)."""
        if not 0 < n_variants <= self.max_variants:
            return
        ms = seconds * 1000
        self.estimate_ms = ms if self.estimate_ms is None else self.estimate_ms + self.ALPHA * (ms - self.estimate_ms)

    def allows(self, n_variants: int) -> bool:
        ok = 0 < n_variants <= self.max_variants and self.estimate_ms is not None and self.estimate_ms <= self.max_ms
        if ok:
            self.inline += 1
        else:
            self.handed_over += 1
        return ok


def _env_number(name: str, default: Any, parse: Callable[[str], Any]) -> Any:
    raw = os.environ.get(name, "")
    if not raw.strip():
        return default
    try:
        return parse(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {raw!r}") from None


class InterpretBatcher:
    def __init__(
        self, bundle: Any, max_variants: int = 2000, on_lone: Callable[[int, float], None] | None = None
    ) -> None:
        self.bundle = bundle
        self.max_variants = max_variants
        self.on_lone = on_lone  # (variants, seconds) of each batch of one request (InlinePolicy.observe)
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="hcml-interpret-batcher", daemon=True)
        self._thread.start()
        self.batches = 0
        self.requests = 0

    def _submit(self, job: _Job) -> Any:
        self._queue.put(job)
        return job.future.result()

    def interpret(self, parsed: Any, scorer: Any) -> Any:
        """The Interpretation of `parsed` (blocks the calling thread until its batch is done)."""
        return self._submit(_Job(parsed, scorer, Future()))

    def interpret_strings(self, strings: list[str], scorer: Any) -> Any:
        """Parse variant strings (with the other requests waiting) and interpret them: an Interpretation
        whose `rejects` carry `line` = the 1-based index in `strings`. No blank or '#' items."""
        return self._submit(_Job(None, scorer, Future(), strings=list(strings)))

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _take_batch(self, first: _Job) -> list[_Job]:
        batch, n = [first], first.size
        while n < self.max_variants:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if job is None:
                self._queue.put(None)  # stop after this batch
                break
            if job.scorer is not first.scorer:  # the model was swapped: keep batches on one model
                self._run_batch([job])
                continue
            batch.append(job)
            n += job.size
        return batch

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            self._run_batch(self._take_batch(first))

    def _parse_strings(self, batch: list[_Job]) -> None:
        """One reader call for every string job of the batch; each job gets its own ParsedInput back."""
        jobs = [j for j in batch if j.strings is not None]
        if not jobs:
            return
        if len(jobs) == 1:  # nothing to share: the reader alone (splitting one request's rows cost ~0.7 ms)
            from hcml.genomics import inputs

            try:
                jobs[0].parsed = inputs.parse_variant_strings(jobs[0].strings, self.bundle)
            except BaseException as exc:  # noqa: BLE001 - handed to the request that caused it
                jobs[0].future.set_exception(exc)
            return
        try:
            for job, parsed in zip(jobs, parse_many([j.strings for j in jobs], self.bundle)):
                job.parsed = parsed
        except Exception:  # one bad request must not fail the others: parse each alone
            from hcml.genomics import inputs

            for job in jobs:
                try:
                    job.parsed = inputs.parse_variant_strings(job.strings, self.bundle)
                except BaseException as exc:  # noqa: BLE001 - handed to the request that caused it
                    job.future.set_exception(exc)

    def _run_batch(self, batch: list[_Job]) -> None:
        from hcml.interpret import interpret

        began = time.perf_counter()
        self._parse_strings(batch)
        batch = [j for j in batch if not j.future.done()]
        if not batch:
            return
        self.batches += 1
        self.requests += len(batch)
        if len(batch) == 1:
            job = batch[0]
            try:
                result = interpret(job.parsed, self.bundle, job.scorer)
            except BaseException as exc:  # noqa: BLE001 - handed to the request that caused it
                job.future.set_exception(exc)
                return
            if self.on_lone is not None:
                self.on_lone(job.size, time.perf_counter() - began)
            job.future.set_result(result)
            return
        try:
            results = interpret_many([j.parsed for j in batch], self.bundle, batch[0].scorer)
        except Exception:  # one bad request must not fail the others: answer each alone
            log.warning("batched interpretation failed; answering each request alone")
            for job in batch:
                try:
                    job.future.set_result(interpret(job.parsed, self.bundle, job.scorer))
                except BaseException as exc:  # noqa: BLE001
                    job.future.set_exception(exc)
            return
        for job, result in zip(batch, results):
            job.future.set_result(result)


@dataclass(frozen=True)
class _Combined:
    variants: pl.DataFrame
    rejects: pl.DataFrame


def interpret_many(parsed_inputs: list[Any], bundle: Any, scorer: Any) -> list[Any]:
    """Interpret several parsed inputs in one call; each gets back exactly its own rows."""
    from hcml.interpret import Interpretation, interpret

    frames, bounds, offset = [], [], 0
    for parsed in parsed_inputs:
        v = parsed.variants
        frames.append(v.with_columns((pl.col("row").cast(pl.Int64) + offset).cast(v.schema["row"]).alias("row")))
        bounds.append((offset, offset + v.height))
        offset += v.height
    combined = pl.concat(frames, how="vertical_relaxed") if frames else pl.DataFrame()
    whole = interpret(_Combined(combined, parsed_inputs[0].rejects.clear()), bundle, scorer)
    if not offset:  # no input has a variant: nothing to split
        return [Interpretation(pl.DataFrame(), pl.DataFrame(), parsed.rejects) for parsed in parsed_inputs]
    annotations = _split_rows(whole.annotations, bounds)
    summaries = _split_rows(whole.summary, bounds)
    out = []
    for k, parsed in enumerate(parsed_inputs):
        if parsed.variants.height == 0:
            out.append(Interpretation(pl.DataFrame(), pl.DataFrame(), parsed.rejects))
            continue
        out.append(Interpretation(annotations=annotations[k], summary=summaries[k], rejects=parsed.rejects))
    return out


def _split_rows(frame: pl.DataFrame, bounds: list[tuple[int, int]]) -> list[pl.DataFrame]:
    """The rows of each input (`bounds`: its [lo, hi) of `row`), in their order in `frame`, numbered from 0
    again: one pass over the frame for all inputs (a filter per input cost ~0.4 ms each)."""
    dtype = frame.schema["row"]
    starts = np.array([lo for lo, _ in bounds], np.int64)
    row = frame["row"].cast(pl.Int64).to_numpy()
    job = np.searchsorted(starts, row, "right") - 1  # bounds are consecutive from 0: the input of each row
    local = pl.Series("row", row - starts[job]).cast(dtype)
    parts = frame.with_columns(local, pl.Series("_job", job)).partition_by(
        "_job", maintain_order=True, include_key=False, as_dict=True
    )
    empty = frame.clear()
    return [parts.get((k,), empty) for k in range(len(bounds))]


@dataclass(frozen=True)
class _Parsed:
    variants: pl.DataFrame
    rejects: pl.DataFrame
    n_input: int


def parse_many(string_lists: list[list[str]], bundle: Any) -> list[Any]:
    """`parse_variant_strings` over several requests' strings at once, split back by input line."""
    from hcml.genomics import inputs

    flat = [s for strings in string_lists for s in strings]
    whole = inputs.parse_variant_strings(flat, bundle)
    if whole.n_input != len(flat):
        raise ValueError("the reader dropped or added items; parse each request alone")
    firsts = np.cumsum([0] + [len(strings) for strings in string_lists[:-1]], dtype=np.int64) + 1
    variants = _split_lines(whole.variants, firsts, renumber=True)
    rejects = _split_lines(whole.rejects, firsts)
    return [_Parsed(v, r, len(strings)) for v, r, strings in zip(variants, rejects, string_lists)]


def _split_lines(frame: pl.DataFrame, firsts: np.ndarray, renumber: bool = False) -> list[pl.DataFrame]:
    """The rows of each request (`firsts`: the flat input line of its first string), with `line` counted
    from 1 in its request again and, with `renumber`, `row` from 0; one pass for all requests."""
    if frame["line"].null_count():
        raise ValueError("a row without an input line; parse each request alone")
    line = frame["line"].to_numpy()
    job = np.searchsorted(firsts, line, "right") - 1
    cols = [pl.Series("line", line - (firsts[job] - 1)).cast(frame.schema["line"]), pl.Series("_job", job)]
    if renumber:  # rows come in input order, so each request's rows are one run: row = index in the run
        if np.any(np.diff(job) < 0):
            raise ValueError("rows out of input order; parse each request alone")
        cols.append(pl.Series("row", np.arange(len(job)) - np.searchsorted(job, job, "left")).cast(frame.schema["row"]))
    parts = frame.with_columns(cols).partition_by("_job", maintain_order=True, include_key=False, as_dict=True)
    empty = frame.clear()
    return [parts.get((k,), empty) for k in range(len(firsts))]
