//! Letters typeset on A4 pages, one PDF per batch, with the configured Japanese font embedded
//! and subset (krilla subsets each document to the glyphs it uses, so a batch file carries a
//! few hundred kilobytes of font, not the whole collection).
//!
//! The page: the addressee where a 長3 window envelope shows it (a tri-fold A4 letter's top
//! third), the return block to its right, the letter from below the first fold, and on every
//! page the reference number and the page's number within the letter (`1 / 2`), so that a
//! page that falls out of its envelope at the printer can be put back.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow};
use krilla::Document;
use krilla::geom::Point;
use krilla::page::PageSettings;
use krilla::text::{Font, GlyphId, KrillaGlyph};

use super::template::LetterText;

/// Points per millimetre.
const MM: f32 = 72.0 / 25.4;
const PAGE_W: f32 = 210.0 * MM;
const PAGE_H: f32 = 297.0 * MM;
/// The window of a 長3 envelope: 23 mm from the left, 13 mm from the top, 90 × 45 mm. The
/// addressee is printed inside it with a margin.
const WINDOW_X: f32 = 26.0 * MM;
const WINDOW_TOP: f32 = 18.0 * MM;
const WINDOW_BOTTOM: f32 = 56.0 * MM;
const ADDRESS_SIZE: f32 = 11.0;
const NAME_SIZE: f32 = 13.0;
const SENDER_X: f32 = 122.0 * MM;
const SENDER_SIZE: f32 = 8.5;
/// The first page's letter starts below the first fold (99 mm), so nothing of it shows
/// through the window.
const BODY_TOP_FIRST: f32 = 104.0 * MM;
const BODY_TOP: f32 = 22.0 * MM;
const BODY_BOTTOM: f32 = 276.0 * MM;
const BODY_X: f32 = 20.0 * MM;
const BODY_SIZE: f32 = 10.0;
const BODY_LEADING: f32 = 15.5;
const FOOTER_Y: f32 = 287.0 * MM;
const FOOTER_SIZE: f32 = 8.0;
/// Shaped lines kept: the fixed lines of every variant, which every letter repeats.
const SHAPED_LIMIT: usize = 16_384;

/// The lines a window holds: more would show outside it.
pub const WINDOW_LINES: usize = 6;

/// The configured font, loaded once.
pub struct Typeface {
    data: Arc<Vec<u8>>,
    index: u32,
    font: Font,
    units_per_em: f32,
}

impl Typeface {
    /// Reads a `.ttf`, `.otf` or `.ttc` file; `index` picks the face of a collection.
    pub fn load(path: &std::path::Path, index: u32) -> Result<Typeface> {
        let data = std::fs::read(path)
            .with_context(|| format!("cannot read the letters font {}", path.display()))?;
        let data = Arc::new(data);
        let face = rustybuzz::Face::from_slice(&data, index).ok_or_else(|| {
            anyhow!(
                "{}: not a TrueType/OpenType font (face {index})",
                path.display()
            )
        })?;
        if face.glyph_index('通').is_none() {
            anyhow::bail!(
                "{}: face {index} has no Japanese glyphs; configure a CJK font (letters.font)",
                path.display()
            );
        }
        let units_per_em = face.units_per_em() as f32;
        let font = Font::new(krilla::Data::from(data.clone()), index)
            .ok_or_else(|| anyhow!("{}: the PDF writer cannot use this font", path.display()))?;
        Ok(Typeface {
            data,
            index,
            font,
            units_per_em,
        })
    }
}

/// One batch file being typeset.
pub struct Batch<'f> {
    typeface: &'f Typeface,
    face: rustybuzz::Face<'f>,
    shaped: HashMap<String, Arc<Vec<KrillaGlyph>>>,
    document: Document,
    pages: u32,
}

