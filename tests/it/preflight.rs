//! `tsuchi preflight --dns-server`: the real binary against an authoritative DNS server on
//! loopback (hickory-server, in-process) serving zones with good, weak, missing and wrong
//! records. Each case asserts the level of each finding, what it says and the exit code.

use std::path::{Path, PathBuf};

use crate::support::campaign::{ConfigEdit, TestCampaign, text};
use crate::support::dns_server::{DnsServer, txt_strings, zone_head};

fn key(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/dkim")
        .join(name)
}

fn published(name: &str) -> String {
    std::fs::read_to_string(key(name))
        .unwrap()
        .trim()
        .to_string()
}

/// The RSA test key's record with one byte of the modulus changed: a well-formed RSA key
/// record, but of another key.
fn tampered_rsa() -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let record = published("test-rsa.txt");
    let (head, p) = record.split_once("p=").unwrap();
    let mut der = b64.decode(p).unwrap();
    der[100] ^= 0x10;
    format!("{head}p={}", b64.encode(der))
}

/// example.jp: `good` is set up right, `weak` has a weak policy, the wrong key, an SPF record
/// that does not permit the relay and no MX, `bare` has nothing, `loop` an SPF record that
/// includes itself.
fn example_jp() -> String {
    let rsa = txt_strings(&published("test-rsa.txt"));
    let other = txt_strings(&tampered_rsa());
    zone_head("example.jp")
        + &format!(
            "_dmarc.good IN TXT \"v=DMARC1; p=reject; rua=mailto:dmarc@good.example.jp\"\n\
             s2026._domainkey.good IN TXT {rsa}\n\
             good IN TXT \"google-site-verification=abc\"\n\
             good IN TXT \"v=spf1 ip4:192.0.2.0/24 include:_spf.good.example.jp -all\"\n\
             _spf.good IN TXT \"v=spf1 a:relay.good.example.jp ip6:2001:db8::/32 -all\"\n\
             relay.good IN A 198.51.100.7\n\
             good IN MX 10 mx.good.example.jp.\n\
             mx.good IN A 192.0.2.25\n\
             _dmarc.weak IN TXT \"v=DMARC1; p=none\"\n\
             s2026._domainkey.weak IN TXT {other}\n\
             weak IN TXT \"v=spf1 ip4:192.0.2.0/24 ~all\"\n\
             weak IN A 192.0.2.30\n\
             loop IN TXT \"v=spf1 include:loop.example.jp -all\"\n\
             loop IN MX 10 mx.good.example.jp.\n"
        )
}

/// example.com: a bulk-mail service's domain (set up right for itself), and a DMARC record at
/// the organizational domain whose subdomain policy is none.
fn example_com() -> String {
    let rsa = txt_strings(&published("test-rsa.txt"));
    zone_head("example.com")
        + &format!(
            "_dmarc IN TXT \"v=DMARC1; p=reject; sp=none\"\n\
             s1._domainkey.bulk IN TXT {rsa}\n\
             bulk IN TXT \"v=spf1 ip4:192.0.2.0/24 -all\"\n\
             bulk IN MX 10 mx.bulk.example.com.\n\
             mx.bulk IN A 192.0.2.40\n"
        )
}

fn server() -> DnsServer {
    DnsServer::start(&[&example_jp(), &example_com()])
}

