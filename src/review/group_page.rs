//! The grouped review page: per group of notices that read the same apart from their list of
//! fields (brand × locale × passport passage, see [`crate::review::groups`]), one complete
//! notice and a table of the group's field combinations with how many people get each.
//!
//! A list with nine independent flags has thousands of variants; a page with one notice per
//! variant is megabytes that nobody reads to the end. Here legal reads a dozen notices, and the
//! tables say who gets which list: labels and counts only, never personal data. The page has
//! the properties of the per-variant page ([`crate::review::page`]): no script, nothing loaded,
//! every text escaped, bodies in `white-space: pre`, a print layout (each group starts a page).

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::review::page::{
    digests_and_sign_off, escape_html, page_start, relative_href, share, subject_and_body,
};
use crate::util::format::group_digits;

/// One field combination of a group.
#[derive(Debug, Clone, PartialEq)]
pub struct PageCombination {
    /// The variant's code, e.g. `kaede-ja-0007f` (`tsuchi preview --variant CODE`).
    pub code: String,
    pub count: u64,
    /// Per field of the catalogue, in order: whether this combination lists it.
    pub fields: Vec<bool>,
    /// The combination's own `.eml`, when one was written (`--all`, `--variant`).
    pub eml_file: Option<String>,
}

/// One group: one complete notice and the combinations it stands for.
#[derive(Debug, Clone, PartialEq)]
pub struct PageGroup {
    /// E.g. `kaede-ja-nopassport`, `kaede-en-nopassport-w2`.
    pub code: String,
    pub brand_key: String,
    pub brand_name: String,
    /// The brand's hotline as the notice shows it.
    pub hotline: String,
    pub locale: String,
    /// Whether the group's notices print the passport passage.
    pub passport: bool,
    /// The follow-up kind, for a campaign that follows an earlier one.
    pub follow_up: Option<String>,
    /// 1, or 2, 3… when the templates word some combinations of the same key differently.
    pub wording: usize,
    /// The representative's notice (the first combination's), complete.
    pub subject: String,
    pub body: String,
    /// The representative's `.eml`, relative to the page.
    pub eml_file: String,
    /// Most recipients first; the first is the representative.
    pub combinations: Vec<PageCombination>,
}

impl PageGroup {
    pub fn total(&self) -> u64 {
        self.combinations.iter().map(|c| c.count).sum()
    }
}

/// Everything the grouped page shows.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupPageInput {
    pub campaign: String,
    pub company: String,
    pub sender: String,
    pub generated_at: String,
    pub total_recipients: u64,
    pub refused_rows: u64,
    /// The field catalogue's labels, in order: the columns of the combination tables.
    pub catalogue: Vec<String>,
    /// Most recipients first.
    pub groups: Vec<PageGroup>,
    pub template_digests: BTreeMap<String, String>,
    pub setting_digests: BTreeMap<String, String>,
    pub sample_note: String,
}

