//! A generated list in which every valid combination of the nine leaked-field flags appears for
//! every brand and locale: the worst case for the review (3 brands × 2 locales × 511 = 3,066
//! variants once the list has that many rows).
#![allow(dead_code)]

use super::rows::{BRANDS, HEADER};

/// Flag columns in `HEADER` after `locale`.
pub const FLAGS: usize = 9;
/// Non-empty sets of nine flags (a row with no leaked field is refused).
pub const COMBINATIONS: usize = (1 << FLAGS) - 1;

/// Brand, locale and field bits of row `i`: row `i` and row `i + 6 × 511` are alike, and any
/// 6 × 511 consecutive rows hold every combination for every brand and locale.
pub fn combination(i: usize) -> (&'static str, &'static str, u32) {
    let brand = BRANDS[i % 3];
    let locale = if (i / 3) % 2 == 1 { "en" } else { "ja" };
    let bits = (i / 6) % COMBINATIONS + 1;
    (brand, locale, bits as u32)
}

/// The CSV text of `rows` such rows (with header), ids `C000000`….
pub fn list(rows: usize) -> String {
    let mut csv = String::with_capacity(rows * 80);
    csv.push_str(HEADER);
    csv.push('\n');
    for i in 0..rows {
        let (brand, locale, bits) = combination(i);
        csv.push_str(&format!(
            "C{i:06},user{i}@example.jp,試験 太郎{i},{brand},{locale}"
        ));
        for f in 0..FLAGS {
            csv.push_str(if bits >> f & 1 == 1 { ",1" } else { ",0" });
        }
        csv.push('\n');
    }
    csv
}
