//! JMET teams and their members over time, and which member a device belongs to.

use super::SqlMigration;

pub(crate) const MIGRATION: SqlMigration = SqlMigration {
    name: "m20261124_000005_teams",
    postgres: SCRIPT,
    sqlite: SCRIPT,
};

const SCRIPT: &str = r#"
CREATE TABLE teams (
    team_id TEXT PRIMARY KEY,
    municipality_code TEXT NOT NULL REFERENCES territories (code),
    name TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);
CREATE TABLE members (
    member_id TEXT PRIMARY KEY,
    team_id TEXT NOT NULL REFERENCES teams (team_id),
    name TEXT NOT NULL,
    joined_on TEXT NOT NULL,
    left_on TEXT
);
CREATE INDEX members_team ON members (team_id);
ALTER TABLE devices ADD COLUMN member_id TEXT REFERENCES members (member_id)
"#;
