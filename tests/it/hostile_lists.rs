//! The hostile-input corpus: one small CSV per case under `tests/data/hostile/`, each run through
//! the real binary (`tsuchi check` and `tsuchi send --dry-run`) on a throwaway campaign.
//!
//! For every case: the exact exit code of both commands; the precise `file:line: id: problem`
//! fragments; no panic; exactly the expected `.eml` files in the outbox (none for a refused row,
//! none outside the outbox); every message re-parses with one `To`, no `Bcc`/`Cc`, no unknown
//! header and no link in its decoded body; and no output, journal or message repeats the hostile
//! value or the refused person's name or address (personal data), nor any control character.
//!
//! Fixtures hold exact bytes (Shift_JIS, invalid UTF-8, CR, NUL, BOM); `.gitattributes` keeps
//! git from touching them. Every row-level fixture has the same shape: header on line 1, a good
//! row `C0001` on line 2, the hostile row `C0002` on line 3, a good row `C0004` last.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::support::campaign::{TestCampaign, text};
use mail_parser::MessageParser;
use tsuchi::send::file_name_for;

/// One corpus case.
#[derive(Clone, Copy, Debug)]
struct Case {
    /// File name under `tests/data/hostile/`.
    file: &'static str,
    /// Extra arguments for both commands (`--encoding utf-8`).
    args: &'static [&'static str],
    /// Exit code of `check` and of `send --dry-run`.
    exit: i32,
    /// Exit code of `check`, where it differs from `send --dry-run`'s (a list with no one in
    /// it: nothing for `send` to do, but not a clean check).
    check_exit: Option<i32>,
    /// Fragments the `check` output (stdout + stderr) must contain.
    expect: &'static [&'static str],
    /// Ids whose message must be in the outbox — and no other message may be.
    sent: &'static [&'static str],
    /// Ids that must have no message.
    refused: &'static [&'static str],
    /// Text that must appear in no output of either command and not in the journal; and, unless
    /// the case exits 0, in no message either (raw bytes, decoded subject and body).
    secret: &'static [&'static str],
    /// `(id, text)`: the decoded body of that id's message must contain the text.
    shows: &'static [(&'static str, &'static str)],
}

const EXIT_OK: i32 = 0;
const EXIT_ERROR: i32 = 1;
const EXIT_INCOMPLETE: i32 = 3;

/// A refused row on line 3 between two good rows.
const ROW: Case = Case {
    file: "",
    args: &[],
    exit: EXIT_INCOMPLETE,
    check_exit: None,
    expect: &[],
    sent: &["C0001", "C0004"],
    refused: &["C0002"],
    secret: &["試験 二郎", "bad@example.jp"],
    shows: &[],
};

/// A file refused as a whole: nothing is sent.
const FILE: Case = Case {
    exit: EXIT_ERROR,
    sent: &[],
    refused: &["C0001"],
    secret: &["試験 一郎", "good1@example.jp"],
    ..ROW
};

/// A list that must be accepted.
const OK: Case = Case {
    exit: EXIT_OK,
    refused: &[],
    secret: &[],
    ..ROW
};

/// A name that would put a link into the notice: refused with `kind`, the name is the secret.
macro_rules! link {
    ($file:literal, $kind:literal, [$($secret:literal),*]) => {
        Case {
            file: $file,
            expect: &[concat!("list.csv:3: C0002: name: contains ", $kind)],
            secret: &[$($secret,)* "bad@example.jp"],
            ..ROW
        }
    };
}

