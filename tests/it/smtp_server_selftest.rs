//! Self-tests for the scripted SMTP test server in `tests/support`.

use std::time::Duration;

use lettre::address::Envelope;
use lettre::transport::smtp::Error as SmtpError;
use lettre::transport::smtp::response::Response;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::support::smtp_server::{Command, Script, SmtpServer, parse_message_id, parse_path};

/// Upper bound for anything that should finish promptly.
const STEP: Duration = Duration::from_secs(10);

fn transport(server: &SmtpServer) -> AsyncSmtpTransport<Tokio1Executor> {
    AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(server.port())
        .timeout(Some(Duration::from_secs(5)))
        .build()
}

fn envelope(from: &str, to: &[&str]) -> Envelope {
    Envelope::new(
        Some(from.parse().expect("from address")),
        to.iter().map(|a| a.parse().expect("to address")).collect(),
    )
    .expect("envelope")
}

fn message(id: &str, body: &str) -> Vec<u8> {
    format!(
        "From: sender@example.jp\r\nTo: someone@example.jp\r\nSubject: test\r\n\
         Message-ID: <{id}>\r\n\r\n{body}"
    )
    .into_bytes()
}

async fn send(
    t: &AsyncSmtpTransport<Tokio1Executor>,
    env: &Envelope,
    data: &[u8],
) -> Result<Response, SmtpError> {
    tokio::time::timeout(STEP, t.send_raw(env, data))
        .await
        .expect("send did not finish in time")
}

/// lettre returns a pooled connection to its pool from a *spawned* task when
/// the send future completes, so a send issued immediately afterwards may
/// open a second connection. On the current-thread test runtime, yielding
/// lets that recycle task run first.
async fn settle_pool() {
    for _ in 0..4 {
        tokio::task::yield_now().await;
    }
}

fn code(err: &SmtpError) -> Option<u16> {
    err.status().map(u16::from)
}

#[tokio::test]
async fn records_envelope_and_undotted_data() {
    let server = SmtpServer::start(Script::new()).await;
    assert_eq!(server.url(), format!("smtp://127.0.0.1:{}", server.port()));
    let t = transport(&server);
    let body = "line one\r\n.hidden line\r\n..two dots\r\n.\r\nlast\r\n";
    let data = message("m1@tsuchi.test", body);
    let env = envelope("noreply@example.jp", &["a@example.jp", "b@example.jp"]);

    let resp = send(&t, &env, &data).await.expect("send");
    assert_eq!(u16::from(resp.code()), 250);

    let got = server.received();
    assert_eq!(got.len(), 1);
    let m = &got[0];
    assert_eq!(m.envelope_from, "noreply@example.jp");
    assert_eq!(m.recipients, ["a@example.jp", "b@example.jp"]);
    // lettre always appends "\r\n.\r\n", so a message that already ends in
    // CRLF arrives with one extra empty line.
    let mut expected = data.clone();
    expected.extend_from_slice(b"\r\n");
    assert_eq!(m.data, expected);
    assert_eq!(m.message_id.as_deref(), Some("m1@tsuchi.test"));
    assert_eq!(m.connection, 0);
    assert_eq!(m.queue_id.len(), 16);
    let first = resp.first_line().unwrap_or_default();
    assert!(
        first.contains(&format!("queued as {}", m.queue_id)),
        "{first}"
    );
    // And the data parses as mail.
    let parsed = mail_parser::MessageParser::default()
        .parse(&m.data)
        .expect("parse");
    assert_eq!(parsed.message_id(), Some("m1@tsuchi.test"));
}

