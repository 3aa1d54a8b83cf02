#!/usr/bin/env python3
"""Write a list of N fictional recipients for the repository's config.toml.

Usage: bench/generate.py N OUT.csv

Rows are those of tests/support/rows.rs::row: ids C000001…, addresses userN@example.jp,
names 試験 太郎N, brands kaede/hoshizora/umineko in turn, every 7th row (i % 7 == 3) in
English, name and e-mail always leaked and the other flags from the bits of N, so a list has
brand × locale × field-set variants. Every row is valid (check exits 0).
"""
import sys

HEADER = ("id,email,name,brand,locale,leaked_name,leaked_gender,leaked_birth_date,"
          "leaked_email,leaked_address,leaked_postal_code,leaked_phone,"
          "leaked_passport_number,leaked_passport_issue_date")
BRANDS = ("kaede", "hoshizora", "umineko")


def row(i: int) -> str:
    f = lambda bit: "1" if (i >> bit) & 1 else "0"
    locale = "en" if i % 7 == 3 else "ja"
    return (f"C{i:06d},user{i}@example.jp,試験 太郎{i},{BRANDS[i % 3]},{locale},1,"
            f"{f(0)},{f(1)},1,{f(2)},{f(2)},{f(3)},{f(4)},{f(4)}")


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    n, out = int(sys.argv[1]), sys.argv[2]
    with open(out, "w", encoding="utf-8", newline="") as f:
        f.write(HEADER + "\n")
        chunk = []
        for i in range(1, n + 1):
            chunk.append(row(i))
            if len(chunk) == 100_000:
                f.write("\n".join(chunk) + "\n")
                chunk.clear()
        if chunk:
            f.write("\n".join(chunk) + "\n")


if __name__ == "__main__":
    main()
