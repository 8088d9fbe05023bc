"""events domain of the hcml core."""
