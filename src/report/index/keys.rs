//! The list's keys, `<state-dir>/<campaign>.lookup-keys`: every customer id and reference
//! number of the list, hashed and sorted with its row, so that finding a person is a binary
//! search (O(log n), a few positioned reads) instead of a pass over the list. Beside them,
//! per row, only what the hotline and `status` show: the brand (an index into the
//! configuration's brands), the set of fields listed in the notice (bits of the field
//! catalogue), the customer id (which the journal carries too), and the domain of the
//! address with its destination group (`status` counts by them). No name, no address (the
//! domain is the part after `@`: a carrier's or a company's, not the person's), no phone.
//!
//! Layout (little-endian): a header (magic, rows, entries, the list file's stamp, the list's
//! digest, the configuration's digest, where the domains start), `entries` × (16-byte key
//! hash, row), `rows` × (field bits, brand index or `u32::MAX` for an invalid row, group
//! index, domain offset and length, where the row starts in the list file), `rows + 1` id
//! offsets, the ids, the domains.

use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

use super::file::{put, read_at, u64_at};
use crate::config::Config;
use crate::ingest::{Encoding, FieldSet, RecipientReader, Row};
use crate::render::reference;
use crate::util::disk_sort;

const MAGIC: &[u8; 8] = b"TSUCHIK3";
const HEADER: usize = 8 + 8 + 8 + 32 + 64 + 64 + 8;
const ENTRY: usize = 24;
const ROW: usize = 40;
/// A row whose offset in the list file is not known.
const NO_OFFSET: u64 = u64::MAX;
const NO_BRAND: u32 = u32::MAX;
/// Distinct domains remembered while the keys are built, so that a domain shared by many
/// rows is stored once; past this many, further ones are stored per row.
const DOMAINS_REMEMBERED: usize = 1 << 16;

/// What the index must still agree with to be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Stamp<'a> {
    pub list: [u64; 4],
    pub list_digest: &'a str,
    pub config_digest: &'a str,
}

/// One row as `status` reads it: its destination group and where its domain is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct RowFacts {
    /// False for a row the list holds but that is invalid (it has no group, and no domain).
    pub valid: bool,
    /// Index into the configuration's destination groups (0: the default group).
    pub group: usize,
    domain: (u64, u64),
}

/// A row the keys name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Found {
    pub row: u64,
    pub id: String,
    /// Brand key and the fields listed in the notice; `None` for an invalid row.
    pub notice: Option<(String, FieldSet)>,
}

fn hash(kind: &[u8], key: &str) -> [u8; 16] {
    let mut h = Sha256::new();
    h.update(kind);
    h.update(b"\0");
    h.update(key.as_bytes());
    h.finalize()[..16].try_into().expect("16 bytes")
}

/// A key hash and its row, sorted on disk while the index is built.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Entry([u8; 16], u64);

impl extsort::Sortable for Entry {
    fn encode<W: Write>(&self, w: &mut W) -> std::io::Result<()> {
        w.write_all(&self.0)?;
        w.write_all(&self.1.to_le_bytes())
    }
    fn decode<R: Read>(r: &mut R) -> std::io::Result<Self> {
        let mut b = [0u8; ENTRY];
        r.read_exact(&mut b)?;
        Ok(Entry(b[..16].try_into().expect("16 bytes"), u64_at(&b, 16)))
    }
}

