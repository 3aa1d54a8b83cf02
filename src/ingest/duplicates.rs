//! Duplicate detection in bounded memory: which rows repeat an id, or an e-mail address, that an
//! earlier row of the list already has.
//!
//! A first pass over the list hands every id and every address to a [`DuplicateFinder`] as an
//! occurrence: a keyed 64-bit hash, the line, the brand. They are sorted on disk
//! ([`crate::util::disk_sort`], in segments of 16 MiB under `TMPDIR`), grouped by key, and every occurrence after
//! the first of its group becomes a [`Finding`]. The findings are sorted once more, by line, so
//! that the reader's second pass takes them in step with the rows ([`Findings::take`]). Memory is
//! one sort segment (16 MiB) however long the list is; the disk holds 16 bytes per id and per
//! address while the sort runs, and the temporary files go when the finder is dropped.
//!
//! Only hashes and line numbers pass through here, never an id or an address.

use std::io::{self, Read, Write};

use extsort::Sortable;

use crate::util::disk_sort::{Cursor, Pair, SEGMENT_ITEMS, Sorter, sorter};

/// Line numbers are packed with a brand index into one `u64`.
const BRAND_BITS: u32 = 16;
/// The most brands a configuration may have for duplicate detection to tell them apart.
pub const MAX_BRANDS: usize = 1 << BRAND_BITS;
/// The lowest bit of an occurrence's key says whether it is an address.
const EMAIL_BIT: u64 = 1;

/// One id or address of one row: its hash (equal values have equal keys), then
/// `line << BRAND_BITS | brand`, so that sorting groups equal keys in line order.
type Occurrence = Pair;

fn key(o: &Occurrence) -> u64 {
    o.0
}
fn is_email(o: &Occurrence) -> bool {
    o.0 & EMAIL_BIT != 0
}
fn line(o: &Occurrence) -> u64 {
    o.1 >> BRAND_BITS
}
fn brand(o: &Occurrence) -> u16 {
    (o.1 & ((1 << BRAND_BITS) - 1)) as u16
}

/// What a later occurrence of an id or an address means for its row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finding {
    /// The row's id is on an earlier row (an error).
    DuplicateId { first_line: u64 },
    /// The row's address is on an earlier row of the same brand (an error: two near-identical
    /// notices to one mailbox look like phishing).
    DuplicateEmail { first_line: u64 },
    /// The row's address is first registered under another brand (a warning: one notice per
    /// brand is right, but the person will get two).
    EmailUnderOtherBrand { brand: usize, first_line: u64 },
}

/// A finding on disk: the line it belongs to first, so findings sort by line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Found {
    line: u64,
    kind: u8,
    first_line: u64,
    brand: u16,
}

impl Found {
    fn new(line: u64, finding: Finding) -> Found {
        let (kind, first_line, brand) = match finding {
            Finding::DuplicateId { first_line } => (0, first_line, 0),
            Finding::DuplicateEmail { first_line } => (1, first_line, 0),
            Finding::EmailUnderOtherBrand { brand, first_line } => (2, first_line, brand as u16),
        };
        Found {
            line,
            kind,
            first_line,
            brand,
        }
    }

    fn finding(&self) -> Finding {
        match self.kind {
            0 => Finding::DuplicateId {
                first_line: self.first_line,
            },
            1 => Finding::DuplicateEmail {
                first_line: self.first_line,
            },
            _ => Finding::EmailUnderOtherBrand {
                brand: usize::from(self.brand),
                first_line: self.first_line,
            },
        }
    }
}

impl Sortable for Found {
    fn encode<W: Write>(&self, w: &mut W) -> io::Result<()> {
        w.write_all(&self.line.to_le_bytes())?;
        w.write_all(&[self.kind])?;
        w.write_all(&self.first_line.to_le_bytes())?;
        w.write_all(&self.brand.to_le_bytes())
    }
    fn decode<R: Read>(r: &mut R) -> io::Result<Self> {
        let mut b = [0u8; 19];
        r.read_exact(&mut b)?;
        Ok(Found {
            line: u64::from_le_bytes(b[0..8].try_into().expect("8 bytes")),
            kind: b[8],
            first_line: u64::from_le_bytes(b[9..17].try_into().expect("8 bytes")),
            brand: u16::from_le_bytes(b[17..19].try_into().expect("2 bytes")),
        })
    }
}

/// Collects the ids and addresses of one pass over the list.
pub struct DuplicateFinder {
    occurrences: Sorter<Occurrence>,
    segment_items: usize,
    last_line: u64,
}

impl Default for DuplicateFinder {
    fn default() -> Self {
        DuplicateFinder::new()
    }
}

impl DuplicateFinder {
    pub fn new() -> DuplicateFinder {
        DuplicateFinder::with_segment_items(SEGMENT_ITEMS)
    }

