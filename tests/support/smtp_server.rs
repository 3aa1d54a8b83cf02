//! A scriptable SMTP server for fault-injection tests.
//!
//! It speaks plain SMTP over loopback (no TLS; AUTH PLAIN, taking any credentials, only with
//! [`Script::offer_auth`]) and is meant to be
//! driven by lettre's async SMTP client, but any RFC 5321 client works.
//!
//! ```ignore
//! let server = SmtpServer::start(
//!     Script::new()
//!         .reject_recipient("unknown@", 550, "5.1.1", "no such user")
//!         .reply_to(Command::DataEnd, 451, "4.3.0 try again later").times(1),
//! ).await;
//! // ... point the client at server.port() ...
//! assert!(server.wait_for_messages(3, Duration::from_secs(5)).await);
//! ```
//!
//! # Semantics worth knowing
//!
//! * Only messages that got a 2xx reply after the final dot are in
//!   [`SmtpServer::received`].
//! * [`Script::accept_then_hang_up`] (and `disconnect_on(Command::DataEnd)`,
//!   which is the same thing) reads the whole message and closes the socket
//!   without replying. The message is *not* in `received()`; it is listed in
//!   [`SmtpServer::hung_up_messages`] / [`SmtpServer::hung_up_after_data`]
//!   so a test can reason about "may or may not have been delivered".
//! * [`Script::disconnect_mid_data`] closes once at least `after_bytes`
//!   raw DATA bytes were read (line granularity); nothing is recorded.
//! * Rules are checked in insertion order; the first matching, non-exhausted
//!   rule whose probability roll succeeds decides the reply. `delay` rules
//!   are separate: every matching delay rule adds its delay before the reply.
//! * A reply with code 421 closes the connection after being sent (RFC 5321).
//! * During an outage, new connections get `421 4.3.2` and are closed; an
//!   already-open connection gets the same reply on its next command (so
//!   pooled clients notice the outage too).
//! * `connections()` counts every accepted TCP connection, including those
//!   refused because of an outage. Connection ordinals start at 0, so
//!   `messages_per_connection()[received.connection as usize]` works.
//! * Message-IDs are returned without the surrounding `<>`.
//! * Lettre never sends RSET; it checks a pooled connection with NOOP, and
//!   it drops (QUIT) a connection after any negative reply.
//! * lettre (0.11, tokio) returns a pooled connection from a *spawned*
//!   task, so back-to-back sends may open extra connections; yield a few
//!   times between sends when asserting exact connection counts.
//! * lettre's `.timeout()` only bounds the TCP connect on the tokio
//!   transport: a `delay` on any reply makes `send_raw` wait for it, so a
//!   client timeout must come from an outer `tokio::time::timeout`.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

/// Maximum length of a command line, CRLF included (RFC 5321 asks for 512).
pub const MAX_COMMAND_LINE: usize = 4096;
/// Maximum length of one DATA line; longer lines make the message fail with 552.
pub const MAX_DATA_LINE: usize = 1024 * 1024;
/// Advertised and enforced maximum message size.
pub const MAX_MESSAGE_SIZE: usize = 52_428_800;

/// The points in the dialogue a rule can attach to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Command {
    /// The 220 banner sent on connect.
    Greeting,
    /// EHLO or HELO.
    Ehlo,
    /// AUTH (PLAIN with its initial response; the server accepts any credentials).
    Auth,
    Mail,
    Rcpt,
    /// The DATA command itself (the 354 reply).
    Data,
    /// The final reply after the terminating dot.
    DataEnd,
    Rset,
    Noop,
    Quit,
}

/// A message the server accepted (or, for hung-up messages, read completely).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// Reverse path, without `<>`; empty for the null sender.
    pub envelope_from: String,
    /// Accepted forward paths, without `<>`, in RCPT order.
    pub recipients: Vec<String>,
    /// Message data with dot-stuffing undone, excluding the final `.` line.
    pub data: Vec<u8>,
    /// 0-based ordinal of the connection that carried it.
    pub connection: u64,
    /// Message-ID header value without `<>`, if present.
    pub message_id: Option<String>,
    /// Id given in `250 2.0.0 Ok: queued as <HEX>` (for hung-up messages:
    /// the id that would have been given).
    pub queue_id: String,
    /// When the server accepted it (recorded just before the 2xx reply to the final dot;
    /// for hung-up messages: when the data was read).
    pub received_at: Instant,
    /// The longest pause between two lines of the message's data as the server read them
    /// (from its first line to the final dot). A client that sends its data in one go shows
    /// about zero however loaded the machine (a slow server finds every line already there);
    /// one whose final dot waits for a delayed ACK (Nagle's algorithm) shows 40 ms or more.
    pub data_gap: Duration,
}

