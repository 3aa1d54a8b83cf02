//! The campaign is not over when `send` ends: bounces arrive. A small campaign is sent to a
//! loopback relay, part of it bounces (standard DSNs with quoted headers, one matched only by
//! VERP, a delayed one, an auto-reply, a DSN for someone else's message, a truncated message),
//! and `bounces`, `status`, `report --unreached` and `report --summary` must agree.

use std::collections::BTreeMap;

use crate::support::campaign::{ConfigEdit, HEADER, TestCampaign, text};
use crate::support::smtp_server::{Script, SmtpServer};

pub(crate) fn dsn(
    to: &str,
    final_rcpt: &str,
    action: &str,
    status: &str,
    quoted_message_id: Option<&str>,
) -> String {
    let quoted = match quoted_message_id {
        Some(mid) => format!(
            "--B0UNCE\r\nContent-Description: Undelivered Message Headers\r\nContent-Type: text/rfc822-headers\r\n\r\n\
             Return-Path: <bounce@kaede-travel.example>\r\nFrom: notice@kaede-travel.example\r\nTo: {final_rcpt}\r\n\
             Subject: =?utf-8?b?44CQ6YeN6KaB44CR?=\r\nMessage-ID: <{mid}>\r\n\r\n"
        ),
        None => String::new(),
    };
    let code = if status.starts_with('5') {
        "550"
    } else {
        "451"
    };
    format!(
        "Return-Path: <>\r\nDelivered-To: {to}\r\nX-Original-To: {to}\r\nFrom: MAILER-DAEMON@relay.example.jp (Mail Delivery System)\r\n\
         To: {to}\r\nSubject: Undelivered Mail Returned to Sender\r\nAuto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"B0UNCE\"\r\n\r\n\
         --B0UNCE\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nI'm sorry to have to inform you that your message could not be delivered.\r\n\r\n\
         --B0UNCE\r\nContent-Description: Delivery report\r\nContent-Type: message/delivery-status\r\n\r\n\
         Reporting-MTA: dns; relay.example.jp\r\nArrival-Date: Wed, 25 Nov 2026 09:00:00 +0900\r\n\r\n\
         Final-Recipient: rfc822; {final_rcpt}\r\nOriginal-Recipient: rfc822;{final_rcpt}\r\nAction: {action}\r\nStatus: {status}\r\n\
         Remote-MTA: dns; mx.example.jp\r\nDiagnostic-Code: smtp; {code} {status} <{final_rcpt}>: Recipient address rejected: User unknown\r\n\r\n\
         {quoted}--B0UNCE--\r\n"
    )
}

