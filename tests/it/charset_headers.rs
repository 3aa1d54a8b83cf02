//! RFC 2047 header encoding and folding, for both charsets, checked through mail-parser.

use std::time::{Duration, SystemTime};

use tsuchi::mail::{
    Charset, Headers, build_message, decode_iso2022jp, encode_header_value, encode_header_words,
    jis_safe_fixed_text,
};

fn long_subject() -> String {
    let base = "【重要】弊社運営サイトへの不正アクセスによるお客様の個人情報流出に関するお詫びとお知らせ（受付時間：９時〜２０時）";
    let mut s = String::new();
    while s.chars().count() < 200 {
        s.push_str(base);
    }
    jis_safe_fixed_text(&s.chars().take(200).collect::<String>())
}

fn jis_text(s: &str) -> String {
    if s.contains('\u{1b}') {
        decode_iso2022jp(s.replace("\u{1b}(B\u{1b}$B", "").as_bytes()).expect("ISO-2022-JP")
    } else {
        s.to_owned()
    }
}

fn words(encoded: &str) -> Vec<&str> {
    encoded
        .split("\r\n")
        .flat_map(|l| l.split(' '))
        .filter(|w| !w.is_empty())
        .collect()
}

fn parse_subject(field_value: &str) -> String {
    let raw = format!("From: a@example.jp\r\nSubject: {field_value}\r\n\r\nbody\r\n");
    let parsed = mail_parser::MessageParser::default()
        .parse(raw.as_bytes())
        .unwrap();
    jis_text(parsed.subject().unwrap())
}

#[test]
fn long_japanese_subject_folds_into_short_words_and_decodes_back() {
    let subject = long_subject();
    assert_eq!(subject.chars().count(), 200);
    for charset in [Charset::Utf8, Charset::Iso2022Jp] {
        let value = encode_header_value("Subject", &subject, charset).unwrap();
        let prefix = format!("=?{}?B?", charset.mime_name());
        let ws = words(&value);
        assert!(ws.len() > 5);
        for w in &ws {
            assert!(w.len() <= 75, "{charset}: word of {} chars", w.len());
            assert!(w.starts_with(&prefix) && w.ends_with("?="), "{w}");
        }
        let field = format!("Subject: {value}");
        for line in field.split("\r\n") {
            assert!(
                line.len() <= 78,
                "{charset}: line of {}: {line}",
                line.len()
            );
            assert!(line.is_ascii());
        }
        assert!(!value.ends_with(' ') && !value.contains("\r\n\r\n"));
        assert_eq!(parse_subject(&value), subject, "{charset}");

        // Without the field name: words still at most 75 characters.
        let bare = encode_header_words(&subject, charset).unwrap();
        for line in bare.split("\r\n") {
            assert!(line.trim_start().len() <= 75);
        }
        assert_eq!(parse_subject(&bare), subject, "{charset}");
    }
}

