//! The grouped review: one complete notice per group of notices that read the same apart from
//! their list of fields, a table of the group's field combinations with counts, and every
//! combination still previewable as an `.eml` on request.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use tsuchi::review::{GroupPageInput, PageCombination, PageGroup, escape_html, render_group_page};

use crate::support::campaign::{TestCampaign, text};
use crate::support::combos;

use crate::support::catalogue::CATALOGUE;

fn combination(code: &str, count: u64, listed: &[usize], eml: Option<&str>) -> PageCombination {
    PageCombination {
        code: code.into(),
        count,
        fields: (0..CATALOGUE.len()).map(|i| listed.contains(&i)).collect(),
        eml_file: eml.map(str::to_string),
    }
}

fn input() -> GroupPageInput {
    let group = |code: &str, brand: (&str, &str), passport: bool, body: &str, combos| PageGroup {
        code: code.into(),
        brand_key: brand.0.into(),
        brand_name: brand.1.into(),
        hotline: "0120-000-101 9:00〜20:00 (毎日)".into(),
        locale: "ja".into(),
        passport,
        follow_up: None,
        wording: 1,
        subject: format!("【重要】{}をご利用のお客様へ", brand.1),
        body: body.into(),
        eml_file: format!("group-01-{code}.eml"),
        combinations: combos,
    };
    GroupPageInput {
        campaign: "kaede-2026-11".into(),
        company: "楓トラベル株式会社".into(),
        sender: "楓トラベル お客様窓口 <notice@kaede-travel.example>".into(),
        generated_at: "2026-11-24T18:00:00Z".into(),
        total_recipients: 1_000,
        refused_rows: 0,
        catalogue: CATALOGUE.iter().map(|s| s.to_string()).collect(),
        groups: vec![
            group(
                "kaede-ja-nopassport",
                ("kaede", "楓トラベル"),
                false,
                "見本 花子 様\n以下の2項目\n(1)氏名\n(2)性別\n<b>太字</b> & \"引用\"\n",
                vec![
                    combination("kaede-ja-00003", 500, &[0, 1], None),
                    combination(
                        "kaede-ja-00001",
                        200,
                        &[0],
                        Some("0002-kaede-ja-00001-200people.eml"),
                    ),
                    combination("kaede-ja-0007f", 100, &[0, 1, 2, 3, 4, 5, 6], None),
                ],
            ),
            group(
                "umineko-ja-passport",
                ("umineko", "うみねこ旅行"),
                true,
                "見本 花子 様\n以下の1項目\n(1)パスポート番号\n旅券について\n",
                vec![
                    combination("umineko-ja-00080", 150, &[7], None),
                    combination("umineko-ja-00180", 50, &[7, 8], None),
                ],
            ),
        ],
        template_digests: [("ja/body.tera".to_string(), "ab".repeat(32))].into(),
        setting_digests: [("brands.kaede".to_string(), "ef".repeat(32))].into(),
        sample_note: "宛名は架空の見本です。".into(),
    }
}

/// The text of each `<section class="group">`.
fn sections(page: &str) -> Vec<&str> {
    page.split("<section class=\"group\"")
        .skip(1)
        .map(|s| &s[..s.find("</section>").unwrap()])
        .collect()
}

/// The numbers in the cells of `class` (digit grouping removed).
fn cells(part: &str, class: &str) -> Vec<u64> {
    part.split(&format!("<td class=\"{class}\">"))
        .skip(1)
        .map(|c| c[..c.find('<').unwrap()].replace(',', "").parse().unwrap())
        .collect()
}

