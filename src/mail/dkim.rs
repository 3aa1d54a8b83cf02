//! DKIM signing of outgoing notices with lettre's `dkim` feature.
//!
//! One signing path serves both charsets: [`crate::mail::mime::build_iso2022jp_message`] returns a
//! [`lettre::Message`] like the UTF-8 path does. Keys are read from a PEM file: PKCS#1
//! (`BEGIN RSA PRIVATE KEY`) or PKCS#8 (`BEGIN PRIVATE KEY`, RSA or Ed25519, as
//! `openssl genpkey` writes them). Signatures use `relaxed/relaxed` canonicalization, so that
//! relays that re-fold headers or trim trailing blanks do not break them.
//!
//! Key material is never printed: [`DkimSigner`]'s `Debug` shows domain, selector and
//! algorithm only, and errors never quote the key.

use std::{
    env,
    ffi::OsString,
    fmt,
    path::{Path, PathBuf},
};

use anyhow::{Context, bail};
use base64::Engine as _;
use lettre::{
    Message,
    message::{
        dkim::{
            DkimCanonicalization, DkimCanonicalizationType, DkimConfig, DkimSigningAlgorithm,
            DkimSigningKey,
        },
        header::HeaderName,
    },
};

/// Environment variable naming the key file; it overrides the config's key path.
pub const KEY_FILE_ENV: &str = "TSUCHI_DKIM_KEY_FILE";

/// Header fields covered by the signature (a missing one, e.g. `Reply-To`, is signed as absent,
/// so it cannot be added later without breaking the signature).
const SIGNED_HEADERS: &[&str] = &[
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "Reply-To",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
];

/// The DKIM key algorithm of a signer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAlgorithm {
    Rsa,
    Ed25519,
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyAlgorithm::Rsa => "rsa-sha256",
            KeyAlgorithm::Ed25519 => "ed25519-sha256",
        })
    }
}

/// Signs notices for one domain and selector.
pub struct DkimSigner {
    domain: String,
    selector: String,
    algorithm: KeyAlgorithm,
    config: DkimConfig,
}

impl fmt::Debug for DkimSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DkimSigner")
            .field("domain", &self.domain)
            .field("selector", &self.selector)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

/// The key file to use: `TSUCHI_DKIM_KEY_FILE` when set and not empty, else the configured path.
pub fn resolve_key_path(configured: Option<&Path>) -> Option<PathBuf> {
    key_path_from(env::var_os(KEY_FILE_ENV), configured)
}

/// [`resolve_key_path`] with the environment value given (testable without touching the
/// process environment).
pub fn key_path_from(env_value: Option<OsString>, configured: Option<&Path>) -> Option<PathBuf> {
    match env_value {
        Some(v) if !v.is_empty() => Some(PathBuf::from(v)),
        _ => configured.map(Path::to_path_buf),
    }
}

impl DkimSigner {
    /// Reads a PEM private key (RSA PKCS#1 or PKCS#8, Ed25519 PKCS#8) from `key_path`.
    pub fn from_key_file(domain: &str, selector: &str, key_path: &Path) -> anyhow::Result<Self> {
        let pem = std::fs::read_to_string(key_path)
            .with_context(|| format!("cannot read DKIM key file {}", key_path.display()))?;
        Self::from_pem(domain, selector, &pem)
            .with_context(|| format!("DKIM key file {}", key_path.display()))
    }

    /// Like [`DkimSigner::from_key_file`], from the PEM text itself.
    pub fn from_pem(domain: &str, selector: &str, pem: &str) -> anyhow::Result<Self> {
        check_dns_label_list(domain, "domain")?;
        check_dns_label_list(selector, "selector")?;
        let (algorithm, key) = parse_key(pem)?;
        let headers = SIGNED_HEADERS
            .iter()
            .map(|h| HeaderName::new_from_ascii_str(h))
            .collect();
        let config = DkimConfig::new(
            selector.to_owned(),
            domain.to_owned(),
            key,
            headers,
            DkimCanonicalization {
                header: DkimCanonicalizationType::Relaxed,
                body: DkimCanonicalizationType::Relaxed,
            },
        );
        Ok(DkimSigner {
            domain: domain.to_owned(),
            selector: selector.to_owned(),
            algorithm,
            config,
        })
    }

    /// Adds a `DKIM-Signature` header to `message`.
    pub fn sign(&self, message: &mut Message) {
        message.sign(&self.config);
    }

    pub fn domain(&self) -> &str {
        &self.domain
    }

    pub fn selector(&self) -> &str {
        &self.selector
    }

    pub fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }
}

fn check_dns_label_list(value: &str, what: &str) -> anyhow::Result<()> {
    let ok = !value.is_empty()
        && value.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    if !ok {
        bail!("DKIM {what} {value:?} is not a valid DNS name");
    }
    Ok(())
}

