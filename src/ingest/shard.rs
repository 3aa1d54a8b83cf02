//! Shards: a deterministic partition of the list, so that N hosts, each with its own relay and
//! state directory, cover the list exactly once (`--shard K/N`). A row belongs to a shard by a
//! stable hash of its customer id, which does not depend on the row's position, the file's
//! encoding or the host; a row without a usable id belongs to shard 1, where `check` reports it.

use sha2::{Digest, Sha256};

use crate::ingest::Row;

/// Shard K of N (1 ≤ K ≤ N).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub k: u32,
    pub n: u32,
}

impl std::str::FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Shard, String> {
        let (k, n) = s.split_once('/').ok_or("expected K/N, e.g. 2/4")?;
        let k: u32 = k.trim().parse().map_err(|_| "K must be a number")?;
        let n: u32 = n.trim().parse().map_err(|_| "N must be a number")?;
        if n == 0 || n > 4096 || k == 0 || k > n {
            return Err("need 1 ≤ K ≤ N ≤ 4096".into());
        }
        Ok(Shard { k, n })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.k, self.n)
    }
}

/// The shard (1-based) of customer `id` among `n`.
pub fn shard_of(id: &str, n: u32) -> u32 {
    let digest = Sha256::digest(id.as_bytes());
    let h = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"));
    (h % u64::from(n)) as u32 + 1
}

impl Shard {
    pub fn contains_id(&self, id: &str) -> bool {
        shard_of(id, self.n) == self.k
    }

    /// Whether this shard handles `row`.
    pub fn contains(&self, row: &Row) -> bool {
        match row {
            Row::Valid { recipient, .. } => self.contains_id(&recipient.id),
            Row::Invalid { id: Some(id), .. } => self.contains_id(id),
            Row::Invalid { id: None, .. } => self.k == 1,
        }
    }
}

/// `true` when there is no shard, or the row is in it.
pub fn keeps(shard: Option<Shard>, row: &Row) -> bool {
    shard.is_none_or(|s| s.contains(row))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_disjoint_and_cover_every_id() {
        for n in [1, 2, 3, 7] {
            let mut sizes = vec![0; n as usize];
            for i in 0..10_000 {
                let id = format!("C{i:06}");
                let owners: Vec<u32> = (1..=n)
                    .filter(|&k| Shard { k, n }.contains_id(&id))
                    .collect();
                assert_eq!(owners.len(), 1, "{id} in {owners:?}");
                sizes[owners[0] as usize - 1] += 1;
            }
            // Roughly even: no shard gets less than half its share.
            assert!(
                sizes.iter().all(|&s| s * n as usize * 2 > 10_000),
                "{sizes:?}"
            );
        }
    }

    #[test]
    fn parses_k_of_n() {
        assert_eq!("2/4".parse::<Shard>(), Ok(Shard { k: 2, n: 4 }));
        assert!("0/4".parse::<Shard>().is_err());
        assert!("5/4".parse::<Shard>().is_err());
        assert!("x".parse::<Shard>().is_err());
    }
}
