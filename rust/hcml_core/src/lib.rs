//! hcml's compiled hot loops: the sequence rules that run once per variant or per variant x transcript pair
//! (the genetic code, translation, VEP's 3' shifting of indels). Each rule is defined here only; the Python
//! package calls these functions from every path (batch, small inputs, realtime, Dagster).

use pyo3::buffer::PyBuffer;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use std::collections::HashMap;

/// NCBI genetic codes (gc.prt, `ncbieaa` over codons in TCAG order): 1 the standard code, 2 the vertebrate
/// mitochondrial code (TGA = Trp, AGA / AGG = stop, ATA = Met). Ensembl VEP translates with the codon table
/// of the transcript's seq region (ensembl-variation `_get_codon_table`: the `codon_table` attribute, 2 on MT).
const NCBI_CODES: [(u8, &[u8; 64]); 2] = [
    (1, b"FFLLSSSSYY**CC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG"),
    (2, b"FFLLSSSSYY**CCWWLLLLPPPPHHQQRRRRIIMMTTTTNNKKSS**VVVVAAAADDEEGGGG"),
];

fn code_table(code: i64) -> PyResult<&'static [u8; 64]> {
    NCBI_CODES
        .iter()
        .find(|(c, _)| i64::from(*c) == code)
        .map(|(_, t)| *t)
        .ok_or_else(|| PyValueError::new_err(format!("unknown genetic code {code} (known: 1, 2)")))
}

/// Index of a base in TCAG order; anything else (N, IUPAC codes, lower case) has none.
#[inline]
fn tcag(b: u8) -> Option<usize> {
    match b {
        b'T' => Some(0),
        b'C' => Some(1),
        b'A' => Some(2),
        b'G' => Some(3),
        _ => None,
    }
}

#[inline]
fn amino_acid(table: &[u8; 64], codon: &[u8]) -> u8 {
    match (tcag(codon[0]), tcag(codon[1]), tcag(codon[2])) {
        (Some(a), Some(b), Some(c)) => table[a * 16 + b * 4 + c],
        _ => b'X',
    }
}

/// Translate whole codons (an incomplete trailing codon is dropped; a codon with any base other than
/// upper-case ACGT is X), stopping after the first stop codon when `to_stop`.
fn translate_bytes(seq: &[u8], table: &[u8; 64], to_stop: bool) -> String {
    let mut out = String::with_capacity(seq.len() / 3);
    for codon in seq.chunks_exact(3) {
        let aa = amino_acid(table, codon);
        out.push(aa as char);
        if to_stop && aa == b'*' {
            break;
        }
    }
    out
}

/// Translation with NCBI genetic code `code`; incomplete trailing codon dropped; codons with N -> X.
#[pyfunction]
#[pyo3(signature = (seq, code = 1))]
fn translate(seq: &str, code: i64) -> PyResult<String> {
    Ok(translate_bytes(seq.as_bytes(), code_table(code)?, false))
}

/// Translation up to and including the first stop codon.
#[pyfunction]
#[pyo3(signature = (seq, code = 1))]
fn translate_to_stop(seq: &str, code: i64) -> PyResult<String> {
    Ok(translate_bytes(seq.as_bytes(), code_table(code)?, true))
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
        Some(cells) => unsafe { std::slice::from_raw_parts(cells.as_ptr() as *const u8, cells.len()) },
        None => return Err(PyValueError::new_err("contig sequence must be a C-contiguous byte buffer")),
    };
    let allele = if insertion { alt.as_bytes() } else { r#ref.as_bytes() };
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

#[pymodule]
fn hcml_core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let codes: HashMap<u8, String> =
        NCBI_CODES.iter().map(|(c, t)| (*c, String::from_utf8_lossy(&t[..]).into_owned())).collect();
    m.add("NCBI_CODES", codes)?;
    m.add_function(wrap_pyfunction!(translate, m)?)?;
    m.add_function(wrap_pyfunction!(translate_to_stop, m)?)?;
    m.add_function(wrap_pyfunction!(shift_indel, m)?)?;
    Ok(())
}
