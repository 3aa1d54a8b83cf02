//! E-mail addresses around an `@`: `local@host.tld`, `user@localhost`, `山田@taro` and address
//! literals (`u@[192.0.2.1]`).

use super::domains::dot_len;
use super::{LinkKind, Span, is_label_byte};

fn is_atext(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+/=?^_`{|}~.-".contains(&b)
}

/// `local@host`, `local@host.tld` (any labels), or `local@[address]`.
pub(super) fn email(s: &str, at: usize, spans: &mut Vec<Span>) {
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
