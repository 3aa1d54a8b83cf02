//! The campaign configuration: loading `config.toml`, validating it, and the digests that bind a
//! journal or an approval to the exact settings in force.
//!
//! Paths inside the file resolve relative to the file itself, so a campaign directory can be
//! moved or run from anywhere. Errors name the file, the key and the line (the `toml` crate
//! reports the span of the offending key).
//!
//! ```no_run
//! let config = tsuchi::config::Config::load("config.toml".as_ref()).unwrap();
//! assert!(!config.brands.is_empty());
//! ```

mod choices;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use choices::{Charset, Encoding, Fallback, UnknownEncoding};

/// A loaded and validated campaign configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file this configuration was read from.
    pub path: PathBuf,
    /// SHA-256 of the file's bytes.
    pub file_digest: String,
    pub campaign: Campaign,
    pub sender: Sender,
    pub mail: Mail,
    pub fields: Vec<Field>,
    pub incident: BTreeMap<String, IncidentTexts>,
    pub brands: BTreeMap<String, Brand>,
    pub send: SendSettings,
    pub dkim: Option<Dkim>,
}

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
    /// Allow credentials or sending over a non-loopback connection without TLS.
    #[serde(default)]
    pub allow_insecure: bool,
    /// The public addresses the relay sends from, for `tsuchi preflight` to check that the
    /// return-path domain's SPF record permits them. Not used for sending.
    #[serde(default)]
    pub relay_ips: Vec<std::net::IpAddr>,
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    campaign: Campaign,
    sender: Sender,
    #[serde(default)]
    mail: Mail,
    fields: Vec<Field>,
    incident: BTreeMap<String, IncidentTexts>,
    brands: BTreeMap<String, Brand>,
    #[serde(default)]
    send: SendSettings,
    #[serde(default)]
    dkim: Option<Dkim>,
}

/// A TOML error as `config.toml: line L, column C: message`. The offending line is never
/// quoted (it may hold a password, as in an unterminated `smtp = "smtp://u:PW@…`), and the
/// message goes through [`crate::send::smtp::redact`].
fn parse_error(path: &Path, text: &str, e: &toml::de::Error) -> anyhow::Error {
    let message = crate::send::smtp::redact(e.message().trim_end());
    match e.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
            anyhow::anyhow!(
                "{}: line {line}, column {column}: {message}",
                path.display()
            )
        }
        None => anyhow::anyhow!("{}: {message}", path.display()),
    }
}

impl Config {
    /// Reads, parses and validates a configuration file.
    pub fn load(path: &Path) -> Result<Config> {
        let bytes = std::fs::read(path)
            .with_context(|| format!("cannot read config {}", path.display()))?;
        let text = std::str::from_utf8(&bytes)
            .with_context(|| format!("{}: config is not UTF-8", path.display()))?;
        let file: File = toml::from_str(text).map_err(|e| parse_error(path, text, &e))?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut campaign = file.campaign;
        campaign.recipients = base.join(&campaign.recipients);
        campaign.templates = base.join(&campaign.templates);
        let config = Config {
            path: path.to_path_buf(),
            file_digest: sha256_hex(&bytes),
            campaign,
            sender: file.sender,
            mail: file.mail,
            fields: file.fields,
            incident: file.incident,
            brands: file.brands,
            send: file.send,
            dkim: file.dkim.map(|mut d| {
                d.key_file = d.key_file.map(|k| base.join(k));
                d
            }),
        };
        config
            .validate()
            .with_context(|| format!("{}: invalid configuration", path.display()))?;
        Ok(config)
    }

