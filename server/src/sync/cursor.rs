//! Pull cursors: opaque to clients, `1.<database epoch>.<sequence number>` inside.

/// A position in the change feed of one database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub seq: i64,
}

impl Cursor {
    pub const START: Cursor = Cursor { seq: 0 };

    pub fn encode(self, epoch: &str) -> String {
        format!("1.{epoch}.{}", self.seq)
    }

    /// `None` when the text is not a cursor of this database.
    pub fn decode(text: &str, epoch: &str) -> Option<Self> {
        let mut parts = text.splitn(3, '.');
        let (version, their_epoch, seq) = (parts.next()?, parts.next()?, parts.next()?);
        if version != "1" || their_epoch != epoch {
            return None;
        }
        let value: i64 = seq.parse().ok()?;
        // Only the canonical spelling: "01" or "+1" were never handed out.
        (value >= 0 && value.to_string() == seq).then_some(Self { seq: value })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_other_databases() {
        let text = Cursor { seq: 42 }.encode("abc");
        assert_eq!(Cursor::decode(&text, "abc"), Some(Cursor { seq: 42 }));
        assert_eq!(Cursor::decode(&text, "xyz"), None);
        for bad in [
            "", "1.abc", "1.abc.-1", "2.abc.1", "1.abc.01", "1.abc.1x", "1.abc.+1",
        ] {
            assert_eq!(Cursor::decode(bad, "abc"), None, "{bad:?}");
        }
    }
}
