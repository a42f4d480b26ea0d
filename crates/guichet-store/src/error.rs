//! The store's errors.

use guichet_domain::FieldViolation;
use sea_orm::{DbErr, RuntimeErr, SqlErr};

/// What went wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The thing named does not exist.
    #[error("{entity} {id} not found")]
    NotFound {
        /// Kind of thing (`account`, `user`, …).
        entity: &'static str,
        /// Its id.
        id: String,
    },
    /// A thing with that identity already exists.
    #[error("{entity} {id} already exists")]
    AlreadyExists {
        /// Kind of thing.
        entity: &'static str,
        /// The identity that collided (an id, an email, a pair).
        id: String,
    },
    /// A field of the request is not acceptable given what the store holds (an unknown role, a
    /// resource of another account, …).
    #[error("invalid request: {}", .0.iter().map(|v| format!("{}: {}", v.field, v.description)).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldViolation>),
    /// The change would break an invariant.
    #[error("precondition failed: {description}")]
    Precondition {
        /// Stable violation type, e.g. `LAST_ADMINISTRATOR`.
        kind: &'static str,
        /// What it is about, e.g. `accounts/acme`.
        subject: String,
        /// What is wrong and how to fix it.
        description: String,
    },
    /// The database could not be reached.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A row the store wrote could not be read back.
    #[error("corrupt row in {table}: {detail}")]
    Corrupt {
        /// The table.
        table: &'static str,
        /// What could not be read.
        detail: String,
    },
    /// Any other database error.
    #[error("database error: {0}")]
    Database(String),
}

impl StoreError {
    /// A precondition of the rule book ([`guichet_domain::Precondition`]) about `subject`.
    pub(crate) fn precondition(p: guichet_domain::Precondition, subject: String) -> Self {
        Self::Precondition { kind: p.kind, subject, description: p.description }
    }

    pub(crate) fn not_found(entity: &'static str, id: impl Into<String>) -> Self {
        Self::NotFound { entity, id: id.into() }
    }

    pub(crate) fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldViolation::new(field, description)])
    }

    pub(crate) fn corrupt(table: &'static str, detail: impl ToString) -> Self {
        Self::Corrupt { table, detail: detail.to_string() }
    }

    /// Maps a database error, naming what collided for a unique violation.
    pub(crate) fn from_db(err: DbErr, entity: &'static str, id: &str) -> Self {
        match err.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => {
                return Self::AlreadyExists { entity, id: id.to_owned() };
            }
            Some(SqlErr::ForeignKeyConstraintViolation(detail)) => {
                return Self::Precondition {
                    kind: "REFERENCE",
                    subject: format!("{entity}/{id}"),
                    description: format!("a referenced record does not exist: {detail}"),
                };
            }
            _ => {}
        }
        Self::from(err)
    }
}

impl From<DbErr> for StoreError {
    fn from(err: DbErr) -> Self {
        if is_unavailable(&err) { Self::Unavailable(err.to_string()) } else { Self::Database(err.to_string()) }
    }
}

#[expect(clippy::wildcard_enum_match_arm, reason = "sqlx and sea-orm errors: only the connection failures are named")]
fn is_unavailable(err: &DbErr) -> bool {
    use sea_orm::sqlx::Error as Sqlx;
    let runtime = match err {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => return true,
        DbErr::Exec(r) | DbErr::Query(r) => r,
        _ => return false,
    };
    match runtime {
        RuntimeErr::SqlxError(e) => match e.as_ref() {
            Sqlx::Io(_) | Sqlx::PoolTimedOut | Sqlx::PoolClosed | Sqlx::WorkerCrashed | Sqlx::Tls(_) => true,
            Sqlx::Database(db) => {
                // PostgreSQL: class 08 (connection exception), 57P01..57P03 (admin shutdown,
                // crash shutdown, cannot connect now). SQLite: SQLITE_BUSY (5) after the busy
                // timeout, SQLITE_LOCKED (6).
                let code = db.code().unwrap_or_default();
                code.starts_with("08") || code.starts_with("57P") || code == "5" || code == "6"
            }
            _ => false,
        },
        _ => false,
    }
}
