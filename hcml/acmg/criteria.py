"""The ACMG/AMP criteria the platform's data support (Richards et al. 2015 with ClinGen SVI refinements).

Each criterion is a vectorised rule over the classification input (`hcml.acmg.classify.acmg_input`): numpy
masks and strengths for every row at once; the one-line evidence text is formatted only for the rows the
criterion is met on. Strengths: 1 Supporting, 2 Moderate, 3 Strong, 4 Very strong, 5 Stand-alone; a
criterion's code carries a suffix when it is applied at other than its own strength (`PM2_Supporting`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from hcml.acmg.reference import AcmgReference, change_keys, gather, residue_keys

SUPPORTING, MODERATE, STRONG, VERY_STRONG, STAND_ALONE = 1, 2, 3, 4, 5
STRENGTH_NAME = {
    SUPPORTING: "Supporting",
    MODERATE: "Moderate",
    STRONG: "Strong",
    VERY_STRONG: "VeryStrong",
    STAND_ALONE: "StandAlone",
}
DEFAULT_STRENGTH = {
    "PVS": VERY_STRONG,
    "PS": STRONG,
    "PM": MODERATE,
    "PP": SUPPORTING,
    "BA": STAND_ALONE,
    "BS": STRONG,
    "BP": SUPPORTING,
}

# Criteria no data of the platform can support, each with the reason (listed on every variant).
NOT_EVALUATED = {
    "PS2": "de novo status (needs parental genotypes and confirmed parentage)",
    "PS3": "functional studies (literature curation)",
    "PS4": "case-control prevalence (needs case cohorts)",
    "PM1": "mutational hot spot / functional domain (no domain annotation in the bundle)",
    "PM3": "in trans with a pathogenic variant (needs phased genotypes, recessive disorders)",
    "PM6": "assumed de novo (needs parental data)",
    "PP1": "co-segregation with disease (needs pedigrees)",
    "PP4": "phenotype specific for the gene (needs the patient's phenotype)",
    "PP5": "reputable source (retired by ClinGen SVI 2018; ClinVar is shown beside the class)",
    "BS2": "observed in healthy adults (needs zygosity in a healthy cohort)",
    "BS3": "functional studies (literature curation)",
    "BS4": "non-segregation (needs pedigrees)",
    "BP2": "in trans / in cis with a pathogenic variant (needs phased genotypes)",
    "BP3": "in-frame indel in a repeat region (no repeat annotation in the bundle)",
    "BP5": "alternate molecular cause found (needs the case's other findings)",
    "BP6": "reputable source (retired by ClinGen SVI 2018; ClinVar is shown beside the class)",
}


def code_with_strength(code: str, strength: int) -> str:
    """`PVS1`, or `PVS1_Strong` when applied at another strength than the criterion's own."""
    own = DEFAULT_STRENGTH[code.rstrip("0123456789")]
    return code if strength == own else f"{code}_{STRENGTH_NAME[strength]}"


@dataclass
class Met:
    """One criterion over all rows: strength (0 = not met), evidence per met row, per-row 'not evaluated'."""

    code: str
    strength: np.ndarray
    evidence: dict[int, str] = field(default_factory=dict)
    not_evaluated: dict[int, str] = field(default_factory=dict)


@dataclass
class Inputs:
    """Column arrays of the classification input (one row per variant)."""

    n: int
    gene: list
    gene_idx: np.ndarray
    klass: np.ndarray  # consequence class (hcml.ml.features), object array
    so_term: list  # most severe SO term, None for variants read from HGVS only
    consequence_terms: list  # the picked consequence's SO terms ("missense_variant,splice_region_variant"), or None
    alt_aa: list
    protein_position: np.ndarray  # 0: unknown
    hgvsp: list
    transcript: list
    cdna_position: np.ndarray  # first cDNA position, 0: unknown
    chrom: list
    pos: np.ndarray  # 0: unknown
    af_1000g: np.ndarray  # NaN: absent
    af_super: np.ndarray  # (n, 5) 1000 Genomes AFR, AMR, EAS, EUR, SAS
    af_gnomade: np.ndarray
    score: np.ndarray  # NaN: no score
    self_ids: list  # ClinVar id of the variant itself (never its own evidence)
    settings: dict[str, np.ndarray]  # per-row thresholds (hcml.acmg.config.Settings fields)
    disabled: dict[str, np.ndarray]  # code -> per-row "switched off for this gene"
    any_disabled: bool = True  # False: the configuration switches nothing off (the per-criterion check skipped)


