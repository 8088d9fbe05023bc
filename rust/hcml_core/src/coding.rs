//! VEP's coding consequences and HGVSp of an indel / MNV on one transcript whose CDS it touches
//! (ensembl-variation Utils/VariationEffect.pm predicates, TranscriptVariationAllele's codons and peptides,
//! HGVS p. rules as VEP 115 prints them).

use crate::seq::{aa3_into, at, revcomp_bytes, sl, translate_bytes};

/// The consequence terms this module decides, in the order of the `term_bits` the caller passes.
pub const INDEL_TERMS: [&str; 12] = [
    "frameshift_variant",
    "start_lost",
    "start_retained_variant",
    "stop_lost",
    "stop_gained",
    "stop_retained_variant",
    "inframe_deletion",
    "inframe_insertion",
    "missense_variant",
    "protein_altering_variant",
    "synonymous_variant",
    "coding_sequence_variant",
];
const FRAMESHIFT: usize = 0;
const START_LOST: usize = 1;
const START_RETAINED: usize = 2;
const STOP_LOST: usize = 3;
const STOP_GAINED: usize = 4;
const STOP_RETAINED: usize = 5;
const INFRAME_DELETION: usize = 6;
const INFRAME_INSERTION: usize = 7;
const MISSENSE: usize = 8;
const PROTEIN_ALTERING: usize = 9;
const SYNONYMOUS: usize = 10;
const CODING_SEQUENCE: usize = 11;

/// One transcript's sequences and scalars.
pub struct Transcript<'a> {
    pub strand: i64,
    pub cdna_cds_start: i64,
    pub start_nf: bool,
    pub start_phase: i64,
    pub table: &'a [u8; 64],
    pub cds: &'a [u8],
    pub cdna: &'a [u8],
    pub utr3: &'a [u8],
    pub ref_prot: &'a [u8],
    pub prefix: &'a str,
}

/// One pair's inputs: VEP's reduced alleles, cDNA ends c5 / c3 and their flags, the 3'-shifted form placed
/// on the CDS (cds_start, cds_end, transcript-strand allele) for HGVSp.
pub struct Pair<'a> {
    pub vref: &'a [u8],
    pub valt: &'a [u8],
    pub c5: i64,
    pub c3: i64,
    pub cdna_ok: bool,
    pub cds5_ok: bool,
    pub cds3_ok: bool,
    pub hgvsc_ok: bool,
    pub placed: Option<(i64, i64, &'a [u8])>,
}

pub struct PairResult {
    pub bits: i64,
    pub codons: Option<String>,
    pub amino_acids: Option<String>,
    /// Some(value) when the pair's HGVSp is decided here (value None: no description)
    pub hgvsp: Option<Option<String>>,
}

/// VEP's peptide of a codon string: translation, 'X' for a trailing partial codon, cut after a stop.
pub fn pep(codon: &[u8], table: &[u8; 64]) -> Vec<u8> {
    if codon.is_empty() {
        return Vec::new();
    }
    let mut s = translate_bytes(codon, table, false);
    if codon.len() % 3 != 0 {
        s.push(b'X');
    }
    if let Some(k) = s.iter().position(|&c| c == b'*') {
        s.truncate(k + 1);
    }
    s
}

/// Splice `seq_t` over CDS positions cds_start..cds_end (insertion: start = end + 1):
/// (ref_codon, alt_codon, tl_start, tl_end, lead) as VEP's TranscriptVariationAllele does.
pub fn codon_change(
    cds: &[u8],
    cds_start: i64,
    cds_end: i64,
    seq_t: &[u8],
) -> (Vec<u8>, Vec<u8>, i64, i64, i64) {
    let tl_start = (cds_start + 2).div_euclid(3);
    let tl_end = (cds_end + 2).div_euclid(3);
    let (codon_s, codon_e) = (tl_start * 3 - 2, tl_end * 3);
    let ref_codon = if codon_e >= codon_s {
        sl(cds, codon_s - 1, codon_e).to_vec()
    } else {
        Vec::new()
    };
    let mut alt_codon = sl(cds, codon_s - 1, cds_start - 1).to_vec();
    alt_codon.extend_from_slice(seq_t);
    alt_codon.extend_from_slice(sl(cds, cds_end.max(cds_start - 1), codon_e));
    (ref_codon, alt_codon, tl_start, tl_end, cds_start - codon_s)
}

