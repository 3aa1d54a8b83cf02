//! Journal timestamps as people read them, in Japan Standard Time.

/// The offset of the times shown to people. The config has no time-zone setting: a campaign
/// in Japan speaks Japan Standard Time, which has had no daylight saving since 1951, so a fixed
/// +09:00 is exact (Asia/Tokyo) without a zone database.
const SHOWN_OFFSET: (i8, i8, i8) = (9, 0, 0);

/// A journal timestamp (UTC) as people read it: `2026-11-25 17:00:00 +09:00`. Text that is not
/// a journal timestamp is shown as it is.
pub fn shown_time(at: &str) -> String {
    let Some(t) = crate::journal::parse_rfc3339(at) else {
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
