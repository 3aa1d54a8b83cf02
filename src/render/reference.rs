//! Reference numbers: the short code printed in each notice so the hotline can find the
//! person's record at once, without the notice ever showing the raw customer id.
//!
//! A reference is derived from the campaign id and the customer id with SHA-256: 55 bits as
//! eleven Crockford base-32 characters plus one check character, printed as `XXXX-XXXX-XXXC`.
//! Crockford's alphabet has no I, L, O or U, so a code read out over the phone survives the
//! usual confusions, and the check character (a weighted sum modulo 37, the ISO 7064 style)
//! catches any single wrong character and any swap of two neighbours.
//!
//! ```
//! let r = tsuchi::render::reference("kaede-2026-11", "C0001");
//! assert_eq!(r.len(), 14);
//! assert_eq!(tsuchi::render::normalize_reference(&r.to_lowercase().replace('-', "")), Some(r));
//! ```

use sha2::{Digest, Sha256};

const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Check symbols: the 32 data symbols plus five extra, as Crockford specifies for mod 37.
const CHECK_ALPHABET: &[u8; 37] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ*~$=U";
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

fn check_symbol(data: &[u8]) -> u8 {
    // Position-weighted sum: catches single substitutions and adjacent transpositions
    // because 37 is prime and the weights differ.
    let sum: u32 = data
        .iter()
        .enumerate()
        .map(|(i, &v)| (i as u32 + 1) * v as u32)
        .sum();
    CHECK_ALPHABET[(sum % 37) as usize]
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
/// well-formed reference or its check character does not match.
pub fn normalize(input: &str) -> Option<String> {
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
    if check_symbol(&data) as char != given {
        return None;
    }
    Some(format_code(&data))
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
        assert!(
            a.chars()
                .all(|c| c == '-' || c.is_ascii_alphanumeric() || "*~$=".contains(c))
        );
    }

    #[test]
    fn every_single_substitution_and_adjacent_swap_is_caught() {
        for id in 0..200 {
            let r = reference("kaede-2026-11", &format!("C{id:05}"));
            let compact: Vec<char> = r.chars().filter(|&c| c != '-').collect();
            for i in 0..compact.len() {
                for &sub in ALPHABET.iter() {
                    let mut m = compact.clone();
                    if m[i] == sub as char {
                        continue;
                    }
                    m[i] = sub as char;
                    let s: String = m.iter().collect();
                    assert_eq!(normalize(&s), None, "{r} vs {s}");
                }
                if i + 1 < DATA_CHARS && compact[i] != compact[i + 1] {
                    let mut m = compact.clone();
                    m.swap(i, i + 1);
                    let s: String = m.iter().collect();
                    assert_eq!(normalize(&s), None, "swap {r} vs {s}");
                }
            }
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
    fn no_collisions_in_a_hundred_thousand_ids() {
        let mut seen = std::collections::HashSet::new();
        for i in 0..100_000 {
            assert!(seen.insert(reference("kaede-2026-11", &format!("C{i}"))));
        }
    }
}
