//! hcml's compiled hot loops: the sequence rules that run once per variant or per variant x transcript pair
//! (the genetic code, translation, VEP's 3' shifting of indels). Each rule is defined here only; the Python
//! package calls these functions from every path (batch, small inputs, realtime, Dagster).

use pyo3::buffer::PyBuffer;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedStr;
use std::collections::HashMap;

mod coding;
mod seq;

use seq::{code_table as table_of, translate_bytes, NCBI_CODES};

fn code_table(code: i64) -> PyResult<&'static [u8; 64]> {
    table_of(code)
        .ok_or_else(|| PyValueError::new_err(format!("unknown genetic code {code} (known: 1, 2)")))
}

fn ascii(x: Vec<u8>) -> String {
    // every byte comes from ASCII inputs or the ASCII tables
    String::from_utf8(x).unwrap_or_default()
}

/// Translation with NCBI genetic code `code`; incomplete trailing codon dropped; codons with N -> X.
#[pyfunction]
#[pyo3(signature = (seq, code = 1))]
fn translate(seq: &str, code: i64) -> PyResult<String> {
    Ok(ascii(translate_bytes(
        seq.as_bytes(),
        code_table(code)?,
        false,
    )))
}

/// Translation up to and including the first stop codon.
#[pyfunction]
#[pyo3(signature = (seq, code = 1))]
fn translate_to_stop(seq: &str, code: i64) -> PyResult<String> {
    Ok(ascii(translate_bytes(
        seq.as_bytes(),
        code_table(code)?,
        true,
    )))
}

