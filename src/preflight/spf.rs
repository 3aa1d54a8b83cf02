//! SPF (RFC 7208) of the envelope sender's domain: is there exactly one `v=spf1` record, and
//! does it permit the relay's addresses (`send.relay_ips`)?
//!
//! The evaluation is the RFC's `check_host()` for the mechanisms real records use — `all`,
//! `include`, `a`, `mx`, `ip4`, `ip6`, `exists`, `ptr` (deprecated: counted, never matched)
//! and the `redirect` modifier — with the RFC's limits, which also bound the work a hostile or
//! broken record can cause: at most [`MAX_LOOKUPS`] terms that query DNS, at most
//! [`MAX_VOID_LOOKUPS`] of them answered with nothing, at most [`MAX_MX_NAMES`] hosts per `mx`.
//! Macros (`%{…}`) are not expanded: a term that uses one makes the result "not evaluated".
//!
//! (The one maintained SPF crate for Rust, viaspf, is GPL-licensed; this subset is small.)

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;

use super::dns::{Answer, Dns};
use super::findings::{Check, Finding, Level};

/// DNS-querying terms per evaluation (RFC 7208 §4.6.4).
pub const MAX_LOOKUPS: u32 = 10;
/// Queries answered with no records per evaluation (RFC 7208 §4.6.4).
pub const MAX_VOID_LOOKUPS: u32 = 2;
/// Hosts looked up per `mx` term (RFC 7208 §4.6.4).
pub const MAX_MX_NAMES: usize = 10;

/// The result of `check_host()`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpfResult {
    Pass,
    Fail,
    SoftFail,
    Neutral,
    /// No SPF record.
    None,
    /// The record is broken (receivers treat it as a failure); the text says how.
    PermError(String),
    /// A lookup failed; the text says which.
    TempError(String),
    /// The record uses something this evaluation does not (macros).
    NotEvaluated(String),
}

impl SpfResult {
    fn name(&self) -> &'static str {
        match self {
            SpfResult::Pass => "pass",
            SpfResult::Fail => "fail",
            SpfResult::SoftFail => "softfail",
            SpfResult::Neutral => "neutral",
            SpfResult::None => "none",
            SpfResult::PermError(_) => "permerror",
            SpfResult::TempError(_) => "temperror",
            SpfResult::NotEvaluated(_) => "not evaluated",
        }
    }
}

/// The one SPF record among a name's TXT records: `Ok(None)` when there is none, an error when
/// there are several (receivers then return permerror).
pub fn select_record(txts: &[String]) -> Result<Option<&str>, String> {
    let spf: Vec<&str> = txts
        .iter()
        .map(String::as_str)
        .filter(|t| is_spf(t))
        .collect();
    match spf.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one)),
        many => Err(format!(
            "{} SPF records; receivers treat that as an error (permerror): merge them into one",
            many.len()
        )),
    }
}

fn is_spf(txt: &str) -> bool {
    let t = txt.trim_start();
    t.len() >= 6
        && t[..6].eq_ignore_ascii_case("v=spf1")
        && t[6..].chars().next().is_none_or(|c| c == ' ')
}

/// Whether a record ends in a `+all` (or bare `all`) that permits every host on the Internet.
pub fn permits_everyone(record: &str) -> bool {
    record
        .split_ascii_whitespace()
        .any(|t| t.eq_ignore_ascii_case("all") || t.eq_ignore_ascii_case("+all"))
}

struct Budget {
    lookups: u32,
    voids: u32,
}

impl Budget {
    fn lookup(&mut self) -> Result<(), SpfResult> {
        self.lookups += 1;
        if self.lookups > MAX_LOOKUPS {
            Err(SpfResult::PermError(format!(
                "more than {MAX_LOOKUPS} DNS lookups (includes, a, mx, exists, redirect)"
            )))
        } else {
            Ok(())
        }
    }

