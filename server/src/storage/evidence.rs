//! Evidence: uploads in progress, processed photos, which visit a photo record belongs to, GPS
//! thresholds, and the flags the checks raise.

use std::collections::{BTreeMap, HashMap, HashSet};

use sea_orm::{ConnectionTrait, DbBackend};
use serde_json::Value;
use sync_protocol::{DeviceId, Scope};

use super::sql::{self, Sql};
use super::{Storage, StorageError, audit};
use crate::evidence::gps::{Flag, Thresholds};

/// An upload in progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadState {
    pub total_bytes: i64,
    pub received_bytes: i64,
}

/// A processed photo.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PhotoBlob {
    pub sha256: String,
    pub bytes: i64,
    pub format: String,
    pub width: i64,
    pub height: i64,
    pub exif: Value,
}

/// A record's merged fields, for projections.
#[derive(Debug, Clone, Default)]
pub struct MergedRecord {
    pub scope: String,
    pub deleted: bool,
    pub fields: BTreeMap<String, Value>,
}

/// A flag as stored.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StoredFlag {
    pub kind: String,
    /// The photo it concerns; empty for the visit itself.
    pub subject: String,
    pub measured: Option<f64>,
    pub threshold: Option<f64>,
    pub unit: String,
    pub message: String,
}

/// What the GPS checks need of the place of a visit.
pub struct VisitPlace {
    pub facility: Option<(f64, f64, String)>,
    pub boundary: Option<String>,
}

fn corrupt(e: impl std::fmt::Display) -> StorageError {
    StorageError::Corrupt(e.to_string())
}

impl Storage {
    pub async fn upload_state(&self, sha256: &str) -> Result<Option<UploadState>, StorageError> {
        let q = Sql::new(self.backend())
            .push("SELECT total_bytes, received_bytes FROM uploads WHERE sha256 = ")
            .bind(sha256);
        let rows = sql::query_all(&self.db, q).await?;
        rows.first()
            .map(|r| -> Result<_, StorageError> {
                Ok(UploadState {
                    total_bytes: r.try_get_by_index(0)?,
                    received_bytes: r.try_get_by_index(1)?,
                })
            })
            .transpose()
    }

    /// Starts an upload of `total` bytes, or answers the one in progress.
    pub async fn begin_upload(
        &self,
        sha256: &str,
        total: i64,
        device: &str,
        now_ms: i64,
    ) -> Result<UploadState, StorageError> {
        let write = self.write().await?;
        let q = Sql::new(self.backend())
            .push("INSERT INTO uploads (sha256, total_bytes, received_bytes, device_id, started_at_ms, updated_at_ms) VALUES (")
            .bind(sha256)
            .push(", ")
            .bind(total)
            .push(", 0, ")
            .bind(device)
            .push(", ")
            .bind(now_ms)
            .push(", ")
            .bind(now_ms)
            .push(") ON CONFLICT (sha256) DO NOTHING");
        sql::execute(&write.tx, q).await?;
        write.tx.commit().await?;
        self.upload_state(sha256)
            .await?
            .ok_or_else(|| corrupt("an upload just begun is missing"))
    }

    /// Moves the upload's offset from `from` to `to`; false when another request moved it first.
    pub async fn advance_upload(
        &self,
        sha256: &str,
        from: i64,
        to: i64,
        now_ms: i64,
    ) -> Result<bool, StorageError> {
        let write = self.write().await?;
        let q = Sql::new(self.backend())
            .push("UPDATE uploads SET received_bytes = ")
            .bind(to)
            .push(", updated_at_ms = ")
            .bind(now_ms)
            .push(" WHERE sha256 = ")
            .bind(sha256)
            .push(" AND received_bytes = ")
            .bind(from);
        let moved = sql::execute(&write.tx, q).await? == 1;
        write.tx.commit().await?;
        Ok(moved)
    }

    /// Uploads nobody continued since `before_ms`.
    pub async fn stale_uploads(&self, before_ms: i64) -> Result<Vec<String>, StorageError> {
        let q = Sql::new(self.backend())
            .push("SELECT sha256 FROM uploads WHERE updated_at_ms < ")
            .bind(before_ms)
            .push(" ORDER BY sha256");
        sql::query_all(&self.db, q)
            .await?
            .iter()
            .map(|r| r.try_get_by_index(0).map_err(StorageError::from))
            .collect()
    }

