//! DMARC (RFC 7489) of the From domain: the record at `_dmarc.<domain>` (or, when there is
//! none, at the organizational domain's), its policy, and the alignment modes it asks for.
//!
//! A breach notice is what phishers imitate first, so `p=none` — receivers only report forged
//! notices and deliver them anyway — is a warning, as is a policy applied to fewer than 100 %.

use super::alignment::organizational_domain;
use super::dns::{Answer, Dns};
use super::findings::{Check, Finding, Level};

/// The tags of a DMARC record that the pre-flight reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// `p=`: none, quarantine or reject.
    pub policy: String,
    /// `sp=`: the policy for subdomains, when given.
    pub subdomain_policy: Option<String>,
    /// `pct=` (default 100).
    pub pct: u8,
    /// `adkim=s`.
    pub strict_dkim: bool,
    /// `aspf=s`.
    pub strict_spf: bool,
}

impl Default for Record {
    fn default() -> Record {
        Record {
            policy: "none".into(),
            subdomain_policy: None,
            pct: 100,
            strict_dkim: false,
            strict_spf: false,
        }
    }
}

/// Whether a TXT record is a DMARC record (its first tag is `v=DMARC1`).
fn is_dmarc(txt: &str) -> bool {
    txt.split(';')
        .next()
        .and_then(|t| t.split_once('='))
        .is_some_and(|(k, v)| k.trim() == "v" && v.trim() == "DMARC1")
}

/// Parses a DMARC record's tags; an error names the bad tag.
pub fn parse(txt: &str) -> Result<Record, String> {
    let mut r = Record::default();
    let mut policy = None;
    for tag in txt
        .split(';')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .skip(1)
    {
        let Some((key, value)) = tag.split_once('=') else {
            return Err(format!("tag {tag:?} has no value"));
        };
        let (key, value) = (key.trim(), value.trim());
        match key {
            "p" | "sp" => {
                let v = value.to_ascii_lowercase();
                if !["none", "quarantine", "reject"].contains(&v.as_str()) {
                    return Err(format!("{key}={value} is not none, quarantine or reject"));
                }
                if key == "p" {
                    policy = Some(v);
                } else {
                    r.subdomain_policy = Some(v);
                }
            }
            "pct" => {
                r.pct = value
                    .parse::<u8>()
                    .ok()
                    .filter(|p| *p <= 100)
                    .ok_or_else(|| format!("pct={value} is not 0-100"))?;
            }
            "adkim" => r.strict_dkim = value.eq_ignore_ascii_case("s"),
            "aspf" => r.strict_spf = value.eq_ignore_ascii_case("s"),
            _ => {}
        }
    }
    r.policy = policy.ok_or("the p= tag (the policy) is missing")?;
    Ok(r)
}

/// What the DMARC lookup found: the finding, and the record when there is a usable one (its
/// alignment modes are needed by the alignment check).
pub async fn finding(dns: &Dns, from_domain: &str) -> (Finding, Option<Record>) {
    let org = organizational_domain(from_domain);
    let publish = format!(
        "_dmarc.{org} TXT \"v=DMARC1; p=quarantine; rua=mailto:dmarc-reports@{org}\" \
         (p=reject once reports show only your own mail)"
    );
    let name = format!("_dmarc.{from_domain}");
    let mut looked_at = name.clone();
    let mut inherited = false;
    let mut answer = dns.txt(&name).await;
    let none_here = matches!(&answer, Answer::NoRecords) || found_none(&answer);
    if none_here && org != from_domain {
        looked_at = format!("_dmarc.{org}");
        answer = dns.txt(&looked_at).await;
        inherited = true;
    }
    let txts = match answer {
        Answer::Failed(e) => {
            let f = Finding::new(
                Check::Dmarc,
                Level::Error,
                &looked_at,
                format!("could not look up TXT {looked_at}: {e}"),
            );
            return (f, None);
        }
        Answer::NoRecords => Vec::new(),
        Answer::Found(t) => t,
    };
    let records: Vec<&String> = txts.iter().filter(|t| is_dmarc(t)).collect();
    let txt = match records.as_slice() {
        [] => {
            let f = Finding::new(
                Check::Dmarc,
                Level::Error,
                &name,
                format!(
                    "no DMARC record for {from_domain}: receivers have no policy against forged notices"
                ),
            )
            .publish(publish);
            return (f, None);
        }
        [one] => one.as_str(),
        _ => {
            let f = Finding::new(
                Check::Dmarc,
                Level::Error,
                &looked_at,
                "several DMARC records: receivers ignore them all",
            )
            .publish(publish);
            return (f, None);
        }
    };
    let record = match parse(txt) {
        Ok(r) => r,
        Err(e) => {
            let f = Finding::new(
                Check::Dmarc,
                Level::Error,
                &looked_at,
                format!("\"{txt}\" is not a valid DMARC record: {e}"),
            )
            .publish(publish);
            return (f, None);
        }
    };
    // A record found at the organizational domain applies `sp=` (when given) to subdomains.
    let policy = if inherited {
        record.subdomain_policy.as_deref().unwrap_or(&record.policy)
    } else {
        &record.policy
    };
    let whence = if inherited {
        format!(" (inherited from {org})")
    } else {
        String::new()
    };
    let f = if policy == "none" {
        Finding::new(
            Check::Dmarc,
            Level::Warning,
            &looked_at,
            format!(
                "policy none{whence}: forged notices are reported, not stopped — weak for a breach-notice sender"
            ),
        )
        .publish(format!(
            "{looked_at} TXT with p=quarantine or p=reject instead of p=none"
        ))
    } else if record.pct < 100 {
        Finding::new(
            Check::Dmarc,
            Level::Warning,
            &looked_at,
            format!(
                "policy {policy}{whence}, but only for {}% of forged mail",
                record.pct
            ),
        )
        .publish(format!("{looked_at} TXT without pct= (or pct=100)"))
    } else {
        Finding::new(
            Check::Dmarc,
            Level::Ok,
            &looked_at,
            format!("policy {policy}{whence}"),
        )
    };
    (f, Some(record))
}

fn found_none(answer: &Answer<String>) -> bool {
    matches!(answer, Answer::Found(t) if !t.iter().any(|t| is_dmarc(t)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_record_parses() {
        let r = parse(
            "v=DMARC1; p=Reject; sp=quarantine; pct=50; adkim=s; aspf=r; rua=mailto:x@example.jp",
        )
        .unwrap();
        assert_eq!(r.policy, "reject");
        assert_eq!(r.subdomain_policy.as_deref(), Some("quarantine"));
        assert_eq!(r.pct, 50);
        assert!(r.strict_dkim);
        assert!(!r.strict_spf);
    }

    #[test]
    fn a_record_without_policy_or_with_a_bad_one_is_refused() {
        assert!(parse("v=DMARC1; rua=mailto:x@example.jp").is_err());
        assert!(parse("v=DMARC1; p=block").is_err());
        assert!(parse("v=DMARC1; p=none; pct=200").is_err());
    }

    #[test]
    fn only_records_that_start_with_the_version_count() {
        assert!(is_dmarc("v=DMARC1; p=none"));
        assert!(is_dmarc("v = DMARC1;p=none"));
        assert!(!is_dmarc("p=none; v=DMARC1"));
        assert!(!is_dmarc("v=spf1 -all"));
    }
}
