//! Running the indicator projection: after a push commits, at start, and as `jmet rebuild`.

use crate::storage::{ProjectionRun, Storage, StorageError};

/// Catches the projection of these scopes up with the change feed.
pub async fn catch_up(storage: &Storage, scopes: &[String]) -> Result<ProjectionRun, StorageError> {
    let mut total = ProjectionRun::default();
    // Many scopes a transaction, since most of a run's cost is per statement; not without
    // bound, since on SQLite a run holds the one writer and submissions wait behind it (a run
    // of 200 municipalities with a submission each took about 50 ms).
    for chunk in scopes.chunks(SCOPES_PER_RUN) {
        let run = storage.project_scopes(chunk).await?;
        total.submissions += run.submissions;
        total.values += run.values;
    }
    Ok(total)
}

/// Scopes projected in one transaction.
const SCOPES_PER_RUN: usize = 200;

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
