//! A throwaway campaign for integration tests: the repository's config and templates, a
//! generated list of fictional recipients, and helpers to run the real binary on it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

#[allow(unused_imports)] // each test uses some of them
pub use super::rows::{BRANDS, HEADER, row};

/// An edit of the sample config's text that fails the test when the text it replaces is not
/// there: a renamed key in `config.toml` must not leave a test running on the defaults.
pub trait ConfigEdit {
    fn set(self, from: &str, to: &str) -> String;
}

impl ConfigEdit for String {
    #[track_caller]
    fn set(self, from: &str, to: &str) -> String {
        assert!(
            self.contains(from),
            "config.toml has no {from:?} to replace"
        );
        self.replace(from, to)
    }
}

pub struct TestCampaign {
    pub dir: tempfile::TempDir,
}

impl TestCampaign {
    /// A campaign of `rows` generated recipients; `edit` may change the config text.
    pub fn new(rows: usize, edit: impl FnOnce(String) -> String) -> TestCampaign {
        let mut csv = String::from(HEADER);
        csv.push('\n');
        for i in 1..=rows {
            csv.push_str(&row(i));
            csv.push('\n');
        }
        Self::with_list(&csv, edit)
    }

    /// A campaign over the given CSV text. A field of the catalogue whose `leaked_<key>` column
    /// the list's header lacks is declared `optional = true`, as an operator would for a field
    /// that does not apply: most test lists carry only the flag columns they exercise.
    pub fn with_list(csv: &str, edit: impl FnOnce(String) -> String) -> TestCampaign {
        let header = csv.lines().next().unwrap_or("").to_ascii_lowercase();
        let columns: Vec<&str> = header
            .split(',')
            .map(|c| c.trim().trim_start_matches('\u{feff}'))
            .collect();
        Self::with_list_exact(csv, |config| edit(optional_unless_in(&columns, config)))
    }

    /// A campaign over the given CSV text, with the repository's field catalogue as it is.
    pub fn with_list_exact(csv: &str, edit: impl FnOnce(String) -> String) -> TestCampaign {
        let dir = tempfile::tempdir().unwrap();
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
        let config = std::fs::read_to_string(repo.join("config.toml")).unwrap();
        // Each campaign has its own copy of the templates, so a test may edit them.
        let templates = dir.path().join("templates");
        for locale in ["ja", "en"] {
            std::fs::create_dir_all(templates.join(locale)).unwrap();
            for part in ["subject.tera", "body.tera"] {
                std::fs::copy(
                    repo.join("templates").join(locale).join(part),
                    templates.join(locale).join(part),
                )
                .unwrap();
            }
        }
        let config = config
            .set("require_approval = true", "require_approval = false")
            .set(
                "templates = \"templates\"",
                &format!("templates = \"{}\"", templates.display()),
            )
            .set(
                "recipients = \"recipients/sample.csv\"",
                "recipients = \"list.csv\"",
            )
            .set("retry_base_ms = 1000", "retry_base_ms = 10");
        let config = edit(config);
        std::fs::write(dir.path().join("config.toml"), config).unwrap();
        std::fs::write(dir.path().join("list.csv"), csv).unwrap();
        TestCampaign { dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn state_dir(&self) -> PathBuf {
        self.path("state")
    }

    pub fn journal(&self) -> PathBuf {
        self.state_dir().join("kaede-2026-11.journal.jsonl")
    }

    /// The binary with `--config` and `--state-dir` set, run in the campaign directory.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tsuchi"));
        cmd.current_dir(self.dir.path())
            .arg("--config")
            .arg(self.path("config.toml"))
            .arg("--state-dir")
            .arg(self.state_dir())
            .args(args)
            .env_remove("TSUCHI_SMTP_USER")
            .env_remove("TSUCHI_SMTP_PASSWORD");
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).stdin(Stdio::null()).output().unwrap()
    }

    /// [`TestCampaign::run`] on a blocking thread, so that a test on the tokio runtime (with
    /// its fake relay) keeps serving while the binary runs.
    pub async fn run_async(&self, args: &[&str]) -> Output {
        let mut cmd = self.command(args);
        tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap()
    }

    pub fn spawn(&self, args: &[&str]) -> Child {
        self.command(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }
}

/// The config text with `optional = true` on every `[[fields]]` entry whose `leaked_<key>` is
/// not among `columns`.
pub fn optional_unless_in(columns: &[&str], config: String) -> String {
    let mut out = String::with_capacity(config.len());
    let mut in_fields = false;
    for line in config.lines() {
        out.push_str(line);
        out.push('\n');
        let t = line.trim();
        if t.starts_with('[') {
            in_fields = t == "[[fields]]";
        }
        if let Some(key) = t
            .strip_prefix("key = \"")
            .and_then(|k| k.strip_suffix('"'))
            .filter(|_| in_fields)
            && !columns.contains(&format!("leaked_{key}").as_str())
        {
            out.push_str("optional = true\n");
        }
    }
    out
}

/// `send` to the relay at `url`, without rate limit, quietly, then `extra`.
pub fn send_args(url: &str, extra: &[&str]) -> Vec<String> {
    ["send", "--smtp", url, "--rate", "0", "-q"]
        .iter()
        .chain(extra)
        .map(|s| s.to_string())
        .collect()
}

pub fn text(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The row of a generated recipient (`user{i}@example.jp` is row i).
pub fn row_of(email: &str) -> u64 {
    email
        .strip_prefix("user")
        .and_then(|r| r.split('@').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not a generated recipient: {email}"))
}

/// Copies per row among `messages` (counted per envelope recipient).
pub fn copies(messages: &[super::smtp_server::Received]) -> std::collections::BTreeMap<u64, usize> {
    let mut m = std::collections::BTreeMap::new();
    for r in messages {
        for rcpt in &r.recipients {
            *m.entry(row_of(rcpt)).or_default() += 1;
        }
    }
    m
}

/// Waits for a spawned `tsuchi`; if it has not finished within `limit`, kills it (SIGKILL)
/// and fails the test naming `what`.
pub async fn wait_bounded(child: Child, limit: std::time::Duration, what: &str) -> Output {
    let pid = child.id();
    let waiter = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap());
    match tokio::time::timeout(limit, waiter).await {
        Ok(out) => out.unwrap(),
        Err(_) => {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            panic!("`tsuchi {what}` did not finish within {limit:?}");
        }
    }
}
