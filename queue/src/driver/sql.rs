//! Statements built at run time (the board's searches, actions and statistics): the backend's
//! dialect for the few pieces of SQL that differ, values bound as placeholders numbered in
//! order (user input only ever goes in values), and one way to run them on either backend.
//!
//! Rows read through [`Sql`] decode the same on both backends: apalis's SQLite table keeps
//! times as epoch seconds, which sqlx reads as a UTC time like PostgreSQL's timestamptz.

use sqlx::Arguments;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;

use crate::db::{Backend, Db, Pool, StoreError, Tx, TxInner};

/// A value bound to a statement built at run time.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    /// Text.
    Text(String),
    /// A time compared with apalis's columns: timestamptz, or epoch seconds on SQLite.
    Time(chrono::DateTime<chrono::Utc>),
    /// A list of ids: a text array, or a JSON array read with `json_each` on SQLite.
    Ids(Vec<String>),
}

/// A row both backends can decode.
pub(crate) trait AnyRow:
    for<'r> sqlx::FromRow<'r, PgRow> + for<'r> sqlx::FromRow<'r, SqliteRow> + Send + Unpin
{
}

impl<T> AnyRow for T where
    T: for<'r> sqlx::FromRow<'r, PgRow> + for<'r> sqlx::FromRow<'r, SqliteRow> + Send + Unpin
{
}

/// A statement built at run time for one backend.
pub(crate) struct Sql {
    backend: Backend,
    args: Vec<Arg>,
}

impl Sql {
    /// An empty statement for `backend`.
    pub(crate) fn new(backend: Backend) -> Self {
        Self {
            backend,
            args: Vec::new(),
        }
    }

    /// An empty statement for the backend of `tx`.
    pub(crate) fn for_tx(tx: &mut Tx) -> Self {
        Self::new(tx.db().backend())
    }

    /// Binds `arg`; returns its placeholder.
    pub(crate) fn bind(&mut self, arg: Arg) -> String {
        self.args.push(arg);
        format!("${}", self.args.len())
    }

