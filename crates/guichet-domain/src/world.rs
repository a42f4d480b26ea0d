//! Worlds written as data: accounts, users, custom roles, resources, memberships (with their roles
//! and their resource restrictions, levels per resource), delegations, and the accounts' contacts
//! with their communication orders, in one plain value.
//!
//! A [`WorldSpec`] is written literally in Rust with the small builders below, or read from TOML
//! ([`WorldSpec::from_toml`]; every type is `serde`, so JSON works the same way through
//! `serde_json`). Ids, kinds and role names are plain strings in the spec: it is an edge, and
//! validated as one — [`WorldSpec::resolve`] and [`WorldSpec::commands`] parse every value and
//! check every reference (parents, users, roles, resources) against each other and the
//! [`Catalog`], naming the item at fault.
//!
//! Three loaders read the same spec:
//! - [`WorldSpec::resolve`] (here): the **domain facts** the decision reads, for unit and property
//!   tests of [`evaluate`] without a store ([`WorldFacts::facts`], [`WorldFacts::evaluate`]);
//! - `guichet_server::world::load`: the application layer (`App`), on the service's own
//!   authority — the calls a service makes, with their validation and invariants;
//! - `guichet_testkit::world::load`: over gRPC, through a running server.
//!
//! The last two load the [`WorldCommands`] of [`WorldSpec::commands`], in this order: accounts
//! (in the spec's order, every parent before its children), users, resources, custom roles, memberships, delegations,
//! contacts, communication orders, then the suspensions (memberships, users, accounts). Contacts
//! and orders do not take part in decisions: the domain facts check them and leave them out. A membership `pending_approval` is a state
//! only an invitation or an approval workflow creates: the domain facts take it, the commands
//! refuse it.
//!
//! One file on purpose: the item types, the one check that parses and cross-references them, and
//! the two readings of its result (facts, commands) change together whenever the model gains a
//! field; about a fifth of it is the builders and a fifth the tests.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::catalog::{Catalog, Role};
use crate::contact::{
    CommunicationType, ContactDetails, ContactPermission, ContactSubscription, MAX_COMMUNICATION_ORDER,
    NewCommunicationOrder, NewContact,
};
use crate::decision::{
    AccessRequest, AccountFacts, Decision, DelegationFacts, Facts, MembershipFacts, ResourceFacts, SubjectFacts,
    evaluate,
};
use crate::email::Email;
use crate::ids::{
    AccountId, AccountKind, ContactId, DelegationId, FeatureName, MembershipId, ResourceId, RoleName, UserId,
};
use crate::level::{Grants, Level, Permission};
use crate::model::{NewAccount, NewDelegation, NewMembership, NewResource, NewUser, RoleDefinition};
use crate::phone::Phone;
use crate::restriction::Restriction;
use crate::status::{AccountStatus, MembershipStatus, UserStatus};

/// A whole world, as data. See the [module docs](self).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorldSpec {
    /// The accounts, in any order (loaders create parents first).
    #[serde(default, rename = "account", skip_serializing_if = "Vec::is_empty")]
    pub accounts: Vec<AccountSpec>,
    /// The users.
    #[serde(default, rename = "user", skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<UserSpec>,
    /// The accounts' custom roles.
    #[serde(default, rename = "role", skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<RoleSpec>,
    /// The resources (folders).
    #[serde(default, rename = "resource", skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<ResourceSpec>,
    /// The memberships.
    #[serde(default, rename = "membership", skip_serializing_if = "Vec::is_empty")]
    pub memberships: Vec<MembershipSpec>,
    /// The delegations.
    #[serde(default, rename = "delegation", skip_serializing_if = "Vec::is_empty")]
    pub delegations: Vec<DelegationSpec>,
    /// The accounts' contacts.
    #[serde(default, rename = "contact", skip_serializing_if = "Vec::is_empty")]
    pub contacts: Vec<ContactSpec>,
    /// The accounts' communication orders.
    #[serde(default, rename = "communication_order", skip_serializing_if = "Vec::is_empty")]
    pub communication_orders: Vec<CommunicationOrderSpec>,
}

fn active_account() -> AccountStatus {
    AccountStatus::Active
}

fn is_active_account(status: &AccountStatus) -> bool {
    *status == AccountStatus::Active
}

fn active_user() -> UserStatus {
    UserStatus::Active
}

fn is_active_user(status: &UserStatus) -> bool {
    *status == UserStatus::Active
}

fn active_membership() -> MembershipStatus {
    MembershipStatus::Active
}

fn is_active_membership(status: &MembershipStatus) -> bool {
    *status == MembershipStatus::Active
}

/// An account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountSpec {
    /// Its id.
    pub id: String,
    /// Its display name; empty: the id.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Its kind, from the catalog.
    pub kind: String,
    /// Its parent's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// The modules enabled on it; `None`: every module of the catalog.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modules: Option<BTreeSet<String>>,
    /// Modules switched off, taken out of `modules` (or of every module of the catalog).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub modules_off: BTreeSet<String>,
    /// Active (the default) or suspended.
    #[serde(default = "active_account", skip_serializing_if = "is_active_account")]
    pub status: AccountStatus,
}

impl AccountSpec {
    /// An active root account of `kind`, every module enabled.
    pub fn new(id: &str, kind: &str) -> Self {
        Self {
            id: id.to_owned(),
            name: String::new(),
            kind: kind.to_owned(),
            parent: None,
            modules: None,
            modules_off: BTreeSet::new(),
            status: AccountStatus::Active,
        }
    }

    /// Under `parent`.
    pub fn under(mut self, parent: &str) -> Self {
        self.parent = Some(parent.to_owned());
        self
    }

    /// Named `name`.
    pub fn named(mut self, name: &str) -> Self {
        name.clone_into(&mut self.name);
        self
    }

    /// With the module `module` switched off.
    pub fn without_module(mut self, module: &str) -> Self {
        self.modules_off.insert(module.to_owned());
        self
    }

    /// Suspended.
    pub fn suspended(mut self) -> Self {
        self.status = AccountStatus::Suspended;
        self
    }
}

/// A user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserSpec {
    /// Its id.
    pub id: String,
    /// Its email; `None`: `{id}@example.com`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Given name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub given_name: String,
    /// Family name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub family_name: String,
    /// Active (the default) or suspended.
    #[serde(default = "active_user", skip_serializing_if = "is_active_user")]
    pub status: UserStatus,
}

impl UserSpec {
    /// An active user with no name, its email `{id}@example.com`.
    pub fn new(id: &str) -> Self {
        Self {
            id: id.to_owned(),
            email: None,
            given_name: String::new(),
            family_name: String::new(),
            status: UserStatus::Active,
        }
    }

