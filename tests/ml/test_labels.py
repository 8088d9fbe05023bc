"""Labels from ClinVar: the P/LP vs B/LB rule, exclusions, de-duplication, gene-disjoint splits."""

import gzip

import polars as pl

from hcml.ml.data import assign_splits, clinvar_labels, read_clinvar

HEADER = "chrom\tpos\tref\talt\tsymbol\tclinical_significance\treview_status\thgvs_c\thgvs_p\tpathogenic\tconflicted\n"


def _tsv(tmp_path, rows, name="labels.tsv"):
    path = tmp_path / name
    path.write_text(HEADER + "".join("\t".join(r) + "\n" for r in rows))
    return path


def test_label_rule_on_hand_written_records(tmp_path):
    rows = [
        ["1", "10", "A", "G", "G1", "Pathogenic", "x", "NM_1:c.1A>G", "-", "1", "0"],
        ["1", "11", "A", "G", "G1", "Likely pathogenic;Pathogenic", "x", "NM_1:c.2A>G", "-", "1", "0"],
        ["1", "12", "A", "G", "G1", "Pathogenic;risk factor", "x", "NM_1:c.3A>G", "-", "1", "0"],
        ["1", "13", "A", "G", "G1", "Benign;Likely benign", "x", "NM_1:c.4A>G", "-", "0", "0"],
        ["1", "14", "A", "G", "G1", "Likely benign", "x", "NM_1:c.5A>G", "-", "0", "0"],
        ["1", "15", "A", "G", "G1", "Uncertain significance", "x", "NM_1:c.6A>G", "-", "0", "0"],
        ["1", "16", "A", "G", "G1", "Pathogenic;Uncertain significance", "x", "NM_1:c.7A>G", "-", "1", "0"],
        ["1", "17", "A", "G", "G1", "Benign;Pathogenic", "x", "NM_1:c.8A>G", "-", "1", "0"],
        ["1", "18", "A", "G", "G1", "Pathogenic", "x", "NM_1:c.9A>G", "-", "1", "1"],  # flagged conflicted
        ["1", "19", "A", "G", "G1", "not provided", "x", "NM_1:c.10A>G", "-", "0", "0"],
        ["1", "20", "A", "G", "G1", "drug response", "x", "NM_1:c.11A>G", "-", "0", "0"],
        # duplicates: same allele twice with the same label -> one row; same allele with opposite labels -> none
        ["1", "30", "C", "T", "G2", "Pathogenic", "x", "NM_2:c.1C>T", "-", "1", "0"],
        ["1", "30", "C", "T", "G2", "Pathogenic", "x", "NM_2:c.1C>T", "-", "1", "0"],
        ["1", "31", "C", "T", "G2", "Pathogenic", "x", "NM_2:c.2C>T", "-", "1", "0"],
        ["1", "31", "C", "T", "G2", "Benign", "x", "NM_2:c.2C>T", "-", "0", "0"],
    ]
    labels = clinvar_labels([_tsv(tmp_path, rows)])
    got = dict(zip(labels["pos"].to_list(), labels["label"].to_list(), strict=True))
    assert got == {"10": 1, "11": 1, "12": 1, "13": 0, "14": 0, "30": 1}


def test_real_clinvar_counts(data_root):
    src = data_root / "clinvar" / "clinvar_2016-05-20.lifted_GRCh38.tsv.gz"
    raw = read_clinvar(src)
    labels = clinvar_labels([src])
    # independent count of the rule with plain Python on the raw file
    expected = {}
    with gzip.open(src, "rt") as fh:
        cols = fh.readline().rstrip("\n").split("\t")
        for line in fh:
            r = dict(zip(cols, line.rstrip("\n").split("\t"), strict=True))
            t = set(r["clinical_significance"].split(";"))
            p, b = bool(t & {"Pathogenic", "Likely pathogenic"}), bool(t & {"Benign", "Likely benign"})
            if r["symbol"] in ("", "-"):  # no gene: cannot be placed in a gene-disjoint split
                continue
            if r["conflicted"] == "1" or "Uncertain significance" in t or (p and b) or not (p or b):
                continue
            expected.setdefault((r["chrom"], r["pos"], r["ref"], r["alt"]), set()).add(int(p))
    consistent = {k: v.pop() for k, v in expected.items() if len(v) == 1}
    assert labels.height <= len(consistent) < raw.height
    assert labels.height >= 0.99 * len(consistent)  # same c. on the same gene (multi-site records) removes a few more
    assert labels.select(["chrom", "pos", "ref", "alt"]).is_duplicated().sum() == 0
    assert labels.filter(pl.col("hgvs_c").is_not_null()).select(["symbol", "hgvs_c"]).is_duplicated().sum() == 0
    sample = labels.sample(500, seed=1)
    for row in sample.iter_rows(named=True):
        assert consistent[(row["chrom"], row["pos"], row["ref"], row["alt"])] == row["label"]
    assert 35_000 < int(labels["label"].sum()) < 41_000  # README: 33,685 P + 6,409 LP before exclusions
    assert 20_000 < int((labels["label"] == 0).sum()) < 24_500  # 13,062 B + 10,796 LB


