//! The statsd line protocol, with the DogStatsD extensions: what one
//! datagram says, read without copying.
//!
//! A datagram holds one or more lines separated by `\n`:
//!
//! ```text
//! name:value|type[|@sample_rate][|#tag:value,tag2][|…]
//! ```
//!
//! with `type` one of `c` (counter), `g` (gauge; a value written with a
//! sign, `+3` or `-2`, changes the gauge instead of setting it), `ms`
//! (timer), `h` (histogram), `d` (distribution) and `s` (set, whose value
//! is any text). Counters, timers, histograms and distributions may pack
//! several values (`name:1:2:3|d`). Sections after the tags that DogStatsD
//! defines for other uses (`|c:container`, `|T1700000000`) are skipped.
//!
//! A line that breaks these rules is refused with a [`Malformed`] reason;
//! the lines around it are read as usual.
//!
//! No published crate fits here: the one statsd parser (statsd-parser
//! 0.3) dates from 2019, has no sets, distributions, gauge deltas or packed
//! values, and copies every line into a `Vec<char>`, far from the million
//! samples a second this ingest is built for.

use crate::metrics::point::MetricType;

/// The metric type a line's type code names.
fn metric_type(code: &str) -> Option<MetricType> {
    Some(match code {
        "c" => MetricType::Counter,
        "g" => MetricType::Gauge,
        "ms" => MetricType::Timer,
        "h" => MetricType::Histogram,
        "d" => MetricType::Distribution,
        "s" => MetricType::Set,
        _ => return None,
    })
}

/// What a line carries.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Reading<'a> {
    /// One or more numbers (`1`, or packed `1:2:3`), already checked.
    Numbers(&'a str),
    /// A gauge set to this value.
    GaugeSet(f64),
    /// A gauge changed by this much (`+3`, `-2`).
    GaugeDelta(f64),
    /// One member of a set.
    SetMember(&'a str),
}

/// One line of a datagram.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample<'a> {
    pub name: &'a str,
    pub kind: MetricType,
    pub reading: Reading<'a>,
    /// The share of events the client sent (`@0.1`: one in ten), in (0, 1].
    pub sample_rate: f64,
    pub tags: Tags<'a>,
}

impl<'a> Sample<'a> {
    /// The numbers of a counter, timer, histogram or distribution line.
    pub fn numbers(&self) -> impl Iterator<Item = f64> + 'a {
        let packed = match self.reading {
            Reading::Numbers(packed) => packed,
            _ => "",
        };
        Split { rest: Some(packed), byte: b':' }
            .filter(|value| !value.is_empty())
            .filter_map(|value| value.parse().ok())
    }
}

/// A line's DogStatsD tags (`env:prod,route:/a,canary`), read on demand.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tags<'a>(&'a str);

impl<'a> Tags<'a> {
    /// Each tag as (name, value); a tag without `:` has an empty value.
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, &'a str)> {
        Split { rest: Some(self.0), byte: b',' }
            .filter(|tag| !tag.is_empty())
            .map(|tag| split_once(tag, b':').unwrap_or((tag, "")))
    }

    /// The value of the first tag called `name`.
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.iter().find(|(tag, _)| *tag == name).map(|(_, value)| value)
    }

    pub fn as_str(&self) -> &'a str {
        self.0
    }
}

/// Why a line was refused; counted per reason in Vigie's own metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Malformed {
    NotUtf8,
    NoName,
    NoValue,
    NoType,
    UnknownType,
    BadValue,
    BadSampleRate,
}

impl Malformed {
    pub const ALL: [Malformed; 7] = [
        Malformed::NotUtf8,
        Malformed::NoName,
        Malformed::NoValue,
        Malformed::NoType,
        Malformed::UnknownType,
        Malformed::BadValue,
        Malformed::BadSampleRate,
    ];

    /// The reason as a metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Malformed::NotUtf8 => "not_utf8",
            Malformed::NoName => "no_name",
            Malformed::NoValue => "no_value",
            Malformed::NoType => "no_type",
            Malformed::UnknownType => "unknown_type",
            Malformed::BadValue => "bad_value",
            Malformed::BadSampleRate => "bad_sample_rate",
        }
    }
}

/// The lines of a datagram, empty ones (a trailing `\n`) left out.
pub fn lines(datagram: &[u8]) -> impl Iterator<Item = &[u8]> {
    datagram
        .split(|byte| *byte == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .filter(|line| !line.is_empty())
}

/// `text` cut at the first `byte` (ASCII), found with `memchr`: the lines
/// are short and many, and this is most of reading them.
fn split_once(text: &str, byte: u8) -> Option<(&str, &str)> {
    let at = memchr::memchr(byte, text.as_bytes())?;
    // An ASCII byte is a char boundary on both sides.
    Some((&text[..at], &text[at + 1..]))
}

/// The parts of `rest` between `byte`s (ASCII).
struct Split<'a> {
    rest: Option<&'a str>,
    byte: u8,
}

impl<'a> Iterator for Split<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let rest = self.rest?;
        match split_once(rest, self.byte) {
            Some((part, after)) => {
                self.rest = Some(after);
                Some(part)
            }
            None => self.rest.take(),
        }
    }
}

