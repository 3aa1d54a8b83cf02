//! The no-link lint: finds anything in a notice that a mail client could turn into a link.
//!
//! A breach notice must carry no URL, no domain name and no e-mail address (README.md,
//! "Recipients CSV": a mail client turns any of them into a link, and a link is what phishing
//! looks like). Recipient data is interpolated into the notice, so the lint
//! runs on every rendered message (and on the template sources), and it errs on the side of
//! refusal: `J.Smith` is reported as a domain name, because refusing a row is cheap and sending a
//! link is not.
//!
//! The text is checked after NFKC normalization, which turns full-width forms such as
//! `ｗｗｗ．ｅｘａｍｐｌｅ．ｃｏｍ` or `ｘ＠ｙ．ｊｐ` into ASCII. The ideographic full stops `。`
//! (U+3002) and `｡` (U+FF61, which NFKC maps to U+3002) count as dots when they stand between
//! two ASCII letters, digits, hyphens or underscores (`example。com`), or between a name in
//! another script and a top-level domain (`例え。jp`, `例え。JP`): IDNA treats them as label
//! separators.
//!
//! What is reported:
//! - URLs with a scheme (`word://…`, and `javascript:`, `vbscript:`, `data:…/…`) → [`LinkKind::Url`];
//! - `mailto:` and e-mail addresses `local@host.tld` → [`LinkKind::Email`];
//! - `www.` followed by a label → [`LinkKind::Www`];
//! - domain names `label.label…` where some label after the first is ASCII-alphabetic with at
//!   least two letters or a punycode label `xn--…` (no TLD list: `foo.museum`, `a.bc`,
//!   `evil.xn--p1ai`, also IDN-looking `例え.jp`) → [`LinkKind::Domain`];
//! - names under a non-ASCII top-level domain of the public suffix list (`пример.рф`,
//!   `例え.みんな`, `楓サポート。コム`, in any case), when the label after the dot is exactly
//!   that top-level domain (`1.健康被害` is prose) → [`LinkKind::Domain`];
//! - IPv4 addresses (exactly four dot-separated numbers 0–255) and IPv6 addresses
//!   (`2001:db8::1`, `[::1]`) → [`LinkKind::IpAddress`];
//! - invisible characters — Unicode's default-ignorable code points and the other format
//!   characters (zero-width spaces, bidi controls, variation selectors, tags, U+FFF9…), which can
//!   make `kaede-support.co\u{FE0F}m` display as `kaede-support.com` — except a variation
//!   selector right after a CJK ideograph (`渡邉` + U+E0100 picks a glyph) → [`LinkKind::Invisible`];
//! - anything else the `linkify` crate finds (a safety net).
//!
//! Not reported: times (`9:00〜20:00`, `12:30:45`), dates (`2026.11.25`), phone numbers,
//! `No.1`, `Ver.2.0`, `e.g.`, `TEL:0120-…`, an initial followed by a space (`J. Smith`), the
//! Japanese middle dot `・` (`ジョン・スミス`).

use std::borrow::Cow;
use std::fmt;
use std::net::Ipv6Addr;

use unicode_normalization::UnicodeNormalization;

/// What kind of link-like text was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkKind {
    /// A URL with a scheme (`https://…`, `ftp://…`, `javascript:…`) or a host with a path.
    Url,
    /// A host name starting with `www.`.
    Www,
    /// A bare domain name (`example.co.jp`).
    Domain,
    /// An e-mail address or a `mailto:` link.
    Email,
    /// An IPv4 or IPv6 address.
    IpAddress,
    /// An invisible character (a zero-width space, a variation selector after a Latin letter,
    /// a bidi control…): it can hide a link from the eye (`kaede-support.co\u{FE0F}m` displays
    /// as `kaede-support.com`), so it is refused wherever it stands.
    Invisible,
}

