//! The review queue: submissions by status, place, form, member, flags and capture day, read from
//! the derived status rows (one indexed table, so a queue of 100,000 stays fast).

use std::collections::BTreeMap;

use super::sql::{self, Sql};
use super::{Storage, StorageError};
use crate::review::queue::{FlagFilter, PAGE_SIZE, QueuePage, QueueQuery, QueueRow, Sort};

fn visible_list(q: &mut Sql, visible: &[String]) {
    if visible.is_empty() {
        // Nothing is visible; `IN ()` is not SQL.
        q.push_mut("('')");
    } else {
        q.bind_list(visible.iter().map(String::as_str));
    }
}

/// `FROM … WHERE` and the conditions of every filter but the status.
fn from_where(q: &mut Sql, query: &QueueQuery) {
    q.push_mut(" FROM submission_status WHERE ");
    q.push_mut("1 = 1");
    if let Some(visible) = &query.visible {
        q.push_mut(" AND scope IN ");
        visible_list(q, visible);
    }
    let equal = [
        ("scope", &query.municipality),
        ("form", &query.form),
        ("facility", &query.facility),
        ("member_id", &query.member),
    ];
    for (column, value) in equal {
        if let Some(v) = value {
            q.push_mut(&format!(" AND {column} = "));
            q.bind_mut(v.as_str());
        }
    }
    match &query.flag {
        FlagFilter::Any => {}
        FlagFilter::Unflagged => {
            q.push_mut(" AND flags = 0");
        }
        FlagFilter::Flagged => {
            q.push_mut(" AND flags > 0");
        }
        FlagFilter::Kind(kind) => {
            // One bit per kind on the row, so the filter reads the queue index alone.
            let bit = crate::evidence::gps::FlagKind::bits([kind.as_str()]);
            q.push_mut(" AND flags > 0 AND (flag_kinds & ");
            q.bind_mut(bit);
            q.push_mut(") <> 0");
        }
    }
    // `captured_at` is local time as text; a day's end is before the next day.
    if let Some(from) = &query.from {
        q.push_mut(" AND captured_at >= ");
        q.bind_mut(from.as_str());
    }
    if let Some(to) = &query.to {
        q.push_mut(" AND captured_at < ");
        q.bind_mut(format!("{to}\u{7f}"));
    }
}

impl Storage {
    pub async fn review_queue(&self, query: &QueueQuery) -> Result<QueuePage, StorageError> {
        let statuses = query.status.statuses();
        // Counts and the page are independent reads: on two cores they take half the time
        // side by side (SQLite readers do not block each other in WAL mode).
        let (counts, keys) = tokio::try_join!(
            self.queue_counts(query),
            self.queue_keys(query, &statuses, query.page.max(1))
        )?;
        let total: i64 = counts
            .iter()
            .filter(|(s, _)| statuses.is_empty() || statuses.iter().any(|x| x.as_str() == *s))
            .map(|(_, n)| n)
            .sum();
        let pages = (total.max(0) as u64).div_ceil(PAGE_SIZE).max(1);
        let page = query.page.clamp(1, pages);
        let keys = if page == query.page.max(1) {
            keys
        } else {
            self.queue_keys(query, &statuses, page).await?
        };
        let mut rows = Vec::with_capacity(keys.len());
        let mut found: BTreeMap<(String, String), QueueRow> = BTreeMap::new();
        for collection in crate::review::SUBMISSIONS {
            let ids: Vec<&str> = keys
                .iter()
                .filter(|(c, _)| c == collection)
                .map(|(_, id)| id.as_str())
                .collect();
            if ids.is_empty() {
                continue;
            }
            // By the whole primary key: `record_id` alone would scan the table.
            let mut q = Sql::new(self.backend()).push(&format!(
                "SELECT {COLUMNS} FROM submission_status WHERE collection = "
            ));
            q.bind_mut(collection);
            q.push_mut(" AND record_id IN ");
            q.bind_list(ids);
            for row in sql::query_all(&self.db, q).await? {
                let row = queue_row(&row)?;
                found.insert((row.collection.clone(), row.id.clone()), row);
            }
        }
        rows.extend(keys.iter().filter_map(|k| found.remove(k)));
        self.name_members(&mut rows).await?;
        Ok(QueuePage {
            rows,
            counts,
            total,
            page,
            pages,
        })
    }

