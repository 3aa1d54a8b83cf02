#!/usr/bin/env python3
"""Strict ISO-2022-JP (RFC 1468) check of one or more files.

Exits 0 only if every file is 7-bit, decodes with Python's `iso2022_jp` codec (strict
JIS X 0208: no NEC row 13, no IBM extensions, no JIS X 0212, no half-width katakana) and every
CRLF/LF-separated line ends in ASCII or JIS X 0201 Roman (not inside ESC $ B).
Usage: strict_iso2022jp.py FILE...
"""
import re
import sys

ESC_SEQ = re.compile(rb"\x1b(\(B|\(J|\$B|\$@)")


def check(path):
    data = open(path, "rb").read()
    bad = [i for i, b in enumerate(data) if b >= 0x80]
    if bad:
        return f"{path}: 8-bit byte at offset {bad[0]}"
    try:
        data.decode("iso2022_jp")
    except UnicodeDecodeError as e:
        return f"{path}: not strict ISO-2022-JP: {e}"
    for n, line in enumerate(data.split(b"\n"), 1):
        line = line.rstrip(b"\r")
        escapes = list(ESC_SEQ.finditer(line))
        if line.count(b"\x1b") != len(escapes):
            return f"{path}: line {n}: escape sequence not allowed by RFC 1468"
        if escapes and escapes[-1].group(1) in (b"$B", b"$@"):
            return f"{path}: line {n}: ends in JIS X 0208 mode"
    return None


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    errors = [e for e in (check(p) for p in argv[1:]) if e]
    for e in errors:
        print(e, file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
