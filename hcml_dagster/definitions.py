"""The one `Definitions` of the hcml code location (workspace.yaml points here).

Assets, checks, sensors and resources are collected from their modules; resources for the current
environment are chosen in `resources.build_resources()` (one place).
"""

import dagster as dg

defs = dg.Definitions(assets=[])