const CASES: &[Case] = &[
    // ---- encodings
    Case {
        file: "enc_invalid_utf8_forced.csv",
        args: &["--encoding", "utf-8"],
        expect: &[
            "list.csv:3: C0002: invalid UTF-8 byte sequence",
            "(utf-8): 3 rows",
        ],
        ..ROW
    },
    Case {
        file: "enc_invalid_bytes_auto.csv",
        expect: &["list.csv:3: C0002: invalid Shift_JIS byte sequence"],
        ..ROW
    },
    Case {
        // UTF-8 rows whose bytes are not Shift_JIS, in a file detected as Shift_JIS.
        file: "enc_mixed_utf8_sjis.csv",
        expect: &[
            "list.csv:2: C0001: invalid Shift_JIS byte sequence",
            "list.csv:4: C0004: invalid Shift_JIS byte sequence",
            "(shift_jis): 3 rows",
        ],
        sent: &["C0002"],
        refused: &["C0001", "C0004"],
        secret: &[
            "試験 一郎",
            "試験 四郎",
            "good1@example.jp",
            "good4@example.jp",
        ],
        shows: &[("C0002", "佐藤 花子 様")],
        ..ROW
    },
    Case {
        file: "enc_bom_bad_flag.csv",
        expect: &[
            "list.csv:3: C0002: leaked_email: not a flag (use 1/0, true/false, yes/no, Y/N, ○/×, 有/無) [cell in the list: \"maybe\"]",
            "(utf-8 (BOM)): 3 rows",
        ],
        ..ROW
    },
    Case {
        // NEC special characters (①, ㈱, Ⅳ, ∑) and IBM extensions (髙, 﨑, 德) are valid CP932.
        file: "enc_cp932_vendor_ok.csv",
        expect: &["(shift_jis): 3 rows", "ready to send           3"],
        sent: &["C0001", "C0002", "C0003"],
        shows: &[
            ("C0001", "髙橋 ①郎 様"),
            ("C0002", "㈱テスト 﨑山 様"),
            ("C0003", "德永 Ⅳ ∑ 様"),
        ],
        ..OK
    },
    Case {
        file: "enc_sjis_bad_flag.csv",
        expect: &[
            "list.csv:3: C0002: leaked_email: not a flag (use 1/0, true/false, yes/no, Y/N, ○/×, 有/無) [cell in the list: \"はい\"]",
            "(shift_jis): 2 rows",
        ],
        sent: &["C0001"],
        shows: &[("C0001", "髙橋 一郎 様")],
        ..ROW
    },
    Case {
        file: "enc_utf8_replacement_char.csv",
        expect: &["list.csv:3: C0002: name: contains a replacement character (U+FFFD)"],
        secret: &["山田", "bad@example.jp"],
        ..ROW
    },
    // ---- the file as a whole
    Case {
        file: "file_empty.csv",
        expect: &["list.csv: the file is empty (no header line)"],
        secret: &[],
        ..FILE
    },
    Case {
        file: "file_header_only.csv",
        check_exit: Some(EXIT_INCOMPLETE),
        expect: &[
            "list.csv (utf-8): 0 rows",
            "list.csv has a header but no data rows: nobody would be notified",
        ],
        sent: &[],
        ..OK
    },
    Case {
        file: "file_missing_id.csv",
        expect: &["list.csv:1: required column `id` is missing"],
        ..FILE
    },
    Case {
        file: "file_missing_email.csv",
        expect: &["list.csv:1: required column `email` is missing"],
        ..FILE
    },
    Case {
        file: "file_duplicate_column.csv",
        expect: &["list.csv:1: column `name` appears twice (columns 3 and 4)"],
        ..FILE
    },
    Case {
        file: "file_unknown_leaked_column.csv",
        expect: &["list.csv:1: unknown column `leaked_credit_card`"],
        ..FILE
    },
    Case {
        file: "file_cr_only.csv",
        expect: &["list.csv: lines end in CR only"],
        ..FILE
    },
    Case {
        file: "file_bad_header_bytes.csv",
        expect: &["list.csv:1: the header line is not valid Shift_JIS"],
        secret: &["a@example.jp"],
        ..FILE
    },
    // ---- structure and values
    Case {
        file: "ragged_short.csv",
        expect: &["list.csv:3: C0002: expected 8 fields, found 5"],
        ..ROW
    },
    Case {
        // An unquoted comma in the name: the row grows a field; the name is not repeated.
        file: "ragged_long.csv",
        expect: &["list.csv:3: C0002: expected 8 fields, found 9"],
        secret: &["山田", "太郎", "bad@example.jp"],
        ..ROW
    },
    Case {
        // The quote swallows the rest of the file, last row included.
        file: "unbalanced_quote.csv",
        expect: &["list.csv:3: C0002: expected 8 fields, found 3", "2 rows"],
        sent: &["C0001"],
        refused: &["C0002", "C0004"],
        secret: &["山田", "bad@example.jp", "good4@example.jp"],
        ..ROW
    },
    Case {
        file: "bad_flags.csv",
        expect: &[
            "list.csv:3: C0002: leaked_email: not a flag (use 1/0, true/false, yes/no, Y/N, ○/×, 有/無) [cell in the list: \"2\"]",
            "list.csv:3: C0002: leaked_phone: not a flag (use 1/0, true/false, yes/no, Y/N, ○/×, 有/無) [cell in the list: \"はい\"]",
        ],
        ..ROW
    },
    Case {
        file: "no_leaked_field.csv",
        expect: &["list.csv:3: C0002: no leaked field is flagged"],
        ..ROW
    },
    Case {
        file: "overlong_id.csv",
        expect: &["list.csv:3: id: longer than 64 characters"],
        refused: &["C9999999999999999999999999999999999999999999999999999999999999999"],
        ..ROW
    },
    Case {
        file: "overlong_name.csv",
        expect: &["list.csv:3: C0002: name: longer than 100 characters"],
        secret: &["山山山山山", "bad@example.jp"],
        ..ROW
    },
    Case {
        file: "unknown_brand.csv",
        expect: &[
            "list.csv:3: C0002: brand: unknown brand (known: hoshizora, kaede, umineko) [cell in the list: \"acme\"]",
        ],
        ..ROW
    },
    Case {
        file: "unknown_locale.csv",
        expect: &[
            "list.csv:3: C0002: locale: unknown locale (known: en, ja) [cell in the list: \"fr\"]",
        ],
        ..ROW
    },
    Case {
        file: "duplicate_id.csv",
        expect: &["list.csv:3: C0001: duplicate id, first seen on line 2"],
        refused: &[],
        ..ROW
    },
    Case {
        file: "duplicate_email_in_brand.csv",
        expect: &[
            "list.csv:3: C0002: email: duplicate address within brand kaede, first seen on line 2",
        ],
        secret: &["試験 二郎", "good1@EXAMPLE.jp"],
        ..ROW
    },
    Case {
        // A multi-line quoted value in an ignored column of a CRLF file: later lines still right,
        // and the ignored text (a link, a header) goes nowhere.
        file: "line_numbers_crlf_multiline_memo.csv",
        expect: &[
            "list.csv:6: C0002: leaked_phone: not a flag (use 1/0, true/false, yes/no, Y/N, ○/×, 有/無) [cell in the list: \"nope\"]",
            "4 rows",
        ],
        sent: &["C0001", "C0003", "C0004"],
        secret: &[
            "試験 二郎",
            "bad@example.jp",
            "www.example.com",
            "spy@evil.example",
            "memo",
        ],
        ..ROW
    },
    // ---- addresses
    Case {
        file: "email_display_name.csv",
        expect: &["list.csv:3: C0002: email: must be a bare address, not a display name"],
        secret: &["試験 二郎", "bad@example.jp", "Bob"],
        ..ROW
    },
    Case {
        file: "email_comma_list.csv",
        expect: &["list.csv:3: C0002: email: must be a single address (found ',' or ';')"],
        secret: &["試験 二郎", "bad@example.jp", "evil.example"],
        ..ROW
    },
    Case {
        file: "email_semicolon_list.csv",
        expect: &["list.csv:3: C0002: email: must be a single address (found ',' or ';')"],
        secret: &["試験 二郎", "bad@example.jp", "evil.example"],
        ..ROW
    },
    Case {
        file: "email_quoted_local.csv",
        expect: &["list.csv:3: C0002: email: quoted local parts are not accepted"],
        secret: &["試験 二郎", "bad man", "@example.jp\""],
        ..ROW
    },
    Case {
        file: "email_overlong_local.csv",
        expect: &["list.csv:3: C0002: email: the part before '@' is longer than 64 characters"],
        secret: &["試験 二郎", "aaaaaaaaaaaaaaaa"],
        ..ROW
    },
    Case {
        file: "email_overlong.csv",
        expect: &["list.csv:3: C0002: email: longer than 254 characters"],
        secret: &["試験 二郎", "bbbbbbbbbbbbbbbb"],
        ..ROW
    },
    Case {
        file: "email_idn.csv",
        expect: &["list.csv:3: C0002: email: internationalized domain (non-ASCII) not supported"],
        secret: &["試験 二郎", "例え", "user@"],
        ..ROW
    },
    Case {
        file: "email_address_literal.csv",
        expect: &["list.csv:3: C0002: email: an address literal ([…]) is not supported"],
        secret: &["試験 二郎", "127.0.0.1", "user@"],
        ..ROW
    },
    Case {
        file: "email_fullwidth_at.csv",
        expect: &["list.csv:3: C0002: email: has no '@' (a full-width '＠' is not accepted)"],
        secret: &["試験 二郎", "bad＠"],
        ..ROW
    },
    // ---- header injection, control and invisible characters
    Case {
        file: "inject_name_crlf_bcc.csv",
        expect: &[
            "list.csv:3: C0002: name: contains a line break",
            "list.csv:5: C0003: leaked_email: not a flag (use 1/0, true/false, yes/no, Y/N, ○/×, 有/無) [cell in the list: \"maybe\"]",
        ],
        refused: &["C0002", "C0003"],
        secret: &["山田", "Bcc", "spy@evil.example", "bad@example.jp"],
        ..ROW
    },
    Case {
        file: "inject_id_lf.csv",
        expect: &[
            "list.csv:3: id: contains a line break",
            "list.csv:5: C0003: leaked_email: not a flag (use 1/0, true/false, yes/no, Y/N, ○/×, 有/無) [cell in the list: \"maybe\"]",
        ],
        refused: &["C00\n02", "C0002", "C0003"],
        secret: &["試験 二郎", "bad@example.jp", "C00\n02"],
        ..ROW
    },
    Case {
        file: "inject_email_crlf.csv",
        expect: &["list.csv:3: C0002: email: contains a line break"],
        secret: &["試験 二郎", "bad@example.jp", "Bcc", "spy@evil.example"],
        ..ROW
    },
    Case {
        file: "inject_subject_brand_lf.csv",
        expect: &["list.csv:3: C0002: brand: contains a line break"],
        secret: &["試験 二郎", "bad@example.jp", "Subject: win"],
        ..ROW
    },
    Case {
        file: "control_ansi_escape.csv",
        expect: &["list.csv:3: C0002: name: contains a control character (U+001B)"],
        secret: &["山田", "[2J", "bad@example.jp"],
        ..ROW
    },
    Case {
        file: "control_nul.csv",
        expect: &["list.csv:3: C0002: name: contains a control character (U+0000)"],
        secret: &["山田", "bad@example.jp"],
        ..ROW
    },
    Case {
        file: "bidi_override.csv",
        expect: &["list.csv:3: C0002: name: contains a bidirectional control character (U+202E)"],
        secret: &["山田", "gpj.exe", "\u{202E}", "bad@example.jp"],
        ..ROW
    },
    Case {
        file: "zero_width_space.csv",
        expect: &["list.csv:3: C0002: name: contains a zero-width character (U+200B)"],
        secret: &["www\u{200B}", "example\u{200B}", "bad@example.jp"],
        ..ROW
    },
    Case {
        file: "zero_width_bom_mid_email.csv",
        expect: &["list.csv:3: C0002: email: contains a zero-width character (U+FEFF)"],
        secret: &["試験 二郎", "bad\u{FEFF}", "@example.jp\u{FEFF}"],
        ..ROW
    },
    // ---- links in every disguise, in the name
    link!("link_www.csv", "a web address", ["www.example.com"]),
    link!(
        "link_fullwidth_www.csv",
        "a web address",
        ["ｗｗｗ．ｅｘａｍｐｌｅ．ｃｏｍ", "www.example.com"]
    ),
    link!(
        "link_ideographic_dot.csv",
        "a domain name",
        ["example。com"]
    ),
    link!(
        "link_halfwidth_ideographic_dot.csv",
        "a domain name",
        ["ｅｘａｍｐｌｅ｡ｃｏｍ", "example。com"]
    ),
    link!(
        "link_one_dot_leader.csv",
        "a domain name",
        ["example\u{2024}com", "example.com"]
    ),
    link!("link_http.csv", "a URL", ["http://x"]),
    link!(
        "link_fullwidth_https.csv",
        "a URL",
        ["ｈｔｔｐｓ：／／ｅｘａｍｐｌｅ．ｊｐ", "https://"]
    ),
    link!(
        "link_fullwidth_scheme_only.csv",
        "a URL",
        ["ｈｔｔｐｓ：／／", "https://"]
    ),
    link!("link_javascript.csv", "a URL", ["javascript", "alert(1)"]),
    link!(
        "link_fullwidth_email.csv",
        "an e-mail address",
        ["user＠example.jp", "user@"]
    ),
    link!("link_ipv4.csv", "an IP address", ["192.168.0.1"]),
    link!(
        "link_fullwidth_ipv4.csv",
        "an IP address",
        ["１９２．１６８．０．１", "192.168.0.1"]
    ),
    link!("link_ipv6.csv", "an IP address", ["[::1]"]),
    link!("link_punycode.csv", "a domain name", ["xn--example.jp"]),
    link!("link_with_sama.csv", "a domain name", ["example.co.jp"]),
    // ---- hostile but harmless: must go out, literally
    Case {
        // Tera syntax and HTML in a name are text, neither evaluated nor escaped.
        file: "ok_template_syntax_name.csv",
        sent: &["C0001", "C0002", "C0004"],
        shows: &[("C0002", "{{ reference }}{% raw %}<b>&amp; 様")],
        ..OK
    },
    Case {
        // An id is a file name in the outbox: it must not climb out of it.
        file: "ok_id_path_traversal.csv",
        sent: &["C0001", "../../escape", "C0004"],
        ..OK
    },
    Case {
        file: "ok_legacy_mobile_address.csv",
        expect: &["warning: list.csv:3: C0002: email: legacy address with dots outside RFC 5322"],
        sent: &["C0001", "C0002", "C0004"],
        secret: &["taro..yamada"],
        ..OK
    },
];