    /// With this email.
    pub fn email(mut self, email: &str) -> Self {
        self.email = Some(email.to_owned());
        self
    }

    /// With these names.
    pub fn named(mut self, given: &str, family: &str) -> Self {
        given.clone_into(&mut self.given_name);
        family.clone_into(&mut self.family_name);
        self
    }

    /// Suspended.
    pub fn suspended(mut self) -> Self {
        self.status = UserStatus::Suspended;
        self
    }
}

/// A custom role of an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleSpec {
    /// The account defining it.
    pub account: String,
    /// Its name (not a built-in role name of the account's kind).
    pub name: String,
    /// The name people see; empty: the name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub display_name: String,
    /// What it is for.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Levels on the account: feature → level.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub grants: BTreeMap<String, Level>,
    /// Levels on the account's descendants.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub descendant_grants: BTreeMap<String, Level>,
}

impl RoleSpec {
    /// A role of `account` granting nothing yet.
    pub fn new(account: &str, name: &str) -> Self {
        Self {
            account: account.to_owned(),
            name: name.to_owned(),
            display_name: String::new(),
            description: String::new(),
            grants: BTreeMap::new(),
            descendant_grants: BTreeMap::new(),
        }
    }

    /// With this display name and description.
    pub fn described(mut self, display_name: &str, description: &str) -> Self {
        display_name.clone_into(&mut self.display_name);
        description.clone_into(&mut self.description);
        self
    }

    /// Granting `level` on `feature` in the account.
    pub fn grant(mut self, feature: &str, level: Level) -> Self {
        self.grants.insert(feature.to_owned(), level);
        self
    }

    /// Granting `level` on `feature` in the account's descendants.
    pub fn grant_below(mut self, feature: &str, level: Level) -> Self {
        self.descendant_grants.insert(feature.to_owned(), level);
        self
    }
}

/// The kind of a resource when a spec does not say.
pub const DEFAULT_RESOURCE_KIND: &str = "folder";

fn default_resource_kind() -> String {
    DEFAULT_RESOURCE_KIND.to_owned()
}

/// A resource of an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceSpec {
    /// Its id.
    pub id: String,
    /// Its account.
    pub account: String,
    /// Its kind; [`DEFAULT_RESOURCE_KIND`] by default.
    #[serde(default = "default_resource_kind")]
    pub kind: String,
    /// Its display name; empty: the id.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
}

impl ResourceSpec {
    /// A folder of `account`.
    pub fn new(id: &str, account: &str) -> Self {
        Self { id: id.to_owned(), account: account.to_owned(), kind: default_resource_kind(), name: String::new() }
    }

    /// Of this kind.
    pub fn kind(mut self, kind: &str) -> Self {
        kind.clone_into(&mut self.kind);
        self
    }

    /// Named `name`.
    pub fn named(mut self, name: &str) -> Self {
        name.clone_into(&mut self.name);
        self
    }
}

/// A membership of a user in an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MembershipSpec {
    /// Its id.
    pub id: String,
    /// The member.
    pub user: String,
    /// The account.
    pub account: String,
    /// Its roles, built-in (of the account's kind) or custom (of the account), at least one.
    pub roles: Vec<String>,
    /// `None`: every resource of the account; `Some`: only these, each with its level cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<BTreeMap<String, Level>>,
    /// Active (the default), suspended, or pending approval (domain facts only).
    #[serde(default = "active_membership", skip_serializing_if = "is_active_membership")]
    pub status: MembershipStatus,
}

impl MembershipSpec {
    /// An active, unrestricted membership.
    pub fn new(id: &str, user: &str, account: &str, roles: &[&str]) -> Self {
        Self {
            id: id.to_owned(),
            user: user.to_owned(),
            account: account.to_owned(),
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
            resources: None,
            status: MembershipStatus::Active,
        }
    }

    /// Restricted to these resources, each with its level cap.
    pub fn restricted(mut self, resources: &[(&str, Level)]) -> Self {
        self.resources = Some(resources.iter().map(|(r, l)| ((*r).to_owned(), *l)).collect());
        self
    }

    /// With this status.
    pub fn status(mut self, status: MembershipStatus) -> Self {
        self.status = status;
        self
    }
}

/// A delegation: the members of `from` holding `delegated_administration:full` act in `to` with
/// `role`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DelegationSpec {
    /// Its id.
    pub id: String,
    /// The partner account.
    pub from: String,
    /// The customer account.
    pub to: String,
    /// The role, resolved in `to`.
    pub role: String,
}

impl DelegationSpec {
    /// A delegation of `role` from `from` into `to`.
    pub fn new(id: &str, from: &str, to: &str, role: &str) -> Self {
        Self { id: id.to_owned(), from: from.to_owned(), to: to.to_owned(), role: role.to_owned() }
    }
}

/// A contact of an account: a person who cannot log in (see `crate::contact`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactSpec {
    /// Its id.
    pub id: String,
    /// The account.
    pub account: String,
    /// Given name (it or the family name is required).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub given_name: String,
    /// Family name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub family_name: String,
    /// Email (it or the phone is required).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Phone, in E.164 form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// Job title.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub title: String,
    /// The emails it receives (`invoices`, `payment_reminders`, …).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub subscriptions: BTreeSet<String>,
    /// What it may ask for (`administrator`, `voip_911`, …).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub permissions: BTreeSet<String>,
    /// The user it is, a member of the account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

impl ContactSpec {
    /// A contact of `account` named `given` `family`, reached at `email`.
    pub fn new(id: &str, account: &str, given: &str, family: &str, email: &str) -> Self {
        Self {
            id: id.to_owned(),
            account: account.to_owned(),
            given_name: given.to_owned(),
            family_name: family.to_owned(),
            email: Some(email.to_owned()).filter(|e| !e.is_empty()),
            phone: None,
            title: String::new(),
            subscriptions: BTreeSet::new(),
            permissions: BTreeSet::new(),
            user: None,
        }
    }
}

/// The ordered contacts of one communication type of an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommunicationOrderSpec {
    /// The account.
    pub account: String,
    /// `technical` or `financial`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Contacts of the account, first first.
    pub contacts: Vec<String>,
}

impl CommunicationOrderSpec {
    /// The `kind` order of `account`: `contacts`, in order.
    pub fn new(account: &str, kind: &str, contacts: &[&str]) -> Self {
        Self {
            account: account.to_owned(),
            kind: kind.to_owned(),
            contacts: contacts.iter().map(|c| (*c).to_owned()).collect(),
        }
    }
}

