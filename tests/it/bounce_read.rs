//! `bounce::read_messages` over mbox files, Maildir folders and single files.

use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use tsuchi::report::{Classification, Source, classify, read_messages};

const FIXTURES: &[&str] = &[
    "postfix_failed.eml",
    "failed_no_headers_verp.eml",
    "delayed.eml",
    "two_recipients.eml",
    "autoreply_fuzai.eml",
    "unknown_message.eml",
    "exim_legacy.eml",
];

fn fixture(name: &str) -> Vec<u8> {
    fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/bounce")
            .join(name),
    )
    .unwrap()
}

/// Appends one message in mboxrd form: a `From ` line, body lines matching `>*From ` quoted
/// with one more `>`, and a blank separator line.
fn write_mbox_message(out: &mut impl Write, raw: &[u8]) {
    out.write_all(b"From MAILER-DAEMON Tue Nov 26 10:15:03 2024\n")
        .unwrap();
    for line in raw.split_inclusive(|&c| c == b'\n') {
        let unquoted = line.iter().position(|&c| c != b'>').unwrap_or(line.len());
        if line[unquoted..].starts_with(b"From ") {
            out.write_all(b">").unwrap();
        }
        out.write_all(line).unwrap();
    }
    if !raw.ends_with(b"\n") {
        out.write_all(b"\n").unwrap();
    }
    out.write_all(b"\n").unwrap();
}

/// What classify says, in short, for comparing messages read back with the originals.
fn summary(raw: &[u8]) -> Vec<String> {
    classify(raw)
        .iter()
        .map(|c| match c {
            Classification::Failed(d) => format!("failed {:?} {}", d.final_recipient, d.status),
            Classification::Delayed(d) => format!("delayed {:?} {}", d.final_recipient, d.status),
            Classification::Ignored(r) => format!("ignored {r}"),
        })
        .collect()
}

fn messages_with_quoted_from() -> Vec<Vec<u8>> {
    let mut messages: Vec<Vec<u8>> = FIXTURES.iter().map(|f| fixture(f)).collect();
    // A body line starting with "From " must not split the mbox.
    messages.push(
        b"From: someone@example.jp\nSubject: hello\n\nFrom the desk of someone:\n>From quoted\nbye\n"
            .to_vec(),
    );
    messages
}

#[test]
fn mbox_yields_every_message_with_sources() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bounces.mbox");
    let messages = messages_with_quoted_from();
    let mut out = BufWriter::new(fs::File::create(&path).unwrap());
    for m in &messages {
        write_mbox_message(&mut out, m);
    }
    drop(out);

    let read: Vec<(Source, Vec<u8>)> = read_messages(std::slice::from_ref(&path))
        .collect::<anyhow::Result<_>>()
        .unwrap();
    assert_eq!(read.len(), messages.len());
    for (i, ((source, raw), original)) in read.iter().zip(&messages).enumerate() {
        assert_eq!(source.0, format!("{}#{}", path.display(), i + 1));
        assert_eq!(summary(raw), summary(original), "message #{}", i + 1);
    }
    // mboxrd unquoting gives the original body back (plus the separator line).
    let last = &read.last().unwrap().1;
    assert!(
        last.starts_with(messages.last().unwrap()),
        "{}",
        String::from_utf8_lossy(last)
    );

    let failed = read
        .iter()
        .flat_map(|(_, raw)| classify(raw))
        .filter(|c| matches!(c, Classification::Failed(_)))
        .count();
    assert_eq!(failed, 5);
}

fn make_maildir(root: &Path, messages: &[Vec<u8>]) {
    for sub in ["cur", "new", "tmp"] {
        fs::create_dir_all(root.join(sub)).unwrap();
    }
    for (i, m) in messages.iter().enumerate() {
        let name = if i % 2 == 0 {
            format!("cur/17000000{i:02}.M{i}P1.mx1:2,S")
        } else {
            format!("new/17000000{i:02}.M{i}P1.mx1")
        };
        fs::write(root.join(name), m).unwrap();
    }
    // Dovecot's leftovers: a dot-file and a file still in tmp/ are not messages.
    fs::write(root.join("cur/.dovecot-lock"), b"x").unwrap();
    fs::write(root.join("tmp/1700009999.M9P9.mx1"), b"partial").unwrap();
}