    fn void(&mut self, name: &str) -> Result<(), SpfResult> {
        self.voids += 1;
        if self.voids > MAX_VOID_LOOKUPS {
            Err(SpfResult::PermError(format!(
                "more than {MAX_VOID_LOOKUPS} lookups without an answer (the last: {name})"
            )))
        } else {
            Ok(())
        }
    }
}

/// `check_host(ip, domain)`: the result and the term that decided it.
pub async fn check_host(dns: &Dns, ip: IpAddr, domain: &str) -> (SpfResult, String) {
    let mut budget = Budget {
        lookups: 0,
        voids: 0,
    };
    evaluate(dns, ip, domain.to_ascii_lowercase(), &mut budget).await
}

type Evaluation<'a> = Pin<Box<dyn Future<Output = (SpfResult, String)> + Send + 'a>>;

fn evaluate<'a>(
    dns: &'a Dns,
    ip: IpAddr,
    domain: String,
    budget: &'a mut Budget,
) -> Evaluation<'a> {
    Box::pin(async move {
        let record = match dns.txt(&domain).await {
            Answer::Found(txts) => match select_record(&txts) {
                Ok(Some(r)) => r.to_string(),
                Ok(None) => return (SpfResult::None, format!("{domain} has no SPF record")),
                Err(e) => return (SpfResult::PermError(e), domain),
            },
            Answer::NoRecords => return (SpfResult::None, format!("{domain} has no SPF record")),
            Answer::Failed(e) => {
                return (SpfResult::TempError(format!("TXT {domain}: {e}")), domain);
            }
        };
        let mut redirect = None;
        for term in record.split_ascii_whitespace().skip(1) {
            if let Some((name, value)) = modifier(term) {
                if name.eq_ignore_ascii_case("redirect") {
                    redirect = Some(value.to_string());
                }
                continue;
            }
            let (result, body) = match term.as_bytes()[0] {
                b'+' => (SpfResult::Pass, &term[1..]),
                b'-' => (SpfResult::Fail, &term[1..]),
                b'~' => (SpfResult::SoftFail, &term[1..]),
                b'?' => (SpfResult::Neutral, &term[1..]),
                _ => (SpfResult::Pass, term),
            };
            if body.contains('%') {
                return (
                    SpfResult::NotEvaluated(format!("{term} in {domain} uses a macro")),
                    term.to_string(),
                );
            }
            match matches(dns, ip, &domain, body, budget).await {
                Ok(true) => return (result, format!("{term} in {domain}")),
                Ok(false) => {}
                Err(r) => return (r, format!("{term} in {domain}")),
            }
        }
        if let Some(target) = redirect {
            if target.contains('%') {
                return (
                    SpfResult::NotEvaluated(format!("redirect={target} uses a macro")),
                    domain,
                );
            }
            if let Err(r) = budget.lookup() {
                return (r, format!("redirect={target}"));
            }
            let (r, by) = evaluate(dns, ip, target.to_ascii_lowercase(), budget).await;
            return match r {
                SpfResult::None => (
                    SpfResult::PermError(format!("redirect={target} has no SPF record")),
                    by,
                ),
                other => (other, by),
            };
        }
        (SpfResult::Neutral, format!("no term of {domain} matched"))
    })
}

/// `name=value` when the term is a modifier (RFC 7208 §4.6.1).
fn modifier(term: &str) -> Option<(&str, &str)> {
    let (name, value) = term.split_once('=')?;
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    ok.then_some((name, value))
}

