//! AccountService: requests in, accounts out.

use std::collections::BTreeSet;

use guichet_domain as d;

use super::{Authored, Check, Invalid, MAX_NAME_CHARS, PageParams, authored, authored_since, ids_in, reason_in, ts};
use crate::v1 as pb;

/// ListAccounts filters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListAccounts {
    /// Only children of this account.
    pub parent: Option<d::AccountId>,
    /// Only this kind.
    pub kind: Option<d::AccountKind>,
    /// Only this status.
    pub status: Option<d::AccountStatus>,
    /// Paging.
    pub page: PageParams,
}

/// ListChildAccounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListChildren {
    /// The account.
    pub id: d::AccountId,
    /// All descendants, not only children.
    pub recursive: bool,
    /// Paging.
    pub page: PageParams,
}

/// An account change: rename, suspension reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountText {
    /// The account.
    pub id: d::AccountId,
    /// The new name or the reason; `None`: unchanged / none.
    pub text: Option<String>,
}

/// SetAccountModules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetModules {
    /// The account.
    pub id: d::AccountId,
    /// The enabled modules.
    pub modules: BTreeSet<d::FeatureName>,
}

/// UpdateAccountSettings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetSettings {
    /// The account.
    pub id: d::AccountId,
    /// The change of its settings.
    pub change: d::SettingsChange,
}

fn account_status_filter(c: &mut Check, v: i32) -> Option<Option<d::AccountStatus>> {
    match pb::AccountStatus::try_from(v) {
        Ok(pb::AccountStatus::Unspecified) => Some(None),
        Ok(pb::AccountStatus::Active) => Some(Some(d::AccountStatus::Active)),
        Ok(pb::AccountStatus::Suspended) => Some(Some(d::AccountStatus::Suspended)),
        Err(_) => {
            c.push("status", "unknown account status");
            None
        }
    }
}

impl TryFrom<pb::CreateAccountRequest> for Authored<d::NewAccount> {
    type Error = Invalid;
    fn try_from(r: pb::CreateAccountRequest) -> Result<Self, Invalid> {
        let pb::CreateAccountRequest { request_id, actor_id, id, name, kind, parent_id, modules, settings } = r;
        authored(&request_id, &actor_id, |c| {
            let id = c.optional("id", &id, d::AccountId::parse);
            let name = c.text("name", &name, 1, MAX_NAME_CHARS);
            let kind = c.required("kind", &kind, d::AccountKind::parse);
            let parent = c.optional("parent_id", &parent_id, d::AccountId::parse);
            let modules = if modules.is_empty() { Some(None) } else { modules_in(c, "modules", &modules).map(Some) };
            let settings = match settings {
                None => Some(None),
                Some(s) => settings_in(c, "settings", s).map(Some),
            };
            Some(d::NewAccount {
                id: id?,
                name: name?,
                kind: kind?,
                parent: parent?,
                modules: modules?,
                settings: settings?,
            })
        })
    }
}

by_id!(read GetAccountRequest => d::AccountId);

impl TryFrom<pb::ListAccountsRequest> for Authored<ListAccounts> {
    type Error = Invalid;
    fn try_from(r: pb::ListAccountsRequest) -> Result<Self, Invalid> {
        let pb::ListAccountsRequest { actor_id, parent_id, kind, status, page_size, page_token } = r;
        authored("", &actor_id, |c| {
            let parent = c.optional("parent_id", &parent_id, d::AccountId::parse);
            let kind = c.optional("kind", &kind, d::AccountKind::parse);
            let status = account_status_filter(c, status);
            Some(ListAccounts {
                parent: parent?,
                kind: kind?,
                status: status?,
                page: PageParams { size: page_size, token: page_token },
            })
        })
    }
}

impl TryFrom<pb::ListChildAccountsRequest> for Authored<ListChildren> {
    type Error = Invalid;
    fn try_from(r: pb::ListChildAccountsRequest) -> Result<Self, Invalid> {
        let pb::ListChildAccountsRequest { actor_id, id, recursive, page_size, page_token } = r;
        authored("", &actor_id, |c| {
            let id = c.required("id", &id, d::AccountId::parse);
            Some(ListChildren { id: id?, recursive, page: PageParams { size: page_size, token: page_token } })
        })
    }
}

