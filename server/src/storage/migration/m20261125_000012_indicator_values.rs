//! Indicator values and what they rest on: each submission's derived review status, the facts
//! each submission or LSG entry contributes to an indicator, and the values per period kept up
//! to date from them; values the LSG enters; the LSG staff's assessment for the scorecard.

use super::SqlMigration;

pub(crate) const MIGRATION: SqlMigration = SqlMigration {
    name: "m20261125_000012_indicator_values",
    postgres: SCRIPT,
    sqlite: SCRIPT,
};

// `facility` is '' rather than NULL for "no facility" so it can sit in primary keys.
// `captured_at` is the local capture time as the member wrote it, without its offset: the day a
// value belongs to is the day the member saw, and text order is time order.
const SCRIPT: &str = r#"
CREATE INDEX records_scope_collection ON records (scope, collection);
CREATE TABLE submission_status (
    collection TEXT NOT NULL,
    record_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    form TEXT NOT NULL,
    facility TEXT NOT NULL,
    captured_at TEXT NOT NULL,
    status TEXT NOT NULL,
    version TEXT NOT NULL,
    PRIMARY KEY (collection, record_id)
);
CREATE INDEX submission_status_scope ON submission_status (scope, collection, form);
CREATE TABLE review_links (
    review_id TEXT PRIMARY KEY,
    collection TEXT NOT NULL,
    submission_id TEXT NOT NULL
);
CREATE INDEX review_links_submission ON review_links (submission_id, collection);
CREATE TABLE indicator_facts (
    indicator_code TEXT NOT NULL,
    source TEXT NOT NULL,
    municipality_code TEXT NOT NULL,
    facility TEXT NOT NULL,
    captured_at TEXT NOT NULL,
    grain TEXT NOT NULL,
    value DOUBLE PRECISION NOT NULL,
    official INTEGER NOT NULL,
    PRIMARY KEY (indicator_code, source)
);
CREATE INDEX indicator_facts_group ON indicator_facts (indicator_code, municipality_code, captured_at);
CREATE INDEX indicator_facts_source ON indicator_facts (source);
CREATE TABLE indicator_values (
    indicator_code TEXT NOT NULL,
    facility TEXT NOT NULL,
    period TEXT NOT NULL,
    municipality_code TEXT NOT NULL,
    period_kind TEXT NOT NULL,
    official_value DOUBLE PRECISION,
    official_n BIGINT NOT NULL,
    official_evidence TEXT NOT NULL,
    provisional_value DOUBLE PRECISION,
    provisional_n BIGINT NOT NULL,
    provisional_evidence TEXT NOT NULL,
    PRIMARY KEY (indicator_code, facility, period)
);
CREATE INDEX indicator_values_municipality ON indicator_values (municipality_code, period_kind, period);
CREATE TABLE projection_checkpoints (
    projection TEXT NOT NULL,
    scope TEXT NOT NULL,
    seq BIGINT NOT NULL,
    PRIMARY KEY (projection, scope)
);
CREATE TABLE lsg_entries (
    indicator_code TEXT NOT NULL REFERENCES indicators (code),
    period TEXT NOT NULL,
    value DOUBLE PRECISION NOT NULL,
    note TEXT NOT NULL,
    entered_by TEXT NOT NULL,
    entered_at_ms BIGINT NOT NULL,
    PRIMARY KEY (indicator_code, period)
);
CREATE TABLE lsg_assessments (
    municipality_code TEXT NOT NULL REFERENCES territories (code),
    year INTEGER NOT NULL,
    items TEXT NOT NULL,
    comment TEXT NOT NULL,
    entered_by TEXT NOT NULL,
    entered_at_ms BIGINT NOT NULL,
    PRIMARY KEY (municipality_code, year)
)
"#;