    /// A finder that sorts in segments of `n` items (smaller: less memory, more files).
    pub fn with_segment_items(n: usize) -> DuplicateFinder {
        DuplicateFinder {
            occurrences: sorter(n),
            segment_items: n,
            last_line: 0,
        }
    }

    /// The id of the row at `line`, as a hash that only equal ids share. Lines must not
    /// decrease from call to call.
    pub fn id(&mut self, line: u64, key: u64) -> io::Result<()> {
        self.push(line, key & !EMAIL_BIT, 0)
    }

    /// The address of the row at `line`, registered under brand number `brand`.
    pub fn email(&mut self, line: u64, key: u64, brand: usize) -> io::Result<()> {
        let brand = u16::try_from(brand).map_err(|_| io::Error::other("too many brands"))?;
        self.push(line, key | EMAIL_BIT, brand)
    }

    fn push(&mut self, line: u64, key: u64, brand: u16) -> io::Result<()> {
        debug_assert!(line >= self.last_line, "lines must come in order");
        self.last_line = line;
        if line >= 1 << (64 - BRAND_BITS) {
            return Err(io::Error::other("line number out of range"));
        }
        self.occurrences
            .push(Pair(key, (line << BRAND_BITS) | u64::from(brand)))
    }

    /// Sorts what was collected and returns the findings, in line order.
    pub fn finish(self) -> io::Result<Findings> {
        let mut found = sorter::<Found>(self.segment_items);
        let mut group = Group::default();
        for occurrence in self.occurrences.done()? {
            let occurrence = occurrence?;
            if let Some(finding) = group.add(occurrence) {
                found.push(Found::new(line(&occurrence), finding))?;
            }
        }
        let found = found.done()?;
        Ok(Findings {
            count: found.sorted_count(),
            pending: Cursor::new(found, |f| f.line),
        })
    }
}

/// The occurrences of one key seen so far, in line order.
#[derive(Default)]
struct Group {
    key: Option<u64>,
    first_line: u64,
    first_brand: u16,
    /// For an address: the first line under each other brand.
    other_brands: Vec<(u16, u64)>,
}

impl Group {
    fn add(&mut self, o: Occurrence) -> Option<Finding> {
        if self.key != Some(key(&o)) {
            *self = Group {
                key: Some(key(&o)),
                first_line: line(&o),
                first_brand: brand(&o),
                other_brands: Vec::new(),
            };
            return None;
        }
        if !is_email(&o) {
            return Some(Finding::DuplicateId {
                first_line: self.first_line,
            });
        }
        if brand(&o) == self.first_brand {
            return Some(Finding::DuplicateEmail {
                first_line: self.first_line,
            });
        }
        match self.other_brands.iter().find(|(b, _)| *b == brand(&o)) {
            Some(&(_, first_line)) => Some(Finding::DuplicateEmail { first_line }),
            None => {
                self.other_brands.push((brand(&o), line(&o)));
                Some(Finding::EmailUnderOtherBrand {
                    brand: usize::from(self.first_brand),
                    first_line: self.first_line,
                })
            }
        }
    }
}

/// The findings of a [`DuplicateFinder`], handed out line by line.
pub struct Findings {
    count: u64,
    pending: Cursor<Found>,
}

impl Findings {
    /// No findings: for a reader that does not look for duplicates.
    pub fn none() -> Findings {
        Findings {
            count: 0,
            pending: Cursor::empty(|f| f.line),
        }
    }

