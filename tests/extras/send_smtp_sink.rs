//! End to end against a real SMTP server: Postfix's `smtp-sink` (Debian package `postfix`),
//! which accepts every message and can dump each one to a file. Ignored by default; CI
//! (`.ci/run`) installs Postfix and runs them with `--ignored`.

use std::collections::BTreeMap;
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::campaign::{BRANDS, ConfigEdit, TestCampaign, text};

const SMTP_SINK: &str = "/usr/sbin/smtp-sink";

/// A running `smtp-sink`, killed when dropped.
struct SmtpSink {
    child: Child,
    port: u16,
    dump_dir: PathBuf,
    /// Holds the dump directory (set once smtp-sink listens).
    _dir: Option<tempfile::TempDir>,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().unwrap().port()
}

impl SmtpSink {
    /// Starts `smtp-sink` on a free loopback port, dumping every message to its own file.
    fn start() -> SmtpSink {
        assert!(
            Path::new(SMTP_SINK).exists(),
            "{SMTP_SINK} is missing: install Postfix (Debian/Ubuntu: apt-get install postfix) \
             to run these tests"
        );
        let dir = tempfile::tempdir().unwrap();
        let dump_dir = dir.path().join("dump");
        std::fs::create_dir(&dump_dir).unwrap();
        // The port is free when we let go of it; retry in the unlikely case someone takes it.
        for _ in 0..5 {
            let port = free_port();
            let mut cmd = Command::new(SMTP_SINK);
            // As root, smtp-sink insists on dropping privileges to a named user.
            if std::fs::metadata("/proc/self").map(|m| m.uid()).ok() == Some(0) {
                cmd.args(["-u", "root"]);
            }
            cmd.arg("-c")
                .arg("-d")
                .arg(format!("{}/%M.", dump_dir.display()))
                .arg(format!("127.0.0.1:{port}"))
                .arg("100")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped());
            let child = cmd
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {SMTP_SINK}: {e}"));
            let mut sink = SmtpSink {
                child,
                port,
                dump_dir: dump_dir.clone(),
                _dir: None,
            };
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Some(status) = sink.child.try_wait().unwrap() {
                    let mut err = String::new();
                    if let Some(mut e) = sink.child.stderr.take() {
                        use std::io::Read;
                        let _ = e.read_to_string(&mut err);
                    }
                    eprintln!("smtp-sink on port {port} exited ({status}): {err}");
                    break;
                }
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    sink._dir = Some(dir);
                    return sink;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        panic!("smtp-sink did not start listening");
    }

    fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    fn dumps(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(&self.dump_dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        v.sort();
        v
    }

    /// Waits until at least `n` dump files exist (smtp-sink writes them as messages end).
    fn wait_for_dumps(&self, n: usize, timeout: Duration) -> Vec<PathBuf> {
        let deadline = Instant::now() + timeout;
        loop {
            let d = self.dumps();
            if d.len() >= n || Instant::now() >= deadline {
                return d;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// What recipient `i` of the generated list must find in the notice.
struct Expected {
    ja: bool,
    brand_name: &'static str,
    hotline: &'static str,
    reference: String,
    id: String,
}

fn expected(i: usize) -> Expected {
    let brand = BRANDS[i % 3];
    let ja = i % 7 != 3;
    let (name_ja, name_en, hotline) = match brand {
        "kaede" => ("楓トラベル", "Kaede Travel", "0120-000-101"),
        "hoshizora" => ("星空ホテル予約", "Hoshizora Hotel Booking", "0120-000-202"),
        "umineko" => ("うみねこツアーズ", "Umineko Tours", "0120-000-303"),
        other => panic!("unknown brand {other}"),
    };
    let id = format!("C{i:06}");
    Expected {
        ja,
        brand_name: if ja { name_ja } else { name_en },
        hotline,
        reference: tsuchi::render::reference("kaede-2026-11", &id),
        id,
    }
}

#[test]
#[ignore = "needs Postfix's smtp-sink (run by .ci/run)"]
fn a_campaign_through_postfix_smtp_sink() {
    const N: usize = 50;
    let sink = SmtpSink::start();
    let c = TestCampaign::new(N, |cfg| cfg);
    let out = c
        .command(&["send", "--smtp", &sink.url(), "--rate", "0", "-q"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    let status = c.run(&["status"]);
    assert_eq!(status.status.code(), Some(0), "{}", text(&status));
    let s = String::from_utf8_lossy(&status.stdout);
    let sent = s
        .lines()
        .find_map(|l| l.trim().strip_prefix("sent"))
        .map(|n| n.trim().parse::<usize>().unwrap());
    assert_eq!(sent, Some(N), "{s}");

    // smtp-sink's replies name no queue id; the journal keeps its reply anyway.
    let report = c.run(&["report", "--format", "json"]);
    assert_eq!(report.status.code(), Some(0), "{}", text(&report));
    let mut message_ids = BTreeMap::new();
    for line in String::from_utf8_lossy(&report.stdout).lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["state"], "sent", "{line}");
        assert_eq!(v["code"], 250, "{line}");
        let mid = v["message_id"].as_str().unwrap();
        message_ids.insert(
            v["id"].as_str().unwrap().to_string(),
            mid.trim_start_matches('<')
                .trim_end_matches('>')
                .to_string(),
        );
    }
    assert_eq!(message_ids.len(), N);

    // Every dumped message parses and carries the recipient's own notice.
    let dumps = sink.wait_for_dumps(N, Duration::from_secs(10));
    assert_eq!(dumps.len(), N, "one dump file per message: {dumps:?}");
    let mut seen = BTreeMap::new();
    for path in &dumps {
        let raw = std::fs::read(path).unwrap();
        let msg = mail_parser::MessageParser::default()
            .parse(&raw)
            .unwrap_or_else(|| panic!("{} does not parse as a message", path.display()));
        let to = msg
            .to()
            .and_then(|a| a.first())
            .and_then(|a| a.address())
            .unwrap_or_else(|| panic!("{}: no To address", path.display()))
            .to_string();
        let i: usize = to
            .strip_prefix("user")
            .and_then(|r| r.strip_suffix("@example.jp"))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{}: unexpected To {to}", path.display()));
        let want = expected(i);
        let subject = msg.subject().unwrap_or_default();
        let body = msg.body_text(0).unwrap_or_default();
        let shown = || format!("{} ({to}):\n{subject}\n{body}", path.display());
        assert!(subject.contains(want.brand_name), "brand: {}", shown());
        if want.ja {
            assert!(
                subject.starts_with("【重要】個人情報流出のおそれに関するお知らせとお詫び"),
                "subject: {}",
                shown()
            );
            assert!(
                body.contains(&format!("電話番号:{}", want.hotline)),
                "hotline: {}",
                shown()
            );
            assert!(
                body.contains(&format!("受付番号:{}", want.reference)),
                "受付番号: {}",
                shown()
            );
            assert!(
                body.contains(&format!("試験 太郎{i} 様")),
                "name: {}",
                shown()
            );
        } else {
            assert!(subject.starts_with("Important: notice"), "{}", shown());
            assert!(
                body.contains(&format!("Phone: {}", want.hotline)),
                "hotline: {}",
                shown()
            );
            assert!(
                body.contains(&format!("Reference: {}", want.reference)),
                "reference: {}",
                shown()
            );
        }
        assert!(!body.contains("http"), "no link: {}", shown());
        assert_eq!(
            msg.message_id(),
            Some(message_ids[&want.id].as_str()),
            "{}",
            shown()
        );
        assert!(
            seen.insert(i, path.clone()).is_none(),
            "{to} got two messages"
        );
    }
    assert_eq!(seen.len(), N);
    assert_eq!(
        seen.keys().copied().collect::<Vec<_>>(),
        (1..=N).collect::<Vec<_>>()
    );

    // A second run finds nothing to do.
    let again = c.run(&["send", "--smtp", &sink.url(), "--rate", "0", "-q"]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    assert_eq!(sink.dumps().len(), N);
}

/// DKIM signatures survive a real SMTP hop: messages signed by tsuchi (UTF-8 and ISO-2022-JP)
/// are dumped by smtp-sink and verified by an independent verifier (dkimpy).
#[test]
#[ignore = "needs Postfix's smtp-sink and python3 with dkimpy (run by .ci/run)"]
fn dkim_signatures_verify_after_passing_through_smtp_sink() {
    let dkimpy = std::process::Command::new("python3")
        .args(["-c", "import dkim"])
        .status()
        .is_ok_and(|s| s.success());
    if !dkimpy {
        assert!(std::env::var_os("CI").is_none(), "CI must install dkimpy");
        eprintln!("SKIP: python3 cannot `import dkim` (pip install dkimpy)");
        return;
    }
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let key = repo.join("tests/data/dkim/test-rsa-pkcs1.pem");
    let txt = std::fs::read_to_string(repo.join("tests/data/dkim/test-rsa.txt")).unwrap();
    let script = repo.join("tests/scripts/dkim_verify.py");
    for charset in ["utf-8", "iso-2022-jp"] {
        const N: usize = 6;
        let sink = SmtpSink::start();
        let c = TestCampaign::new(N, |cfg| {
            cfg.set("charset = \"utf-8\"", &format!("charset = \"{charset}\""))
                + &format!(
                    "\n[dkim]\ndomain = \"kaede-travel.example\"\nselector = \"test\"\nkey_file = \"{}\"\n",
                    key.display()
                )
        });
        let out = c
            .command(&["send", "--smtp", &sink.url(), "--rate", "0", "-q"])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{charset}: {}", text(&out));
        let dumps = sink.wait_for_dumps(N, Duration::from_secs(10));
        assert_eq!(dumps.len(), N);
        for path in &dumps {
            let raw = std::fs::read(path).unwrap();
            assert!(
                String::from_utf8_lossy(&raw).contains("DKIM-Signature:"),
                "{}: not signed",
                path.display()
            );
            let verify = std::process::Command::new("python3")
                .arg(&script)
                .arg(path)
                .arg(txt.trim())
                .output()
                .unwrap();
            assert!(
                verify.status.success(),
                "{charset} {}: {}{}",
                path.display(),
                String::from_utf8_lossy(&verify.stdout),
                String::from_utf8_lossy(&verify.stderr)
            );
        }
    }
}
