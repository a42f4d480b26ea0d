//! Roles: built-in ones come from the catalog for the account's kind, custom ones from the
//! `roles` table of the account. Custom role names never shadow a built-in name of the kind.

use std::collections::{BTreeSet, HashMap};

use guichet_domain::{
    AccountId, AccountKind, AccountRole, Catalog, InvitationStatus, Revision, Role, RoleDefinition, RoleName, Timestamp,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, Set,
};

use crate::entities::{account, membership_role, role};
use crate::events::{Audit, Write};
use crate::rows::{grants_from_json, grants_to_json};
use crate::{Store, StoreError, find_in, found};

pub(crate) fn custom_role(row: &role::Model) -> Result<AccountRole, StoreError> {
    Ok(AccountRole {
        account: Some(AccountId::from_trusted(row.account_id.clone())),
        role: Role {
            name: RoleName::from_trusted(row.name.clone()),
            display_name: row.display_name.clone(),
            description: row.description.clone(),
            builtin: false,
            grants: grants_from_json(&row.grants)?,
            descendant_grants: grants_from_json(&row.descendant_grants)?,
        },
        created_at: Some(Timestamp::from_millis(row.created_at)),
        updated_at: Some(Timestamp::from_millis(row.updated_at)),
    })
}

/// Resolves role names held in accounts into roles.
///
/// `wanted` lists (account id, account kind, role name); the result maps (account id, role name)
/// to the role. One query whatever the number of accounts (up to [`crate::MAX_IN_LIST`] accounts
/// with custom role names); names that resolve to nothing are absent.
pub(crate) async fn resolve(
    conn: &impl ConnectionTrait,
    catalog: &Catalog,
    wanted: &[(AccountId, AccountKind, RoleName)],
) -> Result<HashMap<(AccountId, RoleName), Role>, StoreError> {
    let custom = custom_accounts(catalog, wanted);
    let rows = find_in::<role::Entity>(conn, role::Column::AccountId, custom, Condition::all()).await?;
    resolve_rows(catalog, wanted, &rows)
}

/// The accounts among `wanted` that name a role their kind does not build in.
pub(crate) fn custom_accounts(catalog: &Catalog, wanted: &[(AccountId, AccountKind, RoleName)]) -> BTreeSet<String> {
    wanted
        .iter()
        .filter(|(_, kind, name)| catalog.builtin_role(kind, name).is_none())
        .map(|(account, _, _)| account.as_str().to_owned())
        .collect()
}

/// [`resolve`] on custom role rows already read: at least those of [`custom_accounts`] (or every
/// one named). A built-in name resolves to the catalog's role, whatever the rows hold.
pub(crate) fn resolve_rows(
    catalog: &Catalog,
    wanted: &[(AccountId, AccountKind, RoleName)],
    custom: &[role::Model],
) -> Result<HashMap<(AccountId, RoleName), Role>, StoreError> {
    let mut out = HashMap::new();
    for (account, kind, name) in wanted {
        if let Some(role) = catalog.builtin_role(kind, name) {
            out.insert((account.clone(), name.clone()), role.clone());
        }
    }
    for row in custom {
        let r = custom_role(row)?;
        let key = (AccountId::from_trusted(row.account_id.clone()), r.role.name.clone());
        out.entry(key).or_insert(r.role);
    }
    Ok(out)
}

/// [`check_names`] for the one role a request names in `field`: violations name `field` itself.
pub(crate) async fn check_name(
    conn: &impl ConnectionTrait,
    catalog: &Catalog,
    account: &AccountId,
    kind: &AccountKind,
    name: &RoleName,
    field: &str,
) -> Result<HashMap<RoleName, Role>, StoreError> {
    check_names(conn, catalog, account, kind, std::slice::from_ref(name), field).await.map_err(|mut e| {
        if let StoreError::Invalid(violations) = &mut e {
            for v in violations {
                v.field = field.to_owned();
            }
        }
        e
    })
}

/// Checks that each name is a role of the account; violations name `field[i]`.
pub(crate) async fn check_names(
    conn: &impl ConnectionTrait,
    catalog: &Catalog,
    account: &AccountId,
    kind: &AccountKind,
    names: &[RoleName],
    field: &str,
) -> Result<HashMap<RoleName, Role>, StoreError> {
    let wanted: Vec<_> = names.iter().map(|n| (account.clone(), kind.clone(), n.clone())).collect();
    let resolved = resolve(conn, catalog, &wanted).await?;
    let mut violations = Vec::new();
    let mut out = HashMap::new();
    for (i, name) in names.iter().enumerate() {
        match resolved.get(&(account.clone(), name.clone())) {
            Some(role) => {
                out.insert(name.clone(), role.clone());
            }
            None => violations.push(guichet_domain::FieldViolation::new(
                format!("{field}[{i}]"),
                format!("no role {name} in account {account} (kind {kind}): use a built-in role of the kind or a custom role of the account"),
            )),
        }
    }
    if violations.is_empty() { Ok(out) } else { Err(StoreError::Invalid(violations)) }
}

