//! The digests that pin a configuration: per notice-relevant key for approvals (so a change is
//! named by its key), and one over them for the journal header.

use std::collections::BTreeMap;

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