/// Whether one mechanism matches `ip`; an error result ends the evaluation.
async fn matches(
    dns: &Dns,
    ip: IpAddr,
    domain: &str,
    mechanism: &str,
    budget: &mut Budget,
) -> Result<bool, SpfResult> {
    let (name, arg) = match mechanism.find([':', '/']) {
        Some(i) => (&mechanism[..i], &mechanism[i..]),
        None => (mechanism, ""),
    };
    let name = name.to_ascii_lowercase();
    match name.as_str() {
        "all" if arg.is_empty() => Ok(true),
        "ip4" | "ip6" => {
            let spec = arg
                .strip_prefix(':')
                .ok_or_else(|| perm(format!("{mechanism}: address missing")))?;
            let (addr, len) = match spec.split_once('/') {
                Some((a, l)) => (a, Some(l)),
                None => (spec, None),
            };
            let net: IpAddr = addr
                .parse()
                .map_err(|_| perm(format!("{mechanism}: not an IP address")))?;
            if net.is_ipv4() != (name == "ip4") {
                return Err(perm(format!("{mechanism}: wrong address family")));
            }
            let max = if net.is_ipv4() { 32 } else { 128 };
            let len = match len {
                None => max,
                Some(l) => l
                    .parse::<u8>()
                    .ok()
                    .filter(|l| *l <= max)
                    .ok_or_else(|| perm(format!("{mechanism}: bad prefix length")))?,
            };
            Ok(in_network(ip, net, len))
        }
        "include" => {
            let target = arg
                .strip_prefix(':')
                .filter(|t| !t.is_empty())
                .ok_or_else(|| perm(format!("{mechanism}: domain missing")))?;
            budget.lookup()?;
            let (r, _) = evaluate(dns, ip, target.to_ascii_lowercase(), budget).await;
            match r {
                SpfResult::Pass => Ok(true),
                SpfResult::Fail | SpfResult::SoftFail | SpfResult::Neutral => Ok(false),
                SpfResult::None => Err(perm(format!("include:{target} has no SPF record"))),
                other => Err(other),
            }
        }
        "a" | "mx" => {
            let (target, v4, v6) = domain_and_cidr(mechanism, arg, domain)?;
            budget.lookup()?;
            let len = if ip.is_ipv4() { v4 } else { v6 };
            let hosts = if name == "a" {
                vec![target.clone()]
            } else {
                match dns.mx(&target).await {
                    Answer::Found(mx) => {
                        if mx.len() > MAX_MX_NAMES {
                            return Err(perm(format!(
                                "mx:{target} has more than {MAX_MX_NAMES} hosts"
                            )));
                        }
                        mx.into_iter()
                            .map(|(_, host)| host)
                            .filter(|h| !h.is_empty())
                            .collect()
                    }
                    Answer::NoRecords => {
                        budget.void(&target)?;
                        return Ok(false);
                    }
                    Answer::Failed(e) => return Err(temp(format!("MX {target}: {e}"))),
                }
            };
            for host in hosts {
                match dns.ips(&host, ip.is_ipv6()).await {
                    Answer::Found(addrs) => {
                        if addrs.iter().any(|a| in_network(ip, *a, len)) {
                            return Ok(true);
                        }
                    }
                    Answer::NoRecords => budget.void(&host)?,
                    Answer::Failed(e) => return Err(temp(format!("address of {host}: {e}"))),
                }
            }
            Ok(false)
        }
        "exists" => {
            let target = arg
                .strip_prefix(':')
                .filter(|t| !t.is_empty())
                .ok_or_else(|| perm(format!("{mechanism}: domain missing")))?;
            budget.lookup()?;
            match dns.ips(target, false).await {
                Answer::Found(_) => Ok(true),
                Answer::NoRecords => {
                    budget.void(target)?;
                    Ok(false)
                }
                Answer::Failed(e) => Err(temp(format!("A {target}: {e}"))),
            }
        }
        "ptr" => {
            // Deprecated (RFC 7208 §5.5) and slow for receivers; counted, never matched here.
            budget.lookup()?;
            Ok(false)
        }
        _ => Err(perm(format!("unknown mechanism {mechanism:?}"))),
    }
}