    /// apalis's jobs table.
    pub(crate) fn jobs_table(&self) -> &'static str {
        match self.backend {
            Backend::Postgres => "apalis.jobs",
            Backend::Sqlite => "Jobs",
        }
    }

    /// The current time as the jobs table keeps it.
    pub(crate) fn now(&self) -> &'static str {
        match self.backend {
            Backend::Postgres => "now()",
            Backend::Sqlite => "strftime('%s', 'now')",
        }
    }

    /// The larger of two values.
    pub(crate) fn greatest(&self) -> &'static str {
        match self.backend {
            Backend::Postgres => "GREATEST",
            Backend::Sqlite => "MAX",
        }
    }

    /// A bound JSON text as the jobs table's `last_result` takes it.
    pub(crate) fn json(&mut self, text: &str) -> String {
        let p = self.bind(Arg::Text(text.to_string()));
        match self.backend {
            Backend::Postgres => format!("{p}::jsonb"),
            Backend::Sqlite => p,
        }
    }

    /// `last_result` of the table aliased `alias`, as text.
    pub(crate) fn last_result_text(&self, alias: &str) -> String {
        match self.backend {
            Backend::Postgres => format!("{alias}.last_result::text"),
            Backend::Sqlite => format!("{alias}.last_result"),
        }
    }

    /// A timestamp column as text that sorts in time order (for fingerprints).
    pub(crate) fn time_text(&self, expression: &str) -> String {
        match self.backend {
            Backend::Postgres => format!("{expression}::text"),
            Backend::Sqlite => format!("CAST({expression} AS TEXT)"),
        }
    }

    /// `column` contains the LIKE pattern bound as `pattern` (backslash escapes), ignoring
    /// case on PostgreSQL, where the trigram index serves it.
    pub(crate) fn like(&self, column: &str, pattern: &str) -> String {
        match self.backend {
            Backend::Postgres => format!("{column} ILIKE {pattern}"),
            Backend::Sqlite => format!("{column} LIKE {pattern} ESCAPE '\\'"),
        }
    }

    /// `j.id < id` (and `s.id < id` when `job_search` is joined, so its indexes can use it).
    pub(crate) fn id_below(&mut self, id: &str, searched: bool) -> String {
        let p = self.bind(Arg::Text(id.to_string()));
        if searched {
            format!("j.id < {p} AND s.id < {p}")
        } else {
            format!("j.id < {p}")
        }
    }

    /// `{column} IN ids`.
    pub(crate) fn in_ids(&mut self, column: &str, ids: Vec<String>) -> String {
        let p = self.bind(Arg::Ids(ids));
        match self.backend {
            Backend::Postgres => format!("{column} = ANY({p})"),
            Backend::Sqlite => format!("{column} IN (SELECT value FROM json_each({p}))"),
        }
    }

    fn pg_args(&self) -> Result<sqlx::postgres::PgArguments, StoreError> {
        let mut out = sqlx::postgres::PgArguments::default();
        for arg in &self.args {
            match arg {
                Arg::Text(t) => out.add(t.clone()),
                Arg::Time(t) => out.add(*t),
                Arg::Ids(ids) => out.add(ids.clone()),
            }
            .map_err(|e| StoreError::Corrupt(format!("cannot bind a value: {e}")))?;
        }
        Ok(out)
    }

    fn sqlite_args(&self) -> Result<sqlx::sqlite::SqliteArguments, StoreError> {
        let mut out = sqlx::sqlite::SqliteArguments::default();
        for arg in &self.args {
            match arg {
                Arg::Text(t) => out.add(t.clone()),
                // apalis-sqlite keeps whole seconds.
                Arg::Time(t) => out.add(t.timestamp()),
                Arg::Ids(ids) => out.add(serde_json::Value::from(ids.clone()).to_string()),
            }
            .map_err(|e| StoreError::Corrupt(format!("cannot bind a value: {e}")))?;
        }
        Ok(out)
    }

    /// Runs `statement` on `db`; every row. Not prepared on PostgreSQL: each statement is
    /// planned with its own values, so a rare value and a common one each get their plan.
    pub(crate) async fn fetch_all<T: AnyRow>(
        &self,
        db: &Db,
        statement: String,
    ) -> Result<Vec<T>, StoreError> {
        let statement = sqlx::AssertSqlSafe(statement);
        Ok(match db.pool() {
            Pool::Postgres(p) => {
                sqlx::query_as_with(statement, self.pg_args()?)
                    .persistent(false)
                    .fetch_all(p)
                    .await?
            }
            Pool::Sqlite(p) => {
                sqlx::query_as_with(statement, self.sqlite_args()?)
                    .fetch_all(p)
                    .await?
            }
        })
    }

    /// Runs `statement` on `db`; its row, if any.
    pub(crate) async fn fetch_optional<T: AnyRow>(
        &self,
        db: &Db,
        statement: String,
    ) -> Result<Option<T>, StoreError> {
        let statement = sqlx::AssertSqlSafe(statement);
        Ok(match db.pool() {
            Pool::Postgres(p) => {
                sqlx::query_as_with(statement, self.pg_args()?)
                    .persistent(false)
                    .fetch_optional(p)
                    .await?
            }
            Pool::Sqlite(p) => {
                sqlx::query_as_with(statement, self.sqlite_args()?)
                    .fetch_optional(p)
                    .await?
            }
        })
    }

    /// Runs `statement` in `tx`; every row.
    pub(crate) async fn fetch_all_in<T: AnyRow>(
        &self,
        tx: &mut Tx,
        statement: String,
    ) -> Result<Vec<T>, StoreError> {
        let statement = sqlx::AssertSqlSafe(statement);
        Ok(match tx.inner_mut() {
            TxInner::Postgres(t) => {
                sqlx::query_as_with(statement, self.pg_args()?)
                    .persistent(false)
                    .fetch_all(&mut **t)
                    .await?
            }
            TxInner::Sqlite(t) => {
                sqlx::query_as_with(statement, self.sqlite_args()?)
                    .fetch_all(&mut **t)
                    .await?
            }
        })
    }

    /// Runs `statement` on `db`; the number of rows it changed.
    pub(crate) async fn execute(&self, db: &Db, statement: String) -> Result<u64, StoreError> {
        let statement = sqlx::AssertSqlSafe(statement);
        Ok(match db.pool() {
            Pool::Postgres(p) => sqlx::query_with(statement, self.pg_args()?)
                .persistent(false)
                .execute(p)
                .await?
                .rows_affected(),
            Pool::Sqlite(p) => sqlx::query_with(statement, self.sqlite_args()?)
                .execute(p)
                .await?
                .rows_affected(),
        })
    }

    /// Runs `statement` in `tx`; the number of rows it changed.
    pub(crate) async fn execute_in(
        &self,
        tx: &mut Tx,
        statement: String,
    ) -> Result<u64, StoreError> {
        let statement = sqlx::AssertSqlSafe(statement);
        Ok(match tx.inner_mut() {
            TxInner::Postgres(t) => sqlx::query_with(statement, self.pg_args()?)
                .persistent(false)
                .execute(&mut **t)
                .await?
                .rows_affected(),
            TxInner::Sqlite(t) => sqlx::query_with(statement, self.sqlite_args()?)
                .execute(&mut **t)
                .await?
                .rows_affected(),
        })
    }
}
