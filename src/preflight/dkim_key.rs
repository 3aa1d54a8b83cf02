//! The DKIM key record at `<selector>._domainkey.<domain>`: is it there, and is its `p=` the
//! public half of the configured private key?
//!
//! The public key is derived from the key file (RSA PKCS#1 or PKCS#8, Ed25519 PKCS#8: the forms
//! [`crate::mail::DkimSigner`] signs with) and compared with the record: for RSA as the key
//! itself (modulus and exponent), so a record holding the SubjectPublicKeyInfo (as RFC 6376 asks)
//! and one holding the bare PKCS#1 key both match; for Ed25519 as the raw 32 bytes of RFC 8463.
//! When the record is missing or wrong, the finding gives the exact record to publish.
//!
//! The private key stays in this module: nothing derived from it but the public key leaves it,
//! and no error quotes the file's contents.

use std::path::Path;

use base64::Engine as _;
use rsa::pkcs1::{DecodeRsaPrivateKey, DecodeRsaPublicKey};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePublicKey};
use rsa::{RsaPrivateKey, RsaPublicKey};

use super::dns::{Answer, Dns};
use super::findings::{Check, Finding, Level};
use crate::config::Dkim;

/// The public half of the configured key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKey {
    Rsa(RsaPublicKey),
    Ed25519([u8; 32]),
}

impl PublicKey {
    /// Derives the public key from a PEM private key; errors never quote the key.
    pub fn from_private_pem(pem: &str) -> Result<PublicKey, String> {
        let label = pem
            .lines()
            .find_map(|l| {
                l.trim()
                    .strip_prefix("-----BEGIN ")
                    .and_then(|r| r.strip_suffix("-----"))
            })
            .ok_or("no PEM private key found")?;
        match label {
            "RSA PRIVATE KEY" => RsaPrivateKey::from_pkcs1_pem(pem)
                .map(|k| PublicKey::Rsa(k.to_public_key()))
                .map_err(|_| "malformed RSA private key".to_string()),
            "PRIVATE KEY" => {
                if let Ok(k) = RsaPrivateKey::from_pkcs8_pem(pem) {
                    return Ok(PublicKey::Rsa(k.to_public_key()));
                }
                ed25519_dalek::SigningKey::from_pkcs8_pem(pem)
                    .map(|k| PublicKey::Ed25519(k.verifying_key().to_bytes()))
                    .map_err(|_| "not an RSA or Ed25519 private key".to_string())
            }
            "ENCRYPTED PRIVATE KEY" => Err("encrypted private keys are not supported".into()),
            other => Err(format!(
                "unsupported PEM block {other:?} (expected a private key)"
            )),
        }
    }

    /// `k=` of the record.
    pub fn kind(&self) -> &'static str {
        match self {
            PublicKey::Rsa(_) => "rsa",
            PublicKey::Ed25519(_) => "ed25519",
        }
    }

    /// `p=` of the record: SubjectPublicKeyInfo for RSA, the raw key for Ed25519, in base64.
    pub fn p(&self) -> String {
        let b64 = base64::engine::general_purpose::STANDARD;
        match self {
            PublicKey::Rsa(k) => b64.encode(
                k.to_public_key_der()
                    .expect("an RSA public key encodes")
                    .as_bytes(),
            ),
            PublicKey::Ed25519(k) => b64.encode(k),
        }
    }

    /// The TXT record value to publish.
    pub fn record(&self) -> String {
        format!("v=DKIM1; k={}; p={}", self.kind(), self.p())
    }

    /// Whether a published `p=` (base64) holds this key.
    fn matches(&self, kind: &str, p: &[u8]) -> bool {
        if !kind.eq_ignore_ascii_case(self.kind()) {
            return false;
        }
        match self {
            PublicKey::Rsa(ours) => RsaPublicKey::from_public_key_der(p)
                .or_else(|_| RsaPublicKey::from_pkcs1_der(p))
                .is_ok_and(|theirs| &theirs == ours),
            PublicKey::Ed25519(ours) => p == ours,
        }
    }
}

