//! What a preview of management operations reads (SimulateChanges), in one read transaction:
//! [`Store::load_snapshot`]; and the precondition a previewed write may carry, checked inside its
//! own write transaction: [`check_unchanged_since`].
//!
//! **What is read.** The *trees* (a root account and all its descendants, through the
//! materialised path) of every account the operations name — directly, or through the membership,
//! delegation or user they name (a user's trees are those of all its memberships) — and the trees
//! of the accounts delegating into them; every membership in those accounts with its roles and
//! resource caps, their users, the custom roles, the resources, and the delegations into and out
//! of them. A tree is read whole: a role edit changes its holders here and, through descendant
//! levels and delegations, below.
//!
//! **The precondition.** A write sent with `unchanged_since: R` (the revision of a preview) fails
//! with `CHANGED_SINCE_PREVIEW` when the change log records, after `R`, a change that a preview of
//! this write would have read. The trees it compares are those of the write's account (a
//! membership's or an account's write), of both accounts of a delegation's write, or, for a
//! user's own write (which has no account), of every account where the user has a membership —
//! and, for each, the trees of the accounts delegating into it. A change is read when it records
//! a tree's scope (`tree:<root>`, recorded by every write with an account of the tree), the
//! `user:` scope of a member of those trees or of the user written (a user's own status), or a
//! change the log cannot place (`*`) — or when `R` is older than what the log keeps. The check runs inside the write
//! transaction, which holds the write lock from its first statement: no write can slip between
//! the check and the commit. So a previewed write made with the preview's revision has exactly the
//! previewed effect, or fails.

use std::collections::{BTreeMap, BTreeSet};

use guichet_domain::{
    AccountFacts, AccountId, AccountKind, DelegationId, FeatureName, MembershipId, Named, ResourceId, Restriction,
    Revision, RoleName, Snapshot, SnapshotAccount, SnapshotDelegation, SnapshotMembership, Timestamp, UserId,
    UserStatus,
};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, Statement};

use crate::entities::{account, delegation, membership, membership_resource, membership_role, resource, role, user};
use crate::roles::custom_role;
use crate::rows::{account_status, cap_level, membership_status};
use crate::{Store, StoreError, find_in, read_revision};

/// The precondition of a write made with a preview's revision whose facts changed since.
pub const CHANGED_SINCE_PREVIEW: &str = "CHANGED_SINCE_PREVIEW";

fn root_of(path: &str) -> String {
    path.split('/').next().unwrap_or(path).to_owned()
}

/// Every account of the trees rooted at `roots`.
async fn read_trees(conn: &impl ConnectionTrait, roots: &BTreeSet<String>) -> Result<Vec<account::Model>, StoreError> {
    let mut out = Vec::new();
    for root in roots {
        let cond = Condition::any()
            .add(account::Column::Id.eq(root.as_str()))
            .add(account::Column::Path.starts_with(format!("{root}/")));
        out.extend(account::Entity::find().filter(cond).all(conn).await?);
    }
    // `starts_with` is a LIKE: `_` in an id matches any character. Keep only the true members.
    out.retain(|a| roots.contains(&root_of(&a.path)));
    Ok(out)
}

/// The roots of the trees a preview of accounts `accounts` reads: theirs, and those of the
/// accounts delegating into them.
async fn roots_with_partners(
    conn: &impl ConnectionTrait,
    roots: BTreeSet<String>,
) -> Result<(BTreeSet<String>, Vec<account::Model>), StoreError> {
    let mut accounts = read_trees(conn, &roots).await?;
    let ids: BTreeSet<String> = accounts.iter().map(|a| a.id.clone()).collect();
    let into =
        find_in::<delegation::Entity>(conn, delegation::Column::ToAccountId, ids.iter().cloned(), Condition::all())
            .await?;
    let sources: BTreeSet<String> =
        into.iter().map(|d| d.from_account_id.clone()).filter(|id| !ids.contains(id)).collect();
    let mut more = BTreeSet::new();
    for a in find_in::<account::Entity>(conn, account::Column::Id, sources, Condition::all()).await? {
        let r = root_of(&a.path);
        if !roots.contains(&r) {
            more.insert(r);
        }
    }
    accounts.extend(read_trees(conn, &more).await?);
    let all: BTreeSet<String> = roots.into_iter().chain(more).collect();
    Ok((all, accounts))
}

