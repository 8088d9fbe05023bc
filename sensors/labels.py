"""Retrain the pathogenicity model when new labels land.

Label sources are the shipped ClinVar release plus any curated ClinVar-shaped TSV dropped into
HCML_LABELS_DIR (default `$HCML_DATA_DIR/labels`). The cursor is a fingerprint of those files (name, size,
modification time), recorded on the first tick; when it changes later the sensor requests one run of the ML assets (labels -> training set
-> model -> evaluation -> champion, the last gated by the blocking check). The run key is the fingerprint,
so a replayed tick never trains twice for the same labels.
"""

import hashlib

import dagster as dg

from assets.ml import ML_ASSET_NAMES


def labels_fingerprint() -> tuple[str, list[str]]:
    from hcml.ml.data import label_sources

    h = hashlib.sha256()
    names = []
    for path in label_sources():
        st = path.stat()
        h.update(f"{path.resolve()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        names.append(path.name)
    return h.hexdigest()[:16], names


@dg.sensor(
    name="clinvar_labels_sensor",
    target=dg.AssetSelection.assets(*ML_ASSET_NAMES),
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Retrains (and, through the blocking check, maybe promotes) the model when label files change.",
)
def clinvar_labels_sensor(context: dg.SensorEvaluationContext):
    fingerprint, names = labels_fingerprint()
    if context.cursor is None:  # first tick: the labels the bundled/registered model came from are not "new"
        return dg.SensorResult(
            skip_reason=f"baseline recorded: {len(names)} label files, fingerprint {fingerprint}", cursor=fingerprint
        )
    if context.cursor == fingerprint:
        return dg.SkipReason(f"labels unchanged ({len(names)} files, fingerprint {fingerprint})")
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=f"labels-{fingerprint}",
                tags={"hcml/analysis": "model-retraining", "hcml/labels_fingerprint": fingerprint},
            )
        ],
        cursor=fingerprint,
    )
