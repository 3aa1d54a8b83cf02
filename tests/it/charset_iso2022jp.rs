//! Strict ISO-2022-JP: what can and cannot be carried, whole messages re-parsed by mail-parser,
//! and an independent strict decoder (Python's `iso2022_jp` codec).

use std::{
    path::Path,
    process::Command,
    time::{Duration, SystemTime},
};

use base64::Engine as _;
use proptest::prelude::*;
use tsuchi::mail::{
    Charset, Headers, MessageError, Part, build_iso2022jp_message, decode_iso2022jp,
    encode_body_iso2022jp, encode_header_words, encode_iso2022jp, jis_safe_fixed_text,
};

const NOTICE: &str = "このたびは、弊社が運営する旅行予約サイトにおいて、お客様の個人情報が外部に流出した可能性があることが判明いたしました。お客様には多大なるご迷惑とご心配をおかけしますことを、心より深くお詫び申し上げます。流出した可能性のある情報は、下記のとおりです。なお、クレジットカード番号、銀行口座番号、ご予約の内容は含まれておりません。弊社がお客様にカード番号やパスワードをお尋ねすることは一切ございません。不審な電話やメールにはご注意ください。";

fn hotline() -> String {
    jis_safe_fixed_text("専用ダイヤル 0120-000-000\n受付時間:9:00〜20:00（土日祝も受け付けます）")
}

fn headers<'a>(name: &'a str, subject: &'a str, to: &'a str) -> Headers<'a> {
    Headers {
        from_name: name,
        from_addr: "notice@example.co.jp",
        to,
        reply_to: Some("support@example.co.jp"),
        subject,
        message_id: "<20261125090000.a1b2c3@example.co.jp>",
        date: SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_597_200),
        return_path: None,
    }
}

/// mail-parser 0.11 decodes ISO-2022-JP only with its `full_encoding` feature; without it the
/// 7-bit bytes come through unchanged (escape sequences included) and are decoded here with
/// encoding_rs. Either way mail-parser does the MIME work: folding, encoded-words, CTE.
/// Without `full_encoding` mail-parser joins the raw text of adjacent encoded-words, so a word
/// boundary shows up as `ESC ( B ESC $ B`, which the WHATWG decoder (rightly, for a single
/// stream) rejects; decoding the words one by one, as `full_encoding` does, is equivalent to
/// dropping that empty ASCII run.
fn jis_text(s: &str) -> String {
    if s.contains('\u{1b}') {
        let joined = s.replace("\u{1b}(B\u{1b}$B", "");
        decode_iso2022jp(joined.as_bytes()).unwrap_or_else(|| panic!("invalid ISO-2022-JP: {s:?}"))
    } else {
        s.to_owned()
    }
}

fn check_wire_format(raw: &[u8]) {
    assert!(raw.iter().all(|b| *b < 0x80), "all bytes 7-bit");
    for (i, b) in raw.iter().enumerate() {
        if *b == b'\n' {
            assert!(i > 0 && raw[i - 1] == b'\r', "bare LF at {i}");
        }
        if *b == b'\r' {
            assert_eq!(raw.get(i + 1), Some(&b'\n'), "bare CR at {i}");
        }
    }
    for line in raw.split(|b| *b == b'\n') {
        assert!(line.len() <= 999, "line over 998 octets: {}", line.len());
    }
}

fn python3_available() -> bool {
    Command::new("python3")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn strict_check(files: &[&Path]) -> Option<bool> {
    if !python3_available() {
        eprintln!("SKIP strict ISO-2022-JP check: python3 not found");
        return None;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scripts/strict_iso2022jp.py");
    let out = Command::new("python3")
        .arg(script)
        .args(files)
        .output()
        .expect("run python3");
    if !out.status.success() {
        eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    }
    Some(out.status.success())
}

/// The raw bytes of the encoded-words of a header line (for the strict check).
fn encoded_word_payloads(raw_header_value: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for part in raw_header_value.split("=?ISO-2022-JP?B?").skip(1) {
        let b64 = &part[..part.find("?=").unwrap()];
        out.extend(
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .unwrap(),
        );
    }
    out
}

fn raw_header<'a>(raw: &'a str, name: &str) -> &'a str {
    let start = raw
        .find(&format!("\r\n{name}: "))
        .map(|i| i + 2)
        .or_else(|| raw.starts_with(&format!("{name}: ")).then_some(0))
        .unwrap();
    let rest = &raw[start + name.len() + 2..];
    let mut end = 0;
    while let Some(i) = rest[end..].find("\r\n") {
        end += i + 2;
        if !rest[end..].starts_with(' ') && !rest[end..].starts_with('\t') {
            return &rest[..end - 2];
        }
    }
    rest
}