/// Builds the keys of `recipients` into `path`, streaming the list once; memory is the
/// sorter's segment, whatever the list's length.
pub(super) fn build(
    path: &Path,
    config: &Config,
    recipients: &Path,
    encoding: Encoding,
    stamp: Stamp<'_>,
) -> Result<()> {
    let brands: Vec<&String> = config.brands.keys().collect();
    let sort_err = || format!("sorting the list's keys {}", disk_sort::location());
    let mut sorter = disk_sort::sorter::<Entry>(disk_sort::SEGMENT_ITEMS);
    let mut rows_part = std::io::BufWriter::new(tempfile::tempfile()?);
    let mut offsets_part = std::io::BufWriter::new(tempfile::tempfile()?);
    let mut ids_part = std::io::BufWriter::new(tempfile::tempfile()?);
    let mut domains_part = std::io::BufWriter::new(tempfile::tempfile()?);
    let mut domains_len = 0u64;
    let mut domains = std::collections::HashMap::<String, (u64, u64)>::new();
    let groups = config.send.destination_groups();
    // The list was read to its end by the bounded reader when it was bound to the journals;
    // this pass over its raw bytes only notes where each row starts.
    let mut offsets = crate::ingest::RowOffsets::open(recipients)?;
    let mut rows = 0u64;
    let mut ids_len = 0u64;
    let mut entries = 0u64;
    for r in RecipientReader::open_without_duplicates(recipients, config, encoding)? {
        let (row, id, notice, domain) = match r? {
            Row::Valid { recipient, .. } => {
                let brand = brands
                    .iter()
                    .position(|b| **b == recipient.brand)
                    .map_or(NO_BRAND, |i| i as u32);
                let domain = recipient
                    .email
                    .rsplit_once('@')
                    .map(|(_, d)| d.to_ascii_lowercase())
                    .unwrap_or_default();
                (
                    recipient.row,
                    recipient.id,
                    Some((brand, recipient.leaked)),
                    domain,
                )
            }
            Row::Invalid { row, id, .. } => (row, id.unwrap_or_default(), None, String::new()),
        };
        // Rows are numbered without gaps; a gap would only be left by rows the reader skips.
        while rows + 1 < row {
            rows += 1;
            put(&mut offsets_part, &[ids_len])?;
            put(&mut rows_part, &[0, u64::from(NO_BRAND), 0, 0, NO_OFFSET])?;
        }
        rows += 1;
        put(&mut offsets_part, &[ids_len])?;
        ids_part.write_all(id.as_bytes())?;
        ids_len += id.len() as u64;
        let (brand, fields) = notice.map_or((NO_BRAND, 0), |(b, f)| (b, f.0));
        let group = groups.index_of(&domain) as u64;
        let at = match domains.get(&domain) {
            Some(&at) => at,
            None => {
                let at = (domains_len, domain.len() as u64);
                domains_part.write_all(domain.as_bytes())?;
                domains_len += domain.len() as u64;
                if domains.len() < DOMAINS_REMEMBERED {
                    domains.insert(domain, at);
                }
                at
            }
        };
        let in_list = offsets.next().transpose()?.unwrap_or(NO_OFFSET);
        put(
            &mut rows_part,
            &[fields, u64::from(brand) | group << 32, at.0, at.1, in_list],
        )?;
        if !id.is_empty() {
            sorter
                .push(Entry(hash(b"id", &id), row))
                .with_context(sort_err)?;
            let r = reference::reference(&config.campaign.id, &id);
            sorter
                .push(Entry(hash(b"ref", &r), row))
                .with_context(sort_err)?;
            entries += 2;
        }
    }
    put(&mut offsets_part, &[ids_len])?;
    let sorted = sorter.done().with_context(sort_err)?;
    super::file::replace(path, |w| {
        let mut header = Vec::with_capacity(HEADER);
        header.extend_from_slice(MAGIC);
        put(&mut header, &[rows, entries])?;
        put(&mut header, &stamp.list)?;
        header.extend_from_slice(&digest64(stamp.list_digest));
        header.extend_from_slice(&digest64(stamp.config_digest));
        let domains_at =
            HEADER as u64 + entries * ENTRY as u64 + rows * ROW as u64 + (rows + 1) * 8 + ids_len;
        put(&mut header, &[domains_at])?;
        w.write_all(&header)?;
        for e in sorted {
            let Entry(h, row) = e.with_context(sort_err)?;
            w.write_all(&h)?;
            put(w, &[row])?;
        }
        for part in [rows_part, offsets_part, ids_part, domains_part] {
            let mut f = part.into_inner().map_err(|e| e.into_error())?;
            std::io::Seek::rewind(&mut f)?;
            std::io::copy(&mut f, w)?;
        }
        Ok(())
    })
}

/// A digest as the 64 bytes of its hex form (shorter ones padded, longer cut).
fn digest64(d: &str) -> [u8; 64] {
    let mut b = [b' '; 64];
    for (slot, c) in b.iter_mut().zip(d.bytes()) {
        *slot = c;
    }
    b
}

/// The open keys of one list.
pub(crate) struct Keys {
    file: std::fs::File,
    rows: u64,
    entries: u64,
    domains_at: u64,
}

impl Keys {
    /// Opens the keys at `path` if they are there and still agree with `stamp`.
    pub(super) fn open(path: &Path, stamp: Stamp<'_>) -> Result<Option<Keys>> {
        let Some(file) = super::file::open(path)? else {
            return Ok(None);
        };
        let mut h = [0u8; HEADER];
        if file.read_exact_at(&mut h, 0).is_err() || &h[..8] != MAGIC {
            return Ok(None);
        }
        let list: [u64; 4] = std::array::from_fn(|i| u64_at(&h, 24 + 8 * i));
        if list != stamp.list
            || h[56..120] != digest64(stamp.list_digest)
            || h[120..184] != digest64(stamp.config_digest)
        {
            return Ok(None);
        }
        let keys = Keys {
            file,
            rows: u64_at(&h, 8),
            entries: u64_at(&h, 16),
            domains_at: u64_at(&h, 184),
        };
        let want = HEADER as u64
            + keys.entries * ENTRY as u64
            + keys.rows * ROW as u64
            + (keys.rows + 1) * 8;
        if keys.file.metadata()?.len() < want {
            bail!(
                "{}: index cut short; remove it and it is rebuilt",
                path.display()
            );
        }
        Ok(Some(keys))
    }

