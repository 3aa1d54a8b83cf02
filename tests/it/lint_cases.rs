//! The no-link lint: what must be found and what must pass.

use tsuchi::render::{LinkKind, find_link, find_links};

#[track_caller]
fn flagged(text: &str, kind: LinkKind, snippet: &str) {
    let f = find_link(text).unwrap_or_else(|| panic!("not flagged: {text:?}"));
    assert_eq!(
        (f.kind.clone(), f.snippet.as_str()),
        (kind, snippet),
        "for {text:?}: {f}"
    );
}

#[track_caller]
fn clean(text: &str) {
    assert_eq!(find_links(text), vec![], "false positive in {text:?}");
}

#[test]
fn urls_with_schemes() {
    flagged(
        "詳しくは https://example.com/a?b=1 をご覧ください",
        LinkKind::Url,
        "https://example.com/a?b=1",
    );
    flagged("http://x", LinkKind::Url, "http://x");
    flagged(
        "ftp://files.example.org/pub",
        LinkKind::Url,
        "ftp://files.example.org/pub",
    );
    flagged("hxxp://evil", LinkKind::Url, "hxxp://evil");
    flagged(
        "ｈｔｔｐｓ：／／ｅｘａｍｐｌｅ．ｃｏｍ",
        LinkKind::Url,
        "https://example.com",
    );
    flagged("javascript:alert(1)", LinkKind::Url, "javascript:alert(1)");
    flagged("data:text/html,<b>", LinkKind::Url, "data:text/html,");
    flagged("mailto:someone", LinkKind::Email, "mailto:someone");
    flagged("こちら（https://例え.jp/）へ", LinkKind::Url, "https://");
}

#[test]
fn www_and_domains() {
    flagged("www.example.com", LinkKind::Www, "www.example.com");
    flagged(
        "様 ｗｗｗ．ｅｘａｍｐｌｅ．ｃｏｍ 様",
        LinkKind::Www,
        "www.example.com",
    );
    flagged("WWW.EXAMPLE.COM", LinkKind::Www, "WWW.EXAMPLE.COM");
    flagged("www.x1", LinkKind::Www, "www.x1");
    flagged("example.co.jp", LinkKind::Domain, "example.co.jp");
    flagged("山田example.jpです", LinkKind::Domain, "example.jp");
    flagged("foo.museum", LinkKind::Domain, "foo.museum");
    flagged("evil.xn--p1ai", LinkKind::Domain, "evil.xn--p1ai");
    flagged("xn--80ak6aa92e.com", LinkKind::Domain, "xn--80ak6aa92e.com");
    flagged("a.bc", LinkKind::Domain, "a.bc");
    flagged("example.com.", LinkKind::Domain, "example.com");
    flagged("example。com", LinkKind::Domain, "example。com");
    flagged("example｡com", LinkKind::Domain, "example。com");
    flagged("example．com", LinkKind::Domain, "example.com");
    flagged("J.Smith", LinkKind::Domain, "J.Smith");
    flagged("例え.jp", LinkKind::Domain, "例え.jp");
    flagged("notice.pdf", LinkKind::Domain, "notice.pdf");
    flagged("my-host.example", LinkKind::Domain, "my-host.example");
    flagged("sub_domain.example", LinkKind::Domain, "sub_domain.example");
    flagged("a..b.example", LinkKind::Domain, "b.example");
}

#[test]
fn emails() {
    flagged("x@y.z", LinkKind::Email, "x@y.z");
    flagged(
        "連絡先: taro.yamada@example.co.jp まで",
        LinkKind::Email,
        "taro.yamada@example.co.jp",
    );
    flagged(
        "ｔａｒｏ＠ｅｘａｍｐｌｅ．ｊｐ",
        LinkKind::Email,
        "taro@example.jp",
    );
    flagged("a..b.@docomo.ne.jp", LinkKind::Email, "a..b.@docomo.ne.jp");
    flagged("user@[192.168.0.1]", LinkKind::Email, "user@[192.168.0.1]");
    flagged("user@example。jp", LinkKind::Email, "user@example。jp");
}

#[test]
fn ip_addresses() {
    flagged("192.168.0.1", LinkKind::IpAddress, "192.168.0.1");
    flagged("１９２．１６８．０．１", LinkKind::IpAddress, "192.168.0.1");
    flagged("サーバ10.0.0.255へ", LinkKind::IpAddress, "10.0.0.255");
    flagged("2001:db8::1", LinkKind::IpAddress, "2001:db8::1");
    flagged("[::1]", LinkKind::IpAddress, "::1");
    flagged(
        "fe80::1ff:fe23:4567:890a です",
        LinkKind::IpAddress,
        "fe80::1ff:fe23:4567:890a",
    );
    flagged("192.168.0.1:8080", LinkKind::IpAddress, "192.168.0.1");
}

