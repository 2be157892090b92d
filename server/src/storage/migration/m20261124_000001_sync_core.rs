//! The sync core: devices and their scopes, merged records and fields, the op log, quarantine.
//!
//! Records get an internal key in arrival order (`rkey`) and field rows are keyed by it, so the
//! rows of new records append to the end of the index instead of landing at random places as
//! device-made UUIDs would: that keeps pushes as fast on a database of millions of records as on
//! an empty one.

use super::SqlMigration;

pub(crate) const MIGRATION: SqlMigration = SqlMigration {
    name: "m20261124_000001_sync_core",
    postgres: POSTGRES,
    sqlite: SQLITE,
};

// `fields.rkey` names a `records` row; the push path writes both in one transaction, and a foreign
// key would add an index probe to each of the thousands of field rows a push writes.
// HLCs and JSON texts are compared as bytes (clock order and the merge's tie-break), hence the
// "C" collation on PostgreSQL; SQLite compares TEXT bytewise by default.
const POSTGRES: &str = r#"
CREATE TABLE server_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
INSERT INTO server_meta (key, value) VALUES ('epoch', replace(gen_random_uuid()::text, '-', ''));
CREATE TABLE change_counter (
    id INTEGER PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO change_counter (id, value) VALUES (1, 0);
CREATE TABLE devices (
    device_id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    label TEXT,
    created_at_ms BIGINT NOT NULL,
    revoked_at_ms BIGINT
);
CREATE TABLE device_scopes (
    device_id TEXT NOT NULL REFERENCES devices (device_id),
    scope TEXT NOT NULL,
    PRIMARY KEY (device_id, scope)
);
CREATE TABLE records (
    rkey BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    record_id TEXT NOT NULL,
    collection TEXT NOT NULL,
    scope TEXT NOT NULL,
    created_seq BIGINT NOT NULL,
    UNIQUE (record_id, collection)
);
CREATE TABLE fields (
    rkey BIGINT NOT NULL,
    field TEXT NOT NULL,
    scope TEXT NOT NULL,
    value TEXT COLLATE "C" NOT NULL,
    hlc TEXT COLLATE "C" NOT NULL,
    seq BIGINT NOT NULL,
    PRIMARY KEY (rkey, field)
);
CREATE UNIQUE INDEX fields_scope_seq ON fields (scope, seq);
CREATE TABLE op_log (
    op_id TEXT PRIMARY KEY,
    device_id TEXT NOT NULL,
    received_at_ms BIGINT NOT NULL,
    op TEXT NOT NULL
);
CREATE TABLE quarantine (
    id BIGSERIAL PRIMARY KEY,
    op_id TEXT,
    device_id TEXT NOT NULL,
    received_at_ms BIGINT NOT NULL,
    code TEXT NOT NULL,
    message TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX quarantine_device ON quarantine (device_id, id)
"#;

const SQLITE: &str = r#"
CREATE TABLE server_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
INSERT INTO server_meta (key, value) VALUES ('epoch', lower(hex(randomblob(16))));
CREATE TABLE change_counter (
    id INTEGER PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT INTO change_counter (id, value) VALUES (1, 0);
CREATE TABLE devices (
    device_id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    label TEXT,
    created_at_ms INTEGER NOT NULL,
    revoked_at_ms INTEGER
);
CREATE TABLE device_scopes (
    device_id TEXT NOT NULL REFERENCES devices (device_id),
    scope TEXT NOT NULL,
    PRIMARY KEY (device_id, scope)
) WITHOUT ROWID;
CREATE TABLE records (
    rkey INTEGER PRIMARY KEY,
    record_id TEXT NOT NULL,
    collection TEXT NOT NULL,
    scope TEXT NOT NULL,
    created_seq INTEGER NOT NULL,
    UNIQUE (record_id, collection)
);
CREATE TABLE fields (
    rkey INTEGER NOT NULL,
    field TEXT NOT NULL,
    scope TEXT NOT NULL,
    value TEXT NOT NULL,
    hlc TEXT NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (rkey, field)
) WITHOUT ROWID;
CREATE UNIQUE INDEX fields_scope_seq ON fields (scope, seq);
CREATE TABLE op_log (
    op_id TEXT PRIMARY KEY,
    device_id TEXT NOT NULL,
    received_at_ms INTEGER NOT NULL,
    op TEXT NOT NULL
);
CREATE TABLE quarantine (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    op_id TEXT,
    device_id TEXT NOT NULL,
    received_at_ms INTEGER NOT NULL,
    code TEXT NOT NULL,
    message TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX quarantine_device ON quarantine (device_id, id)
"#;
