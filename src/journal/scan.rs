//! The replay fast path: a scanner for the flat JSON objects the writer produces.
//!
//! Replaying millions of lines through serde's internally tagged enum (which buffers every
//! line into an intermediate tree) is several times too slow, so `attempt` and `outcome`
//! lines go through this scanner instead. It validates the whole line as a flat JSON object
//! (keys, strings with escapes, numbers, literals) and picks out the few keys replay needs.
//! Anything it is not sure about — nested values, escaped keys, unknown record types, a
//! missing or mistyped field — makes it answer `None`, and the caller parses the line fully
//! with serde, which then either accepts it or produces the error message. The scanner never
//! accepts a line that serde would reject for the fields it checks; it may reject lines serde
//! accepts (that only costs speed).

use super::record::State;

/// What replay needs from an `attempt` or `outcome` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fast<'a> {
    Attempt {
        row: u64,
        /// The customer id, raw (the scanner only takes ids without escapes).
        id: &'a [u8],
        attempt: u32,
        at: &'a [u8],
    },
    Outcome {
        row: u64,
        id: &'a [u8],
        state: State,
        attempt: u32,
        at: &'a [u8],
    },
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Val<'a> {
    /// String contents between the quotes (raw, escapes not decoded) and whether it had any.
    Str(&'a [u8], bool),
    /// A non-negative integer that fits in u64.
    Uint(u64),
    /// Any other number.
    Num,
    Null,
    Bool,
}

struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
    non_ascii: bool,
}

impl<'a> Cursor<'a> {
    #[inline]
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    #[inline]
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    #[inline]
    fn eat(&mut self, c: u8) -> Option<()> {
        if self.peek() == Some(c) {
            self.i += 1;
            Some(())
        } else {
            None
        }
    }

    /// After the opening quote: returns the raw contents and whether escapes occurred.
    #[inline]
    fn string(&mut self) -> Option<(&'a [u8], bool)> {
        let start = self.i;
        let mut escaped = false;
        loop {
            let c = *self.s.get(self.i)?;
            match c {
                b'"' => {
                    let raw = &self.s[start..self.i];
                    self.i += 1;
                    return Some((raw, escaped));
                }
                b'\\' => {
                    escaped = true;
                    let e = *self.s.get(self.i + 1)?;
                    match e {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.i += 2,
                        b'u' => {
                            let hex = self.s.get(self.i + 2..self.i + 6)?;
                            if !hex.iter().all(u8::is_ascii_hexdigit) {
                                return None;
                            }
                            // Surrogates need pairing rules; let serde judge those.
                            if matches!(hex[0], b'd' | b'D') && hex[1] >= b'8' {
                                return None;
                            }
                            self.i += 6;
                        }
                        _ => return None,
                    }
                }
                0..=0x1f => return None,
                0x80.. => {
                    self.non_ascii = true;
                    self.i += 1;
                }
                _ => self.i += 1,
            }
        }
    }

    #[inline]
    fn number(&mut self) -> Option<Val<'a>> {
        let start = self.i;
        let neg = self.eat(b'-').is_some();
        let int_start = self.i;
        match self.peek()? {
            b'0' => self.i += 1,
            b'1'..=b'9' => {
                while let Some(b'0'..=b'9') = self.peek() {
                    self.i += 1;
                }
            }
            _ => return None,
        }
        let int_end = self.i;
        let mut plain = !neg;
        if self.eat(b'.').is_some() {
            plain = false;
            self.digits()?;
        }
        if let Some(b'e' | b'E') = self.peek() {
            plain = false;
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            self.digits()?;
        }
        let _ = start;
        if plain && int_end - int_start <= 19 {
            let mut v: u64 = 0;
            for &d in &self.s[int_start..int_end] {
                v = v * 10 + u64::from(d - b'0');
            }
            Some(Val::Uint(v))
        } else {
            Some(Val::Num)
        }
    }

    #[inline]
    fn digits(&mut self) -> Option<()> {
        let start = self.i;
        while let Some(b'0'..=b'9') = self.peek() {
            self.i += 1;
        }
        (self.i > start).then_some(())
    }

    #[inline]
    fn literal(&mut self, word: &[u8]) -> Option<()> {
        if self.s.get(self.i..self.i + word.len())? == word {
            self.i += word.len();
            Some(())
        } else {
            None
        }
    }

    #[inline]
    fn value(&mut self) -> Option<Val<'a>> {
        match self.peek()? {
            b'"' => {
                self.i += 1;
                let (raw, esc) = self.string()?;
                Some(Val::Str(raw, esc))
            }
            b'-' | b'0'..=b'9' => self.number(),
            b'n' => self.literal(b"null").map(|_| Val::Null),
            b't' => self.literal(b"true").map(|_| Val::Bool),
            b'f' => self.literal(b"false").map(|_| Val::Bool),
            _ => None,
        }
    }
}

