//! The keys under which two ids, or two addresses, are the same: the mailbox as receivers
//! compare it ([`mailbox_parts`], the one rule for duplicates in a list and for matching
//! bounces), and the 64-bit keys the duplicates pass sorts on disk.

/// A 64-bit key for duplicate detection: SipHash with keys chosen at random once per process,
/// fast on short strings and impossible to aim collisions at from a crafted list. The keys
/// never leave memory, so they need not be stable across runs.
fn key64(tag: &str, parts: &[&str]) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    static KEYS: std::sync::OnceLock<std::hash::RandomState> = std::sync::OnceLock::new();
    let mut h = KEYS.get_or_init(std::hash::RandomState::new).build_hasher();
    h.write(tag.as_bytes());
    for p in parts {
        h.write_u8(0);
        h.write(p.as_bytes());
    }
    h.finish()
}

/// The duplicate-detection key of a (valid, trimmed) customer id.
pub(super) fn id_key(id: &str) -> u64 {
    key64("id", &[id])
}

/// The duplicate-detection key of an address: its mailbox as receivers compare it
/// ([`mailbox_parts`]).
pub(super) fn email_key(local: &str, domain: &str, case_sensitive_local_part: bool) -> u64 {
    let (local, domain) = mailbox_parts(local, domain, case_sensitive_local_part);
    key64("email", &[&local, &domain])
}

/// The local part and domain of an address as receivers compare mailboxes: the domain in
/// lowercase always (host names are case-insensitive); the local part in lowercase too, unless
/// `case_sensitive_local_part` (RFC 5321 lets a server tell `Taro@` from `taro@`, but Japanese
/// carriers and the large providers do not, and two notices to one mailbox look like phishing).
/// Quotes around a legacy carrier local part are dropped: `"taro..yamada"@docomo.ne.jp` is
/// `taro..yamada@docomo.ne.jp`. The one rule for duplicates in a list and for matching bounces.
pub(super) fn mailbox_parts<'a>(
    local: &'a str,
    domain: &'a str,
    case_sensitive_local_part: bool,
) -> (std::borrow::Cow<'a, str>, std::borrow::Cow<'a, str>) {
    use std::borrow::Cow;
    let fold = |s: &'a str| -> Cow<'a, str> {
        if s.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(s.to_ascii_lowercase())
        } else {
            Cow::Borrowed(s)
        }
    };
    let local = local
        .strip_prefix('"')
        .and_then(|l| l.strip_suffix('"'))
        .unwrap_or(local);
    let local = if case_sensitive_local_part {
        Cow::Borrowed(local)
    } else {
        fold(local)
    };
    (local, fold(domain))
}

/// An address (`Taro@Example.JP`, `<taro@example.jp>`, `"taro..y"@docomo.ne.jp`) in the form
/// in which two spellings of one mailbox are equal ([`mailbox_parts`]).
pub(crate) fn mailbox_key(address: &str, case_sensitive_local_part: bool) -> String {
    let a = address.trim().trim_start_matches('<').trim_end_matches('>');
    match a.rsplit_once('@') {
        Some((local, domain)) => {
            let (local, domain) = mailbox_parts(local, domain, case_sensitive_local_part);
            format!("{local}@{domain}")
        }
        None => a.to_string(),
    }
}
