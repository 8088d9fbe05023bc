"""Kafka event streaming of hcml: topic names, CloudEvents messages, producer/consumer helpers (no Dagster).

See docs/events.md. The Dagster sensors that use this package live in `sensors/kafka_*.py` and
`sensors/run_results.py`.
"""
