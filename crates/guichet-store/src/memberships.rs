//! Memberships: roles, status, resource restrictions — each write keeping the last-administrator
//! rule (see `administrators.rs`).
//!
//! **Why one file** (some 640 lines): every write of a membership — create, roles, restriction,
//! status, delete — goes through the same row helpers (`load_details`, `write_roles`,
//! `write_restriction`, `change_membership`) and keeps the same invariants (role count, suspended
//! user or account, version, last administrator); they are read and changed together.

use std::collections::{BTreeSet, HashMap};

use guichet_domain::{
    AccountId, AccountKind, AccountSettings, AccountStatus, Catalog, FieldViolation, Level, Membership, MembershipId,
    MembershipStatus, NewMembership, ResourceId, Restriction, Revision, RoleName, Timestamp, UserId, UserStatus,
    check_membership_transition, roles_without,
};
use sea_orm::{ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, Set};

use crate::administrators::{AdminGuard, MemberGuard};
use crate::entities::{account, membership, membership_resource, membership_role, resource, user};
use crate::events::{Audit, Write};
use crate::paging::Keyset;
use crate::roles::{account_row, check_name, check_names};
use crate::rows;
use crate::users::user_row;
use crate::{Page, PageRequest, Store, StoreError, new_id};

/// Filters of [`Store::list_memberships`]; at least one of account and user is expected.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MembershipFilter {
    /// Only memberships in this account.
    pub account: Option<AccountId>,
    /// Only memberships of this user.
    pub user: Option<UserId>,
    /// Only memberships with this status.
    pub status: Option<MembershipStatus>,
    /// Only memberships with an expiry strictly before this instant (expired ones included).
    pub expiring_before: Option<Timestamp>,
}

/// The most roles one membership holds.
pub const MAX_MEMBERSHIP_ROLES: usize = guichet_domain::MAX_ROLES;

/// Whether a membership change changed anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Change {
    /// It did: write the event and commit.
    Changed,
    /// It replaces the roles with these (without repeats, in order) and changes nothing else:
    /// [`Store::change_membership`] writes them, with the row's time of change, and the membership
    /// is not read again.
    Roles(Vec<RoleName>),
    /// It did not: roll back and write nothing.
    Unchanged,
}

/// A list of roles a membership may hold: at most [`MAX_MEMBERSHIP_ROLES`] distinct names.
fn check_role_count(roles: &[RoleName]) -> Result<(), StoreError> {
    let distinct: BTreeSet<&RoleName> = roles.iter().collect();
    if distinct.len() > MAX_MEMBERSHIP_ROLES {
        return Err(StoreError::invalid("roles", format!("a membership holds at most {MAX_MEMBERSHIP_ROLES} roles")));
    }
    Ok(())
}

/// Refuses with `STALE_VERSION` when `expected` is given and is not the membership's version.
pub(crate) fn check_version(current: &Membership, expected: Option<&str>) -> Result<(), StoreError> {
    match expected {
        Some(expected) if expected != current.version() => Err(StoreError::Precondition {
            kind: "STALE_VERSION",
            subject: format!("memberships/{}", current.id),
            description: format!(
                "membership {} changed since version {expected} was reviewed (it is now at version {}): \
                 review it again",
                current.id,
                current.version()
            ),
        }),
        Some(_) | None => Ok(()),
    }
}

/// Refuses a suspended user (`USER_SUSPENDED`) or account (`ACCOUNT_SUSPENDED`): no access is
/// granted to either.
pub(crate) fn ensure_not_suspended(user: &user::Model, account: &account::Model) -> Result<(), StoreError> {
    if user.status == UserStatus::Suspended.as_str() {
        return Err(StoreError::Precondition {
            kind: "USER_SUSPENDED",
            subject: format!("users/{}", user.id),
            description: format!("user {} is suspended: reactivate the user first", user.id),
        });
    }
    if rows::account_status(&account.status)? == AccountStatus::Suspended {
        return Err(StoreError::Precondition {
            kind: "ACCOUNT_SUSPENDED",
            subject: format!("accounts/{}", account.id),
            description: format!("account {} is suspended: reactivate it first", account.id),
        });
    }
    Ok(())
}

