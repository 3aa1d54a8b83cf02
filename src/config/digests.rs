//! The digests that pin a configuration: per notice-relevant key for approvals (so a change is
//! named by its key), and one over them for the journal header.

use std::collections::BTreeMap;

use std::fmt;

use sha2::{Digest, Sha256};

use super::Config;

impl Config {
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

/// One difference between two pins of the notice (an approval or a journal against what is in
/// force), named by template file or config key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    TemplateChanged(String),
    /// A template file that exists now but was not approved.
    TemplateAdded(String),
    /// An approved template file that is gone.
    TemplateRemoved(String),
    SettingChanged(String),
    SettingAdded(String),
    SettingRemoved(String),
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::TemplateChanged(k) => write!(f, "template {k} changed"),
            Change::TemplateAdded(k) => write!(f, "template {k} added"),
            Change::TemplateRemoved(k) => write!(f, "template {k} removed"),
            Change::SettingChanged(k) => write!(f, "config key {k} changed"),
            Change::SettingAdded(k) => write!(f, "config key {k} added"),
            Change::SettingRemoved(k) => write!(f, "config key {k} removed"),
        }
    }
}

/// What differs between two pins of the notice — template file digests and notice-setting
/// digests, as an approval or a journal header records them: templates first, then settings,
/// each in key order.
pub fn compare_pins(
    (old_templates, old_settings): (&BTreeMap<String, String>, &BTreeMap<String, String>),
    (new_templates, new_settings): (&BTreeMap<String, String>, &BTreeMap<String, String>),
) -> Vec<Change> {
    let mut out = Vec::new();
    diff(
        old_templates,
        new_templates,
        &mut out,
        Change::TemplateChanged,
        Change::TemplateAdded,
        Change::TemplateRemoved,
    );
    diff(
        old_settings,
        new_settings,
        &mut out,
        Change::SettingChanged,
        Change::SettingAdded,
        Change::SettingRemoved,
    );
    out
}

fn diff(
    approved: &BTreeMap<String, String>,
    now: &BTreeMap<String, String>,
    out: &mut Vec<Change>,
    changed: fn(String) -> Change,
    added: fn(String) -> Change,
    removed: fn(String) -> Change,
) {
    let keys: std::collections::BTreeSet<&String> = approved.keys().chain(now.keys()).collect();
    for key in keys {
        match (approved.get(key), now.get(key)) {
            (Some(a), Some(n)) if a != n => out.push(changed(key.clone())),
            (None, Some(_)) => out.push(added(key.clone())),
            (Some(_), None) => out.push(removed(key.clone())),
            _ => {}
        }
    }
}