pub(crate) async fn account_row(conn: &impl ConnectionTrait, id: &AccountId) -> Result<account::Model, StoreError> {
    found::<account::Entity>(conn, id.as_str().to_owned(), "account", id.as_str()).await
}

fn check_features(catalog: &Catalog, def: &RoleDefinition) -> Result<(), StoreError> {
    let mut violations = Vec::new();
    for (field, grants) in [("grants", &def.grants), ("descendant_grants", &def.descendant_grants)] {
        for (i, feature) in grants.keys().enumerate() {
            if catalog.feature(feature).is_none() {
                violations.push(guichet_domain::FieldViolation::new(
                    format!("{field}[{i}].feature"),
                    format!("unknown feature {feature}: see ListCatalog"),
                ));
            }
        }
    }
    if violations.is_empty() { Ok(()) } else { Err(StoreError::Invalid(violations)) }
}

impl Store {
    /// The built-in roles of the account's kind, then its custom roles by name.
    pub async fn list_roles(&self, account: &AccountId) -> Result<Vec<AccountRole>, StoreError> {
        let acc = account_row(&self.conn(), account).await?;
        let kind = AccountKind::from_trusted(acc.kind.clone());
        let mut out: Vec<AccountRole> = self
            .catalog
            .kind(&kind)
            .map(|k| {
                k.roles
                    .iter()
                    .map(|r| AccountRole { account: None, role: r.clone(), created_at: None, updated_at: None })
                    .collect()
            })
            .unwrap_or_default();
        let mut rows =
            role::Entity::find().filter(role::Column::AccountId.eq(account.as_str())).all(&self.conn()).await?;
        rows.sort_by(|a, b| a.name.cmp(&b.name));
        for row in &rows {
            out.push(custom_role(row)?);
        }
        Ok(out)
    }

    /// One role of the account, built-in or custom.
    pub async fn get_role(&self, account: &AccountId, name: &RoleName) -> Result<AccountRole, StoreError> {
        let acc = account_row(&self.conn(), account).await?;
        let kind = AccountKind::from_trusted(acc.kind.clone());
        if let Some(r) = self.catalog.builtin_role(&kind, name) {
            return Ok(AccountRole { account: None, role: r.clone(), created_at: None, updated_at: None });
        }
        let row = found::<role::Entity>(
            &self.conn(),
            (account.as_str().to_owned(), name.as_str().to_owned()),
            "role",
            format!("{account}/{name}"),
        )
        .await?;
        custom_role(&row)
    }

    /// Opens a write of the custom role `name` of `account`, its idempotency key claimed, with the
    /// account's kind when `name` is a built-in role of that kind (which no write changes).
    async fn begin_role_write(
        &self,
        account: &AccountId,
        name: &RoleName,
        audit: &Audit,
    ) -> Result<(DatabaseTransaction, Revision, Option<AccountKind>), StoreError> {
        let (txn, revision) = self.begin_claimed(audit).await?;
        let acc = account_row(&txn, account).await?;
        let kind = AccountKind::from_trusted(acc.kind.clone());
        let builtin = self.catalog.builtin_role(&kind, name).is_some().then_some(kind);
        Ok((txn, revision, builtin))
    }

    /// Creates a custom role of the account.
    pub async fn create_role(
        &self,
        def: &RoleDefinition,
        audit: &Audit,
    ) -> Result<(AccountRole, Revision), StoreError> {
        check_features(&self.catalog, def)?;
        let (txn, revision, builtin) = self.begin_role_write(&def.account, &def.name, audit).await?;
        if let Some(kind) = builtin {
            return Err(StoreError::AlreadyExists {
                entity: "role",
                id: format!("{} (a built-in role of kind {kind})", def.name),
            });
        }
        let id = format!("{}/{}", def.account, def.name);
        let row = role::ActiveModel {
            account_id: Set(def.account.as_str().to_owned()),
            name: Set(def.name.as_str().to_owned()),
            display_name: Set(def.display_name.clone()),
            description: Set(def.description.clone()),
            grants: Set(grants_to_json(&def.grants)),
            descendant_grants: Set(grants_to_json(&def.descendant_grants)),
            created_at: Set(audit.now.as_millis()),
            updated_at: Set(audit.now.as_millis()),
        }
        .insert(&txn)
        .await
        .map_err(|e| StoreError::from_db(e, "role", &id))?;
        Write { store: self, conn: &txn, revision, audit }.created(&row.account_id, "role.created", &id, &row).await?;
        txn.commit().await?;
        Ok((custom_role(&row)?, revision))
    }