    pub async fn drop_upload(&self, sha256: &str) -> Result<(), StorageError> {
        let write = self.write().await?;
        let q = Sql::new(self.backend())
            .push("DELETE FROM uploads WHERE sha256 = ")
            .bind(sha256);
        sql::execute(&write.tx, q).await?;
        write.tx.commit().await?;
        Ok(())
    }

    pub async fn photo_blob(&self, sha256: &str) -> Result<Option<PhotoBlob>, StorageError> {
        let q = Sql::new(self.backend())
            .push("SELECT sha256, bytes, format, width, height, exif FROM photo_blobs WHERE sha256 = ")
            .bind(sha256);
        let rows = sql::query_all(&self.db, q).await?;
        let Some(r) = rows.first() else {
            return Ok(None);
        };
        Ok(Some(PhotoBlob {
            sha256: r.try_get_by_index(0)?,
            bytes: r.try_get_by_index(1)?,
            format: r.try_get_by_index(2)?,
            width: r.try_get_by_index::<i32>(3)?.into(),
            height: r.try_get_by_index::<i32>(4)?.into(),
            exif: serde_json::from_str(&r.try_get_by_index::<String>(5)?).map_err(corrupt)?,
        }))
    }

    /// Records a processed photo (its bytes are in the blob store) and ends its upload.
    pub async fn store_photo_blob(
        &self,
        blob: &PhotoBlob,
        actor: &str,
        now_ms: i64,
    ) -> Result<(), StorageError> {
        let write = self.write().await?;
        store_photo_rows(&write.tx, self.backend(), &[(blob, actor)], now_ms).await?;
        write.tx.commit().await?;
        Ok(())
    }

    /// The merged fields of records of one collection.
    pub async fn merged_records(
        &self,
        collection: &str,
        ids: &[String],
    ) -> Result<HashMap<String, MergedRecord>, StorageError> {
        let merged = super::series::merged(&self.db, self.backend(), collection, ids).await?;
        Ok(merged
            .into_iter()
            .map(|(id, m)| {
                let record = MergedRecord {
                    scope: m.scope,
                    fields: m.fields.into_iter().collect(),
                    deleted: m.deleted,
                };
                (id, record)
            })
            .collect())
    }

    /// Notes when each submission first arrived and from which phone (kept once), for the
    /// capture-time check and the review queue.
    /// Updates which visit and which bytes each photo record points to; answers the visits
    /// touched (before and after), whose flags need a new look.
    pub async fn link_photos(&self, photo_ids: &[String]) -> Result<Vec<String>, StorageError> {
        let merged = self.merged_records("photos", photo_ids).await?;
        let backend = self.backend();
        let mut touched = Vec::new();
        let write = self.write().await?;
        for id in photo_ids {
            let q = Sql::new(backend)
                .push("SELECT visit_id FROM visit_photos WHERE photo_id = ")
                .bind(id.as_str());
            if let Some(old) = sql::query_all(&write.tx, q)
                .await?
                .first()
                .and_then(|r| r.try_get_by_index::<Option<String>>(0).ok().flatten())
            {
                touched.push(old);
            }
            let q = Sql::new(backend)
                .push("DELETE FROM visit_photos WHERE photo_id = ")
                .bind(id.as_str());
            sql::execute(&write.tx, q).await?;
            let Some(record) = merged.get(id).filter(|r| !r.deleted) else {
                continue;
            };
            let text = |k: &str| {
                record
                    .fields
                    .get(k)
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            };
            let visit = text("visit");
            if let Some(v) = &visit {
                touched.push(v.clone());
            }
            let q = Sql::new(backend)
                .push("INSERT INTO visit_photos (photo_id, visit_id, sha256, scope) VALUES (")
                .bind(id.as_str())
                .push(", ")
                .bind(visit)
                .push(", ")
                .bind(text("sha256"))
                .push(", ")
                .bind(record.scope.as_str())
                .push(")");
            sql::execute(&write.tx, q).await?;
        }
        write.tx.commit().await?;
        touched.sort();
        touched.dedup();
        Ok(touched)
    }

