//! The review page: self-contained, escaped, complete.

use tsuchi::review::{PageInput, PageVariant, escape_html, render_page};

use crate::support::catalogue::CATALOGUE;

fn variant(
    code: &str,
    count: u64,
    brand: (&str, &str),
    listed: &[usize],
    body: &str,
) -> PageVariant {
    PageVariant {
        code: code.into(),
        count,
        brand_key: brand.0.into(),
        brand_name: brand.1.into(),
        hotline: "0120-000-101 9:00〜20:00 (毎日)".into(),
        locale: "ja".into(),
        fields: CATALOGUE
            .iter()
            .enumerate()
            .map(|(i, l)| (l.to_string(), listed.contains(&i)))
            .collect(),
        subject: format!(
            "【重要】{}をご利用のお客様へ 個人情報流出のお知らせとお詫び",
            brand.1
        ),
        body: body.into(),
        eml_file: format!("{code}.eml"),
    }
}

fn input() -> PageInput {
    let variants = vec![
        variant(
            "kaede-ja-0007f",
            5_123_456,
            ("kaede", "楓トラベル"),
            &[0, 1, 2, 3, 4, 5, 6],
            "見本 太郎 様\n\n\
             このたび、弊社の子会社が運営するサイトにおいて、\nお客様の個人情報が流出した可能性があることが判明いたしました。\n\n\
             \u{3000}1. 氏名\n　2. 性別\n\n参照番号: K7Q-3MX-9TB\n",
        ),
        variant(
            "momiji-ja-00183",
            2_000_001,
            ("momiji", "もみじ旅行"),
            &[0, 3, 7, 8],
            "見本 花子 様\n\n<b>太字</b> & \"引用\" 'single' は文字どおり表示されること。\n  字下げ\n",
        ),
        variant(
            "sakura-en-00001",
            806_543,
            ("sakura", "Sakura Tours"),
            &[0],
            "\nDear Taro Mihon,\n\nWe apologize.\n",
        ),
    ];
    PageInput {
        campaign: "kaede-2026-11".into(),
        company: "楓トラベル株式会社".into(),
        sender: "楓トラベル お客様窓口 <notice@kaede-travel.example>".into(),
        generated_at: "2026-11-24T18:00:00Z".into(),
        total_recipients: 7_930_000,
        refused_rows: 12,
        variants,
        template_digests: [("ja/body.tera".to_string(), "ab".repeat(32)), ("ja/subject.tera".to_string(), "cd".repeat(32))].into(),
        setting_digests: [("brands.kaede".to_string(), "ef".repeat(32)), ("incident.ja".to_string(), "01".repeat(32))].into(),
        sample_note: "氏名と参照番号は架空の見本の人物のものです。(The name and reference number are those of a fictional sample person.)".into(),
    }
}

#[test]
fn page_is_a_complete_japanese_document() {
    let page = render_page(&input());
    assert!(page.starts_with("<!doctype html>"), "{}", &page[..80]);
    assert!(page.contains("<meta charset=\"utf-8\">"));
    assert!(page.contains("<html lang=\"ja\">"));
    assert!(page.trim_end().ends_with("</html>"));
    assert!(page.contains("@media print"));
    assert!(page.contains("white-space: pre"));
    assert!(page.contains("page-break-before: always"));
}

#[test]
fn page_loads_and_runs_nothing() {
    let page = render_page(&input());
    let lower = page.to_lowercase();
    for banned in [
        "<script",
        "http:",
        "https:",
        "src=",
        "<link",
        "@import",
        "url(",
        "@font-face",
        "<iframe",
        "<img",
        "<object",
        "<embed",
        "//",
    ] {
        assert!(!lower.contains(banned), "page contains {banned:?}");
    }
    // The only links: in-page anchors and the relative .eml files.
    for part in page.split("href=\"").skip(1) {
        let href = &part[..part.find('"').unwrap()];
        assert!(
            href.starts_with('#') || (href.ends_with(".eml") && !href.contains(['/', ':'])),
            "{href}"
        );
    }
}

#[test]
fn page_shows_every_subject_and_body_exactly() {
    let input = input();
    let page = render_page(&input);
    for v in &input.variants {
        assert!(
            page.contains(&escape_html(&v.subject)),
            "subject of {}",
            v.code
        );
        // Right after "<pre …>\n", the body verbatim (the parser drops that one newline).
        assert!(
            page.contains(&format!(
                "<pre class=\"body\">\n{}</pre>",
                escape_html(&v.body)
            )),
            "body of {}",
            v.code
        );
        assert!(page.contains(&format!("href=\"{}.eml\"", v.code)));
        assert!(page.contains(&v.hotline));
    }
    assert!(page.contains(&escape_html(&input.sample_note)));
}

