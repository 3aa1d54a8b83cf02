//! What a relay's reply means: the reply (code, enhanced status, text, as one line) matched
//! against the operator's `[[send.reply_rules]]` first and then the built-in table, first match
//! wins. A reply no rule names keeps the classification of `send/smtp/classify.rs`: a 5xx
//! fails the recipient, a 4xx defers it, and no reply at all (or a 421, the relay closing the
//! channel) takes the relay out of the pool.
//!
//! The classifier is pure: it names an action; the pool ([`super::pool`]) and the session
//! ([`super::session`]) act on it.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use regex::{Regex, RegexBuilder};

use crate::config::{ReplyAction, ReplyRuleEntry, parse_relay_duration, parse_threshold};
use crate::send::transport::{FailureKind, SendFailure};

/// How long a `pause` lasts when neither the reply nor the rule says.
pub const DEFAULT_PAUSE: Duration = Duration::from_secs(15 * 60);

/// The built-in table: (name, pattern, action, pause). Case-insensitive, on
/// `"<code> <text>"`, where the text starts with the enhanced status when the relay sent one.
/// The names are what `status` shows when a rule fires.
pub const BUILT_IN: &[(&str, &str, ReplyAction, Option<u64>)] = &[
    // AWS SES: over the account's sending rate / the day's quota spent.
    (
        "ses-rate",
        r"^4\d\d .*throttling failure: maximum sending rate exceeded",
        ReplyAction::Slow,
        None,
    ),
    (
        "ses-quota",
        r"^4\d\d .*throttling failure: daily message quota exceeded",
        ReplyAction::Pause,
        Some(3600),
    ),
    // SendGrid: the account's credits are spent.
    (
        "sendgrid-credits",
        r"^4\d\d .*maximum credits exceeded",
        ReplyAction::Pause,
        Some(3600),
    ),
    // A relay or receiver that names when to come back (Postal, many MTAs).
    (
        "retry-in",
        r"^4\d\d .*(try again|retry)( later)? in \d+ ?(seconds?|secs?|s|minutes?|mins?|m|hours?|h)\b",
        ReplyAction::Pause,
        None,
    ),
    // SendGrid `452 … throttled`, rate limits, too many messages or connections (docomo, au,
    // SoftBank and the large receivers say it in these words).
    (
        "rate-limited",
        r"^4\d\d .*(throttl|rate limit|rate-limit|ratelimit|too many (messages|mails|connections|sessions|concurrent)|sending rate|exceeded.*rate|4\.7\.28)",
        ReplyAction::Slow,
        None,
    ),
    // Postfix postscreen / anvil and the carriers: `421 4.7.0 … try again later`.
    (
        "try-later",
        r"^421 4\.7\.0 .*(try again later|try later|temporarily deferred)",
        ReplyAction::Slow,
        None,
    ),
    // The recipient's own temporary problem: greylisting, a full mailbox.
    (
        "greylisted",
        r"^4\d\d .*(greylist|graylist|grey-list|gray-list)",
        ReplyAction::Defer,
        None,
    ),
    (
        "mailbox-full",
        r"^[45]\d\d ([45]\.2\.2 |.*(mailbox (is )?full|over quota|quota exceeded|insufficient storage))",
        ReplyAction::Defer,
        None,
    ),
    // Unknown users: 5.1.1, and the words of Postfix, Exim, docomo (`550 Unknown user`), au
    // (`User unknown`) and SoftBank (`550 Invalid recipient`).
    (
        "unknown-user",
        r"^5\d\d (5\.1\.1 |.*(user unknown|unknown user|no such user|invalid recipient|unknown recipient|recipient unknown|mailbox unavailable|no mailbox|does not exist|address rejected: user))",
        ReplyAction::Fail,
        None,
    ),
    // A policy block: continuing would burn the list against it.
    (
        "policy-block",
        r"^5\d\d (5\.7\.1 |.*(\bblocked\b|blacklist|blocklist|block list|\bspam\b|poor reputation|rejected due to policy))",
        ReplyAction::Stop,
        None,
    ),
];

/// One rule, compiled.
struct Rule {
    name: String,
    pattern: Regex,
    action: ReplyAction,
    pause: Option<Duration>,
    threshold: Option<(u32, Duration)>,
}

/// What a reply means, and which rule said so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub action: Meaning,
    /// The rule that fired (`ses-rate`, `send.reply_rules[0]`); `None` for the fallback.
    pub rule: Option<String>,
}

