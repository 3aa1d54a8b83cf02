//! Regressions: secrets in configuration and relay-URL errors, hotline config errors, the
//! `bounces` and `approve` exit codes and refusals, and references printed before the check
//! character changed.

use crate::support::campaign::{TestCampaign, text};

const SECRET: &str = "s3cr3t-PW";

fn all_output(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A config line that TOML cannot parse is located, never printed: it may hold a password.
#[test]
fn config_parse_errors_never_print_the_line() {
    for broken in [
        format!("smtp = \"smtp://u:{SECRET}@relay.example.jp:587"),
        format!("smtp = 'smtp://u:{SECRET}@relay.example.jp:587"),
        format!("smtp = smtp://u:{SECRET}@relay.example.jp:587"),
        format!("smtp = \"smtp://u:{SECRET}@relay.example.jp:587\" x"),
        format!("smtp = \"\"\"smtp://u:{SECRET}@relay.example.jp"),
        format!("smtp = [\"smtp://u:{SECRET}@relay.example.jp\"]"),
        format!("smtp = {{ url = \"smtp://u:{SECRET}@relay.example.jp\" }}"),
    ] {
        let c = TestCampaign::new(2, |config| {
            config.replace("smtp = \"smtp://127.0.0.1:2525\"", &broken)
        });
        let o = c.run(&["check"]);
        assert_ne!(o.status.code(), Some(0), "{broken}: {}", text(&o));
        let out = all_output(&o);
        assert!(!out.contains(SECRET), "{broken}: {out}");
        assert!(out.contains("config.toml"), "{broken}: {out}");
        assert!(out.contains("line "), "{broken}: {out}");
    }
}

/// A typo inside a hotline table is named, with its line, like every other config error.
#[test]
fn a_typo_in_a_hotline_table_names_the_key() {
    let c = TestCampaign::new(2, |config| {
        config.replacen("hours = \"9:00〜20:00\"", "hourz = \"9:00〜20:00\"", 1)
    });
    let o = c.run(&["check"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let out = all_output(&o);
    assert!(out.contains("hourz"), "{out}");
    assert!(!out.contains("untagged"), "{out}");
    // The number as a plain string still works, and so does a table without a typo.
    let c = TestCampaign::new(2, |config| {
        config.replacen(
            "[brands.kaede.hotline]\nnumber = \"0120-000-101\"",
            "hotline = \"0120-000-101\"\n[brands.kaede.unused]\nnumber = \"0\"",
            1,
        )
    });
    let o = c.run(&["check"]);
    assert!(!all_output(&o).contains("untagged"), "{}", text(&o));
}

/// A campaign with a journal: a dry run of three recipients, which journals in
/// `state/outbox`, the state directory `bounces` is then given.
fn sent_campaign() -> TestCampaign {
    let c = TestCampaign::new(3, |config| config);
    let o = c.run(&["send", "--dry-run", "-q"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    c
}

fn dry_run_state(c: &TestCampaign) -> std::path::PathBuf {
    c.state_dir().join("outbox")
}

fn bounces(c: &TestCampaign, paths: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_tsuchi"))
        .current_dir(c.dir.path())
        .arg("--config")
        .arg(c.path("config.toml"))
        .arg("--state-dir")
        .arg(dry_run_state(c))
        .arg("bounces")
        .args(paths)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn bounces_with_an_unreadable_path_does_not_exit_zero() {
    let c = sent_campaign();
    let o = bounces(&c, &["/nonexistent/bounces.mbox"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(
        all_output(&o).contains("/nonexistent/bounces.mbox"),
        "{}",
        text(&o)
    );
}

#[test]
fn bounces_while_another_run_holds_the_state_directory_is_refused() {
    let c = sent_campaign();
    let eml = c.path("one.eml");
    std::fs::write(&eml, "From: a@b.example\r\nSubject: hi\r\n\r\nhello\r\n").unwrap();
    let lock = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(dry_run_state(&c).join("lock"))
        .unwrap();
    lock.try_lock().unwrap();
    let o = bounces(&c, &[eml.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(5), "{}", text(&o));
    drop(lock);
    let o = bounces(&c, &[eml.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

/// Bidi overrides, isolates, zero-width and other invisible characters make a reviewer's name
/// read differently from what it is; the approval log must show who approved.
#[test]
fn approve_refuses_a_reviewer_name_with_invisible_or_bidi_characters() {
    let c = TestCampaign::new(2, |config| config);
    for name in [
        "Sato\u{202E}otaS",
        "佐藤\u{2067}花子\u{2069}",
        "Sato\u{200B}Hanako",
        "Sato\u{200F}",
        "Sato\u{061C}",
        "Sato\u{FEFF}",
        "Sato\u{2028}Hanako",
        "Sato\u{E0041}",
    ] {
        let o = c.run(&["approve", "--reviewer", name]);
        assert_eq!(o.status.code(), Some(2), "{name:?}: {}", text(&o));
    }
    assert!(
        !c.state_dir().join("approvals.jsonl").exists() || {
            let log = std::fs::read_to_string(c.state_dir().join("approvals.jsonl")).unwrap();
            !log.contains("Sato")
        }
    );
    let o = c.run(&["approve", "--reviewer", "渡邉\u{E0100} 花子"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

/// A message far larger than any bounce is skipped with a counted warning; memory does not
/// follow it, and neither does `/dev/zero`.
#[test]
fn oversized_messages_are_skipped_with_a_warning() {
    let c = sent_campaign();
    let big = c.path("big.eml");
    let mut raw = b"From: a@b.example\r\nSubject: big\r\n\r\n".to_vec();
    raw.resize(11 * 1024 * 1024, b'x');
    std::fs::write(&big, &raw).unwrap();
    let mbox = c.path("big.mbox");
    let mut m = b"From MAILER-DAEMON Thu Jan  1 00:00:00 2026\n".to_vec();
    m.extend_from_slice(&raw);
    m.extend_from_slice(b"\nFrom MAILER-DAEMON Thu Jan  1 00:00:00 2026\nSubject: small\n\nhi\n");
    std::fs::write(&mbox, &m).unwrap();
    let o = bounces(
        &c,
        &[big.to_str().unwrap(), mbox.to_str().unwrap(), "/dev/zero"],
    );
    let out = all_output(&o);
    assert_eq!(o.status.code(), Some(3), "{out}");
    assert!(out.contains("larger than"), "{out}");
    // Three skipped (the file, the first mbox message, /dev/zero); the small message after
    // the big one in the mbox is still read.
    assert!(
        out.contains("big.mbox#1: message larger than 10 MiB"),
        "{out}"
    );
    assert!(out.contains("big.eml: message larger than 10 MiB"), "{out}");
    assert!(
        out.contains("/dev/zero: message larger than 10 MiB"),
        "{out}"
    );
    let summary = |what: &str| {
        out.lines()
            .find(|l| l.contains(what))
            .and_then(|l| l.split_whitespace().next())
            .map(str::to_string)
    };
    assert_eq!(summary("unreadable").as_deref(), Some("3"), "{out}");
}