    /// Visits with a photo of these bytes.
    pub async fn visits_with_photo(&self, sha256: &str) -> Result<Vec<String>, StorageError> {
        let q = Sql::new(self.backend())
            .push("SELECT DISTINCT visit_id FROM visit_photos WHERE visit_id IS NOT NULL AND sha256 = ")
            .bind(sha256);
        sql::query_all(&self.db, q)
            .await?
            .iter()
            .map(|r| r.try_get_by_index(0).map_err(StorageError::from))
            .collect()
    }

    /// Scopes of the photo records pointing at these bytes (who may see them depends on it).
    pub async fn photo_scopes(
        &self,
        sha256: &str,
    ) -> Result<Vec<(String, Option<String>)>, StorageError> {
        let q = Sql::new(self.backend())
            .push("SELECT scope, visit_id FROM visit_photos WHERE sha256 = ")
            .bind(sha256);
        sql::query_all(&self.db, q)
            .await?
            .iter()
            .map(|r| Ok((r.try_get_by_index(0)?, r.try_get_by_index(1)?)))
            .collect()
    }

    /// The photo records of a visit with their fields.
    pub async fn photos_of_visit(
        &self,
        visit_id: &str,
    ) -> Result<Vec<(String, MergedRecord)>, StorageError> {
        let q = Sql::new(self.backend())
            .push("SELECT photo_id FROM visit_photos WHERE visit_id = ")
            .bind(visit_id)
            .push(" ORDER BY photo_id");
        let ids: Vec<String> = sql::query_all(&self.db, q)
            .await?
            .iter()
            .map(|r| r.try_get_by_index(0))
            .collect::<Result<_, _>>()?;
        let mut merged = self.merged_records("photos", &ids).await?;
        Ok(ids
            .into_iter()
            .filter_map(|id| merged.remove(&id).map(|r| (id, r)))
            .filter(|(_, r)| !r.deleted)
            .collect())
    }

    /// The photos of each of these visits, as `photos_of_visit` answers for one.
    pub async fn photos_of_visits(
        &self,
        visit_ids: &[String],
    ) -> Result<HashMap<String, Vec<(String, MergedRecord)>>, StorageError> {
        let mut links: Vec<(String, String)> = Vec::new();
        for chunk in visit_ids.chunks(900) {
            let mut q = Sql::new(self.backend())
                .push("SELECT visit_id, photo_id FROM visit_photos WHERE visit_id IN ");
            q.bind_list(chunk.iter().map(String::as_str));
            q.push_mut(" ORDER BY visit_id, photo_id");
            for r in sql::query_all(&self.db, q).await? {
                links.push((r.try_get_by_index(0)?, r.try_get_by_index(1)?));
            }
        }
        let ids: Vec<String> = links.iter().map(|(_, p)| p.clone()).collect();
        let mut merged = self.merged_records("photos", &ids).await?;
        let mut out: HashMap<String, Vec<(String, MergedRecord)>> = HashMap::new();
        for (visit, photo) in links {
            if let Some(r) = merged.remove(&photo).filter(|r| !r.deleted) {
                out.entry(visit).or_default().push((photo, r));
            }
        }
        Ok(out)
    }

    /// When each of these submissions first arrived, for those that have.
    pub async fn first_received_many(
        &self,
        record_ids: &[String],
    ) -> Result<HashMap<String, i64>, StorageError> {
        let mut out = HashMap::new();
        for chunk in record_ids.chunks(900) {
            let mut q = Sql::new(self.backend())
                .push("SELECT record_id, first_received_ms FROM submissions WHERE record_id IN ");
            q.bind_list(chunk.iter().map(String::as_str));
            for r in sql::query_all(&self.db, q).await? {
                out.insert(r.try_get_by_index(0)?, r.try_get_by_index(1)?);
            }
        }
        Ok(out)
    }