/// The tags of a DKIM key record that matter here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    /// `k=` (default rsa).
    pub kind: String,
    /// `p=` decoded; empty when the key is revoked.
    pub p: Vec<u8>,
}

/// Parses a DKIM key record (`v=DKIM1; k=rsa; p=…`); an error says what is wrong.
pub fn parse_record(txt: &str) -> Result<KeyRecord, String> {
    let mut kind = "rsa".to_string();
    let mut p = None;
    for (i, tag) in txt.split(';').map(str::trim).enumerate() {
        if tag.is_empty() {
            continue;
        }
        let Some((key, value)) = tag.split_once('=') else {
            return Err(format!("tag {tag:?} has no value"));
        };
        let (key, value) = (key.trim(), value.trim());
        match key {
            "v" if i != 0 || value != "DKIM1" => {
                return Err("v= must be the first tag and DKIM1".into());
            }
            "k" => kind = value.to_ascii_lowercase(),
            "p" => {
                let compact: String = value.split_whitespace().collect();
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(compact.as_bytes())
                    .map_err(|_| "p= is not valid base64".to_string())?;
                p = Some(bytes);
            }
            _ => {}
        }
    }
    Ok(KeyRecord {
        kind,
        p: p.ok_or("the p= tag (the public key) is missing")?,
    })
}

/// The DKIM finding: `dkim` is the config's `[dkim]`, `key_file` the key file in force
/// (`TSUCHI_DKIM_KEY_FILE` or `dkim.key_file`).
pub async fn finding(
    dns: &Dns,
    dkim: Option<&Dkim>,
    key_file: Option<&Path>,
    from_domain: &str,
) -> Finding {
    let Some(dkim) = dkim else {
        return Finding::new(
            Check::Dkim,
            Level::Warning,
            "[dkim] not configured",
            "tsuchi does not sign the notices: the relay must sign them, with d= aligned to the From domain",
        )
        .publish(format!(
            "a [dkim] section (domain = {from_domain:?}, selector, key_file) and its key record"
        ));
    };
    let name = format!("{}._domainkey.{}", dkim.selector, dkim.domain);
    // The key file is read before DNS, so that a missing record can be answered with the
    // exact record to publish.
    let ours = match key_file {
        None => Err("no key file (dkim.key_file or TSUCHI_DKIM_KEY_FILE)".to_string()),
        Some(path) => read_public_key(path),
    };
    let txts = match dns.txt(&name).await {
        Answer::Found(t) => t,
        Answer::NoRecords => Vec::new(),
        Answer::Failed(e) => {
            return Finding::new(
                Check::Dkim,
                Level::Error,
                &name,
                format!("could not look up TXT {name}: {e}"),
            );
        }
    };
    let publish_ours = |f: Finding| match &ours {
        Ok(k) => f.publish(format!("{name} TXT \"{}\"", k.record())),
        Err(_) => f,
    };
    // Only records that parse as DKIM keys count; other TXT records at the name are ignored.
    let records: Vec<KeyRecord> = txts.iter().filter_map(|t| parse_record(t).ok()).collect();
    let record = match records.as_slice() {
        [] => {
            let detail = if txts.is_empty() {
                format!("no key record at {name}: receivers cannot verify the signatures")
            } else {
                format!("the TXT record at {name} is not a DKIM key record")
            };
            return publish_ours(Finding::new(Check::Dkim, Level::Error, &name, detail));
        }
        [one] => one,
        _ => {
            return publish_ours(Finding::new(
                Check::Dkim,
                Level::Error,
                &name,
                "several key records: receivers may pick any of them",
            ));
        }
    };
    if record.p.is_empty() {
        return publish_ours(Finding::new(
            Check::Dkim,
            Level::Error,
            &name,
            "the key is revoked (empty p=): every signature with this selector fails",
        ));
    }
    match ours {
        Err(e) => Finding::new(
            Check::Dkim,
            Level::Warning,
            &name,
            format!(
                "a k={} key is published, but it cannot be compared with the private key: {e}",
                record.kind
            ),
        ),
        Ok(k) if k.matches(&record.kind, &record.p) => Finding::new(
            Check::Dkim,
            Level::Ok,
            &name,
            format!("k={} key published; it matches the configured private key", record.kind),
        ),
        Ok(k) => Finding::new(
            Check::Dkim,
            Level::Error,
            &name,
            format!(
                "the published k={} key is not the public half of the configured {} private key: every signature fails",
                record.kind,
                k.kind()
            ),
        )
        .publish(format!("{name} TXT \"{}\"", k.record())),
    }
}

