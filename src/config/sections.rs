//! The sections of `config.toml` as they are written: one struct per table, with their defaults.
//! Unknown keys are refused (`deny_unknown_fields`), so a typo is an error naming the key.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::choices::{Charset, Encoding, Fallback};

/// DKIM signing. The private key lives in a file (never in this config); the environment
/// variable `TSUCHI_DKIM_KEY_FILE` overrides `key_file`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Dkim {
    /// Signing domain (d=); normally the sender's domain.
    pub domain: String,
    /// Selector (s=): the key is published at `<selector>._domainkey.<domain>`.
    pub selector: String,
    /// PEM file holding an RSA or Ed25519 private key (relative to the config file).
    #[serde(default)]
    pub key_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Campaign {
    /// Stable identifier; it seeds reference numbers and Message-IDs, so never change it
    /// once a campaign has started.
    pub id: String,
    /// The company's name as it signs the notice.
    pub company: String,
    /// The company's name in English notices (defaults to `company`).
    #[serde(default)]
    pub company_en: Option<String>,
    /// Recipients CSV (relative to the config file).
    pub recipients: PathBuf,
    /// Directory holding `<locale>/subject.tera` and `<locale>/body.tera`.
    #[serde(default = "default_templates")]
    pub templates: PathBuf,
    /// Locale of rows without a `locale` column value.
    #[serde(default = "default_locale")]
    pub default_locale: String,
    /// Encoding of the recipients file: `auto`, `utf-8` or `shift_jis` (CP932).
    #[serde(default)]
    pub encoding: Encoding,
    /// A real send needs a matching approval unless this is false (test campaigns only).
    #[serde(default = "yes")]
    pub require_approval: bool,
    /// Whether `Taro@example.jp` and `taro@example.jp` are two mailboxes (for duplicates and for
    /// matching bounces). Off by default: receivers compare local parts without case, and two
    /// notices to one mailbox look like phishing. The domain is never case-sensitive.
    #[serde(default)]
    pub case_sensitive_local_part: bool,
    /// The earlier campaign this one follows (a second wave, 第2報), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follows: Option<Follows>,
    /// Who of a follow-up campaign gets a notice.
    #[serde(default)]
    pub follow_up: FollowUpSettings,
}

/// The earlier campaign a follow-up compares each person with: its id, its state directory
/// (where its journal is) and the list it sent from (paths relative to this config file).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Follows {
    pub campaign: String,
    pub state_dir: PathBuf,
    pub recipients: PathBuf,
    /// Encoding of the earlier list (defaults to `auto`).
    #[serde(default)]
    pub encoding: Encoding,
}

/// `[campaign.follow_up]`: the classes of people a follow-up mails.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FollowUpSettings {
    /// Any of `new`, `added`, `corrected`, `unchanged`, `not_reached`; the others are
    /// journaled as skipped with the reason.
    #[serde(default = "default_send_to")]
    pub send_to: Vec<String>,
}

impl Default for FollowUpSettings {
    fn default() -> Self {
        FollowUpSettings {
            send_to: default_send_to(),
        }
    }
}

/// Everyone whose situation changed or who was not reached: all but `unchanged`.
fn default_send_to() -> Vec<String> {
    ["new", "added", "corrected", "not_reached"]
        .map(String::from)
        .to_vec()
}

/// `[summary]`: how `report --summary` counts people.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SummarySettings {
    /// What makes two records one person: `email` (default; the address as receivers compare
    /// it) or `id` (the customer id).
    #[serde(default)]
    pub person_key: PersonKey,
}