fn data(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/hostile")
        .join(file)
}

/// Everything a case run produced.
struct Run {
    campaign: TestCampaign,
    check: Output,
    send: Output,
}

fn run(case: &Case) -> Run {
    let bytes = std::fs::read(data(case.file)).unwrap();
    let campaign = TestCampaign::with_list("", |c| c);
    std::fs::write(campaign.path("list.csv"), bytes).unwrap();
    let mut args = vec!["check", "--recipients", "list.csv"];
    args.extend_from_slice(case.args);
    let check = campaign.run(&args);
    let mut args = vec!["send", "--dry-run", "--quiet", "--recipients", "list.csv"];
    args.extend_from_slice(case.args);
    let send = campaign.run(&args);
    Run {
        campaign,
        check,
        send,
    }
}

fn outbox(run: &Run) -> PathBuf {
    run.campaign.state_dir().join("outbox")
}

/// Every `.eml` file under `dir`, recursively.
fn eml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            eml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "eml") {
            out.push(path);
        }
    }
}

/// A decoded message: raw text, subject, body.
struct Mail {
    raw: String,
    subject: String,
    body: String,
}

const ALLOWED_HEADERS: [&str; 8] = [
    "From",
    "To",
    "Subject",
    "Message-ID",
    "Date",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
];