/// Why a spec does not describe a valid world.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorldError {
    /// An item of the spec is invalid, or names what does not exist.
    #[error("{item} {id}: {message}")]
    Invalid {
        /// What it is: `account`, `user`, `role`, `resource`, `membership`, `delegation`, `contact`,
        /// `communication_order`.
        item: &'static str,
        /// Its id (for a role, `account/name`; for a communication order, `account/type`).
        id: String,
        /// What is wrong, lower-case, no trailing period.
        message: String,
    },
    /// The TOML does not describe a spec.
    #[error("world toml: {0}")]
    Toml(String),
}

fn invalid(item: &'static str, id: &str, message: impl Into<String>) -> WorldError {
    WorldError::Invalid { item, id: id.to_owned(), message: message.into() }
}

/// Parses `value`, a field of item `item` `id`.
fn parse<T, E: std::fmt::Display>(
    item: &'static str,
    id: &str,
    field: &str,
    value: &str,
    parse: impl Fn(&str) -> Result<T, E>,
) -> Result<T, WorldError> {
    parse(value).map_err(|e| invalid(item, id, format!("{field} {value:?} {e}")))
}

/// Everything a loader writes, validated and in order (see the [module docs](self)).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WorldCommands {
    /// The accounts in the spec's order, each account's missing ancestors moved just before it.
    pub accounts: Vec<NewAccount>,
    /// The users.
    pub users: Vec<NewUser>,
    /// The resources.
    pub resources: Vec<NewResource>,
    /// The custom roles.
    pub roles: Vec<RoleDefinition>,
    /// The memberships.
    pub memberships: Vec<NewMembership>,
    /// The delegations.
    pub delegations: Vec<NewDelegation>,
    /// The contacts.
    pub contacts: Vec<NewContact>,
    /// The communication orders.
    pub communication_orders: Vec<NewCommunicationOrder>,
    /// The memberships to suspend once created.
    pub suspended_memberships: Vec<MembershipId>,
    /// The users to suspend once everything is created.
    pub suspended_users: Vec<UserId>,
    /// The accounts to suspend last.
    pub suspended_accounts: Vec<AccountId>,
}

/// A spec parsed and checked: the typed items and the roles resolved.
struct Checked {
    accounts: Vec<(NewAccount, AccountStatus, BTreeSet<FeatureName>)>,
    users: Vec<(NewUser, UserStatus)>,
    resources: Vec<NewResource>,
    roles: Vec<RoleDefinition>,
    memberships: Vec<(NewMembership, MembershipStatus, Vec<Role>)>,
    delegations: Vec<(NewDelegation, Role)>,
    contacts: Vec<NewContact>,
    communication_orders: Vec<NewCommunicationOrder>,
}

impl WorldSpec {
    /// An empty world.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads a spec from TOML: arrays of tables `[[account]]`, `[[user]]`, `[[role]]`,
    /// `[[resource]]`, `[[membership]]`, `[[delegation]]`, `[[contact]]`, `[[communication_order]]`
    /// with the fields of the item types.
    pub fn from_toml(s: &str) -> Result<Self, WorldError> {
        toml::from_str(s).map_err(|e| WorldError::Toml(e.to_string()))
    }

    /// Writes the spec as TOML ([`WorldSpec::from_toml`] reads it back).
    pub fn to_toml(&self) -> Result<String, WorldError> {
        toml::to_string(self).map_err(|e| WorldError::Toml(e.to_string()))
    }

    /// This world with `other`'s items added after its own (a base world and what a test adds).
    pub fn with(mut self, other: WorldSpec) -> Self {
        let WorldSpec { accounts, users, roles, resources, memberships, delegations, contacts, communication_orders } =
            other;
        self.accounts.extend(accounts);
        self.users.extend(users);
        self.roles.extend(roles);
        self.resources.extend(resources);
        self.memberships.extend(memberships);
        self.delegations.extend(delegations);
        self.contacts.extend(contacts);
        self.communication_orders.extend(communication_orders);
        self
    }

    /// The account `id`, if the spec has it.
    pub fn account_mut(&mut self, id: &str) -> Option<&mut AccountSpec> {
        self.accounts.iter_mut().find(|a| a.id == id)
    }

    /// The user `id`, if the spec has it.
    pub fn user_mut(&mut self, id: &str) -> Option<&mut UserSpec> {
        self.users.iter_mut().find(|u| u.id == id)
    }

    /// The membership `id`, if the spec has it.
    pub fn membership_mut(&mut self, id: &str) -> Option<&mut MembershipSpec> {
        self.memberships.iter_mut().find(|m| m.id == id)
    }

    /// The world's domain facts (see [`WorldFacts`]), after checking the spec against `catalog`.
    pub fn resolve(&self, catalog: &Catalog) -> Result<WorldFacts, WorldError> {
        let checked = self.check(catalog)?;
        let mut accounts = BTreeMap::new();
        for (cmd, status, modules) in &checked.accounts {
            let Some(id) = cmd.id.clone() else { continue };
            let facts = AccountFacts {
                id: id.clone(),
                kind: cmd.kind.clone(),
                status: *status,
                parent: cmd.parent.clone(),
                modules: modules.clone(),
            };
            accounts.insert(id, facts);
        }
        let users = checked.users.iter().filter_map(|(u, status)| u.id.clone().map(|id| (id, *status))).collect();
        let resources =
            checked.resources.iter().filter_map(|r| r.id.clone().map(|id| (id, r.account.clone()))).collect();
        let memberships = checked
            .memberships
            .into_iter()
            .filter_map(|(cmd, status, roles)| {
                let facts = MembershipFacts {
                    id: cmd.id?,
                    account: cmd.account,
                    status,
                    roles,
                    resources: cmd.restriction,
                    expires_at: None,
                };
                Some((cmd.user, facts))
            })
            .collect();
        let delegations = checked
            .delegations
            .into_iter()
            .filter_map(|(cmd, role)| {
                Some(DelegationFacts {
                    id: cmd.id?,
                    from_account: accounts.get(&cmd.from_account)?.clone(),
                    to_account: cmd.to_account,
                    role,
                    expires_at: None,
                })
            })
            .collect();
        Ok(WorldFacts { catalog: catalog.clone(), accounts, users, memberships, delegations, resources })
    }

