//! `DIR/manifest.csv`, the print vendor's file: one line per letter — batch file, page range,
//! reference, postal code, prefecture — sorted by postal code so the vendor can presort for
//! the postal discount. Sorted on disk ([`crate::util::disk_sort`]): memory does not grow with
//! the number of letters.

use std::io::{self, Read, Write};

use anyhow::{Context, Result};
use extsort::Sortable;

use crate::report::csv::{write_header, write_record};
use crate::util::disk_sort;

/// One letter of the manifest. Ordered by postal code, then by where it is printed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Entry {
    pub postal_code: String,
    pub batch: String,
    pub first_page: u32,
    pub last_page: u32,
    pub reference: String,
    pub prefecture: String,
}

impl Sortable for Entry {
    fn encode<W: Write>(&self, w: &mut W) -> io::Result<()> {
        for s in [
            &self.postal_code,
            &self.batch,
            &self.reference,
            &self.prefecture,
        ] {
            w.write_all(&(s.len() as u32).to_le_bytes())?;
            w.write_all(s.as_bytes())?;
        }
        w.write_all(&self.first_page.to_le_bytes())?;
        w.write_all(&self.last_page.to_le_bytes())
    }

    fn decode<R: Read>(r: &mut R) -> io::Result<Self> {
        fn u32_of<R: Read>(r: &mut R) -> io::Result<u32> {
            let mut b = [0u8; 4];
            r.read_exact(&mut b)?;
            Ok(u32::from_le_bytes(b))
        }
        let mut s = || -> io::Result<String> {
            let len = u32_of(r)? as usize;
            if len > 4096 {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "manifest item"));
            }
            let mut b = vec![0u8; len];
            r.read_exact(&mut b)?;
            String::from_utf8(b).map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "utf-8"))
        };
        let (postal_code, batch, reference, prefecture) = (s()?, s()?, s()?, s()?);
        Ok(Entry {
            postal_code,
            batch,
            reference,
            prefecture,
            first_page: u32_of(r)?,
            last_page: u32_of(r)?,
        })
    }
}

/// The manifest's columns.
pub const HEADER: [&str; 5] = ["batch", "pages", "reference", "postal_code", "prefecture"];

/// Collects the letters of a run and writes them sorted.
pub struct Manifest {
    sorter: disk_sort::Sorter<Entry>,
}

impl Manifest {
    pub fn new() -> Manifest {
        Manifest {
            sorter: disk_sort::sorter(1 << 16),
        }
    }

    pub fn push(&mut self, entry: Entry) -> Result<()> {
        self.sorter
            .push(entry)
            .with_context(|| format!("cannot sort the manifest {}", disk_sort::location()))
    }

    /// Writes the manifest, sorted by postal code, to `out`.
    pub fn write(self, out: &mut dyn Write) -> Result<u64> {
        let header: Vec<String> = HEADER.iter().map(|s| s.to_string()).collect();
        write_header(out, &header)?;
        let mut n = 0;
        let sorted = self
            .sorter
            .done()
            .with_context(|| format!("cannot sort the manifest {}", disk_sort::location()))?;
        for entry in sorted {
            let e = entry.with_context(|| "cannot read the sorted manifest back")?;
            let code = format!("{}-{}", &e.postal_code[..3], &e.postal_code[3..]);
            write_record(
                out,
                &[
                    e.batch,
                    format!("{}-{}", e.first_page, e.last_page),
                    e.reference,
                    code,
                    e.prefecture,
                ],
            )?;
            n += 1;
        }
        out.flush()?;
        Ok(n)
    }
}
