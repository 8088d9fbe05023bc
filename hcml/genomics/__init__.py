"""genomics domain of the hcml core."""
