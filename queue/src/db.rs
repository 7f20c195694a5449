//! The database handle: SQLite (embedded) or PostgreSQL (production), chosen by the URL
//! scheme, and transactions that run hooks after they commit.
//!
//! Most statements are written once: sqlx accepts `$1` placeholders on both backends, ids are
//! TEXT, and the [`on_pool!`](crate::on_pool) / [`on_tx!`](crate::on_tx) macros expand the same code once per backend.
//!
//! The platform's schema (the queue's tables and the application's) is one migration history,
//! kept in the workspace's `migrations/` folder and applied by [`Db::migrate`] after apalis's
//! own set-up, which creates the jobs table.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, Postgres, Sqlite, SqlitePool, Transaction};

use crate::driver::{Driver, PostgresDriver, SqliteDriver};
use crate::runtime::wake::WakeHub;

/// Runs `$body` with `$p` bound to the backend's pool; both arms must yield the same type.
#[macro_export]
macro_rules! on_pool {
    ($db:expr, |$p:ident| $body:expr) => {
        match $db.pool() {
            $crate::db::Pool::Postgres($p) => $body,
            $crate::db::Pool::Sqlite($p) => $body,
        }
    };
}

/// Runs `$body` with `$c` bound to the transaction's connection; both arms must yield the same type.
#[macro_export]
macro_rules! on_tx {
    ($tx:expr, |$c:ident| $body:expr) => {
        match $tx.inner_mut() {
            $crate::db::TxInner::Postgres(t) => {
                let $c = &mut **t;
                $body
            }
            $crate::db::TxInner::Sqlite(t) => {
                let $c = &mut **t;
                $body
            }
        }
    };
}

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused or could not be reached.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A migration could not be applied.
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A row held a value this version cannot read.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The URL names no supported backend.
    #[error("unsupported database URL: {0}")]
    Url(String),
}

impl StoreError {
    /// True when the database could not be reached, as opposed to refusing a statement.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            StoreError::Database(
                sqlx::Error::PoolTimedOut
                    | sqlx::Error::PoolClosed
                    | sqlx::Error::Io(_)
                    | sqlx::Error::Tls(_)
                    | sqlx::Error::WorkerCrashed
            )
        )
    }
}

/// Which backend a [`Db`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite, embedded.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

impl Backend {
    /// Its name in lower case, as benchmark lines print it: `sqlite` or `postgres`.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// The pool of one backend.
#[derive(Debug, Clone)]
pub enum Pool {
    /// PostgreSQL pool.
    Postgres(PgPool),
    /// SQLite pool.
    Sqlite(SqlitePool),
}

/// A handle on the database, cheap to clone; shared by the API, workers and scheduler.
#[derive(Debug, Clone)]
pub struct Db {
    pool: Pool,
    wake: Arc<WakeHub>,
    driver: Arc<dyn Driver>,
    /// On SQLite, this process's writers take turns here before asking for the database's
    /// write lock (see [`WriteGate`]).
    write_gate: WriteGate,
    /// On SQLite, the background checkpoint, stopped when the last handle is dropped.
    _checkpoints: Option<Arc<AbortOnDrop>>,
}

/// A background task that ends with its owner.
#[derive(Debug)]
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// SQLite has one write lock, and a connection that finds it taken sleeps and tries again
/// (SQLite's busy handler waits 1, 2, 5, 10 ms and more between tries). Inside one process
/// the writers (transactions, the queue's claims and outcomes) queue here instead, in order,
/// and each asks for the database's lock only when the one before it has let it go; the busy
/// handler is left for other processes. On PostgreSQL the gate is open.
#[derive(Debug, Clone)]
pub(crate) struct WriteGate(Option<Arc<tokio::sync::Mutex<()>>>);

/// A turn at the [`WriteGate`], held until the write has committed or rolled back.
pub(crate) type WriteTurn = Option<tokio::sync::OwnedMutexGuard<()>>;

/// How long a writer waits for its turn, as long as SQLite's busy handler waits for the lock.
const WRITE_TURN_TIMEOUT: Duration = Duration::from_secs(30);

impl WriteGate {
    fn for_backend(sqlite: bool) -> Self {
        Self(sqlite.then(|| Arc::new(tokio::sync::Mutex::new(()))))
    }

