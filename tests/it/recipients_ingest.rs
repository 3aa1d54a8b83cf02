//! Ingest of recipients files against the sample `config.toml`.

use std::path::{Path, PathBuf};

use tsuchi::config::Config;
use tsuchi::ingest::{Encoding, FieldSet, Next, Recipient, RecipientReader, Row, RowIssue};

const HEADER: &str = "id,email,name,brand,locale,leaked_name,leaked_phone,leaked_passport_number";

/// The sample config as it is: every catalogue field needs its column.
fn sample_config() -> Config {
    Config::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml")).unwrap()
}

/// The sample config with every field `optional`: these lists carry only the flag columns
/// they exercise.
fn config() -> Config {
    let mut c = sample_config();
    for f in &mut c.fields {
        f.optional = true;
    }
    c
}

#[derive(Debug)]
struct File {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

fn file(bytes: &[u8]) -> File {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("list.csv");
    std::fs::write(&path, bytes).unwrap();
    File { _dir: dir, path }
}

fn open(bytes: &[u8], encoding: Encoding) -> anyhow::Result<(File, RecipientReader)> {
    let f = file(bytes);
    let r = RecipientReader::open(&f.path, &config(), encoding)?;
    Ok((f, r))
}

fn rows_enc(bytes: &[u8], encoding: Encoding) -> Vec<Row> {
    let (_f, r) = open(bytes, encoding).unwrap();
    r.map(|r| r.unwrap()).collect()
}

fn rows(text: &str) -> Vec<Row> {
    rows_enc(text.as_bytes(), Encoding::Auto)
}

fn valid(row: &Row) -> (&Recipient, &[RowIssue]) {
    match row {
        Row::Valid {
            recipient,
            warnings,
        } => (recipient, warnings),
        Row::Invalid { errors, .. } => panic!("row invalid: {errors:?}"),
    }
}

fn errors(row: &Row) -> Vec<String> {
    match row {
        Row::Invalid { errors, .. } => errors.iter().map(|e| e.problem.clone()).collect(),
        Row::Valid { recipient, .. } => panic!("row valid: {recipient:?}"),
    }
}

/// The single error of a one-row file.
fn one_error(body_row: &str) -> String {
    let rs = rows(&format!("{HEADER}\n{body_row}\n"));
    assert_eq!(rs.len(), 1);
    let e = errors(&rs[0]);
    assert_eq!(e.len(), 1, "{e:?}");
    e[0].clone()
}

fn fields(keys: &[&str]) -> FieldSet {
    let c = config();
    let mut s = FieldSet::default();
    for k in keys {
        s.insert(c.field_index(k).unwrap());
    }
    s
}

const SAMPLE: &str = "id,email,name,brand,locale,leaked_name,leaked_phone,leaked_passport_number\n\
                      A001,taro@kaede.example,山田 太郎,kaede,,1,0,\n\
                      A002,hanako@hoshi.example,髙橋 花子 様,hoshizora,en,○,×,有\n";

#[test]
fn utf8_plain_lf() {
    let (_f, r) = open(SAMPLE.as_bytes(), Encoding::Auto).unwrap();
    assert_eq!(r.detected_encoding(), "utf-8");
    let rs: Vec<Row> = r.map(Result::unwrap).collect();
    assert_eq!(rs.len(), 2);
    let (a, w) = valid(&rs[0]);
    assert!(w.is_empty());
    assert_eq!((a.row, a.line), (1, 2));
    assert_eq!(a.id, "A001");
    assert_eq!(a.email, "taro@kaede.example");
    assert!(!a.legacy_email);
    assert_eq!(a.name, "山田 太郎");
    assert_eq!(a.brand, "kaede");
    assert_eq!(a.locale, "ja");
    assert_eq!(a.leaked, fields(&["name"]));
    let (b, _) = valid(&rs[1]);
    assert_eq!((b.row, b.line), (2, 3));
    assert_eq!(b.name, "髙橋 花子 様");
    assert_eq!(b.locale, "en");
    assert_eq!(b.leaked, fields(&["name", "passport_number"]));
}

#[test]
fn utf8_bom_crlf() {
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    bytes.extend(SAMPLE.replace('\n', "\r\n").as_bytes());
    let (_f, r) = open(&bytes, Encoding::Auto).unwrap();
    assert_eq!(r.detected_encoding(), "utf-8 (BOM)");
    let rs: Vec<Row> = r.map(Result::unwrap).collect();
    let (a, _) = valid(&rs[0]);
    assert_eq!(a.id, "A001");
    assert_eq!(a.line, 2);
    assert_eq!(valid(&rs[1]).0.line, 3);
    // Forced UTF-8 reports the BOM too.
    let (_f, r) = open(&bytes, Encoding::Utf8).unwrap();
    assert_eq!(r.detected_encoding(), "utf-8 (BOM)");
    // Shift_JIS on a file with a UTF-8 BOM is a mistake.
    let err = open(&bytes, Encoding::ShiftJis).unwrap_err().to_string();
    assert!(err.contains("byte-order mark"), "{err}");
}

fn cp932(text: &str) -> Vec<u8> {
    let (bytes, _, unmappable) = encoding_rs::SHIFT_JIS.encode(text);
    assert!(!unmappable);
    bytes.into_owned()
}

#[test]
fn cp932_detected_and_decoded() {
    // ㈱ and 髙 are CP932 extensions (NEC / IBM), not plain JIS X 0208.
    let text = "id,email,name,brand,locale,leaked_name,leaked_phone,leaked_passport_number\r\n\
                S001,ichiro@kaede.example,髙木 一郎,kaede,,Y,N,\r\n\
                S002,jiro@umi.example,㈱ソ表能 次郎,umineko,,○,×,×\r\n";
    let bytes = cp932(text);
    let (_f, r) = open(&bytes, Encoding::Auto).unwrap();
    assert_eq!(r.detected_encoding(), "shift_jis");
    let rs: Vec<Row> = r.map(Result::unwrap).collect();
    let (a, _) = valid(&rs[0]);
    assert_eq!(a.name, "髙木 一郎");
    assert_eq!(a.leaked, fields(&["name"]));
    let (b, _) = valid(&rs[1]);
    assert_eq!(b.name, "㈱ソ表能 次郎");
    assert_eq!(b.line, 3);
    // Forced.
    assert_eq!(rows_enc(&bytes, Encoding::ShiftJis).len(), 2);
    // Forced UTF-8 on a Shift_JIS file: the header is ASCII, the rows are not.
    let rs = rows_enc(&bytes, Encoding::Utf8);
    assert!(
        errors(&rs[0])
            .iter()
            .any(|e| e == "invalid UTF-8 byte sequence")
    );
}

#[test]
fn header_in_wrong_encoding_is_fatal() {
    let bytes = cp932("id,email,名前,brand\r\nA,a@b.example,x,kaede\r\n");
    let (_f, r) = open(&bytes, Encoding::Auto).unwrap();
    assert_eq!(r.detected_encoding(), "shift_jis");
    let err = open(&bytes, Encoding::Utf8).unwrap_err().to_string();
    assert!(err.contains("header line is not valid UTF-8"), "{err}");
}

#[test]
fn invalid_bytes_make_only_that_row_invalid() {
    let mut bytes = format!("{HEADER}\nA1,a@x.example,ok,kaede,,,,\nA2,b@x.example,").into_bytes();
    bytes.extend(b"\xff\xfe");
    bytes.extend(b",kaede,,,,\nA3,c@x.example,ok,kaede,,,,\n");
    let rs = rows_enc(&bytes, Encoding::Utf8);
    assert_eq!(rs.len(), 3);
    assert!(rs[0].is_valid() && rs[2].is_valid());
    assert_eq!(
        errors(&rs[1]),
        vec!["invalid UTF-8 byte sequence".to_string()]
    );
    if let Row::Invalid { id, line, row, .. } = &rs[1] {
        assert_eq!((id.as_deref(), *line, *row), (Some("A2"), 3, 2));
    }
    // Auto-detection sees invalid UTF-8 and takes Shift_JIS; 0xFF is not Shift_JIS either.
    let rs = rows_enc(&bytes, Encoding::Auto);
    assert_eq!(
        errors(&rs[1]),
        vec!["invalid Shift_JIS byte sequence".to_string()]
    );
    assert!(rs[0].is_valid() && rs[2].is_valid());
}

#[test]
fn malformed_shift_jis() {
    let mut bytes = cp932(&format!(
        "{HEADER}\r\nA1,a@x.example,山田,kaede,,,,\r\nA2,b@x.example,"
    ));
    bytes.extend(b"\x81\x20"); // lead byte followed by a space
    bytes.extend(b",kaede,,,,\r\n");
    let rs = rows_enc(&bytes, Encoding::ShiftJis);
    assert!(rs[0].is_valid());
    assert_eq!(
        errors(&rs[1]),
        vec!["invalid Shift_JIS byte sequence".to_string()]
    );
}

#[test]
fn utf8_character_cut_at_the_sniffing_boundary() {
    // The first 64 KiB end in the middle of a three-byte character.
    let mut text = format!("{HEADER}\n");
    let mut n = 0;
    while text.len() < 70_000 {
        text.push_str(&format!("R{n},r{n}@x.example,あいうえお,kaede,,1,,\n"));
        n += 1;
    }
    // Shift the content by one byte until the boundary falls inside a character.
    let first_name = text.find("あ").unwrap();
    while text.is_char_boundary(65_536) {
        text.insert(first_name, 'a');
    }
    let (_f, r) = open(text.as_bytes(), Encoding::Auto).unwrap();
    assert_eq!(r.detected_encoding(), "utf-8");
    assert!(r.map(Result::unwrap).all(|r| r.is_valid()));
}

#[test]
fn flag_styles() {
    let c = config();
    let phone = c.field_index("phone").unwrap();
    let cases = [
        ("1", true),
        ("0", false),
        ("true", true),
        ("FALSE", false),
        ("yes", true),
        ("No", false),
        ("Y", true),
        ("n", false),
        ("○", true),
        ("×", false),
        ("〇", true),
        ("◯", true),
        ("有", true),
        ("無", false),
        ("", false),
        (" 1 ", true),
        ("１", true),
        ("０", false),
        ("ＹＥＳ", true),
        ("ｎ", false),
        ("Ｔｒｕｅ", true),
    ];
    let mut text = format!("{HEADER}\n");
    for (i, (flag, _)) in cases.iter().enumerate() {
        text.push_str(&format!("F{i},f{i}@x.example,,kaede,,,\"{flag}\",\n"));
    }
    let rs = rows(&text);
    for ((flag, expected), row) in cases.iter().zip(&rs) {
        assert_eq!(valid(row).0.leaked.contains(phone), *expected, "{flag:?}");
    }
}

/// The only error of a one-row file, with the cell it quotes for the operator's terminal.
fn one_issue(body_row: &str) -> RowIssue {
    let rs = rows(&format!("{HEADER}\n{body_row}\n"));
    match &rs[..] {
        [Row::Invalid { errors, .. }] if errors.len() == 1 => errors[0].clone(),
        other => panic!("not one error: {other:?}"),
    }
}

#[test]
fn bad_flag_names_the_column_and_keeps_the_value_apart() {
    let issue = one_issue("A,a@x.example,,kaede,,,maybe,");
    assert_eq!(
        issue.problem,
        "leaked_phone: not a flag (use 1/0, true/false, yes/no, Y/N, ○/×, 有/無)"
    );
    assert_eq!(issue.value.as_deref(), Some("maybe"));
    assert!(
        issue.to_string().ends_with(
            "A: leaked_phone: not a flag (use 1/0, true/false, yes/no, Y/N, ○/×, 有/無)"
        )
    );
    assert!(
        issue
            .with_value()
            .to_string()
            .ends_with("有/無) [cell in the list: \"maybe\"]")
    );
}

#[test]
fn a_missing_flag_column_is_refused_unless_its_field_is_optional() {
    let f = file(format!("{HEADER}\nA,a@x.example,,kaede,,1,,\n").as_bytes());
    let err = RecipientReader::open(&f.path, &sample_config(), Encoding::Auto).unwrap_err();
    let msg = format!("{err:#}");
    assert!(
        msg.contains(
            "list.csv:1: columns `leaked_gender`, `leaked_birth_date`, `leaked_email`, \
             `leaked_address`, `leaked_postal_code`, `leaked_passport_issue_date` are missing"
        ),
        "{msg}"
    );
    assert!(msg.contains("optional = true"), "{msg}");
    let mut c = sample_config();
    for f in &mut c.fields {
        f.optional = !HEADER.contains(&format!("leaked_{},", f.key))
            && !HEADER.ends_with(&format!("leaked_{}", f.key));
    }
    let mut r = RecipientReader::open(&f.path, &c, Encoding::Auto).unwrap();
    assert!(valid(&r.next().unwrap().unwrap()).0.leaked == fields(&["name"]));
}

#[test]
fn optional_flag_columns_may_be_missing() {
    let (_f, r) = open(b"id,email,brand\nA,a@x.example,kaede\n", Encoding::Auto).unwrap();
    assert_eq!(r.flag_columns(), FieldSet::default());
    let rs: Vec<Row> = r.map(Result::unwrap).collect();
    assert!(valid(&rs[0]).0.leaked.is_empty());
    assert_eq!(valid(&rs[0]).0.name, "");
}

#[test]
fn id_rules() {
    assert_eq!(one_error(",a@x.example,,kaede,,,,"), "id: missing");
    assert_eq!(one_error("  ,a@x.example,,kaede,,,,"), "id: missing");
    let long = "x".repeat(65);
    assert_eq!(
        one_error(&format!("{long},a@x.example,,kaede,,,,")),
        "id: longer than 64 characters"
    );
    assert_eq!(
        one_error("\"A\u{7}1\",a@x.example,,kaede,,,,"),
        "id: contains a control character (U+0007)"
    );
    // 64 characters are fine, and surrounding spaces are trimmed.
    let rs = rows(&format!(
        "{HEADER}\n {} ,a@x.example,,kaede,,,,\n",
        "y".repeat(64)
    ));
    assert_eq!(valid(&rs[0]).0.id, "y".repeat(64));
}

#[test]
fn email_rules() {
    let e = |email: &str| one_error(&format!("A,{email},,kaede,,,,"));
    assert_eq!(
        e("\"\"\"Bob\"\" <bob@x.example>\""),
        "email: must be a bare address, not a display name"
    );
    assert!(e("\"a@x.example,b@x.example\"").contains("must be a single address"));
    assert!(e("a@x.example;b@x.example").contains("must be a single address"));
    assert!(e("a@x.example b@x.example").contains("must be a single address"));
    assert_eq!(e("a\u{3000}b@x.example"), "email: contains whitespace");
    assert!(e("taro@例え.jp").contains("internationalized domain"));
    assert!(e("taro@例え.jp").contains("punycode"));
    assert_eq!(e("taro@localhost"), "email: the domain has no dot");
    assert_eq!(e(""), "email: missing");
    assert_eq!(
        e("\"\"\"a b\"\"@x.example\""),
        "email: quoted local parts are not accepted"
    );
    assert!(e(&format!("{}@x.example", "a".repeat(65))).contains("longer than 64"));
    assert!(e(&format!("a@{}.example", "b.".repeat(130))).contains("longer than 254"));
    assert_eq!(e("no-at-sign.example"), "email: has no '@'");
    // xn-- punycode is fine.
    let rs = rows(&format!("{HEADER}\nA,taro@xn--r8jz45g.jp,,kaede,,,,\n"));
    assert!(rs[0].is_valid());
}

#[test]
fn legacy_mobile_addresses_are_accepted_quoted_with_a_warning() {
    let rs = rows(&format!(
        "{HEADER}\nL1,taro..yamada@docomo.ne.jp,,kaede,,,,\nL2,taro.@ezweb.ne.jp,,kaede,,,,\n"
    ));
    let (a, w) = valid(&rs[0]);
    assert!(a.legacy_email);
    assert_eq!(a.email, "\"taro..yamada\"@docomo.ne.jp");
    assert!(a.email.parse::<lettre::Address>().is_ok());
    assert_eq!(w.len(), 1);
    assert!(
        w[0].problem
            .contains("legacy address with dots outside RFC 5322")
    );
    assert!(!w[0].problem.contains("taro"));
    assert_eq!(
        w[0].to_string()
            .split(": ")
            .next()
            .unwrap()
            .rsplit(':')
            .next(),
        Some("2")
    );
    let (b, _) = valid(&rs[1]);
    assert_eq!(b.email, "\"taro.\"@ezweb.ne.jp");
    assert!(b.email.parse::<lettre::Address>().is_ok());
}

#[test]
fn brand_and_locale() {
    assert_eq!(
        one_error("A,a@x.example,,Kaede,,,,"),
        "brand: unknown brand (known: hoshizora, kaede, umineko)"
    );
    assert_eq!(
        one_issue("A,a@x.example,,Kaede,,,,").value.as_deref(),
        Some("Kaede")
    );
    assert_eq!(
        one_error("A,a@x.example,,,,,,"),
        "brand: missing (known: hoshizora, kaede, umineko)"
    );
    assert_eq!(
        one_error("A,a@x.example,,kaede,fr,,,"),
        "locale: unknown locale (known: en, ja)"
    );
    assert_eq!(
        one_issue("A,a@x.example,,kaede,fr,,,").value.as_deref(),
        Some("fr")
    );
    let rs = rows(&format!("{HEADER}\nA,a@x.example,,  kaede  , en ,,,\n"));
    let (r, _) = valid(&rs[0]);
    assert_eq!((r.brand.as_str(), r.locale.as_str()), ("kaede", "en"));
}

#[test]
fn brand_column_required_with_several_brands() {
    let err = open(b"id,email\nA,a@x.example\n", Encoding::Auto)
        .unwrap_err()
        .to_string();
    assert!(err.contains("column `brand` is missing"), "{err}");
}

#[test]
fn single_brand_config_needs_no_brand_column() {
    let c = config();
    let mut one = c.clone();
    one.brands.retain(|k, _| k == "umineko");
    let f = file(b"id,email\nA,a@x.example\n");
    let rs: Vec<Row> = RecipientReader::open(&f.path, &one, Encoding::Auto)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(valid(&rs[0]).0.brand, "umineko");
}

#[test]
fn name_hygiene_and_length() {
    let e = |name: &str| one_error(&format!("A,a@x.example,\"{name}\",kaede,,,,"));
    assert_eq!(e("山田\n太郎"), "name: contains a line break");
    assert_eq!(
        e("山田\u{202E}太郎"),
        "name: contains a bidirectional control character (U+202E)"
    );
    assert_eq!(
        e("山田\u{2066}太郎"),
        "name: contains a bidirectional control character (U+2066)"
    );
    assert_eq!(
        e("山田\u{200B}太郎"),
        "name: contains a zero-width character (U+200B)"
    );
    assert_eq!(e("山田\t太郎"), "name: contains a tab");
    assert_eq!(e(&"あ".repeat(101)), "name: longer than 100 characters");
    let rs = rows(&format!(
        "{HEADER}\nA,a@x.example,{},kaede,,,,\n",
        "あ".repeat(100)
    ));
    assert!(rs[0].is_valid());
}

#[test]
fn messages_never_echo_personal_data() {
    let rs = rows(&format!(
        "{HEADER}\nA,\"Taro Secret <taro@secret.example>\",\"秘密\u{202E}太郎\",kaede,,,,\n"
    ));
    let Row::Invalid { errors, .. } = &rs[0] else {
        panic!()
    };
    assert_eq!(errors.len(), 2);
    for e in errors {
        let s = e.to_string();
        assert!(
            !s.contains("secret") && !s.contains("秘密") && !s.contains('\u{202E}'),
            "{s}"
        );
    }
}

#[test]
fn all_problems_of_a_row_are_kept() {
    let rs = rows(&format!("{HEADER}\nA,bad,\"x\ny\",nobrand,xx,2,3,4\n"));
    let e = errors(&rs[0]);
    assert_eq!(e.len(), 7, "{e:?}");
    assert!(e[0].starts_with("email:"));
    assert!(e[1].starts_with("name:"));
    assert!(e[2].starts_with("brand:"));
    assert!(e[3].starts_with("locale:"));
    assert!(e[4].starts_with("leaked_name:"));
}

#[test]
fn duplicate_ids() {
    let rs = rows(&format!(
        "{HEADER}\nA,a@x.example,,kaede,,,,\nB,b@x.example,,kaede,,,,\nA,c@x.example,,kaede,,,,\n"
    ));
    assert!(rs[0].is_valid() && rs[1].is_valid());
    assert_eq!(
        errors(&rs[2]),
        vec!["duplicate id, first seen on line 2".to_string()]
    );
    let Row::Invalid { errors, .. } = &rs[2] else {
        panic!()
    };
    assert!(
        errors[0]
            .to_string()
            .ends_with("list.csv:4: A: duplicate id, first seen on line 2")
    );
}

#[test]
fn duplicate_email_within_a_brand_is_an_error_across_brands_a_warning() {
    let rs = rows(&format!(
        "{HEADER}\n\
         A,Taro@X.example,,kaede,,,,\n\
         B,Taro@x.EXAMPLE,,kaede,,,,\n\
         C,Taro@x.example,,hoshizora,,,,\n\
         D,taro@x.example,,kaede,,,,\n\
         E,Taro@x.example,,hoshizora,,,,\n"
    ));
    assert!(valid(&rs[0]).1.is_empty());
    let e = errors(&rs[1]);
    assert_eq!(e.len(), 1);
    assert!(
        e[0].contains("duplicate address within brand kaede, first seen on line 2"),
        "{e:?}"
    );
    let (c, w) = valid(&rs[2]);
    assert_eq!(c.brand, "hoshizora");
    assert_eq!(w.len(), 1);
    assert_eq!(
        w[0].problem,
        "email: also registered under brand kaede on line 2"
    );
    // The local part compares without case too (`campaign.case_sensitive_local_part` is off).
    let e = errors(&rs[3]);
    assert!(
        e[0].contains("duplicate address within brand kaede, first seen on line 2"),
        "{e:?}"
    );
    // Second row of the same address under hoshizora: duplicate of line 4.
    let e = errors(&rs[4]);
    assert!(
        e[0].contains("duplicate address within brand hoshizora, first seen on line 4"),
        "{e:?}"
    );
}

#[test]
fn a_duplicate_far_down_the_list_points_back_at_the_first_row() {
    let mut text = format!("{HEADER}\nFIRST,first@x.example,,kaede,,,,\n");
    for i in 0..30_000 {
        text.push_str(&format!("C{i},c{i}@x.example,,kaede,,,,\n"));
    }
    text.push_str("FIRST,other@x.example,,kaede,,,,\nLAST,first@x.example,,kaede,,,,\n");
    let rs = rows(&text);
    assert_eq!(rs.iter().filter(|r| !r.is_valid()).count(), 2);
    assert_eq!(
        errors(&rs[30_001]),
        vec!["duplicate id, first seen on line 2".to_string()]
    );
    let e = errors(&rs[30_002]);
    assert!(
        e[0].contains("duplicate address within brand kaede, first seen on line 2"),
        "{e:?}"
    );
}

#[test]
fn a_list_that_changes_between_the_two_passes_is_refused() {
    let f = file(format!("{HEADER}\nA,a@x.example,,kaede,,,,\n").as_bytes());
    let duplicates = RecipientReader::find_duplicates(&f.path, &config(), Encoding::Auto).unwrap();
    // Someone appends a row (a duplicate of the first) after the duplicates were found.
    let mut w = std::fs::OpenOptions::new()
        .append(true)
        .open(&f.path)
        .unwrap();
    std::io::Write::write_all(&mut w, b"A,a@x.example,,kaede,,,,\n").unwrap();
    drop(w);
    let err = RecipientReader::open_without_duplicates(&f.path, &config(), Encoding::Auto)
        .unwrap()
        .with_duplicates(duplicates)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("list.csv: the file changed while it was being read"),
        "{err}"
    );
}