pub(crate) async fn load_details(
    conn: &impl ConnectionTrait,
    rows_: &[membership::Model],
) -> Result<Vec<Membership>, StoreError> {
    if rows_.is_empty() {
        return Ok(Vec::new());
    }
    let mut roles: HashMap<String, Vec<(i32, RoleName)>> = HashMap::new();
    for r in membership_role::Entity::find()
        .filter(membership_role::Column::MembershipId.is_in(rows_.iter().map(|m| m.id.clone())))
        .all(conn)
        .await?
    {
        roles.entry(r.membership_id).or_default().push((r.position, RoleName::from_trusted(r.role_name)));
    }
    let mut resources = load_restrictions(conn, rows_).await?;
    rows_
        .iter()
        .map(|m| {
            let mut held = roles.remove(&m.id).unwrap_or_default();
            held.sort();
            rows::membership(m, held.into_iter().map(|(_, n)| n).collect(), resources.remove(&m.id))
        })
        .collect()
}

/// Deletes a membership's row, with its roles and resources.
pub(crate) async fn delete_rows(conn: &impl ConnectionTrait, id: &MembershipId) -> Result<(), StoreError> {
    membership_role::Entity::delete_many()
        .filter(membership_role::Column::MembershipId.eq(id.as_str()))
        .exec(conn)
        .await?;
    membership_resource::Entity::delete_many()
        .filter(membership_resource::Column::MembershipId.eq(id.as_str()))
        .exec(conn)
        .await?;
    membership::Entity::delete_by_id(id.as_str().to_owned()).exec(conn).await?;
    Ok(())
}

/// A membership's row and its account's, in one statement.
/// The membership `id` with its account's row and its roles (in order), in one statement.
async fn membership_account_roles(
    conn: &impl ConnectionTrait,
    id: &MembershipId,
) -> Result<(membership::Model, account::Model, Vec<RoleName>), StoreError> {
    use sea_orm::{FromQueryResult, IdenStatic, Iterable};
    let backend = conn.get_database_backend();
    let columns = |alias: &str, names: Vec<&'static str>| {
        names.into_iter().map(|c| format!("{alias}.\"{c}\" AS \"{alias}_{c}\"")).collect::<Vec<_>>().join(", ")
    };
    let sql = format!(
        "SELECT {}, {}, r.role_name AS r_role_name, r.position AS r_position FROM memberships m \
         JOIN accounts a ON a.id = m.account_id LEFT JOIN membership_roles r ON r.membership_id = m.id \
         WHERE m.id = {}",
        columns("m", membership::Column::iter().map(|c| c.as_str()).collect()),
        columns("a", account::Column::iter().map(|c| c.as_str()).collect()),
        if backend == sea_orm::DbBackend::Postgres { "$1" } else { "?" },
    );
    let rows_ = conn.query_all_raw(sea_orm::Statement::from_sql_and_values(backend, sql, [id.as_str().into()])).await?;
    let Some(first) = rows_.first() else {
        return Err(StoreError::not_found("membership", id.as_str()));
    };
    let row = membership::Model::from_query_result(first, "m_")?;
    let acc = account::Model::from_query_result(first, "a_")?;
    let mut roles: Vec<(i32, RoleName)> = Vec::with_capacity(rows_.len());
    for r in &rows_ {
        let name: Option<String> = r.try_get("", "r_role_name")?;
        let position: Option<i32> = r.try_get("", "r_position")?;
        if let (Some(name), Some(position)) = (name, position) {
            roles.push((position, RoleName::from_trusted(name)));
        }
    }
    roles.sort();
    Ok((row, acc, roles.into_iter().map(|(_, n)| n).collect()))
}

/// A membership as a write reads it under the lock: its row, its account's row, its roles in
/// order, and whether its user is active (`None`: not read).
pub(crate) struct Locked {
    pub(crate) row: membership::Model,
    pub(crate) account: account::Model,
    pub(crate) roles: Vec<RoleName>,
    pub(crate) user_active: Option<bool>,
}