#[derive(Clone, Debug)]
enum Matcher {
    Cmd(Command),
    RcptContains(String),
}

#[derive(Clone, Debug)]
enum Action {
    Reply(u16, String),
    Disconnect,
    DisconnectMidData(usize),
    HangUpAfterData,
    Delay(Duration),
    Flood(usize),
}

#[derive(Clone, Debug)]
struct Rule {
    matcher: Matcher,
    action: Action,
    limit: Option<u64>,
    probability: Option<f64>,
    rng: u64,
    fired: u64,
}

impl Rule {
    fn matches(&self, cmd: Command, arg: Option<&str>) -> bool {
        match &self.matcher {
            Matcher::Cmd(c) => *c == cmd,
            Matcher::RcptContains(s) => {
                cmd == Command::Rcpt && arg.is_some_and(|a| a.contains(s.as_str()))
            }
        }
    }

    /// Whether the rule fires for this (matching) event; updates counters.
    fn try_fire(&mut self) -> bool {
        if self.limit.is_some_and(|l| self.fired >= l) {
            return false;
        }
        if let Some(p) = self.probability {
            let roll = (splitmix64(&mut self.rng) >> 11) as f64 / (1u64 << 53) as f64;
            if roll >= p {
                return false;
            }
        }
        self.fired += 1;
        true
    }
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Fault-injection script. `Script::new()` / `Script::default()` accepts
/// everything. `times` and `probability` modify the most recently added rule.
#[derive(Clone, Debug, Default)]
pub struct Script {
    rules: Vec<Rule>,
    outage: Option<Duration>,
    auth: bool,
    rate_limit: Option<RateLimit>,
}

/// A relay account's sending rate (see [`Script::rate_limit`]): a token bucket.
#[derive(Clone, Debug)]
struct RateLimit {
    per_sec: f64,
    burst: f64,
    tokens: f64,
    last: Option<Instant>,
    code: u16,
    text: String,
}

impl Script {
    pub fn new() -> Self {
        Self::default()
    }

    fn push(mut self, matcher: Matcher, action: Action) -> Self {
        self.rules.push(Rule {
            matcher,
            action,
            limit: None,
            probability: None,
            rng: 0,
            fired: 0,
        });
        self
    }

    /// Answer `cmd` with `code text` instead of the normal reply
    /// (`text` may start with an enhanced status code, e.g. "4.3.0 busy").
    /// A non-2xx reply to `DataEnd` means the message is not recorded; a
    /// reply other than 354 to `Data` refuses the data.
    pub fn reply_to(self, cmd: Command, code: u16, text: impl Into<String>) -> Self {
        self.push(Matcher::Cmd(cmd), Action::Reply(code, text.into()))
    }

    /// Reject RCPT for addresses containing `addr_substring` with
    /// `code enhanced text`, e.g. `(…, 550, "5.1.1", "no such user")`.
    pub fn reject_recipient(
        self,
        addr_substring: impl Into<String>,
        code: u16,
        enhanced: &str,
        text: &str,
    ) -> Self {
        self.push(
            Matcher::RcptContains(addr_substring.into()),
            Action::Reply(code, format!("{enhanced} {text}")),
        )
    }

    /// Close the socket instead of answering `cmd` (for `Data`: without
    /// sending 354; for `DataEnd`: same as [`Script::accept_then_hang_up`]).
    pub fn disconnect_on(self, cmd: Command) -> Self {
        let action = if cmd == Command::DataEnd {
            Action::HangUpAfterData
        } else {
            Action::Disconnect
        };
        self.push(Matcher::Cmd(cmd), action)
    }