impl<'f> Batch<'f> {
    pub fn new(typeface: &'f Typeface) -> Batch<'f> {
        let face = rustybuzz::Face::from_slice(&typeface.data, typeface.index)
            .expect("the font parsed when it was loaded");
        Batch {
            typeface,
            face,
            shaped: HashMap::new(),
            document: Document::new(),
            pages: 0,
        }
    }

    /// Pages in the batch so far.
    pub fn pages(&self) -> u32 {
        self.pages
    }

    /// Typesets one letter on new pages; returns its page range in the batch (1-based,
    /// inclusive).
    pub fn add(&mut self, letter: &LetterText, reference: &str) -> (u32, u32) {
        let body_pages = paginate(letter.body.len());
        let total = body_pages.len();
        let first = self.pages + 1;
        for (i, lines) in body_pages.into_iter().enumerate() {
            let mut glyph_runs: Vec<(Point, f32, String, Arc<Vec<KrillaGlyph>>)> = Vec::new();
            let mut put = |batch: &mut Batch<'_>, x: f32, y: f32, size: f32, text: &str| {
                if text.trim().is_empty() {
                    return;
                }
                let glyphs = batch.shape(text);
                glyph_runs.push((Point::from_xy(x, y), size, text.to_string(), glyphs));
            };
            if i == 0 {
                let mut y = WINDOW_TOP + ADDRESS_SIZE;
                let n = letter.window.len();
                for (k, line) in letter.window.iter().enumerate() {
                    let last = k + 1 == n;
                    let size = if last { NAME_SIZE } else { ADDRESS_SIZE };
                    if last {
                        // The name stands apart from the address, at the window's foot.
                        y = y.clamp(WINDOW_BOTTOM - 6.0 * MM, WINDOW_BOTTOM);
                    }
                    put(self, WINDOW_X, y, size, line);
                    y += size * 1.5;
                }
                let mut y = WINDOW_TOP + SENDER_SIZE;
                for line in &letter.sender {
                    put(self, SENDER_X, y, SENDER_SIZE, line);
                    y += SENDER_SIZE * 1.5;
                }
            }
            let mut y = if i == 0 { BODY_TOP_FIRST } else { BODY_TOP } + BODY_SIZE;
            for line in &letter.body[lines] {
                put(self, BODY_X, y, BODY_SIZE, line);
                y += BODY_LEADING;
            }
            let footer = format!("{reference}    {} / {total}", i + 1);
            put(
                self,
                PAGE_W / 2.0 - 30.0 * MM,
                FOOTER_Y,
                FOOTER_SIZE,
                &footer,
            );

            let settings = PageSettings::from_wh(PAGE_W, PAGE_H).expect("A4 is a page size");
            let mut page = self.document.start_page_with(settings);
            let mut surface = page.surface();
            for (at, size, text, glyphs) in &glyph_runs {
                surface.draw_glyphs(
                    *at,
                    glyphs.as_slice(),
                    self.typeface.font.clone(),
                    text,
                    *size,
                    false,
                );
            }
            surface.finish();
            page.finish();
            self.pages += 1;
        }
        (first, self.pages)
    }

    /// The finished PDF.
    pub fn finish(self) -> Result<Vec<u8>> {
        self.document
            .finish()
            .map_err(|e| anyhow!("cannot write the letters PDF: {e:?}"))
    }

    /// The glyphs of one line, shaped once per batch for the lines every letter repeats.
    fn shape(&mut self, text: &str) -> Arc<Vec<KrillaGlyph>> {
        if let Some(g) = self.shaped.get(text) {
            return g.clone();
        }
        let mut buffer = rustybuzz::UnicodeBuffer::new();
        buffer.push_str(text);
        buffer.guess_segment_properties();
        buffer.set_direction(rustybuzz::Direction::LeftToRight);
        let output = rustybuzz::shape(&self.face, &[], buffer);
        let em = self.typeface.units_per_em;
        let infos = output.glyph_infos();
        let positions = output.glyph_positions();
        let mut glyphs = Vec::with_capacity(infos.len());
        for (i, (info, pos)) in infos.iter().zip(positions).enumerate() {
            let start = info.cluster as usize;
            let end = infos[i + 1..]
                .iter()
                .map(|n| n.cluster as usize)
                .find(|&c| c != start)
                .unwrap_or(text.len());
            glyphs.push(KrillaGlyph::new(
                GlyphId::new(info.glyph_id),
                pos.x_advance as f32 / em,
                pos.x_offset as f32 / em,
                pos.y_offset as f32 / em,
                pos.y_advance as f32 / em,
                Range { start, end },
                None,
            ));
        }
        let glyphs = Arc::new(glyphs);
        if self.shaped.len() >= SHAPED_LIMIT {
            self.shaped.clear();
        }
        self.shaped.insert(text.to_string(), glyphs.clone());
        glyphs
    }
}

/// The body lines of each page: the first page holds fewer (the window and the fold above).
fn paginate(lines: usize) -> Vec<Range<usize>> {
    let first = ((BODY_BOTTOM - BODY_TOP_FIRST) / BODY_LEADING) as usize;
    let rest = ((BODY_BOTTOM - BODY_TOP) / BODY_LEADING) as usize;
    let mut pages = Vec::with_capacity(1 + lines / rest.max(1));
    pages.push(0..lines.min(first));
    let mut at = pages[0].end;
    while at < lines {
        pages.push(at..(at + rest).min(lines));
        at += rest;
    }
    pages
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_letter_fills_its_first_page_below_the_fold_then_whole_pages() {
        let pages = super::paginate(120);
        assert!(pages.len() >= 2);
        assert_eq!(pages[0].start, 0);
        assert!(pages[0].len() < pages[1].len());
        for w in pages.windows(2) {
            assert_eq!(w[0].end, w[1].start);
        }
        assert_eq!(pages.last().unwrap().end, 120);
        assert_eq!(super::paginate(3).len(), 1);
        assert_eq!(super::paginate(3)[0], 0..3);
    }
}
