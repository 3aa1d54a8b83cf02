//! When and how fast each destination may be sent to: destination groups (`[[send.destinations]]`,
//! with `[send.domain_rates]` as shorthand), send windows (`[send.window]`, narrowed per brand by
//! `[brands.<key>.send_window]`) and the daily cap (`send.daily_limit`).
//!
//! [`DestinationGroups::group_of`] is the one place that decides which group a recipient domain
//! belongs to: the scheduler queues by it, and anything that keys by destination (a breaker, a
//! metric) should ask it rather than match domains itself.
//!
//! ```
//! let settings: tsuchi::config::SendSettings = toml::from_str(r#"
//! [[destinations]]
//! name = "docomo"
//! domains = ["docomo.ne.jp"]
//! rate = 5
//! "#).unwrap();
//! let groups = settings.destination_groups();
//! assert_eq!(groups.group_of("mail.docomo.ne.jp"), "docomo");
//! assert_eq!(groups.group_of("example.jp"), tsuchi::config::DEFAULT_GROUP);
//! ```

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use super::SendSettings;

/// The group of every domain no destination names: sent at the global rate only.
pub const DEFAULT_GROUP: &str = "default";

/// Several recipient domains that share one limit (KumoMTA calls them providers).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Destination {
    pub name: String,
    /// Suffix match: `docomo.ne.jp` covers `mail.docomo.ne.jp` too.
    pub domains: Vec<String>,
    /// Messages per second for the whole group.
    pub rate: f64,
    /// Most messages sent back to back before the rate applies (carriers count per second).
    #[serde(default = "one")]
    pub burst: u32,
}

fn one() -> u32 {
    1
}

/// One group as the scheduler uses it; index 0 is always [`DEFAULT_GROUP`].
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub name: String,
    /// `None` for the default group: only the global rate applies.
    pub rate: Option<f64>,
    pub burst: u32,
}

/// The destination groups of a campaign and the domain → group rule.
#[derive(Debug, Clone)]
pub struct DestinationGroups {
    groups: Vec<Group>,
    /// Lowercased domain suffix → index into `groups`.
    domains: BTreeMap<String, usize>,
}

impl DestinationGroups {
    /// All groups, the default first.
    pub fn groups(&self) -> &[Group] {
        &self.groups
    }

    /// The index of `domain`'s group (0: the default group). The longest matching suffix wins,
    /// so `biz.ezweb.ne.jp` may be a group of its own beside `ezweb.ne.jp`.
    pub fn index_of(&self, domain: &str) -> usize {
        if self.domains.is_empty() {
            return 0;
        }
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        let mut candidate = domain.as_str();
        loop {
            if let Some(&g) = self.domains.get(candidate) {
                return g;
            }
            match candidate.split_once('.') {
                Some((_, rest)) => candidate = rest,
                None => return 0,
            }
        }
    }

    /// The name of `domain`'s group: the key for anything counted or limited by destination.
    pub fn group_of(&self, domain: &str) -> &str {
        &self.groups[self.index_of(domain)].name
    }
}

impl SendSettings {
    /// The groups of `[[send.destinations]]`, then one group per `[send.domain_rates]` key
    /// that no destination already names (its name is the domain).
    pub fn destination_groups(&self) -> DestinationGroups {
        let mut groups = vec![Group {
            name: DEFAULT_GROUP.to_string(),
            rate: None,
            burst: 1,
        }];
        let mut domains = BTreeMap::new();
        for d in &self.destinations {
            groups.push(Group {
                name: d.name.clone(),
                rate: Some(d.rate),
                burst: d.burst.max(1),
            });
            for domain in &d.domains {
                domains.entry(normalize(domain)).or_insert(groups.len() - 1);
            }
        }
        for (domain, &rate) in &self.domain_rates {
            let key = normalize(domain);
            if domains.contains_key(&key) {
                continue;
            }
            groups.push(Group {
                name: key.clone(),
                rate: Some(rate),
                burst: 1,
            });
            domains.insert(key, groups.len() - 1);
        }
        DestinationGroups { groups, domains }
    }

