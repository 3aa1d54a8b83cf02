//! DKIM signing: key loading (PKCS#1 / PKCS#8, RSA / Ed25519), no key material in output, and
//! independent verification with Python dkimpy (ignored tests: they need `pip install dkimpy`
//! and, for Ed25519, PyNaCl; they skip with a note when those are missing).

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, SystemTime},
};

use base64::Engine as _;
use tsuchi::mail::{
    Charset, DkimSigner, Headers, KeyAlgorithm, build_message, jis_safe_fixed_text,
};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/dkim")
        .join(name)
}

fn notice_headers<'a>(subject: &'a str) -> Headers<'a> {
    Headers {
        from_name: "株式会社サンプルトラベル お客様相談窓口",
        from_addr: "notice@example.co.jp",
        to: "渡邊 太郎 <taro..watanabe@docomo.ne.jp>",
        reply_to: Some("support@example.co.jp"),
        subject,
        message_id: "<20261125.0001@example.co.jp>",
        date: SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_597_200),
        return_path: None,
    }
}

fn notice_body() -> String {
    jis_safe_fixed_text(
        "渡邊 太郎 様\n\n\
         このたびは、弊社が運営する旅行予約サイトにおいて、お客様の個人情報が\n\
         外部に流出した可能性があることが判明いたしました。  \n\
         心より深くお詫び申し上げます。\n\n\
         専用ダイヤル 0120-000-000\n\
         受付時間:9:00〜20:00\n\n\n",
    )
}

fn subject() -> String {
    jis_safe_fixed_text(
        "【重要】個人情報流出に関するお詫びとお知らせ（専用ダイヤル 受付時間:9:00〜20:00）",
    )
}

fn signed(signer: &DkimSigner, charset: Charset) -> Vec<u8> {
    let subject = subject();
    let mut message = build_message(&notice_headers(&subject), &notice_body(), charset).unwrap();
    signer.sign(&mut message);
    message.formatted()
}

fn dkim_signature_tags(raw: &[u8]) -> String {
    let text = String::from_utf8(raw.to_vec()).unwrap();
    let start = text
        .find("DKIM-Signature: ")
        .expect("DKIM-Signature header");
    let rest = &text[start..];
    let mut end = 0;
    while let Some(i) = rest[end..].find("\r\n") {
        end += i + 2;
        if !rest[end..].starts_with(' ') {
            break;
        }
    }
    rest[..end].replace("\r\n ", " ")
}

#[test]
fn loads_pkcs1_and_pkcs8_keys() {
    for (file, alg) in [
        ("test-rsa-pkcs1.pem", KeyAlgorithm::Rsa),
        ("test-rsa-pkcs8.pem", KeyAlgorithm::Rsa),
        ("test-ed25519.pem", KeyAlgorithm::Ed25519),
    ] {
        let signer = DkimSigner::from_key_file("example.co.jp", "tsuchi2026", &fixture(file))
            .unwrap_or_else(|e| panic!("{file}: {e:#}"));
        assert_eq!(signer.algorithm(), alg);
        for charset in [Charset::Utf8, Charset::Iso2022Jp] {
            let raw = signed(&signer, charset);
            let tags = dkim_signature_tags(&raw);
            assert!(tags.contains(&format!("a={alg};")), "{tags}");
            assert!(tags.contains("d=example.co.jp;"));
            assert!(tags.contains("s=tsuchi2026;"));
            assert!(tags.contains("c=relaxed/relaxed;"));
            assert!(tags.contains("h=from:to:subject:date:message-id:reply-to:mime-version:content-type:content-transfer-encoding;"), "{tags}");
            if charset == Charset::Iso2022Jp {
                assert!(raw.iter().all(|b| *b < 0x80));
            }
        }
    }
}

#[test]
fn key_material_is_never_printed() {
    let pem = std::fs::read_to_string(fixture("test-rsa-pkcs8.pem")).unwrap();
    let signer = DkimSigner::from_pem("example.co.jp", "sel", &pem).unwrap();
    let debug = format!("{signer:?}");
    assert!(debug.contains("example.co.jp") && debug.contains("sel"));
    let body_line = pem.lines().nth(1).unwrap();
    assert!(!debug.contains(&body_line[..20]), "{debug}");
    assert!(debug.len() < 200, "{debug}");

    // Errors name the problem, never the key text.
    let mut broken = pem.clone();
    broken.replace_range(40..60, "!!!!!!!!!!!!!!!!!!!!");
    let err = format!(
        "{:#}",
        DkimSigner::from_pem("example.co.jp", "sel", &broken).unwrap_err()
    );
    assert!(!err.contains(&body_line[..20]), "{err}");
    for bad in [
        "",
        "not a key",
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
        "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n",
    ] {
        assert!(
            DkimSigner::from_pem("example.co.jp", "sel", bad).is_err(),
            "{bad:?}"
        );
    }
    assert!(DkimSigner::from_pem("example.co.jp;x=y", "sel", &pem).is_err());
    assert!(DkimSigner::from_pem("example.co.jp", "sel; b=", &pem).is_err());
    let missing =
        DkimSigner::from_key_file("example.co.jp", "sel", Path::new("/nonexistent/k.pem"));
    assert!(format!("{:#}", missing.unwrap_err()).contains("/nonexistent/k.pem"));
}

