//! NFKC normalization for the lint, with fast paths: the text is checked after NFKC, and most
//! notices are ASCII and common Japanese, which are already their own NFKC form.

use unicode_normalization::UnicodeNormalization;

/// Chars that are their own NFKC form, are starters, and never take part in a canonical
/// composition: ASCII and the bulk of Japanese text (checked exhaustively by a unit test).
#[inline]
pub(super) fn is_stable(c: char) -> bool {
    matches!(c,
        '\0'..='\x7f'
        | '\u{3001}'..='\u{3002}'   // 、。
        | '\u{3005}'..='\u{3007}'   // 々〆〇
        | '\u{3008}'..='\u{3011}'   // 〈〉《》「」『』【】
        | '\u{3012}'..='\u{301F}'   // 〒〓〔〕〖〗〘〙〚〛〜〝〞〟
        | '\u{3041}'..='\u{3096}'   // hiragana
        | '\u{309D}'..='\u{309E}'   // ゝゞ
        | '\u{30A1}'..='\u{30FE}'   // katakana, ・ー ヽヾ
        | '\u{3400}'..='\u{9FFF}'   // CJK unified ideographs (with ext. A), hexagrams
    )
}

/// Chars at which NFKC normalization may restart: NFKC_QC=Yes starters that never compose with
/// what precedes them (the stable set), and full-width ASCII (which maps to an ASCII starter).
#[inline]
fn is_boundary(c: char) -> bool {
    is_stable(c) || matches!(c, '\u{FF01}'..='\u{FF5E}')
}

/// NFKC, with fast paths for stable chars and full-width ASCII; the rest is normalized segment
/// by segment (segments end before a boundary char, where normalization may restart).
pub(super) fn nfkc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let next_is_boundary = chars.peek().is_none_or(|&(_, n)| is_boundary(n));
        if next_is_boundary && is_stable(c) {
            out.push(c);
        } else if next_is_boundary && matches!(c, '\u{FF01}'..='\u{FF5E}') {
            out.push(char::from_u32(c as u32 - 0xFEE0).unwrap_or(c));
        } else {
            let mut end = text.len();
            while let Some(&(j, n)) = chars.peek() {
                if is_boundary(n) {
                    end = j;
                    break;
                }
                chars.next();
            }
            out.extend(text[i..end].nfkc());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every char that `is_stable` accepts is its own NFKC form and a non-composing starter.
    #[test]
    fn stable_ranges_are_nfkc_stable() {
        use unicode_normalization::char::{canonical_combining_class, compose};
        for cp in 0..=0xFFFFu32 {
            let Some(c) = char::from_u32(cp) else {
                continue;
            };
            if !is_stable(c) {
                continue;
            }
            let n: String = c.to_string().nfkc().collect();
            assert_eq!(n, c.to_string(), "U+{cp:04X} is not NFKC-stable");
            assert_eq!(
                canonical_combining_class(c),
                0,
                "U+{cp:04X} is not a starter"
            );
            // Not a possible second half of a composition with another stable char.
            for a in ['a', 'か', 'ウ', '漢'] {
                assert_eq!(compose(a, c), None, "U+{cp:04X} composes");
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn fast_nfkc_is_nfkc(v in proptest::collection::vec(proptest::sample::select(vec![
            'a', 'e', 'Z', '1', '.', ' ', 'か', 'ウ', 'ｶ', 'ﾞ', 'ﾟ', '\u{3099}', '\u{309A}', '\u{0301}',
            '\u{0338}', 'ｅ', '＜', '１', '．', '＠', '漢', '。', '｡', '①', '㏇', '\u{3000}', 'ﬁ', '가',
            '\u{1161}', '\u{11A8}', 'ᄀ', '゛', 'ゟ', 'が', 'ﾊ', '⒈', '\u{FF61}',
        ]), 0..40)) {
            let text: String = v.into_iter().collect();
            let expected: String = text.nfkc().collect();
            proptest::prop_assert_eq!(nfkc(&text), expected);
        }
    }
}
