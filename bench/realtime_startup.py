"""Cold start of the realtime service: `import realtime.app` + load the reference bundle and the scorer.

    .venv/bin/python bench/realtime_startup.py [--runs 5] [--bundle DIR]

Each run is a fresh Python process (what a Knative scale-from-zero pays after the interpreter starts);
the target is under 2 s. Prints per-run figures and the median.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

PROBE = r"""
import json, time
t0 = time.perf_counter()
import realtime.app  # the ASGI app module and everything it imports at module level
t1 = time.perf_counter()
from realtime.service import load_state
state = load_state()
t2 = time.perf_counter()
assert state.ready, state.bundle_error
print(json.dumps({"import_s": t1 - t0, "load_s": t2 - t1, "total_s": t2 - t0,
                  "model": state.model_info(), "scorer_error": state.scorer_error}))
"""


def ensure_bundle(path: str | None) -> Path:
    from hcml.config import bundle_dir, default_sources

    target = Path(path) if path else bundle_dir()
    if (target / "manifest.json").exists():
        return target
    from hcml.genomics.bundle import build_bundle

    src = default_sources()
    target = Path(tempfile.mkdtemp(prefix="hcml-bench-bundle-"))
    print(f"building the reference bundle from data/ into {target} ...", file=sys.stderr)
    return build_bundle(src["gtf"], src["fasta"], target, known_variants=src["known_variants"], clinvar=src["clinvar"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--bundle", default=None, help="bundle directory (default: $HCML_BUNDLE_DIR, built if missing)")
    args = ap.parse_args()
    bundle = ensure_bundle(args.bundle)
    env = {**os.environ, "HCML_BUNDLE_DIR": str(bundle)}
    env.pop("HCML_MLFLOW_TRACKING_URI", None)  # the bundled model: no registry round trip in the figure
    runs = []
    for i in range(args.runs):
        out = subprocess.run([sys.executable, "-c", PROBE], cwd=REPO, env=env, capture_output=True, text=True,
                             check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        runs.append(r)
        print(f"run {i + 1}: import {r['import_s'] * 1000:.0f} ms + load {r['load_s'] * 1000:.0f} ms "
              f"= {r['total_s'] * 1000:.0f} ms")
    med = {k: statistics.median(r[k] for r in runs) for k in ("import_s", "load_s", "total_s")}
    print(f"median: import {med['import_s'] * 1000:.0f} ms, load bundle+model {med['load_s'] * 1000:.0f} ms, "
          f"total {med['total_s'] * 1000:.0f} ms (target < 2000 ms); model {runs[0]['model']}")


if __name__ == "__main__":
    main()