/// On PostgreSQL, takes the write lock (adds `bump` to the revision) and reads the memberships
/// `ids`, in one round trip: `guichet_lock_memberships` (see its migration,
/// `m20261208_000014_membership_write_lock`, for why the read sees every write committed before
/// the lock). Answers the revision after the bump (`None` when no membership was found: the
/// caller then rolls the bump back) and the memberships found, by id.
pub(crate) async fn lock_memberships(
    conn: &impl ConnectionTrait,
    ids: &[&str],
    bump: i64,
) -> Result<(Option<Revision>, HashMap<String, Locked>), StoreError> {
    let wanted = serde_json::to_string(ids).map_err(|e| StoreError::corrupt("memberships", e))?;
    let rows_ = conn
        .query_all_raw(sea_orm::Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            "SELECT out_revision, out_id, out_membership::text AS out_membership, out_account::text AS out_account, \
             out_user_status, out_role, out_position \
             FROM guichet_lock_memberships(ARRAY(SELECT json_array_elements_text($1::json)), $2)",
            [wanted.into(), bump.into()],
        ))
        .await?;
    let mut revision = None;
    let mut found: HashMap<String, (Locked, Vec<(i32, RoleName)>)> = HashMap::new();
    for r in &rows_ {
        let value: i64 = r.try_get("", "out_revision")?;
        revision = Some(Revision::new(u64::try_from(value).map_err(|e| StoreError::corrupt("guichet_revision", e))?));
        let id: String = r.try_get("", "out_id")?;
        if !found.contains_key(&id) {
            let json = |column: &str| -> Result<String, StoreError> { Ok(r.try_get("", column)?) };
            let row: membership::Model =
                serde_json::from_str(&json("out_membership")?).map_err(|e| StoreError::corrupt("memberships", e))?;
            let account: account::Model =
                serde_json::from_str(&json("out_account")?).map_err(|e| StoreError::corrupt("accounts", e))?;
            let status: Option<String> = r.try_get("", "out_user_status")?;
            let user_active = status.map(|s| s == UserStatus::Active.as_str());
            found.insert(id.clone(), (Locked { row, account, roles: Vec::new(), user_active }, Vec::new()));
        }
        let name: Option<String> = r.try_get("", "out_role")?;
        let position: Option<i32> = r.try_get("", "out_position")?;
        if let (Some(name), Some(position), Some((_, roles))) = (name, position, found.get_mut(&id)) {
            roles.push((position, RoleName::from_trusted(name)));
        }
    }
    let found = found
        .into_iter()
        .map(|(id, (mut locked, mut roles))| {
            roles.sort();
            locked.roles = roles.into_iter().map(|(_, n)| n).collect();
            (id, locked)
        })
        .collect();
    Ok((revision, found))
}

/// The restrictions of the restricted memberships among `rows_`, by membership id.
pub(crate) async fn load_restrictions(
    conn: &impl ConnectionTrait,
    rows_: &[membership::Model],
) -> Result<HashMap<String, Restriction>, StoreError> {
    let restricted: Vec<String> = rows_.iter().filter(|m| m.restricted).map(|m| m.id.clone()).collect();
    let mut resources: HashMap<String, Restriction> = HashMap::new();
    if !restricted.is_empty() {
        for r in membership_resource::Entity::find()
            .filter(membership_resource::Column::MembershipId.is_in(restricted))
            .all(conn)
            .await?
        {
            let cap = rows::cap_level(&r.level)?;
            resources.entry(r.membership_id).or_default().insert(ResourceId::from_trusted(r.resource_id), cap);
        }
    }
    Ok(resources)
}

pub(crate) async fn membership_row(
    conn: &impl ConnectionTrait,
    id: &MembershipId,
) -> Result<membership::Model, StoreError> {
    crate::found::<membership::Entity>(conn, id.as_str(), "membership", id.as_str()).await
}

/// `roles` without repeats, in order: what a membership holds after being given them.
fn distinct_roles(roles: &[RoleName]) -> Vec<RoleName> {
    let mut seen = BTreeSet::new();
    roles.iter().filter(|r| seen.insert(r.as_str())).cloned().collect()
}

/// The statements that give membership `row` (of `account`) the roles `roles` (without repeats)
/// and its time of change `now`: its other roles deleted, these written in order (kept or
/// inserted), its row's time of change set. Each touches rows none of the others touches, so that
/// they may run as one statement (see [`crate::changes::record`]).
fn role_writes(
    backend: sea_orm::DbBackend,
    row: &membership::Model,
    roles: &[RoleName],
    now: Timestamp,
) -> Vec<sea_orm::Statement> {
    use sea_orm::QueryTrait;
    use sea_orm::sea_query::{Expr, OnConflict};
    let names: Vec<String> = roles.iter().map(|r| r.as_str().to_owned()).collect();
    let mut out = vec![
        membership_role::Entity::delete_many()
            .filter(membership_role::Column::MembershipId.eq(row.id.as_str()))
            .filter(membership_role::Column::RoleName.is_not_in(names.clone()))
            .build(backend),
    ];
    if !roles.is_empty() {
        let models = names.into_iter().enumerate().map(|(i, name)| membership_role::ActiveModel {
            membership_id: Set(row.id.clone()),
            role_name: Set(name),
            account_id: Set(row.account_id.clone()),
            position: Set(i32::try_from(i).unwrap_or(i32::MAX)),
        });
        out.push(
            membership_role::Entity::insert_many(models)
                .on_conflict(
                    OnConflict::columns([membership_role::Column::MembershipId, membership_role::Column::RoleName])
                        .update_columns([membership_role::Column::Position, membership_role::Column::AccountId])
                        .to_owned(),
                )
                .build(backend),
        );
    }
    out.push(
        membership::Entity::update_many()
            .col_expr(membership::Column::UpdatedAt, Expr::value(now.as_millis()))
            .filter(membership::Column::Id.eq(row.id.as_str()))
            .build(backend),
    );
    out
}

