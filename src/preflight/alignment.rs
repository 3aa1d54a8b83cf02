//! Identifier alignment (RFC 7489 §3.1): DMARC passes only when the domain that SPF checks
//! (the Return-Path's) or the domain that signs (DKIM `d=`) is the From domain — the same
//! organizational domain in relaxed mode (the default), exactly the same name in strict mode
//! (`aspf=s`, `adkim=s`). The organizational domain comes from the Public Suffix List (`psl`).

use super::dmarc::Record;
use super::findings::{Check, Finding, Level};

/// The registrable domain of `name` (`notice.example.co.jp` → `example.co.jp`), lowercase;
/// `name` itself when the list knows no suffix for it.
pub fn organizational_domain(name: &str) -> String {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    psl::domain_str(&name).map(str::to_string).unwrap_or(name)
}

/// Whether `a` and `b` align, strictly or relaxed.
pub fn aligned(a: &str, b: &str, strict: bool) -> bool {
    if strict {
        a.trim_end_matches('.')
            .eq_ignore_ascii_case(b.trim_end_matches('.'))
    } else {
        organizational_domain(a) == organizational_domain(b)
    }
}

/// The alignment finding. `dkim_domain` is `None` when tsuchi does not sign (the relay may).
pub fn finding(
    from: &str,
    return_path: &str,
    dkim_domain: Option<&str>,
    dmarc: Option<&Record>,
) -> Finding {
    let strict_spf = dmarc.is_some_and(|r| r.strict_spf);
    let strict_dkim = dmarc.is_some_and(|r| r.strict_dkim);
    let mode = |strict: bool| if strict { "strict" } else { "relaxed" };
    let spf_ok = aligned(from, return_path, strict_spf);
    let subject = match dkim_domain {
        Some(d) => format!("From {from}, Return-Path {return_path}, DKIM d={d}"),
        None => format!("From {from}, Return-Path {return_path}"),
    };
    let spf_text = format!(
        "Return-Path {} ({})",
        if spf_ok { "aligned" } else { "not aligned" },
        mode(strict_spf)
    );
    match dkim_domain {
        None => {
            if spf_ok {
                Finding::new(
                    Check::Alignment,
                    Level::Ok,
                    subject,
                    format!("{spf_text}; DKIM d= is the relay's (tsuchi does not sign)"),
                )
            } else {
                Finding::new(
                    Check::Alignment,
                    Level::Error,
                    subject,
                    format!(
                        "{spf_text}, and tsuchi does not sign: DMARC passes only if the relay signs with d={}",
                        organizational_domain(from)
                    ),
                )
                .publish(format!(
                    "sender.return_path at {} (or a [dkim] section with domain = {from:?})",
                    organizational_domain(from)
                ))
            }
        }
        Some(d) => {
            let dkim_ok = aligned(from, d, strict_dkim);
            let detail = format!(
                "{spf_text}; DKIM d= {} ({})",
                if dkim_ok { "aligned" } else { "not aligned" },
                mode(strict_dkim)
            );
            match (spf_ok, dkim_ok) {
                (true, true) => Finding::new(Check::Alignment, Level::Ok, subject, detail),
                (false, false) => Finding::new(
                    Check::Alignment,
                    Level::Error,
                    subject,
                    format!("{detail}: DMARC fails for every notice"),
                )
                .publish(format!(
                    "dkim.domain = {from:?} and sender.return_path at {}",
                    organizational_domain(from)
                )),
                (true, false) => Finding::new(
                    Check::Alignment,
                    Level::Warning,
                    subject,
                    format!("{detail}: DMARC rests on SPF alone, which forwarding breaks"),
                )
                .publish(format!("dkim.domain = {from:?}")),
                (false, true) => Finding::new(
                    Check::Alignment,
                    Level::Warning,
                    subject,
                    format!("{detail}: DMARC rests on DKIM alone"),
                )
                .publish(format!(
                    "sender.return_path at {}",
                    organizational_domain(from)
                )),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn organizational_domains_follow_the_public_suffix_list() {
        assert_eq!(
            organizational_domain("notice.example.co.jp"),
            "example.co.jp"
        );
        assert_eq!(organizational_domain("Mail.Example.JP."), "example.jp");
        assert_eq!(
            organizational_domain("bounce.kaede-travel.example"),
            "kaede-travel.example"
        );
    }

    #[test]
    fn relaxed_alignment_is_by_organizational_domain_and_strict_by_name() {
        assert!(aligned(
            "notice.example.co.jp",
            "bounce.example.co.jp",
            false
        ));
        assert!(!aligned(
            "notice.example.co.jp",
            "bounce.example.co.jp",
            true
        ));
        assert!(aligned(
            "notice.example.co.jp",
            "NOTICE.example.co.jp",
            true
        ));
        assert!(!aligned("example.co.jp", "other.co.jp", false));
    }
}