    /// Nothing was found.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Appends the findings for the row at `line` to `out`. Lines must be asked in increasing
    /// order; the findings of lines skipped over are dropped.
    pub fn take(&mut self, line: u64, out: &mut Vec<Finding>) -> io::Result<()> {
        self.pending.take(line, |found| out.push(found.finding()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn findings(pushes: &[(u64, &str, u64, usize)], lines: u64) -> Vec<(u64, Finding)> {
        let mut finder = DuplicateFinder::new();
        for &(line, kind, key, brand) in pushes {
            match kind {
                "id" => finder.id(line, key).unwrap(),
                _ => finder.email(line, key, brand).unwrap(),
            }
        }
        let mut found = finder.finish().unwrap();
        let mut out = Vec::new();
        for line in 1..=lines {
            let mut here = Vec::new();
            found.take(line, &mut here).unwrap();
            out.extend(here.into_iter().map(|f| (line, f)));
        }
        out
    }

    #[test]
    fn later_ids_point_at_the_first() {
        let got = findings(
            &[
                (2, "id", 10, 0),
                (3, "id", 12, 0),
                (5, "id", 10, 0),
                (9, "id", 10, 0),
            ],
            10,
        );
        assert_eq!(
            got,
            [
                (5, Finding::DuplicateId { first_line: 2 }),
                (9, Finding::DuplicateId { first_line: 2 })
            ]
        );
    }

    #[test]
    fn an_id_and_an_address_with_equal_hashes_are_not_duplicates() {
        assert!(findings(&[(2, "id", 10, 0), (3, "email", 10, 0)], 5).is_empty());
    }

    #[test]
    fn addresses_repeat_within_a_brand_and_are_warned_across_brands() {
        let got = findings(
            &[
                (2, "email", 7, 0), // first, brand 0
                (3, "email", 7, 1), // brand 1: warning, first under brand 1
                (4, "email", 7, 0), // brand 0 again: error, first line 2
                (5, "email", 7, 1), // brand 1 again: error, first line 3
                (6, "email", 7, 2), // brand 2: warning pointing at line 2
            ],
            6,
        );
        assert_eq!(
            got,
            [
                (
                    3,
                    Finding::EmailUnderOtherBrand {
                        brand: 0,
                        first_line: 2
                    }
                ),
                (4, Finding::DuplicateEmail { first_line: 2 }),
                (5, Finding::DuplicateEmail { first_line: 3 }),
                (
                    6,
                    Finding::EmailUnderOtherBrand {
                        brand: 0,
                        first_line: 2
                    }
                ),
            ]
        );
    }

    #[test]
    fn one_row_can_repeat_both_its_id_and_its_address() {
        let got = findings(
            &[
                (2, "id", 1, 0),
                (2, "email", 2, 0),
                (3, "id", 1, 0),
                (3, "email", 2, 0),
            ],
            3,
        );
        assert_eq!(
            got,
            [
                (3, Finding::DuplicateId { first_line: 2 }),
                (3, Finding::DuplicateEmail { first_line: 2 })
            ]
        );
    }

    #[test]
    fn findings_of_skipped_lines_are_dropped() {
        let mut finder = DuplicateFinder::new();
        for line in 1..=4 {
            finder.id(line, 5).unwrap();
        }
        let mut found = finder.finish().unwrap();
        let mut out = Vec::new();
        found.take(3, &mut out).unwrap();
        assert_eq!(out, [Finding::DuplicateId { first_line: 1 }]);
        out.clear();
        found.take(4, &mut out).unwrap();
        assert_eq!(out, [Finding::DuplicateId { first_line: 1 }]);
    }

    /// Many occurrences sorted in many small segments on disk give exactly what a map of
    /// every key seen so far gives.
    #[test]
    fn sorting_on_disk_agrees_with_a_map_of_everything_seen() {
        use std::collections::HashMap;
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut finder = DuplicateFinder::with_segment_items(500);
        let (mut ids, mut emails) = (HashMap::new(), HashMap::new());
        let mut expected = Vec::new();
        let lines = 20_000u64;
        for line in 1..=lines {
            let id = next() % 15_000 * 2;
            finder.id(line, id).unwrap();
            match ids.get(&id) {
                Some(&first_line) => expected.push((line, Finding::DuplicateId { first_line })),
                None => {
                    ids.insert(id, line);
                }
            }
            let (email, brand) = (next() % 18_000 * 2, (next() % 3) as usize);
            finder.email(line, email, brand).unwrap();
            let under: &mut Vec<(usize, u64)> = emails.entry(email).or_default();
            if let Some(&(first_brand, first_line)) = under.first() {
                match under.iter().find(|(b, _)| *b == brand) {
                    Some(&(_, first_line)) => {
                        expected.push((line, Finding::DuplicateEmail { first_line }))
                    }
                    None => {
                        under.push((brand, line));
                        expected.push((
                            line,
                            Finding::EmailUnderOtherBrand {
                                brand: first_brand,
                                first_line,
                            },
                        ));
                    }
                }
            } else {
                under.push((brand, line));
            }
        }
        let mut found = finder.finish().unwrap();
        let mut got = Vec::new();
        for line in 1..=lines {
            let mut here = Vec::new();
            found.take(line, &mut here).unwrap();
            got.extend(here.into_iter().map(|f| (line, f)));
        }
        assert!(expected.len() > 5_000, "the data should repeat often");
        assert_eq!(got, expected);
    }

    #[test]
    fn encodings_round_trip() {
        let o: Occurrence = Pair(u64::MAX - 3, (123_456_789 << BRAND_BITS) | 7);
        assert_eq!((line(&o), brand(&o), is_email(&o)), (123_456_789, 7, false));
        let f = Found::new(
            99,
            Finding::EmailUnderOtherBrand {
                brand: 65_535,
                first_line: 1 << 40,
            },
        );
        let mut buf = Vec::new();
        f.encode(&mut buf).unwrap();
        assert_eq!(Found::decode(&mut buf.as_slice()).unwrap(), f);
    }
}