    /// The commands that create the world through the application or the API, in order, after
    /// checking the spec against `catalog`. A membership `pending_approval` is refused: no command
    /// creates one.
    pub fn commands(&self, catalog: &Catalog) -> Result<WorldCommands, WorldError> {
        let checked = self.check(catalog)?;
        let mut out = WorldCommands::default();
        for (cmd, status, _) in checked.accounts {
            if let (AccountStatus::Suspended, Some(id)) = (status, &cmd.id) {
                out.suspended_accounts.push(id.clone());
            }
            out.accounts.push(cmd);
        }
        for (cmd, status) in checked.users {
            if let (UserStatus::Suspended, Some(id)) = (status, &cmd.id) {
                out.suspended_users.push(id.clone());
            }
            out.users.push(cmd);
        }
        out.resources = checked.resources;
        out.roles = checked.roles;
        for (cmd, status, _) in checked.memberships {
            let id = cmd.id.clone().unwrap_or_else(|| MembershipId::from_trusted("-"));
            match status {
                MembershipStatus::Active => {}
                MembershipStatus::Suspended => out.suspended_memberships.push(id),
                MembershipStatus::PendingApproval => {
                    return Err(invalid(
                        "membership",
                        id.as_str(),
                        "pending_approval comes from an invitation or an approval workflow, not from a command",
                    ));
                }
            }
            out.memberships.push(cmd);
        }
        out.delegations = checked.delegations.into_iter().map(|(cmd, _)| cmd).collect();
        out.contacts = checked.contacts;
        out.communication_orders = checked.communication_orders;
        Ok(out)
    }

    /// Parses every value and checks every reference.
    fn check(&self, catalog: &Catalog) -> Result<Checked, WorldError> {
        // Accounts, parents first.
        let mut kinds: BTreeMap<&str, AccountKind> = BTreeMap::new();
        for a in &self.accounts {
            let kind = parse("account", &a.id, "kind", &a.kind, AccountKind::parse)?;
            if catalog.kind(&kind).is_none() {
                return Err(invalid("account", &a.id, format!("kind {:?} is not in the catalog", a.kind)));
            }
            if kinds.insert(a.id.as_str(), kind).is_some() {
                return Err(invalid("account", &a.id, "is declared twice"));
            }
        }
        let by_id: BTreeMap<&str, &AccountSpec> = self.accounts.iter().map(|a| (a.id.as_str(), a)).collect();
        // Spec order, each account's missing ancestors just before it (root first).
        let mut ordered: Vec<&AccountSpec> = Vec::with_capacity(self.accounts.len());
        let mut placed: BTreeSet<&str> = BTreeSet::new();
        for a in &self.accounts {
            let mut lineage = vec![a];
            let mut next = a.parent.as_deref();
            while let Some(p) = next.filter(|p| !placed.contains(p)) {
                let parent = by_id.get(p).ok_or_else(|| {
                    invalid("account", &lineage[lineage.len() - 1].id, format!("parent {p:?} is not in the world"))
                })?;
                if lineage.len() > self.accounts.len() {
                    return Err(invalid("account", &a.id, "its parents form a cycle"));
                }
                lineage.push(parent);
                next = parent.parent.as_deref();
            }
            for account in lineage.into_iter().rev() {
                if placed.insert(account.id.as_str()) {
                    ordered.push(account);
                }
            }
        }
        let default_modules = catalog.default_modules();
        let mut accounts = Vec::with_capacity(ordered.len());
        for a in ordered {
            let id = parse("account", &a.id, "id", &a.id, AccountId::parse)?;
            let kind = kinds[a.id.as_str()].clone();
            let parent = match &a.parent {
                Some(p) => {
                    let parent_kind = &kinds[p.as_str()];
                    if !catalog.may_parent(parent_kind, &kind) {
                        return Err(invalid(
                            "account",
                            &a.id,
                            format!("a {kind} cannot be a child of a {parent_kind}"),
                        ));
                    }
                    Some(AccountId::from_trusted(p.clone()))
                }
                None if catalog.kind(&kind).is_some_and(|k| k.root) => None,
                None => return Err(invalid("account", &a.id, format!("a {kind} needs a parent"))),
            };
            for m in a.modules.iter().flatten().chain(&a.modules_off) {
                if !catalog.feature_by_str(m).is_some_and(|f| f.module) {
                    return Err(invalid("account", &a.id, format!("{m:?} is not a module of the catalog")));
                }
            }
            let off: BTreeSet<FeatureName> =
                a.modules_off.iter().map(|m| FeatureName::from_trusted(m.clone())).collect();
            let enabled: BTreeSet<FeatureName> = match &a.modules {
                Some(m) => m.iter().map(|m| FeatureName::from_trusted(m.clone())).collect(),
                None => default_modules.clone(),
            };
            let enabled: BTreeSet<FeatureName> = enabled.difference(&off).cloned().collect();
            let modules = (a.modules.is_some() || !off.is_empty()).then(|| enabled.clone());
            let name = if a.name.is_empty() { a.id.clone() } else { a.name.clone() };
            let cmd = NewAccount { id: Some(id), name, kind, parent, modules, settings: None };
            accounts.push((cmd, a.status, enabled));
        }

        let mut users = Vec::with_capacity(self.users.len());
        let mut user_ids = BTreeSet::new();
        for u in &self.users {
            let id = parse("user", &u.id, "id", &u.id, UserId::parse)?;
            if !user_ids.insert(u.id.as_str()) {
                return Err(invalid("user", &u.id, "is declared twice"));
            }
            let email = u.email.clone().unwrap_or_else(|| format!("{}@example.com", u.id));
            let email = parse("user", &u.id, "email", &email, Email::parse)?;
            let cmd = NewUser {
                id: Some(id),
                email,
                given_name: u.given_name.clone(),
                family_name: u.family_name.clone(),
                phone: None,
                idp_subject: None,
            };
            users.push((cmd, u.status));
        }

        let mut resources = Vec::with_capacity(self.resources.len());
        let mut resource_accounts: BTreeMap<&str, &str> = BTreeMap::new();
        for r in &self.resources {
            let id = parse("resource", &r.id, "id", &r.id, ResourceId::parse)?;
            if !kinds.contains_key(r.account.as_str()) {
                return Err(invalid("resource", &r.id, format!("account {:?} is not in the world", r.account)));
            }
            if resource_accounts.insert(r.id.as_str(), r.account.as_str()).is_some() {
                return Err(invalid("resource", &r.id, "is declared twice"));
            }
            let kind = parse("resource", &r.id, "kind", &r.kind, FeatureName::parse)?;
            let name = if r.name.is_empty() { r.id.clone() } else { r.name.clone() };
            resources.push(NewResource {
                id: Some(id),
                account: AccountId::from_trusted(r.account.clone()),
                kind,
                name,
            });
        }

        let grants = |item: &str, field: &str, levels: &BTreeMap<String, Level>| -> Result<Grants, WorldError> {
            levels
                .iter()
                .map(|(f, l)| match catalog.feature_by_str(f) {
                    Some(def) => Ok((def.name.clone(), *l)),
                    None => Err(invalid("role", item, format!("{field}: {f:?} is not a feature of the catalog"))),
                })
                .collect()
        };
        let mut roles = Vec::with_capacity(self.roles.len());
        let mut custom: BTreeMap<(&str, &str), Role> = BTreeMap::new();
        for r in &self.roles {
            let key = format!("{}/{}", r.account, r.name);
            let Some(kind) = kinds.get(r.account.as_str()) else {
                return Err(invalid("role", &key, format!("account {:?} is not in the world", r.account)));
            };
            let name = parse("role", &key, "name", &r.name, RoleName::parse)?;
            if catalog.builtin_role(kind, &name).is_some() {
                return Err(invalid("role", &key, format!("{name} is a built-in role of a {kind}")));
            }
            let display_name = if r.display_name.is_empty() { r.name.clone() } else { r.display_name.clone() };
            let def = RoleDefinition {
                account: AccountId::from_trusted(r.account.clone()),
                name: name.clone(),
                display_name: display_name.clone(),
                description: r.description.clone(),
                grants: grants(&key, "grants", &r.grants)?,
                descendant_grants: grants(&key, "descendant_grants", &r.descendant_grants)?,
            };
            let role = Role {
                name,
                display_name,
                description: def.description.clone(),
                builtin: false,
                grants: def.grants.clone(),
                descendant_grants: def.descendant_grants.clone(),
            };
            if custom.insert((r.account.as_str(), r.name.as_str()), role).is_some() {
                return Err(invalid("role", &key, "is declared twice"));
            }
            roles.push(def);
        }
        let role_in = |item: &'static str, id: &str, account: &str, role: &str| -> Result<Role, WorldError> {
            let name = parse(item, id, "role", role, RoleName::parse)?;
            let kind = &kinds[account];
            custom.get(&(account, role)).or_else(|| catalog.builtin_role(kind, &name)).cloned().ok_or_else(|| {
                invalid(item, id, format!("role {role:?} is neither built-in for a {kind} nor a role of {account}"))
            })
        };

