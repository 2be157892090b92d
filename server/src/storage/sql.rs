//! A small SQL text builder that writes each backend's placeholders. The hot paths (push, pull)
//! send multi-row statements whose shape a query builder would rebuild value by value.

use sea_orm::{ConnectionTrait, DbBackend, QueryResult, Statement, Value};

use super::StorageError;

pub(crate) struct Sql {
    backend: DbBackend,
    text: String,
    values: Vec<Value>,
}

impl Sql {
    pub fn new(backend: DbBackend) -> Self {
        Self {
            backend,
            text: String::with_capacity(256),
            values: Vec::new(),
        }
    }

    pub fn push(mut self, text: &str) -> Self {
        self.text.push_str(text);
        self
    }

    pub fn push_mut(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Appends a placeholder bound to `value`.
    pub fn bind(mut self, value: impl Into<Value>) -> Self {
        self.bind_mut(value);
        self
    }

    pub fn bind_mut(&mut self, value: impl Into<Value>) -> &mut Self {
        self.values.push(value.into());
        match self.backend {
            DbBackend::Postgres => {
                self.text.push('$');
                self.text.push_str(&self.values.len().to_string());
            }
            _ => self.text.push('?'),
        }
        self
    }

    /// Appends `(?, ?, …)` bound to `values`.
    pub fn bind_list<V: Into<Value>>(&mut self, values: impl IntoIterator<Item = V>) -> &mut Self {
        self.text.push('(');
        for (i, value) in values.into_iter().enumerate() {
            if i > 0 {
                self.text.push_str(", ");
            }
            self.bind_mut(value);
        }
        self.text.push(')');
        self
    }

    pub fn build(self) -> Statement {
        Statement::from_sql_and_values(self.backend, self.text, self.values)
    }
}

pub(crate) async fn execute(conn: &impl ConnectionTrait, sql: Sql) -> Result<u64, StorageError> {
    Ok(conn.execute_raw(sql.build()).await?.rows_affected())
}

pub(crate) async fn query_all(
    conn: &impl ConnectionTrait,
    sql: Sql,
) -> Result<Vec<QueryResult>, StorageError> {
    Ok(conn.query_all_raw(sql.build()).await?)
}

pub(crate) async fn query_scalar_text(
    conn: &impl ConnectionTrait,
    sql: Sql,
) -> Result<Option<String>, StorageError> {
    match conn.query_one_raw(sql.build()).await? {
        Some(row) => Ok(Some(row.try_get_by_index::<String>(0)?)),
        None => Ok(None),
    }
}

pub(crate) async fn query_scalar_i64(
    conn: &impl ConnectionTrait,
    sql: Sql,
) -> Result<Option<i64>, StorageError> {
    match conn.query_one_raw(sql.build()).await? {
        Some(row) => Ok(Some(row.try_get_by_index::<i64>(0)?)),
        None => Ok(None),
    }
}
