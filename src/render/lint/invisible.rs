//! Invisible characters: Unicode's default-ignorable code points and the other format
//! characters, which can hide a link from the eye (`kaede-support.co\u{FE0F}m` displays as
//! `kaede-support.com`).

use super::{LinkKind, Span};

/// Unicode's default-ignorable code points (DerivedCoreProperties.txt,
/// `Default_Ignorable_Code_Point`) and the other format characters (general category Cf) that
/// display as nothing or next to nothing: any of them can hide a link from the eye.
pub(super) fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}'..='\u{1160}' | '\u{17B4}'..='\u{17B5}'
        | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{FFA0}'
        | '\u{FFF0}'..='\u{FFFB}' | '\u{1BCA0}'..='\u{1BCA3}' | '\u{1D173}'..='\u{1D17A}'
        | '\u{E0000}'..='\u{E0FFF}'
        // Format characters outside that set.
        | '\u{0600}'..='\u{0605}' | '\u{06DD}' | '\u{070F}' | '\u{0890}'..='\u{0891}'
        | '\u{08E2}' | '\u{110BD}' | '\u{110CD}' | '\u{13430}'..='\u{1343F}'
        | '\u{16FE4}'
    )
}

fn is_variation_selector(c: char) -> bool {
    matches!(c, '\u{FE00}'..='\u{FE0F}' | '\u{E0100}'..='\u{E01EF}')
}

/// CJK unified and compatibility ideographs, the bases of ideographic variation sequences.
fn is_cjk_ideograph(c: char) -> bool {
    matches!(c,
        '\u{3400}'..='\u{4DBF}' | '\u{4E00}'..='\u{9FFF}' | '\u{F900}'..='\u{FAFF}'
        | '\u{20000}'..='\u{3FFFF}'
    )
}

/// The first invisible char of `text` (see [`LinkKind::Invisible`]), with the same exception
/// for a variation selector right after a CJK ideograph.
pub(crate) fn invisible_char(text: &str) -> Option<char> {
    let mut spans = Vec::new();
    invisible_chars(text, &mut spans);
    spans.first().and_then(|s| text[s.start..].chars().next())
}

/// Every invisible char, except a variation selector right after a CJK ideograph, which picks
/// the glyph of a name (渡邉 + U+E0100) and hides nothing.
pub(super) fn invisible_chars(s: &str, spans: &mut Vec<Span>) {
    let mut prev = None;
    for (i, c) in s.char_indices() {
        let glyph_variant = is_variation_selector(c) && prev.is_some_and(is_cjk_ideograph);
        if is_invisible(c) && !glyph_variant {
            spans.push(Span {
                kind: LinkKind::Invisible,
                start: i,
                end: i + c.len_utf8(),
            });
        }
        prev = Some(c);
    }
}