        let mut memberships = Vec::with_capacity(self.memberships.len());
        let mut membership_ids = BTreeSet::new();
        let mut held: BTreeMap<(&str, &str), &str> = BTreeMap::new();
        for m in &self.memberships {
            let id = parse("membership", &m.id, "id", &m.id, MembershipId::parse)?;
            if !membership_ids.insert(m.id.as_str()) {
                return Err(invalid("membership", &m.id, "is declared twice"));
            }
            if let Some(other) = held.insert((m.user.as_str(), m.account.as_str()), m.id.as_str()) {
                return Err(invalid("membership", &m.id, format!("{} has {other} in {} already", m.user, m.account)));
            }
            if !user_ids.contains(m.user.as_str()) {
                return Err(invalid("membership", &m.id, format!("user {:?} is not in the world", m.user)));
            }
            if !kinds.contains_key(m.account.as_str()) {
                return Err(invalid("membership", &m.id, format!("account {:?} is not in the world", m.account)));
            }
            if m.roles.is_empty() {
                return Err(invalid("membership", &m.id, "needs at least one role"));
            }
            let resolved =
                m.roles.iter().map(|r| role_in("membership", &m.id, &m.account, r)).collect::<Result<Vec<_>, _>>()?;
            let restriction = match &m.resources {
                None => None,
                Some(levels) => {
                    let mut restriction = Restriction::new();
                    for (r, level) in levels {
                        match resource_accounts.get(r.as_str()) {
                            Some(a) if *a == m.account => {}
                            Some(a) => {
                                return Err(invalid("membership", &m.id, format!("resource {r:?} belongs to {a}")));
                            }
                            None => {
                                return Err(invalid(
                                    "membership",
                                    &m.id,
                                    format!("resource {r:?} is not in the world"),
                                ));
                            }
                        }
                        if *level == Level::None {
                            return Err(invalid("membership", &m.id, format!("resource {r:?}: a cap is view or full")));
                        }
                        restriction.insert(ResourceId::from_trusted(r.clone()), *level);
                    }
                    Some(restriction)
                }
            };
            let cmd = NewMembership {
                id: Some(id),
                account: AccountId::from_trusted(m.account.clone()),
                user: UserId::from_trusted(m.user.clone()),
                roles: resolved.iter().map(|r| r.name.clone()).collect(),
                restriction,
                expires_at: None,
            };
            memberships.push((cmd, m.status, resolved));
        }

