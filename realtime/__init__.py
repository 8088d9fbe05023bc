"""Realtime clinical service (ASGI). Must never import Dagster."""