/// Parses a message and checks its shape; returns it decoded.
fn read_mail(path: &Path) -> Result<Mail, String> {
    let bytes = std::fs::read(path).unwrap();
    let msg = MessageParser::default()
        .parse(&bytes[..])
        .ok_or_else(|| format!("{}: does not parse", path.display()))?;
    let to = msg.to().map_or(0, |a| a.iter().count());
    if to != 1 {
        return Err(format!("{}: {to} To addresses", path.display()));
    }
    if msg.bcc().is_some() || msg.cc().is_some() {
        return Err(format!("{}: has Bcc or Cc", path.display()));
    }
    for (name, _) in msg.headers_raw() {
        if !ALLOWED_HEADERS.iter().any(|h| h.eq_ignore_ascii_case(name)) {
            return Err(format!("{}: unexpected header {name:?}", path.display()));
        }
    }
    let subject = msg.subject().unwrap_or_default().to_string();
    if !subject.starts_with("【重要】個人情報流出のおそれ") && !subject.starts_with("Important: ")
    {
        return Err(format!(
            "{}: unexpected subject {subject:?}",
            path.display()
        ));
    }
    let body = msg
        .body_text(0)
        .ok_or_else(|| format!("{}: no text body", path.display()))?
        .replace("\r\n", "\n");
    if let Some(found) = tsuchi::render::find_link(&body) {
        return Err(format!("{}: body contains {found}", path.display()));
    }
    if let Some(c) = body.chars().find(|&c| c.is_control() && c != '\n') {
        return Err(format!(
            "{}: body contains U+{:04X}",
            path.display(),
            c as u32
        ));
    }
    Ok(Mail {
        raw: String::from_utf8_lossy(&bytes).into_owned(),
        subject,
        body,
    })
}

