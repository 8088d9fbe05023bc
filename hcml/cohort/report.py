"""The researcher's view of a cohort: one self-contained HTML page (inline SVG, no scripts or CDN).

Figures from the per-site table of `hcml.cohort.stats.summarise_cohort`:
- allele-frequency spectrum: sites with AC > 0 by cohort AF bin (singletons and doubletons apart);
- per-population frequencies against the bundle's known 1000 Genomes frequencies (af_<POP> vs <pop>_af);
- consequence counts (picked consequence per site, VEP --pick order);
- top genes by burden of rare damaging variants: AF < RARE_AF and impact HIGH or MODERATE (VEP IMPACT).
The numbers behind every figure are also embedded as JSON (`<script type="application/json" id="figures">`),
so a test or a notebook reads the same numbers the page draws.
"""

from __future__ import annotations

import html
import itertools
import json
import math

import polars as pl

DAMAGING_IMPACTS = ("HIGH", "MODERATE")
RARE_AF = 0.01
AF_BINS = [0.0, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0]  # right-closed bins after singletons / doubletons
TOP_GENES = 15


def figures(stats: pl.DataFrame, populations: list[str]) -> dict:
    """The numbers of every figure (plain Python values)."""
    seen = stats.filter(pl.col("allele_count") > 0)
    ac, af = seen["allele_count"].to_list(), seen["allele_frequency"].to_list()
    spectrum = {"singleton": sum(a == 1 for a in ac), "doubleton": sum(a == 2 for a in ac)}
    rest = [f for a, f in zip(ac, af) if a > 2]
    for lo, hi in itertools.pairwise(AF_BINS):
        spectrum[f"({lo:g}, {hi:g}]"] = sum(lo < f <= hi for f in rest)
    pops = {}
    for pop in populations:
        known = f"{pop.lower()}_af"
        if known not in stats.columns or f"af_{pop}" not in stats.columns:
            continue
        pair = stats.select(pl.col(f"af_{pop}").alias("cohort"), pl.col(known).alias("known")).drop_nulls()
        n = pair.height
        r = pair.select(pl.corr("cohort", "known")).item() if n > 2 else None
        mad = pair.select((pl.col("cohort") - pl.col("known")).abs().mean()).item() if n else None
        pops[pop] = {
            "sites": n,
            "pearson_r": None if r is None or math.isnan(r) else round(r, 4),
            "mean_abs_diff": None if mad is None else round(mad, 5),
            "points": pair.head(3000).rows(),
        }
    consequences = (
        stats.group_by("most_severe_consequence")
        .agg(pl.len().alias("sites"), pl.col("allele_count").sum().alias("alt_alleles"))
        .sort(["sites", "most_severe_consequence"], descending=[True, False])
    )
    burden = rare_damaging_burden(stats).head(TOP_GENES)
    return {
        "sites": stats.height,
        "sites_seen": seen.height,
        "spectrum": spectrum,
        "populations": pops,
        "consequences": consequences.rows(),
        "top_genes": burden.rows(),
        "top_genes_columns": burden.columns,
    }


def rare_damaging_burden(stats: pl.DataFrame) -> pl.DataFrame:
    """Per gene: rare (AF < RARE_AF, AC > 0) HIGH/MODERATE variants, their alt alleles and carrier calls."""
    rare = stats.filter(
        (pl.col("allele_count") > 0)
        & (pl.col("allele_frequency") < RARE_AF)
        & pl.col("impact").is_in(DAMAGING_IMPACTS)
        & pl.col("gene_symbol").is_not_null()
    )
    return (
        rare.group_by("gene_symbol")
        .agg(
            pl.len().alias("rare_damaging_variants"),
            pl.col("allele_count").sum().alias("alt_alleles"),
            pl.col("carriers").sum().alias("carrier_calls"),
        )
        .sort(["alt_alleles", "rare_damaging_variants", "gene_symbol"], descending=[True, True, False])
    )


# ---- SVG ----------------------------------------------------------------------------------------------


def bar_svg(labels: list[str], values: list[float], title: str, width: int = 640, height: int = 260) -> str:
    n = max(len(values), 1)
    top = max(values, default=0) or 1
    left, bottom, plot_h = 60, 70, height - 100
    bw = (width - left - 20) / n
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">']
    parts.append(f'<text x="{width / 2}" y="16" text-anchor="middle" font-size="13">{html.escape(title)}</text>')
    for i, (label, v) in enumerate(zip(labels, values)):
        h = plot_h * v / top
        x = left + i * bw
        y = height - bottom - h
        parts.append(f'<rect x="{x + 2:.1f}" y="{y:.1f}" width="{bw - 4:.1f}" height="{h:.1f}" fill="#3b6ea5"/>')
        parts.append(f'<text x="{x + bw / 2:.1f}" y="{y - 3:.1f}" text-anchor="middle" font-size="10">{v:g}</text>')
        parts.append(
            f'<text x="{x + bw / 2:.1f}" y="{height - bottom + 12}" font-size="10" text-anchor="end" '
            f'transform="rotate(-35 {x + bw / 2:.1f} {height - bottom + 12})">{html.escape(str(label))}</text>'
        )
    parts.append(
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - 20}" y2="{height - bottom}" stroke="#333"/></svg>'
    )
    return "".join(parts)