def _fmt_af(x: float) -> str:
    return "absent" if np.isnan(x) else f"{x:.3g}"


def _self_records(inp: Inputs, ref: AcmgReference) -> np.ndarray:
    """Row of the evidence records that is the variant itself (-1: none)."""
    get = ref.record_index.get
    return np.fromiter((get(s, -1) if s else -1 for s in inp.self_ids), np.int64, inp.n)


class Context:
    """Look-ups shared by several criteria, done once per call: the gene's row of the reference's per-gene
    tables (one take), the residue / amino-acid change counts for missense rows, less the variant's own record."""

    def __init__(self, inp: Inputs, ref: AcmgReference) -> None:
        self.inp, self.ref = inp, ref
        self.self_ids = inp.self_ids
        counts = ref.gene_count_table[inp.gene_idx]  # GENE_COUNTS columns
        values = ref.gene_values[inp.gene_idx]
        self.loeuf, self.mis_z = values[:, 0], values[:, 1]
        missense = inp.klass == "missense"
        if missense.any():
            self.residue = np.where(missense, residue_keys(inp.gene_idx, inp.protein_position), -1)
            self.change = np.where(missense, change_keys(self.residue, inp.alt_aa), -1)
            self.change_plp = gather(ref.change_plp, ref.change_index.find(self.change))
            self.residue_plp = gather(ref.residue_plp_missense, ref.residue_index.find(self.residue))
        else:
            self.residue = self.change = np.full(inp.n, -1, np.int64)
            self.change_plp = self.residue_plp = np.zeros(inp.n, np.int64)
        self_at = _self_records(inp, ref)
        if (self_at >= 0).any():  # the variant's own ClinVar record is taken out of every count
            counts = counts - self._own_record(self_at, missense)
        self.n_plp_null, self.n_plp_missense, self.n_blb_missense, self.n_plp = counts.T

    def _own_record(self, self_at: np.ndarray, missense: np.ndarray) -> np.ndarray:
        """The variant's own record in the per-gene counts (GENE_COUNTS columns); subtracts it from the residue and
        change counts in place."""
        inp, rec = self.inp, self.ref.record_arrays
        has_self = self_at >= 0
        at = np.maximum(self_at, 0)

        def self_col(name, missing):
            values = rec[name]
            return np.where(has_self, values[at] if len(values) else missing, missing)

        same_gene = has_self & (self_col("gene_idx", -1) == inp.gene_idx)
        self_plp = same_gene & (self_col("label", 0) == 1)
        self_blb = same_gene & (self_col("label", 1) == 0)
        self_null = self_plp & self_col("null", False)
        self_mis = same_gene & self_col("missense", False)
        self_residue = np.where(same_gene, self_col("residue_key", -1), -1)
        self_change = np.where(same_gene, self_col("change_key", -1), -1)
        self_missense_plp = self_plp & self_mis
        self.change_plp = self.change_plp - (self_missense_plp & (self_change == self.change) & (self.change >= 0))
        self.residue_plp = self.residue_plp - (self_missense_plp & (self_residue == self.residue) & (self.residue >= 0))
        return np.column_stack([self_null, self_plp & self_mis, self_blb & self_mis, self_plp]).astype(np.int64)


def _rows(mask: np.ndarray) -> list[int]:
    return mask.nonzero()[0].tolist()


