//! Line breaking for plain-text notice bodies, following Japanese rules (禁則処理, kinsoku).
//!
//! Break opportunities come from the Unicode line breaking algorithm (UAX #14, through
//! textwrap's [`WordSeparator::UnicodeBreakProperties`]); on top of it this module enforces:
//! - no line starts with closing brackets, 。、，． and other punctuation, ー, ・, iteration marks
//!   or small kana ([`is_no_break_before`]);
//! - no line ends with an opening bracket ([`is_no_break_after`]);
//! - no break inside an ASCII (or full-width alphanumeric) token: `0120-000-101`,
//!   `9:00〜20:00`, `AB12-CD34`, `and/or` stay whole;
//! - lines are filled greedily (as Japanese typesetting does), trailing whitespace is dropped and
//!   whitespace at a break disappears;
//! - list items (`(1)`, `（１）`, `1.`, `1)`, `①`, `・`, `※`, `●`, `- `…) continue under their text
//!   (hanging indent); other indented lines keep their indent on continuation lines, except a
//!   single leading ideographic space, which is the Japanese first-line paragraph indent (字下げ).
//!
//! Widths are display columns measured with East Asian Ambiguous characters as wide
//! (`UnicodeWidthStr::width_cjk`): `※`, `○`, `×` take two columns in Japanese fonts. This never
//! undercounts the non-CJK width, so a line that fits here fits everywhere.

use textwrap::WordSeparator;
use unicode_width::UnicodeWidthStr;

/// Display width of `s` in columns (East Asian Ambiguous counted as wide).
pub fn display_width(s: &str) -> usize {
    s.width_cjk()
}

/// Wraps a plain-text notice body to `width` display columns (full-width chars count 2),
/// paragraph by paragraph, following Japanese line-breaking rules (kinsoku).
///
/// Every input line is a paragraph (`\n` is a hard break; `\r\n` is read as `\n`; empty lines are
/// kept). A single unbreakable token wider than `width` overflows rather than being split.
pub fn wrap_body(text: &str, width: usize) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 16);
    wrap_body_into(text, width, &mut out);
    out
}

/// [`wrap_body`], appending to `out`.
pub fn wrap_body_into(text: &str, width: usize, out: &mut String) {
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let line = line.strip_suffix('\r').unwrap_or(line);
        wrap_line(line, width, out);
    }
}

/// Wraps one paragraph, appending its lines (joined by `\n`, no final newline) to `out`.
fn wrap_line(line: &str, width: usize, out: &mut String) {
    let line = line.trim_end();
    if display_width(line) <= width {
        out.push_str(line);
        return;
    }
    let (prefix_len, indent) = split_prefix(line, width);
    let (prefix, body) = line.split_at(prefix_len);

    let mut cur = String::from(prefix);
    let mut cur_width = display_width(prefix);
    let mut has_content = false;
    let mut pending_ws = String::new();
    for segment in segments(body) {
        let content = segment.trim_end();
        let ws = &segment[content.len()..];
        if content.is_empty() {
            pending_ws.push_str(ws);
            continue;
        }
        let content_width = display_width(content);
        let ws_width = display_width(&pending_ws);
        if has_content && cur_width + ws_width + content_width > width {
            out.push_str(cur.trim_end());
            out.push('\n');
            cur.clear();
            cur.push_str(&indent);
            cur_width = display_width(&indent);
        } else if has_content {
            cur.push_str(&pending_ws);
            cur_width += ws_width;
        }
        pending_ws.clear();
        cur.push_str(content);
        cur_width += content_width;
        has_content = true;
        pending_ws.push_str(ws);
    }
    out.push_str(cur.trim_end());
}

