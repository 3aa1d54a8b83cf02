//! Headless Chromium for the review-page tests: the flags this machine needs (no sandbox as
//! root, no background networking on a closed network) and a fresh profile per run.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

pub const CHROMIUM: &str = "/usr/bin/chromium";

/// Whether Chromium is installed; the tests say so and skip when it is not, except under CI,
/// which must have installed it.
pub fn available() -> bool {
    if Path::new(CHROMIUM).exists() {
        return true;
    }
    assert!(std::env::var_os("CI").is_none(), "CI must install chromium");
    eprintln!("{CHROMIUM} not installed; skipping");
    false
}

/// Runs headless Chromium on `page` with `extra` flags (`--dump-dom`, `--screenshot=…`) and the
/// profile directory `profile`; fails the test if it does not exit cleanly.
pub fn chromium(profile: &Path, extra: &[String], page: &Path) -> Output {
    let out = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The DOM of `page` as Chromium builds it.
pub fn dump_dom(profile: &Path, page: &Path) -> String {
    String::from_utf8(chromium(profile, &["--dump-dom".into()], page).stdout).unwrap()
}
