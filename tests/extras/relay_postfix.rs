//! End to end through a real relay: a Postfix `smtpd` on loopback that this test owns (its own
//! configuration, queue and data directories under a temporary directory, started with
//! `postfix -c DIR start` and stopped when the test ends), with STARTTLS on a submission port
//! using a CA and server certificate the test generates, SASL AUTH through Cyrus sasldb, and
//! delivery into a Maildir the test reads. Nothing of the system's Postfix is touched.
//!
//! Needs Debian's `postfix`, `sasl2-bin` and `libsasl2-modules` and root (Postfix's master
//! runs as root and drops to the `postfix` user); `.ci/run` installs them and runs these with
//! `--ignored`. Without root they skip with a message.

use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::campaign::{ConfigEdit, TestCampaign, text};

const POSTFIX: &str = "/usr/sbin/postfix";
const SASLPASSWD2: &str = "/usr/sbin/saslpasswd2";
const USER: &str = "kaede";
const PASSWORD: &str = "Relay-pw-7d1c9e";
/// The name in the server certificate; the relay URL must use it.
const HOST: &str = "localhost";

/// A CA and the certificates it issued, as PEM.
struct Pki {
    ca_pem: String,
    client_pem: String,
    client_key: String,
    server_pem: String,
    server_key: String,
    expired_pem: String,
    expired_key: String,
}

fn pki() -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "tsuchi test company CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let leaf = |expired: bool| {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec![HOST.to_string()]).unwrap();
        params.extended_key_usages = vec![
            rcgen::ExtendedKeyUsagePurpose::ServerAuth,
            rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        ];
        if expired {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        let cert = params.signed_by(&key, &issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    };
    let (server_pem, server_key) = leaf(false);
    let (expired_pem, expired_key) = leaf(true);
    // The client's certificate: the same CA, as a company PKI would issue it.
    let (client_pem, client_key) = leaf(false);
    Pki {
        ca_pem: ca.pem(),
        client_pem,
        client_key,
        server_pem,
        server_key,
        expired_pem,
        expired_key,
    }
}

/// Another CA, which signed nothing the relay presents.
fn other_ca_pem() -> String {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.self_signed(&key).unwrap().pem()
}

/// A test-owned Postfix instance, stopped when dropped.
struct Postfix {
    dir: tempfile::TempDir,
    /// STARTTLS (the good certificate) and AUTH required: the submission port.
    submission: u16,
    /// No TLS offered at all.
    plain: u16,
    /// STARTTLS with an expired certificate.
    expired: u16,
    /// Implicit TLS (`smtps://`, Postfix's wrapper mode), AUTH required.
    smtps: u16,
    /// STARTTLS that requires a client certificate from the test CA.
    client_cert: u16,
    ca_file: PathBuf,
    client_cert_file: PathBuf,
    client_key_file: PathBuf,
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().unwrap().port()
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self").map(|m| m.uid()).ok() == Some(0)
}

