//! UTC timestamps in the one form the format allows: `YYYY-MM-DDTHH:MM:SSZ`
//! (SPEC.md §3.3). Kept as Unix seconds; no clock is read here.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A UTC time with one-second resolution, between years 0000 and 9999.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

/// Days from 1970-01-01 to the civil date (proleptic Gregorian); H. Hinnant's algorithm.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

impl Timestamp {
    /// The smallest representable time, 0000-01-01T00:00:00Z.
    pub const MIN: Timestamp = Timestamp(-62_167_219_200);
    /// The largest representable time, 9999-12-31T23:59:59Z.
    pub const MAX: Timestamp = Timestamp(253_402_300_799);

    /// From Unix seconds; `None` outside years 0000 to 9999.
    pub fn from_unix(secs: i64) -> Option<Self> {
        (Self::MIN.0..=Self::MAX.0)
            .contains(&secs)
            .then_some(Self(secs))
    }

    /// Unix seconds.
    pub fn unix(self) -> i64 {
        self.0
    }

    /// Adds seconds, saturating at the representable range.
    pub fn saturating_add(self, secs: i64) -> Self {
        Self(self.0.saturating_add(secs).clamp(Self::MIN.0, Self::MAX.0))
    }

    /// Parses exactly `YYYY-MM-DDTHH:MM:SSZ`.
    pub fn parse(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        if b.len() != 20
            || b[4] != b'-'
            || b[7] != b'-'
            || b[10] != b'T'
            || b[13] != b':'
            || b[16] != b':'
            || b[19] != b'Z'
        {
            return None;
        }
        let num = |r: std::ops::Range<usize>| -> Option<i64> {
            let part = b.get(r)?;
            part.iter().try_fold(0i64, |acc, &c| {
                c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
            })
        };
        let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
        if !(1..=12).contains(&mo) || d < 1 || h > 23 || mi > 59 || se > 59 {
            return None;
        }
        let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        let month_len = match mo {
            2 if leap => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        };
        if d > month_len {
            return None;
        }
        Self::from_unix(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + se)
    }

    /// The calendar date as `YYYY-MM-DD`.
    pub fn date_string(self) -> String {
        self.text()[..10].to_owned()
    }

    /// The text `YYYY-MM-DDTHH:MM:SSZ`, built without the formatting
    /// machinery (the writer and the verifier render one per certificate date).
    pub fn text(self) -> TimestampText {
        let (y, m, d) = civil_from_days(self.0.div_euclid(86_400));
        let secs = self.0.rem_euclid(86_400);
        let mut b = *b"0000-00-00T00:00:00Z";
        let mut put = |at: usize, width: usize, mut v: i64| {
            for i in (at..at + width).rev() {
                // Each digit is 0..=9: the range check in from_unix keeps y in 0..=9999.
                b[i] = b'0' + u8::try_from(v.rem_euclid(10)).unwrap_or(0);
                v /= 10;
            }
        };
        put(0, 4, y);
        put(5, 2, m);
        put(8, 2, d);
        put(11, 2, secs / 3600);
        put(14, 2, secs / 60 % 60);
        put(17, 2, secs % 60);
        TimestampText(b)
    }
}

/// A timestamp's text, on the stack; see [`Timestamp::text`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampText([u8; 20]);

impl std::ops::Deref for TimestampText {
    type Target = str;

    fn deref(&self) -> &str {
        // Only ASCII digits and `-T:Z` are ever written.
        std::str::from_utf8(&self.0).unwrap_or("0000-00-00T00:00:00Z")
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Timestamp::parse(&s).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "invalid timestamp {s:?}, expected YYYY-MM-DDTHH:MM:SSZ"
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_known_instants() {
        for (s, u) in [
            ("1970-01-01T00:00:00Z", 0),
            ("2000-02-29T12:34:56Z", 951_827_696),
            ("2026-11-29T08:00:00Z", 1_795_939_200),
            ("9999-12-31T23:59:59Z", 253_402_300_799),
        ] {
            let t = Timestamp::parse(s).unwrap();
            assert_eq!(t.unix(), u, "{s}");
            assert_eq!(t.to_string(), s);
        }
    }

    #[test]
    fn text_round_trips_across_the_whole_range() {
        assert_eq!(&*Timestamp::MIN.text(), "0000-01-01T00:00:00Z");
        assert_eq!(&*Timestamp::MAX.text(), "9999-12-31T23:59:59Z");
        let (lo, hi) = (Timestamp::MIN.unix(), Timestamp::MAX.unix());
        let step = (hi - lo) / 100_003;
        for secs in (lo..=hi)
            .step_by(usize::try_from(step).unwrap())
            .chain([-1, 0, 1, 86_399])
        {
            let t = Timestamp::from_unix(secs).unwrap();
            assert_eq!(Timestamp::parse(&t.text()), Some(t), "{secs}");
            assert_eq!(t.date_string(), t.text()[..10]);
        }
    }

    #[test]
    fn rejects_non_canonical_forms() {
        for s in [
            "2026-11-29T08:00:00",
            "2026-11-29 08:00:00Z",
            "2026-11-29T08:00:00+00:00",
            "2026-11-29T08:00:00.0Z",
            "2026-02-29T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-11-29T24:00:00Z",
            "2026-11-29t08:00:00Z",
            "+026-11-29T08:00:00Z",
        ] {
            assert_eq!(Timestamp::parse(s), None, "{s}");
        }
    }
}
