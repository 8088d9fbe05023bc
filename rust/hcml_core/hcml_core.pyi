from collections.abc import Buffer

NCBI_CODES: dict[int, str]
THREE_LETTER: dict[str, str]
INDEL_TERMS: list[str]
SYNONYMOUS_ESCAPED: str

def translate(seq: str, code: int = 1) -> str: ...
def translate_to_stop(seq: str, code: int = 1) -> str: ...
def revcomp(seq: str) -> str: ...
def aa3(seq: str) -> str: ...
def allele_trim(ref: str, alt: str) -> tuple[int, int]: ...
def synonymous(aa: str, protein_pos: int) -> str: ...
def hgvs_protein_change(
    ref_prot: str, alt_prot: str, first_changed_hint: int | None = None, frameshift: bool = False
) -> str | None: ...
def shift_indel(
    contig: Buffer,
    first: int,
    start: int,
    end: int,
    ref: str,
    alt: str,
    direction: int = 1,
    limit: tuple[int, int] | None = None,
) -> tuple[int, int, str, str]: ...
def indel_pairs(
    term_bits: list[int],
    transcripts: list[tuple[int, int, bool, int, int, str, str, str, str, str]],
    pairs: list[tuple[int, str, str, int, int, bool, bool, bool, bool, tuple[int, int, str] | None]],
) -> list[tuple[int, str | None, str | None, bool, str | None]]: ...