/// A campaign whose From is `notice@<from>`, Return-Path `bounce@<rp>`, signing as
/// `dkim = Some((domain, selector))` with the RSA test key, and `relay_ips`.
fn campaign(from: &str, rp: &str, dkim: Option<(&str, &str)>, relay_ips: &[&str]) -> TestCampaign {
    let from = from.to_string();
    let rp = rp.to_string();
    let dkim = dkim.map(|(d, s)| (d.to_string(), s.to_string()));
    let ips = relay_ips
        .iter()
        .map(|ip| format!("\"{ip}\""))
        .collect::<Vec<_>>()
        .join(", ");
    TestCampaign::new(3, move |c| {
        let mut c = c
            .set(
                "address = \"notice@kaede-travel.example\"",
                &format!("address = \"notice@{from}\""),
            )
            .set(
                "return_path = \"bounce@kaede-travel.example\"",
                &format!("return_path = \"bounce@{rp}\""),
            )
            .set(
                "allow_insecure = false\n",
                &format!("allow_insecure = false\nrelay_ips = [{ips}]\n"),
            );
        if let Some((domain, selector)) = dkim {
            c.push_str(&format!(
                "\n[dkim]\ndomain = \"{domain}\"\nselector = \"{selector}\"\nkey_file = \"{}\"\n",
                key("test-rsa-pkcs8.pem").display()
            ));
        }
        c
    })
}

fn preflight(c: &TestCampaign, dns: &DnsServer, extra: &[&str]) -> std::process::Output {
    let addr = dns.addr().to_string();
    let mut args = vec!["preflight", "--dns-server", addr.as_str()];
    args.extend_from_slice(extra);
    c.command(&args)
        .env_remove("TSUCHI_DKIM_KEY_FILE")
        .output()
        .unwrap()
}

/// The findings of `--format json`, as (check, level, detail, publish).
fn findings(out: &std::process::Output) -> Vec<(String, String, String, String)> {
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(out)));
    json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let s = |k: &str| f[k].as_str().unwrap_or("").to_string();
            (s("check"), s("level"), s("detail"), s("publish"))
        })
        .collect()
}

fn finding<'a>(
    all: &'a [(String, String, String, String)],
    check: &str,
) -> &'a (String, String, String, String) {
    all.iter()
        .find(|f| f.0 == check)
        .unwrap_or_else(|| panic!("no {check} finding in {all:?}"))
}

