"""Dagster assets: thin wrappers over the hcml core."""
