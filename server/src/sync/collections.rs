//! Which collections exist and who writes them. Field-level checks against form definitions
//! arrive with the domain; until then a known collection takes any well-formed fields.

use sync_protocol::Collection;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CollectionAccess {
    /// Devices push and pull it.
    DeviceWritable,
    /// Reference data: devices only pull it.
    ReadOnly,
}

/// Records members capture in the field.
const DEVICE_WRITABLE: &[&str] = &[
    "visits",
    "survey_responses",
    "photos",
    "comments",
    "recommendations",
    "votes",
];
/// Reference data the server publishes to devices.
const READ_ONLY: &[&str] = &[
    "territories",
    "facilities",
    "forms",
    "indicators",
    "reviews",
];

pub fn collection_access(collection: &Collection) -> Option<CollectionAccess> {
    let name = collection.as_str();
    if DEVICE_WRITABLE.contains(&name) {
        Some(CollectionAccess::DeviceWritable)
    } else if READ_ONLY.contains(&name) {
        Some(CollectionAccess::ReadOnly)
    } else {
        None
    }
}

/// Names of the collections devices may write, for messages.
pub fn writable_names() -> String {
    DEVICE_WRITABLE.join(", ")
}