/// All problems of one case, empty if it passed.
fn verify(case: &Case) -> Vec<String> {
    let run = run(case);
    let mut problems = Vec::new();
    let mut fail = |p: String| problems.push(format!("{}: {p}", case.file));
    let check_text = format!(
        "{}{}",
        String::from_utf8_lossy(&run.check.stdout),
        String::from_utf8_lossy(&run.check.stderr)
    );
    let send_text = format!(
        "{}{}",
        String::from_utf8_lossy(&run.send.stdout),
        String::from_utf8_lossy(&run.send.stderr)
    );

    for (what, out, exit) in [
        ("check", &run.check, case.check_exit.unwrap_or(case.exit)),
        ("send --dry-run", &run.send, case.exit),
    ] {
        if out.status.code() != Some(exit) {
            fail(format!("{what}: expected exit {exit}, got\n{}", text(out)));
        }
        if out.status.code() == Some(101)
            || String::from_utf8_lossy(&out.stderr).contains("panicked")
        {
            fail(format!("{what} panicked:\n{}", text(out)));
        }
    }
    for fragment in case.expect {
        if !check_text.contains(fragment) {
            fail(format!(
                "check output lacks {fragment:?}:\n{}",
                text(&run.check)
            ));
        }
    }

    // Outputs and journal: no personal data, no hostile value, no control character.
    let journal = std::fs::read_to_string(outbox(&run).join("kaede-2026-11.journal.jsonl"))
        .unwrap_or_default();
    for (what, body) in [
        ("check", &check_text),
        ("send", &send_text),
        ("journal", &journal),
    ] {
        for s in case.secret {
            if body.contains(s) {
                fail(format!("{what} output repeats {s:?}:\n{body}"));
            }
        }
        if let Some(c) = body.chars().find(|&c| c.is_control() && c != '\n') {
            fail(format!("{what} output contains U+{:04X}", c as u32));
        }
    }

    // The outbox: exactly the expected messages, each well-formed and clean.
    let dir = outbox(&run);
    for id in case.sent {
        if !dir.join(format!("{}.eml", file_name_for(id))).is_file() {
            fail(format!("no message for {id:?}:\n{}", text(&run.send)));
        }
    }
    for id in case.refused {
        if dir.join(format!("{}.eml", file_name_for(id))).exists() {
            fail(format!("a message was written for refused id {id:?}"));
        }
    }
    let mut all = Vec::new();
    eml_files(run.campaign.dir.path(), &mut all);
    if all.len() != case.sent.len() {
        fail(format!(
            "{} messages written, expected {}: {all:?}",
            all.len(),
            case.sent.len()
        ));
    }
    for path in &all {
        if path.parent() != Some(dir.as_path()) {
            fail(format!(
                "message written outside the outbox: {}",
                path.display()
            ));
        }
        match read_mail(path) {
            Err(e) => fail(e),
            Ok(mail) if case.exit != EXIT_OK => {
                for s in case.secret {
                    if mail.raw.contains(s) || mail.subject.contains(s) || mail.body.contains(s) {
                        fail(format!("{} contains {s:?}", path.display()));
                    }
                }
            }
            Ok(_) => {}
        }
    }
    for (id, shown) in case.shows {
        let path = dir.join(format!("{}.eml", file_name_for(id)));
        match read_mail(&path) {
            Ok(mail) if mail.body.contains(shown) => {}
            Ok(mail) => fail(format!("{id}'s notice lacks {shown:?}:\n{}", mail.body)),
            Err(e) => fail(e),
        }
    }
    problems
}