def pvs1(ctx: Context) -> Met:
    """Null variant in a gene where LoF is a disease mechanism, at the strength of the ClinGen SVI PVS1 tree
    (Abou Tayoun et al. 2018) that the bundle's transcripts allow:
    - nonsense / frameshift: NMD predicted (the premature stop lies before the last 50 nt of the penultimate
      exon) -> PVS1; NMD escape (last exon or last 50 nt of the penultimate exon) and more than
      `pvs1_nmd_min_removed` of the protein lost -> PVS1_Strong, less -> PVS1_Moderate; no exon structure
      (a variant read from HGVS outside the bundle) -> NMD assumed, at `pvs1_without_exons` (default PVS1);
    - canonical splice site (+/-1,2): splicing outcome not predicted -> PVS1_Strong;
    - initiation codon: alternative start not assessed -> PVS1_Supporting.
    LoF mechanism: gnomAD LOEUF below `pvs1_max_loeuf`, or at least `pvs1_min_clinvar_lof` other ClinVar
    P/LP null variants in the gene."""
    inp, s = ctx.inp, ctx.inp.settings
    klass = inp.klass
    truncating = (klass == "stop_gained") | (klass == "frameshift")
    null = truncating | (klass == "splice_site") | (klass == "start_lost")
    if not null.any():
        return Met("PVS1", np.zeros(inp.n, np.int8))
    by_loeuf = ctx.loeuf < s["pvs1_max_loeuf"]
    by_clinvar = ctx.n_plp_null >= s["pvs1_min_clinvar_lof"]
    mechanism = by_loeuf | by_clinvar
    tx = inp.transcript
    junction = np.zeros(inp.n, np.int64)
    length = np.zeros(inp.n, np.int64)
    structure = np.zeros(inp.n, bool)
    for i in _rows(truncating & mechanism):  # structure only where it decides (met rows)
        got = ctx.ref.transcripts.get(tx[i] or "")
        if got is not None and inp.cdna_position[i] > 0:
            junction[i], length[i], structure[i] = got[0], got[1], True
    nmd_escape = structure & (inp.cdna_position > junction - 50)
    removed = np.where(length > 0, (length - inp.protein_position + 1) / np.maximum(length, 1), 0.0)
    strength = np.select(
        [
            ~(null & mechanism),
            truncating & structure & ~nmd_escape,
            truncating & nmd_escape & (removed > s["pvs1_nmd_min_removed"]),
            truncating & nmd_escape,
            truncating & ~structure,
            truncating | (klass == "splice_site"),
            klass == "start_lost",
        ],
        [0, VERY_STRONG, STRONG, MODERATE, s["pvs1_without_exons"], STRONG, SUPPORTING],
        0,
    ).astype(np.int8)
    met = Met("PVS1", strength)
    for i in _rows(strength > 0):
        why = (
            f"LOEUF {ctx.loeuf[i]:.2f} < {s['pvs1_max_loeuf'][i]:g}"
            if by_loeuf[i]
            else f"{ctx.n_plp_null[i]} other ClinVar P/LP null variants in {inp.gene[i]}"
        )
        k = klass[i]
        if truncating[i] and not structure[i]:
            rule = (
                f"NMD assumed (no exon structure for this transcript: the last-exon rule not checked): "
                f"{STRENGTH_NAME[int(strength[i])]}"
            )
        elif truncating[i] and nmd_escape[i]:
            rule = (
                f"PTC at c.{inp.cdna_position[i]} escapes NMD (last exon or last 50 nt of the penultimate exon, "
                f"junction at {junction[i]}); {removed[i]:.0%} of {length[i]} aa lost"
            )
        elif truncating[i]:
            rule = f"NMD predicted (PTC at cDNA {inp.cdna_position[i]} < last junction {junction[i]} - 50)"
        elif k == "splice_site":
            rule = "canonical splice site +/-1,2; splicing outcome not predicted: Strong"
        else:
            rule = "initiation codon; alternative in-frame start not assessed: Supporting"
        met.evidence[i] = f"{k.replace('_', ' ')} in {inp.gene[i]}; {rule}; LoF mechanism: {why}"
    return met


def _example(items, self_id, keep=lambda item: True):
    for item in items:
        if item[0] != self_id and keep(item):
            return item
    return None


def ps1(ctx: Context) -> Met:
    """Same amino-acid change as another ClinVar P/LP missense variant (a different nucleotide change: the
    variant's own record never counts)."""
    strength = np.where(ctx.change_plp > 0, STRONG, 0).astype(np.int8)
    met = Met("PS1", strength)
    for i in _rows(strength > 0):
        ex = _example(ctx.ref.change_examples.get(int(ctx.change[i]), []), ctx.self_ids[i])
        more = f" (+{ctx.change_plp[i] - 1} more)" if ctx.change_plp[i] > 1 else ""
        met.evidence[i] = f"ClinVar {ex[0]} {ex[1]} {ex[2]}{more}" if ex else f"{ctx.change_plp[i]} ClinVar P/LP"
    return met


