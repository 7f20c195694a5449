//! Fresh databases for tests, so tests run in parallel: a new SQLite file always, and a new
//! PostgreSQL database when `ZENCALL_TEST_DATABASE_URL` is set. When it is set but the server
//! is unreachable, tests fail loudly; when it is not set, PostgreSQL tests say they were skipped.

use std::path::PathBuf;

use secrecy::SecretString;

use crate::db::{Backend, Db};

/// The variable naming the PostgreSQL server tests may create databases on.
pub const DATABASE_ENV: &str = "ZENCALL_TEST_DATABASE_URL";

/// A migrated database that exists only for one test.
pub struct TestDb {
    /// The database.
    pub db: Db,
    /// Its URL, for processes the test spawns.
    pub url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    File(PathBuf),
    Postgres { admin_url: String, name: String },
}

impl TestDb {
    /// A new SQLite database in a temporary file.
    pub async fn sqlite() -> TestDb {
        let dir = std::env::temp_dir().join(format!("zencall-test-{}", ulid::Ulid::generate()));
        let url = format!("sqlite://{}", dir.join("zencall.db").display());
        let db = Db::connect(&SecretString::from(url.clone()), 8)
            .await
            .expect("open a test SQLite database");
        db.migrate()
            .await
            .expect("migrate the test SQLite database");
        TestDb {
            db,
            url,
            cleanup: Cleanup::File(dir),
        }
    }

    /// A new PostgreSQL database, or `None` (after saying so) when the variable is not set.
    pub async fn postgres() -> Option<TestDb> {
        let Ok(admin_url) = std::env::var(DATABASE_ENV) else {
            eprintln!("skipped on PostgreSQL: {DATABASE_ENV} is not set");
            return None;
        };
        let name = format!(
            "zencall_test_{}",
            ulid::Ulid::generate().to_string().to_lowercase()
        );
        let admin = Db::connect(&SecretString::from(admin_url.clone()), 1)
            .await
            .unwrap_or_else(|e| panic!("{DATABASE_ENV} is set but PostgreSQL is unreachable: {e}"));
        if let crate::db::Pool::Postgres(p) = admin.pool() {
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(p)
                .await
                .expect("create a test database");
        }
        admin.close().await;
        let url = with_database(&admin_url, &name);
        let db = Db::connect(&SecretString::from(url.clone()), 8)
            .await
            .expect("open the test PostgreSQL database");
        db.migrate()
            .await
            .expect("migrate the test PostgreSQL database");
        Some(TestDb {
            db,
            url,
            cleanup: Cleanup::Postgres { admin_url, name },
        })
    }

    /// SQLite, then PostgreSQL when configured: the backends a conformance test runs on.
    pub async fn all() -> Vec<TestDb> {
        let mut dbs = vec![TestDb::sqlite().await];
        dbs.extend(TestDb::postgres().await);
        dbs
    }

    /// Which backend this is.
    pub fn backend(&self) -> Backend {
        self.db.backend()
    }

    /// Closes and deletes the database.
    pub async fn drop_database(self) {
        self.db.close().await;
        match self.cleanup {
            Cleanup::File(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Cleanup::Postgres { admin_url, name } => {
                if let Ok(admin) = Db::connect(&SecretString::from(admin_url), 1).await {
                    if let crate::db::Pool::Postgres(p) = admin.pool() {
                        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                        )))
                        .execute(p)
                        .await;
                    }
                    admin.close().await;
                }
            }
        }
    }
}

/// `url` with its database name replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn the_database_name_is_replaced_or_added() {
        assert_eq!(
            with_database("postgres://u@h:5432/postgres", "t"),
            "postgres://u@h:5432/t"
        );
        assert_eq!(
            with_database("postgres://u@h:5432", "t"),
            "postgres://u@h:5432/t"
        );
        assert_eq!(
            with_database("postgres://u@h/db?sslmode=disable", "t"),
            "postgres://u@h/t?sslmode=disable"
        );
    }
}
