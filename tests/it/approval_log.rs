//! The approval log: record, history, verify, permissions and crash damage.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use tsuchi::review::approval::{
    self, Approval, Change, Mismatch, Pinned, approvals_path, history, latest, record,
    validate_reviewer, verify,
};

const CAMPAIGN: &str = "kaede-2026-11";

fn digest(c: char) -> String {
    c.to_string().repeat(64)
}

fn pinned() -> Pinned {
    let templates: BTreeMap<String, String> = [
        ("ja/subject.tera".to_string(), digest('a')),
        ("ja/body.tera".to_string(), digest('b')),
        ("en/body.tera".to_string(), digest('c')),
    ]
    .into();
    let settings: BTreeMap<String, String> = [
        ("sender".to_string(), digest('1')),
        ("fields".to_string(), digest('2')),
        ("incident.ja".to_string(), digest('3')),
        ("brands.kaede".to_string(), digest('4')),
        ("brands.momiji".to_string(), digest('5')),
    ]
    .into();
    Pinned {
        templates,
        settings,
    }
}

fn approval(reviewer: &str, at: &str, p: &Pinned) -> Approval {
    Approval {
        reviewer: reviewer.into(),
        note: Some("法務確認済み LEGAL-42".into()),
        at: at.into(),
        campaign: CAMPAIGN.into(),
        templates: p.templates.clone(),
        settings: p.settings.clone(),
    }
}

fn changes(err: Mismatch) -> Vec<Change> {
    match err {
        Mismatch::Changed { changes, .. } => changes,
        other => panic!("expected Changed, got {other:?}"),
    }
}

#[test]
fn record_then_verify_ok() {
    let d = tempfile::tempdir().unwrap();
    let state = d.path().join("state");
    let p = pinned();
    let a = approval("佐藤", "2026-11-25T09:00:00Z", &p);
    record(&state, &a).unwrap();
    assert_eq!(verify(&state, CAMPAIGN, &p).unwrap(), a);
    assert_eq!(latest(&state, CAMPAIGN).unwrap(), Some(a));
}

#[test]
fn no_approval_is_reported() {
    let d = tempfile::tempdir().unwrap();
    let err = verify(d.path(), CAMPAIGN, &pinned()).unwrap_err();
    assert_eq!(err, Mismatch::NoApproval);
    let msg = err.to_string();
    assert!(msg.contains("no approval on record"), "{msg}");
    assert!(msg.contains("tsuchi approve --reviewer NAME"), "{msg}");
}

#[test]
fn an_approval_of_another_campaign_does_not_count() {
    let d = tempfile::tempdir().unwrap();
    let p = pinned();
    let mut a = approval("佐藤", "2026-11-25T09:00:00Z", &p);
    a.campaign = "other-campaign".into();
    record(d.path(), &a).unwrap();
    assert_eq!(
        verify(d.path(), CAMPAIGN, &p).unwrap_err(),
        Mismatch::NoApproval
    );
}

#[test]
fn a_changed_template_is_named() {
    let d = tempfile::tempdir().unwrap();
    let p = pinned();
    record(d.path(), &approval("佐藤", "2026-11-25T09:00:00Z", &p)).unwrap();
    let mut now = p.clone();
    now.templates.insert("ja/body.tera".into(), digest('f'));
    let err = verify(d.path(), CAMPAIGN, &now).unwrap_err();
    let msg = err.to_string();
    assert_eq!(
        changes(err),
        vec![Change::TemplateChanged("ja/body.tera".into())]
    );
    assert_eq!(
        msg,
        "the approval by 佐藤 (2026-11-25T09:00:00Z) does not cover the current notice: \
         template ja/body.tera changed. Preview and run `tsuchi approve` again."
    );
}

#[test]
fn a_changed_brand_is_named() {
    let d = tempfile::tempdir().unwrap();
    let p = pinned();
    record(d.path(), &approval("佐藤", "2026-11-25T09:00:00Z", &p)).unwrap();
    let mut now = p.clone();
    now.settings.insert("brands.kaede".into(), digest('e'));
    let err = verify(d.path(), CAMPAIGN, &now).unwrap_err();
    assert!(
        err.to_string().contains("config key brands.kaede changed"),
        "{err}"
    );
    assert_eq!(
        changes(err),
        vec![Change::SettingChanged("brands.kaede".into())]
    );
}

