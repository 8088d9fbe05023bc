"""The ML assets in Dagster, against the real MLflow server: materialize, blocking check, sensor."""

import dagster as dg
import pytest

import assets.ml as ml
from resources import ParquetIOManager, StorageResource
from sensors.labels import clinvar_labels_sensor

ML_ASSETS = [ml.clinvar_labels, ml.training_set, ml.pathogenicity_model, ml.model_evaluation, ml.champion_model]


@pytest.mark.slow
def test_materialize_ml_assets_promotes_through_the_blocking_check(mlflow_env, tmp_path):
    from mlflow import MlflowClient

    from hcml.ml import registry

    resources = {
        "io_manager": ParquetIOManager(storage=StorageResource(local_root=str(tmp_path / "store"))),
        "mlflow": ml.MlflowResource(tracking_uri=mlflow_env),
    }
    champion_before = registry.alias_version(registry.CHAMPION)
    with dg.instance_for_test() as instance:
        result = dg.materialize(ML_ASSETS, instance=instance, resources=resources)
        assert result.success
        (check,) = result.get_asset_check_evaluations()
        assert check.check_name == ml.PROMOTION_CHECK and check.passed
        model_md = result.asset_materializations_for_node("pathogenicity_model")[0].metadata
        version = model_md["model_version"].value
        run_id = model_md["run_id"].value
        eval_md = result.asset_materializations_for_node("model_evaluation")[0].metadata
        assert eval_md["auroc"].value >= 0.93 and eval_md["ece"].value <= 0.05
        assert eval_md["champion_version"].value == (champion_before or "none")
        assert "| missense |" in eval_md["per_class"].value
        exported = registry.load_version(version)
        assert model_md["model_sha256"].value == exported.weights_sha256()
        for key in ("dagster/row_count", "content_sha256", "hcml/cpu_seconds"):
            assert key in result.asset_materializations_for_node("training_set")[0].metadata
        labels_md = result.asset_materializations_for_node("clinvar_labels")[0].metadata
        assert labels_md["dagster/row_count"].value > 60_000
        assert registry.alias_version(registry.CHAMPION) == version
        # the MLflow run carries this Dagster run's id
        tags = MlflowClient(tracking_uri=mlflow_env).get_run(run_id).data.tags
        assert tags["dagster.run_id"] == result.run_id


class _PrefilledIO(dg.IOManager):
    """In-memory IO manager whose upstream values are given (the assets not selected for this run)."""

    def __init__(self, values):
        self.values = dict(values)

    def handle_output(self, context, obj):
        self.values[context.asset_key.to_user_string()] = obj

    def load_input(self, context):
        return self.values[context.asset_key.to_user_string()]


@pytest.mark.slow
def test_blocking_check_stops_promotion_of_a_worse_candidate(mlflow_env, trained_model, held_out_report, ml_training_set, tmp_path):
    """A candidate worse than the champion: the check fails, champion_model is not executed, alias unchanged."""
    import copy

    from hcml.ml import registry, workflow
    from hcml.ml.evaluation import save_plots
    from hcml.ml.training import TrainConfig

    plots = save_plots(held_out_report, tmp_path / "plots")
    if registry.alias_version(registry.CHAMPION) is None:  # run alone: make the good model the champion first
        good = workflow.register(copy.deepcopy(trained_model), held_out_report, plots, TrainConfig())
        registry.set_champion(good.model_version)
    champion = registry.alias_version(registry.CHAMPION)
    bad = copy.deepcopy(trained_model)
    bad.exported.platt_a = -bad.exported.platt_a  # inverted ranking: AUROC < 0.5
    bad.exported.platt_missense = None
    bad_reg = workflow.register(bad, held_out_report, plots, TrainConfig())

    io = _PrefilledIO({"training_set": ml_training_set, "pathogenicity_model": {"model_version": bad_reg.model_version}})
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            ML_ASSETS,
            selection=["model_evaluation", "champion_model"],
            instance=instance,
            resources={"io_manager": io, "mlflow": ml.MlflowResource(tracking_uri=mlflow_env)},
            raise_on_error=False,
        )
    (check,) = result.get_asset_check_evaluations()
    assert check.check_name == ml.PROMOTION_CHECK and not check.passed
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "model_evaluation" in materialized and "champion_model" not in materialized
    assert registry.alias_version(registry.CHAMPION) == champion != bad_reg.model_version


def test_labels_sensor_requests_a_retrain_only_when_labels_change(tmp_path, monkeypatch):
    monkeypatch.setenv("HCML_LABELS_DIR", str(tmp_path / "labels"))
    with dg.instance_for_test() as instance:
        first = clinvar_labels_sensor(dg.build_sensor_context(instance=instance))
        assert not first.run_requests and first.cursor  # baseline only: the shipped labels are not new
        same = clinvar_labels_sensor(dg.build_sensor_context(instance=instance, cursor=first.cursor))
        assert isinstance(same, dg.SkipReason)
        (tmp_path / "labels").mkdir()
        (tmp_path / "labels" / "curated.tsv").write_text("chrom\tpos\n1\t2\n")
        changed = clinvar_labels_sensor(dg.build_sensor_context(instance=instance, cursor=first.cursor))
        assert len(changed.run_requests) == 1 and changed.cursor != first.cursor
        assert changed.run_requests[0].run_key == f"labels-{changed.cursor}"
        (tmp_path / "labels" / "curated-2.tsv").write_text("chrom\tpos\n1\t3\n")
        again = clinvar_labels_sensor(dg.build_sensor_context(instance=instance, cursor=changed.cursor))
        assert len(again.run_requests) == 1 and again.run_requests[0].run_key != changed.run_requests[0].run_key


def test_definitions_include_the_ml_assets_and_sensor():
    from hcml_dagster.definitions import defs

    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert set(ml.ML_ASSET_NAMES) <= keys
    assert defs.resolve_sensor_def("clinvar_labels_sensor")
    job_assets = defs.resolve_job_def("ml_training_job").asset_layer.executable_asset_keys
    assert {k.to_user_string() for k in job_assets} == set(ml.ML_ASSET_NAMES)
    node = graph.get(dg.AssetKey("pathogenicity_model"))
    assert node.group_name == "ml" and node.owners and node.code_version