#[test]
fn japanese_notice_text_is_clean() {
    for text in [
        "受付時間：9:00〜20:00（土日祝日を含む）",
        "受付時間 9:00～18:00",
        "12:30:45",
        "2026年10月14日",
        "2026.11.25",
        "2026.11.25.",
        "フリーダイヤル 0120-000-101",
        "(1)氏名 (2)性別 （３）生年月日",
        "１．氏名",
        "1.氏名",
        "No.1",
        "Ver.2.0",
        "v1.2.3",
        "ジョン・スミス様",
        "J. Smith",
        "e.g. i.e. a.m. p.m. U.S.A. Ph.D.",
        "3.5GB",
        "TEL:0120-000-101",
        "ＴＥＬ：０１２０−０００−１０１",
        "Data: name, address",
        "Note:: something",
        "価格＠1,000円",
        "@tsuchi",
        "ご確認ください。次に",
        "ご確認ください。Thank you for reading.",
        "ご確認ください。OK",
        "ご確認ください。ATMで",
        "Thank you. Next",
        "1.2.3.4.5",
        "当社ホームページをご覧ください。お問い合わせは下記まで。",
        "",
    ] {
        clean(text);
    }
}

#[test]
fn all_findings_in_order_with_char_offsets() {
    let text = "あいう www.example.com と x@y.jp と 10.0.0.1";
    let found = find_links(text);
    let kinds: Vec<_> = found.iter().map(|f| (f.kind.clone(), f.start)).collect();
    assert_eq!(
        kinds,
        vec![
            (LinkKind::Www, 4),
            (LinkKind::Email, 22),
            (LinkKind::IpAddress, 31)
        ]
    );
    // Offsets are in the NFKC text.
    let f = find_link("ｗｗｗ．ａ．ｂｃ、あ x@y.jp").unwrap();
    assert_eq!(f.start, 0);
    let found = find_links("ｗｗｗ．ａ．ｂｃ、あ x@y.jp");
    assert_eq!(found[1].start, 11);
}

#[test]
fn display_names_the_kind_first() {
    let f = find_link("www.example.com").unwrap();
    assert_eq!(f.to_string(), "a web address (www.example.com)");
    assert_eq!(
        find_link("example.com").unwrap().to_string(),
        "a domain name (example.com)"
    );
    assert_eq!(
        find_link("a@b.cd").unwrap().to_string(),
        "an e-mail address (a@b.cd)"
    );
}

#[test]
fn long_snippets_are_cut() {
    let long = format!("https://example.com/{}", "a".repeat(100));
    let f = find_link(&long).unwrap();
    assert_eq!(f.snippet.chars().count(), 41);
    assert!(f.snippet.ends_with('…'));
}

#[test]
fn interpolated_names_are_caught() {
    // What a malicious or sloppy `name` column could slip into a notice.
    for name in [
        "www.example.com",
        "ｗｗｗ．ｅｘａｍｐｌｅ．ｃｏｍ",
        "example.com",
        "evil。example。com",
        "山田 太郎 <taro@example.jp>",
        "http：／／example",
        "１２７．０．０．１",
    ] {
        let notice = format!(
            "{name} 様\n\nこのたびは、弊社が運営するサービスにおいて、不正アクセスが発生しました。"
        );
        assert!(find_link(&notice).is_some(), "{name}");
    }
}

#[test]
fn full_width_with_ideographic_stops() {
    flagged("ｅｘａｍｐｌｅ。ｃｏｍ", LinkKind::Domain, "example。com");
    flagged(
        "ｗｗｗ｡ｅｘａｍｐｌｅ｡ｃｏｍ",
        LinkKind::Www,
        "www。example。com",
    );
    flagged(
        "お名前：ｔａｒｏ＠ｅｘａｍｐｌｅ。ｊｐ様",
        LinkKind::Email,
        "taro@example。jp",
    );
}

proptest::proptest! {
    /// A domain, e-mail address or URL slipped between Japanese text is always found.
    #[test]
    fn interpolated_links_are_found(
        before in "[あ-んア-ン漢字、。（）「」 ]{0,20}",
        after in "[あ-んア-ン漢字、。（）「」 ]{0,20}",
        label in "[a-z0-9][a-z0-9-]{0,10}",
        tld in "[a-z]{2,6}",
        form in 0..4u8,
        dot in proptest::sample::select(vec![".", "．", "。", "｡"]),
    ) {
        let host = format!("{label}{dot}{tld}");
        let link = match form {
            0 => host,
            1 => format!("www{dot}{host}"),
            2 => format!("user@{host}"),
            _ => format!("https://{host}/"),
        };
        let text = format!("{before}{link}{after}");
        proptest::prop_assert!(find_link(&text).is_some(), "missed {:?}", text);
    }
}

