//! Typed identifiers and names. Each name type only exists in its valid form, so a value that
//! reached a store or a path has been checked once, at the edge.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new time-ordered id (UUIDv7). Any UUID is valid on the wire; time-ordered ones
            /// land at the end of the server's indexes instead of at random places, which keeps
            /// a large database as fast to write as an empty one.
            pub fn generate() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::try_parse(s).map(Self)
            }
        }
    };
}

uuid_id!(
    /// Identifies one op; the server applies an op id at most once.
    OpId
);
uuid_id!(
    /// Identifies a record within its collection; made on the device.
    RecordId
);
uuid_id!(
    /// A device, which is also the node id of the clock readings it makes.
    DeviceId
);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} {value:?} is not valid: {rule}")]
pub struct NameError {
    pub kind: &'static str,
    pub value: String,
    pub rule: &'static str,
}

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $max:expr, $rule:literal, $first:expr, $rest:expr) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub const MAX_LEN: usize = $max;
            pub const RULE: &'static str = $rule;

            pub fn parse(value: impl Into<String>) -> Result<Self, NameError> {
                let value = value.into();
                let first: fn(char) -> bool = $first;
                let rest: fn(char) -> bool = $rest;
                let mut chars = value.chars();
                let ok = value.len() <= Self::MAX_LEN
                    && chars.next().is_some_and(first)
                    && chars.all(rest);
                if ok {
                    Ok(Self(value))
                } else {
                    Err(NameError { kind: $kind, value, rule: $rule })
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = NameError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                Self::parse(text).map_err(serde::de::Error::custom)
            }
        }
    };
}

name_type!(
    /// A collection of records, such as `visits`.
    Collection,
    "collection",
    64,
    "1 to 64 characters: a lowercase ASCII letter, then lowercase letters, digits or '_'",
    |c| c.is_ascii_lowercase(),
    |c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'
);

name_type!(
    /// A form definition, such as `water_visit`. Answers name it in their `form` field and keep
    /// it for life, so the alphabet is as plain as a collection's: it travels in exports, file
    /// names and indicator rules unquoted.
    FormId,
    "form id",
    64,
    "1 to 64 characters: a lowercase ASCII letter, then lowercase letters, digits or '_'",
    |c| c.is_ascii_lowercase(),
    |c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'
);

name_type!(
    /// The partition a record belongs to for life (for JMET data, its municipality).
    Scope,
    "scope",
    128,
    "1 to 128 characters: an ASCII letter or digit, then letters, digits, '_', '.', ':' or '-'",
    |c| c.is_ascii_alphanumeric(),
    |c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-')
);

name_type!(
    /// A field of a record. Names follow XML/XLSForm naming so forms map onto fields one to one.
    FieldName,
    "field name",
    64,
    "1 to 64 characters: an ASCII letter or '_', then letters, digits, '_', '.' or '-'",
    |c| c.is_ascii_alphabetic() || c == '_',
    |c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_accept_their_alphabet_only() {
        assert!(Collection::parse("visits").is_ok());
        assert!(Collection::parse("survey_responses2").is_ok());
        for bad in [
            "",
            "Visits",
            "2visits",
            "vis its",
            "../etc",
            "a".repeat(65).as_str(),
        ] {
            assert!(Collection::parse(bad).is_err(), "{bad:?}");
        }
        assert!(Scope::parse("KG-NAR-01").is_ok());
        assert!(Scope::parse("ayil:kara-suu.2").is_ok());
        for bad in ["", "-x", "a/b", "a b", "..", "a\0b", "ü"] {
            assert!(Scope::parse(bad).is_err(), "{bad:?}");
        }
        assert!(FieldName::parse("water_ok").is_ok());
        assert!(FieldName::parse("_gps.accuracy").is_ok());
        for bad in ["", "1x", "$deleted", "a b", "a/b"] {
            assert!(FieldName::parse(bad).is_err(), "{bad:?}");
        }
    }
}