    fn validate(&self) -> Result<()> {
        let id = &self.campaign.id;
        if id.is_empty()
            || id.len() > 64
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c))
        {
            bail!("campaign.id {id:?} must be 1-64 ASCII letters, digits, '-' or '_'");
        }
        for (key, value) in [
            ("sender.address", Some(&self.sender.address)),
            ("sender.return_path", self.sender.return_path.as_ref()),
            ("sender.reply_to", self.sender.reply_to.as_ref()),
        ] {
            if let Some(v) = value {
                v.parse::<lettre::Address>()
                    .map_err(|e| anyhow::anyhow!("{key} {v:?} is not an e-mail address: {e}"))?;
            }
        }
        if self.mail.verp && self.sender.return_path.is_none() {
            bail!("mail.verp needs sender.return_path (the bounce address to extend)");
        }
        if !(20..=200).contains(&self.mail.wrap_width) {
            bail!("mail.wrap_width must be between 20 and 200 display columns");
        }
        if self.fields.is_empty() {
            bail!("fields: the field catalogue is empty");
        }
        if self.fields.len() > 64 {
            bail!("fields: at most 64 fields are supported");
        }
        let mut seen = std::collections::HashSet::new();
        for (i, f) in self.fields.iter().enumerate() {
            if f.key.is_empty()
                || !f
                    .key
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            {
                bail!(
                    "fields[{i}].key {:?} must be lowercase ASCII letters, digits and '_'",
                    f.key
                );
            }
            if !seen.insert(&f.key) {
                bail!("fields[{i}].key {:?} appears twice", f.key);
            }
            if f.label.trim().is_empty() {
                bail!("fields[{i}].label is empty");
            }
        }
        if self.brands.is_empty() {
            bail!("brands: at least one brand is needed");
        }
        for (key, b) in &self.brands {
            if b.name.trim().is_empty() {
                bail!("brands.{key}.name is empty");
            }
            if b.hotline.number.trim().is_empty() {
                bail!("brands.{key}.hotline.number is empty");
            }
        }
        if !self.incident.contains_key(&self.campaign.default_locale) {
            bail!(
                "incident.{}: no incident texts for the default locale",
                self.campaign.default_locale
            );
        }
        for (locale, texts) in &self.incident {
            // Only the passage for people without passport data may be left out.
            for (name, value) in texts.named() {
                if name != "no_passport" && value.trim().is_empty() {
                    bail!("incident.{locale}.{name} is empty");
                }
            }
        }
        let s = &self.send;
        if s.concurrency == 0 || s.concurrency > 256 {
            bail!("send.concurrency must be between 1 and 256");
        }
        if s.rate < 0.0 || !s.rate.is_finite() {
            bail!("send.rate must be zero (unlimited) or positive");
        }
        if s.burst == 0 {
            bail!("send.burst must be at least 1");
        }
        if s.messages_per_connection == 0 {
            bail!("send.messages_per_connection must be at least 1");
        }
        if s.max_attempts == 0 {
            bail!("send.max_attempts must be at least 1");
        }
        for (domain, rate) in &s.domain_rates {
            if !(*rate > 0.0 && rate.is_finite()) {
                bail!("send.domain_rates.\"{domain}\" must be a positive rate");
            }
        }
        Ok(())
    }

    /// The domain of the sender address, used for Message-IDs.
    pub fn sender_domain(&self) -> &str {
        self.sender
            .address
            .rsplit_once('@')
            .map(|(_, d)| d)
            .unwrap_or("localhost")
    }

    /// The index of a field key in the catalogue.
    pub fn field_index(&self, key: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.key == key)
    }

    /// Digests of every setting that changes the text of a notice, keyed by config key
    /// (`sender`, `mail`, `fields`, `incident.ja`, `brands.kaede`, …). An approval pins these;
    /// comparing two maps names exactly which key changed.
    pub fn notice_digests(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let mut put = |key: String, value: &dyn erased::Json| {
            out.insert(key, sha256_hex(value.json().as_bytes()));
        };
        put("campaign.company".into(), &self.campaign.company);
        put("campaign.company_en".into(), &self.campaign.company_en);
        put(
            "campaign.default_locale".into(),
            &self.campaign.default_locale,
        );
        put("sender".into(), &self.sender);
        put("mail".into(), &self.mail);
        put("fields".into(), &self.fields);
        for (locale, texts) in &self.incident {
            put(format!("incident.{locale}"), texts);
        }
        for (key, brand) in &self.brands {
            put(format!("brands.{key}"), brand);
        }
        out
    }
}

mod erased {
    /// Object-safe JSON serialization, so differently typed settings share one digest helper.
    pub trait Json {
        fn json(&self) -> String;
    }
    impl<T: serde::Serialize> Json for T {
        fn json(&self) -> String {
            serde_json::to_string(self).expect("settings serialize to JSON")
        }
    }
}

/// One digest over a map of digests (`key=digest` lines in key order): the templates' for the
/// journal header, the notice settings' for the journal header and approvals.
pub fn digest_of(digests: &BTreeMap<String, String>) -> String {
    let joined: String = digests.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    sha256_hex(joined.as_bytes())
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, text: &str) -> PathBuf {
        let p = dir.join("config.toml");
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn sample_config_loads_and_resolves_paths_relative_to_the_file() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml");
        let c = Config::load(&path).unwrap();
        assert_eq!(c.brands.len(), 3);
        assert!(
            c.campaign
                .recipients
                .starts_with(env!("CARGO_MANIFEST_DIR"))
        );
        assert_eq!(c.fields[0].key, "name");
    }

    #[test]
    fn hotline_may_be_a_plain_string() {
        let d = tempfile::tempdir().unwrap();
        let sample =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml"))
                .unwrap();
        let text = sample.replace("[brands.kaede.hotline]", "[brands.kaede.hotline_unused]");
        // Replace the table by a string form.
        let text = text.replace(
            "[brands.kaede]\n",
            "[brands.kaede]\nhotline = \"0120-000-000\"\n",
        );
        let text = strip_table(&text, "[brands.kaede.hotline_unused]");
        let c = Config::load(&write(d.path(), &text)).unwrap();
        assert_eq!(c.brands["kaede"].hotline.number, "0120-000-000");
        assert_eq!(c.brands["kaede"].hotline.hours, "");
    }

    fn strip_table(text: &str, header: &str) -> String {
        let mut out = String::new();
        let mut skipping = false;
        for line in text.lines() {
            if line.trim() == header {
                skipping = true;
                continue;
            }
            if skipping && line.starts_with('[') {
                skipping = false;
            }
            if !skipping {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }

    #[test]
    fn errors_name_the_key_and_line() {
        let d = tempfile::tempdir().unwrap();
        let p = write(d.path(), "[campaign]\nid = \"x\"\ncompany = 3\n");
        let err = format!("{:#}", Config::load(&p).unwrap_err());
        assert!(err.contains("line 3"), "{err}");
        assert!(err.contains("config.toml"), "{err}");
    }

    #[test]
    fn notice_digests_change_with_a_hotline() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml");
        let mut c = Config::load(&path).unwrap();
        let before = c.notice_digests();
        c.brands.get_mut("kaede").unwrap().hotline.hours = "10:00〜17:00".into();
        let after = c.notice_digests();
        let changed: Vec<_> = before
            .keys()
            .filter(|k| before[*k] != after[*k])
            .cloned()
            .collect();
        assert_eq!(changed, vec!["brands.kaede".to_string()]);
    }
}
