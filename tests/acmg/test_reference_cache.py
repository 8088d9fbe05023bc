"""The compiled ACMG reference read back from its cache files is the reference compiled from the bundle (a second,
independent compilation by `build_reference`), field by field; a changed review-star floor is a different key."""

from __future__ import annotations

import numpy as np
from polars.testing import assert_frame_equal

from hcml.acmg import reference_cache
from hcml.acmg.reference import build_reference


def test_cached_reference_equals_the_compiled_one(bundle, tmp_path):
    built = build_reference(bundle, 1)
    reference_cache.save(built, tmp_path, "k")
    read = reference_cache.load(tmp_path / "k")
    for name in ("genes", "record_index", "allele_ids", "transcripts", "population_span", "constraint_source"):
        assert getattr(read, name) == getattr(built, name), name
    for name in ("loeuf", "mis_z", "residue_plp_missense", "change_plp", "gene_values", "gene_count_table"):
        np.testing.assert_array_equal(getattr(read, name), getattr(built, name))
    np.testing.assert_array_equal(read.residue_index.keys, built.residue_index.keys)
    np.testing.assert_array_equal(read.change_index.keys, built.change_index.keys)
    for name, values in built.record_arrays.items():
        np.testing.assert_array_equal(read.record_arrays[name], values)
        assert read.record_arrays[name].dtype == values.dtype, name
    assert_frame_equal(read.records, built.records)
    for examples in ("change_examples", "residue_examples"):
        a, b = getattr(read, examples), getattr(built, examples)
        assert list(a.keys) == list(b.keys) and a.rows == b.rows, examples
        for key in np.unique(b.keys)[:500]:
            assert a.get(int(key)) == b.get(int(key)) and a.get(int(key)), key
    assert built.change_examples.get(-7) is None and built.change_examples.get(-7, []) == []


def test_examples_keep_release_order_per_key():
    from hcml.acmg.reference import Examples

    ex = Examples(np.array([5, 3, 5, 3, 9]), [("a",), ("b",), ("c",), ("d",), ("e",)])
    assert ex.get(5) == [("a",), ("c",)] and ex.get(3) == [("b",), ("d",)] and ex.get(9) == [("e",)]
    assert ex.get(4) is None


def test_key_names_the_star_floor_and_bundle(bundle):
    one, two = reference_cache.cache_key(bundle, 1), reference_cache.cache_key(bundle, 2)
    assert one != two and bundle.manifest["bundle_sha256"][:16] in one


def test_compiled_writes_once_then_reads(bundle, tmp_path, monkeypatch):
    monkeypatch.setenv("HCML_DATA_DIR", str(tmp_path))
    key = reference_cache.cache_key(bundle, 3)
    first = reference_cache.compiled(bundle, 3)
    written = [p / key for p in (bundle.path / "cache", tmp_path / "cache") if (p / key).is_dir()]
    assert written, "no cache entry written"
    again = reference_cache.compiled(bundle, 3)
    assert again is not first and again.record_index == first.record_index