impl LinkKind {
    pub fn describe(&self) -> &'static str {
        match self {
            LinkKind::Url => "a URL",
            LinkKind::Www => "a web address",
            LinkKind::Domain => "a domain name",
            LinkKind::Email => "an e-mail address",
            LinkKind::IpAddress => "an IP address",
            LinkKind::Invisible => "an invisible character",
        }
    }

    /// Tie-break among findings with the same span: lower wins.
    fn rank(&self) -> u8 {
        match self {
            LinkKind::Url => 0,
            LinkKind::Email => 1,
            LinkKind::Www => 2,
            LinkKind::IpAddress => 3,
            LinkKind::Domain => 4,
            LinkKind::Invisible => 5,
        }
    }
}

/// One piece of link-like text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkFinding {
    /// What it looks like.
    pub kind: LinkKind,
    /// Offset in characters (not bytes) in the NFKC-normalized text.
    pub start: usize,
    /// The matched text after NFKC, cut to [`MAX_SNIPPET_CHARS`] characters (then ending in `…`).
    pub snippet: String,
}

/// Longest snippet kept in a [`LinkFinding`], in characters (before the `…`).
pub const MAX_SNIPPET_CHARS: usize = 40;

impl fmt::Display for LinkFinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.kind.describe(), self.snippet)
    }
}

/// The first link-like text in `text` (in reading order), or `None` if the text is clean.
pub fn find_link(text: &str) -> Option<LinkFinding> {
    find_links(text).into_iter().next()
}

/// All link-like text in `text`, in reading order, without overlaps.
pub fn find_links(text: &str) -> Vec<LinkFinding> {
    let scan = prescan(text);
    // Stable text is ASCII and common Japanese, which holds no invisible character.
    let may_hide = !scan.stable && text.chars().any(is_invisible);
    if !scan.may_link && !may_hide {
        return Vec::new();
    }
    let normalized: Cow<'_, str> = if scan.stable {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(nfkc(text))
    };
    let s: &str = &normalized;

    let (mut spans, linkify_may_find) = if scan.may_link {
        scan_spans(s, scan.ideo_dot)
    } else {
        (Vec::new(), false)
    };
    if scan.may_link {
        idn_top_level_domains(s, &mut spans);
    }
    if linkify_may_find {
        linkify_safety_net(s, &mut spans);
    }
    if may_hide {
        invisible_chars(s, &mut spans);
    }
    if spans.is_empty() {
        return Vec::new();
    }
    spans.sort_by(|a, b| {
        a.start
            .cmp(&b.start)
            .then(b.end.cmp(&a.end))
            .then(a.kind.rank().cmp(&b.kind.rank()))
    });

    let mut out = Vec::new();
    let mut covered = 0usize; // byte offset up to which the text is already reported
    let mut chars_before = 0usize; // chars in s[..counted]
    let mut counted = 0usize;
    for span in spans {
        if span.start < covered {
            continue;
        }
        chars_before += s[counted..span.start].chars().count();
        counted = span.start;
        covered = span.end;
        let snippet = match span.kind {
            // The char itself would show nothing: name its code point.
            LinkKind::Invisible => s[span.start..]
                .chars()
                .next()
                .map(|c| format!("U+{:04X}", c as u32))
                .unwrap_or_default(),
            _ => snippet(&s[span.start..span.end]),
        };
        out.push(LinkFinding {
            kind: span.kind,
            start: chars_before,
            snippet,
        });
    }
    out
}

fn snippet(matched: &str) -> String {
    match matched.char_indices().nth(MAX_SNIPPET_CHARS) {
        None => matched.to_string(),
        Some((cut, _)) => format!("{}…", &matched[..cut]),
    }
}

// ---------------------------------------------------------------------------------------------
// Pre-scan: decide cheaply whether the text can contain a link at all.

struct Prescan {
    /// The NFKC text may contain '.', '@', ':' or '。' — every link needs one of them.
    may_link: bool,
    /// Every char is in a range known to be NFKC-stable and non-composing, so the text is
    /// already NFKC and need not be checked or normalized.
    stable: bool,
    /// The NFKC text may contain an ideographic full stop acting as a dot.
    ideo_dot: bool,
}

