//! The last-administrator rule.
//!
//! **Every account keeps an active administrator** (a member whose role holds `users:full`). Each
//! write that could remove one (role edit, suspension, removal, a custom role losing `users:full`)
//! counts the account's active administrators inside its transaction, before and after the change,
//! and refuses with `LAST_ADMINISTRATOR` when there was one and would be none. Writes hold the write
//! lock from their first statement (see the crate docs), so two concurrent demotions of the last two
//! administrators are serialised: the second one sees the first and is refused.
//!
//! A write that changes one membership and nothing else ([`MemberGuard`]: its roles, status,
//! restriction or expiry) changes the count by that membership alone: the count after is the count
//! before, minus one if the membership counted before, plus one if it counts after. So the rule
//! is broken only when the membership counted before, no longer counts, and the count after is
//! zero — and only then is the account counted (once, after the change). Editing a member who is
//! not an administrator, or who stays one, reads no other member: a few statements fewer while
//! the write holds the lock.

use std::collections::BTreeSet;

use guichet_domain::{
    AccountId, AccountKind, Catalog, Membership, MembershipStatus, RoleName, UserStatus, keep_an_administrator,
};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use crate::StoreError;
use crate::entities::{membership, membership_role, user};
use crate::roles::{account_row, resolve};

/// How many active administrators the account has.
pub(crate) async fn administrator_count(
    conn: &impl ConnectionTrait,
    catalog: &Catalog,
    account: &AccountId,
) -> Result<usize, StoreError> {
    let acc = account_row(conn, account).await?;
    let kind = AccountKind::from_trusted(acc.kind);
    let members = membership::Entity::find()
        .filter(membership::Column::AccountId.eq(account.as_str()))
        .filter(membership::Column::Status.eq(MembershipStatus::Active.as_str()))
        .all(conn)
        .await?;
    if members.is_empty() {
        return Ok(0);
    }
    let active_users: BTreeSet<String> = user::Entity::find()
        .filter(user::Column::Id.is_in(members.iter().map(|m| m.user_id.clone())))
        .filter(user::Column::Status.eq(UserStatus::Active.as_str()))
        .all(conn)
        .await?
        .into_iter()
        .map(|u| u.id)
        .collect();
    let role_rows = membership_role::Entity::find()
        .filter(membership_role::Column::MembershipId.is_in(members.iter().map(|m| m.id.clone())))
        .all(conn)
        .await?;
    let wanted: Vec<_> = role_rows
        .iter()
        .map(|r| (account.clone(), kind.clone(), RoleName::from_trusted(r.role_name.clone())))
        .collect();
    let roles = resolve(conn, catalog, &wanted).await?;
    let admins: BTreeSet<&str> = role_rows
        .iter()
        .filter(|r| {
            roles
                .get(&(account.clone(), RoleName::from_trusted(r.role_name.clone())))
                .is_some_and(guichet_domain::Role::is_administrator)
        })
        .map(|r| r.membership_id.as_str())
        .collect();
    Ok(members.iter().filter(|m| admins.contains(m.id.as_str()) && active_users.contains(&m.user_id)).count())
}

/// The last-administrator guard: count before a change, check after it.
pub(crate) struct AdminGuard {
    account: AccountId,
    before: usize,
}

impl AdminGuard {
    pub(crate) async fn before(
        conn: &impl ConnectionTrait,
        catalog: &Catalog,
        account: &AccountId,
    ) -> Result<Self, StoreError> {
        Ok(Self { account: account.clone(), before: administrator_count(conn, catalog, account).await? })
    }

    pub(crate) async fn after(self, conn: &impl ConnectionTrait, catalog: &Catalog) -> Result<(), StoreError> {
        // Counted after only when there was one before: a few statements fewer otherwise.
        let after = if self.before > 0 { administrator_count(conn, catalog, &self.account).await? } else { 0 };
        keep_an_administrator(&self.account, self.before, after)
            .map_err(|p| StoreError::precondition(p, format!("accounts/{}", self.account)))
    }
}

/// Whether membership `m` counts as an active administrator of its account (of kind `kind`): it
/// is active, one of its roles holds `users:full`, and its user is active (read only when the rest
/// holds).
async fn counts(
    conn: &impl ConnectionTrait,
    catalog: &Catalog,
    kind: &AccountKind,
    m: &Membership,
    user_active: &mut Option<bool>,
) -> Result<bool, StoreError> {
    if m.status != MembershipStatus::Active {
        return Ok(false);
    }
    let wanted: Vec<_> = m.roles.iter().map(|r| (m.account.clone(), kind.clone(), r.clone())).collect();
    let roles = resolve(conn, catalog, &wanted).await?;
    let administrator = m
        .roles
        .iter()
        .any(|r| roles.get(&(m.account.clone(), r.clone())).is_some_and(guichet_domain::Role::is_administrator));
    if !administrator {
        return Ok(false);
    }
    if let Some(active) = *user_active {
        return Ok(active);
    }
    let active = user::Entity::find_by_id(m.user.as_str().to_owned())
        .filter(user::Column::Status.eq(UserStatus::Active.as_str()))
        .one(conn)
        .await?
        .is_some();
    *user_active = Some(active);
    Ok(active)
}

/// The last-administrator guard of a write that changes one membership and nothing else (see the
/// module docs): whether the membership counted before the change.
pub(crate) struct MemberGuard {
    kind: AccountKind,
    counted: bool,
    /// Whether the membership's user is active, once read (no membership write changes a user).
    user_active: Option<bool>,
}

impl MemberGuard {
    /// Before the change: `m` as it is, in its account of kind `kind`; `user_active`, whether its
    /// user is active when the write has read it already.
    pub(crate) async fn before(
        conn: &impl ConnectionTrait,
        catalog: &Catalog,
        kind: AccountKind,
        m: &Membership,
        mut user_active: Option<bool>,
    ) -> Result<Self, StoreError> {
        let counted = counts(conn, catalog, &kind, m, &mut user_active).await?;
        Ok(Self { kind, counted, user_active })
    }

    /// Whether the change to `m` (as it is after the change) keeps the rule without counting the
    /// account's administrators: `m` did not count before, or still counts. It reads what `m`
    /// after the change depends on and the change does not write (its account's custom roles, its
    /// user), so it may be asked before the change is made.
    pub(crate) async fn keeps(
        &mut self,
        conn: &impl ConnectionTrait,
        catalog: &Catalog,
        m: &Membership,
    ) -> Result<bool, StoreError> {
        Ok(!self.counted || counts(conn, catalog, &self.kind, m, &mut self.user_active).await?)
    }

    /// After the change: `m` as it is now. Refuses with `LAST_ADMINISTRATOR` when it counted
    /// before, no longer does, and the account has no active administrator left.
    pub(crate) async fn after(
        mut self,
        conn: &impl ConnectionTrait,
        catalog: &Catalog,
        m: &Membership,
    ) -> Result<(), StoreError> {
        if self.keeps(conn, catalog, m).await? {
            return Ok(());
        }
        AdminGuard { account: m.account.clone(), before: 1 }.after(conn, catalog).await
    }
}