#[test]
fn idn_with_an_ideographic_stop_and_a_trailing_underscore_are_domains() {
    for text in [
        "例え。jp",
        "例え。JP",
        "山田 例え。COM 様",
        "山田 例え。com 様",
        "example.com_",
        "foo.co.jp_",
    ] {
        let found = tsuchi::render::find_link(text);
        assert!(
            found
                .as_ref()
                .is_some_and(|f| f.kind == tsuchi::render::LinkKind::Domain),
            "{text}: {found:?}"
        );
    }
}

#[test]
fn an_address_literal_does_not_reach_across_lines() {
    assert!(tsuchi::render::find_link("u@[127.0.0.1]").is_some());
    assert!(tsuchi::render::find_link("Dear #@[,\n\n[What happened]").is_none());
}

#[test]
fn names_under_internationalized_top_level_domains_are_domains() {
    for text in [
        "пример.рф",
        "例え.みんな",
        "楓サポート.コム",
        "ПРИМЕР.РФ",
        "kaede.コム",
        "例え．みんな",
        "例え。みんな",
        "山田 楓サポート.コム 様",
        "お問い合わせは楓.世界、または",
        "例子.中国",
        "उदाहरण.भारत",
        "ตัวอย่าง.ไทย",
        "مثال.السعودية",
        "예시.한국",
        "kaede.vermögensberater",
        "a.b.ελ",
    ] {
        let found = find_link(text);
        assert!(
            found.as_ref().is_some_and(|f| f.kind == LinkKind::Domain),
            "{text}: {found:?}"
        );
    }
    // Words that are top-level domains only inside longer prose are not names.
    for text in [
        "1.健康被害の有無",
        "ご確認ください。通販サイトでは",
        "みんなで",
        "世界",
        "ご確認ください。コムギ",
    ] {
        clean(text);
    }
}

#[test]
fn invisible_characters_are_refused() {
    for c in [
        '\u{FE0F}',
        '\u{E0100}',
        '\u{FFF9}',
        '\u{1BCA0}',
        '\u{1D173}',
        '\u{16FE4}',
        '\u{200B}',
        '\u{200D}',
        '\u{2060}',
        '\u{00AD}',
        '\u{FEFF}',
        '\u{202E}',
        '\u{2066}',
        '\u{E0041}',
        '\u{180E}',
        '\u{3164}',
        '\u{FFA0}',
        '\u{115F}',
        '\u{034F}',
    ] {
        for text in [
            format!("kaede-support.co{c}m"),
            format!("kaede-support{c}.com"),
            format!("やまだ{c}たろう 様"),
        ] {
            let found = find_link(&text);
            assert!(found.is_some(), "U+{:04X} in {text:?}", c as u32);
        }
        let found = find_link(&format!("やまだ{c}たろう")).unwrap();
        assert_eq!(found.kind, LinkKind::Invisible);
        // The code point, never the (invisible) char; NFKC maps the Hangul fillers to U+1160.
        let shown = if matches!(c, '\u{FFA0}' | '\u{3164}') {
            '\u{1160}'
        } else {
            c
        };
        assert_eq!(found.snippet, format!("U+{:04X}", shown as u32));
        assert_eq!(found.start, 3);
    }
    // A variation selector right after a CJK ideograph picks its glyph (渡邉 and its variants).
    for text in [
        "渡邉\u{E0100}様",
        "渡邉\u{FE00}様",
        "葛\u{E0101}飾区",
        "𠮷\u{E0100}野",
    ] {
        clean(text);
    }
    for text in [
        "渡邉\u{E0100}\u{E0100}様",
        "わ\u{E0100}",
        "a\u{FE0F}",
        "\u{FE0F}",
    ] {
        assert!(find_link(text).is_some(), "{text:?}");
    }
}

/// The top-level domains of the public suffix list (its single-label rules, in every script).
fn public_suffix_tlds() -> Vec<String> {
    let list = include_str!("../data/psl_tlds.txt");
    list.lines().map(str::to_string).collect()
}

proptest::proptest! {
    /// A name under any top-level domain of the public suffix list, in any script, between
    /// Japanese text, is found.
    #[test]
    fn names_under_every_public_suffix_are_found(
        before in "[あ-んア-ン漢字、（）「」 ]{0,10}",
        after in "[、（）「」 ][あ-んア-ン漢字、。（）「」 ]{0,10}",
        tld in proptest::sample::select(public_suffix_tlds()),
        label in proptest::sample::select(vec![
            "kaede", "kaede-support", "楓サポート", "例え", "пример", "παράδειγμα", "例子",
            "उदाहरण", "مثال", "예시", "ตัวอย่าง",
        ]),
        dot in proptest::sample::select(vec![".", "．", "。", "｡"]),
        upper in proptest::bool::ANY,
    ) {
        let name = format!("{label}{dot}{tld}");
        let name = if upper { name.to_uppercase() } else { name };
        let text = format!("{before}{name}{after}");
        let found = find_link(&text);
        proptest::prop_assert!(
            found.as_ref().is_some_and(|f| f.kind == LinkKind::Domain),
            "missed {:?}: {:?}", text, found
        );
    }
}
