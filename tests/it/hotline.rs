//! `tsuchi serve`, the hotline service, spawned for real and spoken to over loopback HTTP:
//! 401 without a token, the API's answers equal `lookup`'s, the rate limit, the audit log,
//! the name check, the sign-in page's cookie, lookups while a send runs, sharded campaigns;
//! and `report --hotline`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::campaign::{TestCampaign, send_args, text};
use crate::support::smtp_server::{Script, SmtpServer};

/// A running `tsuchi serve`, stopped when dropped.
struct Service {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `tsuchi` on campaign `c` with the given state directories and arguments.
fn tsuchi(c: &TestCampaign, dirs: &[String], args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tsuchi"));
    cmd.current_dir(c.dir.path())
        .arg("--config")
        .arg(c.path("config.toml"));
    for d in dirs {
        cmd.args(["--state-dir", d]);
    }
    cmd.args(args);
    cmd
}

fn default_dirs(c: &TestCampaign) -> Vec<String> {
    vec![c.state_dir().display().to_string()]
}

/// Adds agent `name` and returns its token, as printed.
fn add_agent(c: &TestCampaign, dirs: &[String], name: &str) -> String {
    let out = tsuchi(c, dirs, &["serve", "--add-agent", name])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .find(|l| l.starts_with("tsh_"))
        .unwrap_or_else(|| panic!("no token printed: {stdout}"))
        .to_string()
}

/// Starts the service on an ephemeral loopback port and waits (bounded) for its address.
fn start(c: &TestCampaign, dirs: &[String], extra: &[&str]) -> Service {
    let mut args = vec!["serve", "--listen", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    let mut child = tsuchi(c, dirs, &args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("serve printed its address within 60 s");
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .parse()
        .unwrap();
    Service { child, addr }
}

/// One HTTP/1.1 exchange (`Connection: close`): status, headers (lowercased names), body.
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

fn http(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Reply {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let raw = String::from_utf8(raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let mut lines = head.lines();
    let status = lines.next().unwrap()[9..12].parse().unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
        .collect();
    Reply {
        status,
        headers,
        body: body.to_string(),
    }
}

fn api(addr: SocketAddr, token: &str, key: &str) -> Reply {
    let auth = format!("Bearer {token}");
    http(
        addr,
        "GET",
        &format!("/api/lookup/{key}"),
        &[("Authorization", &auth)],
        "",
    )
}

fn check_name(addr: SocketAddr, token: &str, query: &str, name: &str) -> Reply {
    let auth = format!("Bearer {token}");
    let body = serde_json::json!({"query": query, "name": name}).to_string();
    http(
        addr,
        "POST",
        "/api/check-name",
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        &body,
    )
}

/// A real send of the whole list to a scripted relay, into `dir`, with `extra` arguments.
async fn send(c: &TestCampaign, dir: &str, url: &str, extra: &[&str]) {
    let args = send_args(url, extra);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut cmd = tsuchi(c, &[dir.to_string()], &args);
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

fn audit_lines(c: &TestCampaign) -> Vec<serde_json::Value> {
    std::fs::read_to_string(c.state_dir().join("hotline-audit.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn reference_of(c: &TestCampaign, id: &str) -> String {
    let out = c.run(&["lookup", id]);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    stdout
        .lines()
        .next()
        .and_then(|l| l.split("reference ").nth(1))
        .unwrap_or_else(|| panic!("{stdout}"))
        .to_string()
}

#[test]
fn without_a_valid_token_every_route_answers_401_and_nothing_else() {
    let c = TestCampaign::new(2, |c| c);
    let dirs = default_dirs(&c);
    let token = add_agent(&c, &dirs, "tanaka");
    let s = start(&c, &dirs, &[]);
    for reply in [
        http(s.addr, "GET", "/api/lookup/C000001", &[], ""),
        api(s.addr, "tsh_not-a-token", "C000001"),
        http(s.addr, "GET", "/lookup?q=C000001", &[], ""),
        http(
            s.addr,
            "GET",
            "/lookup?q=C000001",
            &[("Cookie", "tsuchi_hotline=forged")],
            "",
        ),
        check_name(s.addr, "wrong", "C000001", "x"),
    ] {
        assert_eq!(reply.status, 401, "{}", reply.body);
        assert!(!reply.body.contains("C000001"), "{}", reply.body);
        assert!(!reply.body.contains("affected"), "{}", reply.body);
    }
    assert_eq!(api(s.addr, &token, "C000001").status, 200);
    // A removed agent's token stops working while the service runs.
    let out = tsuchi(&c, &dirs, &["serve", "--remove-agent", "tanaka"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(api(s.addr, &token, "C000001").status, 401);
    // Only the hash of the token is stored.
    let stored = std::fs::read_to_string(c.state_dir().join("hotline-agents.json")).unwrap();
    assert!(!stored.contains(&token));
}

#[test]
fn a_non_loopback_address_is_refused_without_allow_insecure() {
    let c = TestCampaign::new(1, |c| c);
    let dirs = default_dirs(&c);
    add_agent(&c, &dirs, "a");
    let out = tsuchi(&c, &dirs, &["serve", "--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("--allow-insecure"), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_answers_what_lookup_says_and_never_personal_data() {
    let c = TestCampaign::new(4, |c| c);
    let dirs = default_dirs(&c);
    let server =
        SmtpServer::start(Script::new().reject_recipient("user2@", 550, "5.1.1", "no such user"))
            .await;
    let args = send_args(&server.url(), &[]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = c.run_async(&args).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let token = add_agent(&c, &dirs, "sato");
    let s = start(&c, &dirs, &[]);
    for (id, state) in [("C000001", "sent"), ("C000002", "failed")] {
        let reference = reference_of(&c, id);
        let lookup = String::from_utf8_lossy(&c.run(&["lookup", id]).stdout).to_string();
        for key in [
            id.to_string(),
            reference.clone(),
            reference.to_lowercase().replace('-', ""),
        ] {
            let reply = api(s.addr, &token, &key);
            assert_eq!(reply.status, 200, "{}", reply.body);
            let j = reply.json();
            assert_eq!(j["answer"], "affected");
            assert_eq!(j["id"], id);
            assert_eq!(j["reference"], reference.as_str());
            assert_eq!(j["state"], state);
            let said = format!("  state: {}", j["state_text"].as_str().unwrap());
            assert!(lookup.contains(&said), "{said:?} not in {lookup}");
            let events = j["history"].as_array().unwrap().len();
            assert_eq!(events, lookup.lines().count() - 2, "{lookup}");
            assert!(
                j["fields"].as_array().unwrap().iter().any(|f| f == "氏名"),
                "{j}"
            );
            assert!(
                j["brand"].is_string() && j["hotline"]["number"].is_string(),
                "{j}"
            );
            for personal in ["試験", "太郎", "example.jp", "user1", "user2"] {
                assert!(
                    !reply.body.contains(personal),
                    "{personal} in {}",
                    reply.body
                );
            }
        }
        assert_eq!(
            state == "sent",
            api(s.addr, &token, id).json()["notified_at"].is_string()
        );
    }
    let j = api(s.addr, &token, "C999999").json();
    assert_eq!(j["answer"], "not_found");
    let lookup = c.run(&["lookup", "C999999"]);
    assert_eq!(lookup.status.code(), Some(3));
}

#[test]
fn the_rate_limit_refuses_an_agent_past_its_lookups_per_minute_and_the_audit_log_records_all() {
    let c = TestCampaign::new(3, |c| c);
    let dirs = default_dirs(&c);
    let ito = add_agent(&c, &dirs, "ito");
    let kato = add_agent(&c, &dirs, "kato");
    let s = start(&c, &dirs, &["--rate-limit", "3"]);
    for key in ["C000001", "C000002", "C999999"] {
        assert_eq!(api(s.addr, &ito, key).status, 200);
    }
    let refused = api(s.addr, &ito, "C000003");
    assert_eq!(refused.status, 429, "{}", refused.body);
    assert!(!refused.body.contains("C000003"));
    // Another agent has a budget of its own.
    assert_eq!(api(s.addr, &kato, "C000003").status, 200);
    let audit = audit_lines(&c);
    let seen: Vec<(String, String, String)> = audit
        .iter()
        .map(|e| {
            (
                e["agent"].as_str().unwrap().to_string(),
                e["query"].as_str().unwrap().to_string(),
                e["answer"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want = [
        ("ito", "C000001", "affected"),
        ("ito", "C000002", "affected"),
        ("ito", "C999999", "not_found"),
        ("ito", "C000003", "rate_limited"),
        ("kato", "C000003", "affected"),
    ];
    let want: Vec<(String, String, String)> = want
        .iter()
        .map(|(a, q, r)| (a.to_string(), q.to_string(), r.to_string()))
        .collect();
    assert_eq!(seen, want);
    assert!(audit.iter().all(|e| e["at"].is_string()));
    // Owner-only, like every file of the state directory that names people's records.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(c.state_dir().join("hotline-audit.jsonl"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o077, 0, "{mode:o}");
}

#[test]
fn the_name_check_answers_only_matches_or_not_and_logs_no_name() {
    let c = TestCampaign::new(3, |c| c);
    let dirs = default_dirs(&c);
    let token = add_agent(&c, &dirs, "mori");
    let s = start(&c, &dirs, &[]);
    let reference = reference_of(&c, "C000002");
    // The list says 試験 太郎2; callers say it with other spaces, widths and 様.
    for (given, want) in [
        ("試験 太郎2", "matches"),
        ("試験　太郎２ 様", "matches"),
        ("試験太郎2様", "matches"),
        ("試験 太郎3", "does_not_match"),
        ("", "does_not_match"),
    ] {
        let reply = check_name(s.addr, &token, &reference, given);
        assert_eq!(reply.status, 200, "{}", reply.body);
        let j = reply.json();
        assert_eq!(j["name_check"], want, "{given:?}: {j}");
        assert!(!reply.body.contains("試験"), "{}", reply.body);
    }
    let j = check_name(s.addr, &token, "C999999", "試験 太郎2").json();
    assert_eq!(j["name_check"], "unknown");
    let audit = std::fs::read_to_string(c.state_dir().join("hotline-audit.jsonl")).unwrap();
    assert!(
        !audit.contains("試験") && !audit.contains("太郎"),
        "{audit}"
    );
    assert_eq!(
        audit.matches("\"action\":\"name_check\"").count(),
        6,
        "{audit}"
    );
    assert!(audit.contains("\"answer\":\"matches\""), "{audit}");
}

#[test]
fn the_page_signs_in_with_a_strict_httponly_cookie_looks_up_and_signs_out() {
    let c = TestCampaign::new(2, |c| c);
    let dirs = default_dirs(&c);
    let token = add_agent(&c, &dirs, "kimura");
    let s = start(&c, &dirs, &[]);
    let home = http(s.addr, "GET", "/", &[], "");
    assert_eq!(home.status, 200);
    assert!(home.body.contains("id=\"sign-in\""), "{}", home.body);
    let form = [("Content-Type", "application/x-www-form-urlencoded")];
    let bad = http(s.addr, "POST", "/sign-in", &form, "token=tsh_nope");
    assert_eq!(bad.status, 401);
    assert!(bad.header("set-cookie").is_none());
    let signed = http(s.addr, "POST", "/sign-in", &form, &format!("token={token}"));
    assert_eq!(signed.status, 303, "{}", signed.body);
    let cookie = signed.header("set-cookie").unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(
        !cookie.contains("Secure"),
        "loopback: no TLS, no Secure flag: {cookie}"
    );
    let session = cookie.split(';').next().unwrap().to_string();
    let reference = reference_of(&c, "C000001");
    let page = http(
        s.addr,
        "GET",
        &format!("/lookup?q={reference}"),
        &[("Cookie", &session)],
        "",
    );
    assert_eq!(page.status, 200);
    assert!(page.body.contains("id=\"affected\""), "{}", page.body);
    assert!(page.body.contains(&reference) && page.body.contains("C000001"));
    assert!(
        page.body.contains("data-state=\"pending\""),
        "{}",
        page.body
    );
    assert!(!page.body.contains("試験") && !page.body.contains("example.jp"));
    let missing = http(
        s.addr,
        "GET",
        "/lookup?q=ZZZZ-ZZZZ-ZZZZ",
        &[("Cookie", &session)],
        "",
    );
    assert!(
        missing.body.contains("id=\"not-found\""),
        "{}",
        missing.body
    );
    let out = http(s.addr, "POST", "/sign-out", &[("Cookie", &session)], "");
    assert_eq!(out.status, 303);
    let after = http(
        s.addr,
        "GET",
        &format!("/lookup?q={reference}"),
        &[("Cookie", &session)],
        "",
    );
    assert_eq!(after.status, 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn lookups_answer_while_a_send_runs_and_follow_its_progress() {
    let c = TestCampaign::new(12, |c| c);
    let dirs = default_dirs(&c);
    let token = add_agent(&c, &dirs, "ueda");
    let s = start(&c, &dirs, &[]);
    assert_eq!(api(s.addr, &token, "C000012").json()["state"], "pending");
    let server = SmtpServer::start(Script::new()).await;
    let args = ["send", "--smtp", &server.url(), "--rate", "4", "-q"];
    let mut send = c.spawn(&args);
    // While the send runs the service answers, and the last row turns sent in the end.
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut answered_while_running = 0;
    let addr = s.addr;
    let token2 = token.clone();
    loop {
        let t = token2.clone();
        let j = tokio::task::spawn_blocking(move || api(addr, &t, "C000012").json())
            .await
            .unwrap();
        let running = send.try_wait().unwrap().is_none();
        if running {
            answered_while_running += 1;
        }
        if j["state"] == "sent" {
            break;
        }
        assert!(Instant::now() < deadline, "row 12 not sent in time: {j}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let status = tokio::task::spawn_blocking(move || send.wait().unwrap())
        .await
        .unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(answered_while_running > 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sharded_campaign_is_answered_from_both_state_directories() {
    let c = TestCampaign::new(10, |c| c);
    let server = SmtpServer::start(Script::new()).await;
    let dirs: Vec<String> = ["host1", "host2"]
        .iter()
        .map(|h| c.path(h).display().to_string())
        .collect();
    send(&c, &dirs[0], &server.url(), &["--shard", "1/2"]).await;
    send(&c, &dirs[1], &server.url(), &["--shard", "2/2"]).await;
    assert_eq!(server.received_count(), 10);
    let token = add_agent(&c, &dirs, "okada");
    let s = start(&c, &dirs, &[]);
    // Every row of the list is found, sent, whichever host's journal holds it.
    for i in 1..=10 {
        let id = format!("C{i:06}");
        let j = api(s.addr, &token, &id).json();
        assert_eq!(j["state"], "sent", "{id}: {j}");
        let merged = tsuchi(&c, &dirs, &["lookup", &id]).output().unwrap();
        let merged = String::from_utf8_lossy(&merged.stdout).to_string();
        assert!(
            merged.contains(j["state_text"].as_str().unwrap()),
            "{merged}"
        );
    }
    // The agents and the audit log are those of the first state directory.
    assert!(c.path("host1").join("hotline-audit.jsonl").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn report_hotline_writes_the_vendor_export_with_a_bom_owner_only() {
    let c = TestCampaign::new(3, |c| c);
    let file = c.path("hotline.csv");
    // Before the send: every person pending.
    let out = c.run(&["report", "--hotline", "--output", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let before = std::fs::read_to_string(&file).unwrap();
    assert_eq!(before.matches(",pending,").count(), 3, "{before}");
    let server = SmtpServer::start(Script::new()).await;
    send(&c, &default_dirs(&c)[0], &server.url(), &[]).await;
    let out = c.run(&["report", "--hotline", "--output", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let csv = std::fs::read_to_string(&file).unwrap();
    assert!(csv.starts_with('\u{feff}'), "{csv}");
    let lines: Vec<&str> = csv.trim_start_matches('\u{feff}').lines().collect();
    assert_eq!(lines[0], "reference,id,brand,fields,state,notified_at");
    assert_eq!(lines.len(), 4);
    let reference = reference_of(&c, "C000001");
    assert!(
        lines[1].starts_with(&format!("{reference},C000001,")),
        "{}",
        lines[1]
    );
    assert!(
        lines[1].contains("氏名") && lines[1].contains(",sent,2"),
        "{}",
        lines[1]
    );
    assert!(
        !csv.contains("試験") && !csv.contains("example.jp"),
        "{csv}"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o077, 0, "{mode:o}");
}

/// The index's answers are the full replay's: for every row, the state and the possible
/// duplicate `report` computes from the journal; and the index files hold keys only.
#[tokio::test(flavor = "multi_thread")]
async fn answers_through_the_index_equal_the_reports_for_every_row_and_follow_new_records() {
    let c = TestCampaign::new(9, |c| c);
    let dirs = default_dirs(&c);
    let server = SmtpServer::start(
        Script::new()
            .reject_recipient("user2@", 550, "5.1.1", "no such user")
            .reject_recipient("user5@", 451, "4.3.0", "try later"),
    )
    .await;
    let args = send_args(&server.url(), &[]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = c.run_async(&args).await;
    assert!(matches!(out.status.code(), Some(3 | 4)), "{}", text(&out));
    let token = add_agent(&c, &dirs, "abe");
    let s = start(&c, &dirs, &[]);
    let compare = || -> usize {
        let report = c.run(&["report"]);
        let csv = String::from_utf8_lossy(&report.stdout).to_string();
        let mut rows = 0;
        let mut lines = csv.trim_start_matches('\u{feff}').lines();
        let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
        let duplicate_column = header
            .iter()
            .position(|h| *h == "possible_duplicate")
            .expect("report has a possible_duplicate column");
        for line in lines {
            let cells: Vec<&str> = line.split(',').collect();
            let j = api(s.addr, &token, cells[0]).json();
            assert_eq!(j["state"], cells[2], "{line}: {j}");
            assert_eq!(j["reference"], cells[1], "{line}: {j}");
            assert_eq!(
                j["possible_duplicate"].to_string(),
                cells[duplicate_column],
                "{line}: {j}"
            );
            rows += 1;
        }
        assert_eq!(rows, 9, "{csv}");
        let j = api(s.addr, &token, "C000005").json();
        let attempts = j["history"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["what"] == "attempt")
            .count();
        assert!(attempts >= 1, "{j}");
        attempts
    };
    let first = compare();
    // A second run retries the deferred row: the index, built already, follows the tail.
    let out = c.run_async(&args).await;
    assert!(matches!(out.status.code(), Some(3 | 4)), "{}", text(&out));
    assert!(compare() > first, "the second run's attempts are seen");
    // No name and no address in the index files; the keys hold the part after `@` (the
    // domain `status` counts failures by), never the address.
    for name in [
        "kaede-2026-11.lookup-keys",
        "kaede-2026-11.lookup-journal",
        "kaede-2026-11.journal.checkpoint",
    ] {
        let bytes =
            std::fs::read(c.state_dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains("試験") && !text.contains("user1") && !text.contains("@example"),
            "{name}"
        );
    }
}

/// The name check reads the caller's row at its place in the file (the list's keys know it),
/// in a UTF-8 list with a BOM and in a Shift_JIS one with CRLF line ends, with a blank record,
/// an invalid row and a quoted name holding a comma before the rows it checks: each row's
/// name matches its own row only.
#[tokio::test(flavor = "multi_thread")]
async fn the_name_check_reads_the_right_row_in_either_encoding() {
    use crate::support::campaign::{HEADER, row};
    for sjis in [false, true] {
        let nl = if sjis { "\r\n" } else { "\n" };
        let mut csv = format!("{}{HEADER}{nl}", if sjis { "" } else { "\u{feff}" });
        for i in 1..=8 {
            let r = match i {
                3 => row(3).replace("試験 太郎3", "\"試験, 次郎\""),
                5 => row(5).replace("user5@example.jp", "not-an-address"),
                _ => row(i),
            };
            csv.push_str(&r);
            csv.push_str(nl);
            if i == 2 {
                csv.push_str(&format!(",,  ,{nl}"));
            }
        }
        let c = TestCampaign::with_list(&csv, |c| c);
        if sjis {
            let (bytes, _, bad) = encoding_rs::SHIFT_JIS.encode(&csv);
            assert!(!bad);
            std::fs::write(c.path("list.csv"), &bytes).unwrap();
        }
        let dirs = default_dirs(&c);
        let server = SmtpServer::start(Script::new()).await;
        let out = c
            .run_async(&["send", "--smtp", &server.url(), "--rate", "0", "-q"])
            .await;
        assert_eq!(
            out.status.code(),
            Some(3),
            "one invalid row: {}",
            text(&out)
        );
        let token = add_agent(&c, &dirs, "ito");
        let s = start(&c, &dirs, &[]);
        let name = |i: usize| match i {
            3 => "試験, 次郎".to_string(),
            _ => format!("試験 太郎{i}"),
        };
        for i in [1, 2, 3, 4, 6, 7, 8] {
            let id = format!("C{i:06}");
            let j = check_name(s.addr, &token, &id, &name(i)).json();
            assert_eq!(j["name_check"], "matches", "sjis {sjis}, {id}: {j}");
            let other = if i == 8 { 7 } else { i + 1 };
            let j = check_name(s.addr, &token, &id, &name(other)).json();
            assert_eq!(j["name_check"], "does_not_match", "sjis {sjis}, {id}: {j}");
        }
        let j = check_name(s.addr, &token, "C000005", &name(5)).json();
        assert_eq!(j["name_check"], "unknown", "the invalid row: {j}");
        assert!(c.state_dir().join("kaede-2026-11.lookup-keys").exists());
    }
}

/// A session ends when its agent is removed, and stays ended when the agent is added again
/// with a new token: it was the old token's. The cookie says how long a session lasts.
#[test]
fn a_session_is_the_token_s_and_ends_with_it() {
    let c = TestCampaign::new(1, |c| c);
    let dirs = default_dirs(&c);
    let token = add_agent(&c, &dirs, "sato");
    let s = start(&c, &dirs, &[]);
    let form = [("Content-Type", "application/x-www-form-urlencoded")];
    let signed = http(s.addr, "POST", "/sign-in", &form, &format!("token={token}"));
    assert_eq!(signed.status, 303, "{}", signed.body);
    let cookie = signed.header("set-cookie").unwrap().to_string();
    assert!(
        cookie.contains("Max-Age=43200"),
        "a shift of 12 hours: {cookie}"
    );
    let session = cookie.split(';').next().unwrap().to_string();
    let look = || {
        http(
            s.addr,
            "GET",
            "/lookup?q=C000001",
            &[("Cookie", &session)],
            "",
        )
        .status
    };
    assert_eq!(look(), 200);
    let out = tsuchi(&c, &dirs, &["serve", "--remove-agent", "sato"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(look(), 401, "removed");
    let new_token = add_agent(&c, &dirs, "sato");
    assert_ne!(new_token, token);
    assert_eq!(look(), 401, "the old session is not the new token's");
    assert_eq!(api(s.addr, &new_token, "C000001").status, 200);
}