/// The key that makes records of the list (and of several waves) one person.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum PersonKey {
    /// The e-mail address folded as receivers compare mailboxes (one person under two brands
    /// counts once).
    #[default]
    Email,
    /// The customer id.
    Id,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Sender {
    /// Display name in the From header.
    pub name: String,
    /// Address in the From header; its domain also ends every Message-ID.
    pub address: String,
    /// Envelope sender (MAIL FROM) for bounces; defaults to `address`.
    #[serde(default)]
    pub return_path: Option<String>,
    #[serde(default)]
    pub reply_to: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Mail {
    /// `utf-8` (default) or `iso-2022-jp`.
    #[serde(default)]
    pub charset: Charset,
    /// Display width of body lines, full-width characters counting two.
    #[serde(default = "default_wrap_width")]
    pub wrap_width: usize,
    /// What to do when a message cannot be carried in ISO-2022-JP (a name with 髙 or ①):
    /// `utf-8` sends that one message in UTF-8, `error` refuses the row.
    #[serde(default)]
    pub fallback: Fallback,
    /// With a `return_path`, give every message its own envelope sender
    /// (`bounce+<reference>@domain`) so a bounce names its recipient even when it quotes nothing.
    #[serde(default)]
    pub verp: bool,
}

impl Default for Mail {
    fn default() -> Self {
        Mail {
            charset: Charset::default(),
            wrap_width: default_wrap_width(),
            fallback: Fallback::default(),
            verp: false,
        }
    }
}

/// One entry of the field catalogue: a `leaked_<key>` column and its label in the notice.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Field {
    pub key: String,
    pub label: String,
    #[serde(default)]
    pub label_en: Option<String>,
    /// The list may lack this field's column, which then means "not leaked" for everyone.
    /// Without it a missing column is refused: a column dropped from an export must not quietly
    /// take the field out of every notice. Not part of the notice settings' digest (it changes
    /// no notice text; the list itself is bound to the journal by its own digest), so declaring
    /// it needs no new approval.
    #[serde(default, skip_serializing)]
    pub optional: bool,
}

/// The fixed texts of a notice, per locale.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IncidentTexts {
    /// Subject line.
    pub subject: String,
    /// 概要: what happened.
    pub outline: String,
    /// 原因: the cause.
    pub cause: String,
    /// What was not included (cards, bank accounts, bookings).
    pub not_leaked: String,
    /// Whether there is secondary harm or a risk of it.
    pub secondary_harm: String,
    /// What the company is doing.
    pub measures: String,
    /// How to find more information without a link.
    pub more_info: String,
    /// Passage for people whose passport data leaked.
    pub passport: String,
    /// Passage for people whose passport data did not leak.
    #[serde(default)]
    pub no_passport: String,
}

