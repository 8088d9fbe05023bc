"""VCF bodies that break the one header rule, and the line each route's error must name.

Written down from the VCF 4.x specification (meta lines, then the #CHROM line with the eight fixed columns,
then records), not from the code: each route (CLI, realtime direct and queued, Kafka, the pipeline's sample
asset) must refuse each body with the same message naming the line.
"""

COLUMNS = "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"
RECORD = "21\t25891796\t.\tC\tT\t.\t.\t.\n"

BAD_HEADERS = {
    "record-before-chrom": ("##fileformat=VCFv4.2\n" + RECORD, "line 2: a record before the #CHROM header line"),
    "wrong-chrom-columns": (
        "##fileformat=VCFv4.2\n#CHROM\tPOS\tREF\tALT\n21\t25891796\tC\tT\n",
        "line 2: the #CHROM header line must start with #CHROM POS ID REF ALT QUAL FILTER INFO",
    ),
    "header-without-chrom": (
        "##fileformat=VCFv4.2\n##source=test\n",
        "line 2: the header ends without a #CHROM line",
    ),
}

# no ##fileformat line: VEP reads it (Parser::detect_format skips the `#` lines, decides on a record), so every
# route accepts it
WITHOUT_FILEFORMAT = COLUMNS + "\n" + RECORD