#[test]
fn every_kind_of_change_is_named_templates_first() {
    let d = tempfile::tempdir().unwrap();
    let p = pinned();
    record(d.path(), &approval("佐藤", "2026-11-25T09:00:00Z", &p)).unwrap();
    let mut now = p.clone();
    now.templates.insert("ja/body.tera".into(), digest('f'));
    now.templates.remove("en/body.tera");
    now.templates.insert("ja/footer.tera".into(), digest('d'));
    now.settings.insert("brands.kaede".into(), digest('e'));
    now.settings.remove("brands.momiji");
    now.settings.insert("brands.sakura".into(), digest('6'));
    let err = verify(d.path(), CAMPAIGN, &now).unwrap_err();
    let msg = err.to_string();
    assert_eq!(
        changes(err),
        vec![
            Change::TemplateRemoved("en/body.tera".into()),
            Change::TemplateChanged("ja/body.tera".into()),
            Change::TemplateAdded("ja/footer.tera".into()),
            Change::SettingChanged("brands.kaede".into()),
            Change::SettingRemoved("brands.momiji".into()),
            Change::SettingAdded("brands.sakura".into()),
        ]
    );
    assert!(
        msg.contains(
            "template en/body.tera removed; template ja/body.tera changed; template ja/footer.tera added; \
             config key brands.kaede changed; config key brands.momiji removed; config key brands.sakura added."
        ),
        "{msg}"
    );
}

#[test]
fn approving_twice_keeps_both_and_the_latest_counts() {
    let d = tempfile::tempdir().unwrap();
    let p1 = pinned();
    let mut p2 = p1.clone();
    p2.templates.insert("ja/body.tera".into(), digest('f'));
    let a1 = approval("佐藤", "2026-11-25T09:00:00Z", &p1);
    let a2 = approval("鈴木", "2026-11-26T10:30:00Z", &p2);
    record(d.path(), &a1).unwrap();
    record(d.path(), &a2).unwrap();
    assert_eq!(history(d.path()).unwrap(), vec![a1, a2.clone()]);
    assert_eq!(verify(d.path(), CAMPAIGN, &p2).unwrap(), a2);
    // The older wording is no longer approved: the latest approval is what counts.
    let err = verify(d.path(), CAMPAIGN, &p1).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("the approval by 鈴木 (2026-11-26T10:30:00Z)"),
        "{err}"
    );
    let text = std::fs::read_to_string(approvals_path(d.path())).unwrap();
    assert_eq!(text.lines().count(), 2);
}

#[test]
fn file_is_owner_only_and_directory_too() {
    let d = tempfile::tempdir().unwrap();
    let state = d.path().join("nested/state");
    record(&state, &approval("佐藤", "2026-11-25T09:00:00Z", &pinned())).unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&state), 0o700);
    assert_eq!(mode(&approvals_path(&state)), 0o600);
    // Appending keeps it so, and leaves no temporary file behind.
    record(&state, &approval("鈴木", "2026-11-26T10:30:00Z", &pinned())).unwrap();
    assert_eq!(mode(&approvals_path(&state)), 0o600);
    let names: Vec<_> = std::fs::read_dir(&state)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, vec!["approvals.jsonl".to_string()]);
}

#[test]
fn a_torn_last_line_is_ignored_and_cut_off_by_the_next_record() {
    let d = tempfile::tempdir().unwrap();
    let p = pinned();
    let a1 = approval("佐藤", "2026-11-25T09:00:00Z", &p);
    record(d.path(), &a1).unwrap();
    let path = approvals_path(d.path());
    let whole = serde_json::to_string(&approval("鈴木", "2026-11-26T10:30:00Z", &p)).unwrap();
    let torn = &whole[..whole.len() / 2];
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(torn.as_bytes())
        .unwrap();

    assert_eq!(history(d.path()).unwrap(), vec![a1.clone()]);
    assert_eq!(verify(d.path(), CAMPAIGN, &p).unwrap(), a1);

    // The next approval does not glue onto the torn bytes.
    let a3 = approval("高橋", "2026-11-27T08:00:00Z", &p);
    record(d.path(), &a3).unwrap();
    assert_eq!(history(d.path()).unwrap(), vec![a1, a3]);
    assert!(!std::fs::read_to_string(&path).unwrap().contains(torn));
}