#[test]
fn one_notice_per_group_and_a_table_of_its_combinations() {
    let input = input();
    let page = render_group_page(&input);
    assert!(page.starts_with("<!doctype html>"));
    assert!(page.trim_end().ends_with("</html>"));
    assert!(page.contains("<td id=\"groups\">2</td>"), "group count");
    assert!(
        page.contains("<td id=\"combinations\">5</td>"),
        "combination count"
    );
    let sections = sections(&page);
    assert_eq!(sections.len(), 2);
    for (s, g) in sections.iter().zip(&input.groups) {
        // Exactly one complete notice, verbatim and escaped.
        assert_eq!(s.matches("<pre class=\"body\">").count(), 1);
        assert!(s.contains(&format!(
            "<pre class=\"body\">\n{}</pre>",
            escape_html(&g.body)
        )));
        assert!(s.contains(&escape_html(&g.subject)));
        // One row per combination, in order, the first marked as the representative.
        assert_eq!(
            s.matches("<tr class=\"combination").count(),
            g.combinations.len()
        );
        let counts = cells(s, "num count");
        assert_eq!(
            counts,
            g.combinations.iter().map(|c| c.count).collect::<Vec<_>>()
        );
        assert_eq!(cells(s, "num total"), vec![counts.iter().sum::<u64>()]);
        assert!(s.contains(&format!(
            "<tr class=\"combination representative\"><td class=\"num\">★1</td><td class=\"mono\">{}</td>",
            g.combinations[0].code
        )));
        // The reader is told that the body's list is one example.
        assert!(s.contains(&format!(
            "combination <span class=\"mono\">{}</span>, the group's largest",
            g.combinations[0].code
        )));
        assert!(s.contains(&format!("href=\"{}\"", g.eml_file)));
    }
    // Field marks: combination kaede-ja-0007f lists seven fields, and its row says so.
    let row = sections[0]
        .split("<tr class=\"combination\">")
        .find(|r| r.contains("kaede-ja-0007f"))
        .unwrap();
    assert_eq!(row.matches('✓').count(), 7);
    assert!(row.contains("<td class=\"num\">7</td>"));
    // The passport passage is named per group.
    assert!(sections[0].contains("なし (not printed)"));
    assert!(sections[1].contains("あり (printed)"));
    // The groups add up to the list: no warning.
    assert!(!page.contains("一致しません"));
}

#[test]
fn combinations_link_to_their_eml_only_when_written() {
    let page = render_group_page(&input());
    let hrefs: Vec<&str> = page
        .split("href=\"")
        .skip(1)
        .map(|p| &p[..p.find('"').unwrap()])
        .filter(|h| !h.starts_with('#'))
        .collect();
    assert_eq!(
        hrefs,
        [
            "group-01-kaede-ja-nopassport.eml",
            "0002-kaede-ja-00001-200people.eml",
            "group-01-umineko-ja-passport.eml"
        ]
    );
}

#[test]
fn the_page_loads_and_runs_nothing_and_escapes_everything() {
    let mut input = input();
    let page = render_group_page(&input);
    let lower = page.to_lowercase();
    for banned in [
        "<script", "http:", "https:", "src=", "<link", "@import", "url(", "<img", "//",
    ] {
        assert!(!lower.contains(banned), "page contains {banned:?}");
    }
    assert!(page.contains("&lt;b&gt;太字&lt;/b&gt; &amp; &quot;引用&quot;"));
    // A file name that is not a plain name is shown, not linked; invisible characters are named.
    input.groups[1].combinations[0].eml_file = Some("https://evil.example/x.eml".into());
    input.groups[0].body.push_str("見えない\u{200B}");
    let page = render_group_page(&input);
    assert!(!page.contains("href=\"https"));
    assert!(page.contains("U+200B"));
}

#[test]
fn a_mismatch_with_the_list_is_flagged() {
    let mut input = input();
    input.total_recipients += 1;
    assert!(render_group_page(&input).contains("一致しません"));
}

/// Section code → combination codes, from a page `tsuchi preview` wrote.
fn page_groups(page: &str) -> BTreeMap<String, Vec<String>> {
    sections(page)
        .iter()
        .map(|s| {
            let code = s.split("data-code=\"").nth(1).unwrap();
            let code = code[..code.find('"').unwrap()].to_string();
            let combos = s
                .split("<tr class=\"combination")
                .skip(1)
                .map(|r| {
                    let c = r.split("<td class=\"mono\">").nth(1).unwrap();
                    c[..c.find('<').unwrap()].to_string()
                })
                .collect();
            (code, combos)
        })
        .collect()
}

fn emls(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".eml"))
        .collect()
}

/// The group code in a file name `group-NN-<code>-<count>people.eml`.
fn group_code(file: &str) -> Option<String> {
    let rest = file.strip_prefix("group-")?;
    let rest = &rest[rest.find('-')? + 1..];
    let rest = rest.strip_suffix("people.eml")?;
    Some(rest[..rest.rfind('-')?].to_string())
}

fn body_of(path: &Path) -> String {
    let raw = std::fs::read(path).unwrap();
    let msg = mail_parser::MessageParser::default()
        .parse(&raw[..])
        .unwrap();
    msg.body_text(0).unwrap().replace("\r\n", "\n")
}

/// The shipped templates' wording apart from the list: item lines `(n)…` dropped, the count in
/// `以下のN項目` / `following N item(s)` masked (the plural kept: it is wording).
fn wording(body: &str) -> Vec<String> {
    body.lines()
        .filter(|l| {
            !(l.starts_with('(')
                && l[1..].chars().next().is_some_and(|c| c.is_ascii_digit())
                && l.contains(')'))
        })
        .map(|l| {
            let mut out = String::new();
            let mut prev_digit = false;
            for c in l.chars() {
                if c.is_ascii_digit() {
                    if !prev_digit {
                        out.push('#');
                    }
                    prev_digit = true;
                } else {
                    out.push(c);
                    prev_digit = false;
                }
            }
            out
        })
        .collect()
}