/// The target domain and the IPv4 / IPv6 prefix lengths of an `a` or `mx` term:
/// `a`, `a:host`, `a/24`, `a:host/24//64`, `a//64`.
fn domain_and_cidr(
    mechanism: &str,
    arg: &str,
    current: &str,
) -> Result<(String, u8, u8), SpfResult> {
    let (target, cidr) = match arg.strip_prefix(':') {
        Some(rest) => match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        },
        None => (current, arg),
    };
    if target.is_empty() {
        return Err(perm(format!("{mechanism}: domain missing")));
    }
    let bad = || perm(format!("{mechanism}: bad prefix length"));
    let parse = |s: &str, max: u8| s.parse::<u8>().ok().filter(|l| *l <= max).ok_or_else(bad);
    let (v4, v6) = if let Some(v6) = cidr.strip_prefix("//") {
        (32, parse(v6, 128)?)
    } else if let Some(rest) = cidr.strip_prefix('/') {
        match rest.split_once("//") {
            Some((v4, v6)) => (parse(v4, 32)?, parse(v6, 128)?),
            None => (parse(rest, 32)?, 128),
        }
    } else if cidr.is_empty() {
        (32, 128)
    } else {
        return Err(bad());
    };
    Ok((target.to_ascii_lowercase(), v4, v6))
}