#[test]
fn rows_finished_earlier_are_passed_over_but_still_count_for_duplicates() {
    let (_f, mut r) = open(
        format!(
            "{HEADER}\nA,a@x.example,,kaede,,,,\n\nB,b@x.example,,kaede,,,,\nA,c@x.example,,kaede,,,,\n"
        )
        .as_bytes(),
        Encoding::Auto,
    )
    .unwrap();
    // Rows 1 and 2 were sent in an earlier run: not validated again, still numbered.
    let mut reads = Vec::new();
    while let Some(read) = r.next_unless_finished(|row| row <= 2) {
        reads.push(read.unwrap());
    }
    assert!(matches!(reads[0], Next::Finished { row: 1 }));
    assert!(matches!(reads[1], Next::Finished { row: 2 }));
    let Next::Row(third) = &reads[2] else {
        panic!("{reads:?}")
    };
    // The third row repeats the first one's id: refused, although the first was passed over.
    assert_eq!(third.row(), 3);
    assert_eq!(
        errors(third),
        vec!["duplicate id, first seen on line 2".to_string()]
    );
}

#[test]
fn readers_that_only_map_rows_to_ids_do_not_look_for_duplicates() {
    let f =
        file(format!("{HEADER}\nA,a@x.example,,kaede,,,,\nA,a@x.example,,kaede,,,,\n").as_bytes());
    let rows: Vec<Row> =
        RecipientReader::open_without_duplicates(&f.path, &config(), Encoding::Auto)
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
    assert!(rows.iter().all(Row::is_valid));
}