/// The numeric uid and gid of the `postfix` user.
fn postfix_ids() -> (u32, u32) {
    let out = Command::new("id").arg("postfix").output().unwrap();
    let s = String::from_utf8_lossy(&out.stdout).to_string();
    let num = |key: &str| -> u32 {
        s.split_whitespace()
            .find_map(|w| w.strip_prefix(key))
            .and_then(|r| r.split('(').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {key} in `id postfix`: {s}"))
    };
    (num("uid="), num("gid="))
}

fn chown(path: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::chown(path, Some(uid), Some(gid)).unwrap();
}

impl Postfix {
    /// Starts the instance, or `None` (with a message) when the test cannot run here.
    fn start() -> Option<Postfix> {
        if !is_root() {
            eprintln!(
                "skipped: a test-owned Postfix needs root (its master runs as root); .ci/run runs \
                 these as root"
            );
            return None;
        }
        for program in [POSTFIX, SASLPASSWD2] {
            assert!(
                Path::new(program).exists(),
                "{program} is missing: install postfix, sasl2-bin and libsasl2-modules \
                 (Debian/Ubuntu: apt-get install postfix sasl2-bin libsasl2-modules) to run \
                 these tests"
            );
        }
        let pki = pki();
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        // Postfix refuses a queue or data directory others can write into: the temporary
        // directory is owner-only, which for root is what Postfix wants.
        let (uid, gid) = postfix_ids();
        for sub in ["conf", "conf/sasl", "queue", "data", "sasl", "mail"] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
        }
        chown(&d.join("data"), uid, 0);
        chown(&d.join("mail"), uid, gid);
        let write = |name: &str, body: &str| std::fs::write(d.join(name), body).unwrap();
        write("conf/server.pem", &pki.server_pem);
        write("conf/server.key", &pki.server_key);
        write("conf/expired.pem", &pki.expired_pem);
        write("conf/expired.key", &pki.expired_key);
        write("ca.pem", &pki.ca_pem);
        write("client.pem", &pki.client_pem);
        write("client.key", &pki.client_key);
        // Cyrus reads `<path>/smtpd.conf`; Debian's Postfix looks in `<path>/sasl/` instead.
        let sasl_conf = format!(
            "pwcheck_method: auxprop\nauxprop_plugin: sasldb\nmech_list: PLAIN LOGIN\n\
             sasldb_path: {}/sasl/sasldb2\n",
            d.display()
        );
        write("conf/smtpd.conf", &sasl_conf);
        write("conf/sasl/smtpd.conf", &sasl_conf);
        let mut child = Command::new(SASLPASSWD2)
            .args(["-p", "-c", "-f"])
            .arg(d.join("sasl/sasldb2"))
            .args(["-u", "relay.test", USER])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(PASSWORD.as_bytes())
                .unwrap();
        }
        assert!(child.wait().unwrap().success(), "saslpasswd2 failed");
        chown(&d.join("sasl/sasldb2"), uid, gid);

        let d_s = d.display();
        write(
            "conf/main.cf",
            &format!(
                "compatibility_level = 3.6
queue_directory = {d_s}/queue
data_directory = {d_s}/data
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
shlib_directory = /usr/lib/postfix
meta_directory = /etc/postfix
mail_owner = postfix
setgid_group = postdrop
maillog_file = {d_s}/maillog
maillog_file_prefixes = {d_s}
myhostname = relay.test
mydomain = relay.test
myorigin = relay.test
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mydestination =
mynetworks =
relay_domains =
alias_maps =
alias_database =
smtputf8_enable = no
biff = no
virtual_mailbox_domains = example.jp
virtual_mailbox_base = {d_s}/mail
virtual_mailbox_maps = static:inbox/
virtual_minimum_uid = 1
virtual_uid_maps = static:{uid}
virtual_gid_maps = static:{gid}
smtpd_tls_cert_file = {d_s}/conf/server.pem
smtpd_tls_key_file = {d_s}/conf/server.key
smtpd_tls_security_level = encrypt
smtpd_tls_auth_only = yes
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = cyrus
smtpd_sasl_path = smtpd
cyrus_sasl_config_path = {d_s}/conf
smtpd_sasl_local_domain = relay.test
smtpd_relay_restrictions = permit_sasl_authenticated, reject
smtpd_recipient_restrictions = permit_sasl_authenticated, reject
"
            ),
        );
        let (submission, plain, expired, smtps, client_cert) = (
            free_port(),
            free_port(),
            free_port(),
            free_port(),
            free_port(),
        );
        write(
                "conf/master.cf",
                &format!(
                    "127.0.0.1:{submission} inet n - n - - smtpd
127.0.0.1:{plain} inet n - n - - smtpd -o smtpd_tls_security_level=none -o smtpd_sasl_auth_enable=no
127.0.0.1:{expired} inet n - n - - smtpd -o smtpd_tls_cert_file={d_s}/conf/expired.pem -o smtpd_tls_key_file={d_s}/conf/expired.key
127.0.0.1:{smtps} inet n - n - - smtpd -o smtpd_tls_wrappermode=yes
127.0.0.1:{client_cert} inet n - n - - smtpd -o smtpd_tls_req_ccert=yes -o smtpd_tls_CAfile={d_s}/ca.pem -o smtpd_sasl_auth_enable=no -o smtpd_recipient_restrictions=permit_tls_all_clientcerts,reject -o smtpd_relay_restrictions=permit_tls_all_clientcerts,reject
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"
                ),
            );
        let out = Command::new(POSTFIX)
            .arg("-c")
            .arg(d.join("conf"))
            .arg("start")
            .output()
            .unwrap();
        let conf_dir = d.join("conf");
        let postfix = Postfix {
            ca_file: d.join("ca.pem"),
            client_cert_file: d.join("client.pem"),
            client_key_file: d.join("client.key"),
            dir,
            submission,
            plain,
            expired,
            smtps,
            client_cert,
        };
        assert!(
            out.status.success(),
            "postfix -c {} start failed: {}\n{}",
            conf_dir.display(),
            text(&out),
            postfix.log()
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            let up = [submission, plain, expired, smtps, client_cert]
                .iter()
                .all(|&p| TcpStream::connect(("127.0.0.1", p)).is_ok());
            if up {
                return Some(postfix);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "the test-owned Postfix did not listen within 20 s:\n{}",
            postfix.log()
        );
    }

    fn url(&self, host: &str, port: u16) -> String {
        format!("smtp://{host}:{port}?tls=required")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("maillog")).unwrap_or_default()
    }

    /// The messages delivered so far (Maildir `new/`).
    fn delivered(&self) -> Vec<PathBuf> {
        let new = self.dir.path().join("mail/inbox/new");
        let mut v: Vec<PathBuf> = match std::fs::read_dir(&new) {
            Ok(r) => r.map(|e| e.unwrap().path()).collect(),
            Err(_) => Vec::new(),
        };
        v.sort();
        v
    }

    /// Waits until `n` messages are delivered, or the bound passes.
    fn wait_delivered(&self, n: usize) -> Vec<PathBuf> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let d = self.delivered();
            if d.len() >= n || Instant::now() >= deadline {
                return d;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        let conf = self.dir.path().join("conf");
        let _ = Command::new(POSTFIX)
            .arg("-c")
            .arg(&conf)
            .arg("stop")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        // `stop` returns at once; wait (bounded) for the master to go before the directory does.
        let pid_file = self.dir.path().join("queue/pid/master.pid");
        let pid = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok());
        if let Some(pid) = pid {
            let deadline = Instant::now() + Duration::from_secs(10);
            while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// A campaign of `n` recipients whose config trusts `ca_file` (if any) for the relay.
fn campaign(n: usize, ca_file: Option<&Path>) -> TestCampaign {
    TestCampaign::new(n, |cfg| match ca_file {
        Some(ca) => cfg.set(
            "allow_insecure = false\n",
            &format!(
                "allow_insecure = false\ntls_ca_file = \"{}\"\n",
                ca.display()
            ),
        ),
        None => cfg,
    })
}

fn send(c: &TestCampaign, url: &str, password: &str) -> Output {
    c.command(&["send", "--smtp", url, "--rate", "0", "-q"])
        .env("TSUCHI_SMTP_USER", USER)
        .env("TSUCHI_SMTP_PASSWORD", password)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// Counts by state from `tsuchi status`.
fn still_to_send(c: &TestCampaign) -> u64 {
    let out = c.run(&["status"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            let (label, n) = l.rsplit_once(' ')?;
            let label = label.trim();
            ["pending", "deferred", "attempting"]
                .iter()
                .any(|k| label.starts_with(k))
                .then(|| n.trim().parse::<u64>().ok())
                .flatten()
        })
        .sum()
}

/// Every file under `dir`, read.
fn files_under(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else if let Ok(bytes) = std::fs::read(&p) {
            out.push((p, bytes));
        }
    }
    out
}

/// The password appears in no output and in no file tsuchi wrote.
fn assert_password_nowhere(c: &TestCampaign, outputs: &[&Output], password: &str) {
    for o in outputs {
        let all = text(o);
        assert!(!all.contains(password), "password in output:\n{all}");
    }
    for (path, bytes) in files_under(&c.state_dir()) {
        assert!(
            !String::from_utf8_lossy(&bytes).contains(password),
            "password in {}",
            path.display()
        );
    }
}

#[test]
#[ignore = "needs postfix and sasl2-bin"]
fn a_campaign_through_postfix_with_starttls_and_auth_is_delivered() {
    const N: usize = 12;
    let Some(pf) = Postfix::start() else { return };
    let c = campaign(N, Some(&pf.ca_file));
    let out = send(&c, &pf.url(HOST, pf.submission), PASSWORD);
    assert_eq!(out.status.code(), Some(0), "{}\n{}", text(&out), pf.log());
    let delivered = pf.wait_delivered(N);
    assert_eq!(delivered.len(), N, "{}", pf.log());
    let mut seen = std::collections::BTreeSet::new();
    for path in &delivered {
        let raw = std::fs::read(path).unwrap();
        let msg = mail_parser::MessageParser::default()
            .parse(&raw)
            .unwrap_or_else(|| panic!("{} does not parse", path.display()));
        let to = msg
            .to()
            .and_then(|a| a.first())
            .and_then(|a| a.address())
            .unwrap()
            .to_string();
        let i: usize = to
            .strip_prefix("user")
            .and_then(|r| r.strip_suffix("@example.jp"))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("unexpected To {to}"));
        let id = format!("C{i:06}");
        let reference = tsuchi::render::reference("kaede-2026-11", &id);
        let body = msg.body_text(0).unwrap_or_default();
        assert!(body.contains(reference.as_str()), "{to}: {body}");
        // Postfix's own trace: "ESMTPSA" is ESMTP over TLS, authenticated (RFC 3848).
        let received = String::from_utf8_lossy(&raw);
        assert!(
            received.contains("with ESMTPSA id"),
            "{to}: not received over TLS with AUTH:\n{received}"
        );
        assert!(seen.insert(i), "{to} got two messages");
    }
    assert_eq!(still_to_send(&c), 0);
    assert_password_nowhere(&c, &[&out], PASSWORD);
}