#[test]
fn refuses_what_strict_jis_x0208_cannot_carry() {
    for s in [
        "髙",       // IBM extension (row 92 in encoding_rs)
        "①",        // NEC row 13
        "㈱",       // NEC row 13
        "ｶﾀｶﾅ",     // half-width katakana (WHATWG would widen it silently)
        "𠮷",       // outside the BMP, JIS X 0213 only
        "😀",       // emoji
        "髙橋 様",  // mixed
        "\u{301C}", // WAVE DASH before jis_safe_fixed_text: encoding_rs does not map it
        "\u{2212}", // MINUS SIGN: encodes to 0x215D but decodes as U+FF0D, not itself
        "\u{2460}",
        "ⅰ",              // NEC-selected IBM extension
        "\u{1b}$B",       // raw escape sequence
        "\u{0}",          // NUL
        "丂",             // JIS X 0212 only
        "\u{e000}",       // private use
        "Ｆｏｏ\u{ff61}", // half-width ideographic full stop
    ] {
        assert_eq!(encode_iso2022jp(s), None, "{s:?} must be refused");
    }
}

#[test]
fn carries_jis_x0208_text() {
    for s in [
        "高",
        "渡邊",
        "ー",
        "「」",
        "渡辺 太郎",
        "全角カタカナ",
        "凜熙", // JIS X 0208:1990 row 84
        "∵∴≒≡∫√",
        "¥100",
        "",
        "ascii only",
        &jis_safe_fixed_text("〜"),
        &jis_safe_fixed_text("受付時間:9:00〜20:00"),
    ] {
        let bytes = encode_iso2022jp(s).unwrap_or_else(|| panic!("{s:?} must be carried"));
        assert!(bytes.iter().all(|b| *b < 0x80));
        assert_eq!(decode_iso2022jp(&bytes).as_deref(), Some(s));
        if let Some(last_esc) = bytes.iter().rposition(|b| *b == 0x1b) {
            let tail = &bytes[last_esc..];
            assert!(
                tail.starts_with(b"\x1b(B") || tail.starts_with(b"\x1b(J"),
                "ends in ASCII: {bytes:02x?}"
            );
        }
    }
    assert_eq!(
        encode_iso2022jp("高").unwrap(),
        b"\x1b$B9b\x1b(B",
        "JIS X 0208 0x3962"
    );
}

#[test]
fn fixed_text_maps_to_what_encoding_rs_encodes() {
    // encoding_rs (WHATWG) maps JIS 0x2141 to U+FF5E FULLWIDTH TILDE, not U+301C WAVE DASH.
    assert_eq!(jis_safe_fixed_text("〜"), "\u{FF5E}");
    assert_eq!(
        encode_iso2022jp("\u{FF5E}").unwrap(),
        b"\x1b$B\x21\x41\x1b(B"
    );
    let pairs = [
        ('\u{301C}', '\u{FF5E}', [0x21, 0x41]),
        ('\u{2016}', '\u{2225}', [0x21, 0x42]),
        ('\u{2212}', '\u{FF0D}', [0x21, 0x5D]),
        ('\u{00A2}', '\u{FFE0}', [0x21, 0x71]),
        ('\u{00A3}', '\u{FFE1}', [0x21, 0x72]),
        ('\u{00AC}', '\u{FFE2}', [0x22, 0x4C]),
        ('\u{2014}', '\u{2015}', [0x21, 0x3D]),
    ];
    for (from, to, jis) in pairs {
        let mapped = jis_safe_fixed_text(&from.to_string());
        assert_eq!(mapped, to.to_string(), "U+{:04X}", from as u32);
        assert_eq!(
            encode_iso2022jp(&from.to_string()),
            None,
            "U+{:04X} raw",
            from as u32
        );
        let mut expected = b"\x1b$B".to_vec();
        expected.extend(jis);
        expected.extend(b"\x1b(B");
        assert_eq!(encode_iso2022jp(&mapped).unwrap(), expected);
        // Idempotent, and the target is left alone.
        assert_eq!(jis_safe_fixed_text(&mapped), mapped);
    }
    // Nothing else changes; recipients' text is never passed through it.
    let other = "渡邊 ｶﾀｶﾅ 髙 ① ~ - ー 〰 abc";
    assert_eq!(jis_safe_fixed_text(other), other);
}

