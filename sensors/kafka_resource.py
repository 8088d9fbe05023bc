"""The Kafka resource of the Dagster sensors: bootstrap servers and per-tick bounds.

`bootstrap` unset means HCML_KAFKA_BOOTSTRAP, read when a tick runs; when that is unset too, Kafka is
disabled and the sensors skip with a message saying so (the embedded default needs no broker).
"""

from __future__ import annotations

import dagster as dg

from hcml.events.producer import bootstrap_from_env


class KafkaResource(dg.ConfigurableResource):
    bootstrap: str | None = None
    max_records_per_tick: int = 200
    max_seconds_per_tick: float = 10.0

    def bootstrap_servers(self) -> str | None:
        return self.bootstrap or bootstrap_from_env()


KAFKA_DISABLED = "Kafka is disabled: set HCML_KAFKA_BOOTSTRAP (host:port) to read and publish events"
