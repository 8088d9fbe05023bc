"""Dagster code location for hcml."""