#[tokio::test]
async fn non_ascii_message_and_quoted_local_part() {
    let server = SmtpServer::start(Script::new()).await;
    let t = transport(&server);
    let to = "\"taro..yamada\"@docomo.ne.jp";
    let data = message("jp@tsuchi.test", "個人情報漏えいのお知らせ\r\n");
    let resp = send(&t, &envelope("noreply@example.jp", &[to]), &data).await;
    resp.expect("send");
    let m = &server.received()[0];
    assert_eq!(m.recipients, [to]);
    let mail = server
        .transcript()
        .into_iter()
        .find(|(_, l)| l.starts_with("MAIL"))
        .expect("MAIL line")
        .1;
    assert_eq!(mail, "MAIL FROM:<noreply@example.jp> BODY=8BITMIME");
}

#[tokio::test]
async fn pooled_transport_reuses_one_connection() {
    let server = SmtpServer::start(Script::new()).await;
    let t = transport(&server);
    let env = envelope("noreply@example.jp", &["a@example.jp"]);
    for i in 0..5 {
        send(&t, &env, &message(&format!("{i}@x"), "hi\r\n"))
            .await
            .expect("send");
        settle_pool().await;
    }
    assert_eq!(server.received_count(), 5);
    assert_eq!(server.connections(), 1);
    assert_eq!(server.messages_per_connection(), [5]);
    let ids: Vec<_> = server
        .received()
        .into_iter()
        .map(|m| m.message_id.unwrap())
        .collect();
    assert_eq!(ids, ["0@x", "1@x", "2@x", "3@x", "4@x"]);
    let queue_ids: std::collections::HashSet<_> =
        server.received().into_iter().map(|m| m.queue_id).collect();
    assert_eq!(queue_ids.len(), 5);
    // lettre checks a pooled connection with NOOP, not RSET.
    let verbs: Vec<_> = server.transcript().into_iter().map(|(_, l)| l).collect();
    assert_eq!(
        verbs.iter().filter(|l| *l == "NOOP").count(),
        4,
        "{verbs:?}"
    );
}

#[tokio::test]
async fn reject_recipient_permanent_and_transient() {
    let server = SmtpServer::start(
        Script::new()
            .reject_recipient("gone@", 550, "5.1.1", "no such user")
            .reject_recipient("full@", 450, "4.2.1", "mailbox busy"),
    )
    .await;
    let t = transport(&server);
    let data = message("r@x", "hi\r\n");

    let err = send(&t, &envelope("s@example.jp", &["gone@example.jp"]), &data)
        .await
        .expect_err("550");
    assert!(err.is_permanent(), "{err}");
    assert_eq!(code(&err), Some(550));

    let err = send(&t, &envelope("s@example.jp", &["full@example.jp"]), &data)
        .await
        .expect_err("450");
    assert!(err.is_transient(), "{err}");
    assert_eq!(code(&err), Some(450));

    send(&t, &envelope("s@example.jp", &["ok@example.jp"]), &data)
        .await
        .expect("other recipients are fine");
    assert_eq!(server.received_count(), 1);
    assert_eq!(server.received()[0].recipients, ["ok@example.jp"]);
}

#[tokio::test]
async fn reject_recipient_only_first_n_times() {
    let server = SmtpServer::start(
        Script::new()
            .reject_recipient("a@", 450, "4.2.1", "later")
            .times(2),
    )
    .await;
    let t = transport(&server);
    let env = envelope("s@example.jp", &["a@example.jp"]);
    let data = message("n@x", "hi\r\n");
    for _ in 0..2 {
        let err = send(&t, &env, &data).await.expect_err("450");
        assert!(err.is_transient());
    }
    send(&t, &env, &data).await.expect("third attempt");
    assert_eq!(server.received_count(), 1);
}

#[tokio::test]
async fn data_end_451_once_then_success() {
    let server = SmtpServer::start(
        Script::new()
            .reply_to(Command::DataEnd, 451, "4.3.0 try again later")
            .times(1),
    )
    .await;
    let t = transport(&server);
    let env = envelope("s@example.jp", &["a@example.jp"]);
    let data = message("retry@x", "hi\r\n");

    let err = send(&t, &env, &data).await.expect_err("451");
    assert!(err.is_transient(), "{err}");
    assert_eq!(code(&err), Some(451));
    assert_eq!(server.received_count(), 0);

    send(&t, &env, &data).await.expect("second attempt");
    assert_eq!(server.received_count(), 1);
    // lettre dropped the connection after the negative reply.
    assert_eq!(server.connections(), 2);
    assert_eq!(server.messages_per_connection(), [0, 1]);
}

