//! Legal's approval gates a real send: refused without it, refused after a template edit or a
//! hotline change (naming each), allowed after re-approval; a dry run never needs it.

use std::time::Duration;

use crate::support::campaign::{ConfigEdit, TestCampaign, send_args, text};
use crate::support::smtp_server::{Script, SmtpServer};

fn gated() -> TestCampaign {
    TestCampaign::new(5, |c| {
        c.set("require_approval = false", "require_approval = true")
    })
}

async fn run(c: &TestCampaign, args: Vec<String>) -> std::process::Output {
    let mut cmd = c.command(&args.iter().map(String::as_str).collect::<Vec<_>>());
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

fn send(server: &SmtpServer) -> Vec<String> {
    send_args(&server.url(), &[])
}

fn approve(who: &str) -> Vec<String> {
    vec![
        "approve".into(),
        "--reviewer".into(),
        who.into(),
        "--note".into(),
        "v1".into(),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn a_real_send_needs_an_approval_of_exactly_what_is_sent() {
    let c = gated();
    let server = SmtpServer::start(Script::new()).await;

    let out = run(&c, send(&server)).await;
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no approval on record"),
        "{}",
        text(&out)
    );
    assert_eq!(server.received_count(), 0);

    // A dry run never needs approval.
    let out = run(&c, vec!["send".into(), "--dry-run".into(), "-q".into()]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    let out = run(&c, approve("佐藤 法務部")).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    // A template edit after approval is named and stops the send.
    let body = c.path("templates/ja/body.tera");
    let original = std::fs::read_to_string(&body).unwrap();
    std::fs::write(
        &body,
        original
            .clone()
            .set("深くお詫び申し上げます", "お詫び申し上げます"),
    )
    .unwrap();
    let out = run(&c, send(&server)).await;
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ja/body.tera") && err.contains("佐藤 法務部"),
        "{err}"
    );
    std::fs::write(&body, &original).unwrap();

    // So does a hotline change, naming the brand's key.
    let config = std::fs::read_to_string(c.path("config.toml")).unwrap();
    std::fs::write(
        c.path("config.toml"),
        config.set("hours = \"10:00〜18:00\"", "hours = \"10:00〜17:00\""),
    )
    .unwrap();
    let out = run(&c, send(&server)).await;
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("brands.hoshizora"),
        "{}",
        text(&out)
    );
    assert_eq!(
        server.received_count(),
        0,
        "nothing is sent while the approval does not match"
    );

    // `status` shows the approval on record and that it no longer matches.
    let out = run(&c, vec!["status".into()]).await;
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("approval:"),
        "{}",
        text(&out)
    );

    // Re-approval lets it go, and the history keeps both approvals.
    let out = run(&c, approve("佐藤 法務部")).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = run(&c, send(&server)).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(server.wait_for_messages(5, Duration::from_secs(5)).await);
    let history = std::fs::read_to_string(c.state_dir().join("approvals.jsonl")).unwrap();
    assert_eq!(history.lines().count(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn preview_writes_a_review_page_and_owner_only_id_previews() {
    use std::os::unix::fs::PermissionsExt;
    let c = gated();
    let out = run(
        &c,
        vec![
            "preview".into(),
            "--out".into(),
            c.path("pv").display().to_string(),
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let page = std::fs::read_to_string(c.path("pv/index.html")).unwrap();
    assert!(page.contains("kaede-2026-11"));
    assert!(!page.contains("<script") && !page.contains("http:") && !page.contains("https:"));
    let emls: Vec<_> = std::fs::read_dir(c.path("pv"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".eml"))
        .collect();
    assert!(!emls.is_empty());
    for eml in &emls {
        assert!(
            page.contains(eml.as_str()),
            "{eml} not linked from the page"
        );
    }

    let out = run(
        &c,
        vec![
            "preview".into(),
            "--out".into(),
            c.path("ids").display().to_string(),
            "--id".into(),
            "C000002".into(),
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let mode = std::fs::metadata(c.path("ids/C000002.eml"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let dir_mode = std::fs::metadata(c.path("ids"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(dir_mode & 0o777, 0o700);
}

#[tokio::test(flavor = "multi_thread")]
async fn variant_previews_can_be_mailed_to_reviewers_apart_from_the_campaign() {
    let c = gated();
    let server = SmtpServer::start(Script::new()).await;
    let pv = c.path("pv").display().to_string();
    let out = run(
        &c,
        vec![
            "preview".into(),
            "--out".into(),
            pv.clone(),
            "--mail-to".into(),
            "legal@kaede-travel.example".into(),
            "cs@kaede-travel.example".into(),
            "--smtp".into(),
            server.url(),
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let variants = std::fs::read_dir(c.path("pv"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "eml")
        })
        .count();
    assert!(
        server
            .wait_for_messages(variants * 2, Duration::from_secs(10))
            .await
    );
    let received = server.received();
    assert_eq!(received.len(), variants * 2);
    for r in &received {
        let msg = mail_parser::MessageParser::default()
            .parse(&r.data[..])
            .unwrap();
        let subject = msg.subject().unwrap();
        assert!(
            subject.starts_with("[確認用 ") && subject.contains(&format!("/{variants}] ")),
            "{subject}"
        );
        assert!(r.recipients[0].ends_with("@kaede-travel.example"));
    }
    // Journaled apart: the campaign has no journal, the review sends have their own log.
    assert!(!c.journal().exists());
    let log = std::fs::read_to_string(c.state_dir().join("review-sends.jsonl")).unwrap();
    assert_eq!(log.lines().count(), variants * 2);
}
