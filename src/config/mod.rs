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
mod sections;
mod validate;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Deserialize;

pub use choices::{Charset, Encoding, Fallback, UnknownEncoding};
pub use digests::{Change, compare_pins, digest_of, sha256_hex};
pub use letters::Letters;
pub use sections::{
    Brand, Campaign, Dkim, Field, Hotline, IncidentTexts, Mail, SendSettings, Sender,
};

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
