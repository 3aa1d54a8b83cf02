//! Numbers and durations as people read them, on the terminal and in reports.

/// `1h 02m`, `4m 10s`, `12s`.
pub fn format_duration(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    match (s / 3600, (s % 3600) / 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m {s:02}s"),
        (h, m, _) => format!("{h}h {m:02}m"),
    }
}

/// `7930000` → `7,930,000`.
pub fn group_digits(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `1person`, `20people`: a count of recipients as preview file names spell it.
pub fn people(count: u64) -> String {
    if count == 1 {
        "1person".to_string()
    } else {
        format!("{count}people")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_are_grouped_by_thousands() {
        assert_eq!(group_digits(0), "0");
        assert_eq!(group_digits(999), "999");
        assert_eq!(group_digits(1000), "1,000");
        assert_eq!(group_digits(7_930_000), "7,930,000");
    }

    #[test]
    fn durations_are_short() {
        assert_eq!(format_duration(12.4), "12s");
        assert_eq!(format_duration(250.0), "4m 10s");
        assert_eq!(format_duration(3720.0), "1h 02m");
        assert_eq!(format_duration(-5.0), "0s");
    }
}