/// The users with a membership in `accounts`.
async fn members(
    conn: &impl ConnectionTrait,
    accounts: &[account::Model],
) -> Result<Vec<membership::Model>, StoreError> {
    find_in::<membership::Entity>(
        conn,
        membership::Column::AccountId,
        accounts.iter().map(|a| a.id.clone()),
        Condition::all(),
    )
    .await
}

/// The write a precondition is checked for: its audit event's account, kind, target and JSON
/// snapshots, from which [`check_unchanged_since`] finds what a preview of it read.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Previewed<'a> {
    pub(crate) account: Option<&'a str>,
    pub(crate) kind: &'a str,
    pub(crate) target: &'a str,
    pub(crate) before: Option<&'a str>,
    pub(crate) after: Option<&'a str>,
}

/// The string fields `keys` of a JSON object, when present.
fn json_ids(json: Option<&str>, keys: &[&str]) -> Vec<String> {
    let Some(v) = json.and_then(|j| serde_json::from_str::<serde_json::Value>(j).ok()) else {
        return Vec::new();
    };
    keys.iter().filter_map(|k| v.get(*k).and_then(serde_json::Value::as_str).map(str::to_owned)).collect()
}

/// What a preview of `change` reads, as the accounts whose trees it compares and the users whose
/// own scopes it compares (beyond those of the members of the trees): a write in an account reads
/// that account's tree; a delegation's write both accounts' trees (the partner's tree holds the
/// members the delegation gives access); a user's own write (no account) the trees of all its
/// memberships, and the user.
async fn previewed_scope(
    conn: &impl ConnectionTrait,
    change: &Previewed<'_>,
) -> Result<(BTreeSet<String>, BTreeSet<String>), StoreError> {
    let family = change.kind.split('.').next().unwrap_or(change.kind);
    let mut accounts: BTreeSet<String> = change.account.map(str::to_owned).into_iter().collect();
    let mut users = BTreeSet::new();
    match family {
        "delegation" => {
            for json in [change.before, change.after] {
                accounts.extend(json_ids(json, &["from_account_id", "to_account_id"]));
            }
        }
        "user" => {
            users.insert(change.target.to_owned());
            let of_user = find_in::<membership::Entity>(
                conn,
                membership::Column::UserId,
                [change.target.to_owned()],
                Condition::all(),
            )
            .await?;
            accounts.extend(of_user.into_iter().map(|m| m.account_id));
        }
        _ => {}
    }
    Ok((accounts, users))
}