fn assert_cases(cases: &[Case]) {
    let problems: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = cases
            .iter()
            .map(|case| s.spawn(move || verify(case)))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

#[test]
fn corpus() {
    assert!(CASES.len() >= 30);
    assert_cases(CASES);
}

/// Every fixture is in the table (or in a bug test below), and every case has its fixture.
#[test]
fn every_fixture_has_a_case() {
    let mut known: Vec<&str> = CASES.iter().map(|c| c.file).collect();
    known.extend(BUG_FILES);
    let mut on_disk: Vec<String> = std::fs::read_dir(data(""))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".csv"))
        .collect();
    on_disk.sort();
    for name in &on_disk {
        assert!(known.contains(&name.as_str()), "{name} has no case");
    }
    for name in &known {
        assert!(on_disk.iter().any(|n| n == name), "{name} is missing");
    }
}

const BUG_FILES: [&str; 8] = [
    "link_trailing_underscore.csv",
    "line_numbers_blank_lines.csv",
    "crlf_empty_lines_mid_list.csv",
    "blank_cells_mid_list.csv",
    "enc_mixed_utf8_valid_as_sjis.csv",
    "link_soft_hyphen.csv",
    "link_idn_ideographic_dot.csv",
    "link_idn_ideographic_dot_capitals.csv",
];

