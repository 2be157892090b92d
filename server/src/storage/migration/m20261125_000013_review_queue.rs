//! The review queue and a submission's history: which record each logged op changed, which
//! device first delivered each submission, and on each derived status row what the queue sorts
//! and filters by (when it arrived, whose phone sent it, how many flags it carries and of which
//! kinds, one bit per kind in the order of `FlagKind::ALL`). The queue's index holds every
//! column the queue filters or sorts by, so a page of a queue of 100,000 is found in the index
//! alone.

use super::SqlMigration;

pub(crate) const MIGRATION: SqlMigration = SqlMigration {
    name: "m20261125_000013_review_queue",
    postgres: POSTGRES,
    sqlite: SQLITE,
};

// Only reading the op's JSON differs between the backends; `BIGINT` is an integer to SQLite too.
macro_rules! after_op_log {
    () => {
        r#"CREATE INDEX op_log_record ON op_log (record_id);
ALTER TABLE submissions ADD COLUMN device_id TEXT;
UPDATE submissions SET device_id = (
    SELECT o.device_id FROM op_log o
    WHERE o.record_id = submissions.record_id AND o.collection = submissions.collection
    ORDER BY o.received_at_ms, o.audit_seq, o.audit_pos LIMIT 1);
ALTER TABLE submission_status ADD COLUMN received_at_ms BIGINT NOT NULL DEFAULT 0;
ALTER TABLE submission_status ADD COLUMN member_id TEXT NOT NULL DEFAULT '';
ALTER TABLE submission_status ADD COLUMN flags INTEGER NOT NULL DEFAULT 0;
ALTER TABLE submission_status ADD COLUMN flag_kinds BIGINT NOT NULL DEFAULT 0;
UPDATE submission_status SET
    received_at_ms = COALESCE((SELECT s.first_received_ms FROM submissions s
        WHERE s.record_id = submission_status.record_id
          AND s.collection = submission_status.collection), 0),
    member_id = COALESCE((SELECT d.member_id FROM submissions s JOIN devices d ON d.device_id = s.device_id
        WHERE s.record_id = submission_status.record_id
          AND s.collection = submission_status.collection), ''),
    flags = (SELECT COUNT(*) FROM flags f WHERE f.record_id = submission_status.record_id);
UPDATE submission_status SET flag_kinds =
    (CASE WHEN EXISTS (SELECT 1 FROM flags f WHERE f.record_id = submission_status.record_id AND f.kind = 'no_position') THEN 1 ELSE 0 END) +
    (CASE WHEN EXISTS (SELECT 1 FROM flags f WHERE f.record_id = submission_status.record_id AND f.kind = 'low_accuracy') THEN 2 ELSE 0 END) +
    (CASE WHEN EXISTS (SELECT 1 FROM flags f WHERE f.record_id = submission_status.record_id AND f.kind = 'outside_boundary') THEN 4 ELSE 0 END) +
    (CASE WHEN EXISTS (SELECT 1 FROM flags f WHERE f.record_id = submission_status.record_id AND f.kind = 'far_from_facility') THEN 8 ELSE 0 END) +
    (CASE WHEN EXISTS (SELECT 1 FROM flags f WHERE f.record_id = submission_status.record_id AND f.kind = 'photo_position_mismatch') THEN 16 ELSE 0 END) +
    (CASE WHEN EXISTS (SELECT 1 FROM flags f WHERE f.record_id = submission_status.record_id AND f.kind = 'photo_time_mismatch') THEN 32 ELSE 0 END) +
    (CASE WHEN EXISTS (SELECT 1 FROM flags f WHERE f.record_id = submission_status.record_id AND f.kind = 'implausible_capture_time') THEN 64 ELSE 0 END);
CREATE INDEX submission_status_queue ON submission_status
    (scope, status, flags, flag_kinds, received_at_ms, captured_at, form, facility, member_id,
     record_id, collection)
"#
    };
}

const POSTGRES: &str = concat!(
    r#"
ALTER TABLE op_log ADD COLUMN record_id TEXT;
ALTER TABLE op_log ADD COLUMN collection TEXT;
UPDATE op_log SET record_id = (op::jsonb)->>'record_id', collection = (op::jsonb)->>'collection';
"#,
    after_op_log!()
);

const SQLITE: &str = concat!(
    r#"
ALTER TABLE op_log ADD COLUMN record_id TEXT;
ALTER TABLE op_log ADD COLUMN collection TEXT;
UPDATE op_log SET record_id = json_extract(op, '$.record_id'), collection = json_extract(op, '$.collection');
"#,
    after_op_log!()
);
