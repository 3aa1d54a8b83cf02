#!/usr/bin/env python3
"""Verify the DKIM signature of a message file against a given DNS TXT record, with dkimpy.

Usage: dkim_verify.py MESSAGE_FILE 'v=DKIM1; k=rsa; p=...'
The TXT record is served for whatever selector/domain the signature names. Exit 0 if the
signature verifies, 1 if it does not, 3 if dkimpy is not installed.
"""
import sys

try:
    import dkim
except ImportError:
    print("dkimpy is not installed (pip install dkimpy)", file=sys.stderr)
    sys.exit(3)


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    message = open(argv[1], "rb").read()
    txt = argv[2].encode("ascii")
    asked = []

    def dnsfunc(name, timeout=5):
        asked.append(name)
        return txt

    try:
        ok = dkim.verify(message, dnsfunc=dnsfunc)
    except Exception as e:  # dkimpy raises on malformed signatures
        print(f"dkim.verify raised: {e!r}", file=sys.stderr)
        return 1
    names = ", ".join(n.decode() if isinstance(n, bytes) else str(n) for n in asked)
    print(f"dkim.verify={ok} (DNS asked: {names})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
