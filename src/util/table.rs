//! Per-row tables of fixed-size numbers written to and read from files (a checkpoint holds
//! several of millions of entries): little-endian, moved 64 KiB at a time, so that a reader or
//! writer wrapped around the stream (one that hashes it) is called per chunk, not per entry.

use std::io::{Read, Write};

const CHUNK: usize = 64 << 10;

/// Writes `items`, each as the `N` bytes `encode` gives.
pub fn write_table<T: Copy, const N: usize>(
    w: &mut dyn Write,
    items: &[T],
    encode: fn(T) -> [u8; N],
) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(CHUNK);
    for part in items.chunks(CHUNK / N) {
        buf.clear();
        for &item in part {
            buf.extend_from_slice(&encode(item));
        }
        w.write_all(&buf)?;
    }
    Ok(())
}

/// Reads `n` items of `N` bytes each, as [`write_table`] wrote them.
pub fn read_table<T, const N: usize>(
    r: &mut dyn Read,
    n: usize,
    decode: fn([u8; N]) -> T,
) -> std::io::Result<Vec<T>> {
    let mut out = Vec::with_capacity(n);
    let mut buf = vec![0u8; CHUNK / N * N];
    while out.len() < n {
        let take = (n - out.len()).min(CHUNK / N);
        let bytes = &mut buf[..take * N];
        r.read_exact(bytes)?;
        out.extend(
            bytes
                .chunks_exact(N)
                .map(|c| decode(c.try_into().expect("N bytes"))),
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_reads_back_as_written_across_chunks() {
        let items: Vec<u64> = (0..20_000u64).map(|i| i * 0x0101_0101).collect();
        let mut bytes = Vec::new();
        write_table(&mut bytes, &items, u64::to_le_bytes).unwrap();
        assert_eq!(bytes.len(), items.len() * 8);
        let back = read_table(&mut bytes.as_slice(), items.len(), u64::from_le_bytes).unwrap();
        assert_eq!(back, items);
        let short = read_table::<u64, 8>(&mut &bytes[..100], 20, u64::from_le_bytes);
        assert!(short.is_err());
    }
}
