//! Hardening: secrets and personal data.
//!
//! * SMTP credentials come from the environment and are never printed — not when they are
//!   refused (no TLS), not when the relay cannot use them, not when someone puts them in the
//!   relay URL.
//! * Nothing tsuchi writes or prints after `check` — the send summary and progress, the
//!   journal, `status`, `report` (CSV, JSON, file), `lookup` — carries a name, an e-mail
//!   address, a phone number or a postal address from the list. Ids and reference numbers are
//!   fine: they are how the hotline finds a person.
//! * Plain SMTP goes to loopback only, unless `send.allow_insecure = true`.

use std::process::Output;
use std::time::Duration;

use crate::support::campaign::{ConfigEdit, HEADER, TestCampaign, text, wait_bounded};
use crate::support::smtp_server::{Script, SmtpServer};

const SECRET: &str = "hunter2-secret";
const RUN_LIMIT: Duration = Duration::from_secs(90);

/// Runs the binary with extra environment, killing it (by pid) after `RUN_LIMIT`.
async fn run_env(c: &TestCampaign, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = c.command(args);
    cmd.env_remove("TSUCHI_SMTP_PASSWORD_FILE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_bounded(child, RUN_LIMIT, &args.join(" ")).await
}

async fn run(c: &TestCampaign, args: &[&str]) -> Output {
    run_env(c, args, &[]).await
}

fn all_output(o: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn assert_no_secret(what: &str, o: &Output) {
    assert!(
        !all_output(o).contains(SECRET),
        "{what}: the password was printed: {}",
        text(o)
    );
}

// ---------------------------------------------------------------------------------------------
// Secrets

#[tokio::test(flavor = "multi_thread")]
async fn credentials_are_refused_without_tls_and_never_printed() {
    let c = TestCampaign::new(3, |c| c);
    let server = SmtpServer::start(Script::new()).await;
    let dir = tempfile::tempdir().unwrap();
    let password_file = dir.path().join("smtp-password");
    std::fs::write(&password_file, format!("{SECRET}\n")).unwrap();
    let password_file = password_file.to_str().unwrap().to_string();

    let by_value = [("TSUCHI_SMTP_USER", "u"), ("TSUCHI_SMTP_PASSWORD", SECRET)];
    let by_file = [
        ("TSUCHI_SMTP_USER", "u"),
        ("TSUCHI_SMTP_PASSWORD_FILE", password_file.as_str()),
    ];
    let loopback = server.url();
    let mut checked = 0;
    for (how, env) in [("password", &by_value[..]), ("password file", &by_file[..])] {
        for url in [loopback.as_str(), "smtp://relay.example.jp:25"] {
            let out = run_env(&c, &["send", "--smtp", url, "--rate", "0", "-q"], env).await;
            assert_eq!(out.status.code(), Some(2), "{how} {url}: {}", text(&out));
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                stderr.contains("refusing"),
                "{how} {url}: a clear refusal: {}",
                text(&out)
            );
            assert_no_secret(&format!("{how} {url}"), &out);
            checked += 1;
        }
    }
    assert_eq!(server.connections(), 0, "nothing was even tried");
    assert!(!c.journal().exists());
    println!("summary secrets_refused: {checked} refusals, password never printed");
}

#[tokio::test(flavor = "multi_thread")]
async fn credentials_the_relay_cannot_use_are_never_printed_or_journaled() {
    // allow_insecure: credentials may go over plain SMTP; the relay offers no AUTH, so the
    // session is refused at AUTH and the run stops as a relay error (exit 1) with nobody
    // marked failed. Nothing may show the password.
    let c = TestCampaign::new(3, |c| {
        c.set("allow_insecure = false", "allow_insecure = true")
            .set("max_attempts = 5", "max_attempts = 1")
            .set("outage_threshold = 20", "outage_threshold = 1000")
    });
    let server = SmtpServer::start(Script::new()).await;
    let env = [("TSUCHI_SMTP_USER", "u"), ("TSUCHI_SMTP_PASSWORD", SECRET)];
    let out = run_env(&c, &["send", "--smtp", &server.url(), "--rate", "0"], &env).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_no_secret("send", &out);
    assert_eq!(server.received_count(), 0);
    let journal = std::fs::read_to_string(c.journal()).unwrap();
    assert!(!journal.contains(SECRET));
    assert!(journal.contains("AUTH"), "the journal says why: {journal}");
    for args in [&["status"][..], &["report", "--format", "json"][..]] {
        let o = run(&c, args).await;
        assert_no_secret(&args.join(" "), &o);
    }
    assert!(
        server
            .transcript()
            .iter()
            .all(|(_, line)| !line.contains(SECRET))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_relay_url_with_credentials_is_refused_without_echoing_them() {
    let c = TestCampaign::new(3, |c| c);
    let server = SmtpServer::start(Script::new()).await;
    let hostport = server.addr().to_string();
    let urls = [
        format!("smtp://u:{SECRET}@{hostport}"),
        format!("smtps://u:{SECRET}@relay.example.jp"),
        format!("smtp://u:{SECRET}@relay.example.jp:587?tls=required"),
    ];
    for url in &urls {
        let out = run(&c, &["send", "--smtp", url, "--rate", "0", "-q"]).await;
        assert_eq!(out.status.code(), Some(2), "{url}: {}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("TSUCHI_SMTP_PASSWORD"),
            "{url}: says where credentials go: {}",
            text(&out)
        );
        assert_no_secret(url, &out);
    }
    // The same URL in the config file.
    let config = std::fs::read_to_string(c.path("config.toml")).unwrap();
    std::fs::write(
        c.path("config.toml"),
        config.set(
            "smtp = \"smtp://127.0.0.1:2525\"",
            &format!("smtp = \"smtp://u:{SECRET}@{hostport}\""),
        ),
    )
    .unwrap();
    let out = run(&c, &["send", "--rate", "0", "-q"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert_no_secret("config send.smtp", &out);
    assert_eq!(server.connections(), 0);
    println!(
        "summary url_credentials: {} URLs refused, password never printed",
        urls.len() + 1
    );
}

/// A mistyped relay URL — the scheme forgotten, or `smtp:/` with one slash — is echoed
/// whole in the error, credentials included.
#[tokio::test(flavor = "multi_thread")]
async fn a_mistyped_relay_url_with_credentials_is_not_echoed() {
    let c = TestCampaign::new(1, |c| c);
    for url in [
        format!("u:{SECRET}@relay.example.jp:587"),
        format!("smtp:/u:{SECRET}@relay.example.jp"),
    ] {
        let out = run(&c, &["send", "--smtp", &url, "--rate", "0", "-q"]).await;
        assert_eq!(out.status.code(), Some(2), "{url}: {}", text(&out));
        assert_no_secret(&url, &out);
    }
}

// ---------------------------------------------------------------------------------------------
// Personal data

/// People of the privacy list: id, e-mail, name, brand, locale, flags, phone, address.
const PEOPLE: [(&str, &str, &str, &str, &str); 6] = [
    (
        "P0001",
        "hanako.himitsu@example.jp",
        "秘密 花子",
        "090-1234-5678",
        "東京都千代田区秘密町1-2-3",
    ),
    (
        "P0002",
        "taro.naisho@docomo.example.jp",
        "内緒 太郎",
        "080-2345-6789",
        "大阪府大阪市内緒区4-5-6",
    ),
    (
        "P0003",
        "kimiko.sato.private@example.co.jp",
        "Kimiko Sato-Privacy",
        "+81-70-3456-7890",
        "7-8-9 Kakushi Sapporo",
    ),
    (
        "P0004",
        "saburo.kyohi@example.jp",
        "拒否 三郎",
        "03-4567-8901",
        "京都府京都市拒否町10",
    ),
    (
        "P0005",
        "shiro.chien@example.jp",
        "遅延 四郎様",
        "06-5678-9012",
        "福岡県福岡市遅延11",
    ),
    (
        "P0006",
        "goro.himei@example.jp",
        "悲鳴 五郎",
        "011-678-9012",
        "北海道札幌市悲鳴12",
    ),
];

/// Rows refused by validation: their data must not leak either (name, e-mail, a name with a
/// link in it).
const REFUSED: [(&str, &str, &str); 3] = [
    (
        "P0007",
        "rokuro.link@example.jp",
        "六郎 www.rokuro-secret.example",
    ),
    ("P0008", "not-an-address-shichiro", "無効 七郎"),
    ("P0009", "hachiro.flag@example.jp", "旗 八郎"),
];

fn privacy_list() -> String {
    let mut csv = format!("{HEADER},phone,address\n");
    for (i, (id, email, name, phone, address)) in PEOPLE.iter().enumerate() {
        let (brand, locale) = [
            ("kaede", "ja"),
            ("hoshizora", "ja"),
            ("umineko", "en"),
            ("kaede", "ja"),
            ("hoshizora", "ja"),
            ("umineko", "ja"),
        ][i];
        csv.push_str(&format!(
            "{id},{email},{name},{brand},{locale},1,0,1,1,1,1,1,0,0,{phone},{address}\n"
        ));
    }
    let (id, email, name) = REFUSED[0];
    csv.push_str(&format!(
        "{id},{email},{name},kaede,ja,1,0,0,1,0,0,0,0,0,000-0000-0000,x\n"
    ));
    let (id, email, name) = REFUSED[1];
    csv.push_str(&format!(
        "{id},{email},{name},kaede,ja,1,0,0,1,0,0,0,0,0,000-0000-0000,x\n"
    ));
    let (id, email, name) = REFUSED[2];
    csv.push_str(&format!(
        "{id},{email},{name},kaede,ja,1,maybe,0,1,0,0,0,0,0,000-0000-0000,x\n"
    ));
    csv
}

/// Every piece of personal data in the privacy list, as it may show up.
fn personal_data() -> Vec<String> {
    let mut v = Vec::new();
    for (_, email, name, phone, address) in PEOPLE {
        v.push(email.to_string());
        v.push(email.split('@').next().unwrap().to_string());
        v.push(name.to_string());
        v.extend(name.split(' ').map(str::to_string));
        v.push(name.trim_end_matches('様').to_string());
        v.push(phone.to_string());
        v.push(phone.replace('-', ""));
        v.push(address.to_string());
    }
    for (_, email, name) in REFUSED {
        v.push(email.to_string());
        v.push(email.split('@').next().unwrap().to_string());
        v.push(name.to_string());
        v.extend(name.split(' ').map(str::to_string));
    }
    v.push("rokuro-secret".to_string());
    v.sort();
    v.dedup();
    v
}

fn assert_no_personal_data(what: &str, text: &str) {
    for value in personal_data() {
        assert!(
            !text.contains(&value),
            "{what} contains personal data {value:?}:\n{text}"
        );
    }
}

/// Sends the privacy list through a relay that refuses one address for good (5xx) and
/// another once (4xx), with replies that do not name the address.
async fn sent_privacy_campaign() -> (TestCampaign, SmtpServer, Output) {
    let c = TestCampaign::with_list(&privacy_list(), |c| c);
    let server = SmtpServer::start(
        Script::new()
            .reject_recipient("saburo.kyohi@", 550, "5.1.1", "user unknown")
            .reject_recipient("shiro.chien@", 450, "4.2.1", "mailbox busy")
            .times(1),
    )
    .await;
    let out = run(&c, &["send", "--smtp", &server.url(), "--rate", "0"]).await;
    (c, server, out)
}

#[tokio::test(flavor = "multi_thread")]
async fn no_personal_data_in_output_journal_status_report_or_lookup() {
    let (c, server, out) = sent_privacy_campaign().await;
    // One permanent failure and three refused rows: finished, incomplete.
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert_eq!(server.received_count(), 5);
    // The relay did get the addresses: they are needed to send.
    assert!(
        server
            .received()
            .iter()
            .any(|r| r.recipients == ["hanako.himitsu@example.jp"])
    );
    let mut checked = vec![("send output", all_output(&out))];
    checked.push(("journal", std::fs::read_to_string(c.journal()).unwrap()));
    for args in [
        &["status"][..],
        &["report", "--format", "csv"][..],
        &["report", "--format", "json"][..],
    ] {
        let o = run(&c, args).await;
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        checked.push((
            match args.last().copied() {
                Some("csv") => "report csv",
                Some("json") => "report json",
                _ => "status",
            },
            all_output(&o),
        ));
    }
    let report_file = c.path("report-out.csv");
    let o = run(&c, &["report", "--output", report_file.to_str().unwrap()]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    checked.push(("report --output", all_output(&o)));
    checked.push((
        "report file",
        std::fs::read_to_string(&report_file).unwrap(),
    ));
    // The hotline's lookup, by id and by the reference number printed in the notice.
    let csv = std::fs::read_to_string(&report_file).unwrap();
    let mut lookups = 0;
    for line in csv.lines().skip(1) {
        let mut cols = line.split(',');
        let (id, reference) = (cols.next().unwrap(), cols.next().unwrap());
        for key in [id, reference] {
            let o = run(&c, &["lookup", key]).await;
            assert_eq!(o.status.code(), Some(0), "lookup {key}: {}", text(&o));
            assert!(String::from_utf8_lossy(&o.stdout).contains(id));
            checked.push(("lookup", all_output(&o)));
            lookups += 1;
        }
    }
    for (what, text) in &checked {
        assert_no_personal_data(what, text);
    }
    // Ids are how the hotline finds people; they are meant to be there.
    let status = &checked.iter().find(|(w, _)| *w == "status").unwrap().1;
    assert!(status.contains("failed 550 5.1.1"), "{status}");
    println!(
        "summary privacy: {} outputs checked ({lookups} lookups) for {} personal values: none \
         found",
        checked.len(),
        personal_data().len()
    );
}

/// Postfix and most relays name the refused address in their reply
/// (`550 5.1.1 <saburo.kyohi@example.jp>: Recipient address rejected: User unknown in local
/// recipient table`; greylisting: `450 4.2.0 <…>: Recipient address rejected: Greylisted`).
/// tsuchi journals the reply text verbatim, and `report`, `lookup` and `status` print it.
#[tokio::test(flavor = "multi_thread")]
async fn a_relay_reply_naming_the_address_does_not_reach_the_journal_or_reports() {
    let c = TestCampaign::with_list(&privacy_list(), |c| c);
    let server = SmtpServer::start(
        Script::new()
            .reject_recipient(
                "saburo.kyohi@",
                550,
                "5.1.1",
                "<saburo.kyohi@example.jp>: Recipient address rejected: User unknown in local recipient table",
            )
            .reject_recipient(
                "shiro.chien@",
                450,
                "4.2.0",
                "<shiro.chien@example.jp>: Recipient address rejected: Greylisted",
            )
            .times(1),
    )
    .await;
    let out = run(&c, &["send", "--smtp", &server.url(), "--rate", "0", "-q"]).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert_no_personal_data("journal", &std::fs::read_to_string(c.journal()).unwrap());
    for args in [
        &["status"][..],
        &["report", "--format", "json"][..],
        &["lookup", "P0004"][..],
        &["lookup", "P0005"][..],
    ] {
        let o = run(&c, args).await;
        assert_no_personal_data(&args.join(" "), &all_output(&o));
    }
}

// ---------------------------------------------------------------------------------------------
// Plain SMTP beyond loopback

#[tokio::test(flavor = "multi_thread")]
async fn plain_smtp_to_a_non_loopback_host_is_refused_unless_allowed() {
    let c = TestCampaign::new(2, |c| c);
    let urls = [
        "smtp://relay.example.jp:25",
        "smtp://192.0.2.10:2525",
        "smtp://[2001:db8::1]:25",
        // Names that look like loopback but are not.
        "smtp://127.0.0.1.nip.io:25",
        "smtp://localhost.example.jp:25",
    ];
    for url in urls {
        let out = run(&c, &["send", "--smtp", url, "--rate", "0", "-q"]).await;
        assert_eq!(out.status.code(), Some(2), "{url}: {}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("refusing plain SMTP") && stderr.contains("allow_insecure"),
            "{url}: a clear message naming the way out: {}",
            text(&out)
        );
        assert!(!c.journal().exists(), "{url}: refused before anything");
    }
    // From the config file too.
    let config = std::fs::read_to_string(c.path("config.toml")).unwrap();
    std::fs::write(
        c.path("config.toml"),
        config.set("smtp://127.0.0.1:2525", "smtp://relay.example.jp:25"),
    )
    .unwrap();
    let out = run(&c, &["send", "--rate", "0", "-q"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    // Loopback by name or address is allowed.
    let server = SmtpServer::start(Script::new()).await;
    let by_name = format!("smtp://localhost:{}", server.port());
    let out = run(&c, &["send", "--smtp", &by_name, "--rate", "0", "-q"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(server.received_count(), 2);
    println!(
        "summary insecure: {} non-loopback plain URLs refused with exit 2",
        urls.len() + 1
    );
}