#[test]
#[ignore = "needs postfix and sasl2-bin"]
fn a_wrong_password_stops_the_run_as_a_relay_error_with_rows_pending() {
    const N: usize = 8;
    let Some(pf) = Postfix::start() else { return };
    let c = campaign(N, Some(&pf.ca_file));
    let wrong = "Not-the-pw-4b2f";
    let out = send(&c, &pf.url(HOST, pf.submission), wrong);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}\n{}", pf.log());
    assert!(
        all.contains("relay refused") && all.contains("535"),
        "{all}"
    );
    assert_eq!(still_to_send(&c), N as u64);
    assert!(pf.delivered().is_empty());
    assert_password_nowhere(&c, &[&out], wrong);
}

#[test]
#[ignore = "needs postfix and sasl2-bin"]
fn a_certificate_that_does_not_verify_is_refused_before_any_message() {
    const N: usize = 6;
    let Some(pf) = Postfix::start() else { return };
    let other_ca = pf.dir.path().join("other-ca.pem");
    std::fs::write(&other_ca, other_ca_pem()).unwrap();
    let cases: [(&str, Option<&Path>, String, &str); 4] = [
        (
            "another company's CA",
            Some(&other_ca),
            pf.url(HOST, pf.submission),
            "unknown issuer",
        ),
        (
            "no CA file",
            None,
            pf.url(HOST, pf.submission),
            "set send.tls_ca_file",
        ),
        (
            "a name not in the certificate",
            Some(&pf.ca_file),
            pf.url("127.0.0.1", pf.submission),
            "wrong name",
        ),
        (
            "an expired certificate",
            Some(&pf.ca_file),
            pf.url(HOST, pf.expired),
            "expired",
        ),
    ];
    for (what, ca, url, says) in cases {
        let c = campaign(N, ca);
        let out = send(&c, &url, PASSWORD);
        let all = text(&out);
        assert_eq!(out.status.code(), Some(1), "{what}: {all}");
        assert!(
            all.contains("certificate") && all.contains(says),
            "{what}: says why ({says}):\n{all}"
        );
        assert_eq!(still_to_send(&c), N as u64, "{what}");
        assert_password_nowhere(&c, &[&out], PASSWORD);
    }
    assert!(pf.delivered().is_empty());
    assert!(
        !pf.log().contains(" auth=1"),
        "nobody authenticated:\n{}",
        pf.log()
    );
}

