"""Concordance of hcml's ACMG/AMP classification with ClinVar on the model's held-out genes.

    .venv/bin/python bench/acmg_concordance.py [--split test] [--json]

The set and the rules are `hcml acmg evaluate`'s (hcml.acmg.evaluate): ClinVar 2016 records of the genes the
model never trained on, >= 1 review star, not conflicted, one tier; each variant classified from its HGVS with
its own ClinVar record(s) removed from every look-up. Prints the dangerous flips (target <= 0.5 %), three-tier
concordance per consequence class, the share left VUS, and the published InterVar figure beside ours with
what makes the comparison not like for like.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.realtime_startup import ensure_bundle  # noqa: E402

NOT_LIKE_FOR_LIKE = """\
Published comparison: InterVar (Li & Wang 2017, Am J Hum Genet 100:267) reports its automated calls against
expert/ClinVar classifications. Not like for like with the figures above:
- population data: InterVar reads ExAC/1000 Genomes/ESP for every variant (BA1, BS1, PM2); here the population
  table covers only chr21:25-26 Mb, so PM2/BA1/BS1 are not evaluated for held-out ClinVar variants and almost
  every ClinVar benign variant stays VUS (benign evidence is mostly frequency);
- in silico: InterVar uses dbNSFP predictors (PP3/BP4 at supporting strength); here PP3/BP4 come from the
  platform's own model only when it carries calibrated evidence_thresholds (otherwise not evaluated);
- leave-one-out: each variant here is removed from its own ClinVar look-ups; a tool that reads the ClinVar
  release containing the variant (PP5/BP6, or PS1/PM5 against itself) is partly scored against its answer;
- gene sets: InterVar's LoF gene list vs gnomAD LOEUF + ClinVar here; the genes here are the model's
  held-out genes only (the 20 % salted-hash split of hcml.ml.data);
- three tiers: ClinVar VUS are included here (5,088 of the set), which rewards calling VUS."""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--split", default="test", choices=["test", "validation", "train"])
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    from hcml.acmg.cli import format_result
    from hcml.acmg.evaluate import evaluate
    from hcml.genomics.bundle import ReferenceBundle
    from hcml.ml.serving import load_scorer
    from hcml.observability import configure_logging

    configure_logging("bench")
    bundle = ReferenceBundle.load(ensure_bundle(None))
    t = time.perf_counter()
    result = evaluate(bundle, load_scorer(), split=args.split)
    seconds = time.perf_counter() - t
    if args.json:
        print(json.dumps(result, indent=1, default=str))
        return
    print(format_result(result))
    print(f"confusion (ClinVar tier -> hcml tier): "
          + ", ".join(f"{c['clinvar_tier']}->{c['acmg_tier']} {c['n']}" for c in result["confusion"]))
    print(f"classified {result['n_variants']} variants in {seconds:.1f} s (reference tables included)")
    print()
    print(NOT_LIKE_FOR_LIKE)


if __name__ == "__main__":
    main()