/// Splits off the line's leading whitespace and list marker (with the whitespace after it);
/// returns the prefix length in bytes and the indent for continuation lines.
fn split_prefix(line: &str, width: usize) -> (usize, String) {
    let lead_len = line.len() - line.trim_start().len();
    let lead = &line[..lead_len];
    let rest = &line[lead_len..];
    let (prefix_len, indent) = match list_marker_len(rest) {
        Some(marker_len) => {
            let after = &rest[marker_len..];
            let ws_len = after.len() - after.trim_start().len();
            let prefix_len = lead_len + marker_len + ws_len;
            let indent = " ".repeat(display_width(&line[..prefix_len]));
            (prefix_len, indent)
        }
        // A single ideographic space is a first-line indent (字下げ), not a block indent.
        None if lead == "\u{3000}" => (lead_len, String::new()),
        None => (lead_len, lead.to_string()),
    };
    // A hanging indent wider than half the line helps nobody.
    if display_width(&indent) * 2 > width {
        (prefix_len, String::new())
    } else {
        (prefix_len, indent)
    }
}

fn is_any_digit(c: char) -> bool {
    c.is_ascii_digit() || ('０'..='９').contains(&c)
}

/// Length in bytes of a list marker at the start of `s`: `(1)`, `（１）`, `1.`, `1)`, `１．`,
/// `①`, `・`, `※`, `●`, `○`, `■`, `◆`, `•`, or `-`/`*` followed by a space.
fn list_marker_len(s: &str) -> Option<usize> {
    let mut chars = s.char_indices().peekable();
    let (_, first) = *chars.peek()?;
    match first {
        '(' | '（' => {
            chars.next();
            let mut digits = 0;
            while chars.next_if(|&(_, c)| is_any_digit(c)).is_some() {
                digits += 1;
            }
            match chars.next() {
                Some((i, c @ (')' | '）'))) if digits > 0 => Some(i + c.len_utf8()),
                _ => None,
            }
        }
        c if is_any_digit(c) => {
            while chars.next_if(|&(_, c)| is_any_digit(c)).is_some() {}
            match chars.next() {
                // `2026.11.25` is a date, not an item: the marker must not run into a digit.
                Some((i, c @ ('.' | ')' | '．' | '）'))) => {
                    let end = i + c.len_utf8();
                    match s[end..].chars().next() {
                        Some(n) if is_any_digit(n) => None,
                        _ => Some(end),
                    }
                }
                _ => None,
            }
        }
        '①'..='⑳' | '・' | '※' | '●' | '○' | '■' | '◆' | '•' => {
            Some(first.len_utf8())
        }
        '-' | '*' if s[1..].starts_with(' ') => Some(1),
        _ => None,
    }
}

/// Chars that must not begin a line (行頭禁則).
pub fn is_no_break_before(c: char) -> bool {
    matches!(c,
        // closing brackets and quotes
        '」' | '』' | '）' | '〕' | '】' | '］' | '｝' | '〉' | '》' | '〙' | '〗' | '〟' | '’' | '”'
        | '｣' | '»' | ')' | ']' | '}'
        // punctuation
        | '。' | '、' | '，' | '．' | '！' | '？' | '：' | '；' | '｡' | '､' | '‼' | '⁇' | '⁈' | '⁉'
        | ',' | '.' | ':' | ';' | '!' | '?' | '%' | '％'
        // prolonged sound mark, middle dot, iteration marks, dashes
        | 'ー' | 'ｰ' | '・' | '･' | 'ゝ' | 'ゞ' | 'ヽ' | 'ヾ' | '々' | '〻' | '‐' | '゠' | '–' | '〜'
        | '～' | '…' | '‥'
        // small kana
        | 'ぁ' | 'ぃ' | 'ぅ' | 'ぇ' | 'ぉ' | 'っ' | 'ゃ' | 'ゅ' | 'ょ' | 'ゎ' | 'ゕ' | 'ゖ'
        | 'ァ' | 'ィ' | 'ゥ' | 'ェ' | 'ォ' | 'ッ' | 'ャ' | 'ュ' | 'ョ' | 'ヮ' | 'ヵ' | 'ヶ'
        | 'ㇰ'..='ㇿ' | 'ｧ'..='ｯ' | 'ﾞ' | 'ﾟ'
    )
}

