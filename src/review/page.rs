//! The review page: one self-contained HTML document showing legal every distinct variant of the
//! notice (brand × set of leaked fields × language), how many people get each, and the digests
//! an approval will pin.
//!
//! The page has no script and loads nothing: no style sheet, font, image or frame from anywhere.
//! Its only links are in-page anchors and the `.eml` files written next to it, so it reads the
//! same offline, in a locked-down browser, or printed to PDF (each variant starts a new page).
//! Every text is HTML-escaped, and subjects and bodies sit in `white-space: pre` blocks, so the
//! reviewer sees the line breaks exactly as the recipient will.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::util::format::group_digits;

/// One distinct notice variant.
#[derive(Debug, Clone, PartialEq)]
pub struct PageVariant {
    /// Short code of the variant, e.g. `kaede-ja-0007f`.
    pub code: String,
    /// How many recipients get this variant.
    pub count: u64,
    pub brand_key: String,
    pub brand_name: String,
    /// The brand's hotline as the notice shows it, e.g. `0120-000-101 9:00〜20:00 (毎日)`.
    pub hotline: String,
    pub locale: String,
    /// The whole field catalogue, in order: (label, whether this variant lists it).
    pub fields: Vec<(String, bool)>,
    pub subject: String,
    pub body: String,
    /// File name of the variant's `.eml` preview, relative to the page.
    pub eml_file: String,
}

/// Everything the page shows.
#[derive(Debug, Clone, PartialEq)]
pub struct PageInput {
    pub campaign: String,
    pub company: String,
    /// The From header as shown, e.g. `楓トラベル お客様窓口 <notice@…>`.
    pub sender: String,
    pub generated_at: String,
    pub total_recipients: u64,
    /// Rows of the list that were refused (errors) and get no notice.
    pub refused_rows: u64,
    /// Already sorted, most recipients first.
    pub variants: Vec<PageVariant>,
    pub template_digests: BTreeMap<String, String>,
    pub setting_digests: BTreeMap<String, String>,
    /// Explains that the name and reference number shown are those of a fictional sample person.
    pub sample_note: String,
}

