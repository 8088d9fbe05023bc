"""Render the production instance (deploy/dagster/dagster.yaml) for one machine.

    python deploy/dagster/render_local.py DAGSTER_HOME

Writes DAGSTER_HOME/dagster.yaml: the same storage, queue, limits, retries and retention as production,
with three substitutions only: Dagster's default run launcher (a local process) in place of the
K8sRunLauncher, compute logs on local disk in place of Azure Blob, and `sslmode=prefer` for a loopback
PostgreSQL without TLS. Use it with `scripts/postgres.sh up` (which prints the DAGSTER_PG_* variables).
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

PRODUCTION = Path(__file__).resolve().parent / "dagster.yaml"


def local_instance_config(production: Path = PRODUCTION, compute_log_dir: Path | None = None) -> dict:
    config = yaml.safe_load(production.read_text())
    config.pop("run_launcher")  # DefaultRunLauncher
    config["compute_logs"] = {
        "module": "dagster._core.storage.local_compute_log_manager",
        "class": "LocalComputeLogManager",
        "config": {"base_dir": str(compute_log_dir) if compute_log_dir else "compute_logs"},
    }
    config["storage"]["postgres"]["postgres_db"]["params"] = {"sslmode": "prefer"}
    return config


def render(dagster_home: Path) -> Path:
    dagster_home.mkdir(parents=True, exist_ok=True)
    out = dagster_home / "dagster.yaml"
    config = local_instance_config(compute_log_dir=dagster_home / "compute_logs")
    out.write_text("# rendered from deploy/dagster/dagster.yaml by deploy/dagster/render_local.py\n"
                   + yaml.safe_dump(config, sort_keys=False))
    return out


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    print(render(Path(sys.argv[1]).resolve()))