#[test]
fn body_lines_are_crlf_and_each_ends_in_ascii() {
    let body = "一行目\n二行目\r\nthird\rlast 行\n";
    let bytes = encode_body_iso2022jp(body).unwrap();
    let lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
    assert_eq!(lines.len(), 5);
    for line in &lines[..4] {
        assert!(line.ends_with(b"\r"));
    }
    assert!(lines[4].is_empty(), "final line break kept");
    assert_eq!(
        decode_iso2022jp(&bytes).unwrap(),
        "一行目\r\n二行目\r\nthird\r\nlast 行\r\n"
    );
    // 332 kanji: 3 + 664 + 3 = 670 octets; 497 kanji: 1000 octets.
    assert!(encode_body_iso2022jp(&"漢".repeat(332)).is_some());
    assert!(encode_body_iso2022jp(&"漢".repeat(496)).is_some()); // 998 octets
    assert_eq!(encode_body_iso2022jp(&"漢".repeat(497)), None);
    assert_eq!(encode_body_iso2022jp("abc\n髙\n"), None);
}

fn long_notice_body(name: &str) -> String {
    let mut body = format!("{name} 様\n\n");
    // Wrapped at 35 full-width characters, as the notice renderer does.
    let chars: Vec<char> = NOTICE.chars().collect();
    for chunk in chars.chunks(35) {
        body.extend(chunk);
        body.push('\n');
    }
    body.push_str("\n【流出した可能性のある情報】\n1. 氏名\n2. 生年月日\n3. パスポート番号\n\n");
    body.push_str(&hotline());
    body.push('\n');
    body
}

#[test]
fn whole_messages_reparse_and_pass_the_strict_decoder() {
    let dir = tempfile::tempdir().unwrap();
    let names = [
        "渡邊 太郎",
        "高橋 花子",
        "斎藤 凜",
        "Yamada Taro",
        "山田 ナオミ・ローズ",
    ];
    let subject = jis_safe_fixed_text(
        "【重要】個人情報流出に関するお詫びとお知らせ（専用ダイヤル 受付時間:9:00〜20:00）",
    );
    let from_name = "株式会社サンプルトラベル お客様相談窓口";
    let mut files = Vec::new();
    for (n, name) in names.iter().enumerate() {
        let body = long_notice_body(name);
        let to = format!("customer{n}@example.ne.jp");
        let h = headers(from_name, &subject, &to);
        let message = build_iso2022jp_message(&h, &body).expect("carried");
        let raw = message.formatted();
        check_wire_format(&raw);
        let text = String::from_utf8(raw.clone()).unwrap();
        assert!(text.contains("Content-Type: text/plain; charset=ISO-2022-JP\r\n"));
        assert!(text.contains("Content-Transfer-Encoding: 7bit\r\n"));
        assert!(text.contains("MIME-Version: 1.0\r\n"));
        assert!(text.contains("Message-ID: <20261125090000.a1b2c3@example.co.jp>\r\n"));
        assert!(text.contains("Reply-To: support@example.co.jp\r\n"));
        assert!(
            text.contains("Date: Wed, 25 Nov 2026 09:00:00 +0000\r\n"),
            "{text}"
        );

        let parsed = mail_parser::MessageParser::default()
            .parse(&raw)
            .expect("parse");
        assert_eq!(jis_text(parsed.subject().unwrap()), subject);
        let from = parsed.from().unwrap().first().unwrap();
        assert_eq!(jis_text(from.name().unwrap()), from_name);
        assert_eq!(from.address(), Some("notice@example.co.jp"));
        assert_eq!(
            parsed.to().unwrap().first().unwrap().address(),
            Some(to.as_str())
        );
        let parsed_body = jis_text(&parsed.body_text(0).unwrap());
        assert_eq!(parsed_body.replace("\r\n", "\n"), body);
        assert!(parsed_body.contains("受付時間:9:00\u{FF5E}20:00"));

        let msg_path = dir.path().join(format!("notice{n}.eml"));
        std::fs::write(&msg_path, &raw).unwrap();
        let words_path = dir.path().join(format!("words{n}.bin"));
        let mut words = encoded_word_payloads(raw_header(&text, "Subject"));
        words.extend(b"\r\n");
        words.extend(encoded_word_payloads(raw_header(&text, "From")));
        std::fs::write(&words_path, words).unwrap();
        files.push(msg_path);
        files.push(words_path);
    }
    let paths: Vec<&Path> = files.iter().map(|p| p.as_path()).collect();
    if let Some(ok) = strict_check(&paths) {
        assert!(ok, "strict iso2022_jp decoder rejected a message");
    }
}