async fn write_roles(
    conn: &impl ConnectionTrait,
    membership_id: &str,
    account: &AccountId,
    roles: &[RoleName],
) -> Result<Vec<RoleName>, StoreError> {
    membership_role::Entity::delete_many()
        .filter(membership_role::Column::MembershipId.eq(membership_id))
        .exec(conn)
        .await?;
    let written = distinct_roles(roles);
    let models: Vec<_> = written
        .iter()
        .enumerate()
        .map(|(i, r)| membership_role::ActiveModel {
            membership_id: Set(membership_id.to_owned()),
            role_name: Set(r.as_str().to_owned()),
            account_id: Set(account.as_str().to_owned()),
            position: Set(i32::try_from(i).unwrap_or(i32::MAX)),
        })
        .collect();
    if !models.is_empty() {
        membership_role::Entity::insert_many(models).exec(conn).await?;
    }
    Ok(written)
}

/// Checks that every resource exists in `account`; violations name `restriction.resource_ids[i]`.
pub(crate) async fn check_resources(
    conn: &impl ConnectionTrait,
    account: &AccountId,
    set: &Restriction,
) -> Result<(), StoreError> {
    if set.is_empty() {
        return Ok(());
    }
    let found: HashMap<String, String> = resource::Entity::find()
        .filter(resource::Column::Id.is_in(set.ids().map(|r| r.as_str().to_owned())))
        .all(conn)
        .await?
        .into_iter()
        .map(|r| (r.id, r.account_id))
        .collect();
    let violations: Vec<_> = set
        .ids()
        .enumerate()
        .filter_map(|(i, r)| match found.get(r.as_str()) {
            // A resource of another account is answered exactly as one that does not exist:
            // nothing tells the caller that it exists elsewhere, nor where.
            Some(acc) if acc == account.as_str() => None,
            Some(_) | None => Some(FieldViolation::new(
                format!("restriction.resource_ids[{i}]"),
                format!("no resource {r} in account {account}"),
            )),
        })
        .collect();
    if violations.is_empty() { Ok(()) } else { Err(StoreError::Invalid(violations)) }
}

async fn write_restriction(
    conn: &impl ConnectionTrait,
    membership_id: &str,
    account: &AccountId,
    restriction: Option<&Restriction>,
) -> Result<(), StoreError> {
    membership_resource::Entity::delete_many()
        .filter(membership_resource::Column::MembershipId.eq(membership_id))
        .exec(conn)
        .await?;
    let Some(set) = restriction else {
        return Ok(());
    };
    check_resources(conn, account, set).await?;
    if set.is_empty() {
        return Ok(());
    }
    let models: Vec<_> = set
        .iter()
        .map(|(r, cap)| membership_resource::ActiveModel {
            membership_id: Set(membership_id.to_owned()),
            resource_id: Set(r.as_str().to_owned()),
            level: Set(cap.as_str().to_owned()),
        })
        .collect();
    membership_resource::Entity::insert_many(models).exec(conn).await?;
    Ok(())
}

