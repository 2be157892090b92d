//! The sync use cases: checking and merging pushed ops, serving the change feed.

mod clock;
mod collections;
pub mod comments;
mod cursor;
mod photos;
mod pull;
mod push;
pub mod recommendations;
mod submission;

pub use clock::ServerClock;
pub use collections::{CollectionAccess, collection_access};
pub use cursor::Cursor;
pub use pull::{PullOutcome, pull};
pub use push::{
    CheckedPush, PushContext, check_pushes, check_pushes_with, merge_checked, push, push_many,
};

/// Milliseconds since the Unix epoch, by the server's wall clock.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
