//! Hybrid logical clock.
//!
//! The wire format (15-digit milliseconds, 5-digit counter, node UUID) is fixed by the protocol,
//! and clients need a clock they can correct by a learned offset and rewind after a skew answer.
//! Crates such as `uhlc` encode time as NTP64 with the counter folded into the fraction bits and
//! read the system clock themselves, so they can express neither; this module is the classic
//! Kulkarni et al. algorithm over an explicit wall time, which keeps it pure and testable.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

/// Largest millisecond value the 15-digit text form can hold.
pub const MAX_MS: u64 = 999_999_999_999_999;
/// Largest counter the 5-digit text form can hold.
pub const MAX_COUNTER: u32 = 99_999;
/// Length of the text form: 15 + 1 + 5 + 1 + 36.
pub const TEXT_LEN: usize = 58;

/// One hybrid logical clock reading. Ordered by (ms, counter, node), which is also the byte order
/// of its text form, so a store can compare the text directly (with a binary collation).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Hlc {
    ms: u64,
    counter: u32,
    node: Uuid,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HlcError {
    #[error("an HLC is {TEXT_LEN} characters: 15 digits, '-', 5 digits, '-', a lowercase UUID")]
    Length,
    #[error("the milliseconds part must be 15 decimal digits")]
    Millis,
    #[error("the counter part must be 5 decimal digits")]
    Counter,
    #[error("the node part must be a lowercase hyphenated UUID")]
    Node,
    #[error("parts must be separated by '-'")]
    Separator,
}

impl Hlc {
    /// Builds a reading; `None` when a part does not fit the text form.
    pub fn new(ms: u64, counter: u32, node: Uuid) -> Option<Self> {
        (ms <= MAX_MS && counter <= MAX_COUNTER).then_some(Self { ms, counter, node })
    }

    pub fn ms(&self) -> u64 {
        self.ms
    }

    pub fn counter(&self) -> u32 {
        self.counter
    }

    pub fn node(&self) -> Uuid {
        self.node
    }

    /// The smallest reading strictly greater than `self` with the given node.
    fn successor(ms: u64, counter: u32, node: Uuid) -> Self {
        if counter >= MAX_COUNTER {
            // The counter has no room left: borrow one millisecond from the future.
            Self {
                ms: (ms + 1).min(MAX_MS),
                counter: 0,
                node,
            }
        } else {
            Self {
                ms,
                counter: counter + 1,
                node,
            }
        }
    }
}

impl fmt::Display for Hlc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:015}-{:05}-{}",
            self.ms,
            self.counter,
            self.node.hyphenated()
        )
    }
}

impl fmt::Debug for Hlc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hlc({self})")
    }
}

impl FromStr for Hlc {
    type Err = HlcError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let b = s.as_bytes();
        if b.len() != TEXT_LEN {
            return Err(HlcError::Length);
        }
        if b[15] != b'-' || b[21] != b'-' {
            return Err(HlcError::Separator);
        }
        let digits = |part: &[u8]| part.iter().all(u8::is_ascii_digit);
        if !digits(&b[..15]) {
            return Err(HlcError::Millis);
        }
        if !digits(&b[16..21]) {
            return Err(HlcError::Counter);
        }
        let ms = s[..15].parse().map_err(|_| HlcError::Millis)?;
        let counter = s[16..21].parse().map_err(|_| HlcError::Counter)?;
        let node_text = &s[22..];
        let node = Uuid::try_parse(node_text).map_err(|_| HlcError::Node)?;
        // Only the canonical spelling keeps text order equal to clock order.
        if node.hyphenated().to_string() != node_text {
            return Err(HlcError::Node);
        }
        Ok(Self { ms, counter, node })
    }
}

impl Serialize for Hlc {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Hlc {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A node's clock. Wall time is passed in, never read here, so the same code runs on a phone, on
/// the server and in deterministic tests. `offset_ms` corrects a wall clock known to be wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Clock {
    node: Uuid,
    last_ms: u64,
    last_counter: u32,
    offset_ms: i64,
}

impl Clock {
    pub fn new(node: Uuid) -> Self {
        Self {
            node,
            last_ms: 0,
            last_counter: 0,
            offset_ms: 0,
        }
    }

    pub fn node(&self) -> Uuid {
        self.node
    }

    pub fn offset_ms(&self) -> i64 {
        self.offset_ms
    }

    /// Sets the correction added to the wall clock, learned from the server's time.
    pub fn set_offset_ms(&mut self, offset_ms: i64) {
        self.offset_ms = offset_ms;
    }

    fn physical(&self, wall_ms: u64) -> u64 {
        wall_ms.saturating_add_signed(self.offset_ms).min(MAX_MS)
    }

    /// The last reading this clock handed out or observed.
    pub fn last(&self) -> Hlc {
        Hlc {
            ms: self.last_ms,
            counter: self.last_counter,
            node: self.node,
        }
    }