#[test]
fn key_path_env_overrides_config() {
    use tsuchi::mail::key_path_from;
    let configured = Path::new("/etc/tsuchi/dkim.pem");
    assert_eq!(
        key_path_from(None, Some(configured)).as_deref(),
        Some(configured)
    );
    assert_eq!(key_path_from(None, None), None);
    assert_eq!(
        key_path_from(Some("".into()), Some(configured)).as_deref(),
        Some(configured)
    );
    assert_eq!(
        key_path_from(Some("/run/secrets/dkim.pem".into()), Some(configured)).as_deref(),
        Some(Path::new("/run/secrets/dkim.pem"))
    );
    assert_eq!(tsuchi::mail::KEY_FILE_ENV, "TSUCHI_DKIM_KEY_FILE");
}

// ---- independent verification with dkimpy ----

fn python_has(modules: &str) -> bool {
    Command::new("python3")
        .args(["-c", &format!("import {modules}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn openssl_available() -> bool {
    Command::new("openssl")
        .arg("version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn openssl(args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl").args(args).output().unwrap();
    assert!(out.status.success(), "openssl {args:?} failed");
    out.stdout
}

/// Generates a key with openssl; returns (key path, DNS TXT record value).
fn generate_key(dir: &Path, alg: KeyAlgorithm) -> (PathBuf, String) {
    let b64 = base64::engine::general_purpose::STANDARD;
    match alg {
        KeyAlgorithm::Rsa => {
            let key = dir.join("rsa.pem");
            let k = key.to_str().unwrap();
            openssl(&[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-out",
                k,
            ]);
            let spki = openssl(&["pkey", "-in", k, "-pubout", "-outform", "DER"]);
            (key, format!("v=DKIM1; k=rsa; p={}", b64.encode(spki)))
        }
        KeyAlgorithm::Ed25519 => {
            let key = dir.join("ed25519.pem");
            let k = key.to_str().unwrap();
            openssl(&["genpkey", "-algorithm", "ed25519", "-out", k]);
            let spki = openssl(&["pkey", "-in", k, "-pubout", "-outform", "DER"]);
            // RFC 8463: p= is the bare 32-byte key (the tail of the SubjectPublicKeyInfo).
            let raw = &spki[spki.len() - 32..];
            (key, format!("v=DKIM1; k=ed25519; p={}", b64.encode(raw)))
        }
    }
}

fn dkimpy_verify(message: &Path, txt: &str) -> (bool, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scripts/dkim_verify.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(message)
        .arg(txt)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn verify_with_dkimpy(alg: KeyAlgorithm) {
    let modules = match alg {
        KeyAlgorithm::Rsa => "dkim",
        KeyAlgorithm::Ed25519 => "dkim, nacl",
    };
    if !python_has(modules) {
        eprintln!("SKIP: python3 cannot `import {modules}` (pip install dkimpy pynacl)");
        return;
    }
    if !openssl_available() {
        eprintln!("SKIP: openssl not found");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (key, txt) = generate_key(dir.path(), alg);
    let signer = DkimSigner::from_key_file("example.co.jp", "tsuchi2026", &key).unwrap();
    for charset in [Charset::Utf8, Charset::Iso2022Jp] {
        let raw = signed(&signer, charset);
        let path = dir.path().join(format!("{charset}.eml"));
        std::fs::write(&path, &raw).unwrap();
        let (ok, output) = dkimpy_verify(&path, &txt);
        eprintln!("{alg} {charset}: {}", output.trim());
        assert!(ok, "{alg} {charset}: dkimpy did not verify: {output}");

        // Tampering with the body or a signed header must break the signature.
        let text = String::from_utf8(raw).unwrap();
        let tampered_body = format!("{text}\r\nX\r\n");
        std::fs::write(&path, &tampered_body).unwrap();
        assert!(
            !dkimpy_verify(&path, &txt).0,
            "{alg} {charset}: tampered body verified"
        );
        let tampered_header = text.replacen("Reply-To: support@", "Reply-To: attacker@", 1);
        assert_ne!(tampered_header, text);
        std::fs::write(&path, &tampered_header).unwrap();
        assert!(
            !dkimpy_verify(&path, &txt).0,
            "{alg} {charset}: tampered header verified"
        );
    }
}

#[test]
#[ignore = "needs python3 with dkimpy (pip install dkimpy) and openssl"]
fn dkimpy_verifies_rsa_signatures() {
    verify_with_dkimpy(KeyAlgorithm::Rsa);
}

#[test]
#[ignore = "needs python3 with dkimpy and PyNaCl (pip install dkimpy pynacl) and openssl"]
fn dkimpy_verifies_ed25519_signatures() {
    verify_with_dkimpy(KeyAlgorithm::Ed25519);
}

#[test]
#[ignore = "needs python3 with dkimpy and PyNaCl"]
fn dkimpy_verifies_fixture_keys() {
    if !python_has("dkim, nacl") {
        eprintln!("SKIP: python3 cannot `import dkim, nacl` (pip install dkimpy pynacl)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (key, txt) in [
        ("test-rsa-pkcs1.pem", "test-rsa.txt"),
        ("test-rsa-pkcs8.pem", "test-rsa.txt"),
        ("test-ed25519.pem", "test-ed25519.txt"),
    ] {
        let txt = std::fs::read_to_string(fixture(txt)).unwrap();
        let signer = DkimSigner::from_key_file("example.co.jp", "fixture", &fixture(key)).unwrap();
        for charset in [Charset::Utf8, Charset::Iso2022Jp] {
            let path = dir.path().join(format!("{key}-{charset}.eml"));
            std::fs::write(&path, signed(&signer, charset)).unwrap();
            let (ok, output) = dkimpy_verify(&path, txt.trim());
            assert!(ok, "{key} {charset}: {output}");
        }
    }
}