/// The lines of the private key's body: none may appear in any output.
fn private_key_lines() -> Vec<String> {
    std::fs::read_to_string(key("test-rsa-pkcs8.pem"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .map(|l| l.trim().to_string())
        .collect()
}

#[test]
fn a_domain_set_up_right_is_all_ok() {
    let dns = server();
    let c = campaign(
        "good.example.jp",
        "good.example.jp",
        Some(("good.example.jp", "s2026")),
        &["192.0.2.10", "198.51.100.7", "2001:db8::25"],
    );
    let out = preflight(&c, &dns, &["--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let all = findings(&out);
    let checks: Vec<&str> = all.iter().map(|f| f.0.as_str()).collect();
    assert_eq!(checks, ["dmarc", "dkim", "spf", "bounce-mx", "alignment"]);
    for f in &all {
        assert_eq!(f.1, "ok", "{f:?}\n{}", text(&out));
    }
    assert!(
        finding(&all, "dmarc").2.contains("policy reject"),
        "{all:?}"
    );
    assert!(
        finding(&all, "dkim")
            .2
            .contains("matches the configured private key"),
        "{all:?}"
    );
    // Every relay address is permitted: by ip4, by an include's a:, by ip6.
    assert!(
        finding(&all, "spf")
            .2
            .contains("permits 192.0.2.10, 198.51.100.7, 2001:db8::25"),
        "{all:?}"
    );
    assert!(
        finding(&all, "bounce-mx").2.contains("mx.good.example.jp"),
        "{all:?}"
    );

    // The table says the same for people.
    let table = preflight(&c, &dns, &[]);
    assert_eq!(table.status.code(), Some(0), "{}", text(&table));
    let stdout = String::from_utf8_lossy(&table.stdout);
    assert!(
        stdout.contains("summary: 5 ok, 0 warnings, 0 errors"),
        "{stdout}"
    );
    assert!(stdout.contains("_dmarc.good.example.jp"), "{stdout}");
}

#[test]
fn weak_and_wrong_records_are_warnings_and_errors_with_what_to_publish() {
    let dns = server();
    let c = campaign(
        "weak.example.jp",
        "weak.example.jp",
        Some(("weak.example.jp", "s2026")),
        &["203.0.113.5"],
    );
    let out = preflight(&c, &dns, &["--format", "json"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let all = findings(&out);
    let dmarc = finding(&all, "dmarc");
    assert_eq!(dmarc.1, "warning", "{dmarc:?}");
    assert!(dmarc.2.contains("policy none"), "{dmarc:?}");
    assert!(dmarc.3.contains("p=quarantine or p=reject"), "{dmarc:?}");
    // An RSA key is published, but not the configured one.
    let dkim = finding(&all, "dkim");
    assert_eq!(dkim.1, "error", "{dkim:?}");
    assert!(dkim.2.contains("not the public half"), "{dkim:?}");
    assert!(
        dkim.3.contains(&format!(
            "s2026._domainkey.weak.example.jp TXT \"{}\"",
            published("test-rsa.txt")
        )),
        "the fix is the exact record of the configured key: {dkim:?}"
    );
    let spf = finding(&all, "spf");
    assert_eq!(spf.1, "error", "{spf:?}");
    assert!(spf.2.contains("203.0.113.5: softfail"), "{spf:?}");
    assert!(spf.3.contains("v=spf1 ip4:203.0.113.5 -all"), "{spf:?}");
    let mx = finding(&all, "bounce-mx");
    assert_eq!(mx.1, "warning", "{mx:?}");
    assert!(mx.2.contains("192.0.2.30"), "{mx:?}");
    assert_eq!(finding(&all, "alignment").1, "ok", "{all:?}");
}

#[test]
fn a_domain_without_records_gets_an_error_per_check_and_the_records_to_publish() {
    let dns = server();
    let c = campaign(
        "bare.example.jp",
        "bare.example.jp",
        Some(("bare.example.jp", "s2026")),
        &[],
    );
    let out = preflight(&c, &dns, &["--format", "json"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let all = findings(&out);
    for check in ["dmarc", "dkim", "spf", "bounce-mx"] {
        let f = finding(&all, check);
        assert_eq!(f.1, "error", "{f:?}");
        assert!(!f.3.is_empty(), "an error says what to publish: {f:?}");
    }
    assert!(
        finding(&all, "dmarc")
            .3
            .contains("_dmarc.example.jp TXT \"v=DMARC1; p=quarantine"),
        "{all:?}"
    );
    assert!(
        finding(&all, "dkim").3.contains(&published("test-rsa.txt")),
        "{all:?}"
    );
    assert!(finding(&all, "spf").2.contains("no SPF record"), "{all:?}");
    assert!(
        finding(&all, "bounce-mx")
            .2
            .contains("bounces cannot arrive"),
        "{all:?}"
    );
}

#[test]
fn return_path_and_signature_of_another_organization_do_not_align() {
    let dns = server();
    let c = campaign(
        "good.example.jp",
        "bulk.example.com",
        Some(("bulk.example.com", "s1")),
        &["192.0.2.10"],
    );
    let out = preflight(&c, &dns, &["--format", "json"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let all = findings(&out);
    // The bulk service's own records are fine; only the alignment with From fails.
    for check in ["dmarc", "dkim", "spf", "bounce-mx"] {
        assert_eq!(finding(&all, check).1, "ok", "{:?}", finding(&all, check));
    }
    let a = finding(&all, "alignment");
    assert_eq!(a.1, "error", "{a:?}");
    assert!(a.2.contains("DMARC fails for every notice"), "{a:?}");

    // Relaxed alignment: a Return-Path in a subdomain of the same organization aligns.
    let c = campaign(
        "good.example.jp",
        "good.example.jp",
        Some(("bulk.example.com", "s1")),
        &[],
    );
    let all = findings(&preflight(&c, &dns, &["--format", "json"]));
    let a = finding(&all, "alignment");
    assert_eq!(a.1, "warning", "SPF aligned, DKIM not: {a:?}");
    assert!(a.3.contains("dkim.domain = \"good.example.jp\""), "{a:?}");
}

#[test]
fn a_dmarc_policy_is_inherited_from_the_organizational_domain() {
    let dns = server();
    // news.example.com has no _dmarc record; example.com's applies, with sp=none.
    let c = campaign("news.example.com", "bulk.example.com", None, &[]);
    let all = findings(&preflight(&c, &dns, &["--format", "json"]));
    let dmarc = finding(&all, "dmarc");
    assert_eq!(dmarc.1, "warning", "{dmarc:?}");
    assert!(dmarc.2.contains("inherited from example.com"), "{dmarc:?}");
    // Without [dkim], tsuchi does not sign: a warning that the relay must.
    let dkim = finding(&all, "dkim");
    assert_eq!(dkim.1, "warning", "{dkim:?}");
    assert!(dkim.2.contains("relay must sign"), "{dkim:?}");
}

#[test]
fn an_spf_record_that_includes_itself_stops_at_ten_lookups() {
    let dns = server();
    let c = campaign("good.example.jp", "loop.example.jp", None, &["192.0.2.10"]);
    let all = findings(&preflight(&c, &dns, &["--format", "json"]));
    let spf = finding(&all, "spf");
    assert_eq!(spf.1, "error", "{spf:?}");
    assert!(spf.2.contains("permerror"), "{spf:?}");
    assert!(spf.2.contains("more than 10 DNS lookups"), "{spf:?}");
}

#[test]
fn an_unreachable_dns_server_is_could_not_check_never_missing() {
    // A port nothing listens on (bound, then released).
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let c = campaign(
        "good.example.jp",
        "good.example.jp",
        Some(("good.example.jp", "s2026")),
        &[],
    );
    let out = c
        .command(&[
            "preflight",
            "--dns-server",
            &format!("127.0.0.1:{port}"),
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let all = findings(&out);
    for check in ["dmarc", "dkim", "spf", "bounce-mx"] {
        let f = finding(&all, check);
        assert_eq!(f.1, "error", "{f:?}");
        assert!(f.2.contains("could not look up"), "{f:?}");
        assert!(
            f.3.is_empty(),
            "nothing to publish when nothing was seen: {f:?}"
        );
    }
}

#[test]
fn check_prints_a_preflight_summary_only_when_asked() {
    let dns = server();
    let good = campaign(
        "good.example.jp",
        "good.example.jp",
        Some(("good.example.jp", "s2026")),
        &["192.0.2.10"],
    );
    let offline = good.run(&["check"]);
    assert_eq!(offline.status.code(), Some(0), "{}", text(&offline));
    assert!(
        String::from_utf8_lossy(&offline.stdout).contains("not checked: run `tsuchi preflight`"),
        "{}",
        text(&offline)
    );
    let addr = dns.addr().to_string();
    let asked = good.run(&["check", "--preflight", "--dns-server", &addr]);
    assert_eq!(asked.status.code(), Some(0), "{}", text(&asked));
    assert!(
        String::from_utf8_lossy(&asked.stdout).contains("preflight: 5 ok, 0 warnings, 0 errors"),
        "{}",
        text(&asked)
    );

    let bare = campaign("bare.example.jp", "bare.example.jp", None, &[]);
    let out = bare.run(&["check", "--preflight", "--dns-server", &addr]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "DNS errors fail check: {}",
        text(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("(errors: dmarc, spf, bounce-mx; see `tsuchi preflight`)"),
        "{}",
        text(&out)
    );
}

#[test]
fn the_private_key_never_appears_in_any_output() {
    let dns = server();
    // The wrong key is published, so the output prints the public record to publish.
    let c = campaign(
        "weak.example.jp",
        "weak.example.jp",
        Some(("weak.example.jp", "s2026")),
        &[],
    );
    for format in ["table", "json"] {
        let out = preflight(&c, &dns, &["--format", format]);
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(all.contains(&published("test-rsa.txt")), "{all}");
        for line in private_key_lines() {
            assert!(
                !all.contains(&line),
                "private key material in the output:\n{all}"
            );
        }
    }
}