    /// A new reading for a local event: greater than every reading seen so far.
    pub fn tick(&mut self, wall_ms: u64) -> Hlc {
        let pt = self.physical(wall_ms);
        let next = if pt > self.last_ms {
            Hlc {
                ms: pt,
                counter: 0,
                node: self.node,
            }
        } else {
            Hlc::successor(self.last_ms, self.last_counter, self.node)
        };
        self.last_ms = next.ms;
        self.last_counter = next.counter;
        next
    }

    /// Takes a remote reading into account so later local readings are greater than it.
    pub fn observe(&mut self, remote: Hlc, wall_ms: u64) {
        let pt = self.physical(wall_ms);
        let (ms, counter) = if pt > self.last_ms && pt > remote.ms {
            (pt, 0)
        } else if remote.ms > self.last_ms {
            (remote.ms, remote.counter)
        } else if remote.ms == self.last_ms {
            (self.last_ms, self.last_counter.max(remote.counter))
        } else {
            (self.last_ms, self.last_counter)
        };
        self.last_ms = ms;
        self.last_counter = counter;
    }

    /// Forgets readings after `to`. Only for recovering from a wall clock that ran ahead: the
    /// caller must re-stamp every pending reading greater than `to`.
    pub fn rewind(&mut self, to: Hlc) {
        self.last_ms = to.ms;
        self.last_counter = to.counter;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(n: u8) -> Uuid {
        Uuid::from_bytes([n; 16])
    }

    #[test]
    fn text_form_matches_the_contract() {
        let node = Uuid::parse_str("0c8e5a1e-4b1f-4c1a-9d0e-2f4b6c8d0a11").unwrap();
        let hlc = Hlc::new(1_764_016_260_123, 0, node).unwrap();
        let text = "001764016260123-00000-0c8e5a1e-4b1f-4c1a-9d0e-2f4b6c8d0a11";
        assert_eq!(hlc.to_string(), text);
        assert_eq!(text.parse::<Hlc>().unwrap(), hlc);
    }

    #[test]
    fn rejects_non_canonical_text() {
        let good = "001764016260123-00000-0c8e5a1e-4b1f-4c1a-9d0e-2f4b6c8d0a11";
        assert!(good.parse::<Hlc>().is_ok());
        for bad in [
            "",
            "1764016260123-00000-0c8e5a1e-4b1f-4c1a-9d0e-2f4b6c8d0a11",
            "001764016260123-00000-0C8E5A1E-4B1F-4C1A-9D0E-2F4B6C8D0A11",
            "001764016260123_00000-0c8e5a1e-4b1f-4c1a-9d0e-2f4b6c8d0a11",
            "00176401626012a-00000-0c8e5a1e-4b1f-4c1a-9d0e-2f4b6c8d0a11",
            "001764016260123-0000x-0c8e5a1e-4b1f-4c1a-9d0e-2f4b6c8d0a11",
            "001764016260123-00000-0c8e5a1e4b1f4c1a9d0e2f4b6c8d0a11zzzz",
            "+01764016260123-00000-0c8e5a1e-4b1f-4c1a-9d0e-2f4b6c8d0a11",
        ] {
            assert!(bad.parse::<Hlc>().is_err(), "{bad:?} must not parse");
        }
    }

    #[test]
    fn ticks_are_strictly_increasing_even_when_wall_time_stands_still_or_goes_back() {
        let mut clock = Clock::new(node(1));
        let a = clock.tick(1000);
        let b = clock.tick(1000);
        let c = clock.tick(900);
        assert!(a < b && b < c);
        assert_eq!(c.ms(), 1000);
    }

    #[test]
    fn counter_overflow_borrows_a_millisecond() {
        let mut clock = Clock::new(node(1));
        clock.rewind(Hlc::new(5, MAX_COUNTER, node(1)).unwrap());
        let next = clock.tick(0);
        assert_eq!((next.ms(), next.counter()), (6, 0));
    }

    #[test]
    fn observing_a_remote_reading_moves_the_clock_past_it() {
        let mut clock = Clock::new(node(1));
        let remote = Hlc::new(50_000, 7, node(2)).unwrap();
        clock.observe(remote, 10_000);
        let next = clock.tick(10_000);
        assert!(next > remote);
        assert_eq!((next.ms(), next.counter()), (50_000, 8));
    }

    #[test]
    fn offset_corrects_the_wall_clock() {
        let mut clock = Clock::new(node(1));
        clock.set_offset_ms(-1_000);
        assert_eq!(clock.tick(5_000).ms(), 4_000);
    }

    #[test]
    fn text_order_equals_clock_order() {
        let readings = [
            Hlc::new(1, 0, node(9)).unwrap(),
            Hlc::new(1, 1, node(0)).unwrap(),
            Hlc::new(10, 0, node(0)).unwrap(),
            Hlc::new(10, 0, node(0xab)).unwrap(),
            Hlc::new(10, 0, node(0xac)).unwrap(),
        ];
        for pair in readings.windows(2) {
            assert!(pair[0] < pair[1]);
            assert!(pair[0].to_string() < pair[1].to_string());
        }
    }
}