    /// The rules of the scheduling settings; the error names the key.
    pub(super) fn validate_schedule(&self) -> Result<()> {
        let mut names = std::collections::BTreeSet::new();
        let mut seen = BTreeMap::new();
        for (i, d) in self.destinations.iter().enumerate() {
            let key = format!("send.destinations[{i}] ({:?})", d.name);
            if d.name.is_empty() || d.name == DEFAULT_GROUP || !names.insert(d.name.as_str()) {
                bail!("{key}: name must be non-empty, unique and not {DEFAULT_GROUP:?}");
            }
            if !(d.rate > 0.0 && d.rate.is_finite()) {
                bail!("{key}: rate must be a positive number of messages per second");
            }
            if d.domains.is_empty() {
                bail!("{key}: domains is empty");
            }
            for domain in &d.domains {
                let n = normalize(domain);
                if n.is_empty() || n.contains('@') || n.contains(char::is_whitespace) {
                    bail!("{key}: {domain:?} is not a domain");
                }
                if let Some(other) = seen.insert(n, d.name.as_str()) {
                    bail!("{key}: {domain:?} is already in destination {other:?}");
                }
            }
        }
        if let Some(w) = &self.window {
            w.parse().context("send.window")?;
        }
        if self.daily_limit == Some(0) {
            bail!("send.daily_limit must be at least 1 (leave it out for no cap)");
        }
        Ok(())
    }
}

fn normalize(domain: &str) -> String {
    domain
        .trim()
        .trim_start_matches('.')
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

/// The hours mail may go out: `[send.window]`, or a brand's `send_window`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SendWindowSettings {
    /// An IANA time zone; the window's hours and days, and the daily cap's day, are in it.
    #[serde(default = "tokyo")]
    pub timezone: String,
    /// `HH:MM-HH:MM`; an end before the start crosses midnight (`22:00-06:00`), `24:00` ends
    /// the day.
    pub hours: String,
    /// `mon-fri`, `mon,wed,fri`, `mon-sun` (the default). A window that crosses midnight
    /// belongs to the day it opens.
    #[serde(default = "every_day")]
    pub days: String,
}

fn tokyo() -> String {
    "Asia/Tokyo".into()
}
fn every_day() -> String {
    "mon-sun".into()
}

/// A parsed send window.
#[derive(Debug, Clone)]
pub struct SendWindow {
    pub tz: jiff::tz::TimeZone,
    /// Minutes after midnight.
    pub start: u32,
    pub end: u32,
    /// Bit `n` set: weekday `n` (Monday 0 … Sunday 6) opens a window.
    pub days: u8,
}

const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

impl SendWindowSettings {
    pub fn parse(&self) -> Result<SendWindow> {
        let tz = jiff::tz::TimeZone::get(&self.timezone)
            .with_context(|| format!("timezone {:?} is not a known time zone", self.timezone))?;
        let (a, b) = self
            .hours
            .split_once('-')
            .with_context(|| format!("hours {:?}: expected HH:MM-HH:MM", self.hours))?;
        let start = minutes(a).with_context(|| format!("hours {:?}", self.hours))?;
        let end = minutes(b).with_context(|| format!("hours {:?}", self.hours))?;
        if start == end || start >= 24 * 60 {
            bail!("hours {:?}: the window is empty", self.hours);
        }
        let mut days = 0u8;
        for part in self.days.split(',') {
            let part = part.trim().to_ascii_lowercase();
            let day = |s: &str| {
                DAY_NAMES
                    .iter()
                    .position(|d| *d == s.trim())
                    .with_context(|| format!("days {:?}: {s:?} is not mon…sun", self.days))
            };
            match part.split_once('-') {
                Some((from, to)) => {
                    let (from, to) = (day(from)?, day(to)?);
                    let mut d = from;
                    loop {
                        days |= 1 << d;
                        if d == to {
                            break;
                        }
                        d = (d + 1) % 7;
                    }
                }
                None => days |= 1 << day(&part)?,
            }
        }
        Ok(SendWindow {
            tz,
            start,
            end,
            days,
        })
    }
}

