//! `tsuchi letters`: letters go to exactly the people `report --unreached` lists who have a
//! usable postal address, in owner-only PDF batches with a vendor manifest sorted by postal
//! code; the others are listed for a public announcement; every letter is a journal event, a
//! second run exports nobody twice unless `--again`, and the vendor's posting date is recorded.
//! What the PDFs say, page by page, is checked with poppler in `tests/extras/letters_pdf.rs`.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;

use crate::support::campaign::{TestCampaign, text};
use crate::support::letters::{
    PEOPLE, cjk_font_installed, letters_section, read_manifest, unreached_campaign,
};

const CAMPAIGN: &str = "kaede-2026-11";

fn reference(id: &str) -> String {
    tsuchi::render::reference(CAMPAIGN, id)
}

/// The journal's letter records: (type, id or batch, batch or date).
fn letter_records(c: &TestCampaign) -> Vec<serde_json::Value> {
    std::fs::read_to_string(c.journal())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["type"].as_str().is_some_and(|t| t.starts_with("letter_")))
        .collect()
}

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test(flavor = "multi_thread")]
async fn letters_go_to_the_unreached_with_an_address_and_are_recorded_once() {
    if !cjk_font_installed("letters_go_to_the_unreached_with_an_address") {
        return;
    }
    let c = unreached_campaign(|config| config + &letters_section()).await;
    let out_dir = c.path("letters");
    let out = c.run(&[
        "letters",
        "--out",
        out_dir.to_str().unwrap(),
        "--batch",
        "2",
    ]);
    let stdout = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("3 letters") && stdout.contains("in 2 PDF files"),
        "{stdout}"
    );
    assert!(stdout.contains("hold personal data"), "{stdout}");
    assert!(
        stdout.contains("3 without a usable postal address: a public announcement"),
        "{stdout}"
    );
    // The refused letter is reported by file, line and id, never by the address's text.
    assert!(
        stdout.contains(":8: L000007: no letter: address: contains"),
        "{stdout}"
    );
    assert!(!stdout.contains("www.example.com"), "{stdout}");

    // Owner-only files.
    assert_eq!(mode(&out_dir), 0o700);
    let mut names: Vec<String> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "announcement.csv",
            "letters-0001.pdf",
            "letters-0002.pdf",
            "manifest.csv"
        ]
    );
    for n in &names {
        assert_eq!(mode(&out_dir.join(n)), 0o600, "{n}");
    }
    for pdf in ["letters-0001.pdf", "letters-0002.pdf"] {
        let bytes = std::fs::read(out_dir.join(pdf)).unwrap();
        assert!(bytes.starts_with(b"%PDF-"), "{pdf}");
        // The font is embedded, and subset: far smaller than the 19 MB collection.
        assert!(bytes.windows(9).any(|w| w == b"/FontFile"), "{pdf}");
        assert!(bytes.len() < 2_000_000, "{pdf}: {} bytes", bytes.len());
    }

    // The manifest: the three letters, sorted by postal code, with their batch and pages.
    let manifest = read_manifest(&out_dir.join("manifest.csv"));
    let wanted: Vec<(&str, &str, &str)> = vec![
        ("L000003", "060-0001", "北海道"),
        ("L000001", "100-0005", "東京都"),
        ("L000005", "530-0001", "大阪府"),
    ];
    assert_eq!(
        manifest
            .iter()
            .map(|m| (
                m.reference.clone(),
                m.postal_code.clone(),
                m.prefecture.clone()
            ))
            .collect::<Vec<_>>(),
        wanted
            .iter()
            .map(|(id, code, pref)| (reference(id), code.to_string(), pref.to_string()))
            .collect::<Vec<_>>()
    );
    // List order fills the batches: L1 and L3 in the first file, L5 in the second; each letter
    // on its own pages, the pages of a batch numbered from 1 without a gap.
    let by_ref: BTreeMap<String, _> = manifest
        .iter()
        .map(|m| (m.reference.clone(), m.clone()))
        .collect();
    let l1 = &by_ref[&reference("L000001")];
    let l3 = &by_ref[&reference("L000003")];
    let l5 = &by_ref[&reference("L000005")];
    assert_eq!((l1.batch.as_str(), l1.first), ("letters-0001.pdf", 1));
    assert_eq!(
        (l3.batch.as_str(), l3.first),
        ("letters-0001.pdf", l1.last + 1)
    );
    assert_eq!((l5.batch.as_str(), l5.first), ("letters-0002.pdf", 1));
    assert!(l1.last > l1.first, "a notice's text takes two pages");

    // Those no letter reaches, by id, reference and reason only.
    let announcement = std::fs::read_to_string(out_dir.join("announcement.csv")).unwrap();
    assert_eq!(
        announcement,
        format!(
            "\u{feff}id,reference,reason\nL000004,{},no_postal_code\nL000007,{},letter_refused\nL000008,{},invalid_row\n",
            reference("L000004"),
            reference("L000007"),
            reference("L000008")
        )
    );

    // The journal: one letter_exported per letter, naming the batch and pages the manifest
    // gives, and no personal data.
    let records = letter_records(&c);
    let exported: Vec<(String, String, String)> = records
        .iter()
        .map(|r| {
            assert_eq!(r["type"], "letter_exported");
            (
                r["id"].as_str().unwrap().to_string(),
                r["batch"].as_str().unwrap().to_string(),
                r["pages"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected: Vec<(String, String, String)> =
        [("L000001", l1), ("L000003", l3), ("L000005", l5)]
            .iter()
            .map(|(id, m)| {
                (
                    id.to_string(),
                    m.batch.clone(),
                    format!("{}-{}", m.first, m.last),
                )
            })
            .collect();
    assert_eq!(exported, expected);
    let journal = std::fs::read_to_string(c.journal()).unwrap();
    for p in &PEOPLE {
        for personal in [p.name, p.address[0], p.postal_code] {
            assert!(
                personal.is_empty() || !journal.contains(personal),
                "the journal holds {personal:?}"
            );
        }
    }

    // A second run exports nobody twice.
    let again_dir = c.path("letters-2");
    let out = c.run(&["letters", "--out", again_dir.to_str().unwrap()]);
    let stdout = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("0 letters"), "{stdout}");
    assert!(
        stdout.contains("3 already exported by an earlier run"),
        "{stdout}"
    );
    assert_eq!(read_manifest(&again_dir.join("manifest.csv")), vec![]);
    assert!(!again_dir.join("letters-0003.pdf").exists());
    assert_eq!(letter_records(&c).len(), 3);

    // --again exports them again, in batch files of new names.
    let out = c.run(&["letters", "--out", again_dir.to_str().unwrap(), "--again"]);
    let stdout = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("3 letters") && stdout.contains("letters-0003.pdf"),
        "{stdout}"
    );
    assert!(again_dir.join("letters-0003.pdf").exists());
    assert_eq!(read_manifest(&again_dir.join("manifest.csv")).len(), 3);
    assert_eq!(letter_records(&c).len(), 6);

    // The vendor's posting date, for a batch the journal knows.
    let out = c.run(&[
        "letters",
        "--mark-posted",
        "letters-0001.pdf",
        "--date",
        "2026-12-03",
    ]);
    let stdout = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("letters-0001.pdf: posted on 2026-12-03 recorded (2 letters)"),
        "{stdout}"
    );
    let posted = letter_records(&c).pop().unwrap();
    assert_eq!(
        (
            posted["type"].as_str(),
            posted["batch"].as_str(),
            posted["date"].as_str()
        ),
        (
            Some("letter_posted"),
            Some("letters-0001.pdf"),
            Some("2026-12-03")
        )
    );
    for (args, says) in [
        (
            vec!["--mark-posted", "letters-0099.pdf", "--date", "2026-12-03"],
            "no batch \"letters-0099.pdf\" was exported",
        ),
        (
            vec!["--mark-posted", "letters-0001.pdf", "--date", "2026-02-30"],
            "not a date in the form YYYY-MM-DD",
        ),
    ] {
        let mut all = vec!["letters"];
        all.extend(args);
        let out = c.run(&all);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        assert!(text(&out).contains(says), "{}", text(&out));
    }
    assert_eq!(letter_records(&c).len(), 7);

    // The e-mail states are as they were (a letter is another channel), and the unreached
    // export shows each person's latest letter and its posting date.
    let out = c.run(&["report", "--unreached"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let report = String::from_utf8_lossy(&out.stdout).to_string();
    let lines: Vec<&str> = report.lines().collect();
    assert_eq!(
        lines[0],
        "\u{feff}id,reference,category,detail,time,letter,letter_posted"
    );
    let line_of = |id: &str| {
        lines
            .iter()
            .find(|l| l.starts_with(&format!("{id},")))
            .unwrap_or_else(|| panic!("{id} is still unreached by e-mail: {report}"))
            .to_string()
    };
    // L1 is in letters-0001.pdf (posted) and again in letters-0003.pdf (not yet).
    assert!(
        line_of("L000001").ends_with(",letters-0003.pdf,"),
        "{report}"
    );
    assert!(line_of("L000003").contains(",bounced,"), "{report}");
    assert!(line_of("L000004").ends_with(",,"), "no letter: {report}");
    assert!(line_of("L000007").ends_with(",,"), "no letter: {report}");
    assert!(line_of("L000008").contains(",invalid,"), "{report}");
    assert_eq!(lines.len(), 7, "{report}");

    // status and the summary count letters; lookup shows a person's.
    let out = c.run(&["status"]);
    assert!(
        text(&out).contains(
            "letters (for those e-mail did not reach): 3 people in 3 batch files, 0 posted"
        ),
        "the latest letters are in batches not yet posted: {}",
        text(&out)
    );
    let out = c.run(&["report", "--summary"]);
    let summary = text(&out);
    let figure = |label: &str| -> String {
        summary
            .lines()
            .find(|l| l.contains(label))
            .unwrap_or_else(|| panic!("no {label}: {summary}"))
            .split_whitespace()
            .last()
            .unwrap()
            .to_string()
    };
    assert_eq!(figure("letters exported for printing"), "3");
    assert_eq!(figure("of which posted"), "0");
    let out = c.run(&["lookup", &reference("L000001")]);
    let lookup = text(&out);
    assert_eq!(out.status.code(), Some(0), "{lookup}");
    assert!(
        lookup.contains(&format!(
            "letter exported in letters-0001.pdf (pages 1-{})",
            l1.last
        )),
        "{lookup}"
    );
    assert!(
        lookup.contains("letter in letters-0001.pdf posted on 2026-12-03"),
        "{lookup}"
    );
    assert!(
        lookup.contains("letter exported in letters-0003.pdf"),
        "{lookup}"
    );
    let out = c.run(&["lookup", "L000005"]);
    assert!(!text(&out).contains("posted on"), "{}", text(&out));

    // Once the vendor confirms the second run's batch, status counts those people posted.
    let out = c.run(&[
        "letters",
        "--mark-posted",
        "letters-0003.pdf",
        "--date",
        "2026-12-04",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = c.run(&["status"]);
    assert!(
        text(&out).contains("3 people in 3 batch files, 3 posted"),
        "{}",
        text(&out)
    );
}

#[test]
fn letters_without_their_section_or_a_journal_say_what_is_missing() {
    let c = TestCampaign::with_list(&crate::support::letters::list_csv(), |c| c);
    let out = c.run(&["letters", "--out", c.path("out").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("no [letters] section"),
        "{}",
        text(&out)
    );

    let c = TestCampaign::with_list(&crate::support::letters::list_csv(), |c| {
        c + &letters_section()
    });
    let out = c.run(&["letters", "--out", c.path("out").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("no journal at") && text(&out).contains("send the campaign first"),
        "{}",
        text(&out)
    );
    assert!(!c.path("out").exists());

    let out = c.run(&["letters"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let out = c.run(&["letters", "--mark-posted", "letters-0001.pdf"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "--date is required: {}",
        text(&out)
    );
}