/// Chars that must not end a line (行末禁則).
pub fn is_no_break_after(c: char) -> bool {
    matches!(
        c,
        '「' | '『'
            | '（'
            | '〔'
            | '【'
            | '［'
            | '｛'
            | '〈'
            | '《'
            | '〘'
            | '〖'
            | '〝'
            | '‘'
            | '“'
            | '｢'
            | '«'
            | '('
            | '['
            | '{'
    )
}

/// Chars of ASCII-like tokens (numbers, codes, times, words) that must not be split.
fn is_tight(c: char) -> bool {
    c.is_ascii_graphic()
        || matches!(c, '０'..='９' | 'Ａ'..='Ｚ' | 'ａ'..='ｚ' | '－' | '：' | '．' | '／' | '＿' | '＠')
        || matches!(c, '〜' | '～' | '‐' | '−' | '–')
}

/// Splits `s` (no leading whitespace) at its allowed break opportunities; each piece keeps its
/// trailing whitespace. The pieces concatenate to `s`.
fn segments(s: &str) -> Vec<&str> {
    let mut breaks = Vec::new();
    let mut pos = 0;
    for word in WordSeparator::UnicodeBreakProperties.find_words(s) {
        pos += word.word.len() + word.whitespace.len() + word.penalty.len();
        breaks.push(pos);
    }
    breaks.pop(); // the end of the text
    // UAX #14 (LB31) allows a break between any two ideographs or kana; the segmenter sometimes
    // misses it after number-like ASCII context (`-a0a--0aa-ああ`), so add those breaks.
    // The same after a space: some ASCII runs (`a0-aaAa aAaa`) come back as one word.
    let mut prev: Option<char> = None;
    for (i, c) in s.char_indices() {
        let after_space = prev.is_some_and(char::is_whitespace) && !c.is_whitespace();
        if after_space || (prev.is_some_and(is_ideographic) && is_ideographic(c)) {
            breaks.push(i);
        }
        prev = Some(c);
    }
    breaks.sort_unstable();
    breaks.dedup();
    let mut out = Vec::with_capacity(breaks.len() + 1);
    let mut start = 0;
    for p in breaks {
        if p > start && p < s.len() && break_allowed(s, p) {
            out.push(&s[start..p]);
            start = p;
        }
    }
    if start < s.len() {
        out.push(&s[start..]);
    }
    out
}

/// Kana and kanji (line breaking class ID, or CJ for small kana, which kinsoku then handles).
fn is_ideographic(c: char) -> bool {
    matches!(c, 'ぁ'..='ゖ' | 'ァ'..='ヺ' | '㐀'..='䶿' | '一'..='鿿')
}

/// Whether a break (allowed by UAX #14) at byte `p` of `s` is also allowed by our rules.
fn break_allowed(s: &str, p: usize) -> bool {
    let before = &s[..p];
    let content = before.trim_end();
    let (Some(last), Some(next)) = (content.chars().next_back(), s[p..].chars().next()) else {
        return false;
    };
    // Whitespace stays at the end of the piece before it, where a break drops it.
    if next.is_whitespace() || is_no_break_before(next) || is_no_break_after(last) {
        return false;
    }
    let at_whitespace = content.len() < before.len();
    !(!at_whitespace && is_tight(last) && is_tight(next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers() {
        for (s, n) in [
            ("(1)氏名", Some(3)),
            ("（４）氏名", Some("（４）".len())),
            ("1. Name", Some(2)),
            ("12) x", Some(3)),
            ("１．氏名", Some("１．".len())),
            ("・氏名", Some("・".len())),
            ("※注意", Some("※".len())),
            ("- item", Some(1)),
            ("2026.11.25に", None),
            ("(a)", None),
            ("-1", None),
            ("氏名", None),
        ] {
            assert_eq!(list_marker_len(s), n, "{s}");
        }
    }

    #[test]
    fn segments_cover_the_text() {
        let s = "お客様の個人情報（氏名、住所）が、0120-000-101 9:00〜20:00 に。";
        assert_eq!(segments(s).concat(), s);
        assert!(segments(s).contains(&"0120-000-101 "));
    }
}