impl Store {
    /// Creates a membership: `pending_approval` when the account requires approval, else active.
    pub async fn create_membership(
        &self,
        cmd: &NewMembership,
        audit: &Audit,
    ) -> Result<(Membership, Revision), StoreError> {
        check_role_count(&cmd.roles)?;
        let (txn, revision) = self.begin_claimed(audit).await?;
        let acc = account_row(&txn, &cmd.account).await?;
        let member = user_row(&txn, &cmd.user).await?;
        ensure_not_suspended(&member, &acc)?;
        let kind = AccountKind::from_trusted(acc.kind.clone());
        check_names(&txn, &self.catalog, &cmd.account, &kind, &cmd.roles, "roles").await?;
        let settings: AccountSettings =
            serde_json::from_str(&acc.settings).map_err(|e| StoreError::corrupt("accounts", e))?;
        let status =
            if settings.requires_approval { MembershipStatus::PendingApproval } else { MembershipStatus::Active };
        let id = cmd.id.as_ref().map_or_else(|| new_id("mem"), |i| i.as_str().to_owned());
        let existing = membership::Entity::find()
            .filter(membership::Column::UserId.eq(cmd.user.as_str()))
            .filter(membership::Column::AccountId.eq(cmd.account.as_str()))
            .one(&txn)
            .await?;
        if let Some(existing) = existing {
            return Err(StoreError::AlreadyExists {
                entity: "membership",
                id: format!("{} (user {} in account {})", existing.id, cmd.user, cmd.account),
            });
        }
        let row = membership::ActiveModel {
            id: Set(id.clone()),
            user_id: Set(cmd.user.as_str().to_owned()),
            account_id: Set(cmd.account.as_str().to_owned()),
            status: Set(status.as_str().to_owned()),
            restricted: Set(cmd.restriction.is_some()),
            created_by: Set(audit.actor.as_ref().map(|a| a.as_str().to_owned())),
            approved_by: Set(None),
            created_at: Set(audit.now.as_millis()),
            updated_at: Set(audit.now.as_millis()),
            expires_at: Set(cmd.expires_at.map(Timestamp::as_millis)),
            expiry_recorded: Set(false),
        }
        .insert(&txn)
        .await
        .map_err(|e| StoreError::from_db(e, "membership", &id))?;
        write_roles(&txn, &id, &cmd.account, &cmd.roles).await?;
        write_restriction(&txn, &id, &cmd.account, cmd.restriction.as_ref()).await?;
        let out = load_details(&txn, std::slice::from_ref(&row)).await?;
        let after = out.first().map(MembershipSnapshot::from);
        Write { store: self, conn: &txn, revision, audit }
            .event(&row.account_id, "membership.created", &row.id, None::<&()>, after.as_ref())
            .await?;
        txn.commit().await?;
        out.into_iter().next().map(|m| (m, revision)).ok_or_else(|| StoreError::corrupt("memberships", "vanished"))
    }