/// How many bases VEP 115 removes from the start and from the end of an allele pair (ensembl-variation
/// Utils::Sequence::trim_sequences via `minimise_alleles`): the shared leading bases first, then the shared
/// trailing bases, each only while both alleles are non-empty; equal-length pairs are kept whole.
pub fn allele_trim(r: &[u8], a: &[u8]) -> (usize, usize) {
    if r.len() == a.len() {
        return (0, 0);
    }
    let mut n = r.len().min(a.len());
    let mut head = 0;
    while head < n && r[head] == a[head] {
        head += 1;
    }
    n -= head;
    let mut tail = 0;
    while tail < n && r[r.len() - 1 - tail] == a[a.len() - 1 - tail] {
        tail += 1;
    }
    (head, tail)
}

/// VEP's inframe_deletion on the codons of an in-frame change: the alt codons are shorter and are the start
/// or end of the ref codons, or trimming their shared ends leaves no alt and a multiple of 3 of ref.
fn inframe_deletion(ref_codon: &[u8], alt_codon: &[u8]) -> bool {
    if alt_codon.len() >= ref_codon.len() {
        return false;
    }
    if ref_codon.starts_with(alt_codon) || ref_codon.ends_with(alt_codon) {
        return true;
    }
    let (head, tail) = allele_trim(ref_codon, alt_codon);
    alt_codon.len() == head + tail && (ref_codon.len() - head - tail) % 3 == 0
}

/// VEP's start-codon predicates for an allele at cDNA c_lo..c_hi (insertion: c_lo = c_hi + 1) of a
/// transcript that is not cds_start_NF: (_overlaps_start_codon, _ins_del_start_altered,
/// _inv_start_altered), the edit made on the 5' UTR + translateable sequence.
fn start_codon_edit(
    tx: &Transcript,
    c_lo: i64,
    c_hi: i64,
    seq_t: &[u8],
    length_change: bool,
) -> (bool, bool, bool) {
    let s = tx.cdna_cds_start;
    if !(c_hi >= s && c_lo <= s + 2) {
        return (false, false, false);
    }
    let utr = sl(tx.cdna, 0, s - 1);
    let whole = [utr, tx.cds].concat();
    let mut edited = sl(&whole, 0, c_lo - 1).to_vec();
    edited.extend_from_slice(seq_t);
    edited.extend_from_slice(sl(&whole, c_hi, whole.len() as i64));
    let altered = length_change && (edited.len() < tx.cds.len() || !edited.ends_with(tx.cds));
    let u = utr.len() as i64;
    let broken = !utr.is_empty() && sl(&edited, u, u + 3) != b"ATG";
    (true, altered, broken)
}

/// VEP's codon text: the changed bases upper case, the rest of the codons lower case.
fn case_codon(c: &[u8], lead: i64, n_changed: i64) -> String {
    let n = c.len() as i64;
    let mut out = String::with_capacity(c.len());
    out.extend(
        sl(c, 0, lead)
            .iter()
            .map(|b| b.to_ascii_lowercase() as char),
    );
    out.extend(
        sl(c, lead, lead + n_changed)
            .iter()
            .map(|b| b.to_ascii_uppercase() as char),
    );
    out.extend(
        sl(c, lead + n_changed, n)
            .iter()
            .map(|b| b.to_ascii_lowercase() as char),
    );
    out
}

fn text(x: &[u8]) -> String {
    String::from_utf8_lossy(x).into_owned()
}

fn starts_or_ends(a: &[u8], b: &[u8]) -> bool {
    a.starts_with(b) || a.ends_with(b)
}