/// Scans one line (without its newline). `None` means "parse it fully".
pub(crate) fn scan(line: &[u8]) -> Option<Fast<'_>> {
    let mut c = Cursor {
        s: line,
        i: 0,
        non_ascii: false,
    };
    c.ws();
    c.eat(b'{')?;
    let mut kind: Option<&[u8]> = None;
    let mut row = None;
    let mut state = None;
    let mut attempt = None;
    let mut at: Option<&[u8]> = None;
    let mut id: Option<&[u8]> = None;
    let mut message_id: Option<bool> = None; // Some(true) = string, Some(false) = null
    let mut seen = 0u16;
    loop {
        c.ws();
        c.eat(b'"')?;
        let (key, key_esc) = c.string()?;
        if key_esc {
            return None;
        }
        c.ws();
        c.eat(b':')?;
        c.ws();
        let v = c.value()?;
        let bit = match key {
            b"type" => 1,
            b"row" => 2,
            b"state" => 4,
            b"attempt" => 8,
            b"at" => 16,
            b"id" => 32,
            b"message_id" => 64,
            b"code" => 128,
            b"enhanced" => 256,
            b"reply" => 512,
            _ => 0,
        };
        if bit != 0 {
            if seen & bit != 0 {
                return None; // duplicate field: serde rejects it
            }
            seen |= bit;
        }
        match (key, v) {
            (b"type", Val::Str(s, false)) => kind = Some(s),
            (b"row", Val::Uint(n)) => row = Some(n),
            (b"state", Val::Str(s, false)) => state = Some(State::parse_outcome(s)?),
            (b"attempt", Val::Uint(n)) => attempt = Some(u32::try_from(n).ok()?),
            (b"at", Val::Str(s, false)) => at = Some(s),
            (b"id", Val::Str(s, false)) => id = Some(s),
            (b"message_id", Val::Str(..)) => message_id = Some(true),
            (b"message_id", Val::Null) => message_id = Some(false),
            (b"code", Val::Uint(n)) if n <= u64::from(u16::MAX) => {}
            (b"code" | b"enhanced" | b"reply", Val::Null) => {}
            (b"enhanced" | b"reply", Val::Str(..)) => {}
            _ if bit != 0 => return None, // a known key with an unexpected value
            _ => {}
        }
        c.ws();
        match c.peek()? {
            b',' => c.i += 1,
            b'}' => {
                c.i += 1;
                break;
            }
            _ => return None,
        }
    }
    c.ws();
    if c.i != line.len() {
        return None;
    }
    if c.non_ascii && std::str::from_utf8(line).is_err() {
        return None;
    }
    let row = row?;
    let attempt = attempt?;
    let id = id?;
    match kind? {
        b"attempt" => {
            if state.is_some() || message_id != Some(true) {
                return None;
            }
            Some(Fast::Attempt {
                row,
                id,
                attempt,
                at: at?,
            })
        }
        b"outcome" => Some(Fast::Outcome {
            row,
            id,
            state: state?,
            attempt,
            at: at.unwrap_or(b""),
        }),
        _ => None,
    }
}

