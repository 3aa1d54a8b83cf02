//! Every message tsuchi writes, in both charsets and both locales, re-parsed by an independent
//! MIME parser (mail-parser): the decoded subject, sender and body are exactly the notice.

use std::path::Path;

use crate::support::campaign::{ConfigEdit, HEADER, TestCampaign, text};
use tsuchi::config::Config;
use tsuchi::ingest::{Encoding, RecipientReader, Row};
use tsuchi::render::{Person, Renderer};

fn list() -> String {
    let mut csv = format!("{HEADER}\n");
    for i in 1..=12 {
        csv.push_str(&crate::support::campaign::row(i));
        csv.push('\n');
    }
    // A name ISO-2022-JP cannot carry (髙 is an IBM extension, ① is NEC row 13).
    csv.push_str("C000013,taka@example.jp,髙橋 ①子,kaede,ja,1,0,0,1,0,0,0,0,0\n");
    csv.push_str("C000014,legacy..dots.@docomo.ne.jp,渡邊 凜,umineko,ja,1,1,1,1,0,0,0,1,1\n");
    csv
}

/// The notice each row should carry, rendered by the library.
fn expected(c: &TestCampaign) -> Vec<(String, String, String, String)> {
    let config = Config::load(&c.path("config.toml")).unwrap();
    let renderer = Renderer::new(&config).unwrap();
    RecipientReader::open(&c.path("list.csv"), &config, Encoding::Auto)
        .unwrap()
        .map(|row| match row.unwrap() {
            Row::Valid { recipient: r, .. } => {
                let n = renderer
                    .render(&Person {
                        id: &r.id,
                        name: &r.name,
                        brand: &r.brand,
                        locale: &r.locale,
                        leaked: r.leaked,
                    })
                    .unwrap();
                (r.id, r.email, n.subject, n.body)
            }
            Row::Invalid { .. } => panic!("sample rows are valid"),
        })
        .collect()
}

fn check_outbox(c: &TestCampaign, charset: &str) -> usize {
    let mut fallbacks = 0;
    for (id, email, subject, body) in expected(c) {
        let path = c.state_dir().join("outbox").join(format!("{id}.eml"));
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            bytes.windows(2).all(|w| w[1] != b'\n' || w[0] == b'\r'),
            "{id}: CRLF only"
        );
        assert!(
            bytes.split(|&b| b == b'\n').all(|l| l.len() <= 998),
            "{id}: line over 998 octets"
        );
        let msg = mail_parser::MessageParser::default().parse(&bytes).unwrap();
        assert_eq!(msg.subject(), Some(subject.as_str()), "{id}");
        let from = msg.from().unwrap().first().unwrap();
        assert_eq!(from.name(), Some("楓トラベル お客様窓口"));
        assert_eq!(from.address(), Some("notice@kaede-travel.example"));
        if email.starts_with('"') {
            // A legacy mobile address travels with a quoted local part (mail-parser reads the
            // quoted part as a display name, so look at the raw header).
            let raw = String::from_utf8_lossy(&bytes);
            assert!(raw.contains(&format!("\r\nTo: {email}\r\n")), "{id}: {raw}");
        } else {
            let to = msg
                .to()
                .unwrap()
                .first()
                .unwrap()
                .address()
                .unwrap()
                .to_string();
            assert_eq!(to, email, "{id}");
        }
        assert!(
            msg.message_id()
                .is_some_and(|m| m.ends_with("@kaede-travel.example"))
        );
        assert!(msg.date().is_some());
        let decoded = msg.body_text(0).unwrap().replace("\r\n", "\n");
        assert_eq!(decoded.trim_end(), body.trim_end(), "{id}: body");
        let content_type = String::from_utf8_lossy(&bytes).to_ascii_lowercase();
        let sent_in = if content_type.contains("charset=iso-2022-jp") {
            "iso-2022-jp"
        } else {
            "utf-8"
        };
        if sent_in != charset {
            fallbacks += 1;
        }
        if sent_in == "iso-2022-jp" {
            assert!(
                bytes.iter().all(|b| b.is_ascii()),
                "{id}: ISO-2022-JP messages are 7-bit"
            );
            assert!(content_type.contains("content-transfer-encoding: 7bit"));
        }
    }
    fallbacks
}

#[test]
fn utf8_messages_decode_to_the_exact_notice() {
    let c = TestCampaign::with_list(&list(), |c| c);
    let out = c.run(&["send", "--dry-run", "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(check_outbox(&c, "utf-8"), 0);
}

#[test]
fn iso_2022_jp_messages_decode_to_the_exact_notice_and_fall_back_only_when_needed() {
    let c = TestCampaign::with_list(&list(), |c| {
        c.set("charset = \"utf-8\"", "charset = \"iso-2022-jp\"")
    });
    let check = c.run(&["check"]);
    assert_eq!(check.status.code(), Some(0), "{}", text(&check));
    let report = String::from_utf8_lossy(&check.stdout);
    assert!(
        report.contains("iso-2022-jp fallback          1"),
        "{report}"
    );
    let out = c.run(&["send", "--dry-run", "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // Only 髙橋 ①子 needs UTF-8: the hotline hours' WAVE DASH is mapped deliberately.
    assert_eq!(check_outbox(&c, "iso-2022-jp"), 1);
}

#[test]
fn with_fallback_error_the_unencodable_row_is_refused() {
    let c = TestCampaign::with_list(&list(), |c| {
        c.set("charset = \"utf-8\"", "charset = \"iso-2022-jp\"")
            .set("fallback = \"utf-8\"", "fallback = \"error\"")
    });
    let check = c.run(&["check"]);
    assert_eq!(check.status.code(), Some(3), "{}", text(&check));
    let report = String::from_utf8_lossy(&check.stdout);
    assert!(
        report.contains("list.csv:14: C000013: cannot be written in ISO-2022-JP"),
        "{report}"
    );
    assert!(!report.contains("髙橋"), "the name is never echoed");
}

#[test]
fn the_sample_campaign_previews_parse_too() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tsuchi"))
        .current_dir(repo)
        .args(["preview", "--all", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let mut n = 0;
    for e in std::fs::read_dir(dir.path()).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "eml") {
            let bytes = std::fs::read(&p).unwrap();
            let msg = mail_parser::MessageParser::default().parse(&bytes).unwrap();
            let body = msg.body_text(0).unwrap();
            assert!(
                body.contains("受付番号") || body.contains("Reference"),
                "{}",
                p.display()
            );
            assert!(tsuchi::render::find_link(&body).is_none());
            n += 1;
        }
    }
    assert!(n >= 10, "one preview per variant of the sample list");
}