#[test]
fn maildir_yields_cur_and_new_with_sources() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("Maildir");
    let messages = messages_with_quoted_from();
    make_maildir(&root, &messages);

    let mut read: Vec<(Source, Vec<u8>)> = read_messages(std::slice::from_ref(&root))
        .collect::<anyhow::Result<_>>()
        .unwrap();
    assert_eq!(read.len(), messages.len());
    read.sort_by_key(|(s, _)| Path::new(&s.0).file_name().unwrap().to_owned());
    for (i, ((source, raw), original)) in read.iter().zip(&messages).enumerate() {
        let sub = if i % 2 == 0 { "cur" } else { "new" };
        assert!(
            source.0.starts_with(&root.join(sub).display().to_string()),
            "{source}"
        );
        assert_eq!(raw, original);
    }
}

#[test]
fn mixed_paths_single_files_empty_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("Maildir");
    make_maildir(&root, &[fixture("delayed.eml")]);
    let mbox = dir.path().join("b.mbox");
    let mut out = fs::File::create(&mbox).unwrap();
    write_mbox_message(&mut out, &fixture("postfix_failed.eml"));
    write_mbox_message(&mut out, &fixture("two_recipients.eml"));
    let eml = dir.path().join("one.eml");
    fs::write(&eml, fixture("unknown_message.eml")).unwrap();
    let empty = dir.path().join("empty.eml");
    fs::write(&empty, b"").unwrap();
    let missing = dir.path().join("missing.mbox");
    let not_maildir = dir.path().join("plain-dir");
    fs::create_dir(&not_maildir).unwrap();

    let paths = vec![
        eml.clone(),
        missing,
        mbox.clone(),
        not_maildir,
        root,
        empty.clone(),
    ];
    let items: Vec<_> = read_messages(&paths).collect();
    assert_eq!(items.len(), 7);
    assert_eq!(items[0].as_ref().unwrap().0.0, eml.display().to_string());
    assert!(items[1].is_err());
    assert_eq!(
        items[2].as_ref().unwrap().0.0,
        format!("{}#1", mbox.display())
    );
    assert_eq!(
        items[3].as_ref().unwrap().0.0,
        format!("{}#2", mbox.display())
    );
    let err = format!("{:#}", items[4].as_ref().unwrap_err());
    assert!(err.contains("not a Maildir"), "{err}");
    assert_eq!(
        summary(&items[5].as_ref().unwrap().1)[0],
        "delayed Some(\"jiro@slow.example.co.jp\") 4.4.7"
    );
    let (source, raw) = items[6].as_ref().unwrap();
    assert_eq!(source.0, empty.display().to_string());
    assert!(raw.is_empty());
    assert_eq!(summary(raw), vec!["ignored empty message".to_string()]);
}

#[test]
fn large_mbox_streams() {
    const N: usize = 50_000;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.mbox");
    let template = String::from_utf8(fixture("failed_no_headers_verp.eml")).unwrap();
    let mut out = BufWriter::new(fs::File::create(&path).unwrap());
    for i in 0..N {
        let m = template
            .replace("ABCD-EFGH-JKLM", &format!("REF-{i:08}"))
            .replace("hanako..sato.", &format!("user{i}"));
        write_mbox_message(&mut out, m.as_bytes());
    }
    out.flush().unwrap();
    drop(out);

    let mut count = 0usize;
    let mut failed = 0usize;
    for item in read_messages(&[path]) {
        let (source, raw) = item.unwrap();
        count += 1;
        assert!(source.0.ends_with(&format!("#{count}")));
        if count % 1000 == 1 {
            let c = classify(&raw);
            let [Classification::Failed(d)] = c.as_slice() else {
                panic!("{c:?}");
            };
            let expected = format!("user{}@carrier.example.jp", count - 1);
            assert_eq!(d.final_recipient.as_deref(), Some(expected.as_str()));
            failed += 1;
        }
    }
    assert_eq!(count, N);
    assert_eq!(failed, N / 1000);
}
