//! `tsuchi serve --tls-cert --tls-key`: a certificate made by openssl, the API spoken to by
//! curl over HTTPS on loopback, the session cookie marked Secure; plain HTTP gets nothing.
//! Ignored by default (needs openssl and curl); run with
//! `cargo test --test extras -- --ignored hotline_tls`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use crate::support::campaign::{TestCampaign, text};

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
#[ignore = "needs openssl and curl"]
fn the_service_speaks_tls_with_the_given_certificate_and_marks_the_cookie_secure() {
    let c = TestCampaign::new(2, |c| c);
    let (cert, key) = (c.path("cert.pem"), c.path("key.pem"));
    let out = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args([
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let added = c.run(&["serve", "--add-agent", "tls"]);
    let token = String::from_utf8_lossy(&added.stdout)
        .lines()
        .find(|l| l.starts_with("tsh_"))
        .unwrap()
        .to_string();
    let (cert_s, key_s) = (cert.to_str().unwrap(), key.to_str().unwrap());
    let mut cmd = c.command(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--tls-cert",
        cert_s,
        "--tls-key",
        key_s,
    ]);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut child = Killed(cmd.spawn().unwrap());
    let mut line = String::new();
    BufReader::new(child.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .split("https://")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_string();
    let curl = |args: &[&str]| {
        Command::new("curl")
            .args(["-s", "--max-time", "30", "--cacert", cert_s])
            .args(args)
            .output()
            .unwrap()
    };
    let auth = format!("Authorization: Bearer {token}");
    let out = curl(&["-H", &auth, &format!("https://{addr}/api/lookup/C000001")]);
    assert!(out.status.success(), "{}", text(&out));
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["answer"], "affected");
    assert_eq!(j["id"], "C000001");
    let out = curl(&[
        "-i",
        "-d",
        &format!("token={token}"),
        &format!("https://{addr}/sign-in"),
    ]);
    let head = String::from_utf8_lossy(&out.stdout).to_lowercase();
    let cookie = head
        .lines()
        .find(|l| l.starts_with("set-cookie:"))
        .unwrap_or_else(|| panic!("{head}"));
    assert!(
        cookie.contains("secure") && cookie.contains("httponly"),
        "{cookie}"
    );
    // Plain HTTP on the TLS port gets no answer.
    let out = Command::new("curl")
        .args([
            "-s",
            "--max-time",
            "10",
            "-H",
            &auth,
            &format!("http://{addr}/api/lookup/C000001"),
        ])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&out.stdout).contains("affected"));
    // A certificate that does not exist is refused before anything listens.
    let out = c.run(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--tls-cert",
        "missing.pem",
        "--tls-key",
        key_s,
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}
