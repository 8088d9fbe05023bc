"""Idempotent topic creation: create what is missing, grow partitions, leave the rest alone."""

from __future__ import annotations

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewPartitions, NewTopic

from hcml.events.kafka_config import AuthWatch, client_config, watched
from hcml.events.topics import TOPICS, TopicSpec


def admin_client(bootstrap: str) -> AdminClient:
    return _watched_admin(bootstrap)[0]


def _watched_admin(bootstrap: str) -> tuple[AdminClient, AuthWatch]:
    """An admin client through `client_config` (security from the environment) and the watch that turns
    a request timed out after a refused login into `KafkaAuthenticationError`."""
    conf, watch = watched(client_config(bootstrap, **{"client.id": "hcml-admin"}))
    return AdminClient(conf), watch


def broker_count(admin: AdminClient, timeout: float = 15.0) -> int:
    return len(admin.list_topics(timeout=timeout).brokers)


def ensure_topics(
    bootstrap: str, specs: list[TopicSpec] | None = None, replication_factor: int | None = None, timeout: float = 30.0
) -> dict[str, str]:
    """Create the platform's topics if missing; answers {topic: "created" | "exists" | "grown"}.

    The replication factor is each spec's (3 in production) capped at the number of brokers, unless
    given; `min.insync.replicas` is 2 when the replication factor is 3 or more, else 1.
    """
    admin, watch = _watched_admin(bootstrap)
    specs = list(specs or TOPICS.values())
    with watch.failures("creating topics", serve=lambda: admin.poll(0)):
        brokers = broker_count(admin, timeout)
        metadata = admin.list_topics(timeout=timeout).topics
    outcome: dict[str, str] = {}
    to_create = []
    for spec in specs:
        if spec.name in metadata:
            outcome[spec.name] = "exists"
            continue
        rf = replication_factor or min(spec.replication_factor, brokers)
        config = {**spec.config, "min.insync.replicas": "2" if rf >= 3 else "1"}
        to_create.append(NewTopic(spec.name, num_partitions=spec.partitions, replication_factor=rf, config=config))
    if to_create:
        for name, future in admin.create_topics(to_create, operation_timeout=timeout, request_timeout=timeout).items():
            try:
                future.result(timeout)
                outcome[name] = "created"
            except KafkaException as exc:  # another process created it in between
                if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise
                outcome[name] = "exists"
    grow = [
        NewPartitions(s.name, s.partitions)
        for s in specs
        if s.name in metadata and len(metadata[s.name].partitions) < s.partitions
    ]
    if grow:
        for name, future in admin.create_partitions(grow, operation_timeout=timeout).items():
            future.result(timeout)
            outcome[name] = "grown"
    _wait_for_leaders(admin, bootstrap, [s.name for s in specs], timeout)
    return outcome


def _wait_for_leaders(admin: AdminClient, bootstrap: str, names: list[str], timeout: float) -> None:
    """A freshly created topic answers NOT_LEADER for a moment; wait until every partition has a leader."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        topics = admin.list_topics(timeout=timeout).topics
        ready = all(
            name in topics
            and topics[name].error is None
            and topics[name].partitions
            and all(p.leader >= 0 for p in topics[name].partitions.values())
            for name in names
        )
        if ready:
            from hcml.events.consumer import end_offsets

            for name in names:  # leaders known to the metadata are not always serving yet
                end_offsets(bootstrap, name, timeout=max(deadline - time.monotonic(), 1.0))
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"topics {names} have no leader after {timeout:.0f} s")
        time.sleep(0.2)


def describe_topics(bootstrap: str, timeout: float = 15.0) -> dict[str, dict]:
    """{topic: {"partitions": n, "replication_factor": r}} for the platform's topics that exist."""
    admin, watch = _watched_admin(bootstrap)
    with watch.failures("listing topics", serve=lambda: admin.poll(0)):
        topics = admin.list_topics(timeout=timeout).topics
    out = {}
    for name in TOPICS:
        if name in topics:
            parts = topics[name].partitions
            out[name] = {
                "partitions": len(parts),
                "replication_factor": len(next(iter(parts.values())).replicas) if parts else 0,
            }
    return out
