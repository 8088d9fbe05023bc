"""`reference_bundle`: built from the real sources, rebuilt only when they change, versioned by their checksums."""

import hashlib

import dagster as dg

from assets.reference import reference_bundle
from hcml.config import default_sources
from resources import ReferenceBundleResource


def test_reference_bundle_versions_follow_the_sources(tmp_path):
    # independent: SHA-256 of each source file, combined in name order
    sources = {k: v for k, v in default_sources().items() if k in ("gtf", "fasta", "known_variants", "clinvar")}
    digests = {k: hashlib.sha256(p.read_bytes()).hexdigest() for k, p in sources.items()}
    expected_version = hashlib.sha256(
        "\n".join(f"{k}\0{digests[k]}" for k in sorted(digests)).encode()).hexdigest()

    resources = {"reference": ReferenceBundleResource(path=str(tmp_path / "bundle"))}
    with dg.instance_for_test() as instance:
        first = dg.materialize([reference_bundle], instance=instance, resources=resources)
        second = dg.materialize([reference_bundle], instance=instance, resources=resources)
        metas = [{k: v.value for k, v in r.asset_materializations_for_node("reference_bundle")[0].metadata.items()}
                 for r in (first, second)]
        assert [m["rebuilt"] for m in metas] == [True, False]
        assert metas[0]["bundle_sha256"] == metas[1]["bundle_sha256"]
        assert {k: v["sha256"] for k, v in metas[0]["sources"].items()} == digests
        assert metas[0]["count_transcripts"] > 0 and metas[0]["dagster/row_count"] == metas[0]["count_transcripts"]
        record = instance.get_latest_materialization_event(dg.AssetKey("reference_bundle")).asset_materialization
        assert record.tags["dagster/data_version"] == expected_version
