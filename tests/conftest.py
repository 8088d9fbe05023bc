"""Shared pytest set-up. Each domain keeps its fixtures in a plugin module of its own under tests/fixtures/."""

import os
import shutil
import sys
import tempfile

import pytest

pytest_plugins = [
    "tests.fixtures.paths",
    "tests.fixtures.bundle",
    "tests.fixtures.kafka",
    "tests.fixtures.azurite",
    "tests.fixtures.mlflow",
    "tests.fixtures.postgres",
]


def pytest_addoption(parser):
    parser.addoption(
        "--small-path",
        choices=("auto", "on", "off"),
        default="auto",
        help="force the row-by-row twins of hcml.small_inputs on or off for every call (HCML_SMALL_PATH, "
        "inherited by the services the tests start); CI runs the tests marked small_path with on and off",
    )


def pytest_configure(config):
    """Every session starts from an empty data directory: tests never read or write the developer's var/
    (a champion model or Dagster history left there by `hcml demo` must not change what a test sees)."""
    config._hcml_data_dir = tempfile.mkdtemp(prefix="hcml-test-data-")
    os.environ["HCML_DATA_DIR"] = config._hcml_data_dir
    os.environ["HCML_SMALL_PATH"] = config.getoption("--small-path")
    config.addinivalue_line(
        "markers",
        "small_path: the outcome depends on whether the small-input twins or the vectorised forms run "
        "(scripts/test.sh runs these again with --small-path=on and --small-path=off)",
    )


def pytest_unconfigure(config):
    shutil.rmtree(getattr(config, "_hcml_data_dir", ""), ignore_errors=True)


@pytest.fixture(autouse=True)
def _definitions_built_in_a_test_stay_in_that_test():
    """`hcml_dagster.definitions` builds `defs` at import from the environment (resources.build_resources): a
    test that first imports it under Azure settings (azure_env) must not hand that `defs` (storage bound to
    an environment variable the next test no longer has) to the tests after it; the next import rebuilds."""
    loaded_before = "hcml_dagster.definitions" in sys.modules
    yield
    if not loaded_before:
        sys.modules.pop("hcml_dagster.definitions", None)