def test_gene_split_is_disjoint_and_stable(data_root):
    labels = clinvar_labels([data_root / "clinvar" / "clinvar_2016-05-20.lifted_GRCh38.tsv.gz"])
    split = assign_splits(labels)
    per_gene = split.group_by("symbol").agg(pl.col("split").n_unique())
    assert per_gene["split"].max() == 1  # no gene in two splits
    genes = split.group_by("split").agg(pl.col("symbol").n_unique())
    share = dict(zip(genes["split"], genes["symbol"] / genes["symbol"].sum(), strict=True))
    assert 0.15 < share["test"] < 0.25 and 0.06 < share["validation"] < 0.14
    # a gene's split depends on its name only: a subset of the labels gets the same assignment
    sub = assign_splits(labels.filter(pl.col("symbol").is_in(["BRCA1", "APP", "TTN", "CFTR"])))
    full = split.filter(pl.col("symbol").is_in(["BRCA1", "APP", "TTN", "CFTR"])).unique("symbol").select("symbol", "split")
    assert sub.unique("symbol").select("symbol", "split").sort("symbol").equals(full.sort("symbol"))


def test_extra_label_files_are_read(tmp_path, monkeypatch):
    from hcml.ml.data import label_sources

    monkeypatch.setenv("HCML_LABELS_DIR", str(tmp_path))
    import os

    later = _tsv(tmp_path, [["1", "10", "A", "G", "G1", "Pathogenic", "x", "NM_1:c.1A>G", "-", "1", "0"]], name="a-later.tsv")
    earlier = _tsv(tmp_path, [["1", "10", "A", "G", "G1", "Benign", "x", "NM_1:c.1A>G", "-", "0", "0"]], name="b-earlier.tsv")
    os.utime(earlier, ns=(1_000_000_000, 1_000_000_000))
    os.utime(later, ns=(2_000_000_000, 2_000_000_000))
    names = [p.name for p in label_sources()]
    assert names[0].startswith("clinvar_2016") and names[1:] == ["b-earlier.tsv", "a-later.tsv"]  # landing order


def test_a_later_label_file_supersedes_the_release(tmp_path):
    release = _tsv(tmp_path, [
        ["1", "10", "A", "G", "G1", "Benign", "x", "NM_1:c.1A>G", "-", "0", "0"],
        ["1", "11", "A", "G", "G1", "Pathogenic", "x", "NM_1:c.2A>G", "-", "1", "0"],
        ["1", "12", "A", "G", "G1", "Likely benign", "x", "NM_1:c.3A>G", "-", "0", "0"],
    ], name="release.tsv")
    curated = _tsv(tmp_path, [
        ["1", "10", "A", "G", "G1", "Pathogenic", "y", "NM_1:c.1A>G", "-", "1", "0"],  # re-classified
        ["1", "11", "A", "G", "G1", "Uncertain significance", "y", "NM_1:c.2A>G", "-", "0", "0"],  # withdrawn
        ["1", "13", "A", "G", "G1", "Pathogenic", "y", "NM_1:c.4A>G", "-", "1", "0"],  # new
    ], name="curated.tsv")
    labels = clinvar_labels([release, curated])
    got = {r["pos"]: (r["label"], r["source"]) for r in labels.iter_rows(named=True)}
    assert got == {"10": (1, "curated.tsv"), "12": (0, "release.tsv"), "13": (1, "curated.tsv")}
