"""The production instance configuration, run for real on one machine.

PostgreSQL (Debian's package, `postgres` fixture), `dagster-daemon` and `dagster-webserver` on the
production dagster.yaml rendered with the default run launcher and local compute logs
(deploy/dagster/render_local.py). Checked through the webserver's GraphQL API, as an operator would, and
against PostgreSQL's own tables (independent of Dagster's answers). Every process started here is stopped
in the fixture's teardown; every wait polls with a deadline.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hcml.config import REPO_ROOT

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
LOCATION = "hcml"
REPOSITORY = "__repository__"
SAMPLE_VCF = REPO_ROOT / "data" / "samples" / "HG00096_chr21_region.vcf"
SAMPLE_CHAIN = ["sample_variants", "variant_annotations", "variant_features", "variant_predictions",
                "clinical_report"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(what: str, check: Callable[[], Any], deadline_s: float, every: float = 1.0,
          on_timeout: Callable[[], str] | None = None) -> Any:
    end = time.monotonic() + deadline_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > end:
            detail = on_timeout() if on_timeout else ""
            pytest.fail(f"timed out after {deadline_s:.0f}s waiting for {what}\n{detail}")
        time.sleep(every)


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def _group_alive(pgid: int) -> bool:
    """Any live (not zombie) process left in the group?"""
    import psutil

    for proc in psutil.process_iter(["pid", "status"]):
        try:
            if os.getpgid(proc.pid) == pgid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                return True
        except (ProcessLookupError, psutil.Error):
            continue
    return False


class DagsterStack:
    def __init__(self, home: Path, env: dict[str, str], port: int):
        self.home, self.env, self.port = home, env, port
        self.url = f"http://127.0.0.1:{port}"
        self.procs: dict[str, subprocess.Popen] = {}
        self.logs: dict[str, Path] = {}

    def start(self, name: str, argv: list[str]) -> None:
        log = self.home / f"{name}.log"
        self.logs[name] = log
        self.procs[name] = subprocess.Popen(
            argv, cwd=REPO_ROOT, env=self.env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: its code servers and run workers stop with it
        )

    def tail(self, lines: int = 40) -> str:
        out = []
        for name, log in self.logs.items():
            text = log.read_text(errors="replace").splitlines() if log.exists() else []
            out.append(f"--- {name} (last {lines} lines) ---\n" + "\n".join(text[-lines:]))
        return "\n".join(out)

    def stop(self) -> None:
        """SIGTERM each process group we started (daemon/webserver and their code servers and run
        workers), then SIGKILL whatever of those groups is still there after a grace period."""
        groups = [proc.pid for proc in self.procs.values()]  # each is its own session/group leader
        for pgid in groups:
            _signal_group(pgid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
        deadline = time.monotonic() + 20
        while any(_group_alive(g) for g in groups) and time.monotonic() < deadline:
            time.sleep(0.5)
        for pgid in groups:
            _signal_group(pgid, signal.SIGKILL)
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.wait(timeout=10)

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        response = httpx.post(f"{self.url}/graphql", json={"query": query, "variables": variables or {}},
                              timeout=60)
        response.raise_for_status()
        body = response.json()
        assert "errors" not in body, body["errors"]
        return body["data"]

    def repository_selector(self) -> dict:
        return {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY}


def _render_local(home: Path) -> Path:
    spec = importlib.util.spec_from_file_location("render_local", REPO_ROOT / "deploy/dagster/render_local.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.render(home)


@pytest.fixture(scope="module")
def local_env(postgres, bundle_dir, kafka_bootstrap, tmp_path_factory) -> dict[str, str]:
    home = tmp_path_factory.mktemp("dagster_home")
    _render_local(home)
    data = tmp_path_factory.mktemp("hcml_data")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_", "HCML_"))}
    env.update({k: v for k, v in postgres.items() if k.startswith("DAGSTER_PG_")})
    env.update({
        "DAGSTER_HOME": str(home),
        "HCML_DAGSTER_MAX_CONCURRENT_RUNS": "2",
        "HCML_DATA_DIR": str(data),
        "HCML_BUNDLE_DIR": str(bundle_dir),
        "HCML_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "HCML_PSEUDONYM_KEY": "deploy-test-" + uuid.uuid4().hex,
        "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        "PYTHONUNBUFFERED": "1",
    })
    return env


def _start_stack(env: dict[str, str], home: Path) -> DagsterStack:
    stack = DagsterStack(home, env, _free_port())
    stack.start("daemon", [str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"])
    stack.start("webserver", [str(BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(stack.port),
                              "-w", "workspace.yaml"])

    def ready() -> bool:
        for name, proc in stack.procs.items():
            if proc.poll() is not None:
                pytest.fail(f"{name} exited with {proc.returncode}\n{stack.tail()}")
        try:
            return httpx.get(f"{stack.url}/server_info", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    _wait("dagster-webserver to answer", ready, 240, on_timeout=stack.tail)
    return stack


@pytest.fixture(scope="module")
def stack(local_env) -> Iterator[DagsterStack]:
    """dagster-daemon + dagster-webserver on the rendered production instance (started here, stopped here)."""
    stack = None
    try:
        stack = _start_stack(local_env, Path(local_env["DAGSTER_HOME"]))
        yield stack
    finally:
        if stack is not None:
            stack.stop()


INSTANCE_QUERY = """
{ instance { info runQueuingSupported runLauncher { name }
    runQueueConfig { maxConcurrentRuns tagConcurrencyLimitsYaml }
    daemonHealth { allDaemonStatuses { daemonType required healthy } } } }
