//! RFC 2047 encoded words in header values, both ways: the encoder that writes the `Subject`
//! and display names of outgoing notices (`=?ISO-2022-JP?B?…?=`, `=?UTF-8?B?…?=`, folded within
//! 78 characters), and the decoder that reads the subjects of incoming bounces (with RFC 2231
//! language tags, `=?ISO-2022-JP*ja?B?…?=`).
//!
//! They live together so that what tsuchi writes is what it reads back: a property test below
//! decodes every encoded value to the text it came from.
//!
//! ```
//! use tsuchi::mail::{Charset, encode_header_words};
//!
//! assert_eq!(
//!     encode_header_words("お知らせ", Charset::Utf8).as_deref(),
//!     Some("=?UTF-8?B?44GK55+l44KJ44Gb?=")
//! );
//! ```

use base64::Engine as _;

use crate::config::Charset;
use crate::util::iso2022jp::encode_iso2022jp;

// ---------------------------------------------------------------------------------------------
// Encoding

/// Longest encoded-word allowed by RFC 2047.
const MAX_ENCODED_WORD: usize = 75;
/// Preferred line length (RFC 5322 2.1.1).
pub(super) const PREFERRED_LINE: usize = 78;
/// Smallest first encoded-word we are willing to write after a long field name.
const MIN_FIRST_WORD: usize = 40;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn encode_chunk(chunk: &str, charset: Charset) -> Option<Vec<u8>> {
    match charset {
        Charset::Utf8 => Some(chunk.as_bytes().to_vec()),
        Charset::Iso2022Jp => encode_iso2022jp(chunk),
    }
}

pub(super) fn is_header_safe(value: &str) -> bool {
    !value.chars().any(|c| c.is_control())
}

/// Splits `value` into RFC 2047 `B` encoded-words; the first at most `first_max` characters
/// long, the others at most [`MAX_ENCODED_WORD`]. Splits only between characters; each
/// ISO-2022-JP word is self-contained (starts in ASCII, ends with `ESC ( B`).
fn encoded_words(value: &str, charset: Charset, first_max: usize) -> Option<Vec<String>> {
    let overhead = "=?".len() + charset.mime_name().len() + "?B?".len() + "?=".len();
    let payload_max = |word_max: usize| (word_max.saturating_sub(overhead) / 4) * 3;
    let mut words = Vec::new();
    let mut start = 0;
    let mut current: Option<Vec<u8>> = None;
    let mut end = 0;
    for (i, c) in value.char_indices() {
        let next = i + c.len_utf8();
        let max = payload_max(if words.is_empty() {
            first_max
        } else {
            MAX_ENCODED_WORD
        });
        let candidate = encode_chunk(&value[start..next], charset)?;
        if candidate.len() <= max {
            current = Some(candidate);
            end = next;
            continue;
        }
        // Close the current word (a single character always fits: at most 4 UTF-8 bytes or
        // 8 ISO-2022-JP bytes, well under every payload limit used here).
        let done = current.take()?;
        words.push(format!("=?{}?B?{}?=", charset.mime_name(), b64(&done)));
        start = end;
        let single = encode_chunk(&value[start..next], charset)?;
        current = Some(single);
        end = next;
    }
    if let Some(done) = current {
        words.push(format!("=?{}?B?{}?=", charset.mime_name(), b64(&done)));
    }
    Some(words)
}

/// Folds a plain ASCII value at its spaces so that lines stay within 78 characters where a
/// space allows it (the first line already holds `used` characters).
fn fold_ascii(value: &str, used: usize) -> String {
    let mut out = String::with_capacity(value.len() + 8);
    let mut line = used;
    for (n, piece) in value.split(' ').enumerate() {
        if n == 0 {
            out.push_str(piece);
            line += piece.len();
        } else if line + 1 + piece.len() > PREFERRED_LINE && line > 1 && !piece.is_empty() {
            out.push_str("\r\n ");
            out.push_str(piece);
            line = 1 + piece.len();
        } else {
            out.push(' ');
            out.push_str(piece);
            line += 1 + piece.len();
        }
    }
    out
}

pub(super) fn needs_encoding(value: &str) -> bool {
    !value.is_ascii() || value.contains("=?")
}

fn encode_value(value: &str, charset: Charset, used: usize) -> Option<String> {
    if !is_header_safe(value) {
        return None;
    }
    if !needs_encoding(value) {
        return Some(fold_ascii(value, used));
    }
    // Reject early (and for the whole value, so round-trip checks see the full text).
    encode_chunk(value, charset)?;
    let first_max = PREFERRED_LINE
        .saturating_sub(used)
        .clamp(MIN_FIRST_WORD, MAX_ENCODED_WORD);
    Some(encoded_words(value, charset, first_max)?.join("\r\n "))
}

/// RFC 2047 encoded-words for a header value: `=?ISO-2022-JP?B?…?=` or `=?UTF-8?B?…?=`, each
/// at most 75 characters, split only between characters, each ISO-2022-JP word self-contained,
/// successive words on lines folded with CRLF + space. A value that is plain ASCII (and holds
/// no `=?`) is returned as it is, folded at spaces. `None` if the value holds control characters
/// (CR/LF included: no header injection) or, for ISO-2022-JP, a character
/// [`encode_iso2022jp`] refuses.
pub fn encode_header_words(value: &str, charset: Charset) -> Option<String> {
    encode_value(value, charset, 0)
}