def scatter_svg(points: list[tuple[float, float]], title: str, size: int = 280) -> str:
    pad = 36
    span = size - 2 * pad
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" role="img">']
    parts.append(f'<text x="{size / 2}" y="14" text-anchor="middle" font-size="12">{html.escape(title)}</text>')
    parts.append(f'<rect x="{pad}" y="{pad}" width="{span}" height="{span}" fill="none" stroke="#333"/>')
    parts.append(f'<line x1="{pad}" y1="{pad + span}" x2="{pad + span}" y2="{pad}" stroke="#aaa"/>')
    for x, y in points:
        parts.append(f'<circle cx="{pad + x * span:.1f}" cy="{pad + (1 - y) * span:.1f}" r="1.5" fill="#c0392b"/>')
    parts.append(
        f'<text x="{size / 2}" y="{size - 6}" text-anchor="middle" font-size="10">cohort AF</text>'
        f'<text x="10" y="{size / 2}" font-size="10" transform="rotate(-90 10 {size / 2})" text-anchor="middle">'
        "known 1000 Genomes AF</text></svg>"
    )
    return "".join(parts)


def _table(columns: list[str], rows: list) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def svgs(fig: dict) -> dict[str, str]:
    """Each figure as an SVG string (the page inlines them; the Dagster asset attaches them)."""
    spectrum = fig["spectrum"]
    out = {"spectrum": bar_svg(list(spectrum), list(spectrum.values()), "Allele-frequency spectrum (sites, AC > 0)")}
    cons = fig["consequences"][:20]
    out["consequences"] = bar_svg([c[0] for c in cons], [c[1] for c in cons], "Sites by most severe consequence", 760)
    for pop, p in fig["populations"].items():
        out[f"population_{pop}"] = scatter_svg([tuple(pt) for pt in p["points"]], f"{pop}: cohort vs known AF")
    genes = fig["top_genes"]
    out["top_genes"] = bar_svg([g[0] for g in genes], [g[2] for g in genes], "Alt alleles of rare damaging variants")
    return out


def render_html(fig: dict, title: str, note: str = "") -> str:
    """The whole page: figures, their tables and the embedded JSON numbers."""
    pics = svgs(fig)
    pop_rows = [(p, v["sites"], v["pearson_r"], v["mean_abs_diff"]) for p, v in fig["populations"].items()]
    data = {k: v for k, v in fig.items() if k != "populations"}
    data["populations"] = {p: {k: v for k, v in d.items() if k != "points"} for p, d in fig["populations"].items()}
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>body{{font-family:sans-serif;margin:2em;max-width:1100px}}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:2px 8px;font-size:13px}"
        "</style></head><body>"
        f"<h1>{html.escape(title)}</h1><p>{html.escape(note)}</p>"
        f"<p>{fig['sites']:,} sites, {fig['sites_seen']:,} with an alternate allele in the cohort.</p>"
        "<h2>Allele-frequency spectrum</h2>"
        + pics["spectrum"]
        + _table(["bin", "sites"], list(fig["spectrum"].items()))
        + "<h2>Per-population frequencies against the known frequencies</h2>"
        + "".join(pics[k] for k in pics if k.startswith("population_"))
        + _table(["population", "sites with a known AF", "Pearson r", "mean |cohort - known|"], pop_rows)
        + "<h2>Consequences</h2>"
        + pics["consequences"]
        + _table(["most severe consequence", "sites", "alt alleles"], fig["consequences"])
        + f"<h2>Top genes by burden of rare damaging variants (AF &lt; {RARE_AF}, HIGH/MODERATE)</h2>"
        + pics["top_genes"]
        + _table(fig["top_genes_columns"], fig["top_genes"])
        + f"<script type='application/json' id='figures'>{html.escape(json.dumps(data), quote=False)}</script>"
        + "</body></html>"
    )


def embedded_figures(page: str) -> dict:
    """The JSON numbers a page embeds (for tests and notebooks)."""
    start = page.index("<script type='application/json' id='figures'>")
    start = page.index(">", start) + 1
    return json.loads(html.unescape(page[start : page.index("</script>", start)]))
