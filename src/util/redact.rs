//! Redaction: what outputs may show of text that may hold credentials (a relay URL, a config
//! line) or personal data (a relay's reply naming the refused address), so that no message,
//! journal line or report repeats either.

/// What a message may show of text that may hold credentials: a URL, a config line, an
/// environment assignment. The one redaction every message that shows such text goes through.
///
/// Hidden: everything after `scheme://` up to the next space or quote; any word with an `@`
/// (also full-width `＠` or small `﹫`), which may be `user:password@host`; and the rest of a
/// line after a key that names a secret (`password`, `passwd`, `secret`, `token`) and its `=` or
/// `:`. Messages without such text come out unchanged.
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (n, line) in text.split('\n').enumerate() {
        if n > 0 {
            out.push('\n');
        }
        out.push_str(&redact_line(line));
    }
    out
}

fn redact_line(line: &str) -> String {
    const HIDDEN: &str = "<hidden>";
    let lower = line.to_lowercase();
    // A key naming a secret: keep the line up to its separator.
    if lower.len() == line.len() {
        let key = ["password", "passwd", "secret", "token"]
            .iter()
            .filter_map(|k| lower.find(k).map(|i| i + k.len()))
            .min();
        if let Some(cut) = key.and_then(|k| line[k..].find(['=', ':']).map(|sep| k + sep + 1)) {
            return format!("{} {HIDDEN}", redact_words(&line[..cut]).trim_end());
        }
    }
    redact_words(line)
}

fn redact_words(line: &str) -> String {
    const HIDDEN: &str = "<hidden>";
    let is_break = |c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '`' | '<' | '>');
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while !rest.is_empty() {
        let word_len = rest.find(is_break).unwrap_or(rest.len());
        if word_len == 0 {
            let c = rest.chars().next().unwrap_or(' ');
            out.push(c);
            rest = &rest[c.len_utf8()..];
            continue;
        }
        let word = &rest[..word_len];
        if let Some(i) = word.find("://") {
            out.push_str(&word[..i + 3]);
            out.push_str(HIDDEN);
        } else if word.contains(['@', '\u{FF20}', '\u{FE6B}']) {
            out.push_str(HIDDEN);
        } else {
            out.push_str(word);
        }
        rest = &rest[word_len..];
    }
    out
}

/// A relay's reply text as it may be kept and shown: every word holding an `@` (relays like to
/// name the refused address) replaced by `<address>`, control characters (escape sequences
/// meant for a terminal) replaced by `?`, and at most 300 characters.
pub fn redact_reply(text: &str) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut out = String::with_capacity(text.len().min(320));
    for (i, word) in words.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        if word.contains('@') || word.contains('＠') {
            out.push_str("<address>");
        } else {
            out.extend(word.chars().map(|c| if c.is_control() { '?' } else { c }));
        }
    }
    if out.chars().count() > 300 {
        out = out.chars().take(300).collect::<String>() + "…";
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_lose_addresses_and_control_characters() {
        assert_eq!(
            redact_reply("550 5.1.1 <taro@example.jp>: Recipient address rejected"),
            "550 5.1.1 <address> Recipient address rejected"
        );
        assert_eq!(
            redact_reply("451 \u{1b}[31mred\u{1b}[0m"),
            "451 ?[31mred?[0m"
        );
        assert!(redact_reply(&"x".repeat(1000)).chars().count() <= 301);
    }

    #[test]
    fn redaction_hides_what_may_be_credentials() {
        for text in [
            "smtp://user:pw-123@relay.example.jp:587",
            "line 3: smtp = \"smtps://pw-123@relay\"",
            "SMTP://u:pw-123@x",
            "password = \"pw-123\"",
            "TSUCHI_SMTP_PASSWORD=pw-123",
            "u:pw-123@relay.example.jp",
            "u:pw-123\u{FF20}relay.example.jp",
        ] {
            let shown = redact(text);
            assert!(!shown.contains("pw-123"), "{text} -> {shown}");
        }
        assert_eq!(
            redact("TOML parse error: invalid basic string"),
            "TOML parse error: invalid basic string"
        );
        assert_eq!(
            redact("connect to 127.0.0.1:2525: refused"),
            "connect to 127.0.0.1:2525: refused"
        );
    }
}