fn read_public_key(path: &Path) -> Result<PublicKey, String> {
    // A PEM key is a few kilobytes; reading is bounded so a wrong path cannot fill memory.
    const MAX_KEY_FILE: u64 = 64 * 1024;
    let meta = std::fs::metadata(path)
        .map_err(|e| format!("cannot read the key file {}: {e}", path.display()))?;
    if meta.len() > MAX_KEY_FILE {
        return Err(format!(
            "the key file {} is larger than 64 KiB: not a PEM key",
            path.display()
        ));
    }
    let pem = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the key file {}: {e}", path.display()))?;
    PublicKey::from_private_pem(&pem).map_err(|e| format!("key file {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/data/dkim")
                .join(name),
        )
        .unwrap()
    }

    #[test]
    fn the_derived_records_are_the_published_fixtures() {
        for (pem, txt) in [
            ("test-rsa-pkcs8.pem", "test-rsa.txt"),
            ("test-rsa-pkcs1.pem", "test-rsa.txt"),
            ("test-ed25519.pem", "test-ed25519.txt"),
        ] {
            let key = PublicKey::from_private_pem(&fixture(pem)).unwrap();
            assert_eq!(key.record(), fixture(txt).trim(), "{pem}");
            let published = parse_record(fixture(txt).trim()).unwrap();
            assert!(key.matches(&published.kind, &published.p), "{pem}");
        }
    }

    #[test]
    fn another_key_or_another_kind_does_not_match() {
        let rsa = PublicKey::from_private_pem(&fixture("test-rsa-pkcs8.pem")).unwrap();
        let ed = PublicKey::from_private_pem(&fixture("test-ed25519.pem")).unwrap();
        let ed_record = parse_record(fixture("test-ed25519.txt").trim()).unwrap();
        let rsa_record = parse_record(fixture("test-rsa.txt").trim()).unwrap();
        assert!(!rsa.matches(&ed_record.kind, &ed_record.p));
        assert!(!ed.matches(&rsa_record.kind, &rsa_record.p));
        // The right bytes under the wrong k= are not the key either.
        assert!(!ed.matches("rsa", &ed_record.p));
    }

    #[test]
    fn an_rsa_record_holding_the_bare_pkcs1_key_matches_too() {
        use rsa::pkcs1::EncodeRsaPublicKey;
        let PublicKey::Rsa(k) =
            PublicKey::from_private_pem(&fixture("test-rsa-pkcs1.pem")).unwrap()
        else {
            panic!("an RSA key")
        };
        let der = k.to_pkcs1_der().unwrap();
        assert!(PublicKey::Rsa(k).matches("rsa", der.as_bytes()));
    }

    #[test]
    fn records_parse_with_defaults_and_revocation() {
        let r = parse_record("v=DKIM1; p=").unwrap();
        assert_eq!(r.kind, "rsa");
        assert!(r.p.is_empty());
        assert!(parse_record("v=DKIM1; k=rsa").is_err());
        assert!(parse_record("k=rsa; v=DKIM1; p=").is_err());
        assert!(parse_record("v=DKIM1; p=***").is_err());
    }

    #[test]
    fn key_errors_never_quote_the_key() {
        let pem = fixture("test-rsa-pkcs1.pem");
        // Damage the key's body: the error must not echo any of it.
        let broken = pem.replacen("MII", "MIX", 1);
        let err = PublicKey::from_private_pem(&broken).unwrap_err();
        for line in pem.lines().filter(|l| !l.starts_with("-----")) {
            assert!(!err.contains(line.trim()), "{err}");
        }
    }
}
