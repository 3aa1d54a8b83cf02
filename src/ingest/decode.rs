//! The decoding adapter: the list's bytes turned into UTF-8 as they stream past, whatever the
//! file's encoding — UTF-8 with or without BOM, or Shift_JIS/CP932, told apart from the first
//! 64 KiB — with the offsets of malformed bytes kept so that the reader can tell which record
//! held them, and the record-length bound enforced before a record is held in memory.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use anyhow::{Context, Result, bail};
use encoding_rs::DecoderResult;

use crate::config::Encoding;
use crate::ingest::record::{MAX_RECORD_BYTES, RecordTooLong};

/// How much of the file is examined to tell UTF-8 from Shift_JIS.
const SNIFF_BYTES: usize = 64 * 1024;

/// The bytes the reader's csv parser reads: the sniffed head of the file, then the rest of it,
/// decoded.
pub(super) type Source = Decoding<io::Chain<io::Cursor<Vec<u8>>, File>>;

/// The list file as the reader reads it: decoded to UTF-8, the BOM dropped, with the encoding
/// found.
pub(super) struct Decoded {
    pub(super) reader: Source,
    /// `"utf-8"`, `"utf-8 (BOM)"` or `"shift_jis"`.
    pub(super) detected: &'static str,
    /// The encoding's name as messages say it (`UTF-8`, `Shift_JIS`).
    pub(super) encoding_name: &'static str,
}

/// Settles the encoding of the list `file` (at `path`, for messages) from its first 64 KiB:
/// `encoding` as requested, or told from the bytes for [`Encoding::Auto`]. Refuses a file whose
/// lines end in CR only, and a BOM when Shift_JIS was requested.
pub(super) fn open(path: &Path, file: File, encoding: Encoding) -> Result<Decoded> {
    let mut head = Vec::with_capacity(SNIFF_BYTES);
    (&file)
        .take(SNIFF_BYTES as u64)
        .read_to_end(&mut head)
        .with_context(|| format!("cannot read recipients file {}", path.display()))?;
    let whole_file = head.len() < SNIFF_BYTES;
    if head.contains(&b'\r') && !head.contains(&b'\n') {
        bail!(
            "{}: lines end in CR only (classic Mac format); save the file with CRLF or LF \
             line ends",
            path.display()
        );
    }
    let bom = head.starts_with(b"\xEF\xBB\xBF");
    let utf8 = match encoding {
        Encoding::Utf8 => true,
        Encoding::ShiftJis if bom => bail!(
            "{}: the file starts with a UTF-8 byte-order mark but shift_jis was requested",
            path.display()
        ),
        Encoding::ShiftJis => false,
        Encoding::Auto => bom || looks_like_utf8(&head, whole_file),
    };
    let (detected, encoding_name, decoder) = if utf8 {
        if bom {
            head.drain(..3);
        }
        let label = if bom { "utf-8 (BOM)" } else { "utf-8" };
        (
            label,
            "UTF-8",
            encoding_rs::UTF_8.new_decoder_without_bom_handling(),
        )
    } else {
        (
            "shift_jis",
            "Shift_JIS",
            encoding_rs::SHIFT_JIS.new_decoder_without_bom_handling(),
        )
    };
    Ok(Decoded {
        reader: Decoding::new(io::Cursor::new(head).chain(file), decoder),
        detected,
        encoding_name,
    })
}

/// The list `file` decoded from where it is positioned — the start of a record, past the
/// header and any BOM — in the encoding `detected` ([`Decoded::detected`]) found when the list
/// was opened.
pub(super) fn resume(file: File, detected: &str) -> Source {
    let decoder = if detected.starts_with("utf-8") {
        encoding_rs::UTF_8.new_decoder_without_bom_handling()
    } else {
        encoding_rs::SHIFT_JIS.new_decoder_without_bom_handling()
    };
    Decoding::new(io::Cursor::new(Vec::new()).chain(file), decoder)
}