        let mut delegations = Vec::with_capacity(self.delegations.len());
        let mut delegation_ids = BTreeSet::new();
        for d in &self.delegations {
            let id = parse("delegation", &d.id, "id", &d.id, DelegationId::parse)?;
            if !delegation_ids.insert(d.id.as_str()) {
                return Err(invalid("delegation", &d.id, "is declared twice"));
            }
            for account in [&d.from, &d.to] {
                if !kinds.contains_key(account.as_str()) {
                    return Err(invalid("delegation", &d.id, format!("account {account:?} is not in the world")));
                }
            }
            let role = role_in("delegation", &d.id, &d.to, &d.role)?;
            let cmd = NewDelegation {
                id: Some(id),
                from_account: AccountId::from_trusted(d.from.clone()),
                to_account: AccountId::from_trusted(d.to.clone()),
                role: role.name.clone(),
                expires_at: None,
            };
            delegations.push((cmd, role));
        }
        let contacts = self.check_contacts(&kinds, &held)?;
        let communication_orders = self.check_orders(&kinds)?;
        Ok(Checked { accounts, users, resources, roles, memberships, delegations, contacts, communication_orders })
    }

    /// The contacts, each of an account of the world, its user (if any) a member of it.
    fn check_contacts(
        &self,
        kinds: &BTreeMap<&str, AccountKind>,
        held: &BTreeMap<(&str, &str), &str>,
    ) -> Result<Vec<NewContact>, WorldError> {
        let mut contacts = Vec::with_capacity(self.contacts.len());
        let mut ids = BTreeSet::new();
        for c in &self.contacts {
            let field = |field: &str, value: &str, message: &str| {
                invalid("contact", &c.id, format!("{field} {value:?} {message}"))
            };
            let id = parse("contact", &c.id, "id", &c.id, ContactId::parse)?;
            if !ids.insert(c.id.as_str()) {
                return Err(invalid("contact", &c.id, "is declared twice"));
            }
            if !kinds.contains_key(c.account.as_str()) {
                return Err(field("account", &c.account, "is not in the world"));
            }
            if let Some(u) = c.user.as_deref().filter(|u| !held.contains_key(&(*u, c.account.as_str()))) {
                return Err(field("user", u, "is not a member of the account"));
            }
            let details = ContactDetails {
                given_name: c.given_name.clone(),
                family_name: c.family_name.clone(),
                email: c.email.as_deref().map(|e| parse("contact", &c.id, "email", e, Email::parse)).transpose()?,
                phone: c.phone.as_deref().map(|p| parse("contact", &c.id, "phone", p, Phone::parse)).transpose()?,
                title: c.title.clone(),
                subscriptions: c
                    .subscriptions
                    .iter()
                    .map(|s| parse("contact", &c.id, "subscription", s, ContactSubscription::parse))
                    .collect::<Result<_, _>>()?,
                permissions: c
                    .permissions
                    .iter()
                    .map(|p| parse("contact", &c.id, "permission", p, ContactPermission::parse))
                    .collect::<Result<_, _>>()?,
                user: c.user.as_ref().map(|u| UserId::from_trusted(u.clone())),
            };
            if let Err(violations) = details.validate() {
                let messages: Vec<String> = violations.iter().map(ToString::to_string).collect();
                return Err(invalid("contact", &c.id, messages.join(", ")));
            }
            contacts.push(NewContact { id: Some(id), account: AccountId::from_trusted(c.account.clone()), details });
        }
        Ok(contacts)
    }

    /// The communication orders, each of contacts of its own account, once each.
    fn check_orders(&self, kinds: &BTreeMap<&str, AccountKind>) -> Result<Vec<NewCommunicationOrder>, WorldError> {
        let contact_accounts: BTreeMap<&str, &str> =
            self.contacts.iter().map(|c| (c.id.as_str(), c.account.as_str())).collect();
        let mut orders = Vec::with_capacity(self.communication_orders.len());
        let mut keys = BTreeSet::new();
        for o in &self.communication_orders {
            let key = format!("{}/{}", o.account, o.kind);
            let kind = parse("communication_order", &key, "type", &o.kind, CommunicationType::parse)?;
            if !kinds.contains_key(o.account.as_str()) {
                return Err(invalid(
                    "communication_order",
                    &key,
                    format!("account {:?} is not in the world", o.account),
                ));
            }
            if !keys.insert(key.clone()) {
                return Err(invalid("communication_order", &key, "is declared twice"));
            }
            if o.contacts.len() > MAX_COMMUNICATION_ORDER {
                return Err(invalid(
                    "communication_order",
                    &key,
                    format!("has more than {MAX_COMMUNICATION_ORDER} contacts"),
                ));
            }
            let mut seen = BTreeSet::new();
            for c in &o.contacts {
                if contact_accounts.get(c.as_str()) != Some(&o.account.as_str()) {
                    return Err(invalid(
                        "communication_order",
                        &key,
                        format!("contact {c:?} is not a contact of the account"),
                    ));
                }
                if !seen.insert(c.as_str()) {
                    return Err(invalid("communication_order", &key, format!("contact {c:?} is listed twice")));
                }
            }
            orders.push(NewCommunicationOrder {
                account: AccountId::from_trusted(o.account.clone()),
                kind,
                contacts: o.contacts.iter().map(|c| ContactId::from_trusted(c.clone())).collect(),
            });
        }
        Ok(orders)
    }
}

/// A world's domain facts: what a store would hold, for the decision (see [`WorldSpec::resolve`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorldFacts {
    catalog: Catalog,
    accounts: BTreeMap<AccountId, AccountFacts>,
    users: BTreeMap<UserId, UserStatus>,
    /// (member, membership)
    memberships: Vec<(UserId, MembershipFacts)>,
    delegations: Vec<DelegationFacts>,
    /// resource → its account
    resources: BTreeMap<ResourceId, AccountId>,
}

impl WorldFacts {
    /// The catalog the world was checked against.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The accounts.
    pub fn accounts(&self) -> impl Iterator<Item = &AccountFacts> {
        self.accounts.values()
    }

    /// The users.
    pub fn users(&self) -> impl Iterator<Item = &UserId> {
        self.users.keys()
    }

    /// The resources, with their accounts.
    pub fn resources(&self) -> impl Iterator<Item = (&ResourceId, &AccountId)> {
        self.resources.iter()
    }

    /// `account` first, then its parent, …, the root; empty when the world has no such account.
    pub fn chain(&self, account: &AccountId) -> Vec<AccountFacts> {
        let mut out = Vec::new();
        let mut next = self.accounts.get(account);
        while let Some(a) = next {
            out.push(a.clone());
            next = a.parent.as_ref().and_then(|p| self.accounts.get(p));
        }
        out
    }

    /// The facts a store loads for `request`: the subject, the chain, the subject's memberships in
    /// the chain and in the sources of the delegations into it, those delegations, the resource.
    pub fn facts(&self, request: &AccessRequest) -> Facts {
        let chain = self.chain(&request.account);
        let in_chain = |a: &AccountId| chain.iter().any(|c| c.id == *a);
        let delegations: Vec<DelegationFacts> =
            self.delegations.iter().filter(|d| in_chain(&d.to_account)).cloned().collect();
        let memberships = self
            .memberships
            .iter()
            .filter(|(u, m)| {
                *u == request.subject
                    && (in_chain(&m.account) || delegations.iter().any(|d| d.from_account.id == m.account))
            })
            .map(|(_, m)| m.clone())
            .collect();
        Facts {
            subject: self
                .users
                .get(&request.subject)
                .map(|status| SubjectFacts { id: request.subject.clone(), status: *status }),
            chain,
            memberships,
            delegations,
            resource: request
                .resource
                .as_ref()
                .and_then(|r| self.resources.get(r).map(|a| ResourceFacts { id: r.clone(), account: a.clone() })),
        }
    }

    /// The decision on `request` in this world. A world holds no expiry, so the instant of the
    /// evaluation does not matter.
    pub fn evaluate(&self, request: &AccessRequest) -> Decision {
        evaluate(&self.catalog, request, &self.facts(request), crate::Timestamp::from_millis(0))
    }

