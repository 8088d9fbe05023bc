"""ml domain of the hcml core."""
