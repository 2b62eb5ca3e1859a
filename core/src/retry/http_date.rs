//! HTTP-date (RFC 9110 §5.6.7) → seconds since the Unix epoch, by hand.
//!
//! Accepts the three forms a recipient must: IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the obsolete RFC 850
//! form (`Sunday, 06-Nov-94 08:49:37 GMT`) and ANSI C's asctime (`Sun Nov  6 08:49:37 1994`). Anything else,
//! including an impossible date such as 31 Feb, is `None`. The day name is checked for spelling, not for
//! agreement with the date (RFC 9110 does not ask recipients to).

const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const LONG_DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Seconds since 1970-01-01T00:00:00Z for an HTTP-date in any of its three forms.
pub fn parse_http_date(s: &str) -> Option<u64> {
    let s = s.trim_matches(|c| c == ' ' || c == '\t');
    if !s.is_ascii() {
        return None;
    }
    let (day_name, rest) = s.split_at(s.find([',', ' '])?);
    if let Some(rest) = rest.strip_prefix(", ") {
        if DAYS.contains(&day_name) {
            imf_fixdate(rest)
        } else if LONG_DAYS.contains(&day_name) {
            rfc850(rest)
        } else {
            None
        }
    } else if DAYS.contains(&day_name) {
        asctime(&rest[1..])
    } else {
        None
    }
}

/// `06 Nov 1994 08:49:37 GMT`
fn imf_fixdate(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() != 24 || b[2] != b' ' || b[6] != b' ' || b[11] != b' ' || &s[20..] != " GMT" {
        return None;
    }
    let day = digits(&s[0..2])?;
    let month = month(&s[3..6])?;
    let year = digits(&s[7..11])?;
    let (h, m, sec) = time_of_day(&s[12..20])?;
    epoch_seconds(year, month, day, h, m, sec)
}

/// `06-Nov-94 08:49:37 GMT`. Two-digit years: 70–99 are 19xx, 00–69 are 20xx (RFC 9110 wants "more than 50
/// years in the future" judged against the current date, which the core does not have; this fixed pivot agrees
/// with it until 2020+50).
fn rfc850(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() != 22 || b[2] != b'-' || b[6] != b'-' || b[9] != b' ' || &s[18..] != " GMT" {
        return None;
    }
    let day = digits(&s[0..2])?;
    let month = month(&s[3..6])?;
    let yy = digits(&s[7..9])?;
    let year = if yy >= 70 { 1900 + yy } else { 2000 + yy };
    let (h, m, sec) = time_of_day(&s[10..18])?;
    epoch_seconds(year, month, day, h, m, sec)
}

/// `Nov  6 08:49:37 1994` (day padded with a space) — also accepts `Nov 06`.
fn asctime(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() != 20 || b[3] != b' ' || b[6] != b' ' || b[15] != b' ' {
        return None;
    }
    let month = month(&s[0..3])?;
    let day_text = s[4..6].trim_start_matches(' ');
    let day = digits(day_text)?;
    let (h, m, sec) = time_of_day(&s[7..15])?;
    let year = digits(&s[16..20])?;
    epoch_seconds(year, month, day, h, m, sec)
}

/// `HH:MM:SS`; 60 seconds is allowed (a leap second).
fn time_of_day(s: &str) -> Option<(u64, u64, u64)> {
    let b = s.as_bytes();
    if b.len() != 8 || b[2] != b':' || b[5] != b':' {
        return None;
    }
    let (h, m, sec) = (digits(&s[0..2])?, digits(&s[3..5])?, digits(&s[6..8])?);
    (h < 24 && m < 60 && sec <= 60).then_some((h, m, sec))
}

/// 1..=12
fn month(s: &str) -> Option<u64> {
    MONTHS.iter().position(|m| *m == s).map(|i| i as u64 + 1)
}

/// A non-empty run of ASCII digits (at most 4, so no overflow).
fn digits(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 4 || !s.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    Some(s.bytes().fold(0, |acc, d| acc * 10 + u64::from(d - b'0')))
}

fn is_leap(y: u64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: u64, m: u64) -> u64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Seconds since the epoch; `None` for dates before 1970 or days that do not exist.
fn epoch_seconds(year: u64, month: u64, day: u64, h: u64, m: u64, s: u64) -> Option<u64> {
    if year < 1970 || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    // Days before `year` since 1970, counting leap days with the Gregorian rule.
    let leaps = |y: u64| y / 4 - y / 100 + y / 400;
    let mut days = (year - 1970) * 365 + leaps(year - 1) - leaps(1969);
    days += (1..month).map(|mm| days_in_month(year, mm)).sum::<u64>();
    days += day - 1;
    Some(days * 86_400 + h * 3_600 + m * 60 + s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_http_date_three_forms_agree() {
        // RFC 9110's example, 784111777 = 1994-11-06T08:49:37Z.
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(
            parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(
            parse_http_date("Sun Nov  6 08:49:37 1994"),
            Some(784_111_777)
        );
        assert_eq!(
            parse_http_date("Sun Nov 06 08:49:37 1994"),
            Some(784_111_777)
        );
    }

    #[test]
    fn retry_http_date_known_instants() {
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(
            parse_http_date("Tue, 29 Feb 2000 12:00:00 GMT"),
            Some(951_825_600)
        );
        assert_eq!(
            parse_http_date("Tue, 24 Nov 2026 22:44:22 GMT"),
            Some(1_795_560_262)
        );
        assert_eq!(
            parse_http_date("Sat, 31 Dec 2016 23:59:60 GMT"),
            Some(1_483_228_800)
        );
        assert_eq!(
            parse_http_date("Friday, 01-Jan-21 00:00:00 GMT"),
            Some(1_609_459_200)
        );
        assert_eq!(
            parse_http_date("  Sun, 06 Nov 1994 08:49:37 GMT "),
            Some(784_111_777)
        );
    }

    #[test]
    fn retry_http_date_rejects_malformed() {
        for bad in [
            "",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 6 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 8:49:37 GMT",
            "Sun, 06 nov 1994 08:49:37 GMT",
            "Xyz, 06 Nov 1994 08:49:37 GMT",
            "Sun, 30 Feb 1994 08:49:37 GMT",
            "Sun, 29 Feb 1900 08:49:37 GMT",
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun, 06 Nov 1994 08:60:00 GMT",
            "Sun, 06 Nov 1969 08:49:37 GMT",
            "Sun, 00 Nov 1994 08:49:37 GMT",
            "Sun 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-1994 08:49:37 GMT",
            "Sun,  06 Nov 1994 08:49:37 GMT",
            "Sun Nov  6 08:49:37 94",
            "Sun Nov  6 08:49:37 1994 GMT",
            "Sun, 06 Nov 1994 08:49:37 GMT\u{e9}",
            "120",
            "Sun,",
            "Sun",
        ] {
            assert_eq!(parse_http_date(bad), None, "{bad:?}");
        }
    }
}