const OID_RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];

/// Parses the key PEM into lettre's signing key. Errors never include key bytes.
fn parse_key(pem: &str) -> anyhow::Result<(KeyAlgorithm, DkimSigningKey)> {
    let (label, der) = pem_block(pem)?;
    match label.as_str() {
        "RSA PRIVATE KEY" => Ok((KeyAlgorithm::Rsa, rsa_key_from_pkcs1(&der)?)),
        "PRIVATE KEY" => {
            let (oid, private) = pkcs8_private_key(&der)?;
            if oid == OID_RSA_ENCRYPTION {
                Ok((KeyAlgorithm::Rsa, rsa_key_from_pkcs1(private)?))
            } else if oid == OID_ED25519 {
                // CurvePrivateKey ::= OCTET STRING (the 32-byte seed).
                let (tag, seed, rest) = der_tlv(private)?;
                if tag != 0x04 || seed.len() != 32 || !rest.is_empty() {
                    bail!("malformed Ed25519 private key");
                }
                let b64 = base64::engine::general_purpose::STANDARD.encode(seed);
                let key = DkimSigningKey::new(&b64, DkimSigningAlgorithm::Ed25519)
                    .map_err(|e| anyhow::anyhow!("invalid Ed25519 key: {e}"))?;
                Ok((KeyAlgorithm::Ed25519, key))
            } else {
                bail!("unsupported key algorithm (expected RSA or Ed25519)")
            }
        }
        "ENCRYPTED PRIVATE KEY" => bail!("encrypted private keys are not supported"),
        other => bail!("unsupported PEM block {other:?} (expected a private key)"),
    }
}

fn rsa_key_from_pkcs1(der: &[u8]) -> anyhow::Result<DkimSigningKey> {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN RSA PRIVATE KEY-----\n");
    for line in b64.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        pem.push('\n');
    }
    pem.push_str("-----END RSA PRIVATE KEY-----\n");
    DkimSigningKey::new(&pem, DkimSigningAlgorithm::Rsa)
        .map_err(|e| anyhow::anyhow!("invalid RSA key: {e}"))
}

/// The first PEM block: its label and decoded DER.
fn pem_block(pem: &str) -> anyhow::Result<(String, Vec<u8>)> {
    let mut lines = pem.lines().map(str::trim);
    let label = lines
        .by_ref()
        .find_map(|l| {
            l.strip_prefix("-----BEGIN ")
                .and_then(|r| r.strip_suffix("-----"))
        })
        .context("no PEM private key found")?
        .to_owned();
    let end = format!("-----END {label}-----");
    let mut b64 = String::new();
    let mut ended = false;
    for line in lines {
        if line == end {
            ended = true;
            break;
        }
        if line.contains(':') {
            bail!("PEM headers (encrypted legacy keys) are not supported");
        }
        b64.push_str(line);
    }
    if !ended {
        bail!("PEM block {label:?} is not terminated");
    }
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64.as_bytes())
        .map_err(|_| anyhow::anyhow!("PEM block {label:?} is not valid base64"))?;
    Ok((label, der))
}

/// One DER TLV: (tag, contents, rest).
fn der_tlv(input: &[u8]) -> anyhow::Result<(u8, &[u8], &[u8])> {
    let malformed = || anyhow::anyhow!("malformed DER in private key");
    let (&tag, rest) = input.split_first().ok_or_else(malformed)?;
    let (&first, mut rest) = rest.split_first().ok_or_else(malformed)?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return Err(malformed());
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        rest = &rest[n..];
        len
    };
    if rest.len() < len {
        return Err(malformed());
    }
    Ok((tag, &rest[..len], &rest[len..]))
}

/// PKCS#8 `PrivateKeyInfo` / `OneAsymmetricKey`: (algorithm OID, privateKey octets).
fn pkcs8_private_key(der: &[u8]) -> anyhow::Result<(&[u8], &[u8])> {
    let malformed = || anyhow::anyhow!("malformed PKCS#8 private key");
    let (tag, seq, _) = der_tlv(der)?;
    if tag != 0x30 {
        return Err(malformed());
    }
    let (tag, _version, rest) = der_tlv(seq)?;
    if tag != 0x02 {
        return Err(malformed());
    }
    let (tag, alg, rest) = der_tlv(rest)?;
    if tag != 0x30 {
        return Err(malformed());
    }
    let (tag, oid, _params) = der_tlv(alg)?;
    if tag != 0x06 {
        return Err(malformed());
    }
    let (tag, private, _attrs) = der_tlv(rest)?;
    if tag != 0x04 {
        return Err(malformed());
    }
    Ok((oid, private))
}
