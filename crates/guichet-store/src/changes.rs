//! The change log: every write records, in its own transaction, the *scopes* it touched, so that a
//! decision cache can tell whether a decision made at revision `S` may have changed since.
//!
//! Scopes are strings, each naming facts a decision may read (see [`scopes_of`] for which write
//! records which, and `guichet_server::cache` for why every decision that read a fact depends on
//! its scope):
//! - `acct:<account id>` — the account's own row (status, modules, parent), its custom roles and
//!   the delegations *into* it;
//! - `user:<user id>` — the user's own row (its status) and every membership of the user, with its
//!   roles and resource grants;
//! - `res:<resource id>` — the resource's row (and, when it is deleted, the grants that named it);
//! - `*` — a write the log cannot place (it invalidates every cached decision);
//! - `tree:<root account id>` and the marker `~` — for replicas of the previous build, whose
//!   decisions depend on whole account trees, during a rolling upgrade: every write that has an
//!   account also records its tree, and the marker says the write also recorded its narrow scopes
//!   (a `tree:` scope *without* the marker at its revision comes from a previous-build writer, and
//!   this build's readers take it as `*`).
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

/// The marker of a write that recorded narrow scopes (see the module docs).
pub const NARROW: &str = "~";

/// The prefix of a previous build's tree scope.
pub const TREE_PREFIX: &str = "tree:";

/// The root of the tree of the account `row` (the first id of its materialised path).
pub(crate) fn root_of(row: &account::Model) -> &str {
    row.path.split('/').next().unwrap_or(&row.id)
}

/// The scope of an account tree, for replicas of the previous build.
pub fn tree_scope(root: &str) -> String {
    format!("{TREE_PREFIX}{root}")
}

/// The scope of an account's own facts: its row, its custom roles, the delegations into it.
pub fn account_scope(account: &str) -> String {
    format!("acct:{account}")
}

