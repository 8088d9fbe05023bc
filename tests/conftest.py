"""Shared pytest set-up. Each domain keeps its fixtures in a plugin module of its own under tests/fixtures/."""

pytest_plugins = [
    "tests.fixtures.paths",
    "tests.fixtures.bundle",
    "tests.fixtures.kafka",
    "tests.fixtures.azurite",
    "tests.fixtures.mlflow",
    "tests.fixtures.postgres",
]
