//! Rows to domain records and back. Values read back were validated when written; a row that does
//! not parse is reported as corrupt rather than trusted.

use std::collections::{BTreeMap, BTreeSet};

use guichet_domain::{
    Account, AccountId, AccountKind, AccountSettings, AccountStatus, Delegation, DelegationId, Email, FeatureName,
    Grants, Membership, MembershipId, MembershipStatus, Phone, Resource, ResourceId, Restriction, RoleName, Timestamp,
    User, UserId, UserStatus,
};

use crate::StoreError;
use crate::entities::{account, delegation, membership, resource, user};

pub(crate) fn account(row: &account::Model) -> Result<Account, StoreError> {
    let modules: BTreeSet<String> =
        serde_json::from_str(&row.modules).map_err(|e| StoreError::corrupt("accounts", e))?;
    let settings: AccountSettings =
        serde_json::from_str(&row.settings).map_err(|e| StoreError::corrupt("accounts", e))?;
    Ok(Account {
        id: AccountId::from_trusted(row.id.clone()),
        name: row.name.clone(),
        kind: AccountKind::from_trusted(row.kind.clone()),
        parent: row.parent_id.clone().map(AccountId::from_trusted),
        status: account_status(&row.status)?,
        suspension_reason: row.suspension_reason.clone(),
        modules: modules.into_iter().map(FeatureName::from_trusted).collect(),
        settings,
        created_at: Timestamp::from_millis(row.created_at),
        updated_at: Timestamp::from_millis(row.updated_at),
    })
}

pub(crate) fn account_status(s: &str) -> Result<AccountStatus, StoreError> {
    AccountStatus::parse(s).map_err(|e| StoreError::corrupt("accounts", e))
}

/// A stored cap (`membership_resources.level`): `view` or `full`.
pub(crate) fn cap_level(stored: &str) -> Result<guichet_domain::Level, StoreError> {
    match guichet_domain::Level::parse(stored) {
        Ok(level @ (guichet_domain::Level::View | guichet_domain::Level::Full)) => Ok(level),
        _ => Err(StoreError::corrupt("membership_resources", format!("level {stored:?} is not view or full"))),
    }
}

pub(crate) fn membership_status(s: &str) -> Result<MembershipStatus, StoreError> {
    MembershipStatus::parse(s).map_err(|e| StoreError::corrupt("memberships", e))
}

pub(crate) fn user(row: &user::Model) -> Result<User, StoreError> {
    Ok(User {
        id: UserId::from_trusted(row.id.clone()),
        email: Email::parse(&row.email).map_err(|e| StoreError::corrupt("users", e))?,
        given_name: row.given_name.clone(),
        family_name: row.family_name.clone(),
        phone: row.phone.as_deref().map(Phone::parse).transpose().map_err(|e| StoreError::corrupt("users", e))?,
        idp_subject: row.idp_subject.clone(),
        status: UserStatus::parse(&row.status).map_err(|e| StoreError::corrupt("users", e))?,
        claimed_at: row.claimed_at.map(Timestamp::from_millis),
        created_at: Timestamp::from_millis(row.created_at),
        updated_at: Timestamp::from_millis(row.updated_at),
    })
}

/// A membership row with its roles (in position order) and, when restricted, its resources.
pub(crate) fn membership(
    row: &membership::Model,
    roles: Vec<RoleName>,
    resources: Option<Restriction>,
) -> Result<Membership, StoreError> {
    Ok(Membership {
        id: MembershipId::from_trusted(row.id.clone()),
        user: UserId::from_trusted(row.user_id.clone()),
        account: AccountId::from_trusted(row.account_id.clone()),
        roles,
        status: membership_status(&row.status)?,
        restriction: if row.restricted { Some(resources.unwrap_or_default()) } else { None },
        created_by: row.created_by.clone().map(UserId::from_trusted),
        approved_by: row.approved_by.clone().map(UserId::from_trusted),
        created_at: Timestamp::from_millis(row.created_at),
        updated_at: Timestamp::from_millis(row.updated_at),
        expires_at: row.expires_at.map(Timestamp::from_millis),
    })
}

pub(crate) fn resource(row: &resource::Model) -> Resource {
    Resource {
        id: ResourceId::from_trusted(row.id.clone()),
        account: AccountId::from_trusted(row.account_id.clone()),
        kind: FeatureName::from_trusted(row.kind.clone()),
        name: row.name.clone(),
        created_at: Timestamp::from_millis(row.created_at),
    }
}

pub(crate) fn delegation(row: &delegation::Model) -> Delegation {
    Delegation {
        id: DelegationId::from_trusted(row.id.clone()),
        from_account: AccountId::from_trusted(row.from_account_id.clone()),
        to_account: AccountId::from_trusted(row.to_account_id.clone()),
        role: RoleName::from_trusted(row.role.clone()),
        created_by: row.created_by.clone().map(UserId::from_trusted),
        created_at: Timestamp::from_millis(row.created_at),
        expires_at: row.expires_at.map(Timestamp::from_millis),
    }
}

pub(crate) fn grants_to_json(grants: &Grants) -> String {
    let map: BTreeMap<&str, &str> = grants.iter().map(|(f, l)| (f.as_str(), l.as_str())).collect();
    serde_json::to_string(&map).unwrap_or_else(|_| "{}".to_owned())
}

pub(crate) fn grants_from_json(s: &str) -> Result<Grants, StoreError> {
    let map: BTreeMap<String, String> = serde_json::from_str(s).map_err(|e| StoreError::corrupt("roles", e))?;
    map.into_iter()
        .map(|(f, l)| {
            let level = guichet_domain::Level::parse(&l).map_err(|e| StoreError::corrupt("roles", e))?;
            Ok((FeatureName::from_trusted(f), level))
        })
        .collect()
}

pub(crate) fn modules_to_json(modules: &BTreeSet<FeatureName>) -> String {
    let list: Vec<&str> = modules.iter().map(FeatureName::as_str).collect();
    serde_json::to_string(&list).unwrap_or_else(|_| "[]".to_owned())
}

pub(crate) fn settings_to_json(settings: &AccountSettings) -> Result<String, StoreError> {
    serde_json::to_string(settings).map_err(|e| StoreError::Database(format!("cannot encode settings: {e}")))
}
