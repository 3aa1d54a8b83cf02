//! The error-ratio breaker: docomo, au and SoftBank block senders whose lists hit many unknown
//! addresses, so when more than `send.max_unknown_ratio` of a destination's last
//! `send.unknown_window` messages went to unknown users, that destination stops being sent to
//! (the others go on) and the operator is told why, with the numbers. The trip is kept in
//! `<state-dir>/relay-breaker.json`, so the next run holds it too, until the operator resumes
//! it deliberately with `tsuchi send --accept-error-ratio`.
//!
//! The file names destinations (carrier domains), never an address or a customer.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::config::DestinationGroups;

/// The destination a recipient's messages count towards: its destination group
/// ([`DestinationGroups::group_of`]) when the domain belongs to a named group, so a carrier's
/// several domains trip together; otherwise (the default group) the lower-cased domain itself,
/// so one bad domain among the rest does not hold back all the others.
pub fn destination_key(groups: &DestinationGroups, domain: &str) -> String {
    match groups.index_of(domain) {
        0 => domain.trim_end_matches('.').to_ascii_lowercase(),
        g => groups.groups()[g].name.clone(),
    }
}

/// A tripped destination, with the numbers that tripped it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trip {
    pub destination: String,
    /// Unknown users among the last `window` messages.
    pub unknown: u64,
    pub window: u64,
    /// `send.max_unknown_ratio` when it tripped.
    pub limit: f64,
    pub at: String,
    /// Tripped by `tsuchi bounces`: `unknown` of the `window` messages sent so far to the
    /// destination came back as unknown-user bounces.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub by_bounces: bool,
}

impl std::fmt::Display for Trip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (before, after) = if self.by_bounces {
            ("", " messages sent so far bounced as unknown users")
        } else {
            ("last ", " messages went to unknown users")
        };
        write!(
            f,
            "{}: {} of the {before}{}{after} ({:.1} %, above \
             send.max_unknown_ratio {:.1} %); sending to it stopped at {}",
            self.destination,
            self.unknown,
            self.window,
            self.unknown as f64 * 100.0 / self.window.max(1) as f64,
            self.limit * 100.0,
            crate::util::time::shown_time(&self.at),
        )
    }
}

#[derive(Default)]
struct Window {
    recent: VecDeque<bool>,
    unknown: usize,
}

pub struct Breaker {
    max_ratio: f64,
    window: usize,
    windows: Mutex<HashMap<String, Window>>,
    tripped: Mutex<BTreeMap<String, Trip>>,
    /// Kept as `tsuchi bounces` left it, written back with the trips.
    bounced_unknown: BTreeMap<String, u64>,
    path: Option<PathBuf>,
}

#[derive(Serialize, Deserialize, Default)]
struct File {
    tripped: Vec<Trip>,
    /// Unknown-user bounces recorded by `tsuchi bounces`, by destination, since the count
    /// last started (`--accept-error-ratio` starts it afresh).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    bounced_unknown: BTreeMap<String, u64>,
}

pub const FILE_NAME: &str = "relay-breaker.json";

impl Breaker {
    /// A breaker without a file (tests).
    pub fn new(max_ratio: f64, window: usize) -> Breaker {
        Breaker {
            max_ratio,
            window: window.max(1),
            windows: Mutex::new(HashMap::new()),
            tripped: Mutex::new(BTreeMap::new()),
            bounced_unknown: BTreeMap::new(),
            path: None,
        }
    }

    /// The breaker of a run in `state_dir`: the trips of earlier runs held, unless `accept`
    /// (`--accept-error-ratio`), which forgets them and starts counting afresh.
    pub fn load(state_dir: &Path, max_ratio: f64, window: usize, accept: bool) -> Result<Breaker> {
        let path = state_dir.join(FILE_NAME);
        let mut b = Breaker::new(max_ratio, window);
        if accept {
            if path.exists() {
                std::fs::remove_file(&path)
                    .with_context(|| format!("cannot remove {}", path.display()))?;
            }
        } else if let Some(bytes) = crate::util::fs::read_state_file(&path)? {
            let file: File = serde_json::from_slice(&bytes)
                .with_context(|| format!("{} is damaged", path.display()))?;
            let mut t = b.tripped.lock().unwrap_or_else(|e| e.into_inner());
            for trip in file.tripped {
                t.insert(trip.destination.clone(), trip);
            }
            drop(t);
            b.bounced_unknown = file.bounced_unknown;
        }
        b.path = Some(path);
        Ok(b)
    }

    /// The trips in `state_dir`, for `status`.
    pub fn read(state_dir: &Path) -> Result<Vec<Trip>> {
        let path = state_dir.join(FILE_NAME);
        match crate::util::fs::read_state_file(&path)? {
            None => Ok(Vec::new()),
            Some(bytes) => Ok(serde_json::from_slice::<File>(&bytes)
                .with_context(|| format!("{} is damaged", path.display()))?
                .tripped),
        }
    }

    /// Whether `destination` is held, and why.
    pub fn held(&self, destination: &str) -> Option<Trip> {
        self.tripped
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(destination)
            .cloned()
    }