pub fn indel_pair(tx: &Transcript, p: &Pair, term_bits: &[i64]) -> PairResult {
    let bit = |i: usize| term_bits[i];
    let ins = p.vref == b"-";
    let seq_t: Vec<u8> = if p.valt == b"-" {
        Vec::new()
    } else if tx.strand == 1 {
        p.valt.to_vec()
    } else {
        revcomp_bytes(p.valt)
    };
    let ref_t_len: i64 = if ins { 0 } else { p.vref.len() as i64 };
    let alt_len = seq_t.len() as i64;
    let length_change = ref_t_len != alt_len;
    let mut bits: i64 = 0;
    let (mut overlaps_start, mut start_altered, mut start_broken) = (false, false, false);
    if p.cdna_ok && !tx.start_nf {
        let (c_lo, c_hi) = if !ins { (p.c5, p.c3) } else { (p.c3, p.c5) };
        (overlaps_start, start_altered, start_broken) =
            start_codon_edit(tx, c_lo, c_hi, &seq_t, length_change);
    }
    let start_retained = length_change && overlaps_start && !start_altered;
    let mut out = PairResult {
        bits: 0,
        codons: None,
        amino_acids: None,
        hgvsp: None,
    };
    if !(p.cds5_ok && p.cds3_ok) {
        // partly outside the CDS (intron / UTR): no codons, so no in-frame or peptide test; VEP's
        // coding_unknown gives way to start_lost / start_retained_variant
        let start_lost = overlaps_start && (start_altered || start_broken);
        if start_lost {
            bits |= bit(START_LOST); // VEP writes no HGVSp when the deletion reaches into the UTR
        }
        if start_retained {
            bits |= bit(START_RETAINED);
        }
        if !(start_lost || start_retained) {
            bits |= bit(CODING_SEQUENCE);
        }
        if !start_lost && p.hgvsc_ok {
            out.hgvsp = Some(hgvsp_indel(
                tx,
                p.placed,
                length_change && (alt_len - ref_t_len).rem_euclid(3) != 0,
            ));
        }
        out.bits = bits;
        return out;
    }
    let cds = tx.cds;
    let base = tx.start_phase - tx.cdna_cds_start + 1;
    let (d5, d3) = (p.c5 + base, p.c3 + base);
    let (cds_start, cds_end) = if ins {
        (d5.max(d3), d5.min(d3))
    } else {
        (d5.min(d3), d5.max(d3))
    };
    let vf_nt_len = cds_end - cds_start + 1;
    let mut frameshift = (alt_len - vf_nt_len).rem_euclid(3) != 0;
    // VEP: an insertion immediately 5' of the stop codon leaves the CDS's final stop in place -- an in-frame
    // insertion that retains the stop, whatever its length, with no HGVSp
    let n_cds = cds.len() as i64;
    let before_stop = ins
        && cds_end == n_cds - 3
        && translate_bytes(sl(cds, n_cds - 3, n_cds), tx.table, false) == b"*";
    if before_stop {
        frameshift = false;
    }
    let (ref_codon, alt_codon, tl_start, _tl_end, lead) =
        codon_change(cds, cds_start, cds_end, &seq_t);
    let rc = if ref_codon.is_empty() {
        "-".to_string()
    } else {
        case_codon(&ref_codon, lead, vf_nt_len)
    };
    let ac = if alt_codon.is_empty() {
        "-".to_string()
    } else {
        case_codon(&alt_codon, lead, alt_len)
    };
    out.codons = Some(format!("{rc}/{ac}"));
    let rp = pep(&ref_codon, tx.table);
    let ap = pep(&alt_codon, tx.table);
    let dash = |x: &[u8]| {
        if x.is_empty() {
            "-".to_string()
        } else {
            text(x)
        }
    };
    out.amino_acids = Some(if rp == ap {
        dash(&rp)
    } else {
        format!("{}/{}", dash(&rp), dash(&ap))
    });

    let inframe_del = !frameshift && inframe_deletion(&ref_codon, &alt_codon);
    // VEP's inframe_insertion without its start_lost test (start_lost asks it while being decided)
    let mut inframe_ins = !frameshift
        && alt_codon.len() > ref_codon.len()
        && !(start_retained && ap.ends_with(&rp))
        && starts_or_ends(&ap, &rp);
    let start_lost = overlaps_start
        && ((start_altered && !(inframe_ins || inframe_del))
            || start_broken
            || (!rp.is_empty() && tl_start == 1 && !starts_or_ends(&ap, &rp)));
    inframe_ins = inframe_ins && !start_lost;
    let star = |x: &[u8]| x.contains(&b'*');
    let stop_retained = (star(&rp)
        && star(&ap)
        && rp.iter().position(|&c| c == b'*') == Some(rp.len() - 1)
        && ap.ends_with(b"*")
        && !frameshift)
        || before_stop;
    let stop_lost = star(&rp) && !star(&ap);
    let stop_gained = star(&ap) && !star(&rp);
    let missense = !frameshift
        && !start_lost
        && !stop_lost
        && !stop_gained
        && rp != ap
        && rp.len() == ap.len();
    let synonymous = rp == ap && !stop_retained && !rp.contains(&b'X') && !rp.is_empty();
    let protein_altering = (!rp.is_empty() || !ap.is_empty())
        && rp.len() != ap.len()
        && !rp.starts_with(b"*")
        && !ap.starts_with(b"*")
        && !starts_or_ends(&ap, &rp)
        && !inframe_del
        && !start_lost
        && !frameshift;
    for (on, term) in [
        (frameshift, FRAMESHIFT),
        (start_lost, START_LOST),
        (start_retained, START_RETAINED),
        (stop_lost, STOP_LOST),
        (stop_gained, STOP_GAINED),
        (stop_retained, STOP_RETAINED),
        (inframe_del, INFRAME_DELETION),
        (inframe_ins, INFRAME_INSERTION),
        (missense, MISSENSE),
        (protein_altering, PROTEIN_ALTERING),
        (synonymous, SYNONYMOUS),
    ] {
        if on {
            bits |= bit(term);
        }
    }
    if before_stop {
        bits = (bits & !(bit(STOP_GAINED) | bit(PROTEIN_ALTERING))) | bit(INFRAME_INSERTION);
    }
    if bits == 0 {
        bits |= bit(CODING_SEQUENCE);
    }
    if !p.hgvsc_ok || before_stop {
    } else if start_lost {
        // VEP names the lost residues when an in-frame deletion removes more than the start codon
        let lost = if inframe_del && rp.len() > 1 && tl_start == 1 {
            let mut s = String::new();
            aa3_into(&rp, &mut s);
            format!("{s}1_?{}", rp.len())
        } else {
            "Met1?".to_string()
        };
        out.hgvsp = Some(Some(format!("{}p.{lost}", tx.prefix)));
    } else {
        out.hgvsp = Some(hgvsp_indel(tx, p.placed, frameshift));
    }
    out.bits = bits;
    out
}

