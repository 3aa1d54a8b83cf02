//! Domain names: runs of labels joined by dots (`.`, or an ideographic full stop acting as one)
//! that read as a domain name (`example.co.jp`, `例え.jp`), a `www.` host or a dotted-quad IPv4
//! address, and names under the non-ASCII top-level domains of the public suffix list
//! (`пример.рф`, `楓サポート。コム`).

use super::{IDEO_STOP, LinkKind, Span, char_before, is_label_byte};

/// Whether an ideographic full stop at byte `i` acts as a dot: ASCII label chars on both sides,
/// or an internationalized name before it and a top-level domain after it, which IDNA reads as
/// `例え.jp`: any lowercase word (`例え。jp`), or capitals that spell a top-level domain of the
/// public suffix list (`例え。JP`). Other capitals (`ください。OK`) and capitalised words
/// (`ください。Thank you`) are prose.
pub(super) fn ideo_stop_is_dot(s: &str, i: usize) -> bool {
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
pub(super) fn dot_len(s: &str, i: usize) -> usize {
    let b = s.as_bytes();
    match b.get(i) {
        Some(b'.') => 1,
        Some(0xE3) if s[i..].starts_with(IDEO_STOP) && ideo_stop_is_dot(s, i) => IDEO_STOP.len(),
        _ => 0,
    }
}

/// Examines the maximal run of labels and dots around the dot at `at`; returns its end.
pub(super) fn dotted_run(s: &str, at: usize, spans: &mut Vec<Span>) -> usize {
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
pub(super) fn idn_tld_at(s: &str, i: usize) -> Option<usize> {
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
pub(super) fn idn_top_level_domains(s: &str, spans: &mut Vec<Span>) {
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