const GROUP_STYLE: &str = r#"
table.combinations th.field { writing-mode: vertical-rl; white-space: nowrap; font-size: .85em; }
table.combinations td { padding: .1em .4em; }
table.combinations td.m { text-align: center; }
table.combinations td.mono { white-space: nowrap; }
table.combinations tr.representative td { background: #fff6d8; }
table.combinations tfoot td { font-weight: bold; background: #f0f0f0; }
@media print {
  section.group { break-before: page; page-break-before: always; }
  table.combinations thead { display: table-header-group; }
}
"#;

/// Renders the complete HTML document.
pub fn render_group_page(input: &GroupPageInput) -> String {
    let combinations: usize = input.groups.iter().map(|g| g.combinations.len()).sum();
    let mut h = String::with_capacity(
        16 * 1024
            + combinations * (160 + 12 * input.catalogue.len())
            + input.groups.iter().map(|g| g.body.len() * 2).sum::<usize>(),
    );
    let n = input.groups.len();
    let title = format!("通知文面レビュー (Notice review) — {}", input.campaign);
    page_start(&mut h, &title, GROUP_STYLE);
    h.push_str("<table class=\"summary\">\n");
    for (label, value, class) in [
        (
            "キャンペーン (Campaign)",
            input.campaign.clone(),
            " class=\"mono\"",
        ),
        ("会社 (Company)", input.company.clone(), ""),
        ("差出人 (From)", input.sender.clone(), ""),
        ("作成日時 (Generated)", input.generated_at.clone(), ""),
        (
            "送信対象 (Recipients)",
            group_digits(input.total_recipients),
            " id=\"recipients\"",
        ),
        (
            "文面グループ (Groups)",
            group_digits(n as u64),
            " id=\"groups\"",
        ),
        (
            "項目の組合せ (Field combinations)",
            group_digits(combinations as u64),
            " id=\"combinations\"",
        ),
        (
            "除外された行 (Refused rows)",
            group_digits(input.refused_rows),
            "",
        ),
    ] {
        let _ = writeln!(
            h,
            "<tr><th>{label}</th><td{class}>{}</td></tr>",
            escape_html(&value)
        );
    }
    h.push_str("</table>\n");
    h.push_str(
        "<p class=\"note\">通知の文面は、ブランド・言語・パスポートに関する記載の有無(続報では続報の種類)で変わり、\
         そのほかは各人の流出項目の一覧だけが異なります。グループごとに通知を1通全文で示し、\
         そのグループの項目の組合せと人数を表にしています。どの組合せの .eml も \
         <span class=\"mono\">tsuchi preview --variant コード</span>(すべては \
         <span class=\"mono\">--all</span>)で書き出せます。\
         (A notice's wording changes with the brand, the locale and whether the passport passage is \
         printed (and, for a follow-up, its kind); otherwise only the person's list of leaked fields \
         differs. Each group shows one complete notice and a table of the group's field \
         combinations with their counts. Any combination's .eml is written by \
         <span class=\"mono\">tsuchi preview --variant CODE</span>, all of them by \
         <span class=\"mono\">--all</span>.)</p>\n",
    );
    if input.refused_rows > 0 {
        let _ = writeln!(
            h,
            "<p class=\"warn\">{} 行はエラーのため通知されません。`tsuchi check` で行番号を確認してください。\
             ({} rows are refused and get no notice; `tsuchi check` lists them with line numbers.)</p>",
            group_digits(input.refused_rows),
            group_digits(input.refused_rows)
        );
    }
    let sum: u64 = input.groups.iter().map(PageGroup::total).sum();
    if sum != input.total_recipients {
        let _ = writeln!(
            h,
            "<p class=\"warn\">グループごとの人数の合計 ({}) が送信対象数 ({}) と一致しません。\
             (The groups add up to {}, not to the total of recipients.)</p>",
            group_digits(sum),
            group_digits(input.total_recipients),
            group_digits(sum)
        );
    }
    h.push_str("</header>\n");

    contents(&mut h, input);
    for (i, g) in input.groups.iter().enumerate() {
        render_group(&mut h, i + 1, n, g, &input.catalogue);
    }

    digests_and_sign_off(
        &mut h,
        &input.template_digests,
        &input.setting_digests,
        &input.sample_note,
    );
    h
}

fn contents(h: &mut String, input: &GroupPageInput) {
    h.push_str("<nav>\n<h2 id=\"toc\">目次 (Contents)</h2>\n");
    if input.groups.is_empty() {
        h.push_str("<p class=\"warn\">文面がありません。(No notices.)</p>\n");
    } else {
        let follow_ups = input.groups.iter().any(|g| g.follow_up.is_some());
        h.push_str(
            "<table class=\"toc\">\n<tr><th>番号 (No.)</th><th>人数 (Recipients)</th>\
             <th>割合 (Share)</th><th>ブランド (Brand)</th><th>言語 (Locale)</th>\
             <th>パスポートの記載 (Passport passage)</th>",
        );
        if follow_ups {
            h.push_str("<th>続報の種類 (Follow-up)</th>");
        }
        h.push_str("<th>組合せ (Combinations)</th><th>コード (Code)</th></tr>\n");
        for (i, g) in input.groups.iter().enumerate() {
            let _ = write!(
                h,
                "<tr><td class=\"num\"><a href=\"#g{n1}\">{n1}</a></td><td class=\"num\">{count}</td>\
                 <td class=\"num\">{share}</td><td>{brand}</td><td>{locale}</td><td>{passport}</td>",
                n1 = i + 1,
                count = group_digits(g.total()),
                share = share(g.total(), input.total_recipients),
                brand = escape_html(&g.brand_name),
                locale = escape_html(&g.locale),
                passport = passport_label(g.passport),
            );
            if follow_ups {
                let _ = write!(
                    h,
                    "<td>{}</td>",
                    escape_html(g.follow_up.as_deref().unwrap_or("—"))
                );
            }
            let _ = writeln!(
                h,
                "<td class=\"num\">{}</td><td class=\"mono\"><a href=\"#g{}\">{}</a></td></tr>",
                group_digits(g.combinations.len() as u64),
                i + 1,
                escape_html(&g.code)
            );
        }
        h.push_str("</table>\n");
    }
    h.push_str("<p><a href=\"#digests\">ダイジェスト (Digests)</a></p>\n</nav>\n");
}

fn passport_label(passport: bool) -> &'static str {
    if passport {
        "あり (printed)"
    } else {
        "なし (not printed)"
    }
}

fn eml_link(file: &str) -> String {
    match relative_href(file) {
        Some(href) => format!(
            "<a href=\"{}\">{}</a>",
            escape_html(&href),
            escape_html(file)
        ),
        None => escape_html(file),
    }
}

fn render_group(h: &mut String, number: usize, of: usize, g: &PageGroup, catalogue: &[String]) {
    let total = g.total();
    let _ = writeln!(
        h,
        "<section class=\"group\" id=\"g{number}\" data-code=\"{}\">",
        escape_html(&g.code)
    );
    let _ = writeln!(
        h,
        "<h2>グループ {number}/{of} (Group {number}/{of}) — {} 名 (recipients), {} 通りの項目の組合せ (field combinations)</h2>",
        group_digits(total),
        group_digits(g.combinations.len() as u64)
    );
    h.push_str("<table>\n");
    let rows = [
        (
            "コード (Code)",
            format!("<span class=\"mono\">{}</span>", escape_html(&g.code)),
        ),
        (
            "ブランド (Brand)",
            format!(
                "{} <span class=\"mono\">({})</span>",
                escape_html(&g.brand_name),
                escape_html(&g.brand_key)
            ),
        ),
        ("窓口 (Hotline)", escape_html(&g.hotline)),
        (
            "言語 (Locale)",
            format!("<span class=\"mono\">{}</span>", escape_html(&g.locale)),
        ),
        (
            "パスポートの記載 (Passport passage)",
            passport_label(g.passport).to_string(),
        ),
    ];
    for (label, value) in rows {
        let _ = writeln!(h, "<tr><th>{label}</th><td>{value}</td></tr>");
    }
    if let Some(kind) = &g.follow_up {
        let _ = writeln!(
            h,
            "<tr><th>続報の種類 (Follow-up)</th><td>{}</td></tr>",
            escape_html(kind)
        );
    }
    let _ = writeln!(
        h,
        "<tr><th>メール (.eml)</th><td class=\"mono\">{}</td></tr>\n</table>",
        eml_link(&g.eml_file)
    );
    if g.wording > 1 {
        let _ = writeln!(
            h,
            "<p class=\"warn\">文面 {w}: 同じブランド・言語・パスポート記載のグループと、項目一覧以外の文章も異なるため、\
             別のグループです。(Wording {w}: these notices differ from the other group of the same brand, \
             locale and passport passage outside their list of fields too.)</p>",
            w = g.wording
        );
    }

    let Some(rep) = g.combinations.first() else {
        h.push_str("</section>\n");
        return;
    };
    let listed: Vec<&str> = catalogue
        .iter()
        .zip(&rep.fields)
        .filter(|(_, l)| **l)
        .map(|(label, _)| label.as_str())
        .collect();
    h.push_str("<h3>代表の通知 (Representative notice)</h3>\n");
    let _ = writeln!(
        h,
        "<p class=\"note\">本文の項目一覧 ({n} 項目: {labels}) は、このグループで最も人数の多い組合せ \
         <span class=\"mono\">{code}</span> の例です。各組合せの項目と人数は下の表のとおりで、\
         実際の通知には各人の項目だけが記載されます。(The numbered list of fields in this body is one \
         example: combination <span class=\"mono\">{code}</span>, the group's largest. The table below \
         lists every combination of the group; each real notice lists exactly the recipient's own \
         fields.)</p>",
        n = listed.len(),
        labels = escape_html(&listed.join("・")),
        code = escape_html(&rep.code),
    );
    subject_and_body(h, &g.subject, &g.body);

    let _ = writeln!(
        h,
        "<h3>項目の組合せ (Field combinations) — {} 通り</h3>",
        group_digits(g.combinations.len() as u64)
    );
    h.push_str(
        "<table class=\"combinations\">\n<thead><tr><th>番号 (No.)</th><th>コード (Code)</th>",
    );
    for label in catalogue {
        let _ = write!(h, "<th class=\"field\">{}</th>", escape_html(label));
    }
    h.push_str(
        "<th>項目数 (Fields)</th><th>人数 (Recipients)</th><th>割合 (Share)</th><th>.eml</th></tr></thead>\n<tbody>\n",
    );
    for (i, c) in g.combinations.iter().enumerate() {
        let _ = write!(
            h,
            "<tr class=\"combination{}\"><td class=\"num\">{}{}</td><td class=\"mono\">{}</td>",
            if i == 0 { " representative" } else { "" },
            if i == 0 { "★" } else { "" },
            i + 1,
            escape_html(&c.code)
        );
        for listed in &c.fields {
            h.push_str(if *listed {
                "<td class=\"m\">✓</td>"
            } else {
                "<td></td>"
            });
        }
        let _ = writeln!(
            h,
            "<td class=\"num\">{}</td><td class=\"num count\">{}</td><td class=\"num\">{}</td><td class=\"mono\">{}</td></tr>",
            c.fields.iter().filter(|l| **l).count(),
            group_digits(c.count),
            share(c.count, total),
            c.eml_file.as_deref().map(eml_link).unwrap_or_default()
        );
    }
    let _ = writeln!(
        h,
        "</tbody>\n<tfoot><tr><td colspan=\"{}\">計 (Total)</td><td class=\"num total\">{}</td><td class=\"num\">100.00%</td><td></td></tr></tfoot>\n</table>",
        catalogue.len() + 3,
        group_digits(total)
    );
    h.push_str("<p><a href=\"#toc\">目次へ (Back to contents)</a></p>\n</section>\n");
}