#[test]
fn ragged_rows() {
    let rs = rows(&format!(
        "{HEADER}\nA,a@x.example,,kaede\nB,b@x.example,,kaede,,,,,extra\n"
    ));
    assert_eq!(
        errors(&rs[0]),
        vec!["expected 8 fields, found 4".to_string()]
    );
    assert_eq!(
        errors(&rs[1]),
        vec!["expected 8 fields, found 9".to_string()]
    );
    let Row::Invalid { id, .. } = &rs[0] else {
        panic!()
    };
    assert_eq!(id.as_deref(), Some("A"));
}

#[test]
fn header_errors() {
    let e = |text: &str| {
        open(text.as_bytes(), Encoding::Auto)
            .unwrap_err()
            .to_string()
    };
    assert!(e("email,brand\n").contains("required column `id` is missing"));
    assert!(e("id,brand\n").contains("required column `email` is missing"));
    let err = e("id,email,brand,leaked_shoe_size\n");
    assert!(err.contains("unknown column `leaked_shoe_size`"), "{err}");
    assert!(err.contains(":1:"), "{err}");
    assert!(e("id,email,brand,EMAIL\n").contains("column `email` appears twice (columns 2 and 4)"));
    assert!(e("").contains("empty"));
    let missing = tempfile::tempdir().unwrap();
    let err = RecipientReader::open(&missing.path().join("nope.csv"), &config(), Encoding::Auto)
        .unwrap_err()
        .to_string();
    assert!(err.contains("cannot open recipients file"), "{err}");
}