    async fn queue_counts(
        &self,
        query: &QueueQuery,
    ) -> Result<BTreeMap<String, i64>, StorageError> {
        let mut q = Sql::new(self.backend()).push("SELECT status, COUNT(*)");
        from_where(&mut q, query);
        q.push_mut(" GROUP BY status");
        let mut counts = BTreeMap::new();
        for row in sql::query_all(&self.db, q).await? {
            counts.insert(
                row.try_get_by_index::<String>(0)?,
                row.try_get_by_index::<i64>(1)?,
            );
        }
        Ok(counts)
    }

    /// The keys of a page, from the queue index alone (it holds every column a filter or an
    /// order reads): sorting 100,000 narrow index entries is far cheaper than visiting 100,000
    /// table rows.
    async fn queue_keys(
        &self,
        query: &QueueQuery,
        statuses: &[sync_protocol::review::ReviewStatus],
        page: u64,
    ) -> Result<Vec<(String, String)>, StorageError> {
        let mut q = Sql::new(self.backend()).push("SELECT collection, record_id");
        from_where(&mut q, query);
        if !statuses.is_empty() {
            q.push_mut(" AND status IN ");
            q.bind_list(statuses.iter().map(|s| s.as_str()));
        }
        q.push_mut(match query.sort {
            Sort::Oldest => " ORDER BY received_at_ms, record_id",
            Sort::Newest => " ORDER BY received_at_ms DESC, record_id",
            Sort::Flags => " ORDER BY flags DESC, received_at_ms, record_id",
        });
        q.push_mut(" LIMIT ");
        q.bind_mut(PAGE_SIZE as i64);
        q.push_mut(" OFFSET ");
        q.bind_mut(((page - 1) * PAGE_SIZE) as i64);
        let mut keys = Vec::new();
        for row in sql::query_all(&self.db, q).await? {
            keys.push((row.try_get_by_index(0)?, row.try_get_by_index(1)?));
        }
        Ok(keys)
    }

    /// One submission's line of the queue.
    pub async fn queue_row(
        &self,
        collection: &str,
        record_id: &str,
    ) -> Result<Option<QueueRow>, StorageError> {
        let q = Sql::new(self.backend())
            .push(&format!(
                "SELECT {COLUMNS} FROM submission_status WHERE collection = "
            ))
            .bind(collection)
            .push(" AND record_id = ")
            .bind(record_id);
        let mut rows = Vec::new();
        for row in sql::query_all(&self.db, q).await? {
            rows.push(queue_row(&row)?);
        }
        self.name_members(&mut rows).await?;
        Ok(rows.pop())
    }

    async fn name_members(&self, rows: &mut [QueueRow]) -> Result<(), StorageError> {
        let mut ids: Vec<&str> = rows
            .iter()
            .map(|r| r.member_id.as_str())
            .filter(|m| !m.is_empty())
            .collect();
        ids.sort();
        ids.dedup();
        if !ids.is_empty() {
            let mut q = Sql::new(self.backend())
                .push("SELECT member_id, name FROM members WHERE member_id IN ");
            q.bind_list(ids.iter().copied());
            let mut names = BTreeMap::new();
            for row in sql::query_all(&self.db, q).await? {
                names.insert(
                    row.try_get_by_index::<String>(0)?,
                    row.try_get_by_index::<String>(1)?,
                );
            }
            for r in rows.iter_mut() {
                r.member_name = names.get(&r.member_id).cloned();
            }
        }
        Ok(())
    }
}

const COLUMNS: &str = "collection, record_id, scope, form, facility, captured_at, status, version, \
                       received_at_ms, member_id, CAST(flags AS BIGINT)";

fn queue_row(row: &sea_orm::QueryResult) -> Result<QueueRow, StorageError> {
    Ok(QueueRow {
        collection: row.try_get_by_index(0)?,
        id: row.try_get_by_index(1)?,
        municipality: row.try_get_by_index(2)?,
        form: row.try_get_by_index(3)?,
        facility: row.try_get_by_index(4)?,
        captured_at: row.try_get_by_index(5)?,
        status: row.try_get_by_index(6)?,
        version: row.try_get_by_index(7)?,
        received_at_ms: row.try_get_by_index(8)?,
        member_id: row.try_get_by_index(9)?,
        member_name: None,
        flags: row.try_get_by_index(10)?,
    })
}
