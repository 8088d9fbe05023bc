//! Sequence primitives shared by the rules: Python-style slicing, the genetic codes, translation, reverse
//! complement, three-letter amino-acid codes.

/// NCBI genetic codes (gc.prt, `ncbieaa` over codons in TCAG order): 1 the standard code, 2 the vertebrate
/// mitochondrial code (TGA = Trp, AGA / AGG = stop, ATA = Met). Ensembl VEP translates with the codon table
/// of the transcript's seq region (ensembl-variation `_get_codon_table`: the `codon_table` attribute, 2 on MT).
pub const NCBI_CODES: [(u8, &[u8; 64]); 2] = [
    (
        1,
        b"FFLLSSSSYY**CC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG",
    ),
    (
        2,
        b"FFLLSSSSYY**CCWWLLLLPPPPHHQQRRRRIIMMTTTTNNKKSS**VVVVAAAADDEEGGGG",
    ),
];

/// HGVS three-letter amino-acid codes ('*' Ter, 'U' selenocysteine Sec, 'X' Xaa; anything else is Xaa).
pub const THREE_LETTER: [(u8, &str); 23] = [
    (b'A', "Ala"),
    (b'R', "Arg"),
    (b'N', "Asn"),
    (b'D', "Asp"),
    (b'C', "Cys"),
    (b'Q', "Gln"),
    (b'E', "Glu"),
    (b'G', "Gly"),
    (b'H', "His"),
    (b'I', "Ile"),
    (b'L', "Leu"),
    (b'K', "Lys"),
    (b'M', "Met"),
    (b'F', "Phe"),
    (b'P', "Pro"),
    (b'S', "Ser"),
    (b'T', "Thr"),
    (b'W', "Trp"),
    (b'Y', "Tyr"),
    (b'V', "Val"),
    (b'*', "Ter"),
    (b'X', "Xaa"),
    (b'U', "Sec"),
];

pub fn three_letter(aa: u8) -> &'static str {
    THREE_LETTER
        .iter()
        .find(|(c, _)| *c == aa)
        .map(|(_, t)| *t)
        .unwrap_or("Xaa")
}

pub fn aa3_into(seq: &[u8], out: &mut String) {
    for &c in seq {
        out.push_str(three_letter(c));
    }
}

pub fn code_table(code: i64) -> Option<&'static [u8; 64]> {
    NCBI_CODES
        .iter()
        .find(|(c, _)| i64::from(*c) == code)
        .map(|(_, t)| *t)
}

/// s[a:b] with Python's slice semantics (negative indices count from the end; clamped).
pub fn sl(s: &[u8], a: i64, b: i64) -> &[u8] {
    let n = s.len() as i64;
    let fix = |i: i64| if i < 0 { (i + n).max(0) } else { i.min(n) };
    let (a, b) = (fix(a), fix(b));
    if a >= b {
        &[]
    } else {
        &s[a as usize..b as usize]
    }
}

/// s[i] with Python's indexing (negative from the end); 0 outside the sequence.
pub fn at(s: &[u8], i: i64) -> u8 {
    let n = s.len() as i64;
    let j = if i < 0 { i + n } else { i };
    if j < 0 || j >= n {
        0
    } else {
        s[j as usize]
    }
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

/// Translate whole codons (an incomplete trailing codon is dropped; a codon with any base other than
/// upper-case ACGT is X), stopping after the first stop codon when `to_stop`.
pub fn translate_bytes(seq: &[u8], table: &[u8; 64], to_stop: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(seq.len() / 3);
    for codon in seq.chunks_exact(3) {
        let aa = match (tcag(codon[0]), tcag(codon[1]), tcag(codon[2])) {
            (Some(a), Some(b), Some(c)) => table[a * 16 + b * 4 + c],
            _ => b'X',
        };
        out.push(aa);
        if to_stop && aa == b'*' {
            break;
        }
    }
    out
}

/// Reverse complement (ACGTN, either case; other characters kept).
pub fn revcomp_bytes(seq: &[u8]) -> Vec<u8> {
    seq.iter()
        .rev()
        .map(|&b| match b {
            b'A' => b'T',
            b'C' => b'G',
            b'G' => b'C',
            b'T' => b'A',
            b'a' => b't',
            b'c' => b'g',
            b'g' => b'c',
            b't' => b'a',
            other => other,
        })
        .collect()
}
