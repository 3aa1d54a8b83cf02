//! Renders a review page in headless Chromium: the DOM holds every subject, and a screenshot
//! comes out. Ignored by default (needs `/usr/bin/chromium`); run with
//! `cargo test --test extras -- --ignored review_page`. Leaves the screenshot at
//! `$CARGO_TARGET_TMPDIR/review_page.png` for a look.

use std::path::Path;
use std::process::Command;

use crate::support::catalogue::CATALOGUE;
use crate::support::chromium::{available, chromium};
use tsuchi::review::{PageInput, PageVariant, escape_html, render_page};

fn variant(code: &str, count: u64, brand: &str, listed: usize, body: &str) -> PageVariant {
    let catalogue = CATALOGUE;
    PageVariant {
        code: code.into(),
        count,
        brand_key: code.split('-').next().unwrap().into(),
        brand_name: brand.into(),
        hotline: "0120-000-101 9:00〜20:00 (毎日)".into(),
        locale: "ja".into(),
        fields: catalogue
            .iter()
            .enumerate()
            .map(|(i, l)| (l.to_string(), i < listed))
            .collect(),
        subject: format!("【重要】{brand}をご利用のお客様へ 個人情報流出のお知らせとお詫び"),
        body: body.into(),
        eml_file: format!("{code}.eml"),
    }
}

fn input() -> PageInput {
    let body = "見本 太郎 様\n\n\
                このたび、弊社の子会社が運営するウェブサイトにおいて、\n\
                お客様の個人情報が外部に流出した可能性があることが判明\n\
                いたしました。多大なるご迷惑とご心配をおかけしますことを\n\
                深くお詫び申し上げます。\n\n\
                ■流出した可能性のあるお客様の情報\n\
                \u{3000}1. 氏名\n　2. 性別\n　3. 生年月日\n\n\
                クレジットカード番号、銀行口座、ご予約の情報は含まれて\n\
                おりません。<b>強調</b> & \"記号\" もそのまま表示されます。\n\n\
                ■お問い合わせ\n　楓トラベル 専用窓口 0120-000-101\n　9:00〜20:00 (毎日)\n\n\
                参照番号: K7Q-3MX-9TB\n";
    PageInput {
        campaign: "kaede-2026-11".into(),
        company: "楓トラベル株式会社".into(),
        sender: "楓トラベル お客様窓口 <notice@kaede-travel.example>".into(),
        generated_at: "2026-11-24T18:00:00Z".into(),
        total_recipients: 7_930_000,
        refused_rows: 12,
        variants: vec![
            variant("kaede-ja-0007f", 5_123_456, "楓トラベル", 3, body),
            variant("momiji-ja-00183", 2_000_001, "もみじ旅行", 4, &body.replace("楓トラベル", "もみじ旅行")),
            variant("sakura-ja-00001", 806_543, "さくらツアーズ", 1, &body.replace("楓トラベル", "さくらツアーズ")),
        ],
        template_digests: [("ja/body.tera".to_string(), "ab".repeat(32)), ("ja/subject.tera".to_string(), "cd".repeat(32))].into(),
        setting_digests: [("brands.kaede".to_string(), "ef".repeat(32)), ("incident.ja".to_string(), "01".repeat(32))].into(),
        sample_note: "氏名と参照番号は架空の見本の人物のものです。(The name and reference number are those of a fictional sample person.)".into(),
    }
}

#[test]
#[ignore = "needs /usr/bin/chromium; run with --ignored"]
fn chromium_renders_the_page() {
    if !available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let input = input();
    let page = dir.path().join("review.html");
    std::fs::write(&page, render_page(&input)).unwrap();

    let dom = chromium(&dir.path().join("profile1"), &["--dump-dom".into()], &page);
    let dom = String::from_utf8(dom.stdout).unwrap();
    for v in &input.variants {
        assert!(
            dom.contains(&escape_html(&v.subject)),
            "subject of {} missing from DOM",
            v.code
        );
    }
    assert!(!dom.contains("<b>強調"), "markup in a body must stay text");

    let png = dir.path().join("page.png");
    chromium(
        &dir.path().join("profile2"),
        &[
            format!("--screenshot={}", png.display()),
            "--window-size=1200,2000".into(),
        ],
        &page,
    );
    let bytes = std::fs::read(&png).expect("screenshot written");
    assert!(
        bytes.len() > 1000 && bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{} bytes",
        bytes.len()
    );
    let keep = Path::new(env!("CARGO_TARGET_TMPDIR")).join("review_page.png");
    std::fs::copy(&png, &keep).unwrap();
    std::fs::copy(&page, keep.with_extension("html")).unwrap();
    eprintln!("screenshot: {}", keep.display());
}

/// The page `tsuchi preview` writes for the sample campaign, opened in a real browser: every
/// group's subject and every line of its body are there, as a recipient reads them.
#[test]
#[ignore = "needs /usr/bin/chromium; run with --ignored"]
fn chromium_shows_every_variant_of_the_sample_campaign() {
    if !available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("preview");
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(env!("CARGO_BIN_EXE_tsuchi"))
        .current_dir(repo)
        .args(["--state-dir"])
        .arg(dir.path().join("state"))
        .args(["preview", "--out"])
        .arg(&out_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page = out_dir.join("index.html");
    let dom = chromium(&dir.path().join("profile"), &["--dump-dom".into()], &page);
    let dom = String::from_utf8(dom.stdout).unwrap();
    let mut variants = 0;
    for entry in std::fs::read_dir(&out_dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|x| x != "eml") {
            continue;
        }
        variants += 1;
        let raw = std::fs::read(&path).unwrap();
        let msg = mail_parser::MessageParser::default()
            .parse(&raw[..])
            .unwrap();
        let subject = msg.subject().unwrap();
        assert!(
            dom.contains(&text_node(subject)),
            "{}: subject missing",
            path.display()
        );
        for line in msg
            .body_text(0)
            .unwrap()
            .lines()
            .filter(|l| !l.trim().is_empty())
        {
            assert!(
                dom.contains(&text_node(line.trim_end())),
                "{}: body line {line:?} missing or re-wrapped",
                path.display()
            );
        }
    }
    // One .eml per review group, each group's notice on the page.
    assert_eq!(variants, dom.matches("<section class=\"group\"").count());
    assert!(variants >= 9, "{variants} groups");
    let png = dir.path().join("sample.png");
    chromium(
        &dir.path().join("profile2"),
        &[
            format!("--screenshot={}", png.display()),
            "--window-size=1200,3000".into(),
        ],
        &page,
    );
    let keep = Path::new(env!("CARGO_TARGET_TMPDIR")).join("sample_review_page.png");
    std::fs::copy(&png, &keep).unwrap();
    eprintln!("screenshot: {}", keep.display());
}

/// Text as a browser serializes it inside an element (quotes are not escaped there).
fn text_node(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
