//! A second wave end to end: wave 1 is sent over loopback SMTP and one notice bounces; wave 2
//! follows it with a list where people are new, have fields added or withdrawn, are
//! unchanged, or were not reached; `check` classifies each, `send` mails exactly the chosen
//! classes, each notice (parsed with mail-parser) states the right added and corrected fields,
//! and `report --summary` across both waves counts every person once.

use std::collections::BTreeMap;
use std::path::Path;

use crate::support::campaign::{ConfigEdit, HEADER, TestCampaign, send_args, text};
use crate::support::smtp_server::{Script, SmtpServer};

/// A row of the full header: id, e-mail, brand, locale and the keys of the leaked fields.
fn person(id: &str, email: &str, brand: &str, locale: &str, leaked: &[&str]) -> String {
    const KEYS: [&str; 9] = [
        "name",
        "gender",
        "birth_date",
        "email",
        "address",
        "postal_code",
        "phone",
        "passport_number",
        "passport_issue_date",
    ];
    let flags: Vec<&str> = KEYS
        .iter()
        .map(|k| if leaked.contains(k) { "1" } else { "0" })
        .collect();
    format!(
        "{id},{email},試験 花子,{brand},{locale},{}\n",
        flags.join(",")
    )
}

fn list(rows: &[String]) -> String {
    format!("{HEADER}\n{}", rows.concat())
}

/// A standard DSN for `rcpt`, quoting the original's Message-ID.
fn dsn(rcpt: &str, message_id: &str) -> String {
    format!(
        "From MAILER-DAEMON Wed Nov 25 09:00:00 2026\n\
         Return-Path: <>\nFrom: MAILER-DAEMON@relay.example.jp\nTo: bounce@kaede-travel.example\n\
         Subject: Undelivered Mail Returned to Sender\nMIME-Version: 1.0\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\n\n\
         --B\nContent-Type: text/plain\n\nUndeliverable.\n\n\
         --B\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; relay.example.jp\n\n\
         Final-Recipient: rfc822; {rcpt}\nAction: failed\nStatus: 5.1.1\n\
         Diagnostic-Code: smtp; 550 5.1.1 user unknown\n\n\
         --B\nContent-Type: text/rfc822-headers\n\nMessage-ID: {message_id}\nTo: {rcpt}\n\n--B--\n"
    )
}

/// The numbered items of the section under `heading` (a line starting with it), up to the
/// next heading (`■ …` or `[…]`): `(1)生年月日` → `生年月日`.
fn items_under(body: &str, heading: &str) -> Option<Vec<String>> {
    let mut lines = body.lines().skip_while(|l| !l.starts_with(heading));
    lines.next()?;
    Some(
        lines
            .take_while(|l| !l.starts_with("■ ") && !l.starts_with('['))
            .filter_map(|l| {
                let rest = l.trim().strip_prefix('(')?;
                let (n, label) = rest.split_once(')')?;
                n.parse::<u32>().ok()?;
                Some(label.trim().to_string())
            })
            .collect(),
    )
}

/// The body of every received message, by envelope recipient, decoded by mail-parser.
fn bodies(server: &SmtpServer) -> BTreeMap<String, String> {
    server
        .received()
        .into_iter()
        .map(|r| {
            let parsed = mail_parser::MessageParser::default()
                .parse(&r.data)
                .expect("a parsable message");
            let body = parsed.body_text(0).expect("a text body").into_owned();
            (r.recipients[0].clone(), body)
        })
        .collect()
}

