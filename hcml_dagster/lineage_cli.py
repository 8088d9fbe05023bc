"""`hcml lineage impact`: which reports were built from a ClinVar release, a model version, a reference bundle
or an input file, read from the Dagster instance (DAGSTER_HOME, else `$HCML_DATA_DIR/dagster`)."""

from __future__ import annotations

import click

QUERY_OPTIONS = {
    "clinvar_release": "ClinVar release (e.g. 2016-05-20) or the release file's SHA-256",
    "model_version": "model version (MLflow registry version, or the bundled model's version)",
    "bundle": "reference bundle SHA-256 (prefix of at least 8 characters)",
    "input": "SHA-256 (prefix) of a patient input file or of any reference source file",
}


@click.group("lineage")
def lineage() -> None:
    """Lineage for compliance: what each report was built from, and what a given input reached."""


@lineage.command("impact")
@click.option("--clinvar-release", help=QUERY_OPTIONS["clinvar_release"])
@click.option("--model-version", help=QUERY_OPTIONS["model_version"])
@click.option("--bundle", help=QUERY_OPTIONS["bundle"])
@click.option("--input", "input_sha", help=QUERY_OPTIONS["input"])
@click.option("--json", "as_json", is_flag=True, help="JSON instead of a table.")
def impact(clinvar_release, model_version, bundle, input_sha, as_json) -> None:
    """List every report (partition, date, pseudonymised patient) built from the given input."""
    import dagster as dg

    from hcml.lineage.impact import ImpactQueryError, as_table
    from hcml.lineage.impact import as_json as to_json
    from hcml.lineage.impact import impact as find
    from hcml.storage import read_uri
    from hcml_dagster.demo_cli import dagster_home
    from resources.lineage import report_refs

    given = {
        k: v
        for k, v in {
            "clinvar_release": clinvar_release,
            "model_version": model_version,
            "bundle": bundle,
            "input": input_sha,
        }.items()
        if v
    }
    if len(given) != 1:
        raise click.UsageError("give exactly one of --clinvar-release, --model-version, --bundle, --input")
    ((kind, value),) = given.items()
    dagster_home()
    with dg.DagsterInstance.get() as instance:
        refs = report_refs(instance, read_uri)
    try:
        found = find(refs, kind, value)
    except ImpactQueryError as exc:
        raise click.UsageError(str(exc)) from exc
    click.echo(to_json(found) if as_json else as_table(found))
