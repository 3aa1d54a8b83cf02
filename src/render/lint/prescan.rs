//! The pre-scan: decides cheaply, before any normalization, whether a text can contain a link
//! at all (every link needs a `.`, `@`, `:` or an ideographic full stop acting as a dot), and
//! whether it is already NFKC.

use super::domains::idn_tld_at;
use super::normalize::is_stable;
use super::{char_before, is_label_byte};

pub(super) struct Prescan {
    /// The NFKC text may contain '.', '@', ':' or '。' — every link needs one of them.
    pub(super) may_link: bool,
    /// Every char is in a range known to be NFKC-stable and non-composing, so the text is
    /// already NFKC and need not be checked or normalized.
    pub(super) stable: bool,
    /// The NFKC text may contain an ideographic full stop acting as a dot.
    pub(super) ideo_dot: bool,
}

/// Whether `c`, NFKC-normalized, contains a char that a link needs.
#[inline]
fn is_trigger_after_nfkc(c: char) -> bool {
    if c.is_ascii() {
        return matches!(c, '.' | '@' | ':');
    }
    if is_stable(c) {
        return c == '。';
    }
    if let '\u{FF01}'..='\u{FF5E}' = c {
        // Full-width ASCII: NFKC maps it to ASCII.
        return matches!(char::from_u32(c as u32 - 0xFEE0), Some('.' | '@' | ':'));
    }
    let mut hit = false;
    unicode_normalization::char::decompose_compatible(c, |d| {
        hit |= matches!(d, '.' | '@' | ':' | '。');
    });
    hit
}

pub(super) fn prescan(text: &str) -> Prescan {
    let b = text.as_bytes();
    let mut may_link = false;
    let mut stable = true;
    // The previous char is, or may normalize to, an ASCII letter or digit.
    let mut prev_alnum = false;
    let mut ideo_dot = false;
    let mut i = 0;
    while i < b.len() {
        let x = b[i];
        if x < 0x80 {
            may_link |= matches!(x, b'.' | b'@' | b':');
            prev_alnum = is_label_byte(x);
            i += 1;
            continue;
        }
        if (0xE4..=0xE9).contains(&x) {
            // U+4000..=U+9FFF: CJK ideographs (and hexagrams), all stable.
            prev_alnum = false;
            i += 3;
            continue;
        }
        if x == 0xE3 && i + 2 < b.len() {
            // U+3000..=U+3FFF: kana and CJK punctuation, mostly stable.
            let cp = 0x3000 | ((b[i + 1] as u32 & 0x3F) << 6) | (b[i + 2] as u32 & 0x3F);
            if cp == 0x3002 {
                // After ASCII (`example。com`) or after a letter of any script (`例え。jp`).
                let prev_letter =
                    prev_alnum || char_before(text, i).is_some_and(char::is_alphanumeric);
                if prev_letter
                    && (next_may_be_alnum(text, i + 3) || idn_tld_at(text, i + 3).is_some())
                {
                    may_link = true;
                    ideo_dot = true;
                }
                prev_alnum = false;
                i += 3;
                continue;
            }
            if char::from_u32(cp).is_some_and(is_stable) {
                prev_alnum = false;
                i += 3;
                continue;
            }
        }
        let c = text[i..].chars().next().unwrap_or_default();
        let len = c.len_utf8();
        if is_stable(c) {
            if c == '。' && prev_alnum && next_may_be_alnum(text, i + len) {
                may_link = true;
                ideo_dot = true;
            }
            prev_alnum = false;
        } else {
            stable = false;
            may_link |= c == '｡' || is_trigger_after_nfkc(c);
            prev_alnum = true; // it may normalize to one
        }
        if may_link && !stable {
            break;
        }
        i += len;
    }
    Prescan {
        may_link,
        stable,
        ideo_dot: ideo_dot || !stable,
    }
}

fn next_may_be_alnum(text: &str, i: usize) -> bool {
    match text[i..].chars().next() {
        Some(c) if c.is_ascii() => is_label_byte(c as u8),
        Some(c) => !is_stable(c),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn triggers_after_nfkc() {
        for c in ['．', '＠', '：', '﹒', '⒈', '㏇', '｡', '。', '﹫'] {
            assert!(is_trigger_after_nfkc(c), "{c}");
        }
        for c in ['、', 'あ', '漢', '・', '（', '１'] {
            assert!(!is_trigger_after_nfkc(c), "{c}");
        }
    }
}