    /// Send 354, then close the socket after at least `after_bytes` bytes of
    /// message data were read (or at the end of data, whichever is first).
    pub fn disconnect_mid_data(self, after_bytes: usize) -> Self {
        self.push(
            Matcher::Cmd(Command::Data),
            Action::DisconnectMidData(after_bytes),
        )
    }

    /// Read the whole message, then close without the final reply.
    pub fn accept_then_hang_up(self) -> Self {
        self.push(Matcher::Cmd(Command::DataEnd), Action::HangUpAfterData)
    }

    /// Answer `cmd` with `code text`, then send `extra` as one more reply line nobody asked
    /// for: a relay out of step, whose every later reply answers the command before.
    pub fn reply_with_extra_line(self, cmd: Command, code: u16, text: &str, extra: &str) -> Self {
        self.push(
            Matcher::Cmd(cmd),
            Action::Reply(code, format!("{text}\r\n{extra}")),
        )
    }

    /// Instead of answering `cmd`, send up to `bytes` bytes of one reply line that never
    /// ends (no CRLF), then close. [`SmtpServer::flood_written`] tells how much the client
    /// took before it gave up.
    pub fn flood(self, cmd: Command, bytes: usize) -> Self {
        self.push(Matcher::Cmd(cmd), Action::Flood(bytes))
    }

    /// Wait `delay` before answering `cmd` (cumulative with other delays).
    pub fn delay(self, cmd: Command, delay: Duration) -> Self {
        self.push(Matcher::Cmd(cmd), Action::Delay(delay))
    }

    /// Limit the last rule to its first `n` firings.
    pub fn times(mut self, n: u64) -> Self {
        if let Some(r) = self.rules.last_mut() {
            r.limit = Some(n);
        }
        self
    }

    /// Make the last rule fire with probability `p` (seeded, deterministic
    /// for a given sequence of matching events).
    pub fn probability(mut self, p: f64, seed: u64) -> Self {
        if let Some(r) = self.rules.last_mut() {
            r.probability = Some(p.clamp(0.0, 1.0));
            r.rng = seed;
        }
        self
    }

    /// Offer AUTH PLAIN in the EHLO reply (any credentials are accepted unless a rule for
    /// [`Command::Auth`] says otherwise). Without it the server offers no AUTH at all.
    pub fn offer_auth(mut self) -> Self {
        self.auth = true;
        self
    }

    /// Be in outage for `d` after the server starts (or after `set_script`).
    pub fn outage(mut self, d: Duration) -> Self {
        self.outage = Some(d);
        self
    }

    /// Accept at most `per_sec` transactions per second (bursts of `burst`), as a provider
    /// account does, answering `MAIL` above that with `code text` (SES: `454 Throttling
    /// failure: Maximum sending rate exceeded`). Checked before the other rules; the times of
    /// these replies are in [`SmtpServer::throttled`].
    pub fn rate_limit(mut self, per_sec: f64, burst: u32, code: u16, text: &str) -> Self {
        self.rate_limit = Some(RateLimit {
            per_sec,
            burst: f64::from(burst.max(1)),
            tokens: f64::from(burst.max(1)),
            last: None,
            code,
            text: text.to_string(),
        });
        self
    }
}

#[derive(Default)]
struct State {
    rules: Vec<Rule>,
    rate_limit: Option<RateLimit>,
    throttled: Vec<Instant>,
    outage_until: Option<Instant>,
    received: Vec<Received>,
    hung_up: Vec<Received>,
    per_connection: Vec<u64>,
    transcript: Vec<(u64, String)>,
    queue_seq: u64,
    auth: bool,
    flood_written: u64,
    floods_ended: u64,
}

struct Shared {
    state: Mutex<State>,
    outage: AtomicBool,
    /// Bumped on every observable change; waiters re-check their condition.
    changed: watch::Sender<u64>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn bump(&self) {
        self.changed.send_modify(|g| *g = g.wrapping_add(1));
    }

    fn in_outage(&self) -> bool {
        if self.outage.load(Ordering::SeqCst) {
            return true;
        }
        self.lock()
            .outage_until
            .is_some_and(|until| Instant::now() < until)
    }