fn a3(x: &[u8]) -> String {
    let mut s = String::new();
    aa3_into(x, &mut s);
    s
}

fn find_from(s: &[u8], c: u8, from: usize) -> Option<usize> {
    s.get(from..)?
        .iter()
        .position(|&x| x == c)
        .map(|k| k + from)
}

/// Reference residues before the change + the edited sequence translated to its first stop.
fn alt_protein(
    tx: &Transcript,
    cds_start: i64,
    cds_end: i64,
    seq_t: &[u8],
    tl_start: i64,
) -> Vec<u8> {
    let head = (tl_start - 1) * 3; // codons before the change are unchanged
    let cds = tx.cds;
    let mut edited = sl(cds, head, cds_start - 1).to_vec();
    edited.extend_from_slice(seq_t);
    edited.extend_from_slice(sl(cds, cds_end, cds.len() as i64));
    edited.extend_from_slice(tx.utr3);
    let mut out = sl(tx.ref_prot, 0, tl_start - 1).to_vec();
    out.extend(translate_bytes(&edited, tx.table, true));
    out
}

/// p. description of an indel / MNV from its 3'-shifted form placed on the CDS (VEP shifts before
/// describing); None when the shifted variant leaves the CDS or no change can be described.
fn hgvsp_indel(
    tx: &Transcript,
    placed: Option<(i64, i64, &[u8])>,
    frameshift: bool,
) -> Option<String> {
    let (cds_start, cds_end, seq_t) = placed?;
    let cds = tx.cds;
    let (ref_codon, alt_codon, tl_start, _tl_end, _lead) =
        codon_change(cds, cds_start, cds_end, seq_t);
    let prefix = tx.prefix;
    let ref_prot = tx.ref_prot;
    let np = ref_prot.len() as i64;
    if frameshift {
        let alt_prot = alt_protein(tx, cds_start, cds_end, seq_t, tl_start);
        if alt_prot == ref_prot {
            let k = tl_start.min(np);
            return Some(format!("{prefix}{}", synonymous(&[at(ref_prot, k - 1)], k)));
        }
        return hgvs_protein_change(ref_prot, &alt_prot, Some(tl_start - 1), true)
            .map(|d| format!("{prefix}{d}"));
    }
    let (mut rp, mut ap) = (pep(&ref_codon, tx.table), pep(&alt_codon, tx.table));
    let mut start = tl_start;
    let mut i = 0;
    while i < rp.len() && i < ap.len() && rp[i] == ap[i] {
        i += 1;
        start += 1;
    }
    rp.drain(..i);
    ap.drain(..i);
    while !rp.is_empty()
        && !ap.is_empty()
        && rp[rp.len() - 1] == ap[ap.len() - 1]
        && rp[rp.len() - 1] != b'*'
    {
        rp.pop();
        ap.pop();
    }
    if rp.is_empty() && ap.is_empty() {
        return None;
    }
    if rp == b"*" && ap.is_empty() {
        // the stop codon deleted: the protein runs on
        let alt_prot = alt_protein(tx, cds_start, cds_end, seq_t, tl_start);
        let tail = sl(&alt_prot, start - 1, alt_prot.len() as i64);
        let ext = match tail.iter().position(|&c| c == b'*') {
            Some(k) => format!("Ter{k}"),
            None => "Ter?".to_string(),
        };
        return Some(format!("{prefix}p.Ter{start}delext{ext}"));
    }
    if ap.is_empty() {
        // deletion: 3' rule on the protein
        let n = rp.len() as i64;
        while start - 1 + n < np
            && at(ref_prot, start - 1) == at(ref_prot, start - 1 + n)
            && at(ref_prot, start - 1 + n) != b'*'
        {
            rp.remove(0);
            rp.push(at(ref_prot, start - 1 + n));
            start += 1;
        }
        if n == 1 {
            return Some(format!("{prefix}p.{}{start}del", a3(&rp)));
        }
        return Some(format!(
            "{prefix}p.{}{start}_{}{}del",
            a3(&rp[..1]),
            a3(&rp[rp.len() - 1..]),
            start + n - 1
        ));
    }
    if rp.is_empty() {
        // insertion after residue start-1: 3' rule, then duplication of the preceding residues?
        let n = ap.len() as i64;
        while start - 1 < np && at(ref_prot, start - 1) == ap[0] && at(ref_prot, start - 1) != b'*'
        {
            ap.remove(0);
            ap.push(at(ref_prot, start - 1));
            start += 1;
        }
        let before = sl(ref_prot, 0, start - 1);
        let nb = before.len() as i64;
        if n <= nb && sl(before, nb - n, nb) == ap.as_slice() {
            if n == 1 {
                return Some(format!("{prefix}p.{}{}dup", a3(&ap), start - 1));
            }
            return Some(format!(
                "{prefix}p.{}{}_{}{}dup",
                a3(&ap[..1]),
                start - n,
                a3(&ap[ap.len() - 1..]),
                start - 1
            ));
        }
        if start - 1 < 1 || start > np {
            return None;
        }
        return Some(format!(
            "{prefix}p.{}{}_{}{start}ins{}",
            a3(&[at(ref_prot, start - 2)]),
            start - 1,
            a3(&[at(ref_prot, start - 1)]),
            a3(&ap)
        ));
    }
    if rp.len() == 1 && ap.len() == 1 {
        return Some(format!("{prefix}p.{}{start}{}", a3(&rp), a3(&ap)));
    }
    if rp.len() == 1 {
        return Some(format!("{prefix}p.{}{start}delins{}", a3(&rp), a3(&ap)));
    }
    Some(format!(
        "{prefix}p.{}{start}_{}{}delins{}",
        a3(&rp[..1]),
        a3(&rp[rp.len() - 1..]),
        start + rp.len() as i64 - 1,
        a3(&ap)
    ))
}