    /// Waits for this process's turn to write; fails after as long as SQLite would wait for
    /// its lock.
    pub(crate) async fn turn(&self) -> Result<WriteTurn, StoreError> {
        let Some(gate) = &self.0 else {
            return Ok(None);
        };
        tokio::time::timeout(WRITE_TURN_TIMEOUT, gate.clone().lock_owned())
            .await
            .map(Some)
            .map_err(|_| {
                StoreError::Database(sqlx::Error::Protocol(format!(
                    "no turn to write within {} s: another write of this process holds the database",
                    WRITE_TURN_TIMEOUT.as_secs()
                )))
            })
    }
}

/// An open transaction, with the hooks to run once it has committed (the queue wakes the
/// workers of queues that received jobs inside it this way). A rollback drops the hooks.
pub struct Tx {
    inner: TxInner,
    db: Db,
    after_commit: Vec<AfterCommit>,
    /// This process's turn to write (SQLite), let go once the transaction ends.
    turn: WriteTurn,
}

/// Work to do once a transaction has committed.
type AfterCommit = Box<dyn FnOnce() + Send + 'static>;

/// The transaction of one backend.
pub enum TxInner {
    /// PostgreSQL transaction.
    Postgres(Transaction<'static, Postgres>),
    /// SQLite transaction.
    Sqlite(Transaction<'static, Sqlite>),
}

impl Db {
    /// Connects to `url`; for SQLite the file and its folder are created if missing.
    pub async fn connect(url: &SecretString, max_connections: u32) -> Result<Self, StoreError> {
        let raw = url.expose_secret();
        let pool = if raw.starts_with("sqlite:") {
            let options = sqlite_options(raw)?;
            if let Some(parent) = options.get_filename().parent()
                && !parent.as_os_str().is_empty()
            {
                std::fs::create_dir_all(parent).map_err(|e| {
                    StoreError::Url(format!("cannot create {}: {e}", parent.display()))
                })?;
            }
            Pool::Sqlite(
                SqlitePoolOptions::new()
                    .max_connections(max_connections)
                    // No ping before every use: a broken connection fails its query instead.
                    .test_before_acquire(false)
                    .connect_with(options)
                    .await?,
            )
        } else if raw.starts_with("postgres:") || raw.starts_with("postgresql:") {
            let options =
                PgConnectOptions::from_str(raw).map_err(|e| StoreError::Url(e.to_string()))?;
            Pool::Postgres(
                PgPoolOptions::new()
                    .max_connections(max_connections)
                    .acquire_timeout(Duration::from_secs(10))
                    // No ping before every use (a round trip per query): a connection that
                    // broke fails its query, which the caller retries as any other error.
                    .test_before_acquire(false)
                    .connect_with(options)
                    .await?,
            )
        } else {
            return Err(StoreError::Url(
                "the scheme must be sqlite:// or postgres://".into(),
            ));
        };
        let write_gate = WriteGate::for_backend(matches!(pool, Pool::Sqlite(_)));
        let checkpoints = match &pool {
            Pool::Sqlite(p) => Some(Arc::new(AbortOnDrop(tokio::spawn(checkpoint_wal(
                p.clone(),
            ))))),
            Pool::Postgres(_) => None,
        };
        let driver: Arc<dyn Driver> = match &pool {
            Pool::Postgres(p) => Arc::new(PostgresDriver::new(p.clone())),
            Pool::Sqlite(p) => Arc::new(SqliteDriver::new(p.clone(), write_gate.clone())),
        };
        Ok(Self {
            pool,
            wake: Arc::new(WakeHub::default()),
            driver,
            write_gate,
            _checkpoints: checkpoints,
        })
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Postgres(_) => Backend::Postgres,
            Pool::Sqlite(_) => Backend::Sqlite,
        }
    }

    /// The pool, for the [`on_pool!`](crate::on_pool) macro and the queue runtime.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// The queue's operations on this backend.
    pub(crate) fn driver(&self) -> &dyn Driver {
        self.driver.as_ref()
    }

    /// The in-process wake-up hub of the queue: its workers wait on it, and enqueueing wakes
    /// them through it after commit.
    pub fn wake_hub(&self) -> &Arc<WakeHub> {
        &self.wake
    }

    /// Starts a transaction. On SQLite it waits for this process's turn to write, then takes
    /// the write lock at once (`BEGIN IMMEDIATE`), so a transaction that reads then writes
    /// waits for the lock instead of failing mid-way.
    pub async fn begin(&self) -> Result<Tx, StoreError> {
        // The turn before the connection: a writer waiting its turn holds no connection.
        let turn = self.write_gate.turn().await?;
        let inner = match &self.pool {
            Pool::Postgres(p) => TxInner::Postgres(p.begin().await?),
            Pool::Sqlite(p) => TxInner::Sqlite(p.begin_with("BEGIN IMMEDIATE").await?),
        };
        Ok(Tx {
            inner,
            db: self.clone(),
            after_commit: Vec::new(),
            turn,
        })
    }

    /// Applies apalis's migrations, then ours. Safe to run on every start.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match &self.pool {
            Pool::Postgres(p) => {
                apalis_postgres::PostgresStorage::setup(p)
                    .await
                    .map_err(|e| StoreError::Corrupt(format!("apalis set-up failed: {e}")))?;
                let mut m = sqlx::migrate!("../migrations/postgres");
                m.dangerous_set_table_name("_zencall_migrations");
                m.run(p).await?;
            }
            Pool::Sqlite(p) => {
                // apalis's set-up turns `synchronous` OFF on the connection it uses. Run it on a
                // throw-away connection so no pooled connection ever runs without durability.
                let options = p.connect_options().as_ref().clone();
                let setup = SqlitePoolOptions::new()
                    .max_connections(1)
                    .connect_with(options)
                    .await?;
                apalis_sqlite::SqliteStorage::setup(&setup)
                    .await
                    .map_err(|e| StoreError::Corrupt(format!("apalis set-up failed: {e}")))?;
                let mut m = sqlx::migrate!("../migrations/sqlite");
                m.dangerous_set_table_name("_zencall_migrations");
                m.run(&setup).await?;
                setup.close().await;
            }
        }
        Ok(())
    }

