"""ACMG/AMP variant classification (Richards et al. 2015, ClinGen SVI refinements, Tavtigian et al. 2020 points).

Domain core: no Dagster or web imports. See docs/acmg.md.
"""