#[tokio::test]
async fn disconnect_mid_data_records_nothing() {
    let server = SmtpServer::start(Script::new().disconnect_mid_data(10).times(1)).await;
    let t = transport(&server);
    let env = envelope("s@example.jp", &["a@example.jp"]);
    let data = message("cut@x", &"x".repeat(200_000));

    let err = send(&t, &env, &data).await.expect_err("cut off");
    assert!(!err.is_permanent() && !err.is_transient(), "{err}");
    assert_eq!(server.received_count(), 0);
    assert!(server.hung_up_after_data().is_empty());

    send(&t, &env, &data).await.expect("next attempt");
    assert_eq!(server.received_count(), 1);
}

#[tokio::test]
async fn disconnect_on_mail_once() {
    let server = SmtpServer::start(Script::new().disconnect_on(Command::Mail).times(1)).await;
    let t = transport(&server);
    let env = envelope("s@example.jp", &["a@example.jp"]);
    send(&t, &env, &message("d@x", "hi\r\n"))
        .await
        .expect_err("dropped");
    send(&t, &env, &message("d@x", "hi\r\n"))
        .await
        .expect("second");
    assert_eq!(server.connections(), 2);
    assert_eq!(server.received_count(), 1);
}

#[tokio::test]
async fn accept_then_hang_up_is_not_received_but_listed() {
    let server = SmtpServer::start(Script::new().accept_then_hang_up().times(1)).await;
    let t = transport(&server);
    let env = envelope("s@example.jp", &["a@example.jp"]);
    let data = message("maybe@x", "hi\r\n");

    let err = send(&t, &env, &data).await.expect_err("hung up");
    assert!(!err.is_permanent(), "{err}");
    assert!(server.received().is_empty());
    assert_eq!(server.hung_up_after_data(), [Some("maybe@x".to_string())]);
    let hung = server.hung_up_messages();
    assert_eq!(hung[0].recipients, ["a@example.jp"]);

    // A retry produces the (possible) duplicate.
    send(&t, &env, &data).await.expect("retry");
    assert_eq!(server.received()[0].message_id.as_deref(), Some("maybe@x"));
}

/// lettre's `.timeout()` only bounds the TCP connect on the tokio transport;
/// a server that never answers makes `send_raw` wait forever. Callers must
/// wrap sends in `tokio::time::timeout` — this test pins that behaviour.
#[tokio::test]
async fn delay_beyond_client_timeout_needs_outer_timeout() {
    let server =
        SmtpServer::start(Script::new().delay(Command::DataEnd, Duration::from_secs(30))).await;
    let t = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(server.port())
        .timeout(Some(Duration::from_millis(100)))
        .build();
    let env = envelope("s@example.jp", &["a@example.jp"]);
    let data = message("slow@x", "hi\r\n");
    let outcome = tokio::time::timeout(Duration::from_millis(600), t.send_raw(&env, &data)).await;
    match outcome {
        Err(_elapsed) => {}
        Ok(Err(e)) if e.is_timeout() => {
            panic!("lettre now times out replies itself ({e}); update tsuchi and this test")
        }
        Ok(other) => panic!("expected a timeout, got {other:?}"),
    }
    assert_eq!(server.received_count(), 0);
}

#[tokio::test]
async fn short_delay_still_succeeds() {
    let server =
        SmtpServer::start(Script::new().delay(Command::Greeting, Duration::from_millis(50))).await;
    let t = transport(&server);
    send(
        &t,
        &envelope("s@example.jp", &["a@example.jp"]),
        &message("d@x", "hi\r\n"),
    )
    .await
    .expect("send");
    assert_eq!(server.received_count(), 1);
}

