"""Cost attribution figures: measure_usage() overhead and reading/pricing the event log.

    .venv/bin/python bench/costs_usage.py [--materializations 500]

Prints: the wall time of an empty measured block, the CPU the peak-memory sampler costs while a step
sleeps, and how long read_usage + pricing + chargeback tables take for N materializations in a SQLite
Dagster instance (the default local instance).
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from datetime import datetime, timedelta, timezone

import dagster as dg


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--materializations", type=int, default=500)
    args = parser.parse_args()
    os.environ["HCML_DATA_DIR"] = tempfile.mkdtemp(prefix="hcml-bench-")
    from assets.costs import read_usage
    from hcml.cost import chargeback as cb
    from hcml.cost.rate_card import load_rate_card
    from hcml.cost.usage import measure_usage

    n = 200
    t0 = time.perf_counter()
    for _ in range(n):
        with measure_usage():
            pass
    print(f"empty measured block: {(time.perf_counter() - t0) / n * 1e3:.2f} ms wall each (n={n})")

    def cpu() -> float:
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime

    c0 = cpu()
    with measure_usage() as usage:
        time.sleep(5)
    print(f"sampler overhead while a step sleeps 5 s: {cpu() - c0:.3f} CPU s "
          f"({(cpu() - c0) / 5 * 100:.2f}% of one core; measured block reports {usage.cpu_seconds:.3f} s)")

    @dg.asset
    def step() -> dg.MaterializeResult:
        with measure_usage() as u:
            pass
        return dg.MaterializeResult(metadata=u.as_metadata())

    with dg.instance_for_test() as instance:
        t0 = time.perf_counter()
        runs = 0
        while runs * 1 < args.materializations:
            dg.materialize([step], instance=instance, tags={"hcml/department": f"d{runs % 5}", "hcml/analysis": f"a{runs}"})
            runs += 1
        print(f"seeded {runs} runs in {time.perf_counter() - t0:.1f} s")
        now = datetime.now(timezone.utc)
        t0 = time.perf_counter()
        usage_rows = read_usage(instance, now - timedelta(days=1), now + timedelta(minutes=1))
        t_read = time.perf_counter() - t0
        t0 = time.perf_counter()
        priced = cb.price_usage(usage_rows, load_rate_card())
        tables = cb.chargeback_tables(priced, priced.head(0))
        t_price = time.perf_counter() - t0
        print(f"read_usage: {usage_rows.height} materializations in {t_read:.3f} s "
              f"({usage_rows.height / t_read:.0f}/s); pricing + chargeback tables {t_price * 1e3:.1f} ms; "
              f"{tables['departments'].height} departments")


if __name__ == "__main__":
    main()