    /// Replaces a custom role's grants and texts. Built-in roles cannot be edited.
    pub async fn update_role(
        &self,
        def: &RoleDefinition,
        audit: &Audit,
    ) -> Result<(AccountRole, Revision), StoreError> {
        check_features(&self.catalog, def)?;
        let (txn, revision, builtin) = self.begin_role_write(&def.account, &def.name, audit).await?;
        if builtin.is_some() {
            return Err(builtin_precondition(&def.account, &def.name));
        }
        let existing = found::<role::Entity>(
            &txn,
            (def.account.as_str().to_owned(), def.name.as_str().to_owned()),
            "role",
            format!("{}/{}", def.account, def.name),
        )
        .await?;
        let guard = crate::administrators::AdminGuard::before(&txn, &self.catalog, &def.account).await?;
        let before = existing.clone();
        let mut active: role::ActiveModel = existing.into();
        active.display_name = Set(def.display_name.clone());
        active.description = Set(def.description.clone());
        active.grants = Set(grants_to_json(&def.grants));
        active.descendant_grants = Set(grants_to_json(&def.descendant_grants));
        active.updated_at = Set(audit.now.as_millis());
        let row = active.update(&txn).await?;
        guard.after(&txn, &self.catalog).await?;
        let target = format!("{}/{}", row.account_id, row.name);
        Write { store: self, conn: &txn, revision, audit }
            .event(&row.account_id, "role.updated", &target, Some(&before), Some(&row))
            .await?;
        txn.commit().await?;
        Ok((custom_role(&row)?, revision))
    }

    /// Deletes a custom role no membership, delegation or pending invitation uses (`ROLE_IN_USE`).
    pub async fn delete_role(
        &self,
        account: &AccountId,
        name: &RoleName,
        audit: &Audit,
    ) -> Result<Revision, StoreError> {
        let (txn, revision, builtin) = self.begin_role_write(account, name, audit).await?;
        if builtin.is_some() {
            return Err(builtin_precondition(account, name));
        }
        let in_use = membership_role::Entity::find()
            .filter(membership_role::Column::AccountId.eq(account.as_str()))
            .filter(membership_role::Column::RoleName.eq(name.as_str()))
            .one(&txn)
            .await?;
        let delegated = crate::entities::delegation::Entity::find()
            .filter(crate::entities::delegation::Column::ToAccountId.eq(account.as_str()))
            .filter(crate::entities::delegation::Column::Role.eq(name.as_str()))
            .one(&txn)
            .await?;
        // A pending invitation (neither accepted, revoked nor expired) would hand the role out
        // when accepted: it holds the role as much as a membership does.
        let mut invited = None;
        for row in crate::entities::invitation::Entity::find()
            .filter(crate::entities::invitation::Column::AccountId.eq(account.as_str()))
            .filter(crate::entities::invitation::Column::Status.eq(InvitationStatus::Pending.as_str()))
            .filter(crate::entities::invitation::Column::ExpiresAt.gt(audit.now.as_millis()))
            .all(&txn)
            .await?
        {
            let roles: Vec<String> =
                serde_json::from_str(&row.roles).map_err(|e| StoreError::corrupt("invitations", e))?;
            if roles.iter().any(|r| r == name.as_str()) {
                invited = Some(row.id);
                break;
            }
        }
        let holder = match (in_use, delegated, invited) {
            (Some(m), _, _) => Some(format!("membership {}", m.membership_id)),
            (None, Some(d), _) => Some(format!("delegation {}", d.id)),
            (None, None, Some(i)) => Some(format!("pending invitation {i}")),
            (None, None, None) => None,
        };
        if let Some(holder) = holder {
            return Err(StoreError::Precondition {
                kind: "ROLE_IN_USE",
                subject: format!("accounts/{account}/roles/{name}"),
                description: format!(
                    "role {name} is held by a membership, a delegation or a pending invitation (e.g. {holder}): \
                     reassign them, or revoke the invitation, first"
                ),
            });
        }
        let before = found::<role::Entity>(
            &txn,
            (account.as_str().to_owned(), name.as_str().to_owned()),
            "role",
            format!("{account}/{name}"),
        )
        .await?;
        role::Entity::delete_by_id((account.as_str().to_owned(), name.as_str().to_owned())).exec(&txn).await?;
        let target = format!("{account}/{name}");
        self.commit_deletion((txn, revision), audit, account.as_str(), "role.deleted", &target, &before).await
    }
}

fn builtin_precondition(account: &AccountId, name: &RoleName) -> StoreError {
    StoreError::Precondition {
        kind: "BUILTIN_ROLE",
        subject: format!("accounts/{account}/roles/{name}"),
        description: format!(
            "{name} is a built-in role of the catalog and cannot be changed: create a custom role instead"
        ),
    }
}