#[test]
fn markup_in_a_body_is_escaped() {
    let page = render_page(&input());
    assert!(page.contains("&lt;b&gt;太字&lt;/b&gt; &amp; &quot;引用&quot; &#39;single&#39;"));
    assert!(!page.contains("<b>太字"));
    assert!(page.contains("楓トラベル お客様窓口 &lt;notice@kaede-travel.example&gt;"));
    assert_eq!(
        escape_html("<a href='x'>&amp;</a>"),
        "&lt;a href=&#39;x&#39;&gt;&amp;amp;&lt;/a&gt;"
    );
}

#[test]
fn header_shows_the_totals() {
    let page = render_page(&input());
    assert!(page.contains("7,930,000"));
    assert!(page.contains("kaede-2026-11"));
    assert!(page.contains("楓トラベル株式会社"));
    assert!(page.contains("2026-11-24T18:00:00Z"));
    assert!(page.contains("<th>文面の種類 (Variants)</th><td>3</td>"));
    assert!(page.contains("<th>除外された行 (Refused rows)</th><td>12</td>"));
    // The variants add up to the total, so no warning.
    assert!(!page.contains("一致しません"));
}

#[test]
fn counts_appear_in_order_in_contents_and_sections() {
    let page = render_page(&input());
    let toc = &page[page.find("<nav>").unwrap()..page.find("</nav>").unwrap()];
    let sections = &page[page.find("</nav>").unwrap()..];
    for part in [toc, sections] {
        let positions: Vec<usize> = ["5,123,456", "2,000,001", "806,543"]
            .iter()
            .map(|c| part.find(c).unwrap())
            .collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
    }
    assert!(page.contains("文面 1/3 (Variant 1/3) — 5,123,456 名 (recipients)"));
    assert!(page.contains("文面 3/3 (Variant 3/3) — 806,543 名 (recipients)"));
    for i in 1..=3 {
        assert!(toc.contains(&format!("href=\"#v{i}\"")));
        assert!(sections.contains(&format!("id=\"v{i}\"")));
    }
    // Fields per variant in the contents: listed / catalogue.
    assert!(toc.contains(">7/9<") && toc.contains(">4/9<") && toc.contains(">1/9<"));
}

#[test]
fn field_table_marks_the_listed_fields() {
    let page = render_page(&input());
    let first = &page[page.find("id=\"v1\"").unwrap()..page.find("id=\"v2\"").unwrap()];
    assert_eq!(first.matches('✓').count(), 7);
    assert!(first.contains("<tr class=\"listed\"><td>氏名</td><td class=\"mark\">✓</td></tr>"));
    assert!(first.contains("<tr><td>パスポート番号</td><td class=\"mark\"></td></tr>"));
}

#[test]
fn digests_are_listed() {
    let page = render_page(&input());
    let digests = &page[page.find("id=\"digests\"").unwrap()..];
    for (k, d) in [
        ("ja/body.tera", "ab".repeat(32)),
        ("incident.ja", "01".repeat(32)),
        ("brands.kaede", "ef".repeat(32)),
    ] {
        assert!(
            digests.contains(&format!(
                "<td class=\"mono\">{k}</td><td class=\"mono\">{d}</td>"
            )),
            "{k}"
        );
    }
}

#[test]
fn suspicious_inputs_are_neutralized_or_flagged() {
    let mut input = input();
    input.variants[0].eml_file = "https://evil.example/x.eml".into();
    input.variants[1]
        .body
        .push_str("見えない\u{200B}文字\u{202E}");
    input.total_recipients += 1;
    let page = render_page(&input);
    // A file name that is not a plain name is shown, not linked.
    assert!(!page.contains("href=\"https"));
    assert!(page.contains("U+200B, U+202E"));
    assert!(page.contains("一致しません"));
}

#[test]
fn an_empty_campaign_still_renders() {
    let mut input = input();
    input.variants.clear();
    input.total_recipients = 0;
    input.template_digests.clear();
    let page = render_page(&input);
    assert!(page.contains("(No variants.)"));
    assert!(page.trim_end().ends_with("</html>"));
}