/// Chars that are their own NFKC form, are starters, and never take part in a canonical
/// composition: ASCII and the bulk of Japanese text (checked exhaustively by a unit test).
#[inline]
fn is_stable(c: char) -> bool {
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

fn prescan(text: &str) -> Prescan {
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

/// Chars at which NFKC normalization may restart: NFKC_QC=Yes starters that never compose with
/// what precedes them (the stable set), and full-width ASCII (which maps to an ASCII starter).
#[inline]
fn is_boundary(c: char) -> bool {
    is_stable(c) || matches!(c, '\u{FF01}'..='\u{FF5E}')
}

/// NFKC, with fast paths for stable chars and full-width ASCII; the rest is normalized segment
/// by segment (segments end before a boundary char, where normalization may restart).
fn nfkc(text: &str) -> String {
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

// ---------------------------------------------------------------------------------------------
// The scanner, on NFKC text.

#[derive(Debug)]
struct Span {
    kind: LinkKind,
    start: usize,
    end: usize,
}

const IDEO_STOP: &str = "\u{3002}"; // 。

fn char_before(s: &str, i: usize) -> Option<char> {
    s[..i].chars().next_back()
}

fn is_label_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// Whether an ideographic full stop at byte `i` acts as a dot: ASCII label chars on both sides,
/// or an internationalized name before it and a top-level domain after it, which IDNA reads as
/// `例え.jp`: any lowercase word (`例え。jp`), or capitals that spell a top-level domain of the
/// public suffix list (`例え。JP`). Other capitals (`ください。OK`) and capitalised words
/// (`ください。Thank you`) are prose.
fn ideo_stop_is_dot(s: &str, i: usize) -> bool {
    let b = s.as_bytes();
    let after = i + IDEO_STOP.len();
    if i > 0 && is_label_byte(b[i - 1]) && b.get(after).is_some_and(|&c| is_label_byte(c)) {
        return true;
    }
    let idn_before = char_before(s, i).is_some_and(|c| !c.is_ascii() && c.is_alphanumeric());
    let label = &b[after.min(b.len())..];
    let lower = label.iter().take_while(|c| c.is_ascii_lowercase()).count();
    let upper = label.iter().take_while(|c| c.is_ascii_uppercase()).count();
    let tld_len = lower.max(upper);
    let ends = label
        .get(tld_len)
        .is_none_or(|c| !c.is_ascii_alphanumeric() && *c != b'_');
    let tld = (2..=24).contains(&tld_len) && (lower > 0 || is_top_level_domain(&label[..upper]));
    idn_before && tld && ends
}

/// Whether ASCII letters, in any case, name a top-level domain of the public suffix list.
fn is_top_level_domain(letters: &[u8]) -> bool {
    let lower = letters.to_ascii_lowercase();
    psl::suffix(&lower).is_some_and(|suffix| suffix.is_known())
}

/// Length in bytes of a dot at `i` ('.' or an ideographic full stop acting as one), or 0.
fn dot_len(s: &str, i: usize) -> usize {
    let b = s.as_bytes();
    match b.get(i) {
        Some(b'.') => 1,
        Some(0xE3) if s[i..].starts_with(IDEO_STOP) && ideo_stop_is_dot(s, i) => IDEO_STOP.len(),
        _ => 0,
    }
}

/// The scanner's findings, and whether `linkify` might find anything more.
fn scan_spans(s: &str, ideo_dot: bool) -> (Vec<Span>, bool) {
    let b = s.as_bytes();
    let mut spans = Vec::new();
    let mut linkify_may_find = false;

    // Dots ('.' and ideographic full stops acting as dots), in order; each run is examined once.
    let mut dots: Vec<usize> = s.match_indices('.').map(|(i, _)| i).collect();
    linkify_may_find |= !dots.is_empty();
    let n_ascii = dots.len();
    if ideo_dot {
        dots.extend(
            s.match_indices(IDEO_STOP)
                .map(|(i, _)| i)
                .filter(|&i| ideo_stop_is_dot(s, i)),
        );
    }
    if dots.len() > n_ascii {
        dots.sort_unstable();
    }
    let mut dotted_done = 0;
    for i in dots {
        if i >= dotted_done {
            dotted_done = dotted_run(s, i, &mut spans);
        }
    }
    for (i, _) in s.match_indices('@') {
        linkify_may_find = true;
        email(s, i, &mut spans);
    }
    for (i, _) in s.match_indices(':') {
        // Only a scheme (ending in a letter, '+' or '-') before a colon can start a link for
        // linkify; `9:00` or `時間:` cannot.
        linkify_may_find |= i > 0 && (b[i - 1].is_ascii_alphabetic() || b"+-".contains(&b[i - 1]));
        colon(s, i, &mut spans);
    }
    (spans, linkify_may_find)
}

/// Examines the maximal run of labels and dots around the dot at `at`; returns its end.
fn dotted_run(s: &str, at: usize, spans: &mut Vec<Span>) -> usize {
    let b = s.as_bytes();
    // Extend left over labels and dots.
    let mut start = at;
    loop {
        if start > 0 && (is_label_byte(b[start - 1]) || b[start - 1] == b'.') {
            start -= 1;
        } else if start >= IDEO_STOP.len()
            && s.is_char_boundary(start - IDEO_STOP.len())
            && s[start - IDEO_STOP.len()..].starts_with(IDEO_STOP)
            && ideo_stop_is_dot(s, start - IDEO_STOP.len())
        {
            start -= IDEO_STOP.len();
        } else {
            break;
        }
    }
    // Split into labels going right.
    let mut labels: Vec<(usize, usize)> = Vec::new();
    let mut pos = start;
    let mut label_start = start;
    loop {
        if pos < b.len() && is_label_byte(b[pos]) {
            pos += 1;
            continue;
        }
        let d = dot_len(s, pos);
        labels.push((label_start, pos));
        if d == 0 {
            break;
        }
        pos += d;
        label_start = pos;
    }
    let end = pos;
    let text = |(a, z): (usize, usize)| &s[a..z];

    // IPv4: exactly four numeric labels 0-255 (a trailing sentence dot is allowed).
    let numeric: Vec<&str> = {
        let mut v: Vec<&str> = labels.iter().map(|&l| text(l)).collect();
        if v.len() > 1 && v.last() == Some(&"") {
            v.pop();
        }
        v
    };
    if numeric.len() == 4
        && numeric.iter().all(|l| {
            (1..=3).contains(&l.len())
                && l.bytes().all(|c| c.is_ascii_digit())
                && l.parse::<u16>().is_ok_and(|n| n <= 255)
        })
    {
        let last = labels[3];
        spans.push(Span {
            kind: LinkKind::IpAddress,
            start: labels[0].0,
            end: last.1,
        });
        return end;
    }

    // Domain names: some label after a non-empty label is TLD-like.
    let mut found: Option<(usize, usize)> = None; // (first label index, last TLD label index)
    for k in 1..labels.len() {
        if is_tld_like(text(labels[k])) && labels[k - 1].0 < labels[k - 1].1 {
            let first = found.map_or_else(
                || {
                    (0..k)
                        .rev()
                        .take_while(|&j| labels[j].0 < labels[j].1)
                        .last()
                        .unwrap_or(k - 1)
                },
                |(f, _)| f,
            );
            found = Some((first, k));
        }
    }
    if let Some((first, last)) = found {
        let span_start = labels[first].0;
        let span_end = labels[last].1;
        let is_www = text(labels[first]).eq_ignore_ascii_case("www");
        spans.push(Span {
            kind: if is_www {
                LinkKind::Www
            } else {
                LinkKind::Domain
            },
            start: span_start,
            end: span_end,
        });
        return end;
    }
    // `www.` followed by any label.
    for k in 0..labels.len().saturating_sub(1) {
        if text(labels[k]).eq_ignore_ascii_case("www") && labels[k + 1].0 < labels[k + 1].1 {
            spans.push(Span {
                kind: LinkKind::Www,
                start: labels[k].0,
                end: labels[labels.len() - 1].1,
            });
            return end;
        }
    }
    // IDN-looking: non-ASCII letters right before a dot followed by a TLD-like label (`例え.jp`).
    if labels.len() >= 2 && labels[0].0 == labels[0].1 && is_tld_like(text(labels[1])) {
        let mut idn_start = start;
        let mut n = 0;
        while let Some(c) = char_before(s, idn_start) {
            if c.is_ascii() || !c.is_alphanumeric() || n == 63 {
                break;
            }
            idn_start -= c.len_utf8();
            n += 1;
        }
        if n > 0 {
            spans.push(Span {
                kind: LinkKind::Domain,
                start: idn_start,
                end: labels[1].1,
            });
        }
    }
    end
}

/// A char that may stand in a label of an internationalized domain name.
fn is_idn_label_char(c: char) -> bool {
    c.is_alphanumeric() || c == '-' || c == '_' || unicode_normalization::char::is_combining_mark(c)
}

/// Longest internationalized label the lint examines, in chars (a DNS label is at most 63
/// octets in its punycode form, which is never shorter than this many chars).
const MAX_IDN_LABEL_CHARS: usize = 63;

/// If a non-ASCII top-level domain of the public suffix list (`рф`, `みんな`, `コム`, in any
/// case) starts at byte `i` and the label ends there, its end.
///
/// The whole label must be the top-level domain: `1.健康被害` is prose, `楓.健康、` is a name.
/// ASCII top-level domains are found by the dotted-run scanner without a list.
fn idn_tld_at(s: &str, i: usize) -> Option<usize> {
    let rest = s.get(i..)?;
    let mut end = i;
    let mut non_ascii = false;
    for (n, c) in rest.chars().enumerate() {
        if !is_idn_label_char(c) {
            break;
        }
        if n == MAX_IDN_LABEL_CHARS {
            return None;
        }
        non_ascii |= !c.is_ascii();
        end += c.len_utf8();
    }
    if !non_ascii {
        return None;
    }
    let label = s[i..end].to_lowercase();
    let suffix = psl::suffix(label.as_bytes())?;
    (suffix.is_known() && suffix.as_bytes().len() == label.len()).then_some(end)
}

/// Names under non-ASCII top-level domains (`пример.рф`, `例え.みんな`, `楓サポート。コム`):
/// IDNA reads them as domain names and mail clients link them.
fn idn_top_level_domains(s: &str, spans: &mut Vec<Span>) {
    let dots = s
        .match_indices('.')
        .chain(s.match_indices(IDEO_STOP))
        .map(|(i, d)| (i, d.len()));
    for (i, len) in dots {
        let Some(end) = idn_tld_at(s, i + len) else {
            continue;
        };
        // The labels before it: label chars and dots, back to the start of the name.
        let mut start = i;
        for (n, c) in s[..i].chars().rev().enumerate() {
            if n == 4 * MAX_IDN_LABEL_CHARS || !(is_idn_label_char(c) || c == '.') {
                break;
            }
            start -= c.len_utf8();
        }
        let labels = s[start..i].trim_start_matches('.');
        if labels.is_empty() {
            continue;
        }
        let start = i - labels.len();
        spans.push(Span {
            kind: LinkKind::Domain,
            start,
            end,
        });
    }
}

/// Unicode's default-ignorable code points (DerivedCoreProperties.txt,
/// `Default_Ignorable_Code_Point`) and the other format characters (general category Cf) that
/// display as nothing or next to nothing: any of them can hide a link from the eye.
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}'..='\u{1160}' | '\u{17B4}'..='\u{17B5}'
        | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{FFA0}'
        | '\u{FFF0}'..='\u{FFFB}' | '\u{1BCA0}'..='\u{1BCA3}' | '\u{1D173}'..='\u{1D17A}'
        | '\u{E0000}'..='\u{E0FFF}'
        // Format characters outside that set.
        | '\u{0600}'..='\u{0605}' | '\u{06DD}' | '\u{070F}' | '\u{0890}'..='\u{0891}'
        | '\u{08E2}' | '\u{110BD}' | '\u{110CD}' | '\u{13430}'..='\u{1343F}'
        | '\u{16FE4}'
    )
}