impl TryFrom<pb::UpdateAccountRequest> for Authored<AccountText> {
    type Error = Invalid;
    fn try_from(r: pb::UpdateAccountRequest) -> Result<Self, Invalid> {
        let pb::UpdateAccountRequest { request_id, actor_id, id, name } = r;
        authored(&request_id, &actor_id, |c| {
            let id = c.required("id", &id, d::AccountId::parse);
            let name = if name.is_empty() { Some(None) } else { c.text("name", &name, 1, MAX_NAME_CHARS).map(Some) };
            Some(AccountText { id: id?, text: name? })
        })
    }
}

impl TryFrom<pb::SuspendAccountRequest> for Authored<AccountText> {
    type Error = Invalid;
    fn try_from(r: pb::SuspendAccountRequest) -> Result<Self, Invalid> {
        let pb::SuspendAccountRequest { request_id, actor_id, id, reason, unchanged_since } = r;
        authored_since(&request_id, &actor_id, &unchanged_since, |c| {
            let id = c.required("id", &id, d::AccountId::parse);
            let reason = reason_in(c, &reason);
            Some(AccountText { id: id?, text: reason? })
        })
    }
}

by_id!(previewed ReactivateAccountRequest => d::AccountId);

impl TryFrom<pb::SetAccountModulesRequest> for Authored<SetModules> {
    type Error = Invalid;
    fn try_from(r: pb::SetAccountModulesRequest) -> Result<Self, Invalid> {
        let pb::SetAccountModulesRequest { request_id, actor_id, account_id, modules, unchanged_since } = r;
        authored_since(&request_id, &actor_id, &unchanged_since, |c| {
            let id = c.required("account_id", &account_id, d::AccountId::parse);
            let modules = modules_in(c, "modules", &modules);
            Some(SetModules { id: id?, modules: modules? })
        })
    }
}

impl TryFrom<pb::UpdateAccountSettingsRequest> for Authored<SetSettings> {
    type Error = Invalid;
    fn try_from(r: pb::UpdateAccountSettingsRequest) -> Result<Self, Invalid> {
        let pb::UpdateAccountSettingsRequest { request_id, actor_id, account_id, settings } = r;
        authored(&request_id, &actor_id, |c| {
            let id = c.required("account_id", &account_id, d::AccountId::parse);
            let change = match settings {
                None => {
                    c.push("settings", "is required");
                    None
                }
                Some(s) => settings_change_in(c, "settings", s),
            };
            Some(SetSettings { id: id?, change: change? })
        })
    }
}

/// UpdateAccountSettings' settings: a change, what is left out (`invitation_ttl_days` 0, no
/// `email_policy`, GENERIC_ADDRESS_POLICY_UNSPECIFIED) keeping its current value. The fields given
/// are validated as [`settings_in`] does.
fn settings_change_in(check: &mut Check, field: &str, s: pb::AccountSettings) -> Option<d::SettingsChange> {
    let given_ttl = (s.invitation_ttl_days != 0).then_some(s.invitation_ttl_days);
    let given_generic =
        s.email_policy.as_ref().and_then(|p| match pb::GenericAddressPolicy::try_from(p.generic_addresses) {
            Ok(pb::GenericAddressPolicy::Unspecified) | Err(_) => None,
            Ok(pb::GenericAddressPolicy::Allow) => Some(d::GenericAddressPolicy::Allow),
            Ok(pb::GenericAddressPolicy::Flag) => Some(d::GenericAddressPolicy::Flag),
            Ok(pb::GenericAddressPolicy::Reject) => Some(d::GenericAddressPolicy::Reject),
        });
    let has_policy = s.email_policy.is_some();
    let full = settings_in(check, field, s)?;
    Some(d::SettingsChange {
        invitation_ttl_days: given_ttl,
        requires_approval: full.requires_approval,
        email_policy: has_policy.then_some(d::EmailPolicyChange {
            forbidden_domains: full.email_policy.forbidden_domains,
            generic_addresses: given_generic,
        }),
    })
}