#[tokio::test]
async fn outage_toggled_at_runtime() {
    let server = SmtpServer::start(Script::new()).await;
    let t = transport(&server);
    let env = envelope("s@example.jp", &["a@example.jp"]);
    let data = message("o@x", "hi\r\n");
    send(&t, &env, &data).await.expect("before outage");

    server.set_outage(true);
    // The pooled connection gets 421 on NOOP, the new one 421 as greeting.
    let err = send(&t, &env, &data).await.expect_err("outage");
    assert!(err.is_transient(), "{err}");
    assert_eq!(code(&err), Some(421));

    server.set_outage(false);
    send(&t, &env, &data).await.expect("after outage");
    assert_eq!(server.received_count(), 2);
}

#[tokio::test]
async fn scripted_outage_and_runtime_script_change() {
    let server = SmtpServer::start(Script::new().outage(Duration::from_secs(3600))).await;
    assert!(server.in_outage());
    let t = transport(&server);
    let env = envelope("s@example.jp", &["a@example.jp"]);
    let data = message("s@x", "hi\r\n");
    let err = send(&t, &env, &data).await.expect_err("outage");
    assert_eq!(code(&err), Some(421));

    server.set_outage(false);
    server.set_script(Script::new().reply_to(Command::Mail, 554, "5.7.1 blocked"));
    let err = send(&t, &env, &data).await.expect_err("blocked");
    assert!(err.is_permanent());
    assert_eq!(code(&err), Some(554));

    server.set_script(Script::new());
    send(&t, &env, &data).await.expect("accepted");
}

#[tokio::test]
async fn wait_for_messages_sees_background_sends_and_times_out() {
    let server = SmtpServer::start(Script::new()).await;
    let t = transport(&server);
    let sender = tokio::spawn(async move {
        let env = envelope("s@example.jp", &["a@example.jp"]);
        for i in 0..3 {
            t.send_raw(&env, &message(&format!("w{i}@x"), "hi\r\n"))
                .await
                .expect("send");
        }
    });
    assert!(server.wait_for_messages(3, STEP).await);
    sender.await.expect("sender task");
    assert!(!server.wait_for_messages(4, Duration::from_millis(50)).await);
    assert!(server.wait_for_connections(1, STEP).await);
}

// ---- raw TCP ----------------------------------------------------------------

struct Raw {
    io: BufReader<TcpStream>,
}

impl Raw {
    async fn connect(server: &SmtpServer) -> Raw {
        let s = tokio::time::timeout(STEP, TcpStream::connect(server.addr()))
            .await
            .expect("connect timeout")
            .expect("connect");
        Raw {
            io: BufReader::new(s),
        }
    }

    /// Read one (possibly multi-line) reply; returns (code, last line).
    /// `None` on EOF.
    async fn reply(&mut self) -> Option<(u16, String)> {
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(STEP, self.io.read_line(&mut line))
                .await
                .expect("reply timeout")
                .ok()?;
            if n == 0 {
                return None;
            }
            let code = line.get(..3)?.parse().ok()?;
            if line.as_bytes().get(3) != Some(&b'-') {
                return Some((code, line.trim_end().to_string()));
            }
        }
    }

    async fn write(&mut self, bytes: &[u8]) {
        self.io.get_mut().write_all(bytes).await.expect("write");
    }

    async fn cmd(&mut self, line: &str) -> u16 {
        self.write(format!("{line}\r\n").as_bytes()).await;
        self.reply().await.expect("reply").0
    }
}