fn is_variation_selector(c: char) -> bool {
    matches!(c, '\u{FE00}'..='\u{FE0F}' | '\u{E0100}'..='\u{E01EF}')
}

/// CJK unified and compatibility ideographs, the bases of ideographic variation sequences.
fn is_cjk_ideograph(c: char) -> bool {
    matches!(c,
        '\u{3400}'..='\u{4DBF}' | '\u{4E00}'..='\u{9FFF}' | '\u{F900}'..='\u{FAFF}'
        | '\u{20000}'..='\u{3FFFF}'
    )
}

/// The first invisible char of `text` (see [`LinkKind::Invisible`]), with the same exception
/// for a variation selector right after a CJK ideograph.
pub fn invisible_char(text: &str) -> Option<char> {
    let mut spans = Vec::new();
    invisible_chars(text, &mut spans);
    spans.first().and_then(|s| text[s.start..].chars().next())
}

/// Every invisible char, except a variation selector right after a CJK ideograph, which picks
/// the glyph of a name (渡邉 + U+E0100) and hides nothing.
fn invisible_chars(s: &str, spans: &mut Vec<Span>) {
    let mut prev = None;
    for (i, c) in s.char_indices() {
        let glyph_variant = is_variation_selector(c) && prev.is_some_and(is_cjk_ideograph);
        if is_invisible(c) && !glyph_variant {
            spans.push(Span {
                kind: LinkKind::Invisible,
                start: i,
                end: i + c.len_utf8(),
            });
        }
        prev = Some(c);
    }
}