#[test]
fn strict_script_rejects_vendor_extensions() {
    // Sanity check of the independent checker itself.
    let dir = tempfile::tempdir().unwrap();
    let row13 = dir.path().join("row13.txt");
    std::fs::write(&row13, b"\x1b$B-!\x1b(B\r\n").unwrap(); // ① (NEC row 13)
    let ibm = dir.path().join("ibm.txt");
    std::fs::write(&ibm, b"\x1b$B|b\x1b(B\r\n").unwrap(); // 髙 (encoding_rs row 92)
    let open = dir.path().join("open.txt");
    std::fs::write(&open, b"\x1b$B9b\r\n").unwrap(); // line ends in JIS mode
    let good = dir.path().join("good.txt");
    std::fs::write(&good, b"\x1b$B9b\x1b(B\r\n").unwrap();
    for bad in [&row13, &ibm, &open] {
        if let Some(ok) = strict_check(&[bad.as_path()]) {
            assert!(!ok, "{} must be rejected", bad.display());
        }
    }
    if let Some(ok) = strict_check(&[good.as_path()]) {
        assert!(ok);
    }
}

/// Every BMP character `encode_iso2022jp` accepts is strict JIS X 0208 (or ASCII, ¥, ‾):
/// Python's codec decodes all of them, and there are exactly as many as JIS X 0208 has.
#[test]
fn every_accepted_character_is_strict_jis_x0208() {
    let mut accepted = Vec::new();
    for cp in 0x80u32..=0xFFFF {
        let Some(c) = char::from_u32(cp) else {
            continue;
        };
        let s = c.to_string();
        if let Some(bytes) = encode_iso2022jp(&s) {
            accepted.push((c, bytes));
        }
    }
    let two_byte = accepted
        .iter()
        .filter(|(_, b)| b.starts_with(b"\x1b$B"))
        .count();
    let roman: Vec<char> = accepted
        .iter()
        .filter(|(_, b)| b.starts_with(b"\x1b(J"))
        .map(|(c, _)| *c)
        .collect();
    // JIS X 0208:1990 has 6879 graphic characters.
    assert_eq!(two_byte, 6879);
    assert_eq!(roman, vec!['\u{A5}', '\u{203E}']);
    assert_eq!(accepted.len(), 6879 + 2);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("all.txt");
    let mut all = Vec::new();
    for (_, bytes) in &accepted {
        all.extend(bytes);
        all.extend(b"\r\n");
    }
    std::fs::write(&path, all).unwrap();
    if let Some(ok) = strict_check(&[path.as_path()]) {
        assert!(ok);
    }
}