pub(crate) fn mbox(messages: &[String]) -> String {
    messages
        .iter()
        .map(|m| {
            format!(
                "From MAILER-DAEMON Wed Nov 25 09:00:00 2026\n{}\n",
                m.replace("\r\n", "\n")
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn bounces_status_and_unreached_report_agree() {
    // Ten recipients, VERP on, and one invalid row that is never sent.
    let mut csv = format!("{HEADER},postal_address\n");
    for i in 1..=10 {
        csv.push_str(&format!(
            "{},東京都千代田区{i}-1\n",
            crate::support::campaign::row(i)
        ));
    }
    csv.push_str("C000011,not-an-address,試験,kaede,ja,1,0,0,1,0,0,0,0,0,大阪府大阪市11-1\n");
    let c = TestCampaign::with_list(&csv, |c| c.set("verp = false", "verp = true"));
    let server = SmtpServer::start(Script::new()).await;
    let url = server.url();
    let cmd = c.command(&["send", "--smtp", &url, "--rate", "0", "-q"]);
    let mut cmd = cmd;
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "one invalid row: {}",
        text(&out)
    );
    let received: BTreeMap<String, (String, String)> = server
        .received()
        .into_iter()
        .map(|r| {
            (
                r.recipients[0].clone(),
                (r.message_id.unwrap(), r.envelope_from),
            )
        })
        .collect();
    assert_eq!(received.len(), 10);
    let (mid1, _) = &received["user1@example.jp"];
    let (_, verp2) = &received["user2@example.jp"];
    let (mid3, _) = &received["user3@example.jp"];
    assert!(
        verp2.starts_with("bounce+") && verp2.ends_with("@kaede-travel.example"),
        "{verp2}"
    );

    let messages = [
        // 1. A standard DSN quoting the original headers.
        dsn("bounce@kaede-travel.example", "user1@example.jp", "failed", "5.1.1", Some(mid1)),
        // 2. A DSN that quotes nothing: only the VERP address it was sent to names user2.
        dsn(verp2, "someone-else@forwarder.example.jp", "failed", "5.2.2", None),
        // 3. A delay notice for user3: still counted as sent.
        dsn("bounce@kaede-travel.example", "user3@example.jp", "delayed", "4.4.7", Some(mid3)),
        // 4. An auto-reply (不在通知).
        "From: user4@example.jp\r\nTo: bounce@kaede-travel.example\r\nSubject: =?UTF-8?B?5LiN5Zyo6YCa55+l?=\r\nAuto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nOut of office.\r\n".to_string(),
        // 5. A DSN for a message that is not ours.
        dsn("bounce@kaede-travel.example", "stranger@example.org", "failed", "5.1.1", Some("other@elsewhere.example")),
        // 6. A truncated message.
        "From: MAILER-DAEMON@relay.example.jp\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"X\"\r\n\r\n--X\r\nContent-Type: message/deliv".to_string(),
    ];
    let mbox_path = c.path("bounces.mbox");
    std::fs::write(&mbox_path, mbox(&messages[..4])).unwrap();
    // The rest arrive in a Maildir.
    let maildir = c.path("Maildir");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(maildir.join(sub)).unwrap();
    }
    std::fs::write(maildir.join("new/1700000000.1.host"), &messages[4]).unwrap();
    std::fs::write(maildir.join("new/1700000000.2.host"), &messages[5]).unwrap();

    let bounces = |c: &TestCampaign| {
        c.run(&[
            "bounces",
            c.path("bounces.mbox").to_str().unwrap(),
            c.path("Maildir").to_str().unwrap(),
        ])
    };
    let out = bounces(&c);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let s = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(s.contains("         6  messages read"), "{s}");
    assert!(s.contains("         2  bounced (recorded now)"), "{s}");
    assert!(s.contains("         1  delayed (recorded now"), "{s}");
    assert!(s.contains("         1  DSNs for no recipient"), "{s}");
    assert!(s.contains("ignored: auto-reply"), "{s}");
    let journal_after_first = std::fs::read_to_string(c.journal()).unwrap();

    // Reading the same mailboxes again changes nothing.
    let out = bounces(&c);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("         3  already recorded"),
        "{}",
        text(&out)
    );
    assert_eq!(
        std::fs::read_to_string(c.journal()).unwrap(),
        journal_after_first
    );
    assert!(
        !journal_after_first.contains("user1@example.jp"),
        "no address in the journal"
    );

    let status = String::from_utf8_lossy(&c.run(&["status"]).stdout).to_string();
    assert!(
        status.contains("bounced") && status.contains("bounced 550 5.1.1"),
        "{status}"
    );

    // The unreached export: the two bounces and the invalid row, with the postal address.
    let out = c.run(&[
        "report",
        "--unreached",
        "--format",
        "csv",
        "--columns",
        "postal_address",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let csv_out = String::from_utf8_lossy(&out.stdout).to_string();
    let lines: Vec<&str> = csv_out.lines().collect();
    // A BOM first, so that Excel reads the file as UTF-8.
    assert_eq!(
        lines[0],
        "\u{feff}id,reference,category,detail,time,postal_address"
    );
    assert_eq!(lines.len(), 4, "{csv_out}");
    assert!(lines.iter().any(|l| l.starts_with("C000001,")
        && l.contains(",bounced,")
        && l.ends_with("東京都千代田区1-1")));
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("C000002,") && l.contains(",bounced,"))
    );
    assert!(lines.iter().any(|l| l.starts_with("C000011,")
        && l.contains(",invalid,")
        && l.ends_with("大阪府大阪市11-1")));

    // The summary counts everyone exactly once.
    let out = c.run(&["report", "--summary"]);
    let summary = String::from_utf8_lossy(&out.stdout).to_string();
    let figure = |label: &str| -> u64 {
        let line = summary
            .lines()
            .find(|l| l.contains(label))
            .unwrap_or_else(|| panic!("{label}: {summary}"));
        line.split_whitespace()
            .last()
            .unwrap()
            .replace(',', "")
            .parse()
            .unwrap()
    };
    assert_eq!(figure("people in the list"), 11);
    assert_eq!(figure("notified by e-mail"), 8);
    assert_eq!(figure("of which delivery delayed"), 1);
    assert_eq!(figure("not reachable by e-mail"), 3);
    assert_eq!(figure("(bounced)"), 2);
    assert_eq!(figure("(invalid row in the list)"), 1);
    assert_eq!(figure("not sent yet"), 0);
    assert!(!summary.contains("warning"), "{summary}");
}