    /// One membership.
    pub async fn get_membership(&self, id: &MembershipId) -> Result<Membership, StoreError> {
        let row = membership_row(&self.conn(), id).await?;
        load_details(&self.conn(), std::slice::from_ref(&row))
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| StoreError::not_found("membership", id.as_str()))
    }

    /// Memberships by id order, filtered.
    pub async fn list_memberships(
        &self,
        filter: &MembershipFilter,
        page: &PageRequest,
    ) -> Result<Page<Membership>, StoreError> {
        let cond = Condition::all()
            .add_option(filter.account.as_ref().map(|a| membership::Column::AccountId.eq(a.as_str())))
            .add_option(filter.user.as_ref().map(|u| membership::Column::UserId.eq(u.as_str())))
            .add_option(filter.status.map(|s| membership::Column::Status.eq(s.as_str())))
            .add_option(filter.expiring_before.map(|t| membership::Column::ExpiresAt.lt(t.as_millis())));
        let found = Keyset::id(membership::Column::Id).page(&self.conn(), cond, page).await?;
        let items = load_details(&self.conn(), &found.items).await?;
        Ok(found.with_items(items))
    }

    /// Replaces a membership's roles (at most [`MAX_MEMBERSHIP_ROLES`]).
    pub async fn set_membership_roles(
        &self,
        id: &MembershipId,
        roles: &[RoleName],
        audit: &Audit,
    ) -> Result<(Membership, Revision), StoreError> {
        check_role_count(roles)?;
        self.edit_roles(id, RolesEdit::Set(roles.to_vec()), audit).await
    }

    /// Adds one role to a membership (no change when already held). The membership is read, and
    /// its roles rewritten, inside one write: two concurrent assigns of different roles both take
    /// effect. A membership holds at most [`MAX_MEMBERSHIP_ROLES`] roles (`ROLE_LIMIT`).
    pub async fn assign_role(
        &self,
        id: &MembershipId,
        role: &RoleName,
        audit: &Audit,
    ) -> Result<(Membership, Revision), StoreError> {
        self.edit_roles(id, RolesEdit::Assign(role.clone()), audit).await
    }

    /// Removes one role from a membership (no change when not held); its last role cannot be
    /// removed (`LAST_ROLE`). Read and written inside one write, like [`Store::assign_role`].
    pub async fn unassign_role(
        &self,
        id: &MembershipId,
        role: &RoleName,
        audit: &Audit,
    ) -> Result<(Membership, Revision), StoreError> {
        self.edit_roles(id, RolesEdit::Unassign(role.clone()), audit).await
    }

    /// Restricts a membership to some resources, or lifts the restriction (`None`).
    pub async fn set_resource_restriction(
        &self,
        id: &MembershipId,
        restriction: Option<&Restriction>,
        audit: &Audit,
    ) -> Result<(Membership, Revision), StoreError> {
        self.change_membership(id, audit, "membership.restriction_changed", async |txn, held| {
            let row = held.row;
            let account = AccountId::from_trusted(row.account_id.clone());
            write_restriction(txn, &row.id, &account, restriction).await?;
            let mut active: membership::ActiveModel = row.clone().into();
            active.restricted = Set(restriction.is_some());
            active.update(txn).await?;
            Ok(Change::Changed)
        })
        .await
    }

    /// Suspends or reactivates a membership, or approves a pending one (`approved_by` set).
    ///
    /// Transitions: active → suspended, suspended → active, pending → active by approval only;
    /// anything else is `ALREADY_SUSPENDED`, `NOT_SUSPENDED`, `MEMBERSHIP_PENDING` or
    /// `MEMBERSHIP_NOT_PENDING` ([`guichet_domain::check_membership_transition`], which the
    /// preview checks too), checked inside the write.
    pub async fn set_membership_status(
        &self,
        id: &MembershipId,
        status: MembershipStatus,
        approval: bool,
        audit: &Audit,
    ) -> Result<(Membership, Revision), StoreError> {
        self.set_membership_status_if_version(id, status, approval, None, audit).await
    }

    /// [`Store::set_membership_status`], refused with `STALE_VERSION` when `expected_version` is
    /// given and the membership read inside the write has another [`Membership::version`] (the
    /// approver reviewed something else). An approval also refuses, inside the write, a suspended
    /// user (`USER_SUSPENDED`) or account (`ACCOUNT_SUSPENDED`).
    pub async fn set_membership_status_if_version(
        &self,
        id: &MembershipId,
        status: MembershipStatus,
        approval: bool,
        expected_version: Option<&str>,
        audit: &Audit,
    ) -> Result<(Membership, Revision), StoreError> {
        let approved_by = if approval { audit.actor.as_ref() } else { None };
        let status_event = match (status, approval) {
            (_, true) => "membership.approved",
            (MembershipStatus::Suspended, false) => "membership.suspended",
            (MembershipStatus::Active | MembershipStatus::PendingApproval, false) => "membership.reactivated",
        };
        self.change_membership(id, audit, status_event, async |txn, held| {
            let (row, membership) = (held.row, held.current);
            let current = rows::membership_status(&row.status)?;
            let subject = format!("memberships/{}", row.id);
            check_membership_transition(&membership.id, current, status, approval)
                .map_err(|p| StoreError::precondition(p, subject))?;
            check_version(membership, expected_version)?;
            if approval {
                ensure_not_suspended(&user_row(txn, &UserId::from_trusted(row.user_id.clone())).await?, held.account)?;
            }
            let mut active: membership::ActiveModel = row.clone().into();
            active.status = Set(status.as_str().to_owned());
            if approval {
                active.approved_by = Set(approved_by.map(|a| a.as_str().to_owned()));
            }
            active.update(txn).await?;
            Ok(Change::Changed)
        })
        .await
    }

    /// Sets when a membership stops granting (`None`: never). A new expiry is recorded again by
    /// the sweeper when it passes ([`Store::record_expiries`]).
    pub async fn set_membership_expiry(
        &self,
        id: &MembershipId,
        expires_at: Option<Timestamp>,
        audit: &Audit,
    ) -> Result<(Membership, Revision), StoreError> {
        self.change_membership(id, audit, "membership.expiry_changed", async |txn, held| {
            let (row, current) = (held.row, held.current);
            if current.expires_at == expires_at {
                return Ok(Change::Unchanged);
            }
            let mut active: membership::ActiveModel = row.clone().into();
            active.expires_at = Set(expires_at.map(Timestamp::as_millis));
            active.expiry_recorded = Set(false);
            active.update(txn).await?;
            Ok(Change::Changed)
        })
        .await
    }

    /// Removes a membership.
    pub async fn delete_membership(&self, id: &MembershipId, audit: &Audit) -> Result<Revision, StoreError> {
        let (txn, revision) = self.begin_claimed(audit).await?;
        let row = membership_row(&txn, id).await?;
        let account = AccountId::from_trusted(row.account_id.clone());
        let guard = AdminGuard::before(&txn, &self.catalog, &account).await?;
        let before = load_details(&txn, std::slice::from_ref(&row)).await?.first().map(MembershipSnapshot::from);
        delete_rows(&txn, id).await?;
        guard.after(&txn, &self.catalog).await?;
        Write { store: self, conn: &txn, revision, audit }
            .event(account.as_str(), "membership.deleted", id.as_str(), before.as_ref(), None::<&()>)
            .await?;
        txn.commit().await?;
        Ok(revision)
    }

    /// One read-modify-write of a membership: the row and its details are read inside the write
    /// transaction and handed to `change`, so that no concurrent write can slip between the read
    /// and the write. A change that changes nothing is rolled back and answers the membership as
    /// read with the latest revision.
    pub(crate) async fn change_membership<F>(
        &self,
        id: &MembershipId,
        audit: &Audit,
        kind: &str,
        change: F,
    ) -> Result<(Membership, Revision), StoreError>
    where
        F: AsyncFnOnce(&sea_orm::DatabaseTransaction, Held<'_>) -> Result<Change, StoreError>,
    {
        let (txn, revision, locked) = if self.writer.get_database_backend() == sea_orm::DbBackend::Postgres {
            // The lock and the read in one round trip (see `lock_memberships`).
            let txn = self.begin_unlocked().await?;
            let bumped = std::time::Instant::now();
            let read = lock_memberships(&txn, &[id.as_str()], 1).await;
            self.locked(bumped);
            let (revision, mut found) = read?;
            let (Some(revision), Some(locked)) = (revision, found.remove(id.as_str())) else {
                return Err(StoreError::not_found("membership", id.as_str()));
            };
            crate::idempotency::claim(&txn, revision, audit).await?;
            (txn, revision, locked)
        } else {
            let (txn, revision) = self.begin_claimed(audit).await?;
            let (row, account, roles) = membership_account_roles(&txn, id).await?;
            (txn, revision, Locked { row, account, roles, user_active: None })
        };
        let Locked { row, account: acc, roles, user_active } = locked;
        let mut restrictions = load_restrictions(&txn, std::slice::from_ref(&row)).await?;
        let current = rows::membership(&row, roles, restrictions.remove(&row.id))?;
        let account_kind = AccountKind::from_trusted(acc.kind.clone());
        let mut guard = MemberGuard::before(&txn, &self.catalog, account_kind.clone(), &current, user_active).await?;
        let before = MembershipSnapshot::from(&current);
        let held = Held { row: &row, current: &current, account: &acc, kind: &account_kind, catalog: &self.catalog };
        let write = Write { store: self, conn: &txn, revision, audit };
        let changed = match change(&txn, held).await? {
            Change::Unchanged => {
                txn.rollback().await?;
                return Ok((current, self.revision().await?));
            }
            Change::Roles(roles) => {
                // Only the roles change: the membership after the change is known without
                // reading it, and so is whether it keeps the last-administrator rule. When it
                // does, the roles, the row's time of change, the event and its changes are one
                // statement on PostgreSQL.
                let (changed, writes) = roles_changed(txn.get_database_backend(), &row, roles, &current, audit)?;
                let after = MembershipSnapshot::from(&changed);
                if guard.keeps(&txn, &self.catalog, &changed).await? {
                    write.event_in(&acc, kind, &row.id, Some(&before), Some(&after), &writes).await?;
                } else {
                    for statement in writes {
                        txn.execute_raw(statement).await?;
                    }
                    guard.after(&txn, &self.catalog, &changed).await?;
                    write.event_in(&acc, kind, &row.id, Some(&before), Some(&after), &[]).await?;
                }
                changed
            }
            Change::Changed => {
                // The row as `change` left it, with its time of change: one statement.
                let row = membership::Entity::update_many()
                    .col_expr(membership::Column::UpdatedAt, sea_orm::sea_query::Expr::value(audit.now.as_millis()))
                    .filter(membership::Column::Id.eq(id.as_str()))
                    .exec_with_returning(&txn)
                    .await?
                    .into_iter()
                    .next()
                    .ok_or_else(|| StoreError::corrupt("memberships", "vanished"))?;
                let changed = load_details(&txn, std::slice::from_ref(&row))
                    .await?
                    .into_iter()
                    .next()
                    .ok_or_else(|| StoreError::corrupt("memberships", "vanished"))?;
                guard.after(&txn, &self.catalog, &changed).await?;
                let after = MembershipSnapshot::from(&changed);
                write.event_in(&acc, kind, &row.id, Some(&before), Some(&after), &[]).await?;
                changed
            }
        };
        txn.commit().await?;
        Ok((changed, revision))
    }
}