#[test]
#[ignore = "needs postfix and sasl2-bin"]
fn a_relay_without_starttls_is_refused_when_tls_is_required() {
    const N: usize = 5;
    let Some(pf) = Postfix::start() else { return };
    let c = campaign(N, Some(&pf.ca_file));
    let out = send(&c, &pf.url(HOST, pf.plain), PASSWORD);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("does not offer STARTTLS"), "{all}");
    assert_eq!(still_to_send(&c), N as u64);
    assert!(pf.delivered().is_empty());
    assert!(
        !pf.log().contains("AUTH"),
        "no AUTH in the clear:\n{}",
        pf.log()
    );
    assert_password_nowhere(&c, &[&out], PASSWORD);
}

/// The generated messages in `delivered`, as (recipient row, parsed) — each parsed.
fn rows_delivered(delivered: &[PathBuf]) -> std::collections::BTreeSet<usize> {
    let mut rows = std::collections::BTreeSet::new();
    for path in delivered {
        let raw = std::fs::read(path).unwrap();
        let msg = mail_parser::MessageParser::default()
            .parse(&raw)
            .unwrap_or_else(|| panic!("{} does not parse", path.display()));
        let to = msg.to().and_then(|a| a.first()).and_then(|a| a.address());
        let row = to
            .and_then(|t| t.strip_prefix("user"))
            .and_then(|r| r.strip_suffix("@example.jp"))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{}: unexpected To {to:?}", path.display()));
        assert!(rows.insert(row), "row {row} got two messages");
    }
    rows
}