fn settings_in(check: &mut Check, field: &str, s: pb::AccountSettings) -> Option<d::AccountSettings> {
    let pb::AccountSettings { invitation_ttl_days, requires_approval, email_policy } = s;
    let defaults = d::AccountSettings::default();
    let policy = match email_policy {
        None => defaults.email_policy.clone(),
        Some(pb::EmailPolicy { forbidden_domains, generic_addresses }) => {
            let generic = match pb::GenericAddressPolicy::try_from(generic_addresses) {
                Ok(pb::GenericAddressPolicy::Unspecified) => defaults.email_policy.generic_addresses,
                Ok(pb::GenericAddressPolicy::Allow) => d::GenericAddressPolicy::Allow,
                Ok(pb::GenericAddressPolicy::Flag) => d::GenericAddressPolicy::Flag,
                Ok(pb::GenericAddressPolicy::Reject) => d::GenericAddressPolicy::Reject,
                Err(_) => {
                    check.push(format!("{field}.email_policy.generic_addresses"), "unknown value");
                    return None;
                }
            };
            d::EmailPolicy { forbidden_domains, generic_addresses: generic }
        }
    };
    let settings = d::AccountSettings {
        invitation_ttl_days: if invitation_ttl_days == 0 { defaults.invitation_ttl_days } else { invitation_ttl_days },
        requires_approval,
        email_policy: policy,
    };
    match settings.validate() {
        Ok(()) => Some(settings),
        Err(violations) => {
            for v in violations {
                check.push(format!("{field}.{}", v.field), v.description);
            }
            None
        }
    }
}

fn modules_in(check: &mut Check, field: &str, values: &[String]) -> Option<BTreeSet<d::FeatureName>> {
    let mut ok = true;
    for (i, v) in values.iter().enumerate() {
        if values[..i].contains(v) {
            check.push(format!("{field}[{i}]"), format!("module {v} is listed twice"));
            ok = false;
        }
    }
    let modules = ids_in(check, field, values, 256, d::FeatureName::parse).map(|v| v.into_iter().collect());
    if ok { modules } else { None }
}

impl From<d::AccountStatus> for pb::AccountStatus {
    fn from(s: d::AccountStatus) -> Self {
        match s {
            d::AccountStatus::Active => pb::AccountStatus::Active,
            d::AccountStatus::Suspended => pb::AccountStatus::Suspended,
        }
    }
}

impl From<&d::AccountSettings> for pb::AccountSettings {
    fn from(s: &d::AccountSettings) -> Self {
        pb::AccountSettings {
            invitation_ttl_days: s.invitation_ttl_days,
            requires_approval: s.requires_approval,
            email_policy: Some(pb::EmailPolicy {
                forbidden_domains: s.email_policy.forbidden_domains.clone(),
                generic_addresses: match s.email_policy.generic_addresses {
                    d::GenericAddressPolicy::Allow => pb::GenericAddressPolicy::Allow,
                    d::GenericAddressPolicy::Flag => pb::GenericAddressPolicy::Flag,
                    d::GenericAddressPolicy::Reject => pb::GenericAddressPolicy::Reject,
                } as i32,
            }),
        }
    }
}

impl From<&d::Account> for pb::Account {
    fn from(a: &d::Account) -> Self {
        pb::Account {
            id: a.id.to_string(),
            name: a.name.clone(),
            kind: a.kind.to_string(),
            parent_id: a.parent.as_ref().map(ToString::to_string).unwrap_or_default(),
            status: pb::AccountStatus::from(a.status) as i32,
            modules: a.modules.iter().map(ToString::to_string).collect(),
            settings: Some(pb::AccountSettings::from(&a.settings)),
            create_time: ts(a.created_at),
            update_time: ts(a.updated_at),
            suspension_reason: a.suspension_reason.clone().unwrap_or_default(),
        }
    }
}