/// Checks, inside a write transaction at `revision`, that nothing a preview of `change` reads
/// changed after `since` (see the module docs).
pub(crate) async fn check_unchanged_since(
    conn: &impl ConnectionTrait,
    revision: Revision,
    since: Revision,
    change: &Previewed<'_>,
) -> Result<(), StoreError> {
    let failed = |why: String| StoreError::Precondition {
        kind: CHANGED_SINCE_PREVIEW,
        subject: format!("revisions/{since}"),
        description: format!("{why} since revision {since}, when the change was previewed: preview it again"),
    };
    if since.value() >= revision.value() {
        return Err(failed("the revision is not one the store has committed: nothing is known".to_owned()));
    }
    if revision.value().saturating_sub(since.value()) > crate::changes::RETAIN / 2 {
        return Err(failed("too much changed".to_owned()));
    }
    let (ids, users) = previewed_scope(conn, change).await?;
    if ids.is_empty() && users.is_empty() {
        return Err(StoreError::Precondition {
            kind: CHANGED_SINCE_PREVIEW,
            subject: format!("revisions/{since}"),
            description: "this write has no account tree to compare with a preview".to_owned(),
        });
    }
    let rows = find_in::<account::Entity>(conn, account::Column::Id, ids, Condition::all()).await?;
    let (roots, accounts) = roots_with_partners(conn, rows.iter().map(|a| root_of(&a.path)).collect()).await?;
    let mut watched: BTreeSet<String> = roots.iter().map(|r| crate::changes::tree_scope(r)).collect();
    watched.insert(crate::changes::ALL.to_owned());
    watched.extend(users.iter().map(|u| crate::changes::user_scope(u)));
    watched.extend(members(conn, &accounts).await?.into_iter().map(|m| crate::changes::user_scope(&m.user_id)));
    let backend = conn.get_database_backend();
    let (a, b) = if backend == DbBackend::Postgres { ("$1", "$2") } else { ("?", "?") };
    let sql = format!("SELECT DISTINCT scope FROM guichet_changes WHERE revision > {a} AND revision < {b}");
    let since_i = i64::try_from(since.value()).unwrap_or(i64::MAX);
    let rev_i = i64::try_from(revision.value()).unwrap_or(i64::MAX);
    let rows = conn.query_all_raw(Statement::from_sql_and_values(backend, sql, [since_i.into(), rev_i.into()])).await?;
    let what = change.account.unwrap_or(change.target);
    for row in rows {
        let scope: String = row.try_get("", "scope")?;
        if watched.contains(&scope) {
            return Err(failed(format!("what a preview of this write on {what} read changed ({scope})")));
        }
    }
    Ok(())
}

