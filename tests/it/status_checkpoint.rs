//! `status` and the reports from the journal's checkpoint plus its tail: the same answers as a
//! replay from the start, before and after the journal grows.

use crate::support::campaign::{HEADER, TestCampaign, row, send_args, text};
use crate::support::smtp_server::{Script, SmtpServer};

fn stdout(c: &TestCampaign, args: &[&str]) -> String {
    let out = c.run(args);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `status` and `report` as a replay from the start gives them: without the checkpoint and
/// the list's keys (which the call makes again).
fn from_the_start(c: &TestCampaign, args: &[&str]) -> String {
    for name in [
        "kaede-2026-11.journal.checkpoint",
        "kaede-2026-11.lookup-keys",
    ] {
        let _ = std::fs::remove_file(c.state_dir().join(name));
    }
    stdout(c, args)
}

#[tokio::test(flavor = "multi_thread")]
async fn status_and_report_from_the_checkpoint_equal_a_replay_from_the_start() {
    // 30 people, a third of them at docomo (a destination group of the sample config).
    let mut csv = format!("{HEADER}\n");
    for i in 1..=30 {
        let r = row(i);
        csv.push_str(&if i % 3 == 0 {
            r.replace("@example.jp", "@docomo.ne.jp")
        } else {
            r
        });
        csv.push('\n');
    }
    let c = TestCampaign::with_list(&csv, |c| c);
    let server = SmtpServer::start(
        Script::new()
            .reject_recipient("user2@", 550, "5.1.1", "no such user")
            .reject_recipient("user5@", 451, "4.3.0", "try later")
            .reject_recipient("user9@", 451, "4.2.2", "mailbox full"),
    )
    .await;
    let args = send_args(&server.url(), &[]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = c.run_async(&args).await;
    assert!(matches!(out.status.code(), Some(3 | 4)), "{}", text(&out));
    let checkpoint = c.state_dir().join("kaede-2026-11.journal.checkpoint");

    let first = from_the_start(&c, &["status"]);
    assert!(checkpoint.exists(), "status saved a checkpoint");
    for want in [
        "by destination group:",
        "docomo",
        "failures by reply:",
        "failed 550 5.1.1",
        "deferred 451 4.2.2",
        "failures by recipient domain:",
        "example.jp",
    ] {
        assert!(first.contains(want), "{want}: {first}");
    }
    // From the checkpoint (nothing new in the journal): the same.
    assert_eq!(stdout(&c, &["status"]), first);
    let report = stdout(&c, &["report"]);
    assert_eq!(from_the_start(&c, &["report"]), report);

    // The journal grows (the deferred rows are retried); the checkpoint covers the part
    // before, the tail is replayed.
    let out = c.run_async(&args).await;
    assert!(matches!(out.status.code(), Some(3 | 4)), "{}", text(&out));
    let after = stdout(&c, &["status"]);
    assert_ne!(after, first, "the second run shows");
    assert_eq!(from_the_start(&c, &["status"]), after);
    let report_after = stdout(&c, &["report"]);
    assert_ne!(report_after, report);
    assert_eq!(from_the_start(&c, &["report"]), report_after);
    assert_eq!(
        stdout(&c, &["report", "--unreached"]),
        from_the_start(&c, &["report", "--unreached"])
    );

    // A damaged checkpoint is passed over, with the same answers.
    let mut bytes = std::fs::read(&checkpoint).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&checkpoint, &bytes).unwrap();
    assert_eq!(stdout(&c, &["status"]), after);

    // Owner-only, and no name or address in it.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&checkpoint).unwrap().permissions().mode();
    assert_eq!(mode & 0o077, 0, "{mode:o}");
    let text = String::from_utf8_lossy(&std::fs::read(&checkpoint).unwrap()).into_owned();
    assert!(!text.contains("試験") && !text.contains("@example"));
}
