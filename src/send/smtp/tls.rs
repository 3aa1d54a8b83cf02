//! TLS to the relay as a company relay needs it: the built-in roots (Mozilla's, as lettre ships
//! them) plus the company's own CA bundle (`send.tls_ca_file`), an optional client
//! certificate, TLS 1.2 at least, and the relay's name always verified — there is no setting
//! to turn verification off. When a certificate does not verify, [`certificate_problem`] says
//! why in words an operator can act on (unknown issuer, wrong name, expired).
//!
//! The settings are one value ([`TlsSettings`]) that a relay carries, so that several relays
//! can each have their own.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use lettre::transport::smtp::client::{Certificate, Identity, TlsParameters, TlsVersion};

/// The most a CA bundle, certificate or key file may hold. A system bundle of every public
/// root is about 200 KiB; anything much larger is not a PEM file we should trust.
const MAX_PEM_BYTES: u64 = 4 * 1024 * 1024;

/// The TLS settings of one relay, read and checked once at start.
#[derive(Clone, Default)]
pub struct TlsSettings {
    /// The company's CA certificates, trusted on top of the built-in roots.
    roots: Vec<Certificate>,
    /// Where they came from, for messages.
    ca_file: Option<PathBuf>,
    /// The client certificate and key, when the relay asks for one.
    identity: Option<Identity>,
}

impl std::fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("TlsSettings")
            .field("ca_file", &self.ca_file)
            .field("ca_certificates", &self.roots.len())
            .field("client_certificate", &self.identity.is_some())
            .finish()
    }
}

impl TlsSettings {
    /// Reads the CA bundle and the client certificate and key. Every file is bounded and must
    /// hold what its setting says; errors name the file and the setting, never a key's bytes.
    pub fn load(
        ca_file: Option<&Path>,
        client_cert: Option<&Path>,
        client_key: Option<&Path>,
    ) -> Result<TlsSettings> {
        let mut settings = TlsSettings::default();
        if let Some(path) = ca_file {
            let pem = read_pem(path, "send.tls_ca_file")?;
            let certs = certificates(&pem)
                .with_context(|| format!("send.tls_ca_file {}", path.display()))?;
            for der in certs {
                let cert = Certificate::from_der(der)
                    .map_err(|e| anyhow::anyhow!("send.tls_ca_file {}: {e}", path.display()))?;
                settings.roots.push(cert);
            }
            settings.ca_file = Some(path.to_path_buf());
        }
        match (client_cert, client_key) {
            (None, None) => {}
            (Some(cert_path), Some(key_path)) => {
                let pem = read_pem(cert_path, "send.tls_client_cert")?;
                let mut certs = certificates(&pem)
                    .with_context(|| format!("send.tls_client_cert {}", cert_path.display()))?;
                let key = read_pem(key_path, "send.tls_client_key")?;
                // lettre's rustls identity takes the certificate as DER (despite its name):
                // the PEM is decoded here, and only the leaf is presented.
                let leaf = certs.swap_remove(0);
                let identity = Identity::from_pem(&leaf, &key).map_err(|_| {
                    anyhow::anyhow!(
                        "send.tls_client_key {}: no usable private key (PEM: PKCS#8, PKCS#1 or SEC1)",
                        key_path.display()
                    )
                })?;
                settings.identity = Some(identity);
            }
            _ => bail!("send.tls_client_cert and send.tls_client_key go together"),
        }
        Ok(settings)
    }

    /// lettre's parameters for a connection to `host`: TLS 1.2 or later, the name verified.
    pub(super) fn parameters(
        &self,
        host: &str,
    ) -> Result<TlsParameters, lettre::transport::smtp::Error> {
        let mut builder =
            TlsParameters::builder(host.to_string()).set_min_tls_version(TlsVersion::Tlsv12);
        for root in &self.roots {
            builder = builder.add_root_certificate(root.clone());
        }
        if let Some(identity) = &self.identity {
            builder = builder.identify_with(identity.clone());
        }
        builder.build_rustls()
    }

    /// What to tell an operator whose relay's certificate was refused.
    pub(super) fn hint(&self, problem: &CertificateProblem) -> &'static str {
        match (problem, &self.ca_file) {
            (CertificateProblem::UnknownIssuer, None) => {
                "; if the relay uses a company CA, set send.tls_ca_file to its PEM bundle"
            }
            (CertificateProblem::UnknownIssuer, Some(_)) => {
                "; neither the built-in roots nor send.tls_ca_file signed it"
            }
            (CertificateProblem::WrongName, _) => {
                "; the relay URL must name the host its certificate was issued for"
            }
            _ => "",
        }
    }
}