/// A top-level-domain-like label: ASCII letters only, at least two, or a punycode label.
fn is_tld_like(label: &str) -> bool {
    // `example.com_`: an underscore or hyphen after the last label does not hide it.
    let label = label.trim_end_matches(['_', '-']);
    (label.len() >= 2 && label.bytes().all(|c| c.is_ascii_alphabetic()))
        || (label.len() > 4
            && label[..4].eq_ignore_ascii_case("xn--")
            && label
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-'))
}

fn is_atext(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+/=?^_`{|}~.-".contains(&b)
}

/// `local@host`, `local@host.tld` (any labels), or `local@[address]`.
fn email(s: &str, at: usize, spans: &mut Vec<Span>) {
    let b = s.as_bytes();
    let mut start = at;
    while start > 0 && is_atext(b[start - 1]) {
        start -= 1;
    }
    if start == at {
        // A non-ASCII local part (`山田@taro`) reads as an address too.
        match s[..at].chars().next_back() {
            Some(c) if c.is_alphanumeric() => start = at - c.len_utf8(),
            _ => return,
        }
    }
    let host = at + 1;
    if b.get(host) == Some(&b'[') {
        // An address literal: `[192.0.2.1]`, `[IPv6:2001:db8::1]` — never across other text.
        let literal = s[host + 1..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | ':')))
            .map(|n| host + 1 + n)
            .filter(|&end| b[end] == b']');
        if let Some(end) = literal {
            spans.push(Span {
                kind: LinkKind::Email,
                start,
                end: end + 1,
            });
        }
        return;
    }
    let mut pos = host;
    let mut dots = 0;
    let mut last_label_len = 0;
    loop {
        if pos < b.len() && is_label_byte(b[pos]) {
            pos += 1;
            last_label_len += 1;
            continue;
        }
        let d = dot_len(s, pos);
        if d == 0 || last_label_len == 0 {
            break;
        }
        // Only count the dot if a label follows.
        if !b.get(pos + d).is_some_and(|&c| is_label_byte(c)) {
            break;
        }
        dots += 1;
        pos += d;
        last_label_len = 0;
    }
    // `user@localhost` has no dot, but mail clients still offer to write to it; `価格@1` is
    // a price, not an address.
    let host_has_letter = b[host..pos].iter().any(u8::is_ascii_alphabetic);
    if last_label_len > 0 && (dots > 0 || host_has_letter) {
        spans.push(Span {
            kind: LinkKind::Email,
            start,
            end: pos,
        });
    }
}

fn is_url_byte(b: u8) -> bool {
    b.is_ascii_graphic() && !matches!(b, b'"' | b'<' | b'>' | b'`')
}

/// Schemes (`word://`, `mailto:`, `javascript:`…) and IPv6 addresses around a colon.
fn colon(s: &str, at: usize, spans: &mut Vec<Span>) {
    let b = s.as_bytes();
    // The scheme: [A-Za-z][A-Za-z0-9+.-]* right before the colon.
    let mut start = at;
    while start > 0
        && (b[start - 1].is_ascii_alphanumeric() || matches!(b[start - 1], b'+' | b'.' | b'-'))
    {
        start -= 1;
    }
    while start < at && !b[start].is_ascii_alphabetic() {
        start += 1;
    }
    let scheme = &s[start..at];
    let url_end = |from: usize| from + b[from..].iter().take_while(|&&c| is_url_byte(c)).count();
    if b[at + 1..].starts_with(b"//") {
        // Any `scheme://`, and also a bare `://host`.
        if !scheme.is_empty() || b.get(at + 3).is_some_and(|c| c.is_ascii_alphanumeric()) {
            spans.push(Span {
                kind: LinkKind::Url,
                start,
                end: url_end(at + 1),
            });
            return;
        }
    }
    let next_is_graphic = b.get(at + 1).is_some_and(|c| c.is_ascii_graphic());
    if next_is_graphic && !scheme.is_empty() {
        let lower = scheme.to_ascii_lowercase();
        let kind = match lower.as_str() {
            "mailto" => Some(LinkKind::Email),
            "javascript" | "vbscript" => Some(LinkKind::Url),
            // `data:text/html,…` but not `Data: name, address`.
            "data" if is_mime_type_start(&b[at + 1..]) => Some(LinkKind::Url),
            _ => None,
        };
        if let Some(kind) = kind {
            spans.push(Span {
                kind,
                start,
                end: url_end(at + 1),
            });
            return;
        }
    }
    ipv6(s, at, spans);
}

/// `text/html…`: a MIME type right after `data:`.
fn is_mime_type_start(t: &[u8]) -> bool {
    let n = t
        .iter()
        .take_while(|c| c.is_ascii_alphanumeric() || b"+.-".contains(c))
        .count();
    n > 0 && t.get(n) == Some(&b'/')
}

fn is_ipv6_byte(b: u8) -> bool {
    b.is_ascii_hexdigit() || b == b':' || b == b'.'
}

fn ipv6(s: &str, at: usize, spans: &mut Vec<Span>) {
    let b = s.as_bytes();
    // Only examine a run once: from its first colon.
    if at > 0
        && b[..at]
            .iter()
            .rev()
            .take_while(|&&c| is_ipv6_byte(c))
            .any(|&c| c == b':')
    {
        return;
    }
    let mut start = at;
    while start > 0 && is_ipv6_byte(b[start - 1]) {
        start -= 1;
    }
    let mut end = at;
    while end < b.len() && is_ipv6_byte(b[end]) {
        end += 1;
    }
    // Word boundaries: `Note::x` is not an address.
    if start > 0 && (b[start - 1].is_ascii_alphanumeric() || b[start - 1] == b'_')
        || end < b.len() && (b[end].is_ascii_alphanumeric() || b[end] == b'_')
    {
        return;
    }
    let mut cand = &s[start..end];
    while cand.ends_with('.') {
        cand = &cand[..cand.len() - 1];
    }
    let colons = cand.bytes().filter(|&c| c == b':').count();
    if colons < 2 || !cand.bytes().any(|c| c.is_ascii_hexdigit()) {
        return;
    }
    if cand.parse::<Ipv6Addr>().is_ok() {
        spans.push(Span {
            kind: LinkKind::IpAddress,
            start,
            end: start + cand.len(),
        });
    }
}

/// Whatever `linkify` finds and the scanner did not: a safety net.
fn linkify_safety_net(s: &str, spans: &mut Vec<Span>) {
    thread_local! {
        static FINDER: linkify::LinkFinder = {
            let mut f = linkify::LinkFinder::new();
            f.url_must_have_scheme(false);
            f.kinds(&[linkify::LinkKind::Url, linkify::LinkKind::Email]);
            f
        };
    }
    FINDER.with(|finder| {
        for link in finder.links(s) {
            let (start, end) = (link.start(), link.end());
            if spans.iter().any(|sp| sp.start < end && start < sp.end) {
                continue;
            }
            let kind = match link.kind() {
                linkify::LinkKind::Email => LinkKind::Email,
                _ => LinkKind::Url,
            };
            spans.push(Span { kind, start, end });
        }
    });
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