/// `p.Leu12%3D`: a synonymous change, '=' URL-escaped as VEP prints it in its tab and VCF output.
/// '=' as VEP prints it in its tab and VCF output (URL-escaped).
pub const SYNONYMOUS_ESCAPED: &str = "%3D";

pub fn synonymous(aa: &[u8], protein_pos: i64) -> String {
    format!("p.{}{protein_pos}{SYNONYMOUS_ESCAPED}", a3(aa))
}

/// p. description (without prefix) of the change from ref_prot to alt_prot, both translated from the start
/// codon; alt_prot is translated through the 3' UTR (frameshifts / stop loss) and both end at their first
/// stop ('*' kept). None when no change can be described.
pub fn hgvs_protein_change(
    r: &[u8],
    a: &[u8],
    hint: Option<i64>,
    frameshift: bool,
) -> Option<String> {
    if r.is_empty() || r == a {
        return None;
    }
    if a.first() != r.first() && r.first() == Some(&b'M') {
        return Some("p.Met1?".to_string());
    }
    let n = r.len().min(a.len());
    let mut i = (hint.unwrap_or(0).max(0) as usize).min(n);
    while i < n && r[i] == a[i] {
        i += 1;
    }
    if frameshift {
        if i >= r.len() {
            return None;
        }
        let ref_aa = r[i];
        if i >= a.len() {
            // the alt protein is a prefix of the reference (a CDS without a stop, cds_end_NF): deletion
            let lost = &r[i..];
            if lost.len() == 1 {
                return Some(format!("p.{}{}del", a3(lost), i + 1));
            }
            return Some(format!(
                "p.{}{}_{}{}del",
                a3(&lost[..1]),
                i + 1,
                a3(&lost[lost.len() - 1..]),
                r.len()
            ));
        }
        let alt_aa = a[i];
        if alt_aa == b'*' {
            return Some(format!("p.{}{}Ter", a3(&[ref_aa]), i + 1));
        }
        let ter = match find_from(a, b'*', i) {
            Some(stop) => format!("Ter{}", stop - i + 1),
            None => "Ter?".to_string(),
        };
        return Some(format!(
            "p.{}{}{}fs{ter}",
            a3(&[ref_aa]),
            i + 1,
            a3(&[alt_aa])
        ));
    }
    // stop lost: extension
    if i < r.len() && r[i] == b'*' && i < a.len() && a[i] != b'*' && i == r.len() - 1 {
        let ext = match find_from(a, b'*', i) {
            Some(stop) => format!("Ter{}", stop - i),
            None => "Ter?".to_string(),
        };
        return Some(format!("p.Ter{}{}ext{ext}", i + 1, a3(&[a[i]])));
    }
    if i < a.len() && a[i] == b'*' && i < r.len() {
        return Some(format!("p.{}{}Ter", a3(&[r[i]]), i + 1));
    }
    // trim the common suffix (after the change), both cut at their first stop (inclusive)
    let rr = &r[i.min(r.len())..];
    let mut aa = &a[i.min(a.len())..];
    if let Some(k) = aa.iter().position(|&c| c == b'*') {
        aa = &aa[..k + 1];
    }
    let mut j = 0;
    while j < rr.len().min(aa.len()) && rr[rr.len() - 1 - j] == aa[aa.len() - 1 - j] {
        j += 1;
    }
    let (r_chg, a_chg) = (&rr[..rr.len() - j], &aa[..aa.len() - j]);
    let start = i + 1;
    if r_chg.is_empty() && a_chg.is_empty() {
        return None;
    }
    if r_chg.len() == 1 && a_chg.len() == 1 {
        if a_chg == b"*" {
            return Some(format!("p.{}{start}Ter", a3(r_chg)));
        }
        return Some(format!("p.{}{start}{}", a3(r_chg), a3(a_chg)));
    }
    if a_chg.is_empty() {
        if r_chg.len() == 1 {
            return Some(format!("p.{}{start}del", a3(r_chg)));
        }
        return Some(format!(
            "p.{}{start}_{}{}del",
            a3(&r_chg[..1]),
            a3(&r_chg[r_chg.len() - 1..]),
            start + r_chg.len() - 1
        ));
    }
    if r_chg.is_empty() {
        // insertion between i and i + 1 (1-based)
        let before = &r[..i];
        let n_ins = a_chg.len();
        if i >= n_ins && &before[before.len() - n_ins..] == a_chg {
            if n_ins == 1 {
                return Some(format!("p.{}{i}dup", a3(a_chg)));
            }
            return Some(format!(
                "p.{}{}_{}{i}dup",
                a3(&a_chg[..1]),
                i - n_ins + 1,
                a3(&a_chg[a_chg.len() - 1..])
            ));
        }
        if i == 0 || i >= r.len() {
            return None;
        }
        return Some(format!(
            "p.{}{i}_{}{}ins{}",
            a3(&r[i - 1..i]),
            a3(&r[i..i + 1]),
            i + 1,
            a3(a_chg)
        ));
    }
    if r_chg.len() == 1 {
        return Some(format!("p.{}{start}delins{}", a3(r_chg), a3(a_chg)));
    }
    Some(format!(
        "p.{}{start}_{}{}delins{}",
        a3(&r_chg[..1]),
        a3(&r_chg[r_chg.len() - 1..]),
        start + r_chg.len() - 1,
        a3(a_chg)
    ))
}
