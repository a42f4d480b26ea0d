//! The change log: every write records, in its own transaction, the *scopes* it touched, so that a
//! decision cache can tell whether a decision made at revision `S` may have changed since.
//!
//! Scopes are strings:
//! - `tree:<root account id>` — anything about the accounts, roles, memberships, resources, modules,
//!   status, settings or delegations of that account tree (a delegation never leaves its tree: the
//!   delegating partner is an ancestor of the account it delegates into);
//! - `user:<user id>` — the user's own row (its status);
//! - `*` — a write the log cannot place (it invalidates every cached decision).
//!
//! The scopes are derived in one place, [`crate::events::record`], which every write calls in its
//! transaction to write its audit event: no write can forget to log its change. Old rows are pruned
//! (every 1,024th revision deletes those older than [`RETAIN`] revisions), so the table stays
//! bounded; a reader that is further behind than half of that is told to start over
//! ([`Changes::truncated`]).

use std::sync::{Arc, OnceLock};

use guichet_domain::Revision;
use sea_orm::{ConnectionTrait, DbBackend, EntityTrait, Statement, Value};

use crate::entities::account;
use crate::{Store, StoreError};

/// How many revisions of changes are kept.
pub const RETAIN: u64 = 100_000;

/// The scope every decision depends on: a write that cannot be placed.
pub const ALL: &str = "*";

/// The scope of an account tree.
pub fn tree_scope(root: &str) -> String {
    format!("tree:{root}")
}

/// The scope of a user's own row.
pub fn user_scope(user: &str) -> String {
    format!("user:{user}")
}

/// Called with the revision and scopes of a write while it is being made (before it commits).
pub type ChangeListener = Arc<dyn Fn(Revision, &[String]) + Send + Sync>;

/// Where a [`ChangeListener`] is installed; shared by the clones of a store.
#[derive(Clone, Default)]
pub(crate) struct ListenerSlot(Arc<OnceLock<ChangeListener>>);

impl std::fmt::Debug for ListenerSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.get().is_some() { "ListenerSlot(set)" } else { "ListenerSlot(empty)" })
    }
}

/// What changed after a revision, read in one statement (one snapshot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changes {
    /// The latest committed revision.
    pub latest: Revision,
    /// The scopes touched after the asked revision, with the revision that touched them, in order.
    pub changes: Vec<(Revision, String)>,
    /// The log could not list every change (too many, or older than what is kept): the reader must
    /// treat everything up to `latest` as changed.
    pub truncated: bool,
}

pub(crate) async fn scopes_of(
    conn: &impl ConnectionTrait,
    account: Option<&str>,
    kind: &str,
    target: &str,
) -> Result<Vec<String>, StoreError> {
    let mut out = Vec::with_capacity(2);
    if kind.starts_with("user.") {
        out.push(user_scope(target));
    }
    match account {
        Some(id) => match account::Entity::find_by_id(id.to_owned()).one(conn).await? {
            Some(row) => out.push(tree_scope(row.path.split('/').next().unwrap_or(&row.id))),
            None => out.push(ALL.to_owned()),
        },
        None if out.is_empty() => out.push(ALL.to_owned()),
        None => {}
    }
    Ok(out)
}

pub(crate) async fn record(
    store: &Store,
    conn: &impl ConnectionTrait,
    revision: Revision,
    scopes: &[String],
) -> Result<(), StoreError> {
    let backend = conn.get_database_backend();
    let sql = if backend == DbBackend::Postgres {
        "INSERT INTO guichet_changes (revision, scope) VALUES ($1, $2) ON CONFLICT DO NOTHING"
    } else {
        "INSERT INTO guichet_changes (revision, scope) VALUES (?, ?) ON CONFLICT DO NOTHING"
    };
    let rev = i64::try_from(revision.value()).unwrap_or(i64::MAX);
    for scope in scopes {
        conn.execute_raw(Statement::from_sql_and_values(backend, sql, [Value::from(rev), Value::from(scope.clone())]))
            .await?;
    }
    if revision.value().is_multiple_of(1024) && revision.value() > RETAIN {
        let horizon = i64::try_from(revision.value() - RETAIN).unwrap_or(0);
        conn.execute_raw(Statement::from_string(
            backend,
            format!("DELETE FROM guichet_changes WHERE revision <= {horizon}"),
        ))
        .await?;
    }
    if let Some(listener) = store.listener.0.get() {
        listener(revision, scopes);
    }
    Ok(())
}

impl Store {
    /// Installs the function told about every write's scopes as the write is made (the decision
    /// cache publishes them to the other replicas). Only the first call has an effect.
    pub fn set_change_listener(&self, listener: ChangeListener) {
        let _ = self.listener.0.set(listener);
    }

    /// The latest revision and the changes after `after` (at most `limit`), in one statement.
    #[tracing::instrument(name = "store.changes_after", skip_all, fields(otel.kind = "client", db.system.name = self.backend_name()))]
    pub async fn changes_after(&self, after: Revision, limit: u64) -> Result<Changes, StoreError> {
        let backend = self.db.get_database_backend();
        let after_i = i64::try_from(after.value()).unwrap_or(i64::MAX);
        let limit_i = i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX);
        // Bound values, not text: one prepared statement serves every fence query of a connection
        // (a replica runs one every few milliseconds while checks come).
        let (after_p, limit_p) = if backend == DbBackend::Postgres { ("$1", "$2") } else { ("?", "?") };
        let sql = format!(
            "SELECT r.value AS latest, c.revision AS revision, c.scope AS scope FROM guichet_revision r \
             LEFT JOIN (SELECT revision, scope FROM guichet_changes WHERE revision > {after_p} \
             ORDER BY revision LIMIT {limit_p}) c ON 1 = 1 WHERE r.id = 1"
        );
        let rows = self
            .db
            .query_all_raw(Statement::from_sql_and_values(backend, sql, [after_i.into(), limit_i.into()]))
            .await?;
        let mut latest = None;
        let mut changes = Vec::new();
        for row in rows {
            let l: i64 = row.try_get("", "latest")?;
            latest = Some(l);
            let rev: Option<i64> = row.try_get("", "revision")?;
            let scope: Option<String> = row.try_get("", "scope")?;
            if let (Some(rev), Some(scope)) = (rev, scope) {
                changes.push((Revision::new(u64::try_from(rev).unwrap_or(0)), scope));
            }
        }
        let latest = latest.ok_or_else(|| StoreError::corrupt("guichet_revision", "the revision row is missing"))?;
        let latest = Revision::new(u64::try_from(latest).map_err(|e| StoreError::corrupt("guichet_revision", e))?);
        let truncated = changes.len() as u64 > limit || latest.value().saturating_sub(after.value()) > RETAIN / 2;
        if changes.len() as u64 > limit {
            changes.clear();
        }
        Ok(Changes { latest, changes, truncated })
    }
}