/// The kind of the audit event of a change of roles.
pub(crate) const KIND_ROLES_CHANGED: &str = "membership.roles_changed";

/// A change of a membership's roles, as asked: decided by [`RolesEdit::apply`] on the membership
/// read under the lock, whether made alone or in a batch (see `group_commit`).
#[derive(Debug, Clone)]
pub(crate) enum RolesEdit {
    /// Replace them (`SetMembershipRoles`; the count already checked).
    Set(Vec<RoleName>),
    /// Add one (`AssignRole`).
    Assign(RoleName),
    /// Remove one (`UnassignRole`).
    Unassign(RoleName),
}

impl RolesEdit {
    /// The change on the membership `held`: the roles it will hold, or no change.
    pub(crate) async fn apply(&self, txn: &impl ConnectionTrait, held: Held<'_>) -> Result<Change, StoreError> {
        let (row, current) = (held.row, held.current);
        let account = AccountId::from_trusted(row.account_id.clone());
        match self {
            RolesEdit::Set(roles) => {
                check_names(txn, held.catalog, &account, held.kind, roles, "roles").await?;
                Ok(Change::Roles(distinct_roles(roles)))
            }
            RolesEdit::Assign(role) => {
                if current.roles.contains(role) {
                    return Ok(Change::Unchanged);
                }
                // The request names one role: its violations are reported on `role`.
                check_name(txn, held.catalog, &account, held.kind, role, "role").await?;
                if current.roles.len() >= MAX_MEMBERSHIP_ROLES {
                    return Err(StoreError::Precondition {
                        kind: "ROLE_LIMIT",
                        subject: format!("memberships/{}", row.id),
                        description: format!(
                            "membership {} already holds {MAX_MEMBERSHIP_ROLES} roles: unassign one first",
                            row.id
                        ),
                    });
                }
                let mut roles = current.roles.clone();
                roles.push(role.clone());
                Ok(Change::Roles(distinct_roles(&roles)))
            }
            RolesEdit::Unassign(role) => {
                let subject = format!("memberships/{}", row.id);
                let Some(roles) =
                    roles_without(&current.roles, role).map_err(|p| StoreError::precondition(p, subject))?
                else {
                    // Removing a role the membership does not hold changes nothing and succeeds.
                    return Ok(Change::Unchanged);
                };
                Ok(Change::Roles(distinct_roles(&roles)))
            }
        }
    }
}

