//! The letters' PDFs read back by an independent extractor, poppler's `pdftotext`: every
//! letter the manifest lists is at its pages, addressed to that person (〒, address lines,
//! name with one 様), lists exactly that person's leaked fields, gives their brand's hotline
//! and reference number, and holds no link; the font is embedded and subset (`pdffonts`), and
//! a page renders as a picture (`pdftoppm`). Ignored by default; `.ci/run` installs
//! poppler-utils and fonts-noto-cjk and runs them with `--ignored`.

use std::path::Path;
use std::process::Command;

use crate::support::campaign::text;
use crate::support::catalogue::CATALOGUE;
use crate::support::letters::{
    LABELS_EN, PEOPLE, hotline, letters_section, read_manifest, unreached_campaign,
};

fn poppler(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e} (install poppler-utils)"));
    assert!(out.status.success(), "{program} {args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// The text of pages `first..=last` of `pdf`, with all white space removed (the extractor
/// places spaces and line breaks by position; the words are what counts).
fn pages_text(pdf: &Path, first: u32, last: u32) -> String {
    let first = first.to_string();
    let last = last.to_string();
    poppler(
        "pdftotext",
        &["-f", &first, "-l", &last, pdf.to_str().unwrap(), "-"],
    )
    .chars()
    .filter(|c| !c.is_whitespace())
    .collect()
}

fn squeeze(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs poppler-utils and a CJK font"]
async fn each_letter_says_exactly_its_persons_things_and_no_link() {
    let c = unreached_campaign(|config| config + &letters_section()).await;
    let dir = c.path("letters");
    let out = c.run(&["letters", "--out", dir.to_str().unwrap(), "--batch", "2"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let manifest = read_manifest(&dir.join("manifest.csv"));
    let with_letter: Vec<_> = PEOPLE.iter().filter(|p| p.letter).collect();
    assert_eq!(manifest.len(), with_letter.len());

    let mut pages_seen = std::collections::BTreeMap::<String, u32>::new();
    for p in &with_letter {
        let reference = tsuchi::render::reference("kaede-2026-11", p.id);
        let m = manifest
            .iter()
            .find(|m| m.reference == reference)
            .unwrap_or_else(|| panic!("{} not in the manifest", p.id));
        let pdf = dir.join(&m.batch);
        let page = pages_text(&pdf, m.first, m.last);

        // The addressee block: postal code as the manifest has it, the address, one 様.
        assert_eq!(
            squeeze(&m.postal_code),
            m.postal_code,
            "postal code of {}",
            p.id
        );
        assert!(
            page.contains(&format!("〒{}", m.postal_code)),
            "{}: {page}",
            p.id
        );
        for line in p.address.iter().filter(|l| !l.is_empty()) {
            assert!(
                page.contains(&squeeze(line)),
                "{}: address {line}: {page}",
                p.id
            );
        }
        assert!(page.contains(&squeeze(p.addressee)), "{}: {page}", p.id);
        assert!(!page.contains("様様"), "{}: {page}", p.id);

        // Exactly the person's fields, numbered, in catalogue order.
        let labels = if p.locale == "en" {
            LABELS_EN
        } else {
            CATALOGUE
        };
        let mut n = 0;
        for (i, label) in labels.iter().enumerate() {
            let numbered = |k: usize| {
                if p.locale == "en" {
                    squeeze(&format!("({k}) {label}"))
                } else {
                    format!("({k}){label}")
                }
            };
            if p.flags[i] == 1 {
                n += 1;
                assert!(page.contains(&numbered(n)), "{}: {label}: {page}", p.id);
            } else {
                for k in 1..=9 {
                    assert!(
                        !page.contains(&numbered(k)),
                        "{}: {label} listed: {page}",
                        p.id
                    );
                }
            }
        }

        // The brand's hotline (and no other brand's), the reference on every page.
        assert!(page.contains(hotline(p.brand)), "{}: {page}", p.id);
        for other in ["kaede", "hoshizora", "umineko"]
            .iter()
            .filter(|b| **b != p.brand)
        {
            assert!(!page.contains(hotline(other)), "{}: {page}", p.id);
        }
        let pages = m.last - m.first + 1;
        for k in 1..=pages {
            let one = pages_text(&pdf, m.first + k - 1, m.first + k - 1);
            assert!(one.contains(&format!("{reference}{k}/{pages}")), "{one}");
        }
        // Nobody else's name or address.
        for q in PEOPLE.iter().filter(|q| q.id != p.id) {
            assert!(
                !page.contains(&squeeze(q.name.trim_end_matches('様'))),
                "{}: {page}",
                p.id
            );
            assert!(!page.contains(&squeeze(q.address[0])), "{}: {page}", p.id);
        }
        // No link of any kind, as the notices' own lint sees it.
        let raw = poppler(
            "pdftotext",
            &[
                "-f",
                &m.first.to_string(),
                "-l",
                &m.last.to_string(),
                pdf.to_str().unwrap(),
                "-",
            ],
        );
        assert_eq!(tsuchi::render::find_link(&raw), None, "{}: {raw}", p.id);
        *pages_seen.entry(m.batch.clone()).or_default() += pages;
    }

    // The manifest covers every page of every batch file, no more.
    for (batch, pages) in &pages_seen {
        let info = poppler("pdfinfo", &[dir.join(batch).to_str().unwrap()]);
        let count: u32 = info
            .lines()
            .find_map(|l| l.strip_prefix("Pages:"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert_eq!(count, *pages, "{batch}");
        let fonts = poppler("pdffonts", &[dir.join(batch).to_str().unwrap()]);
        let font_line = fonts.lines().nth(2).expect("one font");
        assert!(font_line.contains("NotoSansCJK"), "{fonts}");
        let flags: Vec<&str> = font_line.split_whitespace().rev().take(5).collect();
        // emb, sub, uni: yes yes yes (then the object id).
        assert_eq!(&flags[2..5], ["yes", "yes", "yes"], "{fonts}");
    }

    // A letter as a picture: pdftoppm renders its first page.
    let first = &manifest[0];
    let png = c.path("letter");
    poppler(
        "pdftoppm",
        &[
            "-png",
            "-r",
            "50",
            "-f",
            &first.first.to_string(),
            "-l",
            &first.first.to_string(),
            "-singlefile",
            dir.join(&first.batch).to_str().unwrap(),
            png.to_str().unwrap(),
        ],
    );
    let image = std::fs::read(c.path("letter.png")).unwrap();
    assert!(
        image.starts_with(b"\x89PNG") && image.len() > 5_000,
        "{}",
        image.len()
    );
}