/// Reads a PEM file, bounded.
fn read_pem(path: &Path, setting: &str) -> Result<Vec<u8>> {
    let file = std::fs::File::open(path)
        .with_context(|| format!("{setting}: cannot open {}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(MAX_PEM_BYTES + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("{setting}: cannot read {}", path.display()))?;
    if bytes.len() as u64 > MAX_PEM_BYTES {
        bail!(
            "{setting} {}: larger than {} MiB; not a PEM file",
            path.display(),
            MAX_PEM_BYTES / (1024 * 1024)
        );
    }
    Ok(bytes)
}

/// The certificates of a PEM file, DER-encoded; at least one.
fn certificates(pem: &[u8]) -> Result<Vec<Vec<u8>>> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let certs = CertificateDer::pem_slice_iter(pem)
        .map(|c| c.map(|c| c.to_vec()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| anyhow::anyhow!("not a valid PEM certificate file"))?;
    if certs.is_empty() {
        bail!("no certificate (-----BEGIN CERTIFICATE-----) in the file");
    }
    Ok(certs)
}

/// Why a relay's certificate was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertificateProblem {
    /// Not signed by any CA we trust.
    UnknownIssuer,
    /// Issued for another name than the relay's host.
    WrongName,
    /// Past its expiry date.
    Expired,
    /// Not valid yet (or this machine's clock is wrong).
    NotYetValid,
    /// Revoked by its CA.
    Revoked,
    /// The relay refused the certificate we presented, or wants one and we have none.
    ClientCertificateRefused,
    /// Anything else the verifier said.
    Other(String),
}

impl std::fmt::Display for CertificateProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CertificateProblem::UnknownIssuer => {
                f.write_str("unknown issuer (not signed by a trusted CA)")
            }
            CertificateProblem::WrongName => {
                f.write_str("wrong name (the certificate is not for this host)")
            }
            CertificateProblem::Expired => f.write_str("expired"),
            CertificateProblem::NotYetValid => {
                f.write_str("not valid yet (check this machine's clock)")
            }
            CertificateProblem::Revoked => f.write_str("revoked"),
            CertificateProblem::ClientCertificateRefused => {
                f.write_str("the relay wants a client certificate it trusts (send.tls_client_cert)")
            }
            CertificateProblem::Other(s) => f.write_str(s),
        }
    }
}

/// The certificate problem behind a failed handshake, if that is what failed: found by type
/// in the error's chain (rustls's error inside the I/O error inside lettre's), never by text.
pub(super) fn certificate_problem(
    e: &(dyn std::error::Error + 'static),
) -> Option<CertificateProblem> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if let Some(r) = c.downcast_ref::<rustls::Error>() {
            return from_rustls(r);
        }
        if let Some(r) = c
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return from_rustls(r);
        }
        cause = c.source();
    }
    None
}

fn from_rustls(e: &rustls::Error) -> Option<CertificateProblem> {
    use rustls::AlertDescription as A;
    use rustls::CertificateError as C;
    let c = match e {
        rustls::Error::InvalidCertificate(c) => c,
        // The relay's alerts about our certificate: it will not change by asking again.
        rustls::Error::AlertReceived(
            A::CertificateRequired
            | A::BadCertificate
            | A::UnsupportedCertificate
            | A::CertificateUnknown
            | A::CertificateRevoked
            | A::CertificateExpired
            | A::UnknownCA,
        ) => return Some(CertificateProblem::ClientCertificateRefused),
        _ => return None,
    };
    Some(match c {
        C::UnknownIssuer => CertificateProblem::UnknownIssuer,
        C::NotValidForName | C::NotValidForNameContext { .. } => CertificateProblem::WrongName,
        C::Expired | C::ExpiredContext { .. } => CertificateProblem::Expired,
        C::NotValidYet | C::NotValidYetContext { .. } => CertificateProblem::NotYetValid,
        C::Revoked => CertificateProblem::Revoked,
        other => CertificateProblem::Other(format!("{other:?}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_problems_are_found_inside_io_errors() {
        let io = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        assert_eq!(
            certificate_problem(&io),
            Some(CertificateProblem::UnknownIssuer)
        );
        let io = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::Expired),
        );
        assert_eq!(certificate_problem(&io), Some(CertificateProblem::Expired));
        let alert = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::AlertReceived(rustls::AlertDescription::CertificateRequired),
        );
        assert_eq!(
            certificate_problem(&alert),
            Some(CertificateProblem::ClientCertificateRefused)
        );
        let other = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        assert_eq!(certificate_problem(&other), None);
    }

    #[test]
    fn pem_files_are_checked_and_named() {
        let d = tempfile::tempdir().unwrap();
        let bad = d.path().join("ca.pem");
        std::fs::write(&bad, "not a certificate\n").unwrap();
        let e = TlsSettings::load(Some(&bad), None, None).unwrap_err();
        let text = format!("{e:#}");
        assert!(
            text.contains("send.tls_ca_file") && text.contains("ca.pem"),
            "{text}"
        );
        assert!(text.contains("no certificate"), "{text}");
        let missing = d.path().join("missing.pem");
        let e = TlsSettings::load(Some(&missing), None, None).unwrap_err();
        assert!(format!("{e:#}").contains("cannot open"));
    }

    #[test]
    fn a_ca_bundle_and_a_client_identity_load_and_never_show_the_key() {
        let d = tempfile::tempdir().unwrap();
        let ca = rcgen::generate_simple_self_signed(vec!["relay.test".into()]).unwrap();
        let ca_path = d.path().join("ca.pem");
        // A bundle: two certificates in one file.
        let other = rcgen::generate_simple_self_signed(vec!["other.test".into()]).unwrap();
        std::fs::write(&ca_path, ca.cert.pem() + &other.cert.pem()).unwrap();
        let key_path = d.path().join("client.key");
        let key_pem = ca.signing_key.serialize_pem();
        std::fs::write(&key_path, &key_pem).unwrap();
        let s = TlsSettings::load(Some(&ca_path), Some(&ca_path), Some(&key_path)).unwrap();
        assert_eq!(s.roots.len(), 2);
        assert!(s.parameters("relay.test").is_ok());
        let shown = format!("{s:?}");
        let key_line = key_pem.lines().nth(1).unwrap();
        assert!(!shown.contains(key_line), "{shown}");
        let e = TlsSettings::load(None, Some(&ca_path), None).unwrap_err();
        assert!(e.to_string().contains("go together"));
        let e = TlsSettings::load(None, Some(&ca_path), Some(&ca_path)).unwrap_err();
        assert!(format!("{e:#}").contains("send.tls_client_key"), "{e:#}");
    }
}
