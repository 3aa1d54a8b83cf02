//! VERP: the per-recipient envelope sender that lets a bounce name the notice it belongs to,
//! and its inverse for the bounces that come back.
//!
//! ```
//! use tsuchi::mail::{verp_address, verp_reference};
//! let from = verp_address("bounce@notice.example.jp", "ABCD-EFGH-JKLM");
//! assert_eq!(from, "bounce+ABCD-EFGH-JKLM@notice.example.jp");
//! assert_eq!(
//!     verp_reference("bounce@notice.example.jp", &from).as_deref(),
//!     Some("ABCD-EFGH-JKLM")
//! );
//! ```

/// The per-recipient envelope sender: with return path `bounce@notice.example.jp` and reference
/// `ABCD-EFGH-JKLM`, `bounce+ABCD-EFGH-JKLM@notice.example.jp`. The reference must consist of
/// characters valid in a dot-atom local part (tsuchi's references are letters, digits and `-`).
pub fn verp_address(return_path: &str, reference: &str) -> String {
    match return_path.rsplit_once('@') {
        Some((local, domain)) => format!("{local}+{reference}@{domain}"),
        None => format!("{return_path}+{reference}"),
    }
}

/// Inverse of [`verp_address`]: `Some(reference)` if `addr` (optionally in `<>`) is a VERP
/// address of `return_path`. The domain and the local-part prefix compare case-insensitively
/// (some MTAs lower-case addresses in bounces); the reference is returned as found, so compare
/// it case-insensitively too if references may be lower-cased in transit.
pub fn verp_reference(return_path: &str, addr: &str) -> Option<String> {
    let addr = addr.trim();
    let addr = addr
        .strip_prefix('<')
        .and_then(|a| a.strip_suffix('>'))
        .unwrap_or(addr);
    let (rp_local, rp_domain) = return_path.trim().rsplit_once('@')?;
    let (local, domain) = addr.rsplit_once('@')?;
    if !domain.eq_ignore_ascii_case(rp_domain) {
        return None;
    }
    let prefix_len = rp_local.len() + 1;
    if local.len() <= prefix_len
        || local.as_bytes()[rp_local.len()] != b'+'
        || !local[..rp_local.len()].eq_ignore_ascii_case(rp_local)
    {
        return None;
    }
    Some(local[prefix_len..].to_string())
}
