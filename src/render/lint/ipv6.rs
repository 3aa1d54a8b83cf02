//! IPv6 addresses (`2001:db8::1`, `[::1]`) in a run of hex digits, colons and dots.

use std::net::Ipv6Addr;

use super::{LinkKind, Span};

fn is_ipv6_byte(b: u8) -> bool {
    b.is_ascii_hexdigit() || b == b':' || b == b'.'
}

pub(super) fn ipv6(s: &str, at: usize, spans: &mut Vec<Span>) {
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