    /// Decide what to do for an event: (total delay, overriding action).
    fn decide(&self, cmd: Command, arg: Option<&str>) -> (Duration, Option<Action>) {
        let mut st = self.lock();
        if cmd == Command::Mail
            && let Some(limit) = st.rate_limit.as_mut()
        {
            let now = Instant::now();
            let since = limit.last.map_or(Duration::ZERO, |t| now - t);
            limit.last = Some(now);
            limit.tokens = (limit.tokens + since.as_secs_f64() * limit.per_sec).min(limit.burst);
            if limit.tokens >= 1.0 {
                limit.tokens -= 1.0;
            } else {
                let reply = Action::Reply(limit.code, limit.text.clone());
                st.throttled.push(now);
                return (Duration::ZERO, Some(reply));
            }
        }
        let mut delay = Duration::ZERO;
        let mut action = None;
        for rule in st.rules.iter_mut() {
            if !rule.matches(cmd, arg) {
                continue;
            }
            match rule.action {
                Action::Delay(d) => {
                    if rule.try_fire() {
                        delay += d;
                    }
                }
                _ => {
                    if action.is_none() && rule.try_fire() {
                        action = Some(rule.action.clone());
                    }
                }
            }
        }
        (delay, action)
    }
}

/// A running scripted SMTP server on 127.0.0.1. Dropping it aborts all tasks.
pub struct SmtpServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept_task: JoinHandle<()>,
}

impl SmtpServer {
    /// Bind 127.0.0.1:0 and start serving according to `script`.
    pub async fn start(script: Script) -> SmtpServer {
        Self::start_on("127.0.0.1:0".parse().expect("an address"), script).await
    }

