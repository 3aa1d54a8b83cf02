//! The grouped review page of a 20,000-row list in which every combination of the nine flags
//! appears for every brand and locale (3,066 variants), as `tsuchi preview` writes it, opened in
//! headless Chromium: the groups the browser shows, and the counts per combination adding up to
//! each group and to the list. Ignored by default (needs `/usr/bin/chromium`).

use std::collections::BTreeSet;

use crate::support::campaign::{TestCampaign, text};
use crate::support::chromium::{available, dump_dom};
use crate::support::combos;

const ROWS: usize = 20_000;

/// The number in the first cell after `marker` (digit grouping removed).
fn number_after(text: &str, marker: &str) -> u64 {
    let rest = &text[text.find(marker).unwrap_or_else(|| panic!("no {marker:?}")) + marker.len()..];
    rest[..rest.find('<').unwrap()]
        .replace(',', "")
        .parse()
        .unwrap()
}

fn numbers(text: &str, marker: &str) -> Vec<u64> {
    text.split(marker)
        .skip(1)
        .map(|c| c[..c.find('<').unwrap()].replace(',', "").parse().unwrap())
        .collect()
}

#[test]
#[ignore = "needs /usr/bin/chromium; run with --ignored"]
fn chromium_shows_the_groups_of_a_list_with_every_combination() {
    if !available() {
        return;
    }
    let c = TestCampaign::with_list(&combos::list(ROWS), |c| c);
    let out_dir = c.path("preview");
    let out = c.run(&["preview", "--out", out_dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let page = out_dir.join("index.html");
    let size = std::fs::metadata(&page).unwrap().len();
    eprintln!("review page: {size} bytes");

    let dom = dump_dom(&c.path("profile"), &page);
    // 3 brands × (ja: passport passage or not; en: the same, each with "1 item" or "N items").
    let groups = 3 * 2 + 3 * 2 * 2;
    assert_eq!(number_after(&dom, "<td id=\"groups\">"), groups as u64);
    assert_eq!(
        number_after(&dom, "<td id=\"combinations\">"),
        (6 * combos::COMBINATIONS) as u64
    );
    assert_eq!(number_after(&dom, "<td id=\"recipients\">"), ROWS as u64);
    let sections: Vec<&str> = dom
        .split("<section class=\"group\"")
        .skip(1)
        .map(|s| &s[..s.find("</section>").unwrap()])
        .collect();
    assert_eq!(sections.len(), groups);
    let mut codes = BTreeSet::new();
    let mut sum = 0;
    for s in &sections {
        assert_eq!(
            s.matches("<pre class=\"body\">").count(),
            1,
            "one notice per group"
        );
        let counts = numbers(s, "<td class=\"num count\">");
        let total = number_after(s, "<td class=\"num total\">");
        assert_eq!(counts.iter().sum::<u64>(), total, "a group's table adds up");
        assert!(
            counts.windows(2).all(|w| w[0] >= w[1]),
            "most recipients first"
        );
        sum += total;
        for row in s.split("<tr class=\"combination").skip(1) {
            let code = row.split("<td class=\"mono\">").nth(1).unwrap();
            assert!(codes.insert(code[..code.find('<').unwrap()].to_string()));
        }
    }
    assert_eq!(sum, ROWS as u64, "the groups add up to the list");
    assert_eq!(
        codes.len(),
        6 * combos::COMBINATIONS,
        "every combination, once"
    );
    assert!(!dom.contains("一致しません"));
    // The page is the size of a dozen notices and a table, not of 3,066 notices.
    assert!(size < 2_000_000, "{size} bytes");
}