#[test]
fn unencodable_parts_are_reported_without_their_text() {
    let body = long_notice_body("渡邊 太郎");
    let err = build_iso2022jp_message(&headers("窓口", "お知らせ", "a@example.jp"), "髙橋 様")
        .unwrap_err();
    assert!(matches!(err, MessageError::Unencodable(Part::Body)));
    assert!(!err.to_string().contains('髙'));
    let err =
        build_iso2022jp_message(&headers("①窓口", "お知らせ", "a@example.jp"), &body).unwrap_err();
    assert!(matches!(err, MessageError::Unencodable(Part::From)));
    let err =
        build_iso2022jp_message(&headers("窓口", "お知らせ①", "a@example.jp"), &body).unwrap_err();
    assert!(matches!(err, MessageError::Unencodable(Part::Subject)));
    let err = build_iso2022jp_message(&headers("窓口", "お知らせ", "髙橋 <a@example.jp>"), &body)
        .unwrap_err();
    assert!(matches!(err, MessageError::Unencodable(Part::To)));
    let err = build_iso2022jp_message(
        &headers("窓口", "お知らせ\r\nBcc: x@example.com", "a@example.jp"),
        &body,
    )
    .unwrap_err();
    assert!(matches!(err, MessageError::Invalid(Part::Subject)));
    let err =
        build_iso2022jp_message(&headers("窓口", "お知らせ", "not an address"), &body).unwrap_err();
    assert!(matches!(err, MessageError::Invalid(Part::To)));
}

#[test]
fn recipient_display_name_in_iso2022jp() {
    let body = long_notice_body("渡邊 太郎");
    let h = headers("窓口", "お知らせ", "渡邊 太郎 <watanabe@example.ne.jp>");
    let raw = build_iso2022jp_message(&h, &body).unwrap().formatted();
    check_wire_format(&raw);
    let parsed = mail_parser::MessageParser::default().parse(&raw).unwrap();
    let to = parsed.to().unwrap().first().unwrap();
    assert_eq!(jis_text(to.name().unwrap()), "渡邊 太郎");
    assert_eq!(to.address(), Some("watanabe@example.ne.jp"));
}

#[test]
fn legacy_mobile_addresses_are_accepted() {
    // Consecutive dots and a dot before '@' exist on old Japanese carrier addresses.
    let body = "本文\n";
    for to in ["taro..yamada@docomo.ne.jp", "taro.@ezweb.ne.jp"] {
        let h = headers("窓口", "お知らせ", to);
        let message = build_iso2022jp_message(&h, body).unwrap();
        let raw = String::from_utf8(message.formatted()).unwrap();
        assert!(raw.contains(&format!("To: {to}\r\n")), "{raw}");
        assert_eq!(message.envelope().to()[0].to_string(), to);
    }
}

#[test]
fn charset_names() {
    assert_eq!("utf-8".parse::<Charset>().unwrap(), Charset::Utf8);
    assert_eq!(
        "ISO-2022-JP".parse::<Charset>().unwrap(),
        Charset::Iso2022Jp
    );
    assert!("shift_jis".parse::<Charset>().is_err());
    assert_eq!(Charset::Iso2022Jp.to_string(), "iso-2022-jp");
    assert_eq!(Charset::default(), Charset::Utf8);
}

const POOL: &[char] = &[
    'あ', 'ア', '漢', '字', '渡', '邊', '高', 'ー', '「', '」', '、', '。', '・', '　', ' ', 'a',
    'Z', '0', '-', '=', '?', '_', '¥', '\u{FF5E}', '髙', '①', 'ｶ', '😀', '𠮷', '\u{301C}',
];

proptest! {
    #[test]
    fn encode_round_trips_or_refuses(s in proptest::collection::vec(proptest::sample::select(POOL), 0..60)) {
        let s: String = s.into_iter().collect();
        let refused = s.chars().any(|c| matches!(c, '髙' | '①' | 'ｶ' | '😀' | '𠮷' | '\u{301C}'));
        match encode_iso2022jp(&s) {
            None => prop_assert!(refused),
            Some(bytes) => {
                prop_assert!(!refused);
                prop_assert!(bytes.iter().all(|b| *b < 0x80));
                prop_assert_eq!(decode_iso2022jp(&bytes).unwrap(), s.clone());
                let words = encode_header_words(&s, Charset::Iso2022Jp).unwrap();
                for line in words.split("\r\n") {
                    prop_assert!(line.len() <= 78, "{line}");
                }
            }
        }
    }
}