    /// The facility visited (position and kind) and the municipality's boundary (GeoJSON).
    pub async fn visit_place(
        &self,
        scope: &str,
        facility: Option<&str>,
    ) -> Result<VisitPlace, StorageError> {
        let mut place = VisitPlace {
            facility: None,
            boundary: None,
        };
        if let Some(code) = facility {
            let q = Sql::new(self.backend())
                .push("SELECT lat, lon, kind FROM facilities WHERE code = ")
                .bind(code)
                .push(" AND municipality_code = ")
                .bind(scope);
            if let Some(r) = sql::query_all(&self.db, q).await?.first() {
                place.facility = Some((
                    r.try_get_by_index(0)?,
                    r.try_get_by_index(1)?,
                    r.try_get_by_index(2)?,
                ));
            }
        }
        let q = Sql::new(self.backend())
            .push("SELECT geometry FROM territories WHERE code = ")
            .bind(scope);
        place.boundary = sql::query_scalar_text(&self.db, q).await?;
        Ok(place)
    }

    /// Thresholds of a facility kind, or the defaults (`*`).
    pub async fn thresholds(&self, kind: Option<&str>) -> Result<Thresholds, StorageError> {
        let q = Sql::new(self.backend())
            .push("SELECT max_distance_m, max_accuracy_m, max_photo_distance_m, max_photo_age_s FROM gps_thresholds WHERE facility_kind IN ('*', ")
            .bind(kind.unwrap_or("*"))
            .push(") ORDER BY CASE WHEN facility_kind = '*' THEN 1 ELSE 0 END");
        let rows = sql::query_all(&self.db, q).await?;
        let r = rows
            .first()
            .ok_or_else(|| corrupt("no default GPS thresholds"))?;
        Ok(Thresholds {
            max_distance_m: r.try_get_by_index(0)?,
            max_accuracy_m: r.try_get_by_index(1)?,
            max_photo_distance_m: r.try_get_by_index(2)?,
            max_photo_age_s: r.try_get_by_index(3)?,
        })
    }

    /// Every kind's thresholds, `*` being the default.
    pub async fn all_thresholds(&self) -> Result<BTreeMap<String, Thresholds>, StorageError> {
        let q = Sql::new(self.backend()).push(
            "SELECT facility_kind, max_distance_m, max_accuracy_m, max_photo_distance_m, max_photo_age_s FROM gps_thresholds",
        );
        let mut out = BTreeMap::new();
        for r in sql::query_all(&self.db, q).await? {
            out.insert(
                r.try_get_by_index(0)?,
                Thresholds {
                    max_distance_m: r.try_get_by_index(1)?,
                    max_accuracy_m: r.try_get_by_index(2)?,
                    max_photo_distance_m: r.try_get_by_index(3)?,
                    max_photo_age_s: r.try_get_by_index(4)?,
                },
            );
        }
        Ok(out)
    }

    pub async fn set_thresholds(
        &self,
        kind: &str,
        t: &Thresholds,
        actor: &str,
        now_ms: i64,
    ) -> Result<(), StorageError> {
        let values = [
            t.max_distance_m,
            t.max_accuracy_m,
            t.max_photo_distance_m,
            t.max_photo_age_s,
        ];
        if values.iter().any(|v| !v.is_finite() || *v < 0.0) {
            return Err(StorageError::Invalid(
                "thresholds are numbers, not negative".into(),
            ));
        }
        let backend = self.backend();
        let write = self.write().await?;
        let q = Sql::new(backend)
            .push("INSERT INTO gps_thresholds (facility_kind, max_distance_m, max_accuracy_m, max_photo_distance_m, max_photo_age_s) VALUES (")
            .bind(kind)
            .push(", ")
            .bind(t.max_distance_m)
            .push(", ")
            .bind(t.max_accuracy_m)
            .push(", ")
            .bind(t.max_photo_distance_m)
            .push(", ")
            .bind(t.max_photo_age_s)
            .push(
                ") ON CONFLICT (facility_kind) DO UPDATE SET max_distance_m = excluded.max_distance_m, \
                 max_accuracy_m = excluded.max_accuracy_m, max_photo_distance_m = excluded.max_photo_distance_m, \
                 max_photo_age_s = excluded.max_photo_age_s",
            );
        sql::execute(&write.tx, q).await?;
        let detail = serde_json::json!({"facility_kind": kind, "thresholds": t});
        audit::record(
            &write.tx,
            backend,
            now_ms,
            actor,
            "gps_thresholds.set",
            detail.to_string(),
        )
        .await?;
        write.tx.commit().await?;
        Ok(())
    }

