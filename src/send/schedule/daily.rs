//! The daily cap (`send.daily_limit`): notices per calendar day in the window's time zone,
//! counted from the journal, so that a second run on the same day goes on from where the
//! first one's count stood.

use std::path::Path;

use anyhow::{Context, Result};
use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;

use crate::journal::{Record, State, read_journal};

pub(crate) struct DailyCap {
    pub(crate) limit: u64,
    tz: TimeZone,
    day: Date,
    used: u64,
}

impl DailyCap {
    /// The cap with what the journal at `path` already sent on `now`'s day.
    pub(crate) fn from_journal(
        path: &Path,
        limit: u64,
        tz: TimeZone,
        now: Timestamp,
    ) -> Result<DailyCap> {
        let day = now.to_zoned_datetime(tz.clone()).date();
        let records = read_journal(path)?.map(|line| line.map(|l| l.record));
        let used = sent_on(records, day, &tz)
            .with_context(|| format!("{}: counting today's notices", path.display()))?;
        Ok(DailyCap {
            limit,
            tz,
            day,
            used,
        })
    }

    /// Whether today's allowance has a notice left (a new day starts afresh).
    pub(crate) fn has_room(&mut self, now: Timestamp) -> bool {
        let day = now.to_zoned_datetime(self.tz.clone()).date();
        if day != self.day {
            self.day = day;
            self.used = 0;
        }
        self.used < self.limit
    }

    /// Counts one notice handed out today.
    pub(crate) fn take(&mut self) {
        self.used += 1;
    }

    /// The start of the next day, when the allowance is renewed.
    pub(crate) fn renews_at(&self) -> Option<Timestamp> {
        self.day
            .tomorrow()
            .ok()?
            .to_zoned_datetime(self.tz.clone())
            .ok()
            .map(|z| z.timestamp())
    }
}

/// Outcomes `sent` journaled on `day` (in `tz`).
fn sent_on(records: impl Iterator<Item = Result<Record>>, day: Date, tz: &TimeZone) -> Result<u64> {
    let mut count = 0;
    for record in records {
        if let Record::Outcome(o) = record?
            && o.state == State::Sent
            && o.at
                .parse::<Timestamp>()
                .is_ok_and(|at| at.to_zoned_datetime(tz.clone()).date() == day)
        {
            count += 1;
        }
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::Outcome;

    fn line(state: State, at: &str) -> Result<Record> {
        Ok(Record::Outcome(Outcome {
            at: at.into(),
            ..Outcome::new(1, "C1", state, 1)
        }))
    }

    #[test]
    fn only_todays_sent_outcomes_count_in_the_time_zone_of_the_window() {
        let tz = TimeZone::get("Asia/Tokyo").unwrap();
        // 2026-12-03 23:30 JST, 2026-12-04 00:30 JST (UTC still the 3rd), 2026-12-04 12:00 JST.
        let journal = vec![
            line(State::Sent, "2026-12-03T14:30:00Z"),
            line(State::Sent, "2026-12-03T15:30:00Z"),
            line(State::Deferred, "2026-12-04T03:00:00Z"),
            line(State::Sent, "2026-12-04T03:00:00Z"),
        ];
        let day: Date = "2026-12-04".parse().unwrap();
        assert_eq!(sent_on(journal.into_iter(), day, &tz).unwrap(), 2);
    }

    #[test]
    fn the_allowance_runs_out_and_renews_the_next_day() {
        let tz = TimeZone::get("Asia/Tokyo").unwrap();
        let now: Timestamp = "2026-12-04T03:00:00Z".parse().unwrap();
        let mut cap = DailyCap {
            limit: 2,
            tz,
            day: "2026-12-04".parse().unwrap(),
            used: 1,
        };
        assert!(cap.has_room(now));
        cap.take();
        assert!(!cap.has_room(now));
        assert_eq!(
            cap.renews_at(),
            Some("2026-12-04T15:00:00Z".parse().unwrap()),
            "midnight JST"
        );
        assert!(cap.has_room("2026-12-04T15:00:01Z".parse().unwrap()));
    }
}
