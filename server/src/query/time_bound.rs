//! The time bounds of a query (`since`, `until`): an RFC 3339 time, `now`,
//! or a duration back from now such as `90s`, `15m`, `2h`, `7d`, `1w`, or
//! several together (`1h30m`).

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Nanoseconds since the epoch for `text`, relative ones counted back from
/// `now_ns`; the error says what is accepted.
pub fn parse_time_bound(text: &str, now_ns: i64) -> Result<i64, String> {
    let text = text.trim();
    if text == "now" {
        return Ok(now_ns);
    }
    if let Ok(time) = OffsetDateTime::parse(text, &Rfc3339) {
        // Nanoseconds since the epoch in an i64 reach from 1677 to 2262.
        return i64::try_from(time.unix_timestamp_nanos())
            .map_err(|_| format!("\"{text}\" is outside the years 1677 to 2262"));
    }
    parse_duration_ns(text).map(|ago| now_ns - ago).ok_or_else(|| {
        format!("\"{text}\" is not a time: use RFC 3339 (2026-11-24T13:05:00Z), now, or a duration back from now such as 15m, 2h, 7d")
    })
}

/// `1h30m` → nanoseconds.
pub fn parse_duration_ns(text: &str) -> Option<i64> {
    if text.is_empty() {
        return None;
    }
    let mut total: i64 = 0;
    let mut digits = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit: i64 = match c {
            's' => 1,
            'm' => 60,
            'h' => 3_600,
            'd' => 86_400,
            'w' => 7 * 86_400,
            _ => return None,
        };
        let count: i64 = digits.parse().ok()?;
        digits.clear();
        total = total.checked_add(count.checked_mul(unit)?.checked_mul(1_000_000_000)?)?;
    }
    digits.is_empty().then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_795_525_509_000_000_000;

    #[test]
    fn relative_absolute_and_now() {
        assert_eq!(parse_time_bound("15m", NOW), Ok(NOW - 900_000_000_000));
        assert_eq!(parse_time_bound("1h30m", NOW), Ok(NOW - 5_400_000_000_000));
        assert_eq!(parse_time_bound("2d", NOW), Ok(NOW - 172_800_000_000_000));
        assert_eq!(parse_time_bound("now", NOW), Ok(NOW));
        assert_eq!(parse_time_bound("2026-11-24T13:05:09Z", NOW), Ok(NOW));
    }

    #[test]
    fn anything_else_says_what_is_accepted() {
        for bad in ["", "15", "m", "15x", "yesterday", "99999999999999999d"] {
            let error = parse_time_bound(bad, NOW).unwrap_err();
            assert!(error.contains("RFC 3339"), "{bad}: {error}");
        }
    }

    #[test]
    fn a_time_outside_what_nanoseconds_hold_is_refused_not_wrapped() {
        // Found by tests/parsers_arbitrary_input.rs: 2300 was read as 1715.
        let error = parse_time_bound("2300-01-01 00:00:00Z", NOW).unwrap_err();
        assert!(error.contains("outside the years 1677 to 2262"), "{error}");
        assert!(parse_time_bound("1600-01-01T00:00:00Z", NOW).is_err());
        assert_eq!(parse_time_bound("2262-04-11T23:47:16.854775807Z", NOW), Ok(i64::MAX));
    }
}
