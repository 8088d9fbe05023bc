"""`hcml provenance verify REPORT`: recompute the hash chain a clinical report names (no Dagster needed)."""

from __future__ import annotations

import json
import sys

import click


@click.group("provenance")
def provenance() -> None:
    """Provenance of clinical reports."""


@provenance.command("verify")
@click.argument("report")
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
def verify(report: str, as_json: bool) -> None:
    """Recompute the hashes a REPORT (path, file:// or azure:// URI of report.json) names.

    Checks the report's own content hash and provenance hash, the input file's hash, every reference
    source file's hash and the bundle manifest; exits 0 when the chain holds, 1 when it does not.
    """
    from hcml.clinical_report import embedded_report_json
    from hcml.provenance import FAILED, OK, verify_report
    from hcml.storage import StoreError, read_uri

    try:
        raw = read_uri(report)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from exc
    text = raw.decode("utf-8", errors="replace")
    if text.lstrip().startswith("<"):  # an HTML report: read the JSON it embeds
        text = embedded_report_json(text)
        if text is None:
            raise click.ClickException(f"{report}: an HTML page without an embedded hcml report")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise click.ClickException(f"{report}: not a JSON report ({exc})") from exc
    result = verify_report(document)
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=1))
    else:
        marks = {OK: "ok  ", FAILED: "FAIL"}
        for check in result.checks:
            click.echo(f"[{marks.get(check.status, '?   ')}] {check.name}: {check.detail}")
        click.echo("chain holds" if result.holds else "chain BROKEN: the report cannot be traced to its inputs")
    sys.exit(0 if result.holds else 1)