#[test]
fn preview_writes_one_eml_per_group_and_every_combination_on_request() {
    // Every brand × locale × combination of the nine flags: 3,066 variants.
    let rows = 6 * combos::COMBINATIONS;
    let c = TestCampaign::with_list(&combos::list(rows), |c| c);
    let out_dir = c.path("preview");
    let out = c.run(&["preview", "--out", out_dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let page = std::fs::read_to_string(out_dir.join("index.html")).unwrap();
    let groups = page_groups(&page);
    // ja: brand × passport passage; en also "1 item" against "N items".
    assert_eq!(groups.len(), 3 * 2 + 3 * 2 * 2, "{:?}", groups.keys());
    let all: Vec<&String> = groups.values().flatten().collect();
    assert_eq!(all.len(), 6 * combos::COMBINATIONS);
    assert_eq!(
        all.iter().collect::<BTreeSet<_>>().len(),
        all.len(),
        "each combination once"
    );
    let counts: u64 = sections(&page)
        .iter()
        .flat_map(|s| cells(s, "num count"))
        .sum();
    assert_eq!(counts, rows as u64);
    assert!(page.contains(&format!("<td id=\"recipients\">{}</td>", "3,066")));
    // By default one .eml per group, none per combination.
    let files = emls(&out_dir);
    assert_eq!(files.len(), groups.len(), "{files:?}");
    assert!(files.iter().all(|f| f.starts_with("group-")));
    let group_codes: BTreeSet<String> = files.iter().filter_map(|f| group_code(f)).collect();
    assert_eq!(group_codes, groups.keys().cloned().collect());

    // Each group's notices read as its representative apart from the list: checked on the
    // real .eml of every combination.
    let all_dir = c.path("all");
    let out = c.run(&["preview", "--all", "--out", all_dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let files = emls(&all_dir);
    assert_eq!(files.len(), groups.len() + 6 * combos::COMBINATIONS);
    let page_all = std::fs::read_to_string(all_dir.join("index.html")).unwrap();
    assert_eq!(page_groups(&page_all), groups, "--all groups the same way");
    let file_of = |code: &str| {
        let f = files
            .iter()
            .find(|f| !f.starts_with("group-") && f.contains(&format!("-{code}-")))
            .unwrap_or_else(|| panic!("no .eml for {code}"));
        all_dir.join(f)
    };
    for (group, members) in &groups {
        let rep = file_of(&members[0]);
        let group_file = files
            .iter()
            .find(|f| group_code(f).as_ref() == Some(group))
            .unwrap();
        let group_body = body_of(&all_dir.join(group_file));
        assert_eq!(wording(&body_of(&rep)), wording(&group_body));
        for m in members {
            assert_eq!(
                wording(&body_of(&file_of(m))),
                wording(&group_body),
                "{m} in {group}"
            );
        }
        assert!(page_all.contains(&format!(
            "href=\"{}\"",
            file_of(&members[0]).file_name().unwrap().to_string_lossy()
        )));
    }
    // And notices of different groups read differently.
    let wordings: BTreeSet<Vec<String>> = groups
        .values()
        .map(|m| wording(&body_of(&file_of(&m[0]))))
        .collect();
    assert_eq!(wordings.len(), groups.len());
}

#[test]
fn preview_variant_writes_the_chosen_combinations() {
    let c = TestCampaign::with_list(&combos::list(6 * 20), |c| c);
    let out_dir = c.path("preview");
    let out = c.run(&[
        "preview",
        "--out",
        out_dir.to_str().unwrap(),
        "--variant",
        "kaede-ja-00003",
        "hoshizora-en-00005",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let files = emls(&out_dir);
    let chosen: Vec<&String> = files.iter().filter(|f| !f.starts_with("group-")).collect();
    assert_eq!(chosen.len(), 2, "{files:?}");
    let kaede = chosen
        .iter()
        .find(|f| f.contains("kaede-ja-00003"))
        .unwrap();
    let body = body_of(&out_dir.join(kaede));
    assert!(body.contains("(1)氏名\n(2)性別\n"), "{body}");
    assert!(!body.contains("(3)"), "{body}");
    let page = std::fs::read_to_string(out_dir.join("index.html")).unwrap();
    assert!(page.contains(&format!("href=\"{kaede}\"")));

    // A code that is not in the list is named, and the run says it is incomplete.
    let out = c.run(&[
        "preview",
        "--out",
        out_dir.to_str().unwrap(),
        "--variant",
        "kaede-ja-001ff",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("no such variant): kaede-ja-001ff"));
}
