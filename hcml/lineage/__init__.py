"""Lineage for compliance: fingerprints of raw inputs, impact search over report provenance, report diffs."""