    /// The grid of requests a property check of a loader walks: every (user, account, feature of
    /// the catalog, `view` or `full`), with an unknown user (`nobody`) and an unknown account
    /// (`ghost`); and every (user, resource, `folders:view` or `folders:full`) in the resource's
    /// account and in the first account of the world.
    pub fn every_request(&self) -> Vec<AccessRequest> {
        let mut users: Vec<UserId> = self.users.keys().cloned().collect();
        users.push(UserId::from_trusted("nobody"));
        let mut accounts: Vec<AccountId> = self.accounts.keys().cloned().collect();
        accounts.push(AccountId::from_trusted("ghost"));
        let folders = FeatureName::from_trusted("folders");
        let mut out = Vec::new();
        for subject in &users {
            for account in &accounts {
                for feature in self.catalog.features() {
                    for level in [Level::View, Level::Full] {
                        out.push(AccessRequest {
                            subject: subject.clone(),
                            account: account.clone(),
                            permission: Permission { feature: feature.name.clone(), level },
                            resource: None,
                        });
                    }
                }
            }
            for (resource, owner) in &self.resources {
                for account in [owner, &accounts[0]] {
                    for level in [Level::View, Level::Full] {
                        out.push(AccessRequest {
                            subject: subject.clone(),
                            account: account.clone(),
                            permission: Permission { feature: folders.clone(), level },
                            resource: Some(resource.clone()),
                        });
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::Reason;

    fn catalog() -> Catalog {
        Catalog::builtin().unwrap()
    }

    fn request(subject: &str, account: &str, permission: &str, resource: Option<&str>) -> AccessRequest {
        AccessRequest {
            subject: UserId::parse(subject).unwrap(),
            account: AccountId::parse(account).unwrap(),
            permission: Permission::parse(permission).unwrap(),
            resource: resource.map(|r| ResourceId::parse(r).unwrap()),
        }
    }

    /// A small world with one of everything.
    fn small() -> WorldSpec {
        WorldSpec {
            accounts: vec![
                AccountSpec::new("c", "customer").under("p").without_module("voip_911"),
                AccountSpec::new("p", "partner").named("Partner"),
            ],
            users: vec![UserSpec::new("ann").named("Ann", "A"), UserSpec::new("bob").email("bob@bob.example")],
            roles: vec![RoleSpec::new("c", "bookkeeper").grant("folders", Level::Full).grant("invoices", Level::View)],
            resources: vec![ResourceSpec::new("f1", "c"), ResourceSpec::new("f2", "c").named("Two")],
            memberships: vec![
                MembershipSpec::new("m-ann", "ann", "p", &["delegated_account_administrator"]),
                MembershipSpec::new("m-bob", "bob", "c", &["bookkeeper"]).restricted(&[("f1", Level::View)]),
            ],
            delegations: vec![DelegationSpec::new("d-p-c", "p", "c", "client_user")],
            contacts: vec![
                ContactSpec::new("k-compta", "c", "Claire", "Compta", "claire@compta.example"),
                ContactSpec {
                    phone: Some("+33612345678".into()),
                    user: Some("bob".into()),
                    subscriptions: ["invoices".into()].into(),
                    permissions: ["billing".into()].into(),
                    ..ContactSpec::new("k-bob", "c", "", "Bob", "")
                },
            ],
            communication_orders: vec![CommunicationOrderSpec::new("c", "financial", &["k-bob", "k-compta"])],
        }
    }

    #[test]
    fn commands_create_parents_first_and_resolve_every_value() {
        let commands = small().commands(&catalog()).unwrap();
        let ids: Vec<_> = commands.accounts.iter().map(|a| a.id.as_ref().unwrap().as_str()).collect();
        assert_eq!(ids, ["p", "c"]);
        assert_eq!(commands.accounts[0].name, "Partner");
        assert_eq!(commands.accounts[0].modules, None);
        let modules = commands.accounts[1].modules.as_ref().unwrap();
        assert!(!modules.iter().any(|m| m.as_str() == "voip_911"));
        assert_eq!(modules.len(), catalog().default_modules().len() - 1);
        assert_eq!(commands.users[0].email.as_str(), "ann@example.com");
        assert_eq!(commands.users[1].email.as_str(), "bob@bob.example");
        assert_eq!(commands.resources[0].kind.as_str(), "folder");
        assert_eq!(commands.resources[1].name, "Two");
        assert_eq!(commands.roles[0].display_name, "bookkeeper");
        let restriction = commands.memberships[1].restriction.as_ref().unwrap();
        assert_eq!(restriction.cap(&ResourceId::parse("f1").unwrap()), Some(Level::View));
        assert_eq!(restriction.len(), 1);
        assert!(commands.suspended_accounts.is_empty() && commands.suspended_users.is_empty());
        let bob = &commands.contacts[1].details;
        assert_eq!((bob.email.as_ref(), bob.phone.as_ref().map(Phone::as_str)), (None, Some("+33612345678")));
        assert_eq!(bob.user, Some(UserId::parse("bob").unwrap()));
        assert_eq!(bob.subscriptions, [ContactSubscription::Invoices].into());
        assert_eq!(bob.permissions, [ContactPermission::Billing].into());
        let order = &commands.communication_orders[0];
        assert_eq!((order.account.as_str(), order.kind), ("c", CommunicationType::Financial));
        assert_eq!(order.contacts.iter().map(ContactId::as_str).collect::<Vec<_>>(), ["k-bob", "k-compta"]);
    }

    #[test]
    fn the_facts_are_those_a_store_would_load() {
        let world = small().resolve(&catalog()).unwrap();
        // Bob's custom role, capped at view on f1, does not reach f2.
        let d = world.evaluate(&request("bob", "c", "folders:view", Some("f1")));
        assert!(d.allowed, "{d:?}");
        let d = world.evaluate(&request("bob", "c", "folders:full", Some("f1")));
        assert_eq!(d.reason, Reason::ResourceLevelCapped);
        assert_eq!(world.evaluate(&request("bob", "c", "folders:view", Some("f2"))).reason, Reason::ResourceNotGranted);
        // Ann acts in c through the delegation, not in p's other accounts.
        let d = world.evaluate(&request("ann", "c", "folders:view", Some("f2")));
        assert!(d.allowed, "{d:?}");
        assert_eq!(world.evaluate(&request("ann", "c", "voip_911:view", None)).reason, Reason::ModuleDisabled);
        let facts = world.facts(&request("ann", "c", "users:view", None));
        assert_eq!(facts.chain.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(), ["c", "p"]);
        assert_eq!(facts.memberships.len(), 1);
        assert_eq!(facts.delegations.len(), 1);
        // Unknowns are unknown.
        assert_eq!(world.evaluate(&request("nobody", "c", "users:view", None)).reason, Reason::UnknownSubject);
        assert_eq!(world.evaluate(&request("ann", "ghost", "users:view", None)).reason, Reason::UnknownAccount);
        // The grid: (2 users + nobody) × (2 accounts + ghost) × features × 2 levels, and
        // (3 users) × 2 folders × 2 accounts × 2 levels.
        let features = catalog().features().count();
        assert_eq!(world.every_request().len(), 3 * 3 * features * 2 + 3 * 2 * 2 * 2);
    }

    #[test]
    fn suspensions_reach_the_facts_and_the_commands() {
        let mut spec = small();
        spec.account_mut("p").unwrap().status = AccountStatus::Suspended;
        spec.user_mut("bob").unwrap().status = UserStatus::Suspended;
        spec.membership_mut("m-ann").unwrap().status = MembershipStatus::Suspended;
        let commands = spec.commands(&catalog()).unwrap();
        assert_eq!(commands.suspended_accounts, [AccountId::parse("p").unwrap()]);
        assert_eq!(commands.suspended_users, [UserId::parse("bob").unwrap()]);
        assert_eq!(commands.suspended_memberships, [MembershipId::parse("m-ann").unwrap()]);
        let world = spec.resolve(&catalog()).unwrap();
        assert_eq!(world.evaluate(&request("bob", "c", "folders:view", Some("f1"))).reason, Reason::SubjectSuspended);
        // The delegation's source is suspended too.
        let facts = world.facts(&request("ann", "c", "users:view", None));
        assert_eq!(facts.delegations[0].from_account.status, AccountStatus::Suspended);
    }

    #[test]
    fn pending_memberships_are_facts_but_not_commands() {
        let mut spec = small();
        spec.membership_mut("m-bob").unwrap().status = MembershipStatus::PendingApproval;
        assert!(spec.resolve(&catalog()).is_ok());
        let e = spec.commands(&catalog()).unwrap_err();
        assert!(e.to_string().starts_with("membership m-bob: pending_approval"), "{e}");
    }

    #[test]
    fn every_reference_is_checked() {
        type Change = fn(&mut WorldSpec);
        let cases: Vec<(Change, &str)> = vec![
            (|w| w.accounts[0].parent = Some("ghost".into()), "account c: parent \"ghost\" is not in the world"),
            (|w| w.accounts[1].parent = Some("c".into()), "account c: its parents form a cycle"),
            (|w| w.accounts[0].kind = "planet".into(), "account c: kind \"planet\" is not in the catalog"),
            (|w| w.accounts[0].parent = None, "account c: a customer needs a parent"),
            (
                |w| w.accounts.push(AccountSpec::new("x", "partner").under("c")),
                "account x: a partner cannot be a child of a customer",
            ),
            (|w| w.accounts.push(AccountSpec::new("p", "partner")), "account p: is declared twice"),
            (
                |w| {
                    w.accounts[0].modules_off.insert("users".into());
                },
                "account c: \"users\" is not a module of the catalog",
            ),
            (|w| w.users[1].email = Some("nope".into()), "user bob: email \"nope\""),
            (
                |w| w.roles[0].name = "client_user".into(),
                "role c/client_user: client_user is a built-in role of a customer",
            ),
            (
                |w| {
                    w.roles[0].grants.insert("teleport".into(), Level::Full);
                },
                "role c/bookkeeper: grants: \"teleport\"",
            ),
            (|w| w.resources[0].account = "x".into(), "resource f1: account \"x\" is not in the world"),
            (|w| w.memberships[0].user = "zed".into(), "membership m-ann: user \"zed\" is not in the world"),
            (
                |w| w.memberships[0].roles = vec!["bookkeeper".into()],
                "membership m-ann: role \"bookkeeper\" is neither",
            ),
            (|w| w.memberships[0].roles.clear(), "membership m-ann: needs at least one role"),
            (
                |w| w.memberships.push(MembershipSpec::new("m2", "bob", "c", &["client_user"])),
                "membership m2: bob has m-bob in c already",
            ),
            (
                |w| w.memberships[1].resources = Some([("f9".into(), Level::View)].into()),
                "membership m-bob: resource \"f9\" is not in the world",
            ),
            (
                |w| w.memberships[1].resources = Some([("f1".into(), Level::None)].into()),
                "membership m-bob: resource \"f1\": a cap is view or full",
            ),
            (|w| w.delegations[0].role = "bookkeeper2".into(), "delegation d-p-c: role \"bookkeeper2\" is neither"),
            (|w| w.delegations[0].to = "q".into(), "delegation d-p-c: account \"q\" is not in the world"),
            (|w| w.contacts[0].account = "q".into(), "contact k-compta: account \"q\" is not in the world"),
            (|w| w.contacts[1].user = Some("ann".into()), "contact k-bob: user \"ann\" is not a member of the account"),
            (|w| w.contacts[0].email = Some("nope".into()), "contact k-compta: email \"nope\""),
            (|w| w.contacts[1].phone = None, "contact k-bob: email: email or phone is required"),
            (
                |w| {
                    w.contacts[0].subscriptions.insert("spam".into());
                },
                "contact k-compta: subscription \"spam\"",
            ),
            (|w| w.contacts[1].id = "k-compta".into(), "contact k-compta: is declared twice"),
            (|w| w.communication_orders[0].kind = "social".into(), "communication_order c/social: type \"social\""),
            (
                |w| w.communication_orders[0].contacts.push("k-bob".into()),
                "communication_order c/financial: contact \"k-bob\" is listed twice",
            ),
            (
                |w| w.contacts[0].account = "p".into(),
                "communication_order c/financial: contact \"k-compta\" is not a contact of the account",
            ),
        ];
        for (change, expected) in cases {
            let mut spec = small();
            change(&mut spec);
            let e = spec.resolve(&catalog()).unwrap_err().to_string();
            assert!(e.starts_with(expected), "{e} does not start with {expected}");
            assert_eq!(spec.commands(&catalog()).unwrap_err().to_string(), e);
        }
    }

    #[test]
    fn a_spec_round_trips_through_toml() {
        let spec = small();
        let text = spec.to_toml().unwrap();
        assert!(text.contains("[[membership]]") && text.contains("[[communication_order]]"), "{text}");
        assert_eq!(WorldSpec::from_toml(&text).unwrap(), spec);
        let written = r#"
            [[account]]
            id = "acme"
            kind = "direct_client"
            modules_off = ["hosting"]

            [[user]]
            id = "zoe"
            status = "suspended"

            [[resource]]
            id = "r1"
            account = "acme"

            [[membership]]
            id = "m1"
            user = "zoe"
            account = "acme"
            roles = ["account_manager"]
            resources = { r1 = "view" }
        "#;
        let spec = WorldSpec::from_toml(written).unwrap();
        assert_eq!(spec.users[0].status, UserStatus::Suspended);
        assert_eq!(spec.resources[0].kind, "folder");
        let world = spec.resolve(&catalog()).unwrap();
        assert_eq!(world.evaluate(&request("zoe", "acme", "users:view", None)).reason, Reason::SubjectSuspended);
        let e = WorldSpec::from_toml("[[account]]\nid = \"a\"\nkind = \"partner\"\ncolour = \"red\"\n").unwrap_err();
        assert!(e.to_string().contains("unknown field `colour`"), "{e}");
    }
}