/// Position of the first `\n` in `s`, eight bytes at a time.
#[inline]
pub(crate) fn find_newline(s: &[u8]) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    const NL: u64 = 0x0a0a_0a0a_0a0a_0a0a;
    let mut i = 0;
    while i + 8 <= s.len() {
        let w = u64::from_le_bytes(s[i..i + 8].try_into().expect("8 bytes")) ^ NL;
        // Exact for the lowest matching byte (false positives only occur above a true one).
        let t = w.wrapping_sub(LO) & !w & HI;
        if t != 0 {
            return Some(i + (t.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    s[i..].iter().position(|&b| b == b'\n').map(|p| i + p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::record::Record;

    #[test]
    fn scans_writer_lines() {
        let line = br#"{"type":"outcome","row":17,"id":"C0017","state":"sent","attempt":1,"code":250,"enhanced":"2.0.0","reply":"Ok: queued as ABC123","message_id":"<x@y>","at":"2026-11-25T08:00:00.000Z"}"#;
        assert_eq!(
            scan(line),
            Some(Fast::Outcome {
                row: 17,
                id: b"C0017",
                state: State::Sent,
                attempt: 1,
                at: b"2026-11-25T08:00:00.000Z"
            })
        );
        let line =
            br#"{"type":"attempt","row":3,"id":"C30","attempt":2,"message_id":"<x@y>","at":"t"}"#;
        assert!(matches!(
            scan(line),
            Some(Fast::Attempt {
                row: 3,
                attempt: 2,
                ..
            })
        ));
    }

    #[test]
    fn defers_doubtful_lines_to_serde() {
        let doubtful: &[&[u8]] = &[
            br#"{"type":"outcome","row":17,"id":"C0017","state":"sent","attempt":1"#,
            br#"{"type":"outcome","row":017,"id":"C","state":"sent","attempt":1}"#,
            br#"{"type":"outcome","row":17,"id":"C","state":"pending","attempt":1}"#,
            br#"{"type":"outcome","row":17,"id":"C","state":"sent","attempt":1}x"#,
            br#"{"type":"outcome","row":17,"id":"C","state":"sent","attempt":1,"row":2}"#,
            br#"{"type":"outcome","row":-1,"id":"C","state":"sent","attempt":1}"#,
            br#"{"type":"outcome","row":1,"id":"C","state":"sent","attempt":1,"code":"x"}"#,
            br#"{"type":"attempt","row":1,"id":"C","attempt":1,"at":"t"}"#,
            br#"{"type":"run","event":"start","at":"t"}"#,
            b"{\"type\":\"outcome\",\"row\":1,\"id\":\"\xff\",\"state\":\"sent\",\"attempt\":1}",
            b"",
            b"\0\0\0\0",
        ];
        for line in doubtful {
            assert_eq!(scan(line), None, "{}", String::from_utf8_lossy(line));
        }
        // …and what serde makes of the ones it accepts agrees with the scanner's refusal
        // being only a slow path.
        assert!(serde_json::from_slice::<Record>(doubtful[8]).is_ok());
    }

    #[test]
    fn newline_search() {
        let mut s = vec![b'a'; 40];
        assert_eq!(find_newline(&s), None);
        for p in 0..40 {
            s[p] = b'\n';
            assert_eq!(find_newline(&s), Some(p));
            s[p] = 0x8a;
            assert_eq!(find_newline(&s), None);
            s[p] = b'a';
        }
    }

    proptest::proptest! {
        /// Whatever the scanner accepts, serde accepts too, with the same meaning: the fast
        /// path never lets a damaged line through that the full parse would refuse.
        #[test]
        fn scanner_agrees_with_serde(
            which in 0usize..3,
            edits in proptest::collection::vec((0usize..400, 0u8..4, proptest::num::u8::ANY), 0..4),
        ) {
            let lines: [&[u8]; 3] = [
                br#"{"type":"outcome","row":17,"id":"C0017","state":"sent","attempt":1,"code":250,"enhanced":"2.0.0","reply":"Ok: queued \u00e9 \"x\"","message_id":"<x@y>","at":"2026-11-25T08:00:00.000Z"}"#,
                br#"{"type":"attempt","row":3,"id":"C3","attempt":2,"message_id":"<x@y>","at":"2026-11-25T08:00:00.000Z"}"#,
                br#"{"type":"outcome","row":4,"id":"C4","state":"bounced","attempt":1,"code":null,"enhanced":null,"reply":null,"message_id":null,"at":"t"}"#,
            ];
            let mut line = lines[which].to_vec();
            for (pos, op, byte) in edits {
                let pos = pos % (line.len() + 1);
                const SET: &[u8] = b"{}[]\":,0123456789 -eE.tnul\\x\n";
                let byte = SET[byte as usize % SET.len()];
                match op {
                    0 if pos < line.len() => { line.remove(pos); }
                    1 => line.insert(pos, byte),
                    2 if pos < line.len() => line[pos] = byte,
                    _ => line.truncate(pos),
                }
            }
            if let Some(fast) = scan(&line) {
                let rec: Record = serde_json::from_slice(&line)
                    .unwrap_or_else(|e| panic!("scanner accepted what serde refuses ({e}): {}",
                        String::from_utf8_lossy(&line)));
                match (fast, rec) {
                    (Fast::Attempt { row, id, attempt, at }, Record::Attempt(a)) => {
                        proptest::prop_assert_eq!((row, id, attempt, at), (a.row, a.id.as_bytes(), a.attempt, a.at.as_bytes()));
                    }
                    (Fast::Outcome { row, id, state, attempt, .. }, Record::Outcome(o)) => {
                        proptest::prop_assert_eq!((row, id, state, attempt), (o.row, o.id.as_bytes(), o.state, o.attempt));
                    }
                    (fast, rec) => panic!("disagree: {fast:?} vs {rec:?}"),
                }
            }
        }
    }
}