fn copy_follow_up_templates(to: &Path) {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/follow_up");
    for locale in ["ja", "en"] {
        for part in ["subject.tera", "body.tera"] {
            std::fs::copy(
                repo.join(locale).join(part),
                to.join("templates").join(locale).join(part),
            )
            .unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_wave_mails_exactly_the_people_whose_situation_changed() {
    // Wave 1: seven valid rows and one invalid address.
    let wave1 = list(&[
        person("C1", "a1@example.jp", "kaede", "ja", &["name", "email"]),
        person("C2", "a2@example.jp", "kaede", "ja", &["name", "email"]),
        person(
            "C3",
            "a3@example.jp",
            "hoshizora",
            "en",
            &["name", "email", "phone"],
        ),
        person(
            "C4",
            "a4@example.jp",
            "kaede",
            "ja",
            &["name", "email", "address"],
        ),
        person("C5", "a5@example.jp", "umineko", "ja", &["name", "email"]),
        person("C6", "a6@example.jp", "kaede", "ja", &["name"]),
        person("C7", "a7@example.jp", "kaede", "ja", &["name"]),
        person("C8", "not-an-address", "kaede", "ja", &["name"]),
    ]);
    let c1 = TestCampaign::with_list(&wave1, |c| c);
    let server1 = SmtpServer::start(Script::new()).await;
    let out = send(&c1, &server1.url()).await;
    assert_eq!(
        out.status.code(),
        Some(3),
        "one invalid row: {}",
        text(&out)
    );
    assert_eq!(server1.received_count(), 7);
    let mid4 = server1
        .received()
        .into_iter()
        .find(|r| r.recipients[0] == "a4@example.jp")
        .and_then(|r| r.message_id)
        .unwrap();
    std::fs::write(c1.path("bounces.mbox"), dsn("a4@example.jp", &mid4)).unwrap();
    let out = c1.run(&["bounces", c1.path("bounces.mbox").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("1  bounced (recorded now)"),
        "{}",
        text(&out)
    );

    // Wave 2: C1 unchanged; C2 one field more; C3 one field withdrawn; C4 bounced before;
    // C5 one more and one withdrawn; C6 nothing leaked after all; C7 gone; C8 refused
    // before, now with an address; C9 new; C10 new, under another brand with C1's address.
    let wave2 = list(&[
        person("C1", "a1@example.jp", "kaede", "ja", &["name", "email"]),
        person(
            "C2",
            "a2@example.jp",
            "kaede",
            "ja",
            &["name", "email", "birth_date"],
        ),
        person("C3", "a3@example.jp", "hoshizora", "en", &["name", "email"]),
        person(
            "C4",
            "a4@example.jp",
            "kaede",
            "ja",
            &["name", "email", "address"],
        ),
        person(
            "C5",
            "a5@example.jp",
            "umineko",
            "ja",
            &["name", "birth_date"],
        ),
        person("C6", "a6@example.jp", "kaede", "ja", &[]),
        person("C8", "a8@example.jp", "kaede", "ja", &["name"]),
        person("C9", "a9@example.jp", "hoshizora", "ja", &["name", "phone"]),
        person("C10", "A1@Example.JP", "umineko", "ja", &["name", "email"]),
    ]);
    let follows = format!(
        "case_sensitive_local_part = false\nfollows = {{ campaign = \"kaede-2026-11\", state_dir = \"{}\", recipients = \"{}\" }}",
        c1.state_dir().display(),
        c1.path("list.csv").display()
    );
    let c2 = TestCampaign::with_list(&wave2, |c| {
        c.set("id = \"kaede-2026-11\"", "id = \"kaede-2026-12-followup\"")
            .set("case_sensitive_local_part = false", &follows)
    });
    copy_follow_up_templates(c2.dir.path());

    let out = c2.run(&["check"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let check = String::from_utf8_lossy(&out.stdout).to_string();
    let class = |name: &str| -> (u64, String) {
        let line = check
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no class {name}: {check}"));
        let parts: Vec<&str> = line.split_whitespace().collect();
        (parts[1].parse().unwrap(), parts[2].to_string())
    };
    assert!(
        check.contains("follow-up of campaign kaede-2026-11"),
        "{check}"
    );
    assert_eq!(class("new"), (2, "sent".into()), "{check}");
    assert_eq!(class("added"), (2, "sent".into()), "{check}");
    assert_eq!(class("corrected"), (2, "sent".into()), "{check}");
    assert_eq!(class("unchanged"), (1, "skipped".into()), "{check}");
    assert_eq!(class("not_reached"), (2, "sent".into()), "{check}");

    // The review: a group per brand × locale × passport passage × follow-up class mailed,
    // each sample stating its own change; nothing for the unchanged, who get no notice.
    let out = c2.run(&["preview", "--out", c2.path("preview").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let files: Vec<String> = std::fs::read_dir(c2.path("preview"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|f| f.ends_with(".eml"))
        .collect();
    let group = |code: &str| -> String {
        let file = files
            .iter()
            .find(|f| f.contains(&format!("-{code}-")))
            .unwrap_or_else(|| panic!("no group {code}: {files:?}"));
        let raw = std::fs::read(c2.path("preview").join(file)).unwrap();
        let parsed = mail_parser::MessageParser::default().parse(&raw).unwrap();
        parsed.body_text(0).unwrap().into_owned()
    };
    // C4 and C8, not reached before, read the same apart from their list: one group.
    assert_eq!(files.len(), 7, "{files:?}");
    assert!(
        files
            .iter()
            .any(|f| f.ends_with("-kaede-ja-nopassport-not_reached-2people.eml")),
        "{files:?}"
    );
    assert!(!files.iter().any(|f| f.contains("unchanged")), "{files:?}");
    let sample = group("kaede-ja-nopassport-added");
    assert_eq!(
        items_under(&sample, "■ 新たに流出したおそれがあるとわかった情報"),
        Some(vec!["生年月日".into()]),
        "{sample}"
    );
    let sample = group("hoshizora-en-nopassport-corrected");
    assert_eq!(
        items_under(
            &sample,
            "[Correction: data confirmed not to have been leaked]"
        ),
        Some(vec!["Phone number".into()]),
        "{sample}"
    );
    assert!(group("kaede-ja-nopassport-not_reached").contains("■ 概要"));
    let page = std::fs::read_to_string(c2.path("preview/index.html")).unwrap();
    assert!(
        page.contains("続報の種類"),
        "the page shows the follow-up class"
    );

    // The relay now refuses C4's address: not reachable in either wave.
    let server2 =
        SmtpServer::start(Script::new().reject_recipient("a4@", 550, "5.1.1", "no such user"))
            .await;
    let out = send(&c2, &server2.url()).await;
    assert_eq!(
        out.status.code(),
        Some(3),
        "one refused address: {}",
        text(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("1  skipped by campaign.follow_up.send_to"),
        "{}",
        text(&out)
    );
    let bodies = bodies(&server2);
    let mailed: Vec<&str> = bodies.keys().map(String::as_str).collect();
    assert_eq!(
        mailed,
        [
            "A1@Example.JP",
            "a2@example.jp",
            "a3@example.jp",
            "a5@example.jp",
            "a6@example.jp",
            "a8@example.jp",
            "a9@example.jp"
        ],
        "everyone but the unchanged C1 (and C4, refused by the relay)"
    );

    let added_ja = "■ 新たに流出したおそれがあるとわかった情報";
    let corrected_ja = "■ 訂正:流出していなかったことを確認した情報";
    let b = &bodies["a2@example.jp"];
    assert_eq!(
        items_under(b, added_ja),
        Some(vec!["生年月日".into()]),
        "{b}"
    );
    assert_eq!(items_under(b, corrected_ja), None, "{b}");
    assert!(
        b.lines().any(|l| l.len() > 10
            && l.as_bytes()[..10]
                .iter()
                .all(|c| c.is_ascii_digit() || *c == b'-')
            && l[10..].starts_with("にお送りしたお知らせ")),
        "the earlier notice's date: {b}"
    );
    let b = &bodies["a3@example.jp"];
    assert_eq!(
        items_under(b, "[Correction: data confirmed not to have been leaked]"),
        Some(vec!["Phone number".into()]),
        "{b}"
    );
    assert_eq!(items_under(b, "[Data now found"), None, "{b}");
    let b = &bodies["a5@example.jp"];
    assert_eq!(
        items_under(b, added_ja),
        Some(vec!["生年月日".into()]),
        "{b}"
    );
    assert_eq!(
        items_under(b, corrected_ja),
        Some(vec!["(本メールを受信された)メールアドレス".into()]),
        "{b}"
    );
    // Wrapped at about 35 characters: compare without the line breaks.
    let unwrapped =
        |to: &str| -> String { bodies[to].chars().filter(|c| !c.is_whitespace()).collect() };
    let b = &bodies["a6@example.jp"];
    assert_eq!(
        items_under(b, corrected_ja),
        Some(vec!["氏名".into()]),
        "{b}"
    );
    assert!(
        b.contains("お客様の情報は流出していなかったことを確認いたしました"),
        "{b}"
    );
    for new_or_unreached in ["a8@example.jp", "a9@example.jp", "A1@Example.JP"] {
        let b = &bodies[new_or_unreached];
        assert_eq!(items_under(b, added_ja), None, "{b}");
        assert_eq!(items_under(b, corrected_ja), None, "{b}");
        assert!(b.contains("■ 概要"), "a full notice: {b}");
    }
    assert!(
        unwrapped("a8@example.jp").contains("先にお送りしたお知らせがお客様に届かなかったため")
    );
    assert!(!unwrapped("a9@example.jp").contains("届かなかった"));

    // The unchanged person is journaled as skipped with the reason, no personal data.
    let journal =
        std::fs::read_to_string(c2.state_dir().join("kaede-2026-12-followup.journal.jsonl"))
            .unwrap();
    let skipped: Vec<&str> = journal
        .lines()
        .filter(|l| l.contains("\"skipped\""))
        .collect();
    assert_eq!(skipped.len(), 1, "{journal}");
    assert!(skipped[0].contains("\"id\":\"C1\""), "{}", skipped[0]);
    assert!(
        skipped[0].contains("follow-up: unchanged"),
        "{}",
        skipped[0]
    );
    assert!(!journal.contains("example.jp") && !journal.contains("Example.JP"));

    // Resumed, it sends nobody again: skipped is done, not pending.
    let out = send(&c2, &server2.url()).await;
    assert_eq!(server2.received_count(), 7, "{}", text(&out));
    let status = String::from_utf8_lossy(&c2.run(&["status"]).stdout).to_string();
    assert!(status.contains("skipped"), "{status}");

    // The hotline sees why C1 got no second notice.
    let out = c2.run(&["lookup", "C1"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("follow-up: unchanged since campaign kaede-2026-11"),
        "{}",
        text(&out)
    );

    // Those the follow-up did not reach: C4 only; C1, unchanged and reached by wave 1, is not
    // among them.
    let out = c2.run(&["report", "--unreached", "--format", "csv"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let unreached = String::from_utf8_lossy(&out.stdout).to_string();
    let rows: Vec<&str> = unreached.lines().skip(1).collect();
    assert_eq!(rows.len(), 1, "{unreached}");
    assert!(
        rows[0].starts_with("C4,") && rows[0].contains(",smtp_refused,"),
        "{unreached}"
    );

    // The summary across both waves: 17 records, 9 persons (C10 is C1; C8's refused row of
    // wave 1 is the C8 of wave 2), 8 notified, C4 not reachable (bounced, then refused).
    let out = c2.run(&["report", "--summary", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["waves"].as_array().unwrap().len(), 2, "{s}");
    assert_eq!(s["waves"][0]["campaign"], "kaede-2026-11");
    assert_eq!(s["waves"][0]["records"]["notified_by_email"], 6);
    assert_eq!(s["waves"][0]["records"]["bounced"], 1);
    assert_eq!(s["waves"][0]["records"]["invalid_row"], 1);
    assert_eq!(s["waves"][1]["records"]["notified_by_email"], 7);
    assert_eq!(s["waves"][1]["records"]["refused_by_server"], 1);
    assert_eq!(s["waves"][1]["records"]["not_mailed_by_choice"], 1);
    assert!(s["waves"][1]["first_notified_at"].is_string());
    assert_eq!(s["records"]["total"], 17);
    assert_eq!(s["persons"]["total"], 9, "{s}");
    assert_eq!(s["persons"]["notified_by_email"], 8, "{s}");
    assert_eq!(s["persons"]["not_reachable"], 1, "{s}");
    assert_eq!(s["persons"]["bounced"], 1, "{s}");
    assert_eq!(s["persons"]["invalid_row"], 0, "{s}");
    assert_eq!(s["persons"]["not_mailed_by_choice"], 0, "{s}");
    assert_eq!(s["ppc"]["persons_concerned"], 9);
    assert_eq!(s["ppc"]["notified"], 8);
    assert_eq!(s["ppc"]["not_reachable_public_announcement"], 1);
    assert!(!String::from_utf8_lossy(&out.stdout).contains("example.jp"));

    let out = c2.run(&["report", "--summary"]);
    let summary = String::from_utf8_lossy(&out.stdout).to_string();
    let figures = |label: &str| -> (u64, u64) {
        let line = summary
            .lines()
            .find(|l| l.contains(label))
            .unwrap_or_else(|| panic!("{label}: {summary}"));
        let n: Vec<u64> = line
            .split_whitespace()
            .rev()
            .take(2)
            .map(|n| n.replace(',', "").parse().unwrap())
            .collect();
        (n[1], n[0])
    };
    assert_eq!(figures("people in the list"), (17, 9), "{summary}");
    assert_eq!(figures("notified by e-mail"), (13, 8), "{summary}");
    assert_eq!(figures("not reachable by any channel"), (3, 1), "{summary}");
    assert_eq!(figures("not mailed: follow-up class"), (1, 0), "{summary}");
    assert!(!summary.contains("warning"), "{summary}");
    assert!(summary.contains("本人への対応の実施状況"), "{summary}");
    assert!(summary.contains("公表"), "{summary}");
}

/// `send` to the relay at `url`, on a blocking thread so the relay keeps serving.
async fn send(c: &TestCampaign, url: &str) -> std::process::Output {
    let args = send_args(url, &[]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    c.run_async(&args).await
}

#[tokio::test(flavor = "multi_thread")]
async fn an_earlier_row_this_config_refuses_stops_the_follow_up_naming_it() {
    let c1 = TestCampaign::with_list(
        &list(&[
            person("C1", "a1@example.jp", "kaede", "ja", &["name"]),
            person("C2", "a2@example.jp", "umineko", "ja", &["name"]),
        ]),
        |c| c,
    );
    let server = SmtpServer::start(Script::new()).await;
    let out = send(&c1, &server.url()).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let follows = format!(
        "case_sensitive_local_part = false\nfollows = {{ campaign = \"kaede-2026-11\", state_dir = \"{}\", recipients = \"{}\" }}",
        c1.state_dir().display(),
        c1.path("list.csv").display()
    );
    // The follow-up's config no longer has the brand C2 was sent under.
    let c2 = TestCampaign::with_list(
        &list(&[person(
            "C1",
            "a1@example.jp",
            "kaede",
            "ja",
            &["name", "phone"],
        )]),
        |c| {
            c.set("id = \"kaede-2026-11\"", "id = \"kaede-2026-12-followup\"")
                .set("case_sensitive_local_part = false", &follows)
                .set("[brands.umineko]", "[brands.umineko_old]")
                .set("[brands.umineko.hotline]", "[brands.umineko_old.hotline]")
        },
    );
    copy_follow_up_templates(c2.dir.path());
    let out = c2.run(&["check"]);
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    let list1 = c1.path("list.csv").display().to_string();
    assert!(err.contains(&format!("{list1}:3: C2:")), "{err}");
    assert!(
        err.contains("campaign kaede-2026-11 sent this row"),
        "{err}"
    );
}
