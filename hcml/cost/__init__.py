"""cost domain of the hcml core."""