#[tokio::test]
async fn raw_dialogue_rset_quoted_paths_and_dot_stuffing() {
    let server = SmtpServer::start(Script::new()).await;
    let mut c = Raw::connect(&server).await;
    assert_eq!(c.reply().await.unwrap().0, 220);
    assert_eq!(c.cmd("HELO client").await, 250);
    assert_eq!(c.cmd("RCPT TO:<a@b>").await, 503);
    assert_eq!(c.cmd("DATA").await, 503);
    assert_eq!(c.cmd("mail from:<x@y> SIZE=10").await, 250);
    assert_eq!(c.cmd("RSET").await, 250);
    assert_eq!(c.cmd("DATA").await, 503);
    assert_eq!(c.cmd("MAIL FROM:<>").await, 250);
    assert_eq!(c.cmd("RCPT TO:<\"taro..yamada\"@docomo.ne.jp>").await, 250);
    assert_eq!(c.cmd("RCPT TO:<\"a>b\"@example.jp>").await, 250);
    assert_eq!(c.cmd("DATA").await, 354);
    c.write(b"Message-ID:\r\n <folded@id>\r\n\r\n..dot\r\n...\r\nplain\r\n.\r\n")
        .await;
    let (code, text) = c.reply().await.unwrap();
    assert_eq!(code, 250, "{text}");
    assert_eq!(c.cmd("NOOP").await, 250);
    assert_eq!(c.cmd("XYZZY").await, 502);
    let long = "NOOP ".to_string() + &"x".repeat(10_000);
    assert_eq!(c.cmd(&long).await, 500);
    assert_eq!(c.cmd("QUIT").await, 221);
    assert!(c.reply().await.is_none(), "closed after QUIT");

    let m = &server.received()[0];
    assert_eq!(m.envelope_from, "");
    assert_eq!(
        m.recipients,
        ["\"taro..yamada\"@docomo.ne.jp", "\"a>b\"@example.jp"]
    );
    assert_eq!(
        m.data,
        b"Message-ID:\r\n <folded@id>\r\n\r\n.dot\r\n..\r\nplain\r\n"
    );
    assert_eq!(m.message_id.as_deref(), Some("folded@id"));
}

#[tokio::test]
async fn raw_pipelined_commands() {
    let server = SmtpServer::start(Script::new()).await;
    let mut c = Raw::connect(&server).await;
    assert_eq!(c.reply().await.unwrap().0, 220);
    c.write(b"EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n")
        .await;
    for want in [250, 250, 250, 354] {
        assert_eq!(c.reply().await.unwrap().0, want);
    }
    c.write(b"Subject: p\r\n\r\nbody\r\n.\r\nQUIT\r\n").await;
    assert_eq!(c.reply().await.unwrap().0, 250);
    assert_eq!(c.reply().await.unwrap().0, 221);
    assert!(server.wait_for_messages(1, STEP).await);
}

#[tokio::test]
async fn client_vanishing_anywhere_is_harmless() {
    let server = SmtpServer::start(Script::new()).await;
    for cut in [
        &b""[..],
        b"EHL",
        b"EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\npartial da",
    ] {
        let mut c = Raw::connect(&server).await;
        c.write(cut).await;
        drop(c);
    }
    assert!(server.wait_for_connections(3, STEP).await);
    // Server still works.
    let t = transport(&server);
    send(
        &t,
        &envelope("s@example.jp", &["a@example.jp"]),
        &message("v@x", "hi\r\n"),
    )
    .await
    .expect("send");
    assert_eq!(server.received_count(), 1);
}

#[tokio::test]
async fn probability_rule_is_seeded_and_deterministic() {
    async fn pattern(seed: u64) -> Vec<u16> {
        let server = SmtpServer::start(
            Script::new()
                .reply_to(Command::Noop, 450, "4.0.0 flaky")
                .probability(0.5, seed),
        )
        .await;
        let mut c = Raw::connect(&server).await;
        c.reply().await.unwrap();
        let mut codes = Vec::new();
        for _ in 0..32 {
            codes.push(c.cmd("NOOP").await);
        }
        codes
    }
    let a = pattern(7).await;
    assert_eq!(a, pattern(7).await);
    assert!(a.contains(&450) && a.contains(&250), "{a:?}");
    assert_ne!(a, pattern(8).await);
}