    /// Replaces the flags of records, in one transaction.
    pub async fn replace_flags(
        &self,
        records: &[(String, Scope, Vec<Flag>)],
        now_ms: i64,
    ) -> Result<(), StorageError> {
        if records.is_empty() {
            return Ok(());
        }
        let backend = self.backend();
        let write = self.write().await?;
        // The queue's flag count on the status row is the projector's too: take the scope's
        // turn so neither overwrites the other's newer count.
        let mut scopes: Vec<&str> = records.iter().map(|(_, s, _)| s.as_str()).collect();
        scopes.sort();
        scopes.dedup();
        for scope in scopes {
            super::series::lock_scope(&write.tx, backend, scope).await?;
        }
        let ids: Vec<&str> = records.iter().map(|(id, _, _)| id.as_str()).collect();
        for chunk in ids.chunks(900) {
            let mut q = Sql::new(backend).push("DELETE FROM flags WHERE record_id IN ");
            q.bind_list(chunk.iter().copied());
            sql::execute(&write.tx, q).await?;
        }
        let rows: Vec<(&str, &Scope, &Flag)> = records
            .iter()
            .flat_map(|(id, scope, flags)| flags.iter().map(move |f| (id.as_str(), scope, f)))
            .collect();
        insert_flags(&write.tx, backend, &rows, now_ms).await?;
        // One update per distinct count: most visits of a batch share theirs (often none).
        let mut by_count: BTreeMap<(i64, i64), Vec<&str>> = BTreeMap::new();
        for (record_id, _, flags) in records {
            let kinds = crate::evidence::gps::FlagKind::bits(flags.iter().map(|f| f.kind.as_str()));
            by_count
                .entry((flags.len() as i64, kinds))
                .or_default()
                .push(record_id.as_str());
        }
        for ((count, kinds), ids) in by_count {
            for chunk in ids.chunks(900) {
                let mut q = Sql::new(backend)
                    .push("UPDATE submission_status SET flags = ")
                    .bind(count)
                    .push(", flag_kinds = ")
                    .bind(kinds)
                    .push(" WHERE collection = 'visits' AND record_id IN ");
                q.bind_list(chunk.iter().copied());
                sql::execute(&write.tx, q).await?;
            }
        }
        write.tx.commit().await?;
        Ok(())
    }

    pub async fn flags_of(&self, record_id: &str) -> Result<Vec<StoredFlag>, StorageError> {
        let q = Sql::new(self.backend())
            .push("SELECT kind, subject, measured, threshold, unit, message FROM flags WHERE record_id = ")
            .bind(record_id)
            .push(" ORDER BY subject, kind");
        let mut out = Vec::new();
        for r in sql::query_all(&self.db, q).await? {
            out.push(StoredFlag {
                kind: r.try_get_by_index(0)?,
                subject: r.try_get_by_index(1)?,
                measured: r.try_get_by_index(2)?,
                threshold: r.try_get_by_index(3)?,
                unit: r.try_get_by_index(4)?,
                message: r.try_get_by_index(5)?,
            });
        }
        Ok(out)
    }

    /// Ids of every visit, for a full recomputation of the flags.
    pub async fn all_visit_ids(&self) -> Result<Vec<String>, StorageError> {
        let q = Sql::new(self.backend())
            .push("SELECT record_id FROM records WHERE collection = 'visits' ORDER BY rkey");
        sql::query_all(&self.db, q)
            .await?
            .iter()
            .map(|r| r.try_get_by_index(0).map_err(StorageError::from))
            .collect()
    }
}