#[test]
fn a_torn_last_line_of_nul_bytes_is_ignored() {
    // What a crash can leave on a file system that extended the file before writing the data.
    let d = tempfile::tempdir().unwrap();
    let a1 = approval("佐藤", "2026-11-25T09:00:00Z", &pinned());
    record(d.path(), &a1).unwrap();
    let path = approvals_path(d.path());
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(&[0u8; 40])
        .unwrap();
    assert_eq!(history(d.path()).unwrap(), vec![a1]);
}

#[test]
fn a_last_line_missing_only_its_newline_still_counts() {
    let d = tempfile::tempdir().unwrap();
    let p = pinned();
    let a1 = approval("佐藤", "2026-11-25T09:00:00Z", &p);
    std::fs::write(
        approvals_path(d.path()),
        serde_json::to_string(&a1).unwrap(),
    )
    .unwrap();
    assert_eq!(history(d.path()).unwrap(), vec![a1.clone()]);
    let a2 = approval("鈴木", "2026-11-26T10:30:00Z", &p);
    record(d.path(), &a2).unwrap();
    assert_eq!(history(d.path()).unwrap(), vec![a1, a2]);
}

#[test]
fn a_damaged_middle_line_is_an_error_with_its_line_number() {
    let d = tempfile::tempdir().unwrap();
    let p = pinned();
    for (who, at) in [
        ("佐藤", "2026-11-25T09:00:00Z"),
        ("鈴木", "2026-11-26T10:30:00Z"),
        ("高橋", "2026-11-27T08:00:00Z"),
    ] {
        record(d.path(), &approval(who, at, &p)).unwrap();
    }
    let path = approvals_path(d.path());
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    let damaged = lines[1]
        .replace("\"reviewer\"", "\"reviewr")
        .replacen('}', "", 1);
    lines[1] = &damaged;
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();

    let err = format!("{:#}", history(d.path()).unwrap_err());
    assert!(err.contains("line 2"), "{err}");
    assert!(err.contains("approvals.jsonl"), "{err}");
    // verify refuses too, saying why, rather than pretending there is no approval.
    match verify(d.path(), CAMPAIGN, &p).unwrap_err() {
        Mismatch::Unreadable(msg) => assert!(msg.contains("line 2"), "{msg}"),
        other => panic!("expected Unreadable, got {other:?}"),
    }
}

#[test]
fn reviewer_names_are_checked() {
    assert!(validate_reviewer("佐藤 花子").is_ok());
    assert!(validate_reviewer(&"長".repeat(100)).is_ok());
    assert!(validate_reviewer("").is_err());
    assert!(validate_reviewer("   ").is_err());
    assert!(validate_reviewer(&"長".repeat(101)).is_err());
    assert!(validate_reviewer("佐藤\n鈴木").is_err());
    assert!(validate_reviewer("佐藤\u{1b}[31m").is_err());

    // record refuses an invalid approval and writes nothing.
    let d = tempfile::tempdir().unwrap();
    let bad = approval("", "2026-11-25T09:00:00Z", &pinned());
    assert!(record(d.path(), &bad).is_err());
    assert!(!approvals_path(d.path()).exists());
}

#[test]
fn new_approvals_are_stamped_in_rfc3339_utc() {
    let a = Approval::new("佐藤", None, CAMPAIGN, &pinned());
    assert_eq!(a.at.len(), "2026-11-25T09:00:00Z".len(), "{}", a.at);
    assert!(
        a.at.ends_with('Z') && a.at.as_bytes()[10] == b'T',
        "{}",
        a.at
    );
    assert_eq!(a.pinned(), pinned());
}

#[test]
fn template_digests_cover_every_file_by_relative_path() {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("ja")).unwrap();
    std::fs::write(d.path().join("ja/body.tera"), "本文").unwrap();
    std::fs::write(d.path().join("ja/subject.tera"), "件名").unwrap();
    std::fs::write(d.path().join("ja/.body.tera.swp"), "x").unwrap();
    let digests = approval::template_digests(d.path()).unwrap();
    assert_eq!(
        digests.keys().collect::<Vec<_>>(),
        ["ja/body.tera", "ja/subject.tera"]
    );
    assert_eq!(
        digests["ja/body.tera"],
        tsuchi::config::sha256_hex("本文".as_bytes())
    );
}
