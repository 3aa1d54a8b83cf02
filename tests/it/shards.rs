//! `--shard K/N`: N hosts with their own state directories cover the list exactly once, and
//! `status`/`report` merge their journals, flagging a recipient recorded in two of them.

use std::collections::BTreeMap;

use crate::support::campaign::{TestCampaign, text};
use crate::support::smtp_server::{Script, SmtpServer};

fn figure(out: &str, label: &str) -> u64 {
    let line = out
        .lines()
        .find(|l| l.trim_start().starts_with(label))
        .unwrap_or_else(|| panic!("{label}: {out}"));
    line.split_whitespace().last().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn shards_are_disjoint_cover_the_list_and_merge_in_status() {
    let c = TestCampaign::new(60, |c| c);
    // check: the shards' counts add up to the whole list.
    let mut ready = 0;
    for k in 1..=3 {
        let out = c.run(&["check", "--shard", &format!("{k}/3")]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        ready += figure(&String::from_utf8_lossy(&out.stdout), "ready to send");
    }
    assert_eq!(ready, 60);

    // send: three "hosts", each with its own state directory.
    let server = SmtpServer::start(Script::new()).await;
    let url = server.url();
    let dirs: Vec<String> = (1..=3)
        .map(|k| c.path(&format!("host{k}")).display().to_string())
        .collect();
    for (k, dir) in dirs.iter().enumerate() {
        let shard = format!("{}/3", k + 1);
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_tsuchi"));
        cmd.current_dir(c.dir.path())
            .args([
                "--config",
                c.path("config.toml").to_str().unwrap(),
                "--state-dir",
                dir,
                "--shard",
                &shard,
            ])
            .args(["send", "--smtp", &url, "--rate", "0", "-q"]);
        let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "shard {shard}: {}", text(&out));
    }
    let mut per_rcpt: BTreeMap<String, usize> = BTreeMap::new();
    for r in server.received() {
        *per_rcpt.entry(r.recipients[0].clone()).or_default() += 1;
    }
    assert_eq!(per_rcpt.len(), 60, "every recipient reached");
    assert!(
        per_rcpt.values().all(|&n| n == 1),
        "no recipient in two shards"
    );

    // status over the three journals equals the sum.
    let status = |dirs: &[String]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_tsuchi"));
        cmd.current_dir(c.dir.path())
            .args(["--config", c.path("config.toml").to_str().unwrap()]);
        for d in dirs {
            cmd.args(["--state-dir", d]);
        }
        cmd.arg("status");
        cmd.output().unwrap()
    };
    let mut sum = 0;
    for d in &dirs {
        let out = status(std::slice::from_ref(d));
        sum += figure(&String::from_utf8_lossy(&out.stdout), "sent");
    }
    assert_eq!(sum, 60);
    let merged = status(&dirs);
    assert_eq!(merged.status.code(), Some(0), "{}", text(&merged));
    let m = String::from_utf8_lossy(&merged.stdout).to_string();
    assert_eq!(figure(&m, "sent"), 60, "{m}");
    assert_eq!(figure(&m, "pending"), 0, "{m}");
    assert!(m.contains("merged from 3 journals"), "{m}");
    assert!(!m.contains("two shards"), "{m}");

    // A shard sent twice from two hosts is flagged when the journals are merged.
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_tsuchi"));
    cmd.current_dir(c.dir.path())
        .args([
            "--config",
            c.path("config.toml").to_str().unwrap(),
            "--state-dir",
            &dirs[1],
            "--shard",
            "1/3",
        ])
        .args(["send", "--smtp", &url, "--rate", "0", "-q"]);
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let merged = String::from_utf8_lossy(&status(&dirs).stdout).to_string();
    assert!(
        merged.contains("recorded in two shards' journals"),
        "{merged}"
    );
}