// ---------------------------------------------------------------------------------------------
// Bugs found by the corpus: each test states the behaviour that should hold.

#[test]
fn bug_mixed_encoding_row_is_refused_not_sent_as_mojibake() {
    assert_cases(&[Case {
        file: "enc_mixed_utf8_valid_as_sjis.csv",
        expect: &["list.csv:2: C0001:"],
        sent: &["C0002"],
        refused: &["C0001"],
        secret: &["螻ｱ逕ｰ", "good1@example.jp"],
        ..ROW
    }]);
}

#[test]
fn bug_soft_hyphen_does_not_hide_a_domain() {
    assert_cases(&[Case {
        file: "link_soft_hyphen.csv",
        expect: &["list.csv:3: C0002: name: contains"],
        secret: &["example.\u{AD}com", "bad@example.jp"],
        ..ROW
    }]);
}

#[test]
fn bug_idn_with_ideographic_dot_is_a_domain() {
    assert_cases(&[Case {
        file: "link_idn_ideographic_dot.csv",
        expect: &["list.csv:3: C0002: name: contains a domain name"],
        secret: &["例え。jp", "bad@example.jp"],
        ..ROW
    }]);
}

#[test]
fn bug_idn_with_ideographic_dot_and_a_capital_top_level_domain_is_a_domain() {
    assert_cases(&[Case {
        file: "link_idn_ideographic_dot_capitals.csv",
        expect: &["list.csv:3: C0002: name: contains a domain name"],
        secret: &["例え。JP", "bad@example.jp"],
        ..ROW
    }]);
}

#[test]
fn bug_a_refused_header_leaves_no_journal_behind() {
    let bytes = std::fs::read(data("file_missing_id.csv")).unwrap();
    let campaign = TestCampaign::with_list("", |c| c);
    std::fs::write(campaign.path("list.csv"), &bytes).unwrap();
    let args = ["send", "--dry-run", "--quiet", "--recipients", "list.csv"];
    let first = campaign.run(&args);
    assert_eq!(first.status.code(), Some(EXIT_ERROR), "{}", text(&first));
    // The operator fixes the header and runs the same command again.
    let fixed = String::from_utf8(bytes)
        .unwrap()
        .replacen("customer,", "id,", 1);
    std::fs::write(campaign.path("list.csv"), fixed).unwrap();
    let second = campaign.run(&args);
    assert_eq!(second.status.code(), Some(EXIT_OK), "{}", text(&second));
}