/// Decodes a byte stream to UTF-8 on the fly. Malformed input becomes U+FFFD and its offset in
/// the decoded stream is remembered, so the reader can tell which record held it (a literal
/// U+FFFD in the file is not confused with a decoding error).
pub(super) struct Decoding<R> {
    inner: R,
    decoder: encoding_rs::Decoder,
    input: Box<[u8]>,
    in_pos: usize,
    in_len: usize,
    eof: bool,
    finished: bool,
    out: Box<[u8]>,
    out_pos: usize,
    out_len: usize,
    /// Decoded bytes before `out[0]`.
    base: u64,
    /// Decoded-stream offsets of malformed sequences not yet claimed by a record.
    malformed: VecDeque<u64>,
    /// Decoded-stream offset where the current record starts.
    mark: u64,
    /// Decoded-stream offsets of the line feeds handed out at or after `mark` (csv reads
    /// ahead by at most its buffer, so this stays small).
    newlines: VecDeque<u64>,
    /// Line feeds before `mark`.
    lines_before_mark: u64,
}

impl<R: Read> Decoding<R> {
    /// Moves the record mark to `end` (the end of the record just read).
    pub(super) fn set_mark(&mut self, end: u64) {
        self.mark = end;
        while self.newlines.front().is_some_and(|&p| p < end) {
            self.newlines.pop_front();
            self.lines_before_mark += 1;
        }
    }

    /// The 1-based line of the record csv says starts at `start` (at or after the mark): csv
    /// skips empty lines before a record without counting them, so skip them here too.
    pub(super) fn line_at(&self, start: u64) -> u64 {
        let mut line = self.lines_before_mark + 1;
        let mut at = start;
        for &p in &self.newlines {
            if p < start {
                line += 1;
            } else if p == at {
                // An empty line (a lone LF) where the record was said to start.
                line += 1;
                at += 1;
            } else {
                break;
            }
        }
        line
    }

    fn new(inner: R, decoder: encoding_rs::Decoder) -> Self {
        Decoding {
            inner,
            decoder,
            input: vec![0; 32 * 1024].into_boxed_slice(),
            in_pos: 0,
            in_len: 0,
            eof: false,
            finished: false,
            out: vec![0; 64 * 1024].into_boxed_slice(),
            out_pos: 0,
            out_len: 0,
            base: 0,
            malformed: VecDeque::new(),
            mark: 0,
            newlines: VecDeque::new(),
            lines_before_mark: 0,
        }
    }

    fn refill(&mut self) -> io::Result<()> {
        self.base += self.out_len as u64;
        self.out_pos = 0;
        self.out_len = 0;
        // Keep room for one U+FFFD after any decoder call.
        let limit = self.out.len() - 3;
        while self.out_len == 0 && !self.finished {
            if self.in_pos == self.in_len && !self.eof {
                self.in_pos = 0;
                self.in_len = loop {
                    match self.inner.read(&mut self.input) {
                        Ok(n) => break n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(e),
                    }
                };
                self.eof = self.in_len == 0;
            }
            let (result, read, written) = self.decoder.decode_to_utf8_without_replacement(
                &self.input[self.in_pos..self.in_len],
                &mut self.out[self.out_len..limit],
                self.eof,
            );
            self.in_pos += read;
            self.out_len += written;
            match result {
                DecoderResult::InputEmpty => self.finished = self.eof,
                DecoderResult::OutputFull => {}
                DecoderResult::Malformed(_, _) => {
                    self.malformed.push_back(self.base + self.out_len as u64);
                    self.out[self.out_len..self.out_len + 3].copy_from_slice("\u{FFFD}".as_bytes());
                    self.out_len += 3;
                }
            }
        }
        Ok(())
    }

    /// Forgets malformed offsets before `end`; true if one lay in `start..end`.
    pub(super) fn take_malformed(&mut self, start: u64, end: u64) -> bool {
        let mut hit = false;
        while let Some(&at) = self.malformed.front() {
            if at >= end {
                break;
            }
            hit |= at >= start;
            self.malformed.pop_front();
        }
        hit
    }
}

impl<R: Read> Read for Decoding<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.out_pos == self.out_len {
            self.refill()?;
        }
        let handed_out = self.base + self.out_pos as u64;
        if handed_out.saturating_sub(self.mark) > MAX_RECORD_BYTES {
            return Err(io::Error::new(io::ErrorKind::InvalidData, RecordTooLong));
        }
        let n = buf.len().min(self.out_len - self.out_pos);
        buf[..n].copy_from_slice(&self.out[self.out_pos..self.out_pos + n]);
        for (i, &b) in buf[..n].iter().enumerate() {
            if b == b'\n' {
                self.newlines.push_back(handed_out + i as u64);
            }
        }
        self.out_pos += n;
        Ok(n)
    }
}