def pm5(ctx: Context) -> Met:
    """Another P/LP missense change at the same residue in ClinVar (a different new amino acid)."""
    other = ctx.residue_plp - ctx.change_plp
    strength = np.where(other > 0, MODERATE, 0).astype(np.int8)
    met = Met("PM5", strength)
    alt = ctx.inp.alt_aa
    for i in _rows(strength > 0):
        ex = _example(
            ctx.ref.residue_examples.get(int(ctx.residue[i]), []), ctx.self_ids[i], lambda item, a=alt[i]: item[3] != a
        )
        met.evidence[i] = (
            f"ClinVar {ex[0]} {ex[1]} {ex[2]} at residue {ctx.inp.protein_position[i]}"
            if ex
            else f"{other[i]} ClinVar P/LP at residue {ctx.inp.protein_position[i]}"
        )
    return met


def _population(ctx: Context) -> tuple[np.ndarray, np.ndarray, dict[int, str]]:
    """(covered, highest AF, reasons for rows without population data)."""
    inp = ctx.inp
    span = ctx.ref.population_span
    lo = np.array([span.get(c, (1, 0))[0] if c else 1 for c in inp.chrom], np.int64)
    hi = np.array([span.get(c, (1, 0))[1] if c else 0 for c in inp.chrom], np.int64)
    covered = (inp.pos >= lo) & (inp.pos <= hi) & (inp.pos > 0)
    top = np.fmax(np.fmax(inp.af_1000g, inp.af_gnomade), _max_super(inp))
    top = np.where(np.isnan(top), 0.0, top)
    missing = _rows(~covered)
    if not missing:
        return covered, top, {}
    reason = f"no population data at this position (the bundle's known variants cover {ctx.ref.population_regions or 'none'})"
    return covered, top, dict.fromkeys(missing, reason)


SUPER_NAMES = ("AFR", "AMR", "EAS", "EUR", "SAS")


def _max_super(inp: Inputs) -> np.ndarray:
    # fmax ignores NaN (no all-NaN warning): absent super-populations leave NaN
    return np.fmax.reduce(inp.af_super, axis=1) if inp.af_super.size else np.full(inp.n, np.nan)


def _pop_text(inp: Inputs, i: int) -> str:
    sup = inp.af_super[i]
    if np.isnan(inp.af_gnomade[i]) and np.isnan(inp.af_1000g[i]) and np.isnan(sup).all():
        return "absent from gnomAD exomes and 1000 Genomes (the bundle's known variants)"
    parts = [f"gnomAD exomes AF {_fmt_af(inp.af_gnomade[i])}", f"1000 Genomes AF {_fmt_af(inp.af_1000g[i])}"]
    if not np.isnan(sup).all():
        k = int(np.nanargmax(sup))
        parts.append(f"1000 Genomes {SUPER_NAMES[k]} AF {_fmt_af(sup[k])} (highest super-population)")
    return ", ".join(parts)


def frequency(ctx: Context) -> list[Met]:
    """BA1 (AF > `ba1_af`, stand-alone), BS1 (AF > `bs1_af`), PM2_Supporting (absent or AF <= `pm2_max_af`;
    ClinGen SVI 2020: supporting strength), over the highest of gnomAD exomes AF and 1000 Genomes AF, global or
    super-population (the known-variants table carries 1000 Genomes mostly per super-population)."""
    inp, s = ctx.inp, ctx.inp.settings
    covered, top, reasons = _population(ctx)
    ba1 = covered & (top > s["ba1_af"])
    bs1 = covered & ~ba1 & (top > s["bs1_af"])
    pm2 = covered & (top <= s["pm2_max_af"])
    out = []
    for code, mask, strength, rule in (
        ("BA1", ba1, STAND_ALONE, lambda i: f" > {s['ba1_af'][i]:g}"),
        ("BS1", bs1, STRONG, lambda i: f" > {s['bs1_af'][i]:g} (expected for the disorder)"),
        ("PM2", pm2, SUPPORTING, lambda i: f"; threshold AF <= {s['pm2_max_af'][i]:g}"),
    ):
        met = Met(code, np.where(mask, strength, 0).astype(np.int8), not_evaluated=dict(reasons))
        for i in _rows(mask):
            met.evidence[i] = _pop_text(inp, i) + rule(i)
        out.append(met)
    return out