impl IncidentTexts {
    /// Every text with its key, in the order of the file: the one list that validation, the
    /// no-link lint and the charset mapping go through.
    pub fn named(&self) -> [(&'static str, &String); 9] {
        [
            ("subject", &self.subject),
            ("outline", &self.outline),
            ("cause", &self.cause),
            ("not_leaked", &self.not_leaked),
            ("secondary_harm", &self.secondary_harm),
            ("measures", &self.measures),
            ("more_info", &self.more_info),
            ("passport", &self.passport),
            ("no_passport", &self.no_passport),
        ]
    }

    /// The same texts, each passed through `f`.
    pub fn map(&self, f: impl Fn(&str) -> String) -> IncidentTexts {
        IncidentTexts {
            subject: f(&self.subject),
            outline: f(&self.outline),
            cause: f(&self.cause),
            not_leaked: f(&self.not_leaked),
            secondary_harm: f(&self.secondary_harm),
            measures: f(&self.measures),
            more_info: f(&self.more_info),
            passport: f(&self.passport),
            no_passport: f(&self.no_passport),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Brand {
    /// Name of the service the person registered with.
    pub name: String,
    #[serde(default)]
    pub name_en: Option<String>,
    pub hotline: Hotline,
    /// Narrows `[send.window]` for this brand's recipients (its hotline's hours). Not part
    /// of the notice, so not pinned by an approval.
    #[serde(default, skip_serializing)]
    pub send_window: Option<super::schedule::SendWindowSettings>,
}

/// A brand's hotline. In the file it is either a table or just the number as a string.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Hotline {
    pub number: String,
    pub hours: String,
    pub days: String,
    /// `days` for English notices.
    pub days_en: Option<String>,
}

impl<'de> Deserialize<'de> for Hotline {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Table {
            number: String,
            #[serde(default)]
            hours: String,
            #[serde(default)]
            days: String,
            #[serde(default)]
            days_en: Option<String>,
        }
        /// The string or the table, told apart by what the file holds (not by trying each
        /// form, which would hide the table's own error, such as a misspelled key).
        struct Form;
        impl<'de> serde::de::Visitor<'de> for Form {
            type Value = Hotline;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("the hotline number as a string, or a table with number, hours, days")
            }
            fn visit_str<E: serde::de::Error>(
                self,
                number: &str,
            ) -> std::result::Result<Hotline, E> {
                Ok(Hotline {
                    number: number.to_string(),
                    hours: String::new(),
                    days: String::new(),
                    days_en: None,
                })
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> std::result::Result<Hotline, A::Error> {
                let t = Table::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(Hotline {
                    number: t.number,
                    hours: t.hours,
                    days: t.days,
                    days_en: t.days_en,
                })
            }
        }
        d.deserialize_any(Form)
    }
}

/// How `send` talks to the relay. Command-line flags override each of these.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SendSettings {
    /// Relay URL in lettre's form: `smtp://host:port`, `smtps://…`, `smtp://…?tls=required`.
    #[serde(default = "default_smtp")]
    pub smtp: String,
    /// Messages per second over all workers (0 = unlimited).
    #[serde(default = "default_rate")]
    pub rate: f64,
    /// Most messages sent back to back before the rate applies.
    #[serde(default = "default_burst")]
    pub burst: u32,
    /// Parallel SMTP sessions.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// A session is closed (QUIT) and reopened after this many messages.
    #[serde(default = "default_per_connection")]
    pub messages_per_connection: usize,
    /// Attempts per recipient and run before it is left deferred.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// First retry delay; doubles per attempt, with jitter.
    #[serde(default = "default_retry_base_ms")]
    pub retry_base_ms: u64,
    /// SMTP command timeout.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
    /// Consecutive temporary failures across workers that mean the relay is down.
    #[serde(default = "default_outage_threshold")]
    pub outage_threshold: u32,
    /// How long to probe a relay that is down before stopping as resumable.
    #[serde(default = "default_outage_max_secs")]
    pub outage_max_secs: u64,
    /// Messages per second per recipient domain, on top of the global rate.
    #[serde(default)]
    pub domain_rates: BTreeMap<String, f64>,
    /// Recipient domains that share one limit (see `config::schedule`).
    #[serde(default)]
    pub destinations: Vec<super::schedule::Destination>,
    /// The hours mail may go out; none: any time.
    #[serde(default)]
    pub window: Option<super::schedule::SendWindowSettings>,
    /// Most notices sent per day (in the window's time zone), counted across runs.
    #[serde(default)]
    pub daily_limit: Option<u64>,
    /// Allow credentials or sending over a non-loopback connection without TLS.
    #[serde(default)]
    pub allow_insecure: bool,
    /// The public addresses the relay sends from, for `tsuchi preflight` to check that the
    /// return-path domain's SPF record permits them. Not used for sending.
    #[serde(default)]
    pub relay_ips: Vec<std::net::IpAddr>,
    /// Several relays, traffic split by weight, with failover (see README, "Relay pool").
    /// Empty: the one relay of `smtp`.
    #[serde(default)]
    pub relays: Vec<super::relays::RelayEntry>,
    /// What relays' replies mean, before the built-in table.
    #[serde(default)]
    pub reply_rules: Vec<super::relays::ReplyRuleEntry>,
    /// The error-ratio breaker: a destination stops being sent to when more than this share
    /// of its last `unknown_window` messages went to unknown users.
    #[serde(default = "default_max_unknown_ratio")]
    pub max_unknown_ratio: f64,
    #[serde(default = "default_unknown_window")]
    pub unknown_window: usize,
    /// A PEM bundle of CA certificates trusted for the relay's certificate, on top of the
    /// built-in roots: a company relay's internal CA (relative to the config file).
    #[serde(default)]
    pub tls_ca_file: Option<PathBuf>,
    /// A client certificate (PEM) to present to a relay that asks for one, with its key.
    #[serde(default)]
    pub tls_client_cert: Option<PathBuf>,
    /// The private key (PEM, PKCS#8, PKCS#1 or SEC1) of `tls_client_cert`.
    #[serde(default)]
    pub tls_client_key: Option<PathBuf>,
}

fn default_max_unknown_ratio() -> f64 {
    0.05
}
fn default_unknown_window() -> usize {
    200
}

impl Default for SendSettings {
    fn default() -> Self {
        toml::from_str("").expect("all send settings have defaults")
    }
}

fn default_templates() -> PathBuf {
    PathBuf::from("templates")
}
fn default_locale() -> String {
    "ja".into()
}
fn default_wrap_width() -> usize {
    70
}
fn default_smtp() -> String {
    "smtp://127.0.0.1:25".into()
}
fn default_rate() -> f64 {
    20.0
}
fn default_burst() -> u32 {
    10
}
fn default_concurrency() -> usize {
    4
}
fn default_per_connection() -> usize {
    100
}
fn default_max_attempts() -> u32 {
    5
}
fn default_retry_base_ms() -> u64 {
    1000
}
fn default_timeout_secs() -> u64 {
    30
}
fn default_outage_threshold() -> u32 {
    20
}
fn default_outage_max_secs() -> u64 {
    1800
}
fn yes() -> bool {
    true
}