    /// Every row's group and domain, in row order, read in one pass.
    pub(crate) fn each_row(&self, mut each: impl FnMut(u64, RowFacts) -> Result<()>) -> Result<()> {
        let at = HEADER as u64 + self.entries * ENTRY as u64;
        let mut f = self.file.try_clone()?;
        std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(at))?;
        let mut r = std::io::BufReader::with_capacity(1 << 20, f).take(self.rows * ROW as u64);
        let mut b = [0u8; ROW];
        for row in 1..=self.rows {
            r.read_exact(&mut b)
                .context("index file shorter than its header says")?;
            each(
                row,
                RowFacts {
                    valid: u64_at(&b, 8) & u64::from(u32::MAX) != u64::from(NO_BRAND),
                    group: (u64_at(&b, 8) >> 32) as usize,
                    domain: (u64_at(&b, 16), u64_at(&b, 24)),
                },
            )?;
        }
        Ok(())
    }

    /// Where `row` starts in the list file, if known (for reading that row alone).
    pub(crate) fn list_offset(&self, row: u64) -> Result<Option<u64>> {
        if row == 0 || row > self.rows {
            return Ok(None);
        }
        let at = HEADER as u64 + self.entries * ENTRY as u64 + (row - 1) * ROW as u64 + 32;
        let offset = u64_at(&read_at(&self.file, at, 8)?, 0);
        Ok((offset != NO_OFFSET).then_some(offset))
    }

    /// The domain of a row's address (lowercased; empty for an invalid row).
    pub(crate) fn domain(&self, facts: &RowFacts) -> Result<String> {
        let (at, len) = facts.domain;
        let len = usize::try_from(len).unwrap_or(0).min(1 << 10);
        Ok(String::from_utf8_lossy(&read_at(&self.file, self.domains_at + at, len)?).into_owned())
    }

    fn entry(&self, i: u64) -> Result<([u8; 16], u64)> {
        let b = read_at(&self.file, HEADER as u64 + i * ENTRY as u64, ENTRY)?;
        Ok((b[..16].try_into().expect("16 bytes"), u64_at(&b, 16)))
    }

    /// The rows whose key hashes to `h`, ascending.
    fn rows_of(&self, h: &[u8; 16]) -> Result<Vec<u64>> {
        let (mut lo, mut hi) = (0u64, self.entries);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.entry(mid)?.0 < *h {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let mut rows = Vec::new();
        while lo < self.entries {
            let (eh, row) = self.entry(lo)?;
            if eh != *h {
                break;
            }
            rows.push(row);
            lo += 1;
        }
        Ok(rows)
    }

    /// The customer id of `row`.
    pub(crate) fn id(&self, row: u64) -> Result<String> {
        let base = HEADER as u64 + self.entries * ENTRY as u64 + self.rows * ROW as u64;
        let b = read_at(&self.file, base + (row - 1) * 8, 16)?;
        let (start, end) = (u64_at(&b, 0), u64_at(&b, 8));
        let ids = base + (self.rows + 1) * 8;
        let len = usize::try_from(end.saturating_sub(start))
            .unwrap_or(0)
            .min(1 << 16);
        Ok(String::from_utf8_lossy(&read_at(&self.file, ids + start, len)?).into_owned())
    }

    fn notice(&self, row: u64, config: &Config) -> Result<Option<(String, FieldSet)>> {
        let at = HEADER as u64 + self.entries * ENTRY as u64 + (row - 1) * ROW as u64;
        let b = read_at(&self.file, at, ROW)?;
        let brand = u64_at(&b, 8) & u64::from(u32::MAX);
        if brand == u64::from(NO_BRAND) {
            return Ok(None);
        }
        let key = config
            .brands
            .keys()
            .nth(brand as usize)
            .cloned()
            .unwrap_or_default();
        Ok(Some((key, FieldSet(u64_at(&b, 0)))))
    }

    /// The first row of the list (in list order) whose id is `key` or whose reference number
    /// is `reference`, as the pass over the list would find it.
    pub(super) fn find(
        &self,
        key: &str,
        reference: Option<&str>,
        config: &Config,
    ) -> Result<Option<Found>> {
        let mut best: Option<(u64, String)> = None;
        let mut consider = |row: u64, id: String| {
            if row >= 1 && row <= self.rows && best.as_ref().is_none_or(|(b, _)| row < *b) {
                best = Some((row, id));
            }
        };
        for row in self.rows_of(&hash(b"id", key))? {
            if row == 0 || row > self.rows {
                continue;
            }
            let id = self.id(row)?;
            if id == key {
                consider(row, id);
                break;
            }
        }
        if let Some(r) = reference {
            for row in self.rows_of(&hash(b"ref", r))? {
                if row == 0 || row > self.rows {
                    continue;
                }
                let id = self.id(row)?;
                if reference::reference(&config.campaign.id, &id) == r {
                    consider(row, id);
                    break;
                }
            }
        }
        let Some((row, id)) = best else {
            return Ok(None);
        };
        Ok(Some(Found {
            row,
            notice: self.notice(row, config)?,
            id,
        }))
    }
}
