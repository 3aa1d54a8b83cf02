//! The relay pool's settings: `[[send.relays]]` (several relays with weights and rate caps),
//! `[[send.reply_rules]]` (what a relay's reply means, on top of the built-in table) and the
//! error-ratio breaker (`send.max_unknown_ratio`, `send.unknown_window`). Typed and checked
//! here at load, so `tsuchi check` refuses a bad regex or a relay without a name.

use std::time::Duration;

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

/// One relay of the pool.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RelayEntry {
    /// Its name in the journal, `status` and the credential variables
    /// (`TSUCHI_SMTP_USER_<NAME>`): letters, digits and `_` or `-`.
    pub name: String,
    /// Relay URL in the form of `send.smtp`.
    pub url: String,
    /// Share of the traffic among the healthy relays.
    #[serde(default = "one")]
    pub weight: u32,
    /// Most messages per second through this relay (the provider account's rate); the
    /// throttling replies never raise its rate above it.
    #[serde(default)]
    pub rate: Option<f64>,
    /// This relay's CA bundle, client certificate and key (PEM, relative to the config file);
    /// unset: `send.tls_ca_file`, `send.tls_client_cert`, `send.tls_client_key`.
    #[serde(default)]
    pub tls_ca_file: Option<std::path::PathBuf>,
    #[serde(default)]
    pub tls_client_cert: Option<std::path::PathBuf>,
    #[serde(default)]
    pub tls_client_key: Option<std::path::PathBuf>,
}

fn one() -> u32 {
    1
}

/// What a relay's reply means for the run.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum ReplyAction {
    /// Rate throttling: the relay's rate is cut; the message is retried, not held against
    /// the recipient.
    Slow,
    /// The relay's quota is spent: it rests for the duration (or the time the reply names).
    Pause,
    /// The recipient's own temporary problem (mailbox full, greylisting): retried later.
    Defer,
    /// Permanent for the recipient (unknown user): failed.
    Fail,
    /// A policy block: the run stops at once, resumable.
    Stop,
}

impl ReplyAction {
    pub fn as_str(self) -> &'static str {
        match self {
            ReplyAction::Slow => "slow",
            ReplyAction::Pause => "pause",
            ReplyAction::Defer => "defer",
            ReplyAction::Fail => "fail",
            ReplyAction::Stop => "stop",
        }
    }
}

/// One `[[send.reply_rules]]` entry, as written.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ReplyRuleEntry {
    /// A regular expression on the reply (`454 Throttling failure: …`: code, enhanced status
    /// and text, as one line), case-insensitive.
    #[serde(rename = "match")]
    pub pattern: String,
    pub action: ReplyAction,
    /// How long a `pause` lasts (`90s`, `30m`, `24h`) when the reply names no time.
    #[serde(default)]
    pub duration: Option<String>,
    /// The rule acts only once it has matched this often within the period (`3/min`,
    /// `2/hour`); below it the reply is classified as if the rule did not exist.
    #[serde(default)]
    pub threshold: Option<String>,
}

/// `3/min` → (3, 60 s).
pub fn parse_threshold(s: &str) -> Result<(u32, Duration)> {
    let Some((n, per)) = s.split_once('/') else {
        bail!("threshold {s:?}: expected COUNT/PERIOD, e.g. \"3/min\"");
    };
    let n: u32 = match n.trim().parse() {
        Ok(n) if n >= 1 => n,
        _ => bail!("threshold {s:?}: the count must be a whole number of at least 1"),
    };
    let period = match per.trim() {
        "s" | "sec" | "second" => Duration::from_secs(1),
        "m" | "min" | "minute" => Duration::from_secs(60),
        "h" | "hour" => Duration::from_secs(3600),
        "d" | "day" => Duration::from_secs(86_400),
        other => match parse_duration(other) {
            Ok(d) => d,
            Err(_) => bail!("threshold {s:?}: the period must be s, min, hour, day or a duration"),
        },
    };
    Ok((n, period))
}

/// `90s`, `30m`, `2h`, `1d`, or a number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let Ok(n) = n.parse::<u64>() else {
        bail!("duration {s:?}: expected a number and a unit, e.g. \"30m\"");
    };
    let secs = match unit.trim() {
        "" | "s" => 1,
        "m" | "min" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => bail!("duration {s:?}: the unit must be s, m, h or d"),
    };
    Ok(Duration::from_secs(n.saturating_mul(secs)))
}

