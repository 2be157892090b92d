//! Values keep accumulators of their contributions, so a push moves them without reading every
//! fact of their periods; the evidence lists they stored are derived from the facts on read
//! instead (a yearly value's list grew with every submission of the year and was written again
//! on every push). A value without accumulators is recomputed from its facts when next touched.

use super::SqlMigration;

pub(crate) const MIGRATION: SqlMigration = SqlMigration {
    name: "m20261201_000017_value_accumulators",
    postgres: SCRIPT,
    sqlite: SCRIPT,
};

const SCRIPT: &str = r#"
ALTER TABLE indicator_values ADD COLUMN official_acc TEXT;
ALTER TABLE indicator_values ADD COLUMN provisional_acc TEXT;
UPDATE indicator_values SET official_evidence = '[]', provisional_evidence = '[]'
"#;