#[test]
fn a_list_unreadable_past_its_first_rows_mails_no_one_and_leaves_no_journal() {
    // A good row, then a quote that never closes over more than 1 MiB: the record cannot be
    // read. The whole list is read before the journal is created or anyone is mailed.
    use crate::support::campaign::{HEADER, row};
    let mut csv = format!(
        "{HEADER}\n{}\n{}\n",
        row(1),
        row(2).replacen("試験", "\"試験", 1)
    );
    let mut i = 3;
    while csv.len() < 1_200_000 {
        csv.push_str(&row(i));
        csv.push('\n');
        i += 1;
    }
    let campaign = TestCampaign::with_list(&csv, |c| c);
    let out = campaign.run(&["send", "--dry-run", "--quiet"]);
    assert_eq!(out.status.code(), Some(EXIT_ERROR), "{}", text(&out));
    assert!(
        text(&out).contains("list.csv:3: a record starting here is longer than 1 MiB"),
        "{}",
        text(&out)
    );
    assert!(
        !campaign.journal().exists(),
        "no journal for a list that cannot be read"
    );
    let mut messages = Vec::new();
    eml_files(campaign.dir.path(), &mut messages);
    assert!(messages.is_empty(), "nobody mailed: {messages:?}");
}

#[test]
fn check_reports_each_duplicate_once_and_counts_as_send_does() {
    use crate::support::campaign::{HEADER, row};
    let count = |out: &str, label: &str| -> u64 {
        out.lines()
            .find_map(|l| l.trim_start().strip_prefix(label))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {label:?} in\n{out}"))
    };
    // Row 3 repeats row 1's id; row 4 has row 2's address under another brand (a warning).
    let csv = format!(
        "{HEADER}\n{}\n{}\n{}\n{}\n",
        row(1),
        row(2),
        row(3).replacen("C000003", "C000001", 1),
        row(4).replacen("user4@", "user2@", 1)
    );
    let campaign = TestCampaign::with_list(&csv, |c| c);
    let check = campaign.run(&["check"]);
    let out = text(&check);
    assert_eq!(
        out.matches("duplicate id, first seen on line 2").count(),
        1,
        "{out}"
    );
    assert_eq!(
        out.matches("also registered under brand umineko on line 3")
            .count(),
        1,
        "{out}"
    );
    assert_eq!(count(&out, "ready to send"), 3, "{out}");
    assert_eq!(count(&out, "refused"), 1, "{out}");
    assert_eq!(count(&out, "warnings"), 1, "{out}");

    let send = campaign.run(&["send", "--dry-run", "--quiet"]);
    let mut messages = Vec::new();
    eml_files(campaign.dir.path(), &mut messages);
    assert_eq!(messages.len(), 3, "{}", text(&send));
}

#[test]
fn bug_blank_rows_mid_list_are_not_work_left() {
    assert_cases(&[Case {
        file: "blank_cells_mid_list.csv",
        expect: &[
            "list.csv:5: C0002: leaked_phone: not a flag (use 1/0, true/false, yes/no, Y/N, ○/×, 有/無) [cell in the list: \"nope\"]",
            "3 rows",
        ],
        ..ROW
    }]);
}

#[test]
fn bug_line_numbers_count_empty_lines() {
    assert_cases(&[Case {
        file: "line_numbers_blank_lines.csv",
        expect: &[
            "list.csv:5: C0002: leaked_phone: not a flag (use 1/0, true/false, yes/no, Y/N, ○/×, 有/無) [cell in the list: \"nope\"]",
            "3 rows",
        ],
        ..ROW
    }]);
}

#[test]
fn bug_crlf_empty_lines_do_not_corrupt_the_journal() {
    assert_cases(&[Case {
        file: "crlf_empty_lines_mid_list.csv",
        expect: &[
            "list.csv:5: C0002: leaked_phone: not a flag (use 1/0, true/false, yes/no, Y/N, ○/×, 有/無) [cell in the list: \"nope\"]",
            "3 rows",
        ],
        ..ROW
    }]);
}

#[test]
fn bug_underscore_ends_a_domain() {
    assert_cases(&[Case {
        file: "link_trailing_underscore.csv",
        expect: &["list.csv:3: C0002: name: contains a domain name"],
        secret: &["example.com_", "bad@example.jp"],
        ..ROW
    }]);
}
