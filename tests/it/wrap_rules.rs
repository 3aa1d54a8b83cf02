//! Japanese line-breaking rules, one test per rule, and a property test.

use proptest::prelude::*;
use tsuchi::render::{display_width, is_no_break_after, is_no_break_before, wrap_body};

const NO_START: &str = "。、，．」』）〕】！？ー・ぁぃぅぇぉっゃゅょゎァィゥェォッャュョヮヵヶ";
const NO_END: &str = "「『（〔【";

#[test]
fn required_kinsoku_sets() {
    for c in NO_START.chars() {
        assert!(is_no_break_before(c), "{c}");
    }
    for c in NO_END.chars() {
        assert!(is_no_break_after(c), "{c}");
    }
}

/// Every char of `NO_START` is put right at a would-be break point; none may start a line.
#[test]
fn no_line_starts_with_closing_punctuation_or_small_kana() {
    for c in NO_START.chars() {
        for pad in 0..4 {
            let text = format!(
                "{}{}{c}あいうえおかきくけこ",
                "あ".repeat(9),
                "ア".repeat(pad)
            );
            for width in [18, 20, 22, 24] {
                let out = wrap_body(&text, width);
                for line in out.lines().skip(1) {
                    let first = line.trim_start().chars().next().unwrap();
                    assert!(!is_no_break_before(first), "{c} at {width}: {out:?}");
                }
            }
        }
    }
}

#[test]
fn no_line_ends_with_opening_bracket() {
    for c in NO_END.chars() {
        for pad in 0..4 {
            let text = format!(
                "{}{}{c}かっこ内の文章です",
                "あ".repeat(8),
                "ア".repeat(pad)
            );
            for width in [18, 20, 22, 24] {
                let out = wrap_body(&text, width);
                let lines: Vec<&str> = out.lines().collect();
                for line in &lines[..lines.len() - 1] {
                    let last = line.chars().next_back().unwrap();
                    assert!(!is_no_break_after(last), "{c} at {width}: {out:?}");
                }
            }
        }
    }
}

#[test]
fn ascii_tokens_are_not_split() {
    let text = "お問い合わせは専用ダイヤル 0120-000-101 まで、受付時間は9:00〜20:00です。参照番号はAB12-CD34です。";
    for width in 10..60 {
        let out = wrap_body(text, width);
        for token in ["0120-000-101", "9:00〜20:00", "AB12-CD34"] {
            assert!(
                out.lines().any(|l| l.contains(token)),
                "{token} split at {width}:\n{out}"
            );
        }
    }
}

#[test]
fn english_wraps_at_spaces() {
    let text =
        "For your safety, this message contains no links. Please search for our website instead.";
    let out = wrap_body(text, 30);
    assert_eq!(
        out,
        "For your safety, this message\ncontains no links. Please\nsearch for our website\ninstead."
    );
}

#[test]
fn hard_breaks_empty_lines_and_trailing_spaces() {
    assert_eq!(wrap_body("あ  \n\n  \nい\n", 70), "あ\n\n\nい\n");
    assert_eq!(wrap_body("a\r\nb", 70), "a\nb");
    assert_eq!(wrap_body("", 70), "");
}

#[test]
fn no_trailing_space_at_breaks() {
    let out = wrap_body("aaaa bbbb cccc dddd　eeee　ffff", 10);
    assert!(out.lines().all(|l| l == l.trim_end()), "{out:?}");
}

#[test]
fn hanging_indent_for_list_items() {
    let long = "パスポート番号（渡航手続きをご依頼いただいたお客様に限ります）";
    for (marker, indent) in [
        ("(4)", "   "),
        ("（４）", "      "),
        ("1. ", "   "),
        ("2) ", "   "),
        ("・", "  "),
        ("※", "  "),
        ("  (10) ", "       "),
    ] {
        let out = wrap_body(&format!("{marker}{long}"), 40);
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines.len() > 1, "{out}");
        assert!(lines[0].starts_with(marker.trim_end()), "{out}");
        for l in &lines[1..] {
            assert!(l.starts_with(indent), "{marker:?}: {out}");
            assert!(!l[indent.len()..].starts_with(' '), "{marker:?}: {out}");
        }
    }
}

