//! Regressions: secrets in configuration and relay-URL errors, hotline config errors, the
//! `bounces` and `approve` exit codes and refusals, and references printed before the check
//! character changed.

mod support;

use support::campaign::{TestCampaign, text};

const SECRET: &str = "s3cr3t-PW";

fn all_output(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A config line that TOML cannot parse is located, never printed: it may hold a password.
#[test]
fn config_parse_errors_never_print_the_line() {
    for broken in [
        format!("smtp = \"smtp://u:{SECRET}@relay.example.jp:587"),
        format!("smtp = 'smtp://u:{SECRET}@relay.example.jp:587"),
        format!("smtp = smtp://u:{SECRET}@relay.example.jp:587"),
        format!("smtp = \"smtp://u:{SECRET}@relay.example.jp:587\" x"),
        format!("smtp = \"\"\"smtp://u:{SECRET}@relay.example.jp"),
        format!("smtp = [\"smtp://u:{SECRET}@relay.example.jp\"]"),
        format!("smtp = {{ url = \"smtp://u:{SECRET}@relay.example.jp\" }}"),
    ] {
        let c = TestCampaign::new(2, |config| {
            config.replace("smtp = \"smtp://127.0.0.1:2525\"", &broken)
        });
        let o = c.run(&["check"]);
        assert_ne!(o.status.code(), Some(0), "{broken}: {}", text(&o));
        let out = all_output(&o);
        assert!(!out.contains(SECRET), "{broken}: {out}");
        assert!(out.contains("config.toml"), "{broken}: {out}");
        assert!(out.contains("line "), "{broken}: {out}");
    }
}

/// A typo inside a hotline table is named, with its line, like every other config error.
#[test]
fn a_typo_in_a_hotline_table_names_the_key() {
    let c = TestCampaign::new(2, |config| {
        config.replacen("hours = \"9:00〜20:00\"", "hourz = \"9:00〜20:00\"", 1)
    });
    let o = c.run(&["check"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let out = all_output(&o);
    assert!(out.contains("hourz"), "{out}");
    assert!(!out.contains("untagged"), "{out}");
    // The number as a plain string still works, and so does a table without a typo.
    let c = TestCampaign::new(2, |config| {
        config.replacen(
            "[brands.kaede.hotline]\nnumber = \"0120-000-101\"",
            "hotline = \"0120-000-101\"\n[brands.kaede.unused]\nnumber = \"0\"",
            1,
        )
    });
    let o = c.run(&["check"]);
    assert!(!all_output(&o).contains("untagged"), "{}", text(&o));
}
