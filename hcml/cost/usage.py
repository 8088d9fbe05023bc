"""Measure what one pipeline step uses, so that its cost can be attributed.

`measure_usage()` wraps a block of work and records, for the current process and the child
processes it waits for:

- CPU seconds: user + system time (`getrusage`, microsecond resolution), children included;
- wall seconds: monotonic clock;
- peak memory: the highest resident set size seen during the block. A light background thread samples
  the RSS of the process and its live children; `ru_maxrss` catches spikes shorter than the sampling
  interval whenever they set a new high for the process;
- bytes read and written: the kernel's per-process I/O accounting (psutil `io_counters`, else
  `/proc/self/io`). Of the storage count (`read_bytes`/`write_bytes`: what reached the block device) and
  the character count (`rchar`/`wchar`: what the read/write calls moved) the larger is reported. The
  storage count alone misses reads served from the page cache and everything read from Blob Storage over
  the network (and is 0 in containers that hide block-I/O accounting); the character count misses
  read-ahead. Both raw deltas are kept in `Usage.details`.

The figures are per process: in-process Dagster execution counts other threads' work done during the
block too, which is what a process-per-step executor would bill anyway.
"""

from __future__ import annotations

import os
import resource
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import psutil

CPU_SECONDS = "hcml/cpu_seconds"
WALL_SECONDS = "hcml/wall_seconds"
PEAK_MEMORY_BYTES = "hcml/peak_memory_bytes"
BYTES_READ = "hcml/bytes_read"
BYTES_WRITTEN = "hcml/bytes_written"
GPU_SECONDS = "hcml/gpu_seconds"  # optional: only steps that used a GPU report it
# optional: bytes an IO manager stored for the step's output. It writes after the asset function returns,
# outside the measured block, so it reports them itself (`context.add_output_metadata` in handle_output).
STORED_BYTES = "hcml/stored_bytes"
USAGE_KEYS = (CPU_SECONDS, WALL_SECONDS, PEAK_MEMORY_BYTES, BYTES_READ, BYTES_WRITTEN)

DEFAULT_SAMPLE_SECONDS = 0.05


def _sample_seconds() -> float:
    """HCML_USAGE_SAMPLE_SECONDS: how often the peak-memory thread samples RSS (default 0.05 s)."""
    try:
        value = float(os.environ.get("HCML_USAGE_SAMPLE_SECONDS", DEFAULT_SAMPLE_SECONDS))
    except ValueError:
        return DEFAULT_SAMPLE_SECONDS
    return value if value > 0 else DEFAULT_SAMPLE_SECONDS


def _maxrss_bytes(who: int) -> int:
    # ru_maxrss is KiB on Linux, bytes on macOS.
    value = resource.getrusage(who).ru_maxrss
    return int(value if sys.platform == "darwin" else value * 1024)


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _io(process: psutil.Process) -> dict[str, int]:
    """Storage and character I/O counters of this process (zeros where the platform has none)."""
    counters = {"read_bytes": 0, "write_bytes": 0, "read_chars": 0, "write_chars": 0}
    try:
        io = process.io_counters()
    except (AttributeError, psutil.Error, OSError):
        io = None
    if io is not None:
        for name in counters:
            counters[name] = int(getattr(io, name, 0) or 0)
    if not counters["read_chars"] and not counters["write_chars"]:
        try:
            with open("/proc/self/io", encoding="ascii") as handle:
                raw = dict(line.split(":", 1) for line in handle if ":" in line)
            counters["read_chars"] = int(raw.get("rchar", 0))
            counters["write_chars"] = int(raw.get("wchar", 0))
        except (OSError, ValueError):
            pass
    return counters


_CHILDREN_EVERY = 10  # listing children scans /proc: do it every 10th sample only


def _rss(process: psutil.Process) -> int:
    try:
        return process.memory_info().rss
    except psutil.Error:
        return 0


def _children_rss(process: psutil.Process) -> int:
    total = 0
    try:
        for child in process.children(recursive=True):
            try:
                total += child.memory_info().rss
            except psutil.Error:
                continue
    except psutil.Error:
        pass
    return total


def _rss_with_children(process: psutil.Process) -> int:
    return _rss(process) + _children_rss(process)


@dataclass
class Usage:
    """What one block used. Filled in when the `measure_usage()` block exits."""

    cpu_seconds: float = 0.0
    wall_seconds: float = 0.0
    peak_memory_bytes: int = 0
    bytes_read: int = 0
    bytes_written: int = 0
    gpu_seconds: float = 0.0
    details: dict[str, int | float] = field(default_factory=dict)

    def as_metadata(self) -> dict[str, float | int]:
        """The `hcml/...` materialization-metadata keys that `analysis_costs` reads back."""
        metadata: dict[str, float | int] = {
            CPU_SECONDS: round(self.cpu_seconds, 6),
            WALL_SECONDS: round(self.wall_seconds, 6),
            PEAK_MEMORY_BYTES: int(self.peak_memory_bytes),
            BYTES_READ: int(self.bytes_read),
            BYTES_WRITTEN: int(self.bytes_written),
        }
        if self.gpu_seconds:
            metadata[GPU_SECONDS] = round(self.gpu_seconds, 6)
        return metadata


class _PeakSampler(threading.Thread):
    def __init__(self, process: psutil.Process, interval: float) -> None:
        super().__init__(name="hcml-usage-sampler", daemon=True)
        self._process = process
        self._interval = interval
        self._stop_event = threading.Event()
        self.peak = _rss_with_children(process)

    def run(self) -> None:
        children = 0
        tick = 0
        while not self._stop_event.wait(self._interval):
            tick += 1
            if tick % _CHILDREN_EVERY == 0:
                children = _children_rss(self._process)
            self.peak = max(self.peak, _rss(self._process) + children)

    def stop(self) -> int:
        self._stop_event.set()
        self.join()
        self.peak = max(self.peak, _rss_with_children(self._process))
        return self.peak


@contextmanager
def measure_usage(sample_seconds: float | None = None) -> Iterator[Usage]:
    """Measure the enclosed block; the yielded `Usage` is complete once the block exits (even on error)."""
    process = psutil.Process()
    usage = Usage()
    maxrss_self_before = _maxrss_bytes(resource.RUSAGE_SELF)
    maxrss_children_before = _maxrss_bytes(resource.RUSAGE_CHILDREN)
    io_before = _io(process)
    cpu_before = _cpu_seconds()
    sampler = _PeakSampler(process, sample_seconds or _sample_seconds())
    sampler.start()
    wall_before = time.perf_counter()
    try:
        yield usage
    finally:
        usage.wall_seconds = time.perf_counter() - wall_before
        usage.cpu_seconds = max(0.0, _cpu_seconds() - cpu_before)
        sampled_peak = sampler.stop()
        io_after = _io(process)
        peak = sampled_peak
        maxrss_self_after = _maxrss_bytes(resource.RUSAGE_SELF)
        if maxrss_self_after > maxrss_self_before:  # a new high of this process was set inside the block
            peak = max(peak, maxrss_self_after)
        maxrss_children_after = _maxrss_bytes(resource.RUSAGE_CHILDREN)
        if maxrss_children_after > maxrss_children_before:  # a child that ran inside the block
            peak = max(peak, maxrss_children_after)
        usage.peak_memory_bytes = int(peak)
        delta = {name: max(0, io_after[name] - io_before[name]) for name in io_after}
        usage.bytes_read = max(delta["read_bytes"], delta["read_chars"])
        usage.bytes_written = max(delta["write_bytes"], delta["write_chars"])
        usage.details = {**delta, "sampled_peak_rss": int(sampled_peak)}