_P_SPAN = re.compile(r"p\.\(?[A-Z][a-z]{2}(\d+)(?:_[A-Z][a-z]{2}(\d+))?delins((?:[A-Z][a-z]{2})+)")
_LENGTH_CHANGING_SO = ("inframe_insertion", "inframe_deletion", "stop_lost")


def _changes_length(hgvsp: str | None, so_term: str | None) -> bool:
    """An in-frame change alters the protein's length: VEP's SO term when annotated; from HGVS p. otherwise
    (a delins replacing as many residues as it removes keeps the length: VEP calls it missense)."""
    if so_term is not None:
        return so_term in _LENGTH_CHANGING_SO
    m = _P_SPAN.search(hgvsp or "")
    if m is None:
        return True
    start, end = int(m.group(1)), int(m.group(2) or m.group(1))
    return len(m.group(3)) // 3 != end - start + 1


def pm4(ctx: Context, pvs1_met: np.ndarray) -> Met:
    """Protein length change: in-frame indel or stop-loss, when PVS1 does not apply (repeats not checked)."""
    k = ctx.inp.klass
    mask = ((k == "inframe_indel") | (k == "stop_lost")) & ~pvs1_met
    for i in _rows(mask & (k == "inframe_indel")):
        mask[i] = _changes_length(ctx.inp.hgvsp[i], ctx.inp.so_term[i])
    met = Met("PM4", np.where(mask, MODERATE, 0).astype(np.int8))
    for i in _rows(mask):
        what = "stop-loss" if k[i] == "stop_lost" else "in-frame indel"
        met.evidence[i] = (
            f"{what} {ctx.inp.hgvsp[i] or ''} changes protein length (repeat regions not checked)".replace("  ", " ")
        )
    return met


def bp7(ctx: Context) -> Met:
    """Synonymous change outside VEP's splice region (the annotator's SO terms); a variant read from HGVS alone
    has no exon structure, so its splice-region status is unknown and BP7 is not evaluated."""
    inp = ctx.inp
    syn = inp.klass == "synonymous"
    known = np.array([t is not None for t in inp.so_term], bool)
    splice = np.array([t is not None and "splice" in t for t in inp.so_term], bool)
    mask = syn & known & ~splice
    met = Met("BP7", np.where(mask, SUPPORTING, 0).astype(np.int8))
    for i in _rows(mask):
        met.evidence[i] = f"synonymous ({inp.so_term[i]}), not in a splice region"
    for i in _rows(syn & ~known):
        met.not_evaluated[i] = "splice-region status unknown (variant read from HGVS, no exon structure)"
    return met


def gene_spectrum(ctx: Context) -> list[Met]:
    """PP2: missense in a missense-constrained gene (gnomAD missense z >= `pp2_min_mis_z`) whose ClinVar missense
    are mostly P/LP (>= `pp2_min_clinvar_missense` P/LP, benign share <= `pp2_max_benign_missense_share`).
    BP1: missense in a gene whose ClinVar P/LP are almost all truncating (>= `bp1_min_clinvar_lof` null, missense
    share of P/LP <= `bp1_max_missense_share`). The variant's own record is left out of the counts."""
    inp, s = ctx.inp, ctx.inp.settings
    missense = inp.klass == "missense"
    labelled = ctx.n_plp_missense + ctx.n_blb_missense
    benign_share = np.where(labelled > 0, ctx.n_blb_missense / np.maximum(labelled, 1), 1.0)
    pp2 = (
        missense
        & (ctx.mis_z >= s["pp2_min_mis_z"])
        & (ctx.n_plp_missense >= s["pp2_min_clinvar_missense"])
        & (benign_share <= s["pp2_max_benign_missense_share"])
    )
    mis_share = np.where(ctx.n_plp > 0, ctx.n_plp_missense / np.maximum(ctx.n_plp, 1), 1.0)
    bp1 = missense & (ctx.n_plp_null >= s["bp1_min_clinvar_lof"]) & (mis_share <= s["bp1_max_missense_share"])
    a = Met("PP2", np.where(pp2, SUPPORTING, 0).astype(np.int8))
    for i in _rows(pp2):
        a.evidence[i] = (
            f"missense in {inp.gene[i]}: gnomAD missense z {ctx.mis_z[i]:.2f}; ClinVar missense "
            f"P/LP {ctx.n_plp_missense[i]}, B/LB {ctx.n_blb_missense[i]} ({benign_share[i]:.0%} benign)"
        )
    b = Met("BP1", np.where(bp1, SUPPORTING, 0).astype(np.int8))
    for i in _rows(bp1):
        b.evidence[i] = (
            f"missense in {inp.gene[i]}, where ClinVar P/LP are truncating: {ctx.n_plp_null[i]} null, "
            f"{ctx.n_plp_missense[i]} missense of {ctx.n_plp[i]} ({mis_share[i]:.0%})"
        )
    return [a, b]