/// Roll a VEP-style deletion (alt '-') or insertion (ref '-') along the genome's forward strand
/// (direction 1: to higher coordinates, -1: to lower) while the sequence allows, as VEP's HGVS 3' shifting
/// does; returns the shifted (start, end, ref, alt) with forward-strand alleles. Insertions have
/// start = end + 1. `contig` holds the contig's bases from position `first` on; `limit` bounds the positions
/// the shifted allele may occupy (inclusive). Never rolls over 'N'. Other alleles come back unchanged.
#[pyfunction]
#[pyo3(signature = (contig, first, start, end, r#ref, alt, direction = 1, limit = None))]
#[allow(clippy::too_many_arguments)]
fn shift_indel(
    py: Python<'_>,
    contig: PyBuffer<u8>,
    first: i64,
    start: i64,
    end: i64,
    r#ref: String,
    alt: String,
    direction: i64,
    limit: Option<(i64, i64)>,
) -> PyResult<(i64, i64, String, String)> {
    let insertion = r#ref == "-";
    if insertion == (alt == "-") {
        return Ok((start, end, r#ref, alt));
    }
    let text: &[u8] = match contig.as_slice(py) {
        // SAFETY: a read of bytes as bytes; the buffer is held (and not resized) for the call
        Some(cells) => unsafe {
            std::slice::from_raw_parts(cells.as_ptr() as *const u8, cells.len())
        },
        None => {
            return Err(PyValueError::new_err(
                "contig sequence must be a C-contiguous byte buffer",
            ))
        }
    };
    let allele = if insertion {
        alt.as_bytes()
    } else {
        r#ref.as_bytes()
    };
    let n = allele.len() as i64;
    if n == 0 {
        return Ok((start, end, r#ref, alt));
    }
    let last = first + text.len() as i64 - 1;
    let (lo, hi) = limit.unwrap_or((first, last));
    // outside the contig's real sequence every base is N: nothing to roll over
    let (lo, hi) = (lo.max(first), hi.min(last));
    let mut k: i64 = 0;
    if direction == 1 {
        // compare each next base with the allele's base n positions before it (rolling the allele)
        let mut i = end + 1;
        while i <= hi && i >= first {
            let b = text[(i - first) as usize];
            if b != allele[(k % n) as usize] || b == b'N' {
                break;
            }
            i += 1;
            k += 1;
        }
    } else {
        let mut i = start - 1;
        while i >= lo && i <= last {
            let b = text[(i - first) as usize];
            if b != allele[(n - 1 - (k % n)) as usize] || b == b'N' {
                break;
            }
            i -= 1;
            k += 1;
        }
        k = -k;
    }
    if k == 0 {
        return Ok((start, end, r#ref, alt));
    }
    let r = k.rem_euclid(n) as usize;
    let rolled = String::from_utf8([&allele[r..], &allele[..r]].concat())
        .map_err(|_| PyValueError::new_err("allele is not ASCII"))?;
    if insertion {
        Ok((start + k, end + k, "-".to_string(), rolled))
    } else {
        Ok((start + k, end + k, rolled, "-".to_string()))
    }
}

/// Reverse complement (ACGTN, either case; other characters kept).
#[pyfunction]
fn revcomp(seq: &str) -> String {
    ascii(seq::revcomp_bytes(seq.as_bytes()))
}

/// HGVS three-letter codes of a peptide ('*' Ter, unknown letters Xaa).
#[pyfunction]
fn aa3(seq: &str) -> String {
    let mut out = String::with_capacity(seq.len() * 3);
    seq::aa3_into(seq.as_bytes(), &mut out);
    out
}

/// How many bases VEP 115 removes from the start and the end of an allele pair (trim_sequences).
#[pyfunction]
fn allele_trim(r#ref: &str, alt: &str) -> (usize, usize) {
    coding::allele_trim(r#ref.as_bytes(), alt.as_bytes())
}

/// `p.Leu12%3D`: a synonymous protein change as VEP prints it.
#[pyfunction]
fn synonymous(aa: &str, protein_pos: i64) -> String {
    coding::synonymous(aa.as_bytes(), protein_pos)
}

/// p. description (without prefix) of the change from ref_prot to alt_prot (both from the start codon,
/// ending at their first stop); None when no change can be described.
#[pyfunction]
#[pyo3(signature = (ref_prot, alt_prot, first_changed_hint = None, frameshift = false))]
fn hgvs_protein_change(
    ref_prot: &str,
    alt_prot: &str,
    first_changed_hint: Option<i64>,
    frameshift: bool,
) -> Option<String> {
    coding::hgvs_protein_change(
        ref_prot.as_bytes(),
        alt_prot.as_bytes(),
        first_changed_hint,
        frameshift,
    )
}

type TxRow = (
    i64,
    i64,
    bool,
    i64,
    i64,
    PyBackedStr,
    PyBackedStr,
    PyBackedStr,
    PyBackedStr,
    PyBackedStr,
);
type PairRow = (
    usize,
    PyBackedStr,
    PyBackedStr,
    i64,
    i64,
    bool,
    bool,
    bool,
    bool,
    Option<(i64, i64, PyBackedStr)>,
);
type PairOut = (i64, Option<String>, Option<String>, bool, Option<String>);

/// VEP's coding consequences, Codons, Amino_acids and HGVSp of indels / MNVs on the transcripts whose CDS
/// they touch. `term_bits`: the caller's bit of each INDEL_TERMS term; `transcripts`: (strand,
/// cdna_cds_start, start_nf, start_phase, genetic code, CDS, cDNA, 3' UTR, reference protein, HGVSp prefix);
/// `pairs`: (transcript row, VEP ref, VEP alt, cDNA 5' end, cDNA 3' end, both ends exonic, 5' end in CDS,
/// 3' end in CDS, HGVSc written, 3'-shifted form on the CDS or None). Per pair: (bits, Codons, Amino_acids,
/// whether HGVSp is decided here, HGVSp).
#[pyfunction]
fn indel_pairs(
    py: Python<'_>,
    term_bits: Vec<i64>,
    transcripts: Vec<TxRow>,
    pairs: Vec<PairRow>,
) -> PyResult<Vec<PairOut>> {
    if term_bits.len() != coding::INDEL_TERMS.len() {
        return Err(PyValueError::new_err(
            "term_bits must give one bit per INDEL_TERMS term",
        ));
    }
    let mut txs = Vec::with_capacity(transcripts.len());
    for t in &transcripts {
        txs.push(coding::Transcript {
            strand: t.0,
            cdna_cds_start: t.1,
            start_nf: t.2,
            start_phase: t.3,
            table: code_table(t.4)?,
            cds: t.5.as_bytes(),
            cdna: t.6.as_bytes(),
            utr3: t.7.as_bytes(),
            ref_prot: t.8.as_bytes(),
            prefix: &t.9,
        });
    }
    for p in &pairs {
        if p.0 >= txs.len() {
            return Err(PyValueError::new_err(format!(
                "pair names transcript row {} of {}",
                p.0,
                txs.len()
            )));
        }
    }
    let out = py.allow_threads(|| {
        pairs
            .iter()
            .map(|p| {
                let pair = coding::Pair {
                    vref: p.1.as_bytes(),
                    valt: p.2.as_bytes(),
                    c5: p.3,
                    c3: p.4,
                    cdna_ok: p.5,
                    cds5_ok: p.6,
                    cds3_ok: p.7,
                    hgvsc_ok: p.8,
                    placed: p.9.as_ref().map(|(s, e, a)| (*s, *e, a.as_bytes())),
                };
                let r = coding::indel_pair(&txs[p.0], &pair, &term_bits);
                let (set, hgvsp) = match r.hgvsp {
                    Some(v) => (true, v),
                    None => (false, None),
                };
                (r.bits, r.codons, r.amino_acids, set, hgvsp)
            })
            .collect()
    });
    Ok(out)
}

#[pymodule]
fn hcml_core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let codes: HashMap<u8, String> = NCBI_CODES
        .iter()
        .map(|(c, t)| (*c, String::from_utf8_lossy(&t[..]).into_owned()))
        .collect();
    m.add("NCBI_CODES", codes)?;
    let three: HashMap<String, &str> = seq::THREE_LETTER
        .iter()
        .map(|(c, t)| ((*c as char).to_string(), *t))
        .collect();
    m.add("THREE_LETTER", three)?;
    m.add("INDEL_TERMS", coding::INDEL_TERMS.to_vec())?;
    m.add("SYNONYMOUS_ESCAPED", coding::SYNONYMOUS_ESCAPED)?;
    m.add_function(wrap_pyfunction!(revcomp, m)?)?;
    m.add_function(wrap_pyfunction!(aa3, m)?)?;
    m.add_function(wrap_pyfunction!(allele_trim, m)?)?;
    m.add_function(wrap_pyfunction!(synonymous, m)?)?;
    m.add_function(wrap_pyfunction!(hgvs_protein_change, m)?)?;
    m.add_function(wrap_pyfunction!(indel_pairs, m)?)?;
    m.add_function(wrap_pyfunction!(translate, m)?)?;
    m.add_function(wrap_pyfunction!(translate_to_stop, m)?)?;
    m.add_function(wrap_pyfunction!(shift_indel, m)?)?;
    Ok(())
}
