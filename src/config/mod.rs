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
mod digests;
mod letters;
mod relays;
mod schedule;
mod sections;
mod validate;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Deserialize;

pub use choices::{Charset, Encoding, Fallback, UnknownEncoding};
pub use digests::{Change, compare_pins, digest_of, sha256_hex};
pub use letters::Letters;
pub use relays::{
    RelayEntry, ReplyAction, ReplyRuleEntry, parse_duration as parse_relay_duration,
    parse_threshold,
};
pub use schedule::{
    DEFAULT_GROUP, Destination, DestinationGroups, Group, SendWindow, SendWindowSettings,
};
pub use sections::{
    Brand, Campaign, Dkim, Field, FollowUpSettings, Follows, Hotline, IncidentTexts, Mail,
    PersonKey, SendSettings, Sender, SummarySettings,
};

/// The classes of a follow-up campaign, as `campaign.follow_up.send_to` names them.
pub const FOLLOW_UP_KINDS: [&str; 5] = ["new", "added", "corrected", "unchanged", "not_reached"];

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
    pub summary: SummarySettings,
    /// `[letters]`: postal columns, font and return block for `tsuchi letters`.
    pub letters: Option<Letters>,
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
    #[serde(default)]
    summary: SummarySettings,
    letters: Option<Letters>,
}

/// A TOML error as `config.toml: line L, column C: message`. The offending line is never
/// quoted (it may hold a password, as in an unterminated `smtp = "smtp://u:PW@…`), and the
/// message goes through [`crate::util::redact::redact`].
fn parse_error(path: &Path, text: &str, e: &toml::de::Error) -> anyhow::Error {
    let message = crate::util::redact::redact(e.message().trim_end());
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
        if let Some(follows) = &mut campaign.follows {
            follows.state_dir = base.join(&follows.state_dir);
            follows.recipients = base.join(&follows.recipients);
        }
        let config = Config {
            path: path.to_path_buf(),
            file_digest: sha256_hex(&bytes),
            campaign,
            sender: file.sender,
            mail: file.mail,
            fields: file.fields,
            incident: file.incident,
            brands: file.brands,
            send: {
                let mut send = file.send;
                for path in [
                    &mut send.tls_ca_file,
                    &mut send.tls_client_cert,
                    &mut send.tls_client_key,
                ] {
                    *path = path.take().map(|p| base.join(p));
                }
                for relay in &mut send.relays {
                    for path in [
                        &mut relay.tls_ca_file,
                        &mut relay.tls_client_cert,
                        &mut relay.tls_client_key,
                    ] {
                        *path = path.take().map(|p| base.join(p));
                    }
                }
                send
            },
            dkim: file.dkim.map(|mut d| {
                d.key_file = d.key_file.map(|k| base.join(k));
                d
            }),
            summary: file.summary,
            letters: file.letters.map(|mut l| {
                l.font = base.join(&l.font);
                l
            }),
        };
        config
            .validate()
            .with_context(|| format!("{}: invalid configuration", path.display()))?;
        Ok(config)
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
    fn tls_files_resolve_relative_to_the_file_and_a_client_cert_needs_its_key() {
        let d = tempfile::tempdir().unwrap();
        let sample =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml"))
                .unwrap();
        assert!(sample.contains("allow_insecure = false\n"));
        let with = |extra: &str| {
            sample.replace(
                "allow_insecure = false\n",
                &format!("allow_insecure = false\n{extra}\n"),
            )
        };
        let c = Config::load(&write(d.path(), &with("tls_ca_file = \"pki/ca.pem\""))).unwrap();
        assert_eq!(c.send.tls_ca_file, Some(d.path().join("pki/ca.pem")));
        let e =
            Config::load(&write(d.path(), &with("tls_client_cert = \"client.pem\""))).unwrap_err();
        assert!(format!("{e:#}").contains("send.tls_client_key"), "{e:#}");
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

    #[test]
    fn a_follow_up_resolves_its_paths_and_checks_its_classes() {
        let d = tempfile::tempdir().unwrap();
        let sample =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml"))
                .unwrap();
        let follows = "case_sensitive_local_part = false\nfollows = { campaign = \"kaede-2026-11\", \
             state_dir = \"../wave1/state\", recipients = \"../wave1/list.csv\" }\n";
        let text = sample
            .replace("id = \"kaede-2026-11\"", "id = \"kaede-2026-12\"")
            .replace("case_sensitive_local_part = false\n", follows);
        let c = Config::load(&write(d.path(), &text)).unwrap();
        let f = c.campaign.follows.as_ref().unwrap();
        assert_eq!(f.state_dir, d.path().join("../wave1/state"));
        assert_eq!(f.recipients, d.path().join("../wave1/list.csv"));
        assert_eq!(
            c.campaign.follow_up.send_to,
            ["new", "added", "corrected", "not_reached"],
            "all but unchanged by default"
        );
        assert_eq!(c.summary.person_key, PersonKey::Email);

        let own_id = text.replace("id = \"kaede-2026-12\"", "id = \"kaede-2026-11\"");
        let err = format!("{:#}", Config::load(&write(d.path(), &own_id)).unwrap_err());
        assert!(err.contains("campaign.follows.campaign"), "{err}");

        let typo = text.replace(
            "\n[sender]",
            "\n[campaign.follow_up]\nsend_to = [\"new\", \"changed\"]\n\n[sender]",
        );
        let err = format!("{:#}", Config::load(&write(d.path(), &typo)).unwrap_err());
        assert!(
            err.contains("campaign.follow_up.send_to") && err.contains("\"changed\""),
            "{err}"
        );
    }
}
