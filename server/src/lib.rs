//! The `jmet` server: HTTP API, storage and the sync use cases.

pub mod access;
pub mod accounts;
pub mod api;
pub mod blobs;
pub mod council;
mod csv_rows;
pub mod demo;
pub mod enrollment;
pub mod error;
pub mod evidence;
pub mod facility;
pub mod ids;
pub mod indicator;
pub mod media;
pub mod open;
pub mod openrosa;
pub mod review;
pub mod sedp;
pub mod series;
pub mod serve;
pub mod storage;
pub mod sync;
pub mod territory;
pub mod web;
pub mod xlsform;

pub use api::{Settings, build_app};
pub use storage::{Location, Storage};