"""


def test_instance_is_the_production_configuration_on_postgres(stack, postgres):
    def healthy():
        statuses = stack.graphql(INSTANCE_QUERY)["instance"]["daemonHealth"]["allDaemonStatuses"]
        required = {s["daemonType"]: s["healthy"] for s in statuses if s["required"]}
        return required if required and all(required.values()) else None

    daemons = _wait("every required daemon to report a healthy heartbeat", healthy, 180, every=3,
                    on_timeout=stack.tail)
    assert {"SENSOR", "SCHEDULER", "QUEUED_RUN_COORDINATOR"} <= set(daemons)

    instance = stack.graphql(INSTANCE_QUERY)["instance"]
    assert instance["runQueuingSupported"] is True
    assert instance["runLauncher"]["name"] == "DefaultRunLauncher"
    assert instance["runQueueConfig"]["maxConcurrentRuns"] == 2
    assert "hcml/department" in instance["runQueueConfig"]["tagConcurrencyLimitsYaml"]
    assert "PostgresRunStorage" in instance["info"] and "PostgresEventLogStorage" in instance["info"]
    # independent of Dagster's own answer: the daemons' heartbeats are rows in our PostgreSQL
    rows = subprocess.run(["psql", postgres["url"], "-tAc", "SELECT count(*) FROM daemon_heartbeats"],
                          capture_output=True, text=True, check=True).stdout.strip()
    assert int(rows) >= 3


RUNS_QUERY = """
query Runs($tags: [ExecutionTag!]) {
  runsOrError(filter: {tags: $tags}) {
    ... on Runs { results { runId status jobName tags { key value } } }
    ... on PythonError { message }
  }
}
"""

LINEAGE_QUERY = """
query Lineage($partition: String!) {
  assetNodes { assetKey { path } dependencyKeys { path }
               assetMaterializations(partitions: [$partition]) { runId partition } }
}
"""


def _runs(stack: DagsterStack, key: str, value: str) -> list[dict]:
    result = stack.graphql(RUNS_QUERY, {"tags": [{"key": key, "value": value}]})["runsOrError"]
    assert "results" in result, result
    return result["results"]


def _wait_for_finished_run(stack: DagsterStack, key: str, value: str, deadline_s: float) -> dict:
    def finished():
        runs = _runs(stack, key, value)
        done = [r for r in runs if r["status"] in ("SUCCESS", "FAILURE", "CANCELED")]
        return done[0] if done else None

    return _wait(f"a finished run tagged {key}={value}", finished, deadline_s, every=3, on_timeout=stack.tail)


def _run_failure_detail(stack: DagsterStack, run_id: str) -> str:
    query = """query Logs($runId: ID!) { logsForRun(runId: $runId) { ... on EventConnection {
        events { __typename ... on MessageEvent { message }
                 ... on ExecutionStepFailureEvent { error { message cause { message } } } } } } }"""
    events = stack.graphql(query, {"runId": run_id})["logsForRun"].get("events", [])
    def error(e):
        err = e.get("error") or {}
        return f"{err.get('message', '')} {(err.get('cause') or {}).get('message', '')}"

    return "\n".join(f"{e.get('message', '')} {error(e)}"
                     for e in events if "Failure" in e["__typename"])[-4000:]


def _check_lineage(stack: DagsterStack, partition: str, run_id: str) -> None:
    nodes = {tuple(n["assetKey"]["path"]): n for n in stack.graphql(LINEAGE_QUERY, {"partition": partition})["assetNodes"]}
    # the chain variants -> annotations -> features -> predictions -> report, as the brief lays it out
    for upstream, downstream in zip(SAMPLE_CHAIN, SAMPLE_CHAIN[1:]):
        node = nodes.get((downstream,))
        assert node is not None, f"asset {downstream} missing from the code location"
        assert [upstream] in [d["path"] for d in node["dependencyKeys"]], (downstream, node["dependencyKeys"])
    for key in SAMPLE_CHAIN:
        events = nodes[(key,)]["assetMaterializations"]
        assert any(e["runId"] == run_id and e["partition"] == partition for e in events), (key, events)


def _repository_has(stack: DagsterStack, *names: str) -> set[str]:
    nodes = stack.graphql("{ assetNodes { assetKey { path } } }")["assetNodes"]
    have = {"/".join(n["assetKey"]["path"]) for n in nodes}
    return set(names) - have


def test_queued_run_of_sample_report_job_finishes_with_lineage(stack, postgres):
    missing = _repository_has(stack, *SAMPLE_CHAIN)
    if missing:
        pytest.skip(f"the code location does not define {sorted(missing)} yet")
    from resources.jobs import sample_run_config

    partition = f"deploy-{uuid.uuid4().hex[:8]}"
    added = stack.graphql(
        """mutation Add($sel: RepositorySelector!, $key: String!) {
             addDynamicPartition(repositorySelector: $sel, partitionsDefName: "samples", partitionKey: $key) {
               __typename ... on PythonError { message } ... on UnauthorizedError { message } } }""",
        {"sel": stack.repository_selector(), "key": partition})
    assert added["addDynamicPartition"]["__typename"] == "AddDynamicPartitionSuccess", added
    launched = stack.graphql(
        """mutation Launch($params: ExecutionParams!) { launchRun(executionParams: $params) {
             __typename ... on LaunchRunSuccess { run { runId status } }
             ... on PythonError { message } ... on RunConfigValidationInvalid { errors { message } } } }""",
        {"params": {
            "selector": {**stack.repository_selector(), "jobName": "sample_report_job"},
            "runConfigData": sample_run_config(str(SAMPLE_VCF)),
            "executionMetadata": {"tags": [{"key": "dagster/partition", "value": partition},
                                           {"key": "hcml/department", "value": "genetics"},
                                           {"key": "hcml/analysis", "value": "sample_report"}]},
        }})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    # the queued run coordinator, not the webserver, starts it
    assert launched["run"]["status"] in ("QUEUED", "NOT_STARTED", "STARTING", "STARTED")
    run = _wait_for_finished_run(stack, "dagster/partition", partition, 600)
    assert run["status"] == "SUCCESS", _run_failure_detail(stack, run["runId"])
    _check_lineage(stack, partition, run["runId"])
    status = subprocess.run(["psql", postgres["url"], "-tAc",
                             f"SELECT status FROM runs WHERE run_id = '{run['runId']}'"],
                            capture_output=True, text=True, check=True).stdout.strip()
    assert status == "SUCCESS"


def test_kafka_sensor_turns_a_submission_into_a_traced_run(stack, monkeypatch):
    """A submission produced to the real broker -> the Kafka sensor (run by the daemon) -> a finished run
    with the asset lineage, tagged with whom it is for and the submission's W3C trace context."""
    sensors = stack.graphql(
        """query S($sel: RepositorySelector!) { sensorsOrError(repositorySelector: $sel) {
             ... on Sensors { results { name sensorState { status } } } } }""",
        {"sel": stack.repository_selector()})["sensorsOrError"]
    names = {s["name"]: s["sensorState"]["status"] for s in sensors.get("results", [])}
    if "kafka_submissions" not in names:
        pytest.skip("sensors/kafka_submissions.py is not in the code location's Definitions yet")
    missing = _repository_has(stack, *SAMPLE_CHAIN)
    if missing:
        pytest.skip(f"the code location does not define {sorted(missing)} yet")
    assert names["kafka_submissions"] == "RUNNING"  # default status: production needs no manual start

    from hcml import observability as obs
    from hcml.events import topics
    from hcml.events.messages import SOURCE_CLI, make_submission, submission_event
    from hcml.events.producer import EventProducer

    for key in ("HCML_DATA_DIR", "HCML_PSEUDONYM_KEY", "HCML_KAFKA_BOOTSTRAP"):
        monkeypatch.setenv(key, stack.env[key])
    obs.configure_tracing("hcml-deploy-test")
    submission = make_submission(
        patient_id="deploy-test-patient", requester="deploy-test", department="genetics",
        project="deploy-smoke", input_kind="vcf", payload=SAMPLE_VCF.read_bytes())
    with obs.tracer().start_as_current_span("test.submit") as span:
        event = submission_event(submission, source=SOURCE_CLI)
        with EventProducer(stack.env["HCML_KAFKA_BOOTSTRAP"]) as producer:
            producer.send(topics.RAW, event)
    trace_id = format(span.get_span_context().trace_id, "032x")

    run = _wait_for_finished_run(stack, "hcml/submission_id", submission.submission_id, 600)
    assert run["jobName"] == "sample_report_job"
    assert run["status"] == "SUCCESS", _run_failure_detail(stack, run["runId"])
    run_tags = {t["key"]: t["value"] for t in run["tags"]}
    assert run_tags["hcml/department"] == "genetics" and run_tags["hcml/project"] == "deploy-smoke"
    assert run_tags[obs.TRACEPARENT_TAG].split("-")[1] == trace_id  # the trace continues into the run
    assert "deploy-test-patient" not in str(run["tags"])  # pseudonymised, never the patient id
    _check_lineage(stack, run_tags["dagster/partition"], run["runId"])

    # ... and the loop closes: the run's result comes back on genetic-data-annotated, same trace
    from hcml.events.consumer import read_batch
    from hcml.events.messages import from_kafka, parse_result

    def result_on_kafka():
        batch = read_batch(stack.env["HCML_KAFKA_BOOTSTRAP"], topics.ANNOTATED, topics.GROUP_CLI_TAIL, {},
                           max_records=1000, max_seconds=5)
        for record in batch.records:
            event = from_kafka(record.key, record.value, list(record.headers))
            result = parse_result(event)
            if result.submission_id == submission.submission_id:
                return event, result
        return None

    event, result = _wait("the run's result on genetic-data-annotated", result_on_kafka, 180, every=5,
                          on_timeout=stack.tail)
    assert result.run_id == run["runId"] and result.status == "succeeded"
    assert event.get_attributes()["traceparent"].split("-")[1] == trace_id

    # no patient identifier in anything the platform wrote: process logs and the runs' compute logs
    home = Path(stack.env["DAGSTER_HOME"])
    written = [*stack.logs.values(), *(p for p in home.rglob("*") if p.is_file() and p.suffix in (".out", ".err", ".log"))]
    assert len(written) > 2
    for path in written:
        assert "deploy-test-patient" not in path.read_text(errors="replace"), path
