//! Strict ISO-2022-JP (RFC 1468): the codec the notices are written in when `mail.charset =
//! "iso-2022-jp"`, and the mapping of the campaign's own texts to the characters JIS X 0208 has.
//!
//! ISO-2022-JP here means exactly what old Japanese handsets and gateways accept: ASCII
//! (`ESC ( B`), JIS X 0201 Roman (`ESC ( J`, only for `¥` and `‾`) and JIS X 0208 (`ESC $ B`)
//! rows 1–8 and 16–84. Vendor extensions that encoding_rs (following WHATWG/CP932) would
//! otherwise emit — NEC row 13 (①, ㈱), NEC-selected IBM extensions in rows 89–92 (髙) — and its
//! silent folding of half-width katakana to full-width are refused: a recipient's name must
//! arrive exactly as written, or the caller must choose UTF-8.
//!
//! It sits below the stages because two use it: rendering maps the fixed texts
//! ([`jis_safe_fixed_text`]) and the message is encoded with it.

use encoding_rs::ISO_2022_JP;

/// Characters refused before encoding: C0 controls other than TAB/CR/LF, DEL, and half-width
/// katakana (which the WHATWG encoder would silently turn into full-width ones).
fn refused_before_encoding(c: char) -> bool {
    matches!(c, '\u{0}'..='\u{8}' | '\u{b}' | '\u{c}' | '\u{e}'..='\u{1f}' | '\u{7f}')
        || ('\u{ff61}'..='\u{ff9f}').contains(&c)
}

/// Checks an ISO-2022-JP byte stream produced by encoding_rs: only `ESC ( B`, `ESC ( J` and
/// `ESC $ B`, two-byte pairs only in JIS X 0208 rows 1–8 and 16–84, and ending in ASCII.
fn strict_jis_x0208(bytes: &[u8]) -> bool {
    #[derive(PartialEq)]
    enum State {
        Ascii,
        Roman,
        Jis0208,
    }
    let mut state = State::Ascii;
    let mut i = 0;
    while i < bytes.len() {
        match &bytes[i..] {
            [0x1b, b'(', b'B', ..] => state = State::Ascii,
            [0x1b, b'(', b'J', ..] => state = State::Roman,
            [0x1b, b'$', b'B', ..] => state = State::Jis0208,
            [0x1b, ..] => return false,
            [b, ..] if *b >= 0x80 => return false,
            [b1, b2, ..] if state == State::Jis0208 => {
                let row = b1.wrapping_sub(0x20);
                let cell = b2.wrapping_sub(0x20);
                if !((1..=8).contains(&row) || (16..=84).contains(&row))
                    || !(1..=94).contains(&cell)
                {
                    return false;
                }
                i += 2;
                continue;
            }
            [_] if state == State::Jis0208 => return false,
            _ => {
                i += 1;
                continue;
            }
        }
        i += 3;
    }
    state == State::Ascii
}

/// Strict RFC 1468 encoding of `text` (JIS X 0208 rows 1–8 and 16–84, ASCII, JIS X 0201
/// Roman for `¥`/`‾`), ending in ASCII. `None` if any character cannot be carried *exactly*:
/// characters outside JIS X 0208 (𠮷, emoji), vendor extensions (①, ㈱, 髙), half-width
/// katakana, controls other than TAB/CR/LF, and characters that would not decode back to
/// themselves (e.g. U+2212 MINUS SIGN, which decodes as U+FF0D; see [`jis_safe_fixed_text`]).
pub fn encode_iso2022jp(text: &str) -> Option<Vec<u8>> {
    if text.chars().any(refused_before_encoding) {
        return None;
    }
    let mut encoder = ISO_2022_JP.new_encoder();
    let cap = encoder.max_buffer_length_from_utf8_without_replacement(text.len())?;
    let mut out = vec![0u8; cap];
    let (result, read, written) =
        encoder.encode_from_utf8_without_replacement(text, &mut out, true);
    if result != encoding_rs::EncoderResult::InputEmpty || read != text.len() {
        return None;
    }
    out.truncate(written);
    if !strict_jis_x0208(&out) {
        return None;
    }
    let decoded = ISO_2022_JP.decode_without_bom_handling_and_without_replacement(&out)?;
    (decoded == text).then_some(out)
}

/// The deliberate JIS X 0208 equivalents of characters that Unicode spells two ways, as
/// encoding_rs (WHATWG, CP932 style) maps them: JIS 0x2141 is U+FF5E (not U+301C WAVE DASH),
/// 0x2142 U+2225, 0x215D U+FF0D, 0x2171 U+FFE0, 0x2172 U+FFE1, 0x224C U+FFE2, 0x213D U+2015.
const FIXED_TEXT_MAP: &[(char, char)] = &[
    ('\u{301C}', '\u{FF5E}'), // 〜 WAVE DASH → ～ FULLWIDTH TILDE (JIS 0x2141)
    ('\u{2016}', '\u{2225}'), // ‖ DOUBLE VERTICAL LINE → ∥ PARALLEL TO (0x2142)
    ('\u{2212}', '\u{FF0D}'), // − MINUS SIGN → － FULLWIDTH HYPHEN-MINUS (0x215D)
    ('\u{00A2}', '\u{FFE0}'), // ¢ → ￠ (0x2171)
    ('\u{00A3}', '\u{FFE1}'), // £ → ￡ (0x2172)
    ('\u{00AC}', '\u{FFE2}'), // ¬ → ￢ (0x224C)
    ('\u{2014}', '\u{2015}'), // — EM DASH → ― HORIZONTAL BAR (0x213D)
];

/// Maps the characters of the config's own fixed texts (templates, subject, sender name) that
/// have a deliberate JIS X 0208 equivalent to the code point encoding_rs encodes for it (see
/// `FIXED_TEXT_MAP`: 〜 U+301C → ～ U+FF5E, − U+2212 → － U+FF0D, ‖ → ∥, ¢ £ ¬ → ￠ ￡ ￢,
/// — U+2014 → ― U+2015). Everything else is unchanged. For template/config text only: never
/// apply it to recipients' names.
pub fn jis_safe_fixed_text(text: &str) -> String {
    text.chars()
        .map(|c| {
            FIXED_TEXT_MAP
                .iter()
                .find(|(from, _)| *from == c)
                .map_or(c, |(_, to)| *to)
        })
        .collect()
}

/// Builds the body of an ISO-2022-JP notice: 7-bit bytes, every line encoded on its own (so it
/// starts and ends in ASCII), lines separated by CRLF (input LF, CRLF or CR are all accepted),
/// a final line break kept only if the text had one. `None` if a character cannot be carried
/// (see [`encode_iso2022jp`]) or an encoded line would pass 998 octets (escape sequences
/// counted).
pub fn encode_body_iso2022jp(body: &str) -> Option<Vec<u8>> {
    let normalized = body.replace("\r\n", "\n").replace('\r', "\n");
    let mut out = Vec::with_capacity(normalized.len() * 2);
    for (n, line) in normalized.split('\n').enumerate() {
        if n > 0 {
            out.extend_from_slice(b"\r\n");
        }
        let encoded = encode_iso2022jp(line)?;
        if encoded.len() > 998 {
            return None;
        }
        out.extend_from_slice(&encoded);
    }
    Some(out)
}

/// Decodes ISO-2022-JP bytes strictly (no replacement); `None` on malformed input.
pub fn decode_iso2022jp(bytes: &[u8]) -> Option<String> {
    ISO_2022_JP
        .decode_without_bom_handling_and_without_replacement(bytes)
        .map(|s| s.into_owned())
}
