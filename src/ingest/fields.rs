//! The rules for one cell of the list: the text hygiene every cell keeps (no line breaks,
//! controls, bidirectional or invisible characters), the id, the flag spellings, the e-mail
//! address (with the legacy carrier forms that must be quoted) and the brand. A rule names the
//! column and the kind of problem, never the cell's value.

use unicode_normalization::UnicodeNormalization;

use crate::ingest::keys::email_key;
use crate::ingest::row::{MAX_EMAIL_CHARS, MAX_ID_CHARS, MAX_LOCAL_PART};

/// The accepted flag spellings, as said in error messages.
pub(super) const FLAG_HELP: &str = "use 1/0, true/false, yes/no, Y/N, ○/×, 有/無";

/// Trims spaces, tabs and ideographic spaces at the edges (line breaks are kept, and refused).
pub(super) fn trim(s: &str) -> &str {
    s.trim_matches(|c| c == ' ' || c == '\t' || c == '\u{3000}')
}

/// Shortens a value quoted in a message.
pub(super) fn shorten(s: &str) -> String {
    const MAX: usize = 20;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        s.chars().take(MAX).chain(std::iter::once('…')).collect()
    }
}

pub(super) fn is_private_use(c: char) -> bool {
    matches!(c, '\u{E000}'..='\u{F8FF}' | '\u{F0000}'..='\u{FFFFD}' | '\u{100000}'..='\u{10FFFD}')
}

/// Refuses characters that hide or rearrange text, break lines, or show mis-decoding.
/// `bad_bytes` means the row's decoding errors are already reported (as U+FFFD in the text).
pub(super) fn check_text(
    column: &str,
    v: &str,
    bad_bytes: bool,
) -> std::result::Result<(), String> {
    // Printable ASCII (ids, addresses, flags, brand keys) holds none of the characters below.
    if v.bytes().all(|b| (b' '..=b'~').contains(&b)) {
        return Ok(());
    }
    for c in v.chars() {
        let what = match c {
            '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}' => "a line break".to_string(),
            '\t' => "a tab".to_string(),
            c if c.is_control() => format!("a control character (U+{:04X})", c as u32),
            '\u{202A}'..='\u{202E}'
            | '\u{2066}'..='\u{2069}'
            | '\u{200E}'
            | '\u{200F}'
            | '\u{061C}' => {
                format!("a bidirectional control character (U+{:04X})", c as u32)
            }
            '\u{200B}'..='\u{200D}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}' | '\u{180E}' => {
                format!("a zero-width character (U+{:04X})", c as u32)
            }
            // Invisible format characters that can hide what a reader sees (`example.\u{AD}com`
            // displays as a domain). Variation selectors stay allowed: 渡邉 + IVS is a real name.
            '\u{00AD}'
            | '\u{034F}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{17B4}'
            | '\u{17B5}'
            | '\u{180B}'..='\u{180D}'
            | '\u{180F}'
            | '\u{3164}'
            | '\u{FFA0}'
            | '\u{206A}'..='\u{206F}'
            | '\u{E0000}'..='\u{E007F}' => {
                format!("an invisible formatting character (U+{:04X})", c as u32)
            }
            '\u{FFFD}' if !bad_bytes => "a replacement character (U+FFFD); the file was \
                                         probably converted with the wrong encoding"
                .to_string(),
            _ => continue,
        };
        return Err(format!("{column}: contains {what}"));
    }
    Ok(())
}

pub(super) fn check_id(v: &str, bad_bytes: bool) -> std::result::Result<(), String> {
    if v.is_empty() {
        return Err("id: missing".into());
    }
    check_text("id", v, bad_bytes)?;
    if bad_bytes && v.contains('\u{FFFD}') {
        return Err("id: contains bytes that could not be decoded".into());
    }
    if v.chars().count() > MAX_ID_CHARS {
        return Err(format!("id: longer than {MAX_ID_CHARS} characters"));
    }
    Ok(())
}

/// Parses a leaked-field flag as people write them.
pub(super) fn parse_flag(v: &str) -> Option<bool> {
    // The spellings of nearly every row, without normalizing or allocating.
    match v.trim() {
        "" | "0" => return Some(false),
        "1" => return Some(true),
        _ => {}
    }
    let n: String = v.nfkc().collect();
    match n.trim().to_lowercase().as_str() {
        "" => Some(false),
        "1" | "true" | "yes" | "y" | "○" | "〇" | "◯" | "有" | "有り" | "あり" => {
            Some(true)
        }
        "0" | "false" | "no" | "n" | "×" | "✕" | "✖" | "無" | "無し" | "なし" => {
            Some(false)
        }
        _ => None,
    }
}

#[derive(Debug)]
pub(super) struct Email {
    /// As given to SMTP.
    pub(super) address: String,
    pub(super) legacy: bool,
    /// Duplicate-detection key of the mailbox ([`email_key`]).
    pub(super) key: u64,
}

fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c)
}

