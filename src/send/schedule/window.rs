//! Send windows in time: whether a window is open at an instant and when it opens next, in the
//! window's own time zone (jiff's rules, daylight saving included), and how the wait reads.
//!
//! A window whose end is before its start crosses midnight: `22:00-06:00` on `fri` is open
//! from Friday 22:00 to Saturday 06:00, because a window belongs to the day it opens.

use jiff::Timestamp;
use jiff::civil::Date;

use crate::config::SendWindow;

impl SendWindow {
    fn opens_on(&self, date: Date) -> bool {
        self.days & (1 << date.weekday().to_monday_zero_offset()) != 0
    }

    /// The window is open at `now`.
    pub fn is_open(&self, now: Timestamp) -> bool {
        let z = now.to_zoned_datetime(self.tz.clone());
        let minute = z.hour() as u32 * 60 + z.minute() as u32;
        if self.start < self.end {
            return self.opens_on(z.date()) && minute >= self.start && minute < self.end;
        }
        // Across midnight: the evening part of today's window, or the morning part of
        // yesterday's.
        (minute >= self.start && self.opens_on(z.date()))
            || (minute < self.end && z.date().yesterday().is_ok_and(|d| self.opens_on(d)))
    }

    /// `now` if the window is open, otherwise when it next opens (within the coming week).
    pub fn next_open(&self, now: Timestamp) -> Option<Timestamp> {
        if self.is_open(now) {
            return Some(now);
        }
        let mut date = now.to_zoned_datetime(self.tz.clone()).date();
        for _ in 0..8 {
            if self.opens_on(date) {
                let at = date
                    .at((self.start / 60) as i8, (self.start % 60) as i8, 0, 0)
                    .to_zoned_datetime(self.tz.clone())
                    .ok()?
                    .timestamp();
                if at > now {
                    return Some(at);
                }
            }
            date = date.tomorrow().ok()?;
        }
        None
    }
}

/// When every one of `windows` is open at once, from `now` on: `now` if they all are.
pub fn next_open_all(windows: &[&SendWindow], now: Timestamp) -> Option<Timestamp> {
    let mut t = now;
    // Each round moves to the next opening of a closed window; windows that never overlap
    // give up after a bounded number of rounds.
    for _ in 0..64 {
        let mut moved = false;
        for w in windows {
            let open = w.next_open(t)?;
            if open != t {
                t = open;
                moved = true;
            }
        }
        if !moved {
            return Some(t);
        }
    }
    None
}

/// `09:00 JST, in 6h 12m` (`Mon 09:00 JST, …` when it is not today), in `tz`.
pub fn describe_wait(at: Timestamp, now: Timestamp, tz: &jiff::tz::TimeZone) -> String {
    let z = at.to_zoned_datetime(tz.clone());
    let today = now.to_zoned_datetime(tz.clone()).date() == z.date();
    let when = z
        .strftime(if today { "%H:%M %Z" } else { "%a %H:%M %Z" })
        .to_string();
    let secs = at.duration_since(now).as_secs_f64();
    format!("{when}, in {}", crate::util::format::format_duration(secs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SendWindowSettings;

    fn window(hours: &str, days: &str) -> SendWindow {
        SendWindowSettings {
            timezone: "Asia/Tokyo".into(),
            hours: hours.into(),
            days: days.into(),
        }
        .parse()
        .unwrap()
    }

    /// A JST wall-clock time as an instant (2026-12-04 is a Friday).
    fn jst(text: &str) -> Timestamp {
        format!("{text}+09:00").parse().unwrap()
    }

    #[test]
    fn a_day_window_is_open_within_its_hours_and_days() {
        let w = window("09:00-19:00", "mon-fri");
        assert!(w.is_open(jst("2026-12-04T09:00:00")));
        assert!(w.is_open(jst("2026-12-04T18:59:59")));
        assert!(!w.is_open(jst("2026-12-04T19:00:00")));
        assert!(!w.is_open(jst("2026-12-04T08:59:59")));
        assert!(!w.is_open(jst("2026-12-05T10:00:00")), "Saturday");
        assert_eq!(
            w.next_open(jst("2026-12-04T20:00:00")),
            Some(jst("2026-12-07T09:00:00")),
            "Friday evening waits for Monday"
        );
        assert_eq!(
            w.next_open(jst("2026-12-04T03:00:00")),
            Some(jst("2026-12-04T09:00:00"))
        );
        let now = jst("2026-12-04T12:00:00");
        assert_eq!(w.next_open(now), Some(now));
    }

    #[test]
    fn a_window_across_midnight_belongs_to_the_day_it_opens() {
        let w = window("22:00-06:00", "fri");
        assert!(w.is_open(jst("2026-12-04T23:00:00")), "Friday night");
        assert!(w.is_open(jst("2026-12-05T05:59:00")), "Saturday morning");
        assert!(!w.is_open(jst("2026-12-05T06:00:00")));
        assert!(
            !w.is_open(jst("2026-12-04T05:00:00")),
            "Friday morning is Thursday's"
        );
        assert!(!w.is_open(jst("2026-12-05T23:00:00")), "Saturday night");
        assert_eq!(
            w.next_open(jst("2026-12-05T07:00:00")),
            Some(jst("2026-12-11T22:00:00"))
        );
    }

    #[test]
    fn time_zones_follow_their_rules() {
        // New York in summer is UTC-4, in winter UTC-5.
        let w = SendWindowSettings {
            timezone: "America/New_York".into(),
            hours: "09:00-10:00".into(),
            days: "mon-sun".into(),
        }
        .parse()
        .unwrap();
        assert!(w.is_open("2026-07-01T13:30:00Z".parse().unwrap()));
        assert!(!w.is_open("2026-12-01T13:30:00Z".parse().unwrap()));
        assert!(w.is_open("2026-12-01T14:30:00Z".parse().unwrap()));
    }

    #[test]
    fn several_windows_open_together_where_they_overlap() {
        let campaign = window("09:00-19:00", "mon-sun");
        let brand = window("10:00-17:00", "mon-fri");
        assert_eq!(
            next_open_all(&[&campaign, &brand], jst("2026-12-05T08:00:00")),
            Some(jst("2026-12-07T10:00:00"))
        );
        let never = window("20:00-21:00", "mon-sun");
        assert_eq!(
            next_open_all(&[&brand, &never], jst("2026-12-05T08:00:00")),
            None
        );
    }

    #[test]
    fn the_wait_reads_for_people() {
        let tz = jiff::tz::TimeZone::get("Asia/Tokyo").unwrap();
        let now = jst("2026-12-04T02:48:00");
        assert_eq!(
            describe_wait(jst("2026-12-04T09:00:00"), now, &tz),
            "09:00 JST, in 6h 12m"
        );
        assert_eq!(
            describe_wait(jst("2026-12-07T09:00:00"), now, &tz),
            "Mon 09:00 JST, in 78h 12m"
        );
    }
}