    /// True when the database answers and every migration of this version is applied.
    pub async fn is_ready(&self) -> bool {
        let expected = match self.backend() {
            Backend::Postgres => sqlx::migrate!("../migrations/postgres").iter().count(),
            Backend::Sqlite => sqlx::migrate!("../migrations/sqlite").iter().count(),
        } as i64;
        let applied: Result<i64, sqlx::Error> = on_pool!(self, |p| sqlx::query_scalar(
            "SELECT COUNT(*) FROM _zencall_migrations WHERE success"
        )
        .fetch_one(p)
        .await);
        applied.is_ok_and(|n| n >= expected)
    }

    /// Closes every connection.
    pub async fn close(&self) {
        match &self.pool {
            Pool::Postgres(p) => p.close().await,
            Pool::Sqlite(p) => p.close().await,
        }
    }
}

/// How often the write-ahead log is copied into the database file (SQLite).
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(500);

/// Copies the write-ahead log into the database file every [`CHECKPOINT_INTERVAL`] until the
/// pool closes or the last [`Db`] handle is dropped. SQLite would otherwise do it inside
/// whichever commit crosses 1,000 pages of log, with its fsync, and that commit (a claim, an
/// enqueue) would wait for it. A passive checkpoint never waits for a writer or a reader: what
/// it cannot copy now, the next one does.
async fn checkpoint_wal(pool: SqlitePool) {
    loop {
        tokio::time::sleep(CHECKPOINT_INTERVAL).await;
        if pool.is_closed() {
            return;
        }
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&pool)
            .await
        {
            if pool.is_closed() {
                return;
            }
            tracing::warn!(error = %e, "cannot checkpoint the write-ahead log");
        }
    }
}

fn sqlite_options(url: &str) -> Result<SqliteConnectOptions, StoreError> {
    Ok(SqliteConnectOptions::from_str(url)
        .map_err(|e| StoreError::Url(e.to_string()))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // NORMAL in WAL mode: a committed transaction survives a process crash; only an OS
        // crash or power loss can roll back the last commits. Never OFF.
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(30))
        // Checkpoints run in the background (`checkpoint_wal`), not inside a commit.
        .pragma("wal_autocheckpoint", "0")
        .foreign_keys(true))
}

