"""The `hcml` command line.

Sub-commands live next to the code they drive (one module per domain) and are imported lazily,
so that `hcml --help` is fast and a command never pulls in Dagster or torch unless it needs them.
"""

from __future__ import annotations

import importlib

import click

# command name -> "module:attribute" of a click command or group. Each domain owns its module.
COMMANDS: dict[str, str] = {
    "reference": "hcml.genomics.cli:reference",  # hcml reference build ...
    "annotate": "hcml.genomics.annotate_cli:annotate",  # hcml annotate INPUT --bundle DIR --format ...
    "compare-vep": "hcml.genomics.cli:compare_vep",  # per-field agreement with Ensembl VEP output
    "cohort": "hcml.cohort.cli:cohort",  # hcml cohort stats|report: joint-called cohort VCFs
    "acmg": "hcml.acmg.cli:acmg",  # hcml acmg evaluate|config: ACMG/AMP classification
    "model": "hcml.ml.cli:model",  # hcml model train|evaluate|export ...
    "demo": "hcml_dagster.demo_cli:demo",  # the main job: materialize the whole graph on the embedded default
    "provenance": "hcml.provenance_cli:provenance",  # hcml provenance verify REPORT
    "costs": "hcml_dagster.cost_cli:costs",  # cost and chargeback reports
    "lineage": "hcml_dagster.lineage_cli:lineage",  # hcml lineage impact --clinvar-release R | --model-version N ...
    "kafka": "hcml.events.cli:kafka",  # topics, produce a submission, tail results
    "audit": "hcml.compliance.cli:audit",  # hcml audit verify: the hash-chained audit trails
    "patient": "hcml_dagster.erasure_cli:patient",  # hcml patient erase --patient-id ID
    "serve": "realtime.cli:serve",  # the realtime clinical service
    "dev-token": "realtime.cli:dev_token",  # mint a token for the local development key
}

# top-level package -> the extra that installs it: a command whose module needs one that is missing (the
# realtime image has no Dagster) is listed as unavailable rather than failing `hcml --help`
OPTIONAL_DEPENDENCIES = {"dagster": "pipeline", "dagster_k8s": "pipeline", "mlflow": "pipeline", "torch": "train"}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and module_name.startswith(exc.name):
                return _unavailable(name, f"module {module_name} is not installed yet")
            if exc.name and exc.name.split(".")[0] in OPTIONAL_DEPENDENCIES:
                extra = OPTIONAL_DEPENDENCIES[exc.name.split(".")[0]]
                return _unavailable(name, f"it needs {exc.name} (pip install 'hcml[{extra}]')")
            raise
        return getattr(module, attr)


def _unavailable(name: str, why: str) -> click.Command:
    @click.command(name, help=f"(unavailable: {why})")
    def _cmd() -> None:
        raise click.ClickException(f"`hcml {name}` is unavailable: {why}")

    return _cmd


@click.group(cls=LazyGroup)
@click.version_option(package_name="hcml")
def main() -> None:
    """hcml: offline, Ensembl-VEP-compatible variant interpretation for hospitals."""


if __name__ == "__main__":
    main()