pub(crate) const STYLE: &str = r#"
:root { color-scheme: light; }
body {
  margin: 2em auto; max-width: 60em; padding: 0 1em; color: #111; background: #fff;
  font-family: "Hiragino Kaku Gothic ProN", "Hiragino Sans", "Yu Gothic", YuGothic, Meiryo,
    "Noto Sans CJK JP", "Noto Sans JP", "IPAexGothic", "IPAGothic", "TakaoGothic", "VL Gothic",
    sans-serif;
  line-height: 1.5;
}
h1 { font-size: 1.5em; border-bottom: 2px solid #333; padding-bottom: .2em; }
h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #999; }
h3 { font-size: 1em; margin: 1.2em 0 .3em; }
table { border-collapse: collapse; margin: .5em 0; }
th, td { border: 1px solid #bbb; padding: .2em .6em; text-align: left; vertical-align: top; }
th { background: #f0f0f0; font-weight: normal; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.mark { text-align: center; }
tr.listed td { background: #fff6d8; }
pre, .mono {
  font-family: "Noto Sans Mono CJK JP", "Osaka-Mono", "MS Gothic", "IPAGothic", "TakaoGothic",
    "VL Gothic", monospace;
}
pre {
  white-space: pre; overflow-x: auto; margin: .3em 0; padding: .6em .8em;
  border: 1px solid #999; background: #fafafa; font-size: .95em; line-height: 1.45;
  tab-size: 8;
}
.digests td { font-size: .85em; }
.warn { color: #8a1c00; font-weight: bold; }
.note { border-left: 4px solid #999; padding: .3em .8em; background: #f6f6f6; }
.signoff td { height: 2.2em; min-width: 16em; }
@media print {
  body { margin: 0; max-width: none; font-size: 10pt; }
  a { color: inherit; text-decoration: none; }
  section.variant { break-before: page; page-break-before: always; }
  section.digests { break-before: page; page-break-before: always; }
  pre { white-space: pre; overflow: visible; font-size: 9pt; }
  tr, h2, h3 { break-inside: avoid; page-break-inside: avoid; }
  h2, h3 { break-after: avoid; page-break-after: avoid; }
}
"#;

/// Renders the complete HTML document.
pub fn render_page(input: &PageInput) -> String {
    let mut h = String::with_capacity(
        16 * 1024
            + input
                .variants
                .iter()
                .map(|v| v.body.len() * 2)
                .sum::<usize>(),
    );
    let n = input.variants.len();
    let title = format!("通知文面レビュー (Notice review) — {}", input.campaign);

    page_start(&mut h, &title, "");
    h.push_str("<table class=\"summary\">\n");
    let variant_sum: u64 = input.variants.iter().map(|v| v.count).sum();
    for (label, value, mono) in [
        ("キャンペーン (Campaign)", input.campaign.clone(), true),
        ("会社 (Company)", input.company.clone(), false),
        ("差出人 (From)", input.sender.clone(), false),
        ("作成日時 (Generated)", input.generated_at.clone(), false),
        (
            "送信対象 (Recipients)",
            group_digits(input.total_recipients),
            false,
        ),
        ("文面の種類 (Variants)", group_digits(n as u64), false),
        (
            "除外された行 (Refused rows)",
            group_digits(input.refused_rows),
            false,
        ),
    ] {
        let class = if mono { " class=\"mono\"" } else { "" };
        let _ = writeln!(
            h,
            "<tr><th>{label}</th><td{class}>{}</td></tr>",
            escape_html(&value)
        );
    }
    h.push_str("</table>\n");
    if input.refused_rows > 0 {
        let _ = writeln!(
            h,
            "<p class=\"warn\">{} 行はエラーのため通知されません。`tsuchi check` で行番号を確認してください。\
             ({} rows are refused and get no notice; `tsuchi check` lists them with line numbers.)</p>",
            group_digits(input.refused_rows),
            group_digits(input.refused_rows)
        );
    }
    if variant_sum != input.total_recipients {
        let _ = writeln!(
            h,
            "<p class=\"warn\">文面ごとの人数の合計 ({}) が送信対象数 ({}) と一致しません。\
             (The variants add up to {}, not to the total of recipients.)</p>",
            group_digits(variant_sum),
            group_digits(input.total_recipients),
            group_digits(variant_sum)
        );
    }
    h.push_str("</header>\n");

    // Table of contents.
    h.push_str("<nav>\n<h2 id=\"toc\">目次 (Contents)</h2>\n");
    if input.variants.is_empty() {
        h.push_str("<p class=\"warn\">文面がありません。(No variants.)</p>\n");
    } else {
        h.push_str(
            "<table class=\"toc\">\n<tr><th>番号 (No.)</th><th>人数 (Recipients)</th>\
             <th>割合 (Share)</th><th>ブランド (Brand)</th><th>言語 (Locale)</th>\
             <th>項目数 (Fields)</th><th>コード (Code)</th></tr>\n",
        );
        for (i, v) in input.variants.iter().enumerate() {
            let listed = v.fields.iter().filter(|(_, l)| *l).count();
            let _ = writeln!(
                h,
                "<tr><td class=\"num\"><a href=\"#v{n1}\">{n1}</a></td><td class=\"num\">{count}</td>\
                 <td class=\"num\">{share}</td><td>{brand}</td><td>{locale}</td>\
                 <td class=\"num\">{listed}/{all}</td><td class=\"mono\"><a href=\"#v{n1}\">{code}</a></td></tr>",
                n1 = i + 1,
                count = group_digits(v.count),
                share = share(v.count, input.total_recipients),
                brand = escape_html(&v.brand_name),
                locale = escape_html(&v.locale),
                all = v.fields.len(),
                code = escape_html(&v.code),
            );
        }
        h.push_str("</table>\n");
    }
    h.push_str("<p><a href=\"#digests\">ダイジェスト (Digests)</a></p>\n</nav>\n");

    // One section per variant.
    for (i, v) in input.variants.iter().enumerate() {
        render_variant(&mut h, i + 1, n, v);
    }

    // Digests and the sample note.
    digests_and_sign_off(
        &mut h,
        &input.template_digests,
        &input.setting_digests,
        &input.sample_note,
    );
    h
}

fn render_variant(h: &mut String, number: usize, of: usize, v: &PageVariant) {
    let _ = writeln!(h, "<section class=\"variant\" id=\"v{number}\">");
    let _ = writeln!(
        h,
        "<h2>文面 {number}/{of} (Variant {number}/{of}) — {} 名 (recipients)</h2>",
        group_digits(v.count)
    );
    h.push_str("<table>\n");
    let _ = writeln!(
        h,
        "<tr><th>コード (Code)</th><td class=\"mono\">{}</td></tr>",
        escape_html(&v.code)
    );
    let _ = writeln!(
        h,
        "<tr><th>ブランド (Brand)</th><td>{} <span class=\"mono\">({})</span></td></tr>",
        escape_html(&v.brand_name),
        escape_html(&v.brand_key)
    );
    let _ = writeln!(
        h,
        "<tr><th>窓口 (Hotline)</th><td>{}</td></tr>",
        escape_html(&v.hotline)
    );
    let _ = writeln!(
        h,
        "<tr><th>言語 (Locale)</th><td class=\"mono\">{}</td></tr>",
        escape_html(&v.locale)
    );
    let eml = match relative_href(&v.eml_file) {
        Some(href) => format!(
            "<a href=\"{}\">{}</a>",
            escape_html(&href),
            escape_html(&v.eml_file)
        ),
        None => escape_html(&v.eml_file),
    };
    let _ = writeln!(
        h,
        "<tr><th>メール (.eml)</th><td class=\"mono\">{eml}</td></tr>"
    );
    h.push_str("</table>\n");

    h.push_str("<h3>漏えい項目 (Leaked fields)</h3>\n<table class=\"fields\">\n");
    h.push_str("<tr><th>項目 (Field)</th><th>記載 (Listed)</th></tr>\n");
    for (label, listed) in &v.fields {
        let _ = writeln!(
            h,
            "<tr{}><td>{}</td><td class=\"mark\">{}</td></tr>",
            if *listed { " class=\"listed\"" } else { "" },
            escape_html(label),
            if *listed { "✓" } else { "" }
        );
    }
    h.push_str("</table>\n");

    subject_and_body(h, &v.subject, &v.body);
    h.push_str("<p><a href=\"#toc\">目次へ (Back to contents)</a></p>\n</section>\n");
}

pub(crate) fn digest_table(
    h: &mut String,
    title: &str,
    key_label: &str,
    digests: &BTreeMap<String, String>,
) {
    let _ = writeln!(h, "<h3>{title}</h3>");
    if digests.is_empty() {
        h.push_str("<p class=\"warn\">なし (none)</p>\n");
        return;
    }
    let _ = writeln!(
        h,
        "<table class=\"digests\">\n<tr><th>{key_label}</th><th>SHA-256</th></tr>"
    );
    for (k, d) in digests {
        let _ = writeln!(
            h,
            "<tr><td class=\"mono\">{}</td><td class=\"mono\">{}</td></tr>",
            escape_html(k),
            escape_html(d)
        );
    }
    h.push_str("</table>\n");
}

/// Characters a reviewer cannot see but a recipient's mail client may act on (control and
/// format characters: zero-width spaces, bidirectional overrides, BOM…). Tabs and newlines are
/// fine.
fn invisible_chars(text: &str) -> Vec<char> {
    let mut found: Vec<char> = text
        .chars()
        .filter(|&c| {
            (c.is_control() && c != '\n' && c != '\t')
                || matches!(c, '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{180E}'
                    | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
                    | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{206F}' | '\u{FEFF}'
                    | '\u{FFF9}'..='\u{FFFB}')
        })
        .collect();
    found.sort_unstable();
    found.dedup();
    found
}

fn invisible_warning(h: &mut String, text: &str) {
    let found = invisible_chars(text);
    if found.is_empty() {
        return;
    }
    let list: Vec<String> = found
        .iter()
        .map(|c| format!("U+{:04X}", *c as u32))
        .collect();
    let _ = writeln!(
        h,
        "<p class=\"warn\">見えない文字が含まれています (contains invisible characters): <span class=\"mono\">{}</span></p>",
        list.join(", ")
    );
}

/// The href for a file next to the page, or None if `name` is not a plain file name (no
/// directory, no scheme: the page must link to nothing else). Bytes outside the URL-safe set
/// are percent-encoded.
pub(crate) fn relative_href(name: &str) -> Option<String> {
    if name.is_empty() || name.starts_with('.') || name.contains(['/', '\\']) {
        return None;
    }
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    Some(out)
}

/// Escapes `& < > " '` for HTML text and attribute values.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `part` as a percentage of `total` with two decimals (`12.34%`).
pub(crate) fn share(part: u64, total: u64) -> String {
    if total == 0 {
        return "—".into();
    }
    let basis = (u128::from(part) * 10_000 + u128::from(total) / 2) / u128::from(total);
    format!("{}.{:02}%", basis / 100, basis % 100)
}

/// The start of a review page, up to its `<h1>`: the document head with the styles (the page's
/// own `extra_style` after the shared [`STYLE`]) and the title (shared by both pages).
pub(crate) fn page_start(h: &mut String, title: &str, extra_style: &str) {
    h.push_str("<!doctype html>\n<html lang=\"ja\">\n<head>\n<meta charset=\"utf-8\">\n");
    h.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    let _ = writeln!(h, "<title>{}</title>", escape_html(title));
    let _ = writeln!(h, "<style>{STYLE}{extra_style}</style>\n</head>\n<body>");
    let _ = writeln!(h, "<header>\n<h1>{}</h1>", escape_html(title));
}

/// A notice's subject and body as the review page shows them, each with a warning when it
/// holds invisible characters (shared by the per-variant and the grouped page).
pub(crate) fn subject_and_body(h: &mut String, subject: &str, body: &str) {
    h.push_str("<h3>件名 (Subject)</h3>\n");
    invisible_warning(h, subject);
    let _ = writeln!(h, "<pre class=\"subject\">\n{}</pre>", escape_html(subject));
    h.push_str("<h3>本文 (Body)</h3>\n");
    invisible_warning(h, body);
    // The newline after <pre> is eaten by the HTML parser, so a body's own leading newline
    // survives.
    let _ = writeln!(h, "<pre class=\"body\">\n{}</pre>", escape_html(body));
}

/// The end of a review page: the digests an approval pins, the note about the sample person,
/// and the sign-off table (shared by the per-variant and the grouped page).
pub(crate) fn digests_and_sign_off(
    h: &mut String,
    template_digests: &BTreeMap<String, String>,
    setting_digests: &BTreeMap<String, String>,
    sample_note: &str,
) {
    h.push_str("<section class=\"digests\">\n<h2 id=\"digests\">ダイジェスト (Digests)</h2>\n");
    h.push_str(
        "<p>承認 (<span class=\"mono\">tsuchi approve</span>) はこれらの SHA-256 を記録します。\
         どれかが変わると送信できません。(An approval pins these SHA-256 digests; \
         if any changes, sending refuses until it is approved again.)</p>\n",
    );
    digest_table(
        h,
        "テンプレート (Templates)",
        "ファイル (File)",
        template_digests,
    );
    digest_table(
        h,
        "設定 (Settings)",
        "設定キー (Config key)",
        setting_digests,
    );
    let _ = writeln!(
        h,
        "<h3>サンプルについて (About the sample)</h3>\n<p class=\"note\">{}</p>",
        escape_html(sample_note)
    );
    h.push_str(
        "<h3>承認 (Sign-off)</h3>\n<table class=\"signoff\">\n\
         <tr><th>承認者 (Reviewer)</th><td></td></tr>\n\
         <tr><th>日付 (Date)</th><td></td></tr>\n</table>\n</section>\n</body>\n</html>\n",
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn share_rounds() {
        assert_eq!(share(1, 3), "33.33%");
        assert_eq!(share(2, 3), "66.67%");
        assert_eq!(share(5, 5), "100.00%");
        assert_eq!(share(1, 0), "—");
    }

    #[test]
    fn hrefs_stay_relative() {
        assert_eq!(
            relative_href("kaede-ja-0007f.eml").as_deref(),
            Some("kaede-ja-0007f.eml")
        );
        assert_eq!(relative_href("http://x/y.eml"), None);
        assert_eq!(relative_href("../y.eml"), None);
        assert_eq!(
            relative_href("javascript:alert(1)").as_deref(),
            Some("javascript%3Aalert%281%29")
        );
        assert_eq!(relative_href("楓.eml").as_deref(), Some("%E6%A5%93.eml"));
    }

    #[test]
    fn invisible_characters_are_flagged() {
        assert_eq!(invisible_chars("普通の\n文\t章"), Vec::<char>::new());
        assert_eq!(
            invisible_chars("a\u{200B}b\u{202E}c\u{200B}"),
            vec!['\u{200B}', '\u{202E}']
        );
    }
}
