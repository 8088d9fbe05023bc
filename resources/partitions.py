"""Partitions shared by assets and sensors (one definition, imported everywhere)."""

import dagster as dg

# One partition per sample or submission; added by the landing-zone and Kafka sensors.
samples_partitions = dg.DynamicPartitionsDefinition(name="samples")
