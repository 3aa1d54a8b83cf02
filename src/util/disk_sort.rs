//! Sorting more items than memory should hold, for the passes that must not grow with the list
//! (duplicate ids and addresses, the journal's last outcome per row): `extsort`, with segments
//! of a fixed number of items written under `TMPDIR` and merged as they are read back. The
//! temporary files go when the sorted iterator is dropped.

use std::cmp::Ordering;
use std::io::{self, Read, Write};
use std::iter::Peekable;

use extsort::{ExternalSorter, PushExternalSorter, Sortable, SortedIterator};

pub type Cmp<T> = fn(&T, &T) -> Ordering;
/// Takes items one by one; `done()` sorts them.
pub type Sorter<T> = PushExternalSorter<T, Cmp<T>>;
/// The items in order, as `io::Result`s (reading a segment back can fail).
pub type Sorted<T> = SortedIterator<T, Cmp<T>>;

/// Items per sorted segment: 2^20 − 1 items of 16 bytes keep a sort buffer at 16 MiB (it is
/// flushed when it passes this count, before its capacity doubles again).
pub const SEGMENT_ITEMS: usize = (1 << 20) - 1;

/// A sorter in segments of `segment_items` (smaller: less memory, more files).
pub fn sorter<T: Sortable + Ord>(segment_items: usize) -> Sorter<T> {
    ExternalSorter::new()
        .with_segment_size(segment_items)
        .pushed_by(T::cmp as Cmp<T>)
}

/// Where the segments go, for error messages: "under /tmp (TMPDIR)".
pub fn location() -> String {
    format!("under {} (TMPDIR)", std::env::temp_dir().display())
}

/// Sorted items handed out in step with a pass that goes through their numbers (a line, a row)
/// in increasing order.
pub struct Cursor<T: Sortable> {
    sorted: Option<Peekable<Sorted<T>>>,
    number: fn(&T) -> u64,
}

impl<T: Sortable> Cursor<T> {
    /// Over `sorted`, whose items are in increasing order of `number`.
    pub fn new(sorted: Sorted<T>, number: fn(&T) -> u64) -> Cursor<T> {
        Cursor {
            sorted: Some(sorted.peekable()),
            number,
        }
    }

    /// A cursor with no items.
    pub fn empty(number: fn(&T) -> u64) -> Cursor<T> {
        Cursor {
            sorted: None,
            number,
        }
    }

    /// Calls `f` with each item numbered `n`, in order, and drops the items numbered below
    /// it. Numbers must be asked in increasing order.
    pub fn take(&mut self, n: u64, mut f: impl FnMut(&T)) -> io::Result<()> {
        let Some(sorted) = &mut self.sorted else {
            return Ok(());
        };
        loop {
            match sorted.peek() {
                None => return Ok(()),
                Some(Ok(item)) if (self.number)(item) > n => return Ok(()),
                Some(Ok(item)) => {
                    if (self.number)(item) == n {
                        f(item);
                    }
                    sorted.next();
                }
                Some(Err(_)) => {
                    return Err(sorted
                        .next()
                        .and_then(Result::err)
                        .expect("peeked an error"));
                }
            }
        }
    }
}

/// Two numbers, sorted by the first and then the second; 16 bytes on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pair(pub u64, pub u64);

impl Sortable for Pair {
    fn encode<W: Write>(&self, w: &mut W) -> io::Result<()> {
        w.write_all(&self.0.to_le_bytes())?;
        w.write_all(&self.1.to_le_bytes())
    }
    fn decode<R: Read>(r: &mut R) -> io::Result<Self> {
        let mut b = [0u8; 16];
        r.read_exact(&mut b)?;
        let (first, second) = b.split_at(8);
        Ok(Pair(
            u64::from_le_bytes(first.try_into().expect("8 bytes")),
            u64::from_le_bytes(second.try_into().expect("8 bytes")),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_sort_on_disk_and_round_trip() {
        let mut sorter = sorter::<Pair>(100);
        for i in (0..1000u64).rev() {
            sorter.push(Pair(i % 7, u64::MAX - i)).unwrap();
        }
        let sorted: Vec<Pair> = sorter.done().unwrap().map(|p| p.unwrap()).collect();
        assert_eq!(sorted.len(), 1000);
        assert!(sorted.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(sorted[0], Pair(0, u64::MAX - 994));
    }
}