async fn insert_flags(
    tx: &impl sea_orm::ConnectionTrait,
    backend: sea_orm::DbBackend,
    rows: &[(&str, &Scope, &Flag)],
    now_ms: i64,
) -> Result<(), StorageError> {
    for chunk in rows.chunks(500) {
        let mut q = Sql::new(backend).push(
            "INSERT INTO flags (record_id, subject, kind, scope, measured, threshold, unit, \
             message, computed_at_ms) VALUES ",
        );
        for (i, (record_id, scope, f)) in chunk.iter().enumerate() {
            if i > 0 {
                q.push_mut(", ");
            }
            q.bind_list([
                sea_orm::Value::from(*record_id),
                f.subject.as_str().into(),
                f.kind.as_str().into(),
                scope.as_str().into(),
                f.measured.into(),
                f.threshold.into(),
                f.unit.into(),
                f.message.as_str().into(),
                now_ms.into(),
            ]);
        }
        q.push_mut(" ON CONFLICT (record_id, subject, kind) DO NOTHING");
        sql::execute(tx, q).await?;
    }
    Ok(())
}

/// Notes when each submission first arrived and from which device (the review queue's order),
/// inside the push's transaction.
pub(crate) async fn note_received(
    tx: &impl sea_orm::ConnectionTrait,
    backend: sea_orm::DbBackend,
    records: &[(String, String, String, DeviceId)],
    now_ms: i64,
) -> Result<(), StorageError> {
    for chunk in records.chunks(1000) {
        let mut q = Sql::new(backend).push(
            "INSERT INTO submissions (record_id, collection, scope, first_received_ms, device_id) \
             VALUES ",
        );
        for (i, (collection, record_id, scope, device)) in chunk.iter().enumerate() {
            if i > 0 {
                q.push_mut(", ");
            }
            q.bind_list([
                sea_orm::Value::from(record_id.as_str()),
                collection.as_str().into(),
                scope.as_str().into(),
                now_ms.into(),
                device.to_string().into(),
            ]);
        }
        q.push_mut(" ON CONFLICT (record_id, collection) DO NOTHING");
        sql::execute(tx, q).await?;
    }
    Ok(())
}

/// Records processed photos inside the caller's write transaction: their rows, the end of any
/// upload of the same bytes, and an audit entry for each photo not stored before.
pub(crate) async fn store_photo_rows(
    tx: &impl ConnectionTrait,
    backend: DbBackend,
    photos: &[(&PhotoBlob, &str)],
    now_ms: i64,
) -> Result<(), StorageError> {
    let mut seen = HashSet::new();
    let photos: Vec<&(&PhotoBlob, &str)> = photos
        .iter()
        .filter(|(blob, _)| seen.insert(blob.sha256.as_str()))
        .collect();
    if photos.is_empty() {
        return Ok(());
    }
    let mut inserted = HashSet::new();
    for chunk in photos.chunks(500) {
        let mut q = Sql::new(backend).push(
            "INSERT INTO photo_blobs (sha256, bytes, format, width, height, exif, stored_at_ms) \
             VALUES ",
        );
        for (i, (blob, _)) in chunk.iter().enumerate() {
            if i > 0 {
                q.push_mut(", ");
            }
            q.bind_list([
                sea_orm::Value::from(blob.sha256.as_str()),
                blob.bytes.into(),
                blob.format.as_str().into(),
                (blob.width as i32).into(),
                (blob.height as i32).into(),
                blob.exif.to_string().into(),
                now_ms.into(),
            ]);
        }
        q.push_mut(" ON CONFLICT (sha256) DO NOTHING RETURNING sha256");
        for row in sql::query_all(tx, q).await? {
            inserted.insert(row.try_get_by_index::<String>(0)?);
        }
        let mut q = Sql::new(backend).push("DELETE FROM uploads WHERE sha256 IN ");
        q.bind_list(chunk.iter().map(|(blob, _)| blob.sha256.as_str()));
        sql::execute(tx, q).await?;
    }
    let entries: Vec<(String, String)> = photos
        .iter()
        .filter(|(blob, _)| inserted.contains(&blob.sha256))
        .map(|(blob, actor)| {
            let detail = serde_json::json!({"sha256": blob.sha256, "bytes": blob.bytes, "format": blob.format});
            ((*actor).to_owned(), detail.to_string())
        })
        .collect();
    audit::record_many(tx, backend, now_ms, "photo.store", &entries).await?;
    Ok(())
}
