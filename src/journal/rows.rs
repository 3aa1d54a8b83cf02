//! The per-row tables replay builds: each row's state, its attempt count and a fingerprint of
//! the customer id its records name — one to four bytes per row, so that millions of rows fit
//! in memory.

use std::collections::BTreeMap;

use super::record::State;

/// Per-row states, one byte per row (8 M rows = 8 MB). Rows are numbered `1..=len()`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowStates {
    /// Index `row - 1`; the byte is [`State::as_u8`].
    bytes: Vec<u8>,
}

impl RowStates {
    /// `rows` rows, all pending.
    pub fn new(rows: u64) -> RowStates {
        RowStates {
            bytes: vec![State::Pending.as_u8(); rows as usize],
        }
    }

    /// The state of `row`; rows outside `1..=len()` read as `Pending`.
    pub fn get(&self, row: u64) -> State {
        match row.checked_sub(1).and_then(|i| self.bytes.get(i as usize)) {
            Some(&b) => State::from_u8(b),
            None => State::Pending,
        }
    }

    /// Number of rows in each state, every state present (zero counts included).
    pub fn counts(&self) -> BTreeMap<State, u64> {
        let mut by_code = [0u64; 256];
        for &b in &self.bytes {
            by_code[b as usize] += 1;
        }
        State::ALL
            .iter()
            .map(|&s| (s, by_code[s.as_u8() as usize]))
            .collect()
    }

    /// Number of rows (the header's `list_rows`).
    pub fn len(&self) -> u64 {
        self.bytes.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Rows in `state`, ascending.
    pub fn rows_in(&self, state: State) -> impl Iterator<Item = u64> + '_ {
        let code = state.as_u8();
        self.bytes
            .iter()
            .enumerate()
            .filter(move |&(_, &b)| b == code)
            .map(|(i, _)| i as u64 + 1)
    }

    /// The tables as one byte per row, index `row - 1` (what a checkpoint saves).
    pub(super) fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub(super) fn from_bytes(bytes: Vec<u8>) -> RowStates {
        RowStates { bytes }
    }

    pub(super) fn slot(&mut self, row: u64) -> Option<&mut u8> {
        self.bytes.get_mut(row.checked_sub(1)? as usize)
    }
}

/// Attempts made so far per row, one saturating byte per row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowAttempts {
    pub(super) bytes: Vec<u8>,
}

impl RowAttempts {
    /// Highest attempt number journaled for `row` (0 = never attempted; saturates at 255).
    pub fn get(&self, row: u64) -> u32 {
        row.checked_sub(1)
            .and_then(|i| self.bytes.get(i as usize))
            .map_or(0, |&b| u32::from(b))
    }
}

/// Which customer id the records of each row name, as a 32-bit fingerprint per row (0: no
/// record, or only records without an id). The journal identifies people by row; the id in
/// every record is the check that the row means the person it meant when it was written.
/// Four bytes per row (32 MB for 8 M rows) rather than the ids themselves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowIds {
    pub(super) prints: Vec<u32>,
}

impl RowIds {
    /// The fingerprint of an id; 0 for the empty id (a row refused without one).
    pub(super) fn print(id: &[u8]) -> u32 {
        if id.is_empty() {
            return 0;
        }
        // FNV-1a: enough to tell ids apart (a mismatch is a sign of damage, not a secret).
        let mut h: u32 = 0x811c_9dc5;
        for &b in id {
            h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
        }
        h.max(1)
    }

    /// True unless the journal's records of `row` name an id other than `id`.
    pub fn matches(&self, row: u64, id: &str) -> bool {
        match row.checked_sub(1).and_then(|i| self.prints.get(i as usize)) {
            Some(&0) | None => true,
            Some(&p) => p == Self::print(id.as_bytes()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use State::*;

    #[test]
    fn counts_cover_all_states() {
        let mut s = RowStates::new(3);
        *s.slot(2).unwrap() = Sent.as_u8();
        let c = s.counts();
        assert_eq!(c[&Pending], 2);
        assert_eq!(c[&Sent], 1);
        assert_eq!(c[&Bounced], 0);
        assert_eq!(s.get(0), Pending);
        assert_eq!(s.get(2), Sent);
        assert_eq!(s.get(99), Pending);
    }
}
