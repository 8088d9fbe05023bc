"""measure_usage() against work of a known size: CPU burnt, memory touched, bytes written and read."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import psutil
import pytest

from hcml.cost.usage import USAGE_KEYS, measure_usage

MiB = 1024 * 1024


def _burn_cpu(seconds: float) -> None:
    start = time.process_time()
    x = 0
    while time.process_time() - start < seconds:
        x += 1


def test_cpu_seconds_of_a_busy_loop() -> None:
    with measure_usage() as usage:
        _burn_cpu(0.4)
    # The loop itself accounts 0.4 s of this process's CPU (time.process_time, an independent clock).
    assert 0.38 <= usage.cpu_seconds <= 0.4 + 0.25
    assert usage.wall_seconds >= 0.38


def test_cpu_of_waited_children_counts() -> None:
    code = "import time\ns=time.process_time()\nwhile time.process_time()-s<0.4: pass"
    with measure_usage() as usage:
        subprocess.run([sys.executable, "-c", code], check=True)
    assert usage.cpu_seconds >= 0.38


def test_idle_block_uses_little_cpu() -> None:
    with measure_usage() as usage:
        time.sleep(0.3)
    assert usage.wall_seconds >= 0.29
    assert usage.cpu_seconds < 0.1


def test_peak_memory_sees_an_allocation_that_is_freed_again() -> None:
    baseline = psutil.Process().memory_info().rss
    with measure_usage(sample_seconds=0.01) as usage:
        block = np.ones(256 * MiB, dtype=np.uint8)  # touched pages: really resident
        time.sleep(0.1)
        del block
    assert usage.peak_memory_bytes >= baseline + 0.9 * 256 * MiB
    # ... and it is a peak, not the RSS at the end
    assert psutil.Process().memory_info().rss < usage.peak_memory_bytes


def test_short_spike_caught_by_maxrss_in_a_fresh_process() -> None:
    # Sampling every 60 s would miss a spike; ru_maxrss catches it when it sets a new high of the process.
    # (A child inherits its parent's high-water mark across fork/exec: allocate above it.)
    code = (
        "import json, resource, numpy as np\n"
        "from hcml.cost.usage import measure_usage\n"
        "start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024\n"
        "size = start + 200 * 1024 * 1024\n"
        "with measure_usage(sample_seconds=60) as u:\n"
        "    a = np.ones(size, dtype=np.uint8); del a\n"
        "print(json.dumps([size, u.as_metadata()]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    size, metadata = json.loads(out.splitlines()[-1])
    assert metadata["hcml/peak_memory_bytes"] >= size


def test_bytes_written_and_read_back(tmp_path) -> None:
    payload = os.urandom(8 * MiB)
    path = tmp_path / "blob.bin"
    with measure_usage() as written:
        with open(path, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
    assert 8 * MiB <= written.bytes_written <= 8 * MiB * 1.1 + 256 * 1024

    # evict the file from the page cache so that the read reaches storage where the kernel accounts it
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
    with measure_usage() as read:
        data = path.read_bytes()
    assert data == payload
    assert 8 * MiB <= read.bytes_read <= 8 * MiB * 1.1 + 256 * 1024


def test_metadata_keys_and_usage_complete_after_an_error() -> None:
    with pytest.raises(RuntimeError):
        with measure_usage() as usage:
            _burn_cpu(0.1)
            raise RuntimeError("step failed")
    metadata = usage.as_metadata()
    assert tuple(k for k in metadata if k in USAGE_KEYS) == (
        "hcml/cpu_seconds",
        "hcml/wall_seconds",
        "hcml/peak_memory_bytes",
        "hcml/bytes_read",
        "hcml/bytes_written",
    )
    assert metadata["hcml/cpu_seconds"] >= 0.09
    assert metadata["hcml/peak_memory_bytes"] > 0
