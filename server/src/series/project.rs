//! Running the indicator projection: after a push commits, at start, and as `jmet rebuild`.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::storage::{ProjectionRun, Storage, StorageError};

/// Catches the projection of these scopes up with the change feed.
pub async fn catch_up(storage: &Storage, scopes: &[String]) -> Result<ProjectionRun, StorageError> {
    let mut total = ProjectionRun::default();
    // Many scopes a transaction, since most of a run's cost is per statement; not without
    // bound, since on SQLite a transaction holds the one writer and submissions wait behind it.
    // How many fit depends on how much each period holds, so the number follows how long the
    // last transactions took: on a small database 200 municipalities take about 50 ms; with a
    // million submissions one run of all 450 held the writer for over ten seconds, and every
    // submission waited that long.
    let mut rest = scopes;
    while !rest.is_empty() {
        let size = CHUNK.load(Ordering::Relaxed).clamp(1, SCOPES_PER_RUN);
        let (chunk, more) = rest.split_at(size.min(rest.len()));
        let started = std::time::Instant::now();
        let run = storage.project_scopes(chunk).await?;
        let took = started.elapsed();
        let next = if took > TRANSACTION_TARGET {
            (chunk.len() / 2).max(1)
        } else if took < TRANSACTION_TARGET / 4 && chunk.len() == size {
            (size * 2).min(SCOPES_PER_RUN)
        } else {
            size
        };
        tracing::debug!(
            scopes = chunk.len(),
            took_ms = took.as_millis() as u64,
            "projection transaction"
        );
        CHUNK.store(next, Ordering::Relaxed);
        total.submissions += run.submissions;
        total.values += run.values;
        rest = more;
    }
    Ok(total)
}

/// At most this many scopes are projected in one transaction.
const SCOPES_PER_RUN: usize = 200;
/// How long one projection transaction should hold the writer at most.
const TRANSACTION_TARGET: std::time::Duration = std::time::Duration::from_millis(200);
/// Scopes the next transaction takes, learnt from the last ones. One for the process: it
/// follows the size of the database, which its servers share.
static CHUNK: AtomicUsize = AtomicUsize::new(SCOPES_PER_RUN);

/// Catches every scope up: what a server does when it starts, in case the last one stopped
/// between a commit and its projection.
pub async fn catch_up_all(storage: &Storage) -> Result<ProjectionRun, StorageError> {
    let scopes = storage.projected_scopes().await?;
    catch_up(storage, &scopes).await
}

/// Recomputes the projection of these scopes from the merged records.
pub async fn rebuild(storage: &Storage, scopes: &[String]) -> Result<ProjectionRun, StorageError> {
    let mut total = ProjectionRun::default();
    for scope in scopes {
        let run = storage.rebuild_scope(scope).await?;
        total.submissions += run.submissions;
        total.values += run.values;
    }
    Ok(total)
}

/// Recomputes the whole projection.
pub async fn rebuild_all(storage: &Storage) -> Result<ProjectionRun, StorageError> {
    let scopes = storage.projected_scopes().await?;
    rebuild(storage, &scopes).await
}
