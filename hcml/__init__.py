"""hcml: offline genomic variant interpretation (domain core, free of Dagster and web imports)."""

__version__ = "0.1.0"
