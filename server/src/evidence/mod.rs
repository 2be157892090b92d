//! Evidence of visits: photos (resumable upload, the image pipeline, blob storage) and the GPS
//! and time checks that become flags for the supervisor.

pub mod flags;
pub mod gps;
pub mod upload;

pub use upload::{Evidence, UploadError, UploadStatus};