/// Whether `text`, decoded from Shift_JIS, is really UTF-8 read the wrong way (`山田` read as
/// `螻ｱ逕ｰ`): encoded back to Shift_JIS, its bytes are valid UTF-8 with multi-byte characters.
/// Genuine Shift_JIS text almost never is, since its lead bytes 0x81–0x9F are UTF-8 continuation
/// bytes.
pub(super) fn looks_like_utf8_read_as_sjis(text: &str) -> bool {
    if text.is_ascii() {
        return false;
    }
    let (bytes, _, unmappable) = encoding_rs::SHIFT_JIS.encode(text);
    !unmappable && bytes.iter().any(|&b| b >= 0x80) && std::str::from_utf8(&bytes).is_ok()
}

/// Whether the first chunk of a file reads as UTF-8. A multi-byte character cut by the end of
/// the chunk (when the file goes on) does not count against it.
fn looks_like_utf8(head: &[u8], whole_file: bool) -> bool {
    match std::str::from_utf8(head) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none() && !whole_file && head.len() - e.valid_up_to() < 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_names() {
        assert_eq!("auto".parse::<Encoding>().unwrap(), Encoding::Auto);
        assert_eq!("UTF-8".parse::<Encoding>().unwrap(), Encoding::Utf8);
        for s in ["shift_jis", "cp932", "sjis", "CP932"] {
            assert_eq!(s.parse::<Encoding>().unwrap(), Encoding::ShiftJis);
        }
        assert!("latin1".parse::<Encoding>().is_err());
    }

    #[test]
    fn utf8_sniffing_tolerates_a_cut_character() {
        let text = "あいう".as_bytes();
        assert!(looks_like_utf8(&text[..7], false));
        assert!(!looks_like_utf8(&text[..7], true));
        assert!(!looks_like_utf8(&[0x82, 0xA0], false)); // あ in Shift_JIS
        assert!(looks_like_utf8(b"", true));
    }

    #[test]
    fn decoder_marks_malformed_offsets() {
        let bytes = b"ab\xffcd\n".to_vec();
        let mut d = Decoding::new(
            io::Cursor::new(bytes),
            encoding_rs::UTF_8.new_decoder_without_bom_handling(),
        );
        let mut s = String::new();
        d.read_to_string(&mut s).unwrap();
        assert_eq!(s, "ab\u{FFFD}cd\n");
        assert!(!d.take_malformed(0, 2));
        assert!(d.take_malformed(2, 3));
        assert!(d.malformed.is_empty());
    }

    #[test]
    fn record_length_is_bounded() {
        let mut bytes = b"id,email\n\"".to_vec();
        bytes.extend(std::iter::repeat_n(
            b'a',
            (MAX_RECORD_BYTES + 100_000) as usize,
        ));
        let mut d = Decoding::new(
            io::Cursor::new(bytes),
            encoding_rs::UTF_8.new_decoder_without_bom_handling(),
        );
        let mut sink = Vec::new();
        let err = d.read_to_end(&mut sink).unwrap_err();
        assert!(err.get_ref().unwrap().is::<RecordTooLong>());
    }

    #[test]
    fn utf8_read_as_shift_jis_is_told_from_real_names() {
        let (mojibake, _, _) = encoding_rs::SHIFT_JIS.decode("山田".as_bytes());
        assert!(looks_like_utf8_read_as_sjis(&mojibake), "{mojibake}");
        for name in [
            "山田 太郎",
            "佐藤 花子",
            "髙橋 一郎",
            "渡邊 凜",
            "鈴木",
            "田中 ひとみ",
            "ヤマダ タロウ",
            "ﾔﾏﾀﾞ ﾀﾛｳ",
            "㈱テスト商事",
            "齋藤 まさみ",
            "John Smith",
            "李 明",
            "斉藤 結衣",
        ] {
            assert!(!looks_like_utf8_read_as_sjis(name), "{name}");
        }
    }
}