pub(super) fn check_email(
    v: &str,
    bad_bytes: bool,
    case_sensitive_local: bool,
) -> std::result::Result<Email, String> {
    if v.is_empty() {
        return Err("email: missing".into());
    }
    check_text("email", v, bad_bytes)?;
    if v.contains(['<', '>']) {
        return Err("email: must be a bare address, not a display name".into());
    }
    if v.starts_with('"') {
        return Err("email: quoted local parts are not accepted".into());
    }
    if v.contains([',', ';']) {
        return Err("email: must be a single address (found ',' or ';')".into());
    }
    if v.chars().any(char::is_whitespace) {
        return Err(if v.matches('@').count() > 1 {
            "email: must be a single address (found several)".into()
        } else {
            "email: contains whitespace".into()
        });
    }
    if v.chars().count() > MAX_EMAIL_CHARS {
        return Err(format!("email: longer than {MAX_EMAIL_CHARS} characters"));
    }
    let Some((local, domain)) = v.rsplit_once('@') else {
        return Err(if v.contains('＠') {
            "email: has no '@' (a full-width '＠' is not accepted)".into()
        } else {
            "email: has no '@'".into()
        });
    };
    if local.starts_with('"') || local.ends_with('"') {
        return Err("email: quoted local parts are not accepted".into());
    }
    if local.contains('@') {
        return Err("email: must be a single address (more than one '@')".into());
    }
    if local.is_empty() {
        return Err("email: the part before '@' is empty".into());
    }
    if domain.is_empty() {
        return Err("email: the domain after '@' is empty".into());
    }
    if local.len() > MAX_LOCAL_PART {
        return Err(format!(
            "email: the part before '@' is longer than {MAX_LOCAL_PART} characters"
        ));
    }
    if !domain.is_ascii() {
        return Err(
            "email: internationalized domain (non-ASCII) not supported; give the \
                    punycode form (xn--…)"
                .into(),
        );
    }
    if domain.starts_with('[') {
        return Err("email: an address literal ([…]) is not supported as a domain".into());
    }
    if !domain.contains('.') {
        return Err("email: the domain has no dot".into());
    }
    if domain
        .rsplit('.')
        .next()
        .is_some_and(|tld| !tld.is_empty() && tld.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err("email: an IP address is not supported as a domain".into());
    }
    if !local.is_ascii() {
        return Err("email: non-ASCII characters before '@' are not supported".into());
    }
    let key = email_key(local, domain, case_sensitive_local);
    if v.parse::<lettre::Address>().is_ok() {
        return Ok(Email {
            address: v.to_string(),
            legacy: false,
            key,
        });
    }
    if lettre::Address::new("x", domain).is_err() {
        return Err("email: the domain is not a valid host name".into());
    }
    let atoms_ok = local.split('.').all(|a| a.chars().all(is_atext))
        && local.split('.').any(|a| !a.is_empty());
    let odd_dots = local.starts_with('.') || local.ends_with('.') || local.contains("..");
    if !(atoms_ok && odd_dots) {
        return Err("email: invalid character before '@'".into());
    }
    let quoted = format!("\"{local}\"@{domain}");
    if quoted.parse::<lettre::Address>().is_err() {
        return Err(
            "email: legacy address with dots outside RFC 5322 that cannot be sent even \
                    quoted (too long?)"
                .into(),
        );
    }
    Ok(Email {
        address: quoted,
        legacy: true,
        key,
    })
}