/// Membership `row` (`current` as read) given `roles` (without repeats) at `audit.now`: the
/// membership after the change, known without reading it, and the statements that make it.
pub(crate) fn roles_changed(
    backend: sea_orm::DbBackend,
    row: &membership::Model,
    roles: Vec<RoleName>,
    current: &Membership,
    audit: &Audit,
) -> Result<(Membership, Vec<sea_orm::Statement>), StoreError> {
    let mut row = row.clone();
    row.updated_at = audit.now.as_millis();
    let changed = rows::membership(&row, roles, current.restriction.clone())?;
    let writes = role_writes(backend, &row, &changed.roles, audit.now);
    Ok((changed, writes))
}

/// What the `change` of [`Store::change_membership`] is handed, all read inside its write: the
/// membership's row and details, its account's row and kind, the catalog.
#[derive(Clone, Copy)]
pub(crate) struct Held<'a> {
    pub(crate) row: &'a membership::Model,
    pub(crate) current: &'a Membership,
    pub(crate) account: &'a account::Model,
    pub(crate) kind: &'a AccountKind,
    pub(crate) catalog: &'a Catalog,
}

/// A membership as audit events record it (membership and invitation events alike).
#[derive(Debug, serde::Serialize)]
pub(crate) struct MembershipSnapshot {
    id: String,
    user_id: String,
    account_id: String,
    roles: Vec<String>,
    status: String,
    restricted_to: Option<Vec<String>>,
    /// The resources of `restricted_to` capped at `view` (absent when none is).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    view_only: Vec<String>,
    created_by: Option<String>,
    approved_by: Option<String>,
    /// When it stops granting, in milliseconds since the epoch (absent: never).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    expires_at: Option<i64>,
}

impl From<&Membership> for MembershipSnapshot {
    fn from(m: &Membership) -> Self {
        Self {
            id: m.id.to_string(),
            user_id: m.user.to_string(),
            account_id: m.account.to_string(),
            roles: m.roles.iter().map(ToString::to_string).collect(),
            status: m.status.to_string(),
            restricted_to: m.restriction.as_ref().map(|r| r.ids().map(ToString::to_string).collect()),
            view_only: m
                .restriction
                .iter()
                .flat_map(Restriction::iter)
                .filter(|(_, cap)| *cap < Level::Full)
                .map(|(r, _)| r.to_string())
                .collect(),
            created_by: m.created_by.as_ref().map(ToString::to_string),
            approved_by: m.approved_by.as_ref().map(ToString::to_string),
            expires_at: m.expires_at.map(Timestamp::as_millis),
        }
    }
}