/// The scope of a resource.
pub fn resource_scope(resource: &str) -> String {
    format!("res:{resource}")
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

/// The user a membership event is about: `user_id` of its after (or before) snapshot.
fn member_of(before: Option<&str>, after: Option<&str>) -> Option<String> {
    [after, before].into_iter().flatten().find_map(|json| {
        let v: serde_json::Value = serde_json::from_str(json).ok()?;
        v.get("user_id")?.as_str().map(str::to_owned)
    })
}

/// The scopes of one audit event (`kind` on `target` in `account`, with the JSON of its before
/// and after snapshots): the facts of decisions the write may have changed.
///
/// | event | facts a decision reads that it changes | scopes |
/// |---|---|---|
/// | `user.*` | the user row | `user:<target>` |
/// | `membership.*` | the member's membership, roles, grants | `user:<member>` (else `acct:<account>`) |
/// | `account.*` | the account row (status, modules, parent) | `acct:<target>` |
/// | `role.*` | the account's custom roles | `acct:<account>` |
/// | `delegation.*` | the delegations into the account | `acct:<to account>` |
/// | `resource.*` | the resource row and its grants | `res:<target>` |
/// | `invitation.*`, `contact.*`, `access_request.*` | none (an acceptance's membership and user come as extra scopes; an approval's change records its own event) | — |
/// | anything else | unknown | `acct:<account>`, or `*` without an account |
///
/// Every event with an account also records `tree:<root>` and the marker (see the module docs).
pub(crate) async fn scopes_of(
    conn: &impl ConnectionTrait,
    account: Option<&str>,
    known_root: Option<&str>,
    kind: &str,
    target: &str,
    before: Option<&str>,
    after: Option<&str>,
) -> Result<Vec<String>, StoreError> {
    let mut out = Vec::with_capacity(4);
    let family = kind.split('.').next().unwrap_or(kind);
    match (family, account) {
        ("user", _) => out.push(user_scope(target)),
        ("membership", _) => match member_of(before, after) {
            Some(user) => out.push(user_scope(&user)),
            None => out.push(account.map_or_else(|| ALL.to_owned(), account_scope)),
        },
        ("resource", _) => out.push(resource_scope(target)),
        ("invitation" | "contact" | "access_request", _) => {}
        (_, Some(id)) => out.push(account_scope(id)),
        (_, None) => out.push(ALL.to_owned()),
    }
    if let (Some(_), Some(root)) = (account, known_root) {
        out.push(tree_scope(root));
    } else if let Some(id) = account {
        match account::Entity::find_by_id(id.to_owned()).one(conn).await? {
            Some(row) => out.push(tree_scope(root_of(&row))),
            None => out.push(ALL.to_owned()),
        }
    }
    Ok(out)
}

/// Records the `scopes` a write at `revision` touched, and tells the listener. `with`, the
/// write's own data-modifying statements (each with its values numbered from `$1`; the write's
/// audit event among them), run first: on PostgreSQL in the same statement, as `WITH` queries (one
/// round trip for all), on SQLite just before, in order.
///
/// On PostgreSQL the `WITH` queries of one statement run on one snapshot, in no set order: they
/// must touch rows none of the others touches (an event, change-log rows, a membership's row, its
/// roles kept and its roles dropped are all distinct rows).
pub(crate) async fn record(
    store: &Store,
    conn: &impl ConnectionTrait,
    revision: Revision,
    scopes: &[String],
    mut with: Vec<Statement>,
) -> Result<(), StoreError> {
    let backend = conn.get_database_backend();
    with.push(log_statement(backend, revision, scopes));
    if backend == DbBackend::Postgres {
        conn.execute_raw(one_statement(with)).await?;
    } else {
        for statement in with {
            conn.execute_raw(statement).await?;
        }
    }
    recorded(store, conn, revision, scopes).await
}

/// The statement that records the `scopes` of the write at `revision` in the change log, the
/// marker of a narrow write included (its values numbered from `$1` on PostgreSQL).
pub(crate) fn log_statement(backend: DbBackend, revision: Revision, scopes: &[String]) -> Statement {
    let rev = i64::try_from(revision.value()).unwrap_or(i64::MAX);
    let rows: Vec<&str> = scopes.iter().map(String::as_str).chain(std::iter::once(NARROW)).collect();
    let mut values: Vec<Value> = Vec::with_capacity(2 * rows.len());
    let mut tuples = Vec::with_capacity(rows.len());
    for scope in &rows {
        tuples.push(if backend == DbBackend::Postgres {
            format!("(${}, ${})", values.len() + 1, values.len() + 2)
        } else {
            "(?, ?)".to_owned()
        });
        values.push(Value::from(rev));
        values.push(Value::from((*scope).to_owned()));
    }
    let sql =
        format!("INSERT INTO guichet_changes (revision, scope) VALUES {} ON CONFLICT DO NOTHING", tuples.join(", "));
    Statement::from_sql_and_values(backend, sql, values)
}

/// PostgreSQL statements (each with its values numbered from `$1`) as one: all but the last as
/// `WITH` queries of the last. They run on one snapshot, in no set order: each must touch rows
/// none of the others touches.
pub(crate) fn one_statement(statements: Vec<Statement>) -> Statement {
    let count = statements.len();
    let mut sql = String::new();
    let mut values: Vec<Value> = Vec::new();
    for (i, statement) in statements.into_iter().enumerate() {
        let shifted = shift_placeholders(&statement.sql, values.len());
        if i + 1 == count {
            if i > 0 {
                sql.push(' ');
            }
            sql.push_str(&shifted);
        } else {
            sql.push_str(if i == 0 { "WITH " } else { ", " });
            sql.push_str(&format!("w{i} AS ({shifted})"));
        }
        values.extend(statement.values.map(|v| v.0).unwrap_or_default());
    }
    Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
}

/// What follows the change-log rows of the write at `revision`, once written: the oldest rows
/// dropped every 1,024 revisions, and the listener told.
pub(crate) async fn recorded(
    store: &Store,
    conn: &impl ConnectionTrait,
    revision: Revision,
    scopes: &[String],
) -> Result<(), StoreError> {
    if revision.value().is_multiple_of(1024) && revision.value() > RETAIN {
        let horizon = i64::try_from(revision.value() - RETAIN).unwrap_or(0);
        conn.execute_raw(Statement::from_string(
            conn.get_database_backend(),
            format!("DELETE FROM guichet_changes WHERE revision <= {horizon}"),
        ))
        .await?;
    }
    if let Some(listener) = store.listener.0.get() {
        let mut published = scopes.to_vec();
        published.push(NARROW.to_owned());
        listener(revision, &published);
    }
    Ok(())
}

/// `sql` with each PostgreSQL placeholder `$n` outside quotes renumbered `$(n + by)`: a statement
/// whose values are numbered from `$1`, placed after `by` values of another in one statement.
fn shift_placeholders(sql: &str, by: usize) -> String {
    if by == 0 {
        return sql.to_owned();
    }
    let mut out = String::with_capacity(sql.len() + 8);
    let mut chars = sql.chars().peekable();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (None, '\'' | '"') => quote = Some(c),
            (None, '$') if chars.peek().is_some_and(char::is_ascii_digit) => {
                let mut n = 0usize;
                while let Some(d) = chars.peek().and_then(|d| d.to_digit(10)) {
                    n = n * 10 + d as usize;
                    chars.next();
                }
                out.push_str(&format!("${}", n + by));
                continue;
            }
            _ => {}
        }
        out.push(c);
    }
    out
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

#[cfg(test)]
mod placeholder_tests {
    use super::shift_placeholders;

    #[test]
    fn placeholders_are_renumbered_outside_quotes_only() {
        assert_eq!(shift_placeholders("SELECT $1, $2", 0), "SELECT $1, $2");
        assert_eq!(
            shift_placeholders("UPDATE t SET a = $1 WHERE b IN ($2, $10)", 3),
            "UPDATE t SET a = $4 WHERE b IN ($5, $13)"
        );
        assert_eq!(shift_placeholders(r#"SELECT '$1', "c$2", $3 FROM "t""#, 7), r#"SELECT '$1', "c$2", $10 FROM "t""#);
        assert_eq!(shift_placeholders("SELECT 'it''s $1', $1", 1), "SELECT 'it''s $1', $2");
        assert_eq!(shift_placeholders("SELECT $$, $a", 2), "SELECT $$, $a");
    }
}
