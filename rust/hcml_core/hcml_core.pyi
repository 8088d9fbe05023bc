from collections.abc import Buffer

NCBI_CODES: dict[int, str]

def translate(seq: str, code: int = 1) -> str: ...
def translate_to_stop(seq: str, code: int = 1) -> str: ...
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