impl Store {
    /// What a preview of operations naming `named` reads (see the module docs), and the revision
    /// it was read at, in one read transaction.
    #[tracing::instrument(name = "store.load_snapshot", skip_all, fields(otel.kind = "client", db.system.name = self.backend_name()))]
    pub async fn load_snapshot(&self, named: &Named) -> Result<(Snapshot, Revision), StoreError> {
        let txn = self.begin_read().await?;
        let revision = read_revision(&txn).await?;
        let mut ids: BTreeSet<String> = named.accounts.iter().map(|a| a.as_str().to_owned()).collect();
        let ms = find_in::<membership::Entity>(
            &txn,
            membership::Column::Id,
            named.memberships.iter().map(|m| m.as_str().to_owned()),
            Condition::all(),
        )
        .await?;
        ids.extend(ms.into_iter().map(|m| m.account_id));
        let ds = find_in::<delegation::Entity>(
            &txn,
            delegation::Column::Id,
            named.delegations.iter().map(|d| d.as_str().to_owned()),
            Condition::all(),
        )
        .await?;
        ids.extend(ds.into_iter().flat_map(|d| [d.from_account_id, d.to_account_id]));
        let of_users = find_in::<membership::Entity>(
            &txn,
            membership::Column::UserId,
            named.users.iter().map(|u| u.as_str().to_owned()),
            Condition::all(),
        )
        .await?;
        ids.extend(of_users.into_iter().map(|m| m.account_id));
        let roots: BTreeSet<String> = find_in::<account::Entity>(&txn, account::Column::Id, ids, Condition::all())
            .await?
            .iter()
            .map(|a| root_of(&a.path))
            .collect();
        let (_, accounts) = roots_with_partners(&txn, roots).await?;
        let account_ids: BTreeSet<String> = accounts.iter().map(|a| a.id.clone()).collect();
        let memberships = members(&txn, &accounts).await?;
        let membership_ids: Vec<String> = memberships.iter().map(|m| m.id.clone()).collect();
        let role_rows = find_in::<membership_role::Entity>(
            &txn,
            membership_role::Column::MembershipId,
            membership_ids.iter().cloned(),
            Condition::all(),
        )
        .await?;
        let caps = find_in::<membership_resource::Entity>(
            &txn,
            membership_resource::Column::MembershipId,
            memberships.iter().filter(|m| m.restricted).map(|m| m.id.clone()),
            Condition::all(),
        )
        .await?;
        let mut user_ids: BTreeSet<String> = memberships.iter().map(|m| m.user_id.clone()).collect();
        user_ids.extend(named.users.iter().map(|u| u.as_str().to_owned()));
        let users = find_in::<user::Entity>(&txn, user::Column::Id, user_ids, Condition::all()).await?;
        let customs =
            find_in::<role::Entity>(&txn, role::Column::AccountId, account_ids.iter().cloned(), Condition::all())
                .await?;
        let resources = find_in::<resource::Entity>(
            &txn,
            resource::Column::AccountId,
            account_ids.iter().cloned(),
            Condition::all(),
        )
        .await?;
        let mut delegations = find_in::<delegation::Entity>(
            &txn,
            delegation::Column::ToAccountId,
            account_ids.iter().cloned(),
            Condition::all(),
        )
        .await?;
        delegations.retain(|d| account_ids.contains(&d.from_account_id));
        txn.commit().await?;

        let mut snap = Snapshot::default();
        for a in &accounts {
            let modules: BTreeSet<String> =
                serde_json::from_str(&a.modules).map_err(|e| StoreError::corrupt("accounts", e))?;
            let facts = AccountFacts {
                id: AccountId::from_trusted(a.id.clone()),
                kind: AccountKind::from_trusted(a.kind.clone()),
                status: account_status(&a.status)?,
                parent: a.parent_id.clone().map(AccountId::from_trusted),
                modules: modules.into_iter().map(FeatureName::from_trusted).collect(),
            };
            snap.accounts.insert(facts.id.clone(), SnapshotAccount { facts, custom_roles: Vec::new() });
        }
        for r in &customs {
            let role = custom_role(r)?.role;
            if let Some(a) = snap.accounts.get_mut(&AccountId::from_trusted(r.account_id.clone())) {
                a.custom_roles.push(role);
            }
        }
        for u in &users {
            let status = UserStatus::parse(&u.status).map_err(|e| StoreError::corrupt("users", e))?;
            snap.users.insert(UserId::from_trusted(u.id.clone()), status);
        }
        let mut roles_of: BTreeMap<&str, Vec<(i32, &str)>> = BTreeMap::new();
        for r in &role_rows {
            roles_of.entry(r.membership_id.as_str()).or_default().push((r.position, r.role_name.as_str()));
        }
        let mut caps_of: BTreeMap<&str, Restriction> = BTreeMap::new();
        for c in &caps {
            caps_of
                .entry(c.membership_id.as_str())
                .or_default()
                .insert(ResourceId::from_trusted(c.resource_id.clone()), cap_level(&c.level)?);
        }
        for m in &memberships {
            let mut roles = roles_of.remove(m.id.as_str()).unwrap_or_default();
            roles.sort_unstable();
            snap.memberships.insert(
                MembershipId::from_trusted(m.id.clone()),
                SnapshotMembership {
                    user: UserId::from_trusted(m.user_id.clone()),
                    account: AccountId::from_trusted(m.account_id.clone()),
                    status: membership_status(&m.status)?,
                    roles: roles.into_iter().map(|(_, n)| RoleName::from_trusted(n)).collect(),
                    restriction: m.restricted.then(|| caps_of.remove(m.id.as_str()).unwrap_or_default()),
                    expires_at: m.expires_at.map(Timestamp::from_millis),
                    requester: m.created_by.clone().map(UserId::from_trusted),
                },
            );
        }
        for d in &delegations {
            snap.delegations.insert(
                DelegationId::from_trusted(d.id.clone()),
                SnapshotDelegation {
                    from: AccountId::from_trusted(d.from_account_id.clone()),
                    to: AccountId::from_trusted(d.to_account_id.clone()),
                    role: RoleName::from_trusted(d.role.clone()),
                    expires_at: d.expires_at.map(Timestamp::from_millis),
                },
            );
        }
        for r in &resources {
            snap.resources
                .insert(ResourceId::from_trusted(r.id.clone()), AccountId::from_trusted(r.account_id.clone()));
        }
        Ok((snap, revision))
    }
}