    /// Bind `addr` (a loopback address; the port of a server that was shut down, to bring a
    /// relay back) and start serving according to `script`.
    pub async fn start_on(addr: SocketAddr, script: Script) -> SmtpServer {
        assert!(addr.ip().is_loopback(), "tests use loopback only");
        let listener = TcpListener::bind(addr).await.expect("bind a loopback port");
        let addr = listener.local_addr().expect("local_addr");
        let (changed, _) = watch::channel(0u64);
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            outage: AtomicBool::new(false),
            changed,
        });
        install_script(&shared, script);
        let accept_task = tokio::spawn(accept_loop(listener, Arc::clone(&shared)));
        SmtpServer {
            addr,
            shared,
            accept_task,
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `smtp://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    /// Stop accepting and abort every connection task.
    pub fn shutdown(&self) {
        self.accept_task.abort();
    }

    /// Replace the rules (counters restart) and the scripted outage.
    pub fn set_script(&self, script: Script) {
        install_script(&self.shared, script);
    }

    /// Switch the outage on or off. Off also cancels a scripted outage.
    pub fn set_outage(&self, on: bool) {
        self.shared.outage.store(on, Ordering::SeqCst);
        if !on {
            self.shared.lock().outage_until = None;
        }
    }

    pub fn in_outage(&self) -> bool {
        self.shared.in_outage()
    }

    /// When each `MAIL` refused by [`Script::rate_limit`] was answered.
    pub fn throttled(&self) -> Vec<Instant> {
        self.shared.lock().throttled.clone()
    }

    /// Messages accepted so far, in acceptance order.
    pub fn received(&self) -> Vec<Received> {
        self.shared.lock().received.clone()
    }

    pub fn received_count(&self) -> usize {
        self.shared.lock().received.len()
    }

    /// Total TCP connections accepted (including outage refusals).
    pub fn connections(&self) -> u64 {
        self.shared.lock().per_connection.len() as u64
    }

    /// Accepted messages per connection, indexed by connection ordinal.
    pub fn messages_per_connection(&self) -> Vec<u64> {
        self.shared.lock().per_connection.clone()
    }

    /// Messages read completely but answered by hanging up (not received).
    pub fn hung_up_messages(&self) -> Vec<Received> {
        self.shared.lock().hung_up.clone()
    }

    /// Message-IDs of the hung-up messages.
    pub fn hung_up_after_data(&self) -> Vec<Option<String>> {
        self.shared
            .lock()
            .hung_up
            .iter()
            .map(|r| r.message_id.clone())
            .collect()
    }

    /// Bytes of endless reply lines written so far (see [`Script::flood`]), and how many
    /// floods have ended (the client closed, or all was sent).
    pub fn flood_written(&self) -> (u64, u64) {
        let st = self.shared.lock();
        (st.flood_written, st.floods_ended)
    }

    /// Every command line received, as `(connection, line)`, in arrival order
    /// (DATA contents excluded).
    pub fn transcript(&self) -> Vec<(u64, String)> {
        self.shared.lock().transcript.clone()
    }

    /// Wait until at least `n` messages were accepted; false on timeout.
    pub async fn wait_for_messages(&self, n: usize, timeout: Duration) -> bool {
        self.wait_until(timeout, |s| s.received_count() >= n).await
    }

    /// Wait until at least `n` connections were accepted; false on timeout.
    pub async fn wait_for_connections(&self, n: u64, timeout: Duration) -> bool {
        self.wait_until(timeout, |s| s.connections() >= n).await
    }

    /// Wait until `cond(self)` holds (re-checked on every server event).
    pub async fn wait_until(&self, timeout: Duration, cond: impl Fn(&SmtpServer) -> bool) -> bool {
        let mut rx = self.shared.changed.subscribe();
        let deadline = Instant::now() + timeout;
        loop {
            rx.borrow_and_update();
            if cond(self) {
                return true;
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => continue,
                _ => return cond(self),
            }
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.accept_task.abort();
    }
}

fn install_script(shared: &Shared, script: Script) {
    let mut st = shared.lock();
    st.rules = script.rules;
    st.outage_until = script.outage.map(|d| Instant::now() + d);
    st.auth = script.auth;
    st.rate_limit = script.rate_limit;
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    // Owned here so that aborting this task aborts every connection task.
    let mut tasks = JoinSet::new();
    loop {
        while tasks.try_join_next().is_some() {}
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let conn = {
            let mut st = shared.lock();
            st.per_connection.push(0);
            st.per_connection.len() as u64 - 1
        };
        shared.bump();
        let shared = Arc::clone(&shared);
        tasks.spawn(async move {
            // Any I/O error just ends the session.
            let _ = Session::new(stream, conn, &shared).run().await;
            shared.bump();
        });
    }
}

/// Read one line (up to and including `\n`). `Ok(None)` on EOF (a partial
/// line at EOF counts as EOF). Returns `(line, consumed)`; `line` is `None`
/// if the line was longer than `max` (it is consumed and discarded).
async fn read_line<R: AsyncBufRead + Unpin>(
    r: &mut R,
    max: usize,
) -> std::io::Result<Option<(Option<Vec<u8>>, usize)>> {
    let mut buf = Vec::new();
    let mut consumed = 0usize;
    let mut too_long = false;
    loop {
        let avail = r.fill_buf().await?;
        if avail.is_empty() {
            return Ok(None);
        }
        let (n, done) = match avail.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (avail.len(), false),
        };
        if !too_long {
            if buf.len() + n > max {
                too_long = true;
                buf = Vec::new();
            } else {
                buf.extend_from_slice(&avail[..n]);
            }
        }
        r.consume(n);
        consumed += n;
        if done {
            return Ok(Some(((!too_long).then_some(buf), consumed)));
        }
    }
}

fn strip_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Parse the path in `FROM:<a> PARAMS` / `TO:<a>`; `rest` starts after the
/// colon. Handles quoted local parts (`<"a..b"@x>`, `<"a>b"@x>`).
pub fn parse_path(rest: &str) -> Option<String> {
    let rest = rest.trim_start();
    let Some(inner) = rest.strip_prefix('<') else {
        // Lenient: bare address up to the first space.
        let addr = rest.split_whitespace().next()?;
        return Some(addr.to_string());
    };
    let mut in_quotes = false;
    let mut escaped = false;
    for (i, c) in inner.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if in_quotes => escaped = true,
            '"' => in_quotes = !in_quotes,
            '>' if !in_quotes => {
                let addr = &inner[..i];
                // Drop an RFC 5321 source route ("@a,@b:user@dom").
                let addr = match addr.strip_prefix('@') {
                    Some(_) => addr.split_once(':').map_or(addr, |(_, a)| a),
                    None => addr,
                };
                return Some(addr.to_string());
            }
            _ => {}
        }
    }
    None
}

/// Message-ID header value (unfolded, without `<>`), if any.
pub fn parse_message_id(data: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let mut current: Option<String> = None;
    let finish = |v: String| {
        let v = v.trim();
        let v = v.strip_prefix('<').unwrap_or(v);
        let v = v.strip_suffix('>').unwrap_or(v);
        Some(v.trim().to_string())
    };
    for line in lines.by_ref() {
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some(c) = current.as_mut() {
                c.push_str(line.trim());
            }
            continue;
        }
        if let Some(v) = current.take() {
            return finish(v);
        }
        if let Some((name, value)) = line.split_once(':')
            && name.trim().eq_ignore_ascii_case("message-id")
        {
            current = Some(value.trim().to_string());
        }
    }
    current.and_then(finish)
}

struct Session<'a> {
    reader: BufReader<TcpStream>,
    conn: u64,
    shared: &'a Shared,
    from: Option<String>,
    rcpts: Vec<String>,
}

/// What the session loop should do after handling a command.
enum Flow {
    Continue,
    Close,
}

/// The outcome of applying the script to one event (delays already waited).
enum Override {
    /// No rule fired: normal behaviour.
    Default,
    /// Reply with this instead. 2xx (354 for DATA) keeps normal semantics
    /// with the custom text; anything else refuses the command.
    Reply(u16, String),
    /// Close without replying.
    Close,
    /// DATA only: send 354, then close after this many data bytes.
    CutData(usize),
    /// DataEnd only: read everything, close without the final reply.
    HangUp,
    /// Send this many bytes of a line without end, then close.
    Flood(usize),
}

const GREETING: &str = "localhost ESMTP tsuchi-test-smtp";
const EHLO_REPLY: &str = "250-localhost\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 SIZE 52428800\r\n";
const EHLO_REPLY_AUTH: &str =
    "250-localhost\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250-AUTH PLAIN\r\n250 SIZE 52428800\r\n";
const OUTAGE_TEXT: &str = "4.3.2 Service not available";
const GO_AHEAD: &str = "End data with <CR><LF>.<CR><LF>";

fn positive(code: u16) -> bool {
    (200..300).contains(&code)
}

impl<'a> Session<'a> {
    fn new(stream: TcpStream, conn: u64, shared: &'a Shared) -> Self {
        Session {
            reader: BufReader::new(stream),
            conn,
            shared,
            from: None,
            rcpts: Vec::new(),
        }
    }

    async fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.reader.get_mut().write_all(bytes).await?;
        self.reader.get_mut().flush().await
    }

    /// Send a one-line reply. A 421 reply closes the connection.
    async fn send(&mut self, code: u16, text: &str) -> std::io::Result<Flow> {
        self.write(format!("{code} {text}\r\n").as_bytes()).await?;
        Ok(if code == 421 {
            Flow::Close
        } else {
            Flow::Continue
        })
    }

    /// Send the override's reply if it has one, else the default reply.
    async fn send_or(&mut self, ov: Override, code: u16, text: &str) -> std::io::Result<Flow> {
        match ov {
            Override::Reply(c, t) => self.send(c, &t).await,
            Override::Default => self.send(code, text).await,
            Override::Flood(n) => {
                self.flood(n).await;
                Ok(Flow::Close)
            }
            Override::Close | Override::CutData(_) | Override::HangUp => Ok(Flow::Close),
        }
    }

    /// Writes `n` bytes of `x` without a line end, counting what the client took.
    async fn flood(&mut self, n: usize) {
        let chunk = vec![b'x'; 64 * 1024];
        let mut left = n;
        // "220 " first, so the client sees the start of a reply.
        let _ = self.write(b"220 ").await;
        while left > 0 {
            let k = left.min(chunk.len());
            if self.reader.get_mut().write_all(&chunk[..k]).await.is_err() {
                break;
            }
            left -= k;
            self.shared.lock().flood_written += k as u64;
        }
        self.shared.lock().floods_ended += 1;
        self.shared.bump();
    }

    async fn close(&mut self) {
        let _ = self.reader.get_mut().shutdown().await;
    }

    /// Apply the script to an event: wait for delay rules, pick the override.
    async fn rule_for(&self, cmd: Command, arg: Option<&str>) -> Override {
        let (delay, action) = self.shared.decide(cmd, arg);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        match action {
            None | Some(Action::Delay(_)) => Override::Default,
            Some(Action::Reply(code, text)) => Override::Reply(code, text),
            Some(Action::Disconnect) => Override::Close,
            Some(Action::DisconnectMidData(n)) => Override::CutData(n),
            Some(Action::HangUpAfterData) => Override::HangUp,
            Some(Action::Flood(n)) => Override::Flood(n),
        }
    }

    async fn run(mut self) -> std::io::Result<()> {
        if self.shared.in_outage() {
            self.send(421, OUTAGE_TEXT).await?;
            self.close().await;
            return Ok(());
        }
        let ov = self.rule_for(Command::Greeting, None).await;
        let mut flow = self.send_or(ov, 220, GREETING).await?;
        while let Flow::Continue = flow {
            let Some((line, _)) = read_line(&mut self.reader, MAX_COMMAND_LINE).await? else {
                return Ok(());
            };
            flow = match line {
                None => self.send(500, "5.5.6 Line too long").await?,
                Some(line) => {
                    let line = String::from_utf8_lossy(strip_eol(&line)).into_owned();
                    self.shared
                        .lock()
                        .transcript
                        .push((self.conn, line.clone()));
                    self.shared.bump();
                    if self.shared.in_outage() {
                        self.send(421, OUTAGE_TEXT).await?
                    } else {
                        self.command(&line).await?
                    }
                }
            };
        }
        self.close().await;
        Ok(())
    }

    async fn command(&mut self, line: &str) -> std::io::Result<Flow> {
        let (verb, rest) = match line.split_once(' ') {
            Some((v, r)) => (v.to_ascii_uppercase(), r),
            None => (line.to_ascii_uppercase(), ""),
        };
        match verb.as_str() {
            "EHLO" | "HELO" => {
                let ov = self.rule_for(Command::Ehlo, Some(rest)).await;
                if let Override::Default = ov {
                    self.reset();
                    if verb == "HELO" {
                        return self.send(250, "localhost").await;
                    }
                    let reply = if self.shared.lock().auth {
                        EHLO_REPLY_AUTH
                    } else {
                        EHLO_REPLY
                    };
                    self.write(reply.as_bytes()).await?;
                    return Ok(Flow::Continue);
                }
                if matches!(&ov, Override::Reply(c, _) if positive(*c)) {
                    self.reset();
                }
                self.send_or(ov, 250, "localhost").await
            }
            "MAIL" => {
                let Some(path) = strip_prefix_ci(rest, "FROM:").and_then(parse_path) else {
                    return self.send(501, "5.5.4 Syntax: MAIL FROM:<address>").await;
                };
                if self.from.is_some() {
                    return self.send(503, "5.5.1 Error: nested MAIL command").await;
                }
                let ov = self.rule_for(Command::Mail, Some(&path)).await;
                if matches!(&ov, Override::Default)
                    || matches!(&ov, Override::Reply(c, _) if positive(*c))
                {
                    self.from = Some(path);
                }
                self.send_or(ov, 250, "2.1.0 Ok").await
            }
            "RCPT" => {
                let Some(path) = strip_prefix_ci(rest, "TO:").and_then(parse_path) else {
                    return self.send(501, "5.5.4 Syntax: RCPT TO:<address>").await;
                };
                if self.from.is_none() {
                    return self.send(503, "5.5.1 Error: need MAIL command").await;
                }
                let ov = self.rule_for(Command::Rcpt, Some(&path)).await;
                if matches!(&ov, Override::Default)
                    || matches!(&ov, Override::Reply(c, _) if positive(*c))
                {
                    self.rcpts.push(path);
                }
                self.send_or(ov, 250, "2.1.5 Ok").await
            }
            "AUTH" => {
                let ov = self.rule_for(Command::Auth, None).await;
                self.send_or(ov, 235, "2.7.0 Authentication successful")
                    .await
            }
            "DATA" => self.data().await,
            "RSET" => {
                let ov = self.rule_for(Command::Rset, None).await;
                self.reset();
                self.send_or(ov, 250, "2.0.0 Ok").await
            }
            "NOOP" => {
                let ov = self.rule_for(Command::Noop, None).await;
                self.send_or(ov, 250, "2.0.0 Ok").await
            }
            "QUIT" => {
                let ov = self.rule_for(Command::Quit, None).await;
                self.send_or(ov, 221, "2.0.0 Bye").await?;
                Ok(Flow::Close)
            }
            "VRFY" => self.send(252, "2.0.0 Cannot VRFY user").await,
            _ => self.send(502, "5.5.2 Error: command not recognized").await,
        }
    }

    fn reset(&mut self) {
        self.from = None;
        self.rcpts.clear();
    }

    async fn data(&mut self) -> std::io::Result<Flow> {
        if self.from.is_none() {
            return self.send(503, "5.5.1 Error: need MAIL command").await;
        }
        if self.rcpts.is_empty() {
            return self.send(554, "5.5.1 Error: no valid recipients").await;
        }
        let mut cut_after = None;
        match self.rule_for(Command::Data, None).await {
            Override::Default => {
                self.send(354, GO_AHEAD).await?;
            }
            Override::Reply(354, text) => {
                self.send(354, &text).await?;
            }
            Override::Reply(code, text) => return self.send(code, &text).await,
            Override::Close | Override::HangUp => return Ok(Flow::Close),
            Override::Flood(n) => {
                self.flood(n).await;
                return Ok(Flow::Close);
            }
            Override::CutData(n) => {
                cut_after = Some(n);
                self.send(354, GO_AHEAD).await?;
            }
        }

        let mut data = Vec::new();
        let mut raw = 0usize;
        let mut too_big = false;
        let mut last_line_at: Option<Instant> = None;
        let mut data_gap = Duration::ZERO;
        loop {
            if cut_after.is_some_and(|n| raw >= n) {
                return Ok(Flow::Close);
            }
            let Some((line, consumed)) = read_line(&mut self.reader, MAX_DATA_LINE).await? else {
                return Ok(Flow::Close);
            };
            let now = Instant::now();
            if let Some(before) = last_line_at {
                data_gap = data_gap.max(now - before);
            }
            last_line_at = Some(now);
            raw += consumed;
            let Some(line) = line else {
                too_big = true;
                continue;
            };
            if strip_eol(&line) == b"." {
                break;
            }
            let line = line.strip_prefix(b".").unwrap_or(&line);
            if data.len() + line.len() > MAX_MESSAGE_SIZE {
                too_big = true;
            }
            if !too_big {
                data.extend_from_slice(line);
            }
        }
        let from = self.from.take().unwrap_or_default();
        let recipients = std::mem::take(&mut self.rcpts);
        if cut_after.is_some() {
            return Ok(Flow::Close);
        }
        if too_big {
            return self.send(552, "5.3.4 Message too big").await;
        }

        let ov = self.rule_for(Command::DataEnd, None).await;
        let queue_id = {
            let mut st = self.shared.lock();
            st.queue_seq += 1;
            let mut seed = st.queue_seq ^ ((self.conn + 1) << 48);
            format!("{:016X}", splitmix64(&mut seed))
        };
        let message = Received {
            envelope_from: from,
            recipients,
            message_id: parse_message_id(&data),
            data,
            connection: self.conn,
            queue_id,
            received_at: Instant::now(),
            data_gap,
        };
        let (code, text) = match ov {
            Override::Reply(code, text) => (code, text),
            Override::Flood(n) => {
                self.flood(n).await;
                return Ok(Flow::Close);
            }
            Override::HangUp | Override::Close => {
                self.shared.lock().hung_up.push(message);
                self.shared.bump();
                return Ok(Flow::Close);
            }
            Override::CutData(_) => return Ok(Flow::Close),
            Override::Default => (250, format!("2.0.0 Ok: queued as {}", message.queue_id)),
        };
        if positive(code) {
            // Record before replying so a client that saw the 250 always
            // finds the message in `received()`.
            let mut message = message;
            message.received_at = Instant::now();
            let mut st = self.shared.lock();
            if let Some(c) = st.per_connection.get_mut(self.conn as usize) {
                *c += 1;
            }
            st.received.push(message);
            drop(st);
            self.shared.bump();
        }
        self.send(code, &text).await
    }
}

fn strip_prefix_ci<'s>(s: &'s str, prefix: &str) -> Option<&'s str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}