#[test]
fn words_never_split_a_character() {
    // Four-byte UTF-8 characters and mixed widths: every word decodes on its own.
    let value = "𠮷野家😀".repeat(20) + "あいうえおabc";
    let encoded = encode_header_words(&value, Charset::Utf8).unwrap();
    for w in words(&encoded) {
        let b64 = w
            .strip_prefix("=?UTF-8?B?")
            .unwrap()
            .strip_suffix("?=")
            .unwrap();
        let bytes = base64_decode(b64);
        assert!(String::from_utf8(bytes).is_ok(), "{w} splits a character");
    }
    assert_eq!(parse_subject(&encoded), value);

    let value = jis_safe_fixed_text(
        "渡邊様、ご不明な点は専用ダイヤル（9:00〜20:00）までお問い合わせください。ABC漢字かな",
    );
    let encoded = encode_header_words(&value, Charset::Iso2022Jp).unwrap();
    for w in words(&encoded) {
        let b64 = w
            .strip_prefix("=?ISO-2022-JP?B?")
            .unwrap()
            .strip_suffix("?=")
            .unwrap();
        let bytes = base64_decode(b64);
        // Self-contained: starts in ASCII (first escape, if any, is a designation) and ends in
        // ASCII, and decodes on its own.
        assert!(decode_iso2022jp(&bytes).is_some(), "{w}");
        if let Some(last) = bytes.iter().rposition(|b| *b == 0x1b) {
            assert_eq!(&bytes[last..last + 3], b"\x1b(B", "{w}");
        }
    }
    assert_eq!(parse_subject(&encoded), value);
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

#[test]
fn ascii_values_stay_plain_and_fold_at_spaces() {
    let value = "Notice of unauthorized access to customer data ".repeat(4);
    let value = value.trim_end();
    for charset in [Charset::Utf8, Charset::Iso2022Jp] {
        let encoded = encode_header_value("Subject", value, charset).unwrap();
        assert!(!encoded.contains("=?"));
        for line in format!("Subject: {encoded}").split("\r\n") {
            assert!(line.len() <= 78);
        }
        assert_eq!(parse_subject(&encoded), value);
    }
    // Something that looks like an encoded-word is encoded, not passed through.
    let tricky = "=?UTF-8?B?5pel5pys?= is not Japanese";
    let encoded = encode_header_words(tricky, Charset::Utf8).unwrap();
    assert!(encoded.starts_with("=?UTF-8?B?"));
    assert_eq!(parse_subject(&encoded), tricky);
}

#[test]
fn control_characters_are_refused() {
    for charset in [Charset::Utf8, Charset::Iso2022Jp] {
        for bad in ["件名\r\nBcc: x@example.com", "a\nb", "tab\there", "nul\0"] {
            assert_eq!(encode_header_words(bad, charset), None, "{bad:?}");
        }
    }
}

#[test]
fn both_charsets_build_messages_that_reparse() {
    let subject = long_subject();
    let from_name = "株式会社サンプルトラベル 個人情報流出に関するお問い合わせ窓口（専用ダイヤル）";
    let body = jis_safe_fixed_text(
        "山田 太郎 様\n\nこのたびは多大なるご迷惑をおかけし、\n誠に申し訳ございません。\n受付時間:9:00〜20:00\n",
    );
    for charset in [Charset::Utf8, Charset::Iso2022Jp] {
        let h = Headers {
            from_name,
            from_addr: "notice@example.co.jp",
            to: "山田 太郎 <taro@example.ne.jp>",
            reply_to: None,
            subject: &subject,
            message_id: "abc.123@example.co.jp",
            date: SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_597_200),
            return_path: Some("bounces@example.co.jp"),
        };
        let message = build_message(&h, &body, charset).unwrap();
        assert_eq!(
            message.envelope().from().unwrap().to_string(),
            "bounces@example.co.jp"
        );
        let raw = message.formatted();
        let text = String::from_utf8(raw.clone()).unwrap();
        let head = &text[..text.find("\r\n\r\n").unwrap()];
        assert!(head.is_ascii(), "{charset}: headers are ASCII");
        assert!(!head.contains("Return-Path"), "return path is not a header");
        for line in head.split("\r\n") {
            assert!(line.len() <= 998);
        }
        if charset == Charset::Iso2022Jp {
            for line in head.split("\r\n") {
                assert!(line.len() <= 78, "{line}");
            }
        }
        assert!(text.contains("Message-ID: <abc.123@example.co.jp>\r\n"));
        let parsed = mail_parser::MessageParser::default().parse(&raw).unwrap();
        assert_eq!(jis_text(parsed.subject().unwrap()), subject, "{charset}");
        let from = parsed.from().unwrap().first().unwrap();
        assert_eq!(jis_text(from.name().unwrap()), from_name, "{charset}");
        let to = parsed.to().unwrap().first().unwrap();
        assert_eq!(jis_text(to.name().unwrap()), "山田 太郎", "{charset}");
        assert_eq!(
            jis_text(&parsed.body_text(0).unwrap()).replace("\r\n", "\n"),
            body,
            "{charset}"
        );
    }
}