#[test]
fn indented_lines_keep_their_indent_but_not_a_paragraph_indent() {
    let long = "お客様の個人情報が外部に流出した可能性があることが判明いたしました。";
    let out = wrap_body(&format!("    {long}"), 40);
    assert!(out.lines().all(|l| l.starts_with("    ")), "{out}");
    let out = wrap_body(&format!("　{long}"), 40);
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with('　') && !lines[1].starts_with([' ', '　']),
        "{out}"
    );
}

#[test]
fn a_long_token_overflows_rather_than_splits() {
    let token = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let out = wrap_body(&format!("参照番号 {token} をお伝えください"), 20);
    assert!(out.lines().any(|l| l == token), "{out}");
}

#[test]
fn width_counts_full_width_as_two() {
    let out = wrap_body(&"あ".repeat(70), 70);
    assert_eq!(
        out.lines().map(display_width).collect::<Vec<_>>(),
        vec![70, 70]
    );
}

// ---------------------------------------------------------------------------------------------
// Property test

fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => proptest::sample::select("あいうえおかきくけこさ漢字個人情報流出弊社アイウエオカタカナ".chars().collect::<Vec<_>>())
            .prop_map(String::from),
        2 => proptest::sample::select(NO_START.chars().collect::<Vec<_>>()).prop_map(String::from),
        1 => proptest::sample::select(NO_END.chars().collect::<Vec<_>>()).prop_map(String::from),
        2 => "[a-zA-Z0-9:.-]{1,14}",
        2 => Just(" ".to_string()),
        1 => Just("　".to_string()),
        1 => Just("〜".to_string()),
    ]
}

fn paragraph() -> impl Strategy<Value = String> {
    (
        proptest::sample::select(vec!["", "", "(1)", "（２）", "3. ", "・", "※", "  ", "　"]),
        proptest::collection::vec(token(), 0..80),
    )
        .prop_map(|(prefix, tokens)| format!("{prefix}{}", tokens.concat()))
}

fn strip_ws(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

fn is_plain_cjk(c: char) -> bool {
    !is_no_break_before(c)
        && !is_no_break_after(c)
        && matches!(c, 'あ'..='ゖ' | 'ア'..='ヺ' | '一'..='鿿')
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn wrapping_keeps_text_fits_and_obeys_kinsoku(
        paragraphs in proptest::collection::vec(paragraph(), 1..4),
        width in 8usize..80,
    ) {
        let text = paragraphs.join("\n");
        let out = wrap_body(&text, width);
        // Nothing lost or reordered; paragraphs map to paragraphs.
        prop_assert_eq!(strip_ws(&out), strip_ws(&text));
        let per_paragraph: Vec<String> = paragraphs.iter().map(|p| wrap_body(p, width)).collect();
        prop_assert_eq!(&out, &per_paragraph.join("\n"));

        for wrapped in &per_paragraph {
            let lines: Vec<&str> = wrapped.split('\n').collect();
            for (i, line) in lines.iter().enumerate() {
                prop_assert_eq!(*line, line.trim_end(), "trailing whitespace");
                if i > 0 {
                    let first = line.trim_start().chars().next();
                    prop_assert!(first.is_some(), "empty continuation line in {:?}", wrapped);
                    prop_assert!(!is_no_break_before(first.unwrap()), "line starts badly: {:?}", wrapped);
                }
                if i + 1 < lines.len() {
                    let last = line.chars().next_back().unwrap();
                    prop_assert!(!is_no_break_after(last), "line ends badly: {:?}", wrapped);
                }
                // Too wide only if the line's first piece could not be broken earlier: the first
                // clear break (between two plain kana/kanji, or at a space between ASCII
                // alphanumerics) after its start lies beyond the width.
                let w = display_width(line);
                if w > width {
                    let chars: Vec<char> = line.chars().collect();
                    let start = chars.iter().take_while(|c| c.is_whitespace()).count();
                    let mut clear = None;
                    for k in start + 1..chars.len() {
                        let (a, b) = (chars[k - 1], chars[k]);
                        let space_break = b == ' ' && a.is_ascii_alphanumeric() && chars[k + 1..]
                            .iter().find(|c| **c != ' ').is_some_and(|c| c.is_ascii_alphanumeric());
                        if (is_plain_cjk(a) && is_plain_cjk(b)) || space_break {
                            clear = Some(k);
                            break;
                        }
                    }
                    if let Some(k) = clear {
                        let head: String = chars[..k].iter().collect();
                        prop_assert!(display_width(&head) > width, "line too wide ({} > {}): {:?}", w, width, wrapped);
                    }
                }
            }
        }
    }
}