#[test]
fn header_names_are_trimmed_and_case_insensitive_other_columns_ignored() {
    let rs =
        rows(" ID , Email ,Brand,postal_address,LEAKED_PHONE,,\nA,a@x.example,kaede,東京都,1,,\n");
    let (r, _) = valid(&rs[0]);
    assert_eq!(r.leaked, fields(&["phone"]));
}

#[test]
fn header_only_file_has_no_rows() {
    assert!(rows(&format!("{HEADER}\n")).is_empty());
    assert!(rows(HEADER).is_empty());
}

#[test]
fn line_numbers_after_a_multi_line_field() {
    let text = format!(
        "{HEADER},postal_address\n\
         A,a@x.example,,kaede,,,,,\"東京都\n千代田区\n1-1\"\n\
         B,b@x.example,\"山田\r\n太郎\",kaede,,,,,\n\
         C,c@x.example,,kaede,,,,,\n\
         \n\
         ,,,,,,,,\n\
         D,d@x.example,,kaede,,,,,\n"
    );
    let rs = rows(&text);
    assert_eq!(rs.len(), 4);
    assert_eq!(valid(&rs[0]).0.line, 2);
    assert_eq!(rs[1].line(), 5);
    assert_eq!(
        errors(&rs[1]),
        vec!["name: contains a line break".to_string()]
    );
    assert_eq!(valid(&rs[2]).0.line, 7);
    // The empty line is skipped by the CSV reader, the row of empty cells by us: neither takes
    // a row number (the journal numbers rows the same way).
    let (d, _) = valid(&rs[3]);
    assert_eq!((d.line, d.row), (10, 4));
}

#[test]
fn unbalanced_quote_is_a_fatal_error_not_a_huge_record() {
    let mut text = format!("{HEADER}\nA,a@x.example,\"unterminated,kaede,,,,\n");
    while text.len() < 1_200_000 {
        text.push_str("B,b@x.example,x,kaede,,,,\n");
    }
    // The first pass (duplicates) reads to the end, so the list is refused before any row is
    // handed out: `send` mails no one from a list it cannot read through.
    let err = open(text.as_bytes(), Encoding::Auto)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains(":2: a record starting here is longer than 1 MiB"),
        "{err}"
    );
}

#[test]
fn display_of_issues() {
    let rs = rows(&format!("{HEADER}\n,a@x.example,,kaede,,,,\n"));
    let Row::Invalid { errors, id, .. } = &rs[0] else {
        panic!()
    };
    assert_eq!(*id, None);
    assert!(errors[0].to_string().ends_with("list.csv:2: id: missing"));
}