/// Reads one line.
pub fn parse_line(line: &[u8]) -> Result<Sample<'_>, Malformed> {
    let line = std::str::from_utf8(line).map_err(|_| Malformed::NotUtf8)?;
    let (name, rest) = split_once(line, b':').ok_or(Malformed::NoValue)?;
    if name.is_empty() {
        return Err(Malformed::NoName);
    }
    let mut sections = Split { rest: Some(rest), byte: b'|' };
    let value = sections.next().unwrap_or_default();
    if value.is_empty() {
        return Err(Malformed::NoValue);
    }
    let kind = match sections.next() {
        None | Some("") => return Err(Malformed::NoType),
        Some(kind) => metric_type(kind).ok_or(Malformed::UnknownType)?,
    };
    let mut sample_rate = 1.0;
    let mut tags = Tags::default();
    for section in sections {
        if let Some(rate) = section.strip_prefix('@') {
            sample_rate =
                rate.parse::<f64>().ok().filter(|rate| *rate > 0.0 && *rate <= 1.0).ok_or(Malformed::BadSampleRate)?;
        } else if let Some(list) = section.strip_prefix('#') {
            tags = Tags(list);
        }
        // Other sections (container ids, timestamps) say nothing Vigie keeps.
    }
    let number = |text: &str| text.parse::<f64>().ok().filter(|value| value.is_finite()).ok_or(Malformed::BadValue);
    let reading = match kind {
        MetricType::Set => Reading::SetMember(value),
        MetricType::Gauge if value.starts_with('+') || value.starts_with('-') => Reading::GaugeDelta(number(value)?),
        MetricType::Gauge => Reading::GaugeSet(number(value)?),
        _ => {
            for packed in (Split { rest: Some(value), byte: b':' }) {
                number(packed)?;
            }
            Reading::Numbers(value)
        }
    };
    Ok(Sample { name, kind, reading, sample_rate, tags })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(line: &str) -> Sample<'_> {
        parse_line(line.as_bytes()).unwrap_or_else(|reason| panic!("{line}: {reason:?}"))
    }

    #[test]
    fn every_metric_type_is_read() {
        let counter = parsed("page.views:3|c");
        assert_eq!((counter.name, counter.kind, counter.sample_rate), ("page.views", MetricType::Counter, 1.0));
        assert_eq!(counter.numbers().collect::<Vec<_>>(), [3.0]);
        assert_eq!(parsed("queue.depth:42|g").reading, Reading::GaugeSet(42.0));
        assert_eq!(parsed("queue.depth:+3|g").reading, Reading::GaugeDelta(3.0));
        assert_eq!(parsed("queue.depth:-2.5|g").reading, Reading::GaugeDelta(-2.5));
        assert_eq!(parsed("db.query:12.5|ms").kind, MetricType::Timer);
        assert_eq!(parsed("payload:512|h").kind, MetricType::Histogram);
        assert_eq!(parsed("latency:1:2:3.5|d").numbers().collect::<Vec<_>>(), [1.0, 2.0, 3.5]);
        assert_eq!(parsed("users:ada@example.org|s").reading, Reading::SetMember("ada@example.org"));
        assert_eq!(parsed("errors:-1|c").numbers().collect::<Vec<_>>(), [-1.0], "a counter may go down");
    }

    #[test]
    fn sample_rates_and_tags_in_either_order() {
        let sample = parsed("api.hits:1|c|@0.1|#env:prod,route:/a,canary");
        assert_eq!(sample.sample_rate, 0.1);
        assert_eq!(sample.tags.iter().collect::<Vec<_>>(), [("env", "prod"), ("route", "/a"), ("canary", "")]);
        assert_eq!(sample.tags.get("route"), Some("/a"));
        let swapped = parsed("api.hits:1|c|#env:prod|@0.5|c:container-1|T1700000000");
        assert_eq!((swapped.sample_rate, swapped.tags.get("env")), (0.5, Some("prod")));
        assert_eq!(parsed("time:1|ms|#url:http://a/b").tags.get("url"), Some("http://a/b"), "only the first : splits");
    }

    #[test]
    fn broken_lines_name_what_is_wrong() {
        for (line, reason) in [
            (&b"\xff\xfe:1|c"[..], Malformed::NotUtf8),
            (b":1|c", Malformed::NoName),
            (b"name", Malformed::NoValue),
            (b"name:|c", Malformed::NoValue),
            (b"name:1", Malformed::NoType),
            (b"name:1|", Malformed::NoType),
            (b"name:1|x", Malformed::UnknownType),
            (b"name:one|c", Malformed::BadValue),
            (b"name:1:x|d", Malformed::BadValue),
            (b"name:inf|g", Malformed::BadValue),
            (b"name:1|c|@0", Malformed::BadSampleRate),
            (b"name:1|c|@1.5", Malformed::BadSampleRate),
            (b"name:1|c|@x", Malformed::BadSampleRate),
        ] {
            assert_eq!(parse_line(line), Err(reason), "{}", String::from_utf8_lossy(line));
        }
        assert_eq!(Malformed::ALL.map(Malformed::as_str).len(), 7);
    }

    #[test]
    fn a_datagram_is_split_into_lines_and_a_bad_one_spares_its_neighbours() {
        let datagram = b"a:1|c\nbroken\r\nb:2|g\n\nc:3|ms\n";
        let results: Vec<_> = lines(datagram).map(parse_line).collect();
        assert_eq!(results.len(), 4);
        assert_eq!(results[1], Err(Malformed::NoValue));
        let names: Vec<_> = results.iter().filter_map(|result| result.ok()).map(|sample| sample.name).collect();
        assert_eq!(names, ["a", "b", "c"]);
    }
}
