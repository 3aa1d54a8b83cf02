//! Reference numbers: the short code printed in each notice so the hotline can find the
//! person's record at once, without the notice ever showing the raw customer id.
//!
//! A reference is derived from the campaign id and the customer id with SHA-256: 55 bits as
//! eleven Crockford base-32 characters plus one check character, printed as `XXXX-XXXX-XXXC`.
//! Crockford's alphabet has no I, L, O or U, so a code read out over the phone survives the
//! usual confusions.
//!
//! The check character is one of the same 32 symbols, so every character of a reference is a
//! letter or a digit that reads aloud plainly on a Japanese phone line. It is computed in the
//! field GF(32): the data symbols `d1…d11` give `c = d1·a¹¹ + d2·a¹⁰ + … + d11·a` with `a = x`
//! (a Damm-style check over the quasigroup `p * d = a·p + d`). Every weight is a distinct
//! non-zero power of `a`, so any single wrong character changes the sum; and swapping two
//! different neighbours changes it by `aᵏ(a + 1)(dᵢ + dⱼ) ≠ 0`, so every adjacent swap (and every
//! swap across one character) is caught too. The rejected alternative, a mod-37 check as
//! Crockford specifies, needs five extra symbols (`*~$=U`) and about one reference in seven
//! ended in one of them.
//!
//! References printed before this scheme (with the mod-37 check) are still read: [`normalize`]
//! accepts either check character and returns the current form, so the hotline and bounce
//! matching find the person either way. That leaves a mistyped current reference a chance of
//! about 1 in 37 of passing as an old one; it then names a code no person has and is reported
//! as not found, exactly as an invalid code is.
//!
//! ```
//! let r = tsuchi::render::reference("kaede-2026-11", "C0001");
//! assert_eq!(r.len(), 14);
//! assert_eq!(tsuchi::render::normalize_reference(&r.to_lowercase().replace('-', "")), Some(r));
//! ```

use sha2::{Digest, Sha256};

const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Check symbols of references printed before the check moved to GF(32): the 32 data symbols
/// plus five extra, as Crockford specifies for mod 37. Read, never written.
const LEGACY_CHECK_ALPHABET: &[u8; 37] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ*~$=U";
const DATA_CHARS: usize = 11;

/// The reference number of customer `id` in campaign `campaign`.
pub fn reference(campaign: &str, id: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"tsuchi-reference\0");
    hasher.update(campaign.as_bytes());
    hasher.update(b"\0");
    hasher.update(id.as_bytes());
    let digest = hasher.finalize();
    let mut bits = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"));
    let mut data = [0u8; DATA_CHARS];
    for slot in data.iter_mut().rev() {
        *slot = (bits & 31) as u8;
        bits >>= 5;
    }
    format_code(&data)
}

fn format_code(data: &[u8; DATA_CHARS]) -> String {
    let mut code = String::with_capacity(DATA_CHARS + 3);
    for (i, &v) in data.iter().enumerate() {
        if i == 4 || i == 8 {
            code.push('-');
        }
        code.push(ALPHABET[v as usize] as char);
    }
    code.push(check_symbol(data) as char);
    code
}

/// Multiplication in GF(32) = GF(2)[x] / (x⁵ + x² + 1).
fn gf32_mul(mut a: u8, mut b: u8) -> u8 {
    let mut product = 0;
    while b != 0 {
        if b & 1 != 0 {
            product ^= a;
        }
        b >>= 1;
        a <<= 1;
        if a & 0x20 != 0 {
            a ^= 0x25;
        }
    }
    product
}

/// The check character: `p ← a·p + d` over the data symbols, then `a·p` (so that one more step
/// with the check symbol ends at zero).
fn check_symbol(data: &[u8]) -> u8 {
    const A: u8 = 2; // x: neither 0 nor 1, so neighbours' weights differ.
    let interim = data.iter().fold(0u8, |p, &d| gf32_mul(A, p) ^ d);
    ALPHABET[gf32_mul(A, interim) as usize]
}

/// The check character of references printed before [`check_symbol`]: a position-weighted sum
/// modulo 37.
fn legacy_check_symbol(data: &[u8]) -> u8 {
    let sum: u32 = data
        .iter()
        .enumerate()
        .map(|(i, &v)| (i as u32 + 1) * v as u32)
        .sum();
    LEGACY_CHECK_ALPHABET[(sum % 37) as usize]
}

fn decode_symbol(c: char) -> Option<u8> {
    let c = match c.to_ascii_uppercase() {
        'O' => '0',
        'I' | 'L' => '1',
        c => c,
    };
    ALPHABET
        .iter()
        .position(|&a| a as char == c)
        .map(|p| p as u8)
}

/// Reads a reference as a person would say or type it (any case, with or without hyphens or
/// spaces, O for 0, I or L for 1) and returns its canonical form, or `None` when it is not a
/// well-formed reference or its check character does not match. A reference printed with the
/// old mod-37 check character is read too, and returned in its current form.
pub fn normalize(input: &str) -> Option<String> {
    let (data, given) = parse(input)?;
    if check_symbol(&data) as char != given && legacy_check_symbol(&data) as char != given {
        return None;
    }
    Some(format_code(&data))
}