#[test]
#[ignore = "needs postfix and sasl2-bin"]
fn implicit_tls_with_auth_delivers_through_postfix() {
    const N: usize = 6;
    let Some(pf) = Postfix::start() else { return };
    let c = campaign(N, Some(&pf.ca_file));
    let url = format!("smtps://{HOST}:{}", pf.smtps);
    let out = send(&c, &url, PASSWORD);
    assert_eq!(out.status.code(), Some(0), "{}\n{}", text(&out), pf.log());
    let delivered = pf.wait_delivered(N);
    assert_eq!(rows_delivered(&delivered).len(), N, "{}", pf.log());
    for path in &delivered {
        let raw = String::from_utf8_lossy(&std::fs::read(path).unwrap()).to_string();
        assert!(
            raw.contains("with ESMTPSA id"),
            "not over TLS with AUTH:\n{raw}"
        );
    }
    assert_password_nowhere(&c, &[&out], PASSWORD);
}

#[test]
#[ignore = "needs postfix and sasl2-bin"]
fn a_relay_that_requires_a_client_certificate_gets_ours() {
    const N: usize = 4;
    let Some(pf) = Postfix::start() else { return };
    let url = pf.url(HOST, pf.client_cert);
    // Without the certificate the relay lets nobody through.
    let without = campaign(N, Some(&pf.ca_file));
    let out = without
        .command(&["send", "--smtp", &url, "--rate", "0", "-q", "--limit", "1"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    // Postfix says so in SMTP after the handshake (421 4.7.1 No client certificate
    // presented): a 4xx, so the row is deferred, as any 4xx is — classified on the code.
    let all = text(&out);
    assert_eq!(out.status.code(), Some(4), "resumable: {all}");
    assert_eq!(still_to_send(&without), N as u64);
    let journal = std::fs::read_to_string(without.journal()).unwrap();
    assert!(journal.contains("No client certificate"), "{journal}");
    assert!(pf.delivered().is_empty(), "{}", pf.log());
    // With it, everyone is delivered (no AUTH on this port: the certificate is the credential).
    let with = TestCampaign::new(N, |cfg| {
        cfg.set(
            "allow_insecure = false\n",
            &format!(
                "allow_insecure = false\ntls_ca_file = \"{}\"\ntls_client_cert = \"{}\"\n\
                 tls_client_key = \"{}\"\n",
                pf.ca_file.display(),
                pf.client_cert_file.display(),
                pf.client_key_file.display()
            ),
        )
    });
    let out = with
        .command(&["send", "--smtp", &url, "--rate", "0", "-q"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}\n{}", text(&out), pf.log());
    assert_eq!(
        rows_delivered(&pf.wait_delivered(N)).len(),
        N,
        "{}",
        pf.log()
    );
    // The private key is shown nowhere.
    let key = std::fs::read_to_string(&pf.client_key_file).unwrap();
    let key_line = key.lines().nth(1).unwrap();
    assert_password_nowhere(&with, &[&out], key_line);
}
