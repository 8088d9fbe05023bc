"""A real pipeline asset (`reference_bundle`, which checksums the real source files) in an attributed run:
its measured usage reaches `analysis_costs` with the run's department, project, user and analysis."""

from __future__ import annotations

from datetime import datetime, timezone

import dagster as dg
import polars as pl
import pytest

from assets.costs import analysis_costs
from hcml.config import default_sources
from hcml.storage import read_uri

TAGS = {"hcml/department": "research", "hcml/project": "chr21-cohort", "hcml/user": "carol", "hcml/analysis": "R-007"}


def test_reference_bundle_usage_is_attributed_and_priced(bundle_dir, tmp_path, monkeypatch) -> None:
    from assets.reference import reference_bundle
    from resources import ReferenceBundleResource

    monkeypatch.setenv("HCML_DATA_DIR", str(tmp_path / "data"))
    for name in ("HCML_AZURE_STORAGE_CONNECTION_STRING", "HCML_AZURE_STORAGE_ACCOUNT_URL", "HCML_RATE_CARD"):
        monkeypatch.delenv(name, raising=False)
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [reference_bundle], instance=instance, tags=TAGS,
            resources={"reference": ReferenceBundleResource(path=str(bundle_dir))},
        )
        assert result.success
        recorded = result.asset_materializations_for_node("reference_bundle")[0].metadata
        assert recorded["rebuilt"].value is False  # the session bundle is current: the step only checksums
        day = datetime.now(timezone.utc).strftime("%Y-%m-%d")
        costs = dg.materialize([analysis_costs], instance=instance, partition_key=day)
        table = pl.read_parquet(read_uri(costs.asset_materializations_for_node("analysis_costs")[0].metadata["dagster/uri"].value))
    row = table.filter(pl.col("asset_key") == "reference_bundle").row(0, named=True)
    assert (row["department"], row["project"], row["user"], row["analysis"]) == tuple(TAGS.values())
    assert row["run_id"] == result.run_id and row["measured"]
    # checksumming reads every source file in full
    sources = [p for k, p in default_sources().items() if k in ("gtf", "fasta", "known_variants", "clinvar")]
    assert row["bytes_read"] >= sum(p.stat().st_size for p in sources)
    assert row["cpu_seconds"] == pytest.approx(recorded["hcml/cpu_seconds"].value)
    assert row["cost"] > 0
