"""Fixtures of the cohort tests: the pipeline tests' isolated data directory."""

from tests.pipeline.conftest import data_dir  # noqa: F401