    /// A message to `destination` was answered: `unknown` when the address does not exist.
    /// Returns the trip when this answer tripped the breaker.
    pub fn record(&self, destination: &str, unknown: bool) -> Result<Option<Trip>> {
        let trip = {
            let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
            let w = windows.entry(destination.to_string()).or_default();
            w.recent.push_back(unknown);
            w.unknown += usize::from(unknown);
            if w.recent.len() > self.window && w.recent.pop_front() == Some(true) {
                w.unknown -= 1;
            }
            let full = w.recent.len() == self.window;
            if !(full && w.unknown as f64 > self.max_ratio * self.window as f64) {
                return Ok(None);
            }
            Trip {
                destination: destination.to_string(),
                unknown: w.unknown as u64,
                window: self.window as u64,
                limit: self.max_ratio,
                at: crate::util::time::now_rfc3339_seconds(),
                by_bounces: false,
            }
        };
        let file = {
            let mut t = self.tripped.lock().unwrap_or_else(|e| e.into_inner());
            if t.contains_key(destination) {
                return Ok(None);
            }
            t.insert(destination.to_string(), trip.clone());
            File {
                tripped: t.values().cloned().collect(),
                bounced_unknown: self.bounced_unknown.clone(),
            }
        };
        if let Some(path) = &self.path {
            let bytes = serde_json::to_vec_pretty(&file)?;
            crate::util::fs::write_atomic(path, &bytes, 0o600)?;
        }
        Ok(Some(trip))
    }

    /// `tsuchi bounces` recorded `unknown` new unknown-user bounces per destination, of which
    /// `sent` messages have been sent so far: adds them to the count kept in `state_dir` and
    /// trips each destination of at least `window` messages whose bounces exceed `max_ratio`
    /// of them, so that the next `send` holds it. Returns the new trips.
    pub fn count_bounces(
        state_dir: &Path,
        unknown: &BTreeMap<String, u64>,
        sent: &BTreeMap<String, u64>,
        max_ratio: f64,
        window: usize,
    ) -> Result<Vec<Trip>> {
        if unknown.is_empty() {
            return Ok(Vec::new());
        }
        let path = state_dir.join(FILE_NAME);
        let mut file: File = match crate::util::fs::read_state_file(&path)? {
            Some(bytes) => serde_json::from_slice(&bytes)
                .with_context(|| format!("{} is damaged", path.display()))?,
            None => File::default(),
        };
        for (d, n) in unknown {
            *file.bounced_unknown.entry(d.clone()).or_default() += n;
        }
        let mut trips = Vec::new();
        for (d, &n) in &file.bounced_unknown {
            let m = sent.get(d).copied().unwrap_or(0);
            if m >= window.max(1) as u64
                && n as f64 > max_ratio * m as f64
                && !file.tripped.iter().any(|t| t.destination == *d)
            {
                trips.push(Trip {
                    destination: d.clone(),
                    unknown: n,
                    window: m,
                    limit: max_ratio,
                    at: crate::util::time::now_rfc3339_seconds(),
                    by_bounces: true,
                });
            }
        }
        file.tripped.extend(trips.iter().cloned());
        let bytes = serde_json::to_vec_pretty(&file)?;
        crate::util::fs::write_atomic(&path, &bytes, 0o600)?;
        Ok(trips)
    }

    pub fn trips(&self) -> Vec<Trip> {
        self.tripped
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_destination_trips_only_above_the_ratio_of_a_full_window() {
        let b = Breaker::new(0.05, 100);
        // 5 unknown in 100: at the limit, not above it.
        for i in 0..100 {
            assert_eq!(b.record("docomo.ne.jp", i % 20 == 19).unwrap(), None);
        }
        // Another destination's answers never count towards it.
        for _ in 0..50 {
            b.record("ezweb.ne.jp", true).unwrap();
        }
        assert!(b.held("docomo.ne.jp").is_none());
        // The sixth within the window trips it.
        let trip = b.record("docomo.ne.jp", true).unwrap().expect("tripped");
        assert_eq!((trip.unknown, trip.window), (6, 100));
        assert!(b.held("docomo.ne.jp").is_some());
        assert!(trip.to_string().starts_with(
            "docomo.ne.jp: 6 of the last 100 messages went to unknown users (6.0 %, above \
             send.max_unknown_ratio 5.0 %)"
        ));
        // Once is enough: no second trip for the same destination.
        assert_eq!(b.record("docomo.ne.jp", true).unwrap(), None);
    }

    #[test]
    fn old_answers_leave_the_window() {
        let b = Breaker::new(0.05, 20);
        b.record("au.com", true).unwrap();
        for _ in 0..100 {
            assert_eq!(b.record("au.com", false).unwrap(), None);
        }
        assert_eq!(b.record("au.com", true).unwrap(), None);
        // Two in twenty is 10 %: trips.
        assert!(b.record("au.com", true).unwrap().is_some());
    }

    #[test]
    fn trips_are_kept_for_the_next_run_until_accepted() {
        let dir = tempfile::tempdir().unwrap();
        let b = Breaker::load(dir.path(), 0.5, 2, false).unwrap();
        b.record("softbank.ne.jp", true).unwrap();
        assert!(b.record("softbank.ne.jp", true).unwrap().is_some());
        let again = Breaker::load(dir.path(), 0.5, 2, false).unwrap();
        assert!(again.held("softbank.ne.jp").is_some());
        assert_eq!(Breaker::read(dir.path()).unwrap().len(), 1);
        let accepted = Breaker::load(dir.path(), 0.5, 2, true).unwrap();
        assert!(accepted.held("softbank.ne.jp").is_none());
        assert!(Breaker::read(dir.path()).unwrap().is_empty());
    }

    #[test]
    fn the_destination_is_the_group_or_else_the_lower_cased_domain() {
        let settings: crate::config::SendSettings = toml::from_str(
            "[[destinations]]\nname = \"au\"\ndomains = [\"ezweb.ne.jp\", \"au.com\"]\nrate = 5",
        )
        .unwrap();
        let groups = settings.destination_groups();
        assert_eq!(destination_key(&groups, "EZweb.ne.jp."), "au");
        assert_eq!(destination_key(&groups, "au.com"), "au");
        assert_eq!(destination_key(&groups, "DoCoMo.ne.jp."), "docomo.ne.jp");
    }
}
