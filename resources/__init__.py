"""Dagster resources, chosen per environment in one place."""