/// The data symbols and the (unchecked) check character of a reference as typed.
fn parse(input: &str) -> Option<([u8; DATA_CHARS], char)> {
    let compact: Vec<char> = input
        .chars()
        .filter(|c| !matches!(c, '-' | ' ' | 'ー' | '－' | '　'))
        .map(|c| {
            // Full-width ASCII letters and digits, as typed on a Japanese keyboard.
            let u = c as u32;
            if (0xFF01..=0xFF5E).contains(&u) {
                char::from_u32(u - 0xFEE0).unwrap_or(c)
            } else {
                c
            }
        })
        .collect();
    if compact.len() != DATA_CHARS + 1 {
        return None;
    }
    let mut data = [0u8; DATA_CHARS];
    for (slot, &c) in data.iter_mut().zip(&compact[..DATA_CHARS]) {
        *slot = decode_symbol(c)?;
    }
    let given = compact[DATA_CHARS].to_ascii_uppercase();
    let given = match given {
        'O' => '0',
        'I' | 'L' => '1',
        c => c,
    };
    Some((data, given))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_stable_and_differs_by_campaign_and_id() {
        let a = reference("c1", "C0001");
        assert_eq!(a, reference("c1", "C0001"));
        assert_ne!(a, reference("c1", "C0002"));
        assert_ne!(a, reference("c2", "C0001"));
        assert!(!a.contains("C0001"));
        assert!(a.chars().all(|c| c == '-' || c.is_ascii_alphanumeric()));
    }

    /// Whether the check character of `typed` is the current one.
    fn current_check_holds(typed: &str) -> bool {
        parse(typed).is_some_and(|(data, given)| check_symbol(&data) as char == given)
    }

    #[test]
    fn every_single_substitution_and_neighbour_swap_is_caught() {
        for id in 0..300 {
            let r = reference("kaede-2026-11", &format!("C{id:05}"));
            assert!(current_check_holds(&r), "{r}");
            let compact: Vec<char> = r.chars().filter(|&c| c != '-').collect();
            for i in 0..compact.len() {
                for &sub in ALPHABET.iter() {
                    let mut m = compact.clone();
                    if m[i] == sub as char {
                        continue;
                    }
                    m[i] = sub as char;
                    let s: String = m.iter().collect();
                    assert!(!current_check_holds(&s), "{r} vs {s}");
                }
                // Adjacent swaps (the check character included) and swaps across one.
                for j in [i + 1, i + 2] {
                    if j < compact.len() && compact[i] != compact[j] {
                        let mut m = compact.clone();
                        m.swap(i, j);
                        let s: String = m.iter().collect();
                        assert!(!current_check_holds(&s), "swap {r} vs {s}");
                    }
                }
            }
        }
    }

    #[test]
    fn gf32_multiplication_is_a_field() {
        for a in 1..32u8 {
            let products: std::collections::HashSet<u8> = (0..32).map(|b| gf32_mul(a, b)).collect();
            assert_eq!(products.len(), 32, "{a} has no inverse");
        }
    }

    #[test]
    fn reads_what_people_type() {
        let r = reference("kaede-2026-11", "C00042");
        let typed = r
            .to_lowercase()
            .replace('-', " ")
            .replace('0', "o")
            .replace('1', "l");
        assert_eq!(normalize(&typed).as_deref(), Some(r.as_str()));
        let full_width: String = r
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    char::from_u32(c as u32 + 0xFEE0).unwrap()
                } else {
                    c
                }
            })
            .collect();
        assert_eq!(normalize(&full_width).as_deref(), Some(r.as_str()));
        assert_eq!(normalize("C00042"), None);
    }

    #[test]
    fn every_reference_reads_aloud_in_the_data_alphabet() {
        for i in 0..10_000 {
            let r = reference("kaede-2026-11", &format!("C{i:05}"));
            assert!(
                r.chars().all(|c| c == '-' || ALPHABET.contains(&(c as u8))),
                "{r}"
            );
        }
    }

    /// References printed in notices sent before the check character moved to the data
    /// alphabet (a weighted sum modulo 37, with the symbols `*~$=U`) are still read, and they
    /// name the same person as the current form.
    #[test]
    fn references_printed_with_the_old_check_are_still_read() {
        for (old, id) in [
            ("0P2R-7DJN-KMA=", "C00010"),
            ("NQJR-WKRB-8BW~", "C00020"),
            ("P73D-EJ3G-AHF=", "C00027"),
            ("17MF-TM2D-P9ZP", "C00042"),
            ("NKXE-XTV3-NZ5C", "C0001"),
            ("A0WK-7FH4-P8BZ", "C00007"),
        ] {
            let now = reference("kaede-2026-11", id);
            assert_eq!(normalize(old).as_deref(), Some(now.as_str()), "{old}");
            assert_eq!(
                normalize(&old.to_lowercase()).as_deref(),
                Some(now.as_str())
            );
        }
        // A wrong old check symbol is still refused.
        assert_eq!(normalize("0P2R-7DJN-KMA~"), None);
    }

    #[test]
    fn no_collisions_in_a_hundred_thousand_ids() {
        let mut seen = std::collections::HashSet::new();
        for i in 0..100_000 {
            assert!(seen.insert(reference("kaede-2026-11", &format!("C{i}"))));
        }
    }
}
