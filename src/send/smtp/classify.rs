//! How a lettre error becomes a [`SendFailure`]: classified on its typed code (5xx permanent,
//! everything else temporary, a 5xx before any recipient a refusal of the session), and what
//! a reply says (its enhanced status code, the relay's queue id).

use crate::send::transport::{FailureKind, SendFailure};

/// A temporary failure of our own making (no reply from the relay to classify).
pub(super) fn temporary(text: String) -> SendFailure {
    SendFailure {
        maybe_delivered: false,
        kind: FailureKind::Temporary,
        code: None,
        enhanced: None,
        text,
    }
}

/// A permanent failure before any recipient was named refuses the session, not a recipient.
pub(super) fn refuses_session(mut f: SendFailure) -> SendFailure {
    if f.kind == FailureKind::Permanent {
        f.kind = FailureKind::Relay;
    }
    f
}

/// Classifies a lettre error by its typed code: 5xx permanent, everything else temporary.
pub(super) fn classify(e: &lettre::transport::smtp::Error, stage: &str) -> SendFailure {
    let code = e.status().map(u16::from);
    let text = std::error::Error::source(e)
        .map(|s| s.to_string())
        .unwrap_or_default();
    let enhanced = text
        .split_whitespace()
        .next()
        .filter(|w| is_enhanced_status(w))
        .map(str::to_string);
    let kind = if e.is_permanent() {
        FailureKind::Permanent
    } else {
        FailureKind::Temporary
    };
    let text = if code.is_some() {
        text
    } else if e.is_timeout() {
        format!("{stage}: timed out")
    } else {
        format!("{stage}: {e}")
    };
    SendFailure {
        kind,
        // Without a reply, a failure during the transaction leaves its outcome unknown.
        maybe_delivered: code.is_none() && stage == "send",
        code,
        enhanced,
        text,
    }
}

fn is_enhanced_status(word: &str) -> bool {
    let parts: Vec<&str> = word.split('.').collect();
    parts.len() == 3
        && matches!(parts[0], "2" | "4" | "5")
        && parts[1..]
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()))
}

/// The queue id in a relay's reply: Postfix says `queued as 4F2A1B3C`, others `id=…`.
pub(super) fn queue_id(reply: &str) -> Option<String> {
    if let Some(pos) = reply.find("queued as ") {
        let id: String = reply[pos + 10..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
            .collect();
        if !id.is_empty() {
            return Some(id);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_queue_ids_and_enhanced_codes() {
        assert_eq!(
            queue_id("2.0.0 Ok: queued as 4F2A1B3C").as_deref(),
            Some("4F2A1B3C")
        );
        assert_eq!(queue_id("Ok"), None);
        assert!(is_enhanced_status("5.1.1"));
        assert!(!is_enhanced_status("5.1"));
        assert!(!is_enhanced_status("user"));
    }
}