/// The row's brand (an index into `brands`) from its brand cell (`None`: the list has no brand
/// column), and the problem with the cell, with the cell itself when the problem is its value.
pub(super) fn resolve_brand(
    brands: &[String],
    only_brand: Option<usize>,
    cell: Option<&[u8]>,
    bad_bytes: bool,
) -> (Option<usize>, Option<(String, Option<String>)>) {
    let Some(cell) = cell else {
        return (only_brand, None);
    };
    let raw = String::from_utf8_lossy(cell);
    let v = trim(&raw);
    match check_text("brand", v, bad_bytes) {
        Err(e) => (None, Some((e, None))),
        Ok(()) if v.is_empty() => {
            let missing = only_brand.is_none().then(|| {
                (
                    format!("brand: missing (known: {})", brands.join(", ")),
                    None,
                )
            });
            (only_brand, missing)
        }
        Ok(()) => match brands.iter().position(|b| b == v) {
            Some(i) => (Some(i), None),
            None => (
                None,
                Some((
                    format!("brand: unknown brand (known: {})", brands.join(", ")),
                    Some(shorten(v)),
                )),
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags() {
        for t in [
            "1",
            "true",
            "TRUE",
            "yes",
            "Y",
            "y",
            "○",
            "〇",
            "◯",
            "有",
            " 1 ",
            "１",
            "ＹＥＳ",
            "ｙ",
            "Ｔｒｕｅ",
        ] {
            assert_eq!(parse_flag(t), Some(true), "{t:?}");
        }
        for f in [
            "", "0", "false", "No", "N", "×", "✕", "無", "０", "ｎｏ", "　",
        ] {
            assert_eq!(parse_flag(f), Some(false), "{f:?}");
        }
        for bad in ["maybe", "2", "x", "-", "yesno"] {
            assert_eq!(parse_flag(bad), None, "{bad:?}");
        }
    }

    fn email_err(v: &str) -> String {
        check_email(v, false, false).unwrap_err()
    }

    #[test]
    fn email_rules() {
        let ok = check_email("Taro.Yamada@Example.JP", false, false).unwrap();
        assert!(!ok.legacy);
        assert_eq!(ok.address, "Taro.Yamada@Example.JP");
        assert_eq!(ok.key, email_key("taro.yamada", "example.jp", false));
        assert_eq!(ok.key, email_key("TARO.YAMADA", "EXAMPLE.JP", false));
        let exact = check_email("Taro.Yamada@Example.JP", false, true).unwrap();
        assert_eq!(exact.key, email_key("Taro.Yamada", "example.jp", true));
        assert_ne!(exact.key, email_key("taro.yamada", "example.jp", true));

        assert!(email_err("\"Bob\" <bob@example.jp>").contains("not a display name"));
        assert!(email_err("a@example.jp,b@example.jp").contains("single address"));
        assert!(email_err("a@example.jp; b@example.jp").contains("single address"));
        assert!(email_err("a@example.jp b@example.jp").contains("single address"));
        assert!(email_err("a b@example.jp").contains("whitespace"));
        assert!(email_err("taro@例え.jp").contains("internationalized domain"));
        assert!(email_err("taro@localhost").contains("no dot"));
        assert!(email_err("taro@1.2.3.4").contains("IP address"));
        assert!(email_err("taro@[1.2.3.4]").contains("address literal"));
        assert!(email_err("\"a b\"@x.jp").contains("quoted"));
        assert!(email_err("\"ab\"@x.jp").contains("quoted"));
        assert!(email_err("taro.example.jp").contains("no '@'"));
        assert!(email_err("taro＠example.jp").contains("full-width"));
        assert!(email_err(&format!("{}@x.jp", "a".repeat(65))).contains("longer than 64"));
        assert!(email_err(&format!("a@{}.jp", "b".repeat(260))).contains("longer than 254"));
        assert!(email_err("tarō@example.jp").contains("non-ASCII"));
        assert!(email_err("ta(ro@example.jp").contains("invalid character"));
        assert!(email_err("taro@-x.jp").contains("domain"));
        assert!(email_err("...@docomo.ne.jp").contains("invalid character"));
        // Messages never repeat the address.
        assert!(!email_err("a b@example.jp").contains("example"));
    }

    #[test]
    fn legacy_addresses_are_quoted() {
        for (input, quoted) in [
            ("taro..yamada@docomo.ne.jp", "\"taro..yamada\"@docomo.ne.jp"),
            ("taro.@ezweb.ne.jp", "\"taro.\"@ezweb.ne.jp"),
            (".taro@docomo.ne.jp", "\".taro\"@docomo.ne.jp"),
        ] {
            let e = check_email(input, false, false).unwrap();
            assert!(e.legacy);
            assert_eq!(e.address, quoted);
            assert!(e.address.parse::<lettre::Address>().is_ok());
            let (local, domain) = input.rsplit_once('@').unwrap();
            assert_eq!(e.key, email_key(local, domain, false));
            assert_eq!(e.key, email_key(&local.to_uppercase(), domain, false));
        }
        // Quoting adds two characters: a 63-character legacy local part no longer fits.
        let long = format!("{}..@docomo.ne.jp", "a".repeat(61));
        assert!(email_err(&long).contains("cannot be sent even quoted"));
    }

    #[test]
    fn text_hygiene() {
        let e = |v: &str| check_text("name", v, false).unwrap_err();
        assert_eq!(e("山田\n太郎"), "name: contains a line break");
        assert_eq!(e("山田\r太郎"), "name: contains a line break");
        assert_eq!(e("山田\u{2028}"), "name: contains a line break");
        assert_eq!(e("山田\t太郎"), "name: contains a tab");
        assert_eq!(e("a\u{7}"), "name: contains a control character (U+0007)");
        assert_eq!(e("a\u{7f}"), "name: contains a control character (U+007F)");
        assert_eq!(e("a\u{9b}"), "name: contains a control character (U+009B)");
        assert_eq!(
            e("a\u{202E}b"),
            "name: contains a bidirectional control character (U+202E)"
        );
        assert_eq!(
            e("a\u{2067}b"),
            "name: contains a bidirectional control character (U+2067)"
        );
        assert_eq!(
            e("a\u{200F}b"),
            "name: contains a bidirectional control character (U+200F)"
        );
        assert_eq!(
            e("a\u{061C}b"),
            "name: contains a bidirectional control character (U+061C)"
        );
        assert_eq!(
            e("a\u{200B}b"),
            "name: contains a zero-width character (U+200B)"
        );
        assert_eq!(
            e("a\u{FEFF}b"),
            "name: contains a zero-width character (U+FEFF)"
        );
        assert!(e("a\u{FFFD}").contains("replacement character"));
        assert!(check_text("name", "髙橋 一郎 様", false).is_ok());
        assert!(check_text("name", "渡邉\u{E0100}", false).is_ok()); // ideographic variation
    }
}