/// What the session does with a failed transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Meaning {
    /// One of the five actions of the rules; `pause` with how long.
    Act(ReplyAction, Option<Duration>),
    /// Failed for the recipient, and the reason is that the address does not exist (counts
    /// towards the error-ratio breaker).
    UnknownUser,
    /// The relay itself failed (no reply, a 421, a refusal of the session): take it out.
    RelayDown,
}

/// The rules of a run: the operator's, then the built-in table, with the threshold counts.
pub struct ReplyRules {
    rules: Vec<Rule>,
    unknown_user: usize,
    /// Recent matches per (rule, relay), for thresholds.
    hits: Mutex<HashMap<(usize, usize), VecDeque<Instant>>>,
}

fn compile(pattern: &str) -> Result<Regex> {
    RegexBuilder::new(pattern)
        .case_insensitive(true)
        .size_limit(1 << 20)
        .build()
        .with_context(|| format!("reply rule {pattern:?}"))
}

impl ReplyRules {
    pub fn new(user: &[ReplyRuleEntry]) -> Result<ReplyRules> {
        let mut rules = Vec::new();
        for (i, r) in user.iter().enumerate() {
            rules.push(Rule {
                name: format!("send.reply_rules[{i}]"),
                pattern: compile(&r.pattern)?,
                action: r.action,
                pause: r
                    .duration
                    .as_deref()
                    .map(parse_relay_duration)
                    .transpose()?,
                threshold: r.threshold.as_deref().map(parse_threshold).transpose()?,
            });
        }
        let mut unknown_user = 0;
        for &(name, pattern, action, pause) in BUILT_IN {
            if name == "unknown-user" {
                unknown_user = rules.len();
            }
            rules.push(Rule {
                name: name.to_string(),
                pattern: compile(pattern)?,
                action,
                pause: pause.map(Duration::from_secs),
                threshold: None,
            });
        }
        Ok(ReplyRules {
            rules,
            unknown_user,
            hits: Mutex::new(HashMap::new()),
        })
    }

    /// The reply as the rules see it: `454 Throttling failure: …`.
    pub fn line(f: &SendFailure) -> String {
        let text = f.text.replace(['\r', '\n'], " ");
        match (f.code, &f.enhanced) {
            (Some(c), Some(e)) if !text.starts_with(e.as_str()) => format!("{c} {e} {text}"),
            (Some(c), _) => format!("{c} {text}"),
            (None, _) => text,
        }
    }

    /// Classifies a failed transaction on relay number `relay`.
    pub fn classify(&self, relay: usize, f: &SendFailure) -> Verdict {
        self.classify_at(relay, f, Instant::now())
    }

    fn classify_at(&self, relay: usize, f: &SendFailure, now: Instant) -> Verdict {
        // No reply at all: nothing for a rule to read.
        if f.code.is_some() {
            let line = Self::line(f);
            for (i, rule) in self.rules.iter().enumerate() {
                if !rule.pattern.is_match(&line) || !self.over_threshold(i, relay, rule, now) {
                    continue;
                }
                let action = match rule.action {
                    ReplyAction::Fail if self.is_unknown_user(i, &line) => Meaning::UnknownUser,
                    ReplyAction::Pause => Meaning::Act(
                        ReplyAction::Pause,
                        Some(named_wait(&line).or(rule.pause).unwrap_or(DEFAULT_PAUSE)),
                    ),
                    a => Meaning::Act(a, None),
                };
                return Verdict {
                    action,
                    rule: Some(rule.name.clone()),
                };
            }
        }
        let action = match f.kind {
            FailureKind::Relay => Meaning::RelayDown,
            FailureKind::Permanent => Meaning::Act(ReplyAction::Fail, None),
            _ if matches!(f.code, None | Some(421)) => Meaning::RelayDown,
            _ => Meaning::Act(ReplyAction::Defer, None),
        };
        Verdict { action, rule: None }
    }

    /// A user's `fail` rule counts as an unknown user when the built-in rule agrees.
    fn is_unknown_user(&self, rule: usize, line: &str) -> bool {
        rule == self.unknown_user || self.rules[self.unknown_user].pattern.is_match(line)
    }

