"""Shared pytest set-up. Each domain keeps its fixtures in a plugin module of its own under tests/fixtures/."""

import os
import shutil
import tempfile

pytest_plugins = [
    "tests.fixtures.paths",
    "tests.fixtures.bundle",
    "tests.fixtures.kafka",
    "tests.fixtures.azurite",
    "tests.fixtures.mlflow",
    "tests.fixtures.postgres",
]


def pytest_configure(config):
    """Every session starts from an empty data directory: tests never read or write the developer's var/
    (a champion model or Dagster history left there by `hcml demo` must not change what a test sees)."""
    config._hcml_data_dir = tempfile.mkdtemp(prefix="hcml-test-data-")
    os.environ["HCML_DATA_DIR"] = config._hcml_data_dir


def pytest_unconfigure(config):
    shutil.rmtree(getattr(config, "_hcml_data_dir", ""), ignore_errors=True)