NO_THRESHOLDS = "model has no calibrated thresholds (hcml.ml.evidence.model_thresholds)"
_LEVEL_STRENGTH = (("supporting", SUPPORTING), ("moderate", MODERATE), ("strong", STRONG), ("very_strong", VERY_STRONG))


def _splice_status(inp: Inputs) -> tuple[np.ndarray, np.ndarray]:
    """(known, in a splice region) from the annotator's SO terms of the variant's picked consequence: VEP's
    splice terms (splice_region_variant, splice donor/acceptor ...); unknown for a variant read from HGVS."""
    terms = inp.consequence_terms
    known = np.fromiter((t is not None for t in terms), bool, inp.n)
    splice = np.fromiter((t is not None and "splice" in t for t in terms), bool, inp.n)
    return known, splice


def in_silico(ctx: Context, thresholds: dict | None, model: str, pvs1_met: np.ndarray) -> list[Met]:
    """PP3 / BP4 from the pathogenicity model at the strength of its calibrated thresholds (Pejaver et al. 2022,
    AJHG 109:2163; `hcml.ml.evidence`): the strongest level the score reaches. Only single amino-acid
    substitutions (what the calibration covers), and never with PVS1 (Pejaver et al. 2022: in silico evidence
    is not counted again for a null variant). BP4 also needs splicing not implicated (ClinGen SVI Splicing
    Subgroup, Walker et al. 2023, AJHG 110:1046: computational evidence of no impact must cover splicing as
    well as the protein); without a splicing predictor, the proxy BP7 uses: none of the annotator's SO terms
    is a splice term; a variant read from HGVS (no exon structure) leaves BP4 not evaluated."""
    inp = ctx.inp
    pp3 = Met("PP3", np.zeros(inp.n, np.int8))
    bp4 = Met("BP4", np.zeros(inp.n, np.int8))
    if thresholds is None:
        pp3.not_evaluated = bp4.not_evaluated = {i: NO_THRESHOLDS for i in range(inp.n)}
        return [pp3, bp4]
    single = np.fromiter((a is not None for a in inp.alt_aa), bool, inp.n)  # one residue for another
    eligible = (inp.klass == "missense") & single & ~pvs1_met & ~np.isnan(inp.score)
    score = np.where(np.isnan(inp.score), 0.5, inp.score)
    known, splice = _splice_status(inp)
    for met, side, cmp in ((pp3, "pathogenic", np.greater_equal), (bp4, "benign", np.less_equal)):
        cuts = thresholds.get(side, {})
        levels = [(float(cuts[name]), strength) for name, strength in _LEVEL_STRENGTH if cuts.get(name) is not None]
        if levels and eligible.any():
            cut, strength = np.array(levels).T
            reached = cmp(score[:, None], cut[None, :]) & eligible[:, None]
            met.strength = np.where(reached, strength, 0).max(axis=1).astype(np.int8)  # the strongest reached
    reached = bp4.strength > 0
    for i in _rows(reached & ~known):
        bp4.not_evaluated[i] = (
            "splicing impact not assessed (variant read from HGVS, no exon structure; BP4 needs no predicted "
            "splicing impact: ClinGen SVI Splicing, Walker 2023)"
        )
    for i in _rows(reached & known & splice):
        bp4.not_evaluated[i] = f"in a splice region ({inp.consequence_terms[i]}): splicing impact not predicted"
    bp4.strength = np.where(known & ~splice, bp4.strength, 0).astype(np.int8)
    for met, side, op in ((pp3, "pathogenic", ">="), (bp4, "benign", "<=")):
        cuts = thresholds.get(side, {})
        for i in _rows(met.strength > 0):
            name = _LEVEL_STRENGTH[int(met.strength[i]) - 1][0]
            met.evidence[i] = f"{model} score {score[i]:.3f} {op} {cuts[name]:g} ({side} {name} threshold)"
    return [pp3, bp4]