    fn over_threshold(&self, i: usize, relay: usize, rule: &Rule, now: Instant) -> bool {
        let Some((n, period)) = rule.threshold else {
            return true;
        };
        let mut hits = self.hits.lock().unwrap_or_else(|e| e.into_inner());
        let q = hits.entry((i, relay)).or_default();
        while q.front().is_some_and(|&t| now.duration_since(t) > period) {
            q.pop_front();
        }
        q.push_back(now);
        // At most `n` kept: the count only needs to reach the threshold.
        while q.len() > n as usize {
            q.pop_front();
        }
        q.len() >= n as usize
    }
}

/// The time a reply names: `try again in 90 seconds`, `retry in 5 minutes`.
fn named_wait(line: &str) -> Option<Duration> {
    static RE: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    let re = RE.get_or_init(|| {
        compile(r"(?:try again|retry)(?: later)? in (\d{1,6}) ?(seconds?|secs?|s|minutes?|mins?|m|hours?|h)\b")
            .expect("a valid pattern")
    });
    let c = re.captures(line)?;
    let n: u64 = c[1].parse().ok()?;
    let unit = match c[2].as_bytes()[0].to_ascii_lowercase() {
        b's' => 1,
        b'm' => 60,
        _ => 3600,
    };
    Some(Duration::from_secs(n * unit).min(Duration::from_secs(86_400)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(code: u16, text: &str) -> SendFailure {
        let enhanced = text
            .split_whitespace()
            .next()
            .filter(|w| w.split('.').count() == 3 && w.as_bytes()[0].is_ascii_digit())
            .map(str::to_string);
        SendFailure {
            kind: if code >= 500 {
                FailureKind::Permanent
            } else {
                FailureKind::Temporary
            },
            maybe_delivered: false,
            code: Some(code),
            enhanced,
            text: text.to_string(),
        }
    }

    fn meaning(rules: &ReplyRules, code: u16, text: &str) -> (Meaning, Option<String>) {
        let v = rules.classify(0, &reply(code, text));
        (v.action, v.rule)
    }

    const SLOW: Meaning = Meaning::Act(ReplyAction::Slow, None);
    const DEFER: Meaning = Meaning::Act(ReplyAction::Defer, None);
    const STOP: Meaning = Meaning::Act(ReplyAction::Stop, None);

    /// Replies as the providers and carriers word them.
    #[test]
    fn real_replies_mean_what_they_say() {
        let rules = ReplyRules::new(&[]).unwrap();
        let cases: &[(u16, &str, Meaning, &str)] = &[
            // AWS SES
            (
                454,
                "Throttling failure: Maximum sending rate exceeded.",
                SLOW,
                "ses-rate",
            ),
            (
                454,
                "Throttling failure: Daily message quota exceeded.",
                Meaning::Act(ReplyAction::Pause, Some(Duration::from_secs(3600))),
                "ses-quota",
            ),
            // SendGrid
            (
                451,
                "Authentication failed: Maximum credits exceeded",
                Meaning::Act(ReplyAction::Pause, Some(Duration::from_secs(3600))),
                "sendgrid-credits",
            ),
            (
                452,
                "4.2.1 Recipient has been throttled; try again later",
                SLOW,
                "rate-limited",
            ),
            // Postfix (postscreen, anvil) and carriers
            (
                421,
                "4.7.0 example.jp Error: too many connections from 192.0.2.1",
                SLOW,
                "rate-limited",
            ),
            (
                421,
                "4.7.0 Service temporarily unavailable, try again later",
                SLOW,
                "try-later",
            ),
            (
                450,
                "4.7.1 Too many messages, slow down",
                SLOW,
                "rate-limited",
            ),
            (
                421,
                "4.7.28 Our system has detected an unusual rate of unsolicited mail",
                SLOW,
                "rate-limited",
            ),
            // Postal and others naming the time
            (
                451,
                "4.4.5 Rate limited, retry in 90 seconds",
                Meaning::Act(ReplyAction::Pause, Some(Duration::from_secs(90))),
                "retry-in",
            ),
            // Greylisting and full mailboxes: the recipient's own problem
            (
                450,
                "4.2.0 <x>: Recipient address rejected: Greylisted, see policy",
                DEFER,
                "greylisted",
            ),
            (
                451,
                "4.7.1 Greylisting in action, please come back later",
                DEFER,
                "greylisted",
            ),
            (452, "4.2.2 Mailbox full", DEFER, "mailbox-full"),
            (552, "5.2.2 <x>: user is over quota", DEFER, "mailbox-full"),
            // Unknown users: Postfix, docomo, au, SoftBank
            (
                550,
                "5.1.1 <x>: Recipient address rejected: User unknown in local recipient table",
                Meaning::UnknownUser,
                "unknown-user",
            ),
            (550, "Unknown user", Meaning::UnknownUser, "unknown-user"),
            (
                550,
                "<x>: User unknown",
                Meaning::UnknownUser,
                "unknown-user",
            ),
            (
                550,
                "Invalid recipient: <x>",
                Meaning::UnknownUser,
                "unknown-user",
            ),
            // Policy blocks
            (
                554,
                "5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org",
                STOP,
                "policy-block",
            ),
            (550, "Message rejected as spam", STOP, "policy-block"),
            (554, "5.7.1 <x>: Relay access denied", STOP, "policy-block"),
        ];
        for (code, text, want, rule) in cases {
            assert_eq!(
                meaning(&rules, *code, text),
                (*want, Some(rule.to_string())),
                "{code} {text}"
            );
        }
    }

    #[test]
    fn replies_no_rule_names_keep_the_old_classification() {
        let rules = ReplyRules::new(&[]).unwrap();
        assert_eq!(meaning(&rules, 450, "4.2.1 mailbox busy"), (DEFER, None));
        assert_eq!(
            meaning(&rules, 553, "5.1.3 bad address syntax"),
            (Meaning::Act(ReplyAction::Fail, None), None)
        );
        assert_eq!(
            meaning(&rules, 421, "4.3.2 go away"),
            (Meaning::RelayDown, None)
        );
        let mut refused = reply(535, "5.7.8 authentication failed");
        refused.kind = FailureKind::Relay;
        assert_eq!(rules.classify(0, &refused).action, Meaning::RelayDown);
        let mut no_reply = reply(0, "connect to 127.0.0.1:1: Connection refused");
        no_reply.code = None;
        assert_eq!(rules.classify(0, &no_reply).action, Meaning::RelayDown);
    }

    #[test]
    fn the_operators_rules_come_first_and_thresholds_hold_them_back() {
        let rules = ReplyRules::new(&[
            ReplyRuleEntry {
                pattern: r"^451 .*local problem".into(),
                action: ReplyAction::Pause,
                duration: Some("10m".into()),
                threshold: Some("3/min".into()),
            },
            ReplyRuleEntry {
                pattern: r"^550 .*spam".into(),
                action: ReplyAction::Fail,
                duration: None,
                threshold: None,
            },
        ])
        .unwrap();
        let f = reply(451, "4.3.0 Temporary local problem");
        let t0 = Instant::now();
        // Twice within the minute: still the fallback (defer); the third time the rule acts.
        assert_eq!(rules.classify_at(0, &f, t0).action, DEFER);
        assert_eq!(
            rules
                .classify_at(0, &f, t0 + Duration::from_secs(10))
                .action,
            DEFER
        );
        // On another relay the count is its own.
        assert_eq!(
            rules
                .classify_at(1, &f, t0 + Duration::from_secs(15))
                .action,
            DEFER
        );
        let v = rules.classify_at(0, &f, t0 + Duration::from_secs(20));
        assert_eq!(
            v.action,
            Meaning::Act(ReplyAction::Pause, Some(Duration::from_secs(600)))
        );
        assert_eq!(v.rule.as_deref(), Some("send.reply_rules[0]"));
        // Matches older than the period no longer count.
        assert_eq!(
            rules
                .classify_at(0, &f, t0 + Duration::from_secs(200))
                .action,
            DEFER
        );
        // The operator's rule overrides the built-in policy block.
        assert_eq!(
            meaning(&rules, 550, "Message rejected as spam"),
            (
                Meaning::Act(ReplyAction::Fail, None),
                Some("send.reply_rules[1]".into())
            )
        );
    }

    #[test]
    fn named_waits_are_read_and_capped() {
        assert_eq!(
            named_wait("try again in 5 minutes"),
            Some(Duration::from_secs(300))
        );
        assert_eq!(named_wait("retry in 90s"), Some(Duration::from_secs(90)));
        assert_eq!(
            named_wait("Retry in 2 hours"),
            Some(Duration::from_secs(7200))
        );
        assert_eq!(
            named_wait("try again in 999999 hours"),
            Some(Duration::from_secs(86_400))
        );
        assert_eq!(named_wait("try again later"), None);
    }
}