/// The checks `config::validate` runs on the pool's settings.
pub(super) fn validate(
    relays: &[RelayEntry],
    rules: &[ReplyRuleEntry],
    max_unknown_ratio: f64,
    unknown_window: usize,
) -> Result<()> {
    for (i, r) in relays.iter().enumerate() {
        let ok = !r.name.is_empty()
            && r.name.len() <= 32
            && r.name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !ok {
            bail!(
                "send.relays[{i}].name must be 1 to 32 letters, digits, '_' or '-' (it names \
                 the relay's credential variables)"
            );
        }
        if relays[..i]
            .iter()
            .any(|o| o.name.eq_ignore_ascii_case(&r.name))
        {
            bail!("send.relays: the name {:?} is used twice", r.name);
        }
        if r.weight == 0 {
            bail!("send.relays[{i}] ({}): weight must be at least 1", r.name);
        }
        if let Some(rate) = r.rate
            && !(rate > 0.0 && rate.is_finite())
        {
            bail!("send.relays[{i}] ({}): rate must be positive", r.name);
        }
    }
    for (i, rule) in rules.iter().enumerate() {
        if let Err(e) = regex::RegexBuilder::new(&rule.pattern)
            .case_insensitive(true)
            .size_limit(1 << 20)
            .build()
        {
            bail!("send.reply_rules[{i}].match is not a valid regular expression: {e}");
        }
        if let Some(d) = &rule.duration {
            parse_duration(d).map_err(|e| anyhow::anyhow!("send.reply_rules[{i}].{e}"))?;
        }
        if let Some(t) = &rule.threshold {
            parse_threshold(t).map_err(|e| anyhow::anyhow!("send.reply_rules[{i}].{e}"))?;
        }
    }
    if !(max_unknown_ratio > 0.0 && max_unknown_ratio <= 1.0) {
        bail!("send.max_unknown_ratio must be above 0 and at most 1 (0.05 is 5 %)");
    }
    if unknown_window == 0 {
        bail!("send.unknown_window must be at least 1");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_and_durations_read_as_people_write_them() {
        assert_eq!(
            parse_threshold("3/min").unwrap(),
            (3, Duration::from_secs(60))
        );
        assert_eq!(
            parse_threshold("2/hour").unwrap(),
            (2, Duration::from_secs(3600))
        );
        assert_eq!(
            parse_threshold("5/10m").unwrap(),
            (5, Duration::from_secs(600))
        );
        assert!(parse_threshold("0/min").is_err());
        assert!(parse_threshold("3").is_err());
        assert_eq!(parse_duration("30m").unwrap(), Duration::from_secs(1800));
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("1d").unwrap(), Duration::from_secs(86_400));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5w").is_err());
    }

    #[test]
    fn bad_pool_settings_are_refused_with_the_key() {
        let relay = |name: &str, weight| RelayEntry {
            name: name.into(),
            url: "smtp://127.0.0.1:25".into(),
            weight,
            rate: None,
            tls_ca_file: None,
            tls_client_cert: None,
            tls_client_key: None,
        };
        let ok = [relay("primary", 3), relay("backup", 1)];
        assert!(validate(&ok, &[], 0.05, 200).is_ok());
        let e = validate(&[relay("a b", 1)], &[], 0.05, 200).unwrap_err();
        assert!(e.to_string().contains("send.relays[0].name"), "{e}");
        let e = validate(&[relay("a", 1), relay("A", 1)], &[], 0.05, 200).unwrap_err();
        assert!(e.to_string().contains("used twice"), "{e}");
        assert!(validate(&[relay("a", 0)], &[], 0.05, 200).is_err());
        let rule = ReplyRuleEntry {
            pattern: "(unclosed".into(),
            action: ReplyAction::Slow,
            duration: None,
            threshold: None,
        };
        let e = validate(&[], &[rule], 0.05, 200).unwrap_err();
        assert!(e.to_string().contains("send.reply_rules[0].match"), "{e}");
        assert!(validate(&[], &[], 0.0, 200).is_err());
        assert!(validate(&[], &[], 0.05, 0).is_err());
    }
}