fn minutes(s: &str) -> Result<u32> {
    let (h, m) = s.trim().split_once(':').context("expected HH:MM")?;
    let (h, m): (u32, u32) = (
        h.parse().context("expected HH:MM")?,
        m.parse().context("expected HH:MM")?,
    );
    if m >= 60 || h > 24 || (h == 24 && m != 0) {
        bail!("{s:?} is not a time of day");
    }
    Ok(h * 60 + m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(text: &str) -> SendSettings {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn destinations_match_by_suffix_and_domain_rates_are_groups_of_their_own() {
        let s = settings(
            r#"
[[destinations]]
name = "au"
domains = ["ezweb.ne.jp", "au.com"]
rate = 5
[[destinations]]
name = "au-biz"
domains = ["biz.ezweb.ne.jp"]
rate = 2
[domain_rates]
"docomo.ne.jp" = 5
"au.com" = 9
"#,
        );
        s.validate_schedule().unwrap();
        let g = s.destination_groups();
        assert_eq!(g.group_of("ezweb.ne.jp"), "au");
        assert_eq!(g.group_of("X.EZWEB.ne.jp."), "au");
        assert_eq!(
            g.group_of("au.com"),
            "au",
            "a destination wins over the shorthand"
        );
        assert_eq!(g.group_of("biz.ezweb.ne.jp"), "au-biz", "longest suffix");
        assert_eq!(g.group_of("mail.docomo.ne.jp"), "docomo.ne.jp");
        assert_eq!(g.group_of("notdocomo.ne.jp"), DEFAULT_GROUP);
        assert_eq!(g.group_of("example.jp"), DEFAULT_GROUP);
        let names: Vec<_> = g.groups().iter().map(|g| g.name.as_str()).collect();
        assert_eq!(names, ["default", "au", "au-biz", "docomo.ne.jp"]);
        assert_eq!(g.groups()[1].rate, Some(5.0));
    }

    #[test]
    fn bad_destinations_are_refused_by_key() {
        for (text, words) in [
            (
                "[[destinations]]\nname = \"a\"\ndomains = []\nrate = 5",
                "domains is empty",
            ),
            (
                "[[destinations]]\nname = \"a\"\ndomains = [\"x.jp\"]\nrate = 0",
                "rate",
            ),
            (
                "[[destinations]]\nname = \"default\"\ndomains = [\"x.jp\"]\nrate = 1",
                "name",
            ),
            (
                "[[destinations]]\nname = \"a\"\ndomains = [\"x.jp\"]\nrate = 1\n\
                 [[destinations]]\nname = \"b\"\ndomains = [\"X.jp\"]\nrate = 1",
                "already in destination \"a\"",
            ),
            ("daily_limit = 0", "daily_limit"),
            ("[window]\nhours = \"09:00-09:00\"", "empty"),
            ("[window]\nhours = \"9-17\"", "HH:MM"),
            (
                "[window]\nhours = \"09:00-17:00\"\ndays = \"mon-fr\"",
                "mon…sun",
            ),
            (
                "[window]\nhours = \"09:00-17:00\"\ntimezone = \"Mars/Olympus\"",
                "time zone",
            ),
        ] {
            let err = format!("{:#}", settings(text).validate_schedule().unwrap_err());
            assert!(err.contains(words), "{text}: {err}");
        }
    }

    #[test]
    fn windows_parse_days_and_hours() {
        let w = SendWindowSettings {
            timezone: tokyo(),
            hours: "22:00-06:30".into(),
            days: "fri-mon, wed".into(),
        }
        .parse()
        .unwrap();
        assert_eq!((w.start, w.end), (22 * 60, 6 * 60 + 30));
        assert_eq!(w.days, 0b111_0101);
        let w = SendWindowSettings {
            timezone: tokyo(),
            hours: "00:00-24:00".into(),
            days: every_day(),
        }
        .parse()
        .unwrap();
        assert_eq!((w.start, w.end, w.days), (0, 1440, 0x7f));
    }
}