/// Like [`encode_header_words`], for the value of the field `field_name`: the first line,
/// which also holds `Field-Name: `, is kept within 78 characters where possible.
pub fn encode_header_value(field_name: &str, value: &str, charset: Charset) -> Option<String> {
    encode_value(value, charset, field_name.len() + 2)
}

// ---------------------------------------------------------------------------------------------
// Decoding

/// Decodes RFC 2047 encoded words (`=?ISO-2022-JP?B?…?=`) with encoding_rs, which knows the
/// Japanese charsets (mail-parser decodes them only with its `full_encoding` feature).
pub(crate) fn decode_encoded_words(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    let mut last_was_word = false;
    while let Some(start) = rest.find("=?") {
        let decoded = rest[start + 2..]
            .split_once('?')
            .and_then(|(charset_field, r)| {
                let (enc, r) = r.split_once('?')?;
                let end = r.find("?=")?;
                let text = &r[..end];
                // An encoded word holds no white space; this also keeps a stray `=?` from
                // reaching over the rest of the field.
                if [charset_field, enc, text]
                    .iter()
                    .any(|p| p.contains(char::is_whitespace))
                {
                    return None;
                }
                let bytes = match enc {
                    "B" | "b" => mail_parser::decoders::base64::base64_decode(text.as_bytes())?,
                    "Q" | "q" => mail_parser::decoders::quoted_printable::quoted_printable_decode(
                        text.replace('_', " ").as_bytes(),
                    )?,
                    _ => return None,
                };
                // RFC 2231 `charset*language`: the language is dropped, but it was read, so the
                // consumed length counts the whole field (it ends at the ASCII `?=`, always on a
                // char boundary).
                let consumed = start + 2 + charset_field.len() + 1 + enc.len() + 1 + end + 2;
                let charset = charset_field.split('*').next().unwrap_or(charset_field);
                let encoding = encoding_rs::Encoding::for_label(charset.as_bytes())
                    .unwrap_or(encoding_rs::UTF_8);
                Some((encoding.decode(&bytes).0.into_owned(), consumed))
            });
        match decoded {
            Some((text, consumed)) => {
                let between = &rest[..start];
                // Whitespace between two encoded words is not part of the text.
                if !(last_was_word && between.trim().is_empty()) {
                    out.push_str(between);
                }
                out.push_str(&text);
                rest = rest.get(consumed..).unwrap_or("");
                last_was_word = true;
            }
            None => {
                out.push_str(&rest[..start + 2]);
                rest = &rest[start + 2..];
                last_was_word = false;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_language_tag_after_the_charset_is_consumed() {
        // RFC 2231: `charset*language`. 「お知らせ」 in ISO-2022-JP and UTF-8.
        for word in [
            "=?ISO-2022-JP*ja?B?GyRCJCpDTiRpJDsbKEI=?=",
            "=?iso-2022-jp*ja-JP?B?GyRCJCpDTiRpJDsbKEI=?=",
            "=?UTF-8*ja?B?44GK55+l44KJ44Gb?=",
            "=?UTF-8*ja?Q?=E3=81=8A=E7=9F=A5=E3=82=89=E3=81=9B?=",
        ] {
            assert_eq!(decode_encoded_words(word), "お知らせ", "{word}");
            assert_eq!(
                decode_encoded_words(&format!("Re: {word} {word}")),
                "Re: お知らせお知らせ",
                "{word}"
            );
        }
    }

    #[test]
    fn non_ascii_after_the_star_does_not_panic() {
        for value in [
            "=?UTF-8*あ?B?44GK?=",
            "=?UTF-8*あいう?B?44GK?= x",
            "=?*漢?B??=",
            "=?あ*い?Q?=E3?=",
            "=?UTF-8*\u{00e9}\u{00e9}?B?QUJD?=\u{00e9}",
        ] {
            let _ = decode_encoded_words(value);
        }
    }

    proptest::proptest! {
        #[test]
        fn decoding_never_panics(value in "(=\\?|\\?=|\\?|\\*|[BbQq]|=|[A-Za-z0-9+/]|[あ-ん漢]|\u{e9}| |_){0,40}") {
            let _ = decode_encoded_words(&value);
        }

        #[test]
        fn decoding_arbitrary_text_never_panics(value in "\\PC{0,60}") {
            let _ = decode_encoded_words(&value);
        }

        #[test]
        fn encoded_words_round_trip(
            value in "[ -~あ-んア-ン漢字、。「」]{0,60}",
            iso in proptest::bool::ANY,
        ) {
            let charset = if iso { Charset::Iso2022Jp } else { Charset::Utf8 };
            if let Some(encoded) = encode_header_words(&value, charset) {
                let unfolded = encoded.replace("\r\n", "");
                proptest::prop_assert_eq!(decode_encoded_words(&unfolded), value);
            }
        }

        #[test]
        fn header_values_round_trip(
            field_name in "(Subject|From|Reply-To|X-[A-Za-z-]{1,60})",
            value in "[ -~あ-んア-ン漢字、。「」]{0,80}",
            iso in proptest::bool::ANY,
        ) {
            let charset = if iso { Charset::Iso2022Jp } else { Charset::Utf8 };
            if let Some(encoded) = encode_header_value(&field_name, &value, charset) {
                let unfolded = encoded.replace("\r\n", "");
                proptest::prop_assert_eq!(decode_encoded_words(&unfolded), value);
            }
        }
    }
}
