//! Evidence: photo uploads in progress, processed photos (their bytes live in the blob store, named
//! by hash), which visit each photo record belongs to, GPS thresholds per facility kind, and the
//! flags the checks raise on submissions.

use super::SqlMigration;

pub(crate) const MIGRATION: SqlMigration = SqlMigration {
    name: "m20261124_000011_evidence",
    postgres: SCRIPT,
    sqlite: SCRIPT,
};

const SCRIPT: &str = r#"
CREATE TABLE uploads (
    sha256 TEXT PRIMARY KEY,
    total_bytes BIGINT NOT NULL,
    received_bytes BIGINT NOT NULL,
    device_id TEXT NOT NULL,
    started_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);
CREATE TABLE photo_blobs (
    sha256 TEXT PRIMARY KEY,
    bytes BIGINT NOT NULL,
    format TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    exif TEXT NOT NULL,
    stored_at_ms BIGINT NOT NULL
);
CREATE TABLE visit_photos (
    photo_id TEXT PRIMARY KEY,
    visit_id TEXT,
    sha256 TEXT,
    scope TEXT NOT NULL
);
CREATE INDEX visit_photos_visit ON visit_photos (visit_id);
CREATE INDEX visit_photos_sha ON visit_photos (sha256);
CREATE TABLE gps_thresholds (
    facility_kind TEXT PRIMARY KEY,
    max_distance_m DOUBLE PRECISION NOT NULL,
    max_accuracy_m DOUBLE PRECISION NOT NULL,
    max_photo_distance_m DOUBLE PRECISION NOT NULL,
    max_photo_age_s DOUBLE PRECISION NOT NULL
);
INSERT INTO gps_thresholds VALUES ('*', 500, 50, 500, 86400);
INSERT INTO gps_thresholds VALUES ('road', 3000, 50, 3000, 86400);
CREATE TABLE submissions (
    record_id TEXT NOT NULL,
    collection TEXT NOT NULL,
    scope TEXT NOT NULL,
    first_received_ms BIGINT NOT NULL,
    PRIMARY KEY (record_id, collection)
);
CREATE TABLE flags (
    record_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    kind TEXT NOT NULL,
    scope TEXT NOT NULL,
    measured DOUBLE PRECISION,
    threshold DOUBLE PRECISION,
    unit TEXT NOT NULL,
    message TEXT NOT NULL,
    computed_at_ms BIGINT NOT NULL,
    PRIMARY KEY (record_id, subject, kind)
);
CREATE INDEX flags_scope ON flags (scope)
"#;