impl Tx {
    /// The transaction, for the [`on_tx!`](crate::on_tx) macro.
    pub fn inner_mut(&mut self) -> &mut TxInner {
        &mut self.inner
    }

    /// The database this transaction runs on.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Runs `hook` once the transaction has committed; never when it rolls back.
    pub fn after_commit(&mut self, hook: impl FnOnce() + Send + 'static) {
        self.after_commit.push(Box::new(hook));
    }

    /// Commits, then runs the after-commit hooks in the order they were added.
    pub async fn commit(self) -> Result<(), StoreError> {
        match self.inner {
            TxInner::Postgres(t) => t.commit().await?,
            TxInner::Sqlite(t) => t.commit().await?,
        }
        // The next writer's turn before the hooks: they wake workers that write.
        drop(self.turn);
        for hook in self.after_commit {
            hook();
        }
        Ok(())
    }

    /// Rolls back; dropping a `Tx` does the same.
    pub async fn rollback(self) -> Result<(), StoreError> {
        match self.inner {
            TxInner::Postgres(t) => t.rollback().await?,
            TxInner::Sqlite(t) => t.rollback().await?,
        }
        Ok(())
    }
}

/// Current time, truncated to microseconds so it round-trips through both backends.
pub fn now_micros(now: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
    use chrono::SubsecRound;
    now.trunc_subsecs(6)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    async fn sqlite_file(max_connections: u32) -> (tempfile::TempDir, Db, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gate.db");
        let url = format!("sqlite://{}", path.display());
        let db = Db::connect(&SecretString::from(url), max_connections)
            .await
            .unwrap();
        (dir, db, path)
    }

    #[tokio::test]
    async fn writers_waiting_their_turn_hold_no_connection_and_all_get_to_write() {
        let (_dir, db, _) = sqlite_file(2).await;
        let Pool::Sqlite(pool) = db.pool().clone() else {
            unreachable!()
        };
        sqlx::query("CREATE TABLE t (n INTEGER)")
            .execute(&pool)
            .await
            .unwrap();
        let first = db.begin().await.unwrap();
        let waiting: Vec<_> = (0..3)
            .map(|n| {
                let db = db.clone();
                tokio::spawn(async move {
                    let mut tx = db.begin().await.unwrap();
                    on_tx!(tx, |c| sqlx::query("INSERT INTO t VALUES ($1)")
                        .bind(n)
                        .execute(c)
                        .await
                        .map(|_| ())
                        .unwrap());
                    tx.commit().await.unwrap();
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(50)).await;
        // One connection is the first writer's; the waiting writers left the other free.
        let read = tokio::time::timeout(
            Duration::from_secs(5),
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM t").fetch_one(&pool),
        )
        .await
        .expect("a reader waited behind writers waiting their turn")
        .unwrap();
        assert_eq!(read, 0);
        first.commit().await.unwrap();
        for w in waiting {
            w.await.unwrap();
        }
        let written: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM t")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(written, 3);
    }

    #[tokio::test]
    async fn the_write_ahead_log_is_copied_into_the_database_file_in_the_background() {
        let (_dir, db, path) = sqlite_file(2).await;
        let Pool::Sqlite(pool) = db.pool().clone() else {
            unreachable!()
        };
        let autocheckpoint: i64 = sqlx::query_scalar("PRAGMA wal_autocheckpoint")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(autocheckpoint, 0, "no commit checkpoints");
        sqlx::query("CREATE TABLE t (b BLOB)")
            .execute(&pool)
            .await
            .unwrap();
        let before = std::fs::metadata(&path).unwrap().len();
        for _ in 0..64 {
            sqlx::query("INSERT INTO t VALUES (zeroblob(16384))")
                .execute(&pool)
                .await
                .unwrap();
        }
        // About 1 MB of rows, in the log first, then in the file.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while std::fs::metadata(&path).unwrap().len() < before + 1_000_000 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the database file never received the log's pages"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        db.close().await;
    }
}
