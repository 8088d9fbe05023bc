"""Run-tag keys: who a run is for (cost attribution) and which submission it serves (lineage).

Set by the sensors, the CLI and the API; read by the cost-attribution code. Values are never patient
identifiers.
"""

DEPARTMENT = "hcml/department"
PROJECT = "hcml/project"
USER = "hcml/user"
ANALYSIS = "hcml/analysis"
SUBMISSION_ID = "hcml/submission_id"
SOURCE_URI = "hcml/source_uri"

ATTRIBUTION_TAGS = (DEPARTMENT, PROJECT, USER, ANALYSIS)
