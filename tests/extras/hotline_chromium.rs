//! The hotline page driven in headless Chromium over the DevTools protocol (on a pipe, no
//! port): sign in with a token, look up by reference number and by customer id, a wrong
//! reference, sign out. Ignored by default (needs `/usr/bin/chromium`); run with
//! `cargo test --test extras -- --ignored hotline`.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::io::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::campaign::{TestCampaign, text};
use crate::support::chromium::{CHROMIUM, available};

/// A child process killed when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

/// Chromium with `--remote-debugging-pipe`: it reads commands on fd 3 and writes replies
/// and events on fd 4, each message ended by a NUL byte.
struct Browser {
    _child: Killed,
    to: std::fs::File,
    from: Receiver<Value>,
    next: u64,
    session: Option<String>,
}

impl Browser {
    fn start(profile: &std::path::Path) -> Browser {
        let (cmd_read, cmd_write) = pipe();
        let (ev_read, ev_write) = pipe();
        let (r3, w4) = (cmd_read.as_raw_fd(), ev_write.as_raw_fd());
        let mut cmd = Command::new(CHROMIUM);
        cmd.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--remote-debugging-pipe",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("about:blank")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        unsafe {
            cmd.pre_exec(move || {
                if libc::dup2(r3, 3) < 0 || libc::dup2(w4, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = Killed(cmd.spawn().expect("chromium starts"));
        drop(cmd_read);
        drop(ev_write);
        let (tx, from) = channel();
        let events = std::fs::File::from(ev_read);
        std::thread::spawn(move || {
            let mut r = BufReader::new(events);
            loop {
                let mut msg = Vec::new();
                match r.read_until(0, &mut msg) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {
                        msg.pop();
                        if let Ok(v) = serde_json::from_slice::<Value>(&msg)
                            && tx.send(v).is_err()
                        {
                            return;
                        }
                    }
                }
            }
        });
        Browser {
            _child: child,
            to: std::fs::File::from(cmd_write),
            from,
            next: 0,
            session: None,
        }
    }

    /// Sends a command and waits (bounded) for its reply's `result`.
    fn call(&mut self, method: &str, params: Value) -> Value {
        self.next += 1;
        let id = self.next;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = &self.session {
            msg["sessionId"] = json!(s);
        }
        let mut bytes = serde_json::to_vec(&msg).unwrap();
        bytes.push(0);
        self.to.write_all(&bytes).unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let v = self
                .from
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no reply to {method} within 60 s"));
            if v["id"] == json!(id) {
                assert!(v["error"].is_null(), "{method}: {v}");
                return v["result"].clone();
            }
        }
    }

    /// Evaluates `js` in the page and returns its value.
    fn eval(&mut self, js: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({"expression": js, "returnByValue": true}),
        );
        r["result"]["value"].clone()
    }

    /// Waits (bounded) until the page at a path starting with `path` has loaded and `js` is
    /// true in it.
    fn wait_for(&mut self, path: &str, js: &str) {
        let probe = format!(
            "document.readyState === 'complete' && location.pathname.startsWith({path:?}) && !!({js})"
        );
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.eval(&probe) != json!(true) {
            assert!(
                Instant::now() < deadline,
                "page {path} with {js} not reached: {}",
                self.eval("document.documentElement.outerHTML")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[test]
#[ignore = "needs chromium"]
fn an_agent_signs_in_looks_up_by_reference_and_id_and_signs_out_in_chromium() {
    if !available() {
        return;
    }
    let c = TestCampaign::new(3, |c| c);
    let run = |args: &[&str]| {
        let out = c.run(args);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let token = run(&["serve", "--add-agent", "chromium"])
        .lines()
        .find(|l| l.starts_with("tsh_"))
        .unwrap()
        .to_string();
    let lookup = String::from_utf8_lossy(&c.run(&["lookup", "C000002"]).stdout).to_string();
    let reference = lookup
        .lines()
        .next()
        .unwrap()
        .split("reference ")
        .nth(1)
        .unwrap()
        .to_string();
    let mut serve = c.command(&["serve", "--listen", "127.0.0.1:0"]);
    serve
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut child = Killed(serve.spawn().unwrap());
    let mut line = String::new();
    let mut stdout = BufReader::new(child.0.stdout.take().unwrap());
    stdout.read_line(&mut line).unwrap();
    let base = format!(
        "http://{}",
        line.split("http://")
            .nth(1)
            .unwrap()
            .split('/')
            .next()
            .unwrap()
    );

    let profile = tempfile::tempdir().unwrap();
    let mut b = Browser::start(profile.path());
    let target = b.call("Target.createTarget", json!({"url": "about:blank"}));
    let session = b.call(
        "Target.attachToTarget",
        json!({"targetId": target["targetId"], "flatten": true}),
    );
    b.session = Some(session["sessionId"].as_str().unwrap().to_string());
    b.call("Page.enable", json!({}));

    // Sign in.
    b.call("Page.navigate", json!({"url": format!("{base}/")}));
    b.wait_for("/", "document.getElementById('sign-in')");
    b.eval(&format!(
        "document.getElementById('token').value = {token:?}; document.getElementById('sign-in').submit(); true"
    ));
    b.wait_for("/", "document.getElementById('agent')");
    assert_eq!(
        b.eval("document.getElementById('agent').textContent"),
        json!("chromium")
    );
    // The session cookie is not readable by scripts (HttpOnly).
    assert_eq!(b.eval("document.cookie"), json!(""));

    // By reference, as the caller reads it out (lower case, no dashes).
    let spoken = reference.to_lowercase().replace('-', "");
    b.eval(&format!(
        "document.getElementById('q').value = {spoken:?}; document.getElementById('lookup').submit(); true"
    ));
    b.wait_for("/lookup", "document.getElementById('answer')");
    assert_eq!(
        b.eval("document.getElementById('answer').dataset.answer"),
        json!("affected")
    );
    assert_eq!(
        b.eval("document.getElementById('reference').textContent"),
        json!(reference)
    );
    assert_eq!(
        b.eval("document.getElementById('id').textContent"),
        json!("C000002")
    );
    assert_eq!(
        b.eval("document.getElementById('state').dataset.state"),
        json!("pending")
    );
    let fields = b.eval("document.getElementById('fields').textContent");
    assert!(fields.as_str().unwrap().contains("氏名"), "{fields}");
    let page = b
        .eval("document.body.innerText")
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        !page.contains("試験") && !page.contains("example.jp"),
        "{page}"
    );

    // By id.
    b.eval("document.getElementById('q').value = 'C000003'; document.getElementById('lookup').submit(); true");
    b.wait_for(
        "/lookup",
        "document.getElementById('id') && document.getElementById('id').textContent === 'C000003'",
    );

    // A wrong reference.
    b.eval("document.getElementById('q').value = 'ZZZZ-ZZZZ-ZZZZ'; document.getElementById('lookup').submit(); true");
    b.wait_for("/lookup", "document.getElementById('not-found')");

    // Sign out: back to the sign-in form, and the old page is refused.
    b.eval("document.getElementById('sign-out').click(); true");
    b.wait_for("/", "document.getElementById('sign-in')");
    b.call(
        "Page.navigate",
        json!({"url": format!("{base}/lookup?q=C000003")}),
    );
    b.wait_for("/lookup", "document.getElementById('sign-in')");
    assert_eq!(b.eval("document.getElementById('id')"), Value::Null);
    drop(stdout);
}