#[tokio::test]
async fn greeting_and_ehlo_overrides() {
    let server = SmtpServer::start(
        Script::new()
            .reply_to(Command::Greeting, 421, "4.3.2 go away")
            .times(1)
            .reply_to(Command::Ehlo, 554, "5.7.1 not you")
            .times(1),
    )
    .await;
    let mut c = Raw::connect(&server).await;
    assert_eq!(c.reply().await.unwrap().0, 421);
    assert!(c.reply().await.is_none(), "closed after 421");

    let t = transport(&server);
    let env = envelope("s@example.jp", &["a@example.jp"]);
    let err = send(&t, &env, &message("g@x", "hi\r\n"))
        .await
        .expect_err("EHLO refused");
    assert!(err.is_permanent(), "{err}");
    send(&t, &env, &message("g@x", "hi\r\n")).await.expect("ok");
}

#[tokio::test]
async fn shutdown_stops_accepting() {
    let server = SmtpServer::start(Script::new()).await;
    let addr = server.addr();
    server.shutdown();
    // The listener is dropped once the aborted task is torn down.
    let refused = tokio::time::timeout(STEP, async {
        loop {
            match TcpStream::connect(addr).await {
                Err(_) => return,
                Ok(s) => {
                    // Accepted by the kernel backlog before teardown: the
                    // server must not greet it.
                    let mut r = BufReader::new(s);
                    let mut l = String::new();
                    if matches!(r.read_line(&mut l).await, Ok(0) | Err(_)) {
                        return;
                    }
                }
            }
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(refused.is_ok());
}

#[test]
fn path_and_message_id_parsing() {
    assert_eq!(
        parse_path("<a@b> BODY=8BITMIME SMTPUTF8").as_deref(),
        Some("a@b")
    );
    assert_eq!(parse_path(" <>").as_deref(), Some(""));
    assert_eq!(parse_path("<@relay:u@d>").as_deref(), Some("u@d"));
    assert_eq!(
        parse_path("<\"x\\\"y>\"@d>").as_deref(),
        Some("\"x\\\"y>\"@d")
    );
    assert_eq!(parse_path("bare@d"), Some("bare@d".to_string()));
    assert_eq!(parse_path("<unterminated"), None);
    assert_eq!(
        parse_message_id(b"Subject: x\r\nmessage-id: <a@b>\r\n\r\nMessage-ID: <no@no>\r\n")
            .as_deref(),
        Some("a@b")
    );
    assert_eq!(
        parse_message_id(b"Subject: x\r\n\r\nMessage-ID: <no@no>\r\n"),
        None
    );
}

#[tokio::test]
async fn positive_overrides_keep_normal_semantics() {
    let server = SmtpServer::start(
        Script::new()
            .reply_to(Command::Mail, 250, "2.1.0 sender fine")
            .reply_to(Command::DataEnd, 250, "2.0.0 custom ok"),
    )
    .await;
    let t = transport(&server);
    let resp = send(
        &t,
        &envelope("s@example.jp", &["a@example.jp"]),
        &message("p@x", "hi\r\n"),
    )
    .await
    .expect("send");
    assert_eq!(resp.first_line(), Some("2.0.0 custom ok"));
    assert_eq!(server.received_count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_sends_over_several_connections() {
    let server = SmtpServer::start(Script::new()).await;
    let t = transport(&server);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..20 {
        let t = t.clone();
        tasks.spawn(async move {
            let env = envelope("s@example.jp", &[&format!("r{i}@example.jp")]);
            send(&t, &env, &message(&format!("c{i}@x"), "hi\r\n")).await
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.expect("task").expect("send");
    }
    assert!(server.wait_for_messages(20, STEP).await);
    let per_conn = server.messages_per_connection();
    assert_eq!(per_conn.iter().sum::<u64>(), 20);
    assert_eq!(per_conn.len() as u64, server.connections());
    for m in server.received() {
        assert!(per_conn[m.connection as usize] > 0);
    }
}
