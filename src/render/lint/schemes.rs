//! URLs with a scheme around a colon: `word://…`, `mailto:`, `javascript:`, `vbscript:` and
//! `data:…/…`; any other colon is handed to the IPv6 scanner.

use super::ipv6::ipv6;
use super::{LinkKind, Span};

fn is_url_byte(b: u8) -> bool {
    b.is_ascii_graphic() && !matches!(b, b'"' | b'<' | b'>' | b'`')
}

/// Schemes (`word://`, `mailto:`, `javascript:`…) and IPv6 addresses around a colon.
pub(super) fn colon(s: &str, at: usize, spans: &mut Vec<Span>) {
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
