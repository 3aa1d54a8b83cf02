//! Redaction of text that may hold credentials, for every message that shows such text.

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

#[cfg(test)]
mod tests {
    use super::*;

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
