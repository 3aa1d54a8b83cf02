//! Time as tsuchi writes and shows it: RFC 3339 UTC in every file it keeps (milliseconds in the
//! journal, whole seconds in approvals, which people read), and Japan Standard Time on screen.

use time::OffsetDateTime;

/// The current time as RFC 3339 UTC with milliseconds: `2026-11-25T08:00:00.123Z`.
pub fn now_rfc3339() -> String {
    format_rfc3339(OffsetDateTime::now_utc())
}

/// Formats a time as the journal writes it (UTC, milliseconds, `Z`).
pub fn format_rfc3339(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    at.format(&fmt).expect("UTC time formats")
}

/// Parses the UTC timestamps the journal writes (`YYYY-MM-DDTHH:MM:SS[.fff…]Z`). Other offsets
/// are not accepted: the journal only ever writes UTC. (`time` is built without its parser.)
pub fn parse_rfc3339(s: &str) -> Option<OffsetDateTime> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' {
        return None;
    }
    if b[16] != b':' || *b.last()? != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let t = s.get(r)?;
        if t.bytes().all(|c| c.is_ascii_digit()) {
            t.parse().ok()
        } else {
            None
        }
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let frac = &s[19..s.len() - 1];
    let nanos = if frac.is_empty() {
        0
    } else {
        let digits = frac.strip_prefix('.')?;
        if digits.is_empty() || digits.len() > 9 || !digits.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        digits.parse::<u32>().ok()? * 10u32.pow(9 - digits.len() as u32)
    };
    let month = time::Month::try_from(u8::try_from(month).ok()?).ok()?;
    let date = time::Date::from_calendar_date(year as i32, month, u8::try_from(day).ok()?).ok()?;
    let clock = time::Time::from_hms_nano(hour as u8, minute as u8, second as u8, nanos).ok()?;
    Some(time::PrimitiveDateTime::new(date, clock).assume_utc())
}

/// The current time as RFC 3339 UTC in whole seconds (`2026-11-25T09:00:00Z`), for records people
/// read (approvals).
pub fn now_rfc3339_seconds() -> String {
    let now = OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .expect("0 ns is valid");
    now.format(&time::format_description::well_known::Rfc3339)
        .expect("a UTC time formats as RFC 3339")
}

/// The offset of the times shown to people. The config has no time-zone setting: a campaign
/// in Japan speaks Japan Standard Time, which has had no daylight saving since 1951, so a fixed
/// +09:00 is exact (Asia/Tokyo) without a zone database.
const SHOWN_OFFSET: (i8, i8, i8) = (9, 0, 0);

/// A journal timestamp (UTC) as people read it: `2026-11-25 17:00:00 +09:00`. Text that is not
/// a journal timestamp is shown as it is.
pub fn shown_time(at: &str) -> String {
    let Some(t) = parse_rfc3339(at) else {
        return at.to_string();
    };
    let (h, m, s) = SHOWN_OFFSET;
    let offset = time::UtcOffset::from_hms(h, m, s).expect("a valid offset");
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second] [offset_hour sign:mandatory]:[offset_minute]"
    );
    t.to_offset(offset)
        .format(&fmt)
        .unwrap_or_else(|_| at.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip() {
        let now = OffsetDateTime::now_utc();
        let text = format_rfc3339(now);
        let back = parse_rfc3339(&text).unwrap();
        assert!((now - back).abs() < time::Duration::milliseconds(1));
        assert!(parse_rfc3339("2026-11-25T08:00:00Z").is_some());
        assert!(parse_rfc3339("2026-11-25T08:00:00+09:00").is_none());
        assert!(parse_rfc3339("2026-13-25T08:00:00Z").is_none());
    }

    #[test]
    fn people_read_japan_standard_time() {
        assert_eq!(
            shown_time("2026-11-25T08:00:00.123Z"),
            "2026-11-25 17:00:00 +09:00"
        );
        assert_eq!(shown_time("not a time"), "not a time");
        assert!(now_rfc3339_seconds().ends_with('Z') && !now_rfc3339_seconds().contains('.'));
    }
}