/// Whether `ip` lies in `net/len` (addresses of different families never match).
pub fn in_network(ip: IpAddr, net: IpAddr, len: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

fn perm(message: String) -> SpfResult {
    SpfResult::PermError(message)
}

fn temp(message: String) -> SpfResult {
    SpfResult::TempError(message)
}

/// The SPF finding for the envelope sender's domain.
pub async fn finding(dns: &Dns, domain: &str, relay_ips: &[IpAddr]) -> Finding {
    let suggestion = suggested_record(relay_ips);
    let record = match dns.txt(domain).await {
        Answer::Found(txts) => match select_record(&txts) {
            Ok(Some(r)) => r.to_string(),
            Ok(None) => return missing(domain, &suggestion),
            Err(e) => {
                return Finding::new(Check::Spf, Level::Error, domain, e)
                    .publish(format!("{domain} TXT \"{suggestion}\" (one record only)"));
            }
        },
        Answer::NoRecords => return missing(domain, &suggestion),
        Answer::Failed(e) => {
            return Finding::new(
                Check::Spf,
                Level::Error,
                domain,
                format!("could not look up TXT {domain}: {e}"),
            );
        }
    };
    if relay_ips.is_empty() {
        let mut f = Finding::new(
            Check::Spf,
            Level::Ok,
            domain,
            format!("\"{record}\"; set send.relay_ips to check that it permits your relay"),
        );
        if permits_everyone(&record) {
            f.level = Level::Warning;
            f.detail = format!("\"{record}\" permits every host on the Internet (+all)");
            f.publish = Some(format!("{domain} TXT \"{suggestion}\""));
        }
        return f;
    }
    let mut refused = Vec::new();
    let mut unsure = Vec::new();
    for ip in relay_ips {
        let (result, by) = check_host(dns, *ip, domain).await;
        match &result {
            SpfResult::Pass => {}
            SpfResult::NotEvaluated(why) => unsure.push(format!("{ip}: {why}")),
            SpfResult::PermError(why) | SpfResult::TempError(why) => {
                refused.push(format!("{ip}: {} ({why})", result.name()))
            }
            other => refused.push(format!("{ip}: {} (by {by})", other.name())),
        }
    }
    let permitted = relay_ips
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    if !refused.is_empty() {
        Finding::new(
            Check::Spf,
            Level::Error,
            domain,
            format!(
                "\"{record}\" does not permit the relay: {}",
                refused.join("; ")
            ),
        )
        .publish(format!(
            "{domain} TXT \"{suggestion}\" (or add the relay's addresses to the record)"
        ))
    } else if !unsure.is_empty() {
        Finding::new(
            Check::Spf,
            Level::Warning,
            domain,
            format!("\"{record}\": not evaluated for {}", unsure.join("; ")),
        )
    } else if permits_everyone(&record) {
        Finding::new(
            Check::Spf,
            Level::Warning,
            domain,
            format!("\"{record}\" permits {permitted}, but also every host on the Internet (+all)"),
        )
        .publish(format!("{domain} TXT \"{suggestion}\""))
    } else {
        Finding::new(
            Check::Spf,
            Level::Ok,
            domain,
            format!("\"{record}\" permits {permitted}"),
        )
    }
}

fn missing(domain: &str, suggestion: &str) -> Finding {
    Finding::new(
        Check::Spf,
        Level::Error,
        domain,
        format!("no SPF record at {domain}: receivers cannot tell the relay from a forger"),
    )
    .publish(format!("{domain} TXT \"{suggestion}\""))
}

/// An SPF record that permits exactly the relay's addresses.
fn suggested_record(relay_ips: &[IpAddr]) -> String {
    if relay_ips.is_empty() {
        return "v=spf1 ip4:<your relay's address> -all".into();
    }
    let mut r = String::from("v=spf1");
    for ip in relay_ips {
        match ip {
            IpAddr::V4(a) => r.push_str(&format!(" ip4:{a}")),
            IpAddr::V6(a) => r.push_str(&format!(" ip6:{a}")),
        }
    }
    r.push_str(" -all");
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_spf_record_is_selected_among_other_txt_records() {
        let txts = vec![
            "google-site-verification=abc".to_string(),
            "v=spf1 ip4:192.0.2.1 -all".to_string(),
            "v=spf10 is not spf".to_string(),
        ];
        assert_eq!(select_record(&txts), Ok(Some("v=spf1 ip4:192.0.2.1 -all")));
        let two = vec!["v=spf1 -all".to_string(), "V=SPF1 ~all".to_string()];
        assert!(select_record(&two).is_err());
        assert_eq!(select_record(&["v=spf1".to_string()]), Ok(Some("v=spf1")));
    }

    #[test]
    fn networks_match_by_prefix_and_family() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(in_network(ip("192.0.2.77"), ip("192.0.2.0"), 24));
        assert!(!in_network(ip("192.0.3.1"), ip("192.0.2.0"), 24));
        assert!(in_network(ip("203.0.113.9"), ip("0.0.0.0"), 0));
        assert!(!in_network(ip("192.0.2.1"), ip("192.0.2.2"), 32));
        assert!(in_network(ip("2001:db8::5"), ip("2001:db8::"), 32));
        assert!(!in_network(ip("2001:db9::5"), ip("2001:db8::"), 32));
        assert!(!in_network(ip("192.0.2.1"), ip("::"), 0));
    }

    #[test]
    fn a_and_mx_terms_give_domain_and_prefixes() {
        let d = |m: &str, arg: &str| domain_and_cidr(m, arg, "notice.example.jp");
        assert_eq!(d("a", ""), Ok(("notice.example.jp".into(), 32, 128)));
        assert_eq!(d("a/24", "/24"), Ok(("notice.example.jp".into(), 24, 128)));
        assert_eq!(
            d("mx:Mail.Example.jp/28//64", ":Mail.Example.jp/28//64"),
            Ok(("mail.example.jp".into(), 28, 64))
        );
        assert_eq!(d("a//48", "//48"), Ok(("notice.example.jp".into(), 32, 48)));
        assert!(d("a/33", "/33").is_err());
        assert!(d("a:", ":").is_err());
    }

    #[test]
    fn modifiers_are_told_from_mechanisms() {
        assert_eq!(
            modifier("redirect=_spf.example.jp"),
            Some(("redirect", "_spf.example.jp"))
        );
        assert_eq!(
            modifier("exp=explain.example.jp"),
            Some(("exp", "explain.example.jp"))
        );
        assert_eq!(modifier("include:a=b.example.jp"), None);
        assert_eq!(modifier("-all"), None);
    }

    #[test]
    fn plus_all_is_seen() {
        assert!(permits_everyone("v=spf1 ip4:192.0.2.1 +all"));
        assert!(permits_everyone("v=spf1 all"));
        assert!(!permits_everyone("v=spf1 ip4:192.0.2.1 ~all"));
    }
}
