//! A preview of management operations (SimulateChanges): whether the actor may perform each, and
//! what they would change in effective access — without writing. Pure and synchronous, over a
//! [`Snapshot`] the server loaded at one revision.
//!
//! # The snapshot
//!
//! A [`Snapshot`] holds, as the store held them at one revision, the account trees the operations
//! touch (every account of each tree, with its modules, status and custom roles), the trees of the
//! accounts delegating into them, every membership in those accounts (roles by name, restriction,
//! status, expiry, requester), the delegations into and out of them, their users' statuses and
//! their resources. [`Snapshot::facts`] assembles from it the [`Facts`] of any request on those
//! accounts exactly as the store's loader does (the subject's memberships in the chain and in the
//! sources of the delegations into it, roles resolved in their account, a restriction reduced to
//! the resource asked about).
//!
//! # The operations
//!
//! Each [`SimOp`] is one management RPC. [`Snapshot::check`] answers it as that RPC would, in the
//! order the RPC checks: the rule book's requirement ([`admit`], the function the server calls),
//! then the invariants the RPC checks ([`check_pending_frozen`], [`check_role_limit`],
//! [`check_grant`] over [`Reach::compute`], [`check_partner_reach`],
//! [`check_role_definition`], [`check_descendant_levels`]), then what the store refuses in its
//! write (an unknown role name, a built-in role, a status transition ([`check_membership_transition`],
//! [`check_suspension_change`]), the last role ([`roles_without`]), the last administrator
//! ([`keep_an_administrator`])) — the rule book's functions the store's write calls. [`Snapshot::apply`]
//! makes the change in memory. [`simulate`] runs the list in order: each operation is checked on
//! the state the operations before it produced, and applied only if allowed (a refused call
//! changes nothing); the first invalid input stops the whole preview ([`Denial::Invalid`], its
//! field relative to the operation, which the server prefixes with the operation's index).
//!
//! # The effect
//!
//! For every user with a membership in the snapshot and every account of it, the effective level
//! on each feature of the catalog — by [`evaluate`], on the facts before and after — in the
//! account at large, and on each resource of the account, when the facts changed at large or on
//! one of its resources (a restriction moved between folders changes only the latter); the
//! [`LevelChange`]s are those that differ. On an actor's authority only the accounts where the
//! actor may view users (`users:view`, before the changes) are reported: nothing of another tenant
//! or of a partner the actor cannot read leaks.

use std::collections::{BTreeMap, BTreeSet};

use crate::catalog::{Catalog, Role, USERS_FEATURE};
use crate::decision::evaluate;
use crate::decision::{
    AccessRequest, AccountFacts, DelegationFacts, Facts, MembershipFacts, ResourceFacts, SubjectFacts,
};
use crate::error::FieldViolation;
use crate::ids::{AccountId, DelegationId, FeatureName, MembershipId, ResourceId, RoleName, UserId};
use crate::level::{Level, Permission};
use crate::model::{NewDelegation, RoleDefinition, Timestamp};
use crate::restriction::Restriction;
use crate::rules::{
    Grant, Hide, MAX_ROLES, Need, Operation, Precondition, Reach, Refusal, Violation, admit, check_descendant_levels,
    check_grant, check_membership_transition, check_partner_reach, check_pending_frozen, check_role_definition,
    check_role_limit, check_suspension_change, delegation_out_of_scope, keep_an_administrator, roles_without,
    unreachable,
};
use crate::status::{AccountStatus, MembershipStatus, UserStatus};

/// An account as the snapshot holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotAccount {
    /// Its facts (kind, status, parent, modules).
    pub facts: AccountFacts,
    /// Its custom roles.
    pub custom_roles: Vec<Role>,
}

/// A membership as the snapshot holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotMembership {
    /// The member.
    pub user: UserId,
    /// The account.
    pub account: AccountId,
    /// Its status.
    pub status: MembershipStatus,
    /// Its roles, by name.
    pub roles: Vec<RoleName>,
    /// Its restriction (`None`: every resource).
    pub restriction: Option<Restriction>,
    /// When it stops granting.
    pub expires_at: Option<Timestamp>,
    /// Who requested it (four-eyes).
    pub requester: Option<UserId>,
}

/// A delegation as the snapshot holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotDelegation {
    /// The partner.
    pub from: AccountId,
    /// The customer.
    pub to: AccountId,
    /// The role, in the customer.
    pub role: RoleName,
    /// When it stops granting.
    pub expires_at: Option<Timestamp>,
}

/// What a preview reads, at one revision (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Snapshot {
    /// The accounts.
    pub accounts: BTreeMap<AccountId, SnapshotAccount>,
    /// The users' statuses.
    pub users: BTreeMap<UserId, UserStatus>,
    /// The memberships.
    pub memberships: BTreeMap<MembershipId, SnapshotMembership>,
    /// The delegations.
    pub delegations: BTreeMap<DelegationId, SnapshotDelegation>,
    /// The resources, with their accounts.
    pub resources: BTreeMap<ResourceId, AccountId>,
}

/// One management operation, as its RPC takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SimOp {
    /// `RoleService/UpdateRole`: the profile edit.
    UpdateRole(RoleDefinition),
    /// `MembershipService/SetMembershipRoles`.
    SetMembershipRoles {
        /// The membership.
        membership: MembershipId,
        /// Its new roles.
        roles: Vec<RoleName>,
    },
    /// `MembershipService/AssignRole`.
    AssignRole {
        /// The membership.
        membership: MembershipId,
        /// The role.
        role: RoleName,
    },
    /// `MembershipService/UnassignRole`.
    UnassignRole {
        /// The membership.
        membership: MembershipId,
        /// The role.
        role: RoleName,
    },
    /// `MembershipService/SetResourceRestriction`.
    SetResourceRestriction {
        /// The membership.
        membership: MembershipId,
        /// The new restriction (`None`: lifted).
        restriction: Option<Restriction>,
    },
    /// `MembershipService/SuspendMembership` or `ReactivateMembership`.
    SetMembershipStatus {
        /// The membership.
        membership: MembershipId,
        /// `suspended` or `active`.
        status: MembershipStatus,
    },
    /// `AccountService/SetAccountModules`.
    SetAccountModules {
        /// The account.
        account: AccountId,
        /// Its modules.
        modules: BTreeSet<FeatureName>,
    },
    /// `AccountService/SuspendAccount` or `ReactivateAccount`.
    SetAccountStatus {
        /// The account.
        account: AccountId,
        /// The status.
        status: AccountStatus,
    },
    /// `UserService/SuspendUser` or `ReactivateUser`.
    SetUserStatus {
        /// The user.
        user: UserId,
        /// The status.
        status: UserStatus,
    },
    /// `DelegationService/CreateDelegation`.
    CreateDelegation(NewDelegation),
    /// `DelegationService/DeleteDelegation`.
    DeleteDelegation(DelegationId),
}

impl SimOp {
    /// The accounts, users, memberships and delegations the operation names: what a server loads
    /// into the snapshot.
    pub fn names(&self) -> Named {
        let mut n = Named::default();
        match self {
            SimOp::UpdateRole(def) => n.accounts.push(def.account.clone()),
            SimOp::SetMembershipRoles { membership, .. }
            | SimOp::AssignRole { membership, .. }
            | SimOp::UnassignRole { membership, .. }
            | SimOp::SetResourceRestriction { membership, .. }
            | SimOp::SetMembershipStatus { membership, .. } => n.memberships.push(membership.clone()),
            SimOp::SetAccountModules { account, .. } | SimOp::SetAccountStatus { account, .. } => {
                n.accounts.push(account.clone());
            }
            SimOp::SetUserStatus { user, .. } => n.users.push(user.clone()),
            SimOp::CreateDelegation(cmd) => {
                n.accounts.push(cmd.from_account.clone());
                n.accounts.push(cmd.to_account.clone());
            }
            SimOp::DeleteDelegation(id) => n.delegations.push(id.clone()),
        }
        n
    }
}

/// What operations name (see [`SimOp::names`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Named {
    /// Accounts.
    pub accounts: Vec<AccountId>,
    /// Users.
    pub users: Vec<UserId>,
    /// Memberships.
    pub memberships: Vec<MembershipId>,
    /// Delegations.
    pub delegations: Vec<DelegationId>,
}

/// Why an operation would be refused, as its RPC would say it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    /// The rule book's requirement ([`admit`]).
    Refused(Refusal),
    /// An invariant of the rule book, about `subject`.
    Violation {
        /// What it is about (`accounts/a1`, `memberships/m1`, ...).
        subject: String,
        /// The invariant.
        violation: Violation,
    },
    /// A precondition the store checks in its write.
    Precondition {
        /// Its stable type (`LAST_ADMINISTRATOR`, `BUILTIN_ROLE`, ...).
        kind: &'static str,
        /// What it is about.
        subject: String,
        /// What is wrong.
        description: String,
    },
    /// A record the operation names does not exist.
    NotFound {
        /// Kind.
        entity: &'static str,
        /// Id.
        id: String,
    },
    /// The record the operation would create exists.
    AlreadyExists {
        /// Kind.
        entity: &'static str,
        /// Id.
        id: String,
    },
    /// Invalid input, fields relative to the operation's request.
    Invalid(Vec<FieldViolation>),
}

impl From<Refusal> for Denial {
    fn from(r: Refusal) -> Self {
        Denial::Refused(r)
    }
}

fn violation(subject: String) -> impl FnOnce(Violation) -> Denial {
    move |violation| Denial::Violation { subject, violation }
}

fn precondition(subject: String) -> impl FnOnce(Precondition) -> Denial {
    move |p| Denial::Precondition { kind: p.kind, subject, description: p.description }
}

fn invalid(field: impl Into<String>, description: impl Into<String>) -> Denial {
    Denial::Invalid(vec![FieldViolation::new(field, description)])
}

/// A level that changes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct LevelChange {
    /// The feature.
    pub feature: FeatureName,
    /// On this resource only (`None`: in the account at large).
    pub resource: Option<ResourceId>,
    /// Before.
    pub from: Level,
    /// After.
    pub to: Level,
}

/// What changes for one member in one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effect {
    /// The member.
    pub user: UserId,
    /// The account.
    pub account: AccountId,
    /// The levels that rise or fall, by feature then resource.
    pub changes: Vec<LevelChange>,
}

/// A preview's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Simulation {
    /// For each operation, in order: `Ok` when the actor may perform it, else why not.
    pub outcomes: Vec<Result<(), Denial>>,
    /// The effects of the allowed operations, by user then account, at most the limit asked.
    pub effects: Vec<Effect>,
    /// How many (user, account) pairs change in all.
    pub total: usize,
    /// `effects` holds fewer than `total`.
    pub truncated: bool,
}

/// The id a simulated delegation gets when the request names none: not a valid id, so it
/// cannot collide with a real one.
const SIMULATED_DELEGATION: &str = "(simulated delegation)";

fn users_view(subject: &UserId, account: &AccountId, resource: Option<ResourceId>) -> AccessRequest {
    AccessRequest {
        subject: subject.clone(),
        account: account.clone(),
        permission: Permission { feature: FeatureName::from_trusted(USERS_FEATURE), level: Level::View },
        resource,
    }
}

impl Snapshot {
    /// The roles of an account: the built-in roles of its kind, then its custom roles by name.
    pub fn roles(&self, catalog: &Catalog, account: &AccountId) -> Vec<Role> {
        let Some(a) = self.accounts.get(account) else { return Vec::new() };
        let mut out: Vec<Role> = catalog.kind(&a.facts.kind).map(|k| k.roles.clone()).unwrap_or_default();
        let mut custom = a.custom_roles.clone();
        custom.sort_by(|x, y| x.name.cmp(&y.name));
        out.extend(custom);
        out
    }

    fn role(&self, catalog: &Catalog, account: &AccountId, name: &RoleName) -> Option<Role> {
        let a = self.accounts.get(account)?;
        catalog
            .builtin_role(&a.facts.kind, name)
            .cloned()
            .or_else(|| a.custom_roles.iter().find(|r| r.name == *name).cloned())
    }

    /// `account` first, then its parent, …, the root.
    pub fn chain(&self, account: &AccountId) -> Vec<AccountFacts> {
        let mut out: Vec<AccountFacts> = Vec::new();
        let mut next = self.accounts.get(account);
        while let Some(a) = next {
            if out.iter().any(|x| x.id == a.facts.id) {
                break;
            }
            out.push(a.facts.clone());
            next = a.facts.parent.as_ref().and_then(|p| self.accounts.get(p));
        }
        out
    }

    /// The accounts where the user is a member (any status), by id.
    pub fn user_accounts(&self, user: &UserId) -> Vec<AccountId> {
        let set: BTreeSet<AccountId> =
            self.memberships.values().filter(|m| m.user == *user).map(|m| m.account.clone()).collect();
        set.into_iter().collect()
    }

    /// The facts of `request`, as the store's loader assembles them (see the module docs).
    pub fn facts(&self, catalog: &Catalog, request: &AccessRequest) -> Facts {
        let chain = self.chain(&request.account);
        let resource = request
            .resource
            .as_ref()
            .and_then(|r| self.resources.get(r).map(|a| ResourceFacts { id: r.clone(), account: a.clone() }));
        let subject =
            self.users.get(&request.subject).map(|s| SubjectFacts { id: request.subject.clone(), status: *s });
        if chain.is_empty() || subject.is_none() {
            return Facts { subject, chain, memberships: Vec::new(), delegations: Vec::new(), resource };
        }
        let in_chain = |a: &AccountId| chain.iter().any(|c| c.id == *a);
        let mut delegations = Vec::new();
        for (id, d) in &self.delegations {
            if !in_chain(&d.to) {
                continue;
            }
            let (Some(role), Some(from)) = (self.role(catalog, &d.to, &d.role), self.accounts.get(&d.from)) else {
                continue;
            };
            delegations.push(DelegationFacts {
                id: id.clone(),
                from_account: from.facts.clone(),
                to_account: d.to.clone(),
                role,
                expires_at: d.expires_at,
            });
        }
        let counts = |a: &AccountId| in_chain(a) || delegations.iter().any(|d| d.from_account.id == *a);
        let mut memberships: Vec<(AccountId, MembershipFacts)> = Vec::new();
        for (id, m) in &self.memberships {
            if m.user != request.subject || !counts(&m.account) {
                continue;
            }
            let roles = m.roles.iter().filter_map(|n| self.role(catalog, &m.account, n)).collect();
            let resources = match (&m.restriction, &resource) {
                (None, _) => None,
                (Some(r), Some(res)) => {
                    let mut reached = Restriction::new();
                    if let Some(cap) = r.cap(&res.id) {
                        reached.insert(res.id.clone(), cap);
                    }
                    Some(reached)
                }
                (Some(_), None) => Some(Restriction::new()),
            };
            memberships.push((
                m.account.clone(),
                MembershipFacts {
                    id: id.clone(),
                    account: m.account.clone(),
                    status: m.status,
                    roles,
                    resources,
                    expires_at: m.expires_at,
                },
            ));
        }
        memberships.sort_by(|a, b| a.0.cmp(&b.0));
        Facts { subject, chain, memberships: memberships.into_iter().map(|(_, m)| m).collect(), delegations, resource }
    }

    fn decide(
        &self,
        catalog: &Catalog,
        actor: &UserId,
        account: &AccountId,
        need: Need,
        now: Timestamp,
    ) -> crate::Decision {
        let request = AccessRequest {
            subject: actor.clone(),
            account: account.clone(),
            permission: need.permission(),
            resource: None,
        };
        evaluate(catalog, &request, &self.facts(catalog, &request), now)
    }

    fn admit(
        &self,
        catalog: &Catalog,
        actor: Option<&UserId>,
        op: &Operation,
        hide: Hide<'_>,
        now: Timestamp,
    ) -> Result<(), Denial> {
        let Some(a) = actor else { return Ok(()) };
        let mut decide = |account: &AccountId, need: Need| self.decide(catalog, a, account, need, now);
        admit(actor, &op.requirement(), hide, &mut decide).map_err(Denial::from)
    }

    fn reaches_at_all(&self, catalog: &Catalog, actor: &UserId, account: &AccountId, now: Timestamp) -> bool {
        !unreachable(&self.decide(catalog, actor, account, Need::view(USERS_FEATURE), now))
    }

    /// The actor's reach, as the server's `reach_until` computes it.
    fn reach_until(
        &self,
        catalog: &Catalog,
        actor: &UserId,
        account: &AccountId,
        restriction: Option<&Restriction>,
        until: Option<Timestamp>,
    ) -> Result<Reach, Denial> {
        let at = until.map_or(Timestamp::NEVER, |t| Timestamp::from_millis(t.as_millis().saturating_sub(1)));
        let facts = self.facts(catalog, &users_view(actor, account, None));
        let mut per_resource = Vec::new();
        for (i, r) in restriction.into_iter().flat_map(Restriction::ids).enumerate() {
            let f = self.facts(catalog, &users_view(actor, account, Some(r.clone())));
            if f.resource.as_ref().is_none_or(|found| found.account != *account) {
                return Err(invalid(
                    format!("restriction.resource_ids[{i}]"),
                    format!("no resource {r} in account {account}"),
                ));
            }
            per_resource.push((r.clone(), f));
        }
        Ok(Reach::compute(catalog, &facts, &per_resource, at))
    }

    /// The server's `ensure_grant_until` with every grant counted.
    #[expect(clippy::too_many_arguments, reason = "a grant: by whom, where, to whom, what, until when")]
    fn ensure_grant(
        &self,
        catalog: &Catalog,
        actor: Option<&UserId>,
        account: &AccountId,
        user: Option<&UserId>,
        roles: &[RoleName],
        restriction: Option<&Restriction>,
        until: Option<Timestamp>,
    ) -> Result<(), Denial> {
        let Some(actor) = actor else { return Ok(()) };
        let resolved: Vec<Role> =
            self.roles(catalog, account).into_iter().filter(|r| roles.contains(&r.name)).collect();
        let reach = self.reach_until(catalog, actor, account, restriction, until)?;
        check_grant(Grant { roles: &resolved, restriction }, &reach)
            .map_err(violation(format!("accounts/{account}")))?;
        if let Some(user) = user {
            let facts = self.facts(catalog, &users_view(user, account, None));
            let mut side: BTreeSet<AccountId> = facts.chain.iter().skip(1).map(|a| a.id.clone()).collect();
            side.extend(facts.delegations.iter().map(|d| d.from_account.id.clone()));
            check_partner_reach(user, &self.user_accounts(user), &side)
                .map_err(violation(format!("accounts/{account}")))?;
        }
        Ok(())
    }

    /// The server's `managed_membership`.
    fn managed_membership(
        &self,
        catalog: &Catalog,
        actor: Option<&UserId>,
        id: &MembershipId,
        now: Timestamp,
    ) -> Result<&SnapshotMembership, Denial> {
        let m =
            self.memberships.get(id).ok_or_else(|| Denial::NotFound { entity: "membership", id: id.to_string() })?;
        let op = Operation::ManageMemberships(m.account.clone());
        self.admit(catalog, actor, &op, Hide::Record("membership", id.as_str()), now)?;
        if let Some(actor) = actor {
            check_pending_frozen(actor, id, m.status, m.requester.as_ref())
                .map_err(violation(format!("memberships/{id}")))?;
        }
        Ok(m)
    }

    /// The server's `admit_lifecycle`.
    fn admit_lifecycle(
        &self,
        catalog: &Catalog,
        actor: Option<&UserId>,
        id: &AccountId,
        now: Timestamp,
    ) -> Result<(), Denial> {
        let account =
            self.accounts.get(id).ok_or_else(|| Denial::NotFound { entity: "account", id: id.to_string() })?;
        let parent = account.facts.parent.clone();
        if let (Some(a), None) = (actor, &parent) {
            if self.reaches_at_all(catalog, a, id, now) {
                let op = Operation::AccountLifecycle { account: id.clone(), parent: None };
                return self.admit(catalog, actor, &op, Hide::Account, now);
            }
            return Err(Denial::NotFound { entity: "account", id: id.to_string() });
        }
        let op = Operation::AccountLifecycle { account: id.clone(), parent };
        match actor {
            Some(a) if self.reaches_at_all(catalog, a, id, now) => self.admit(catalog, actor, &op, Hide::Nothing, now),
            Some(_) | None => self.admit(catalog, actor, &op, Hide::Record("account", id.as_str()), now),
        }
    }

    /// The active administrators of an account, as the store counts them.
    fn administrators(&self, catalog: &Catalog, account: &AccountId) -> usize {
        self.memberships
            .values()
            .filter(|m| m.account == *account && m.status == MembershipStatus::Active)
            .filter(|m| self.users.get(&m.user) == Some(&UserStatus::Active))
            .filter(|m| m.roles.iter().any(|n| self.role(catalog, account, n).is_some_and(|r| r.is_administrator())))
            .count()
    }

    /// The last-administrator guard of the store's write: `op` applied to a copy.
    fn guard(&self, catalog: &Catalog, accounts: &[AccountId], op: &SimOp) -> Result<(), Denial> {
        let mut after = self.clone();
        after.apply(op);
        for account in accounts {
            let (before, now) = (self.administrators(catalog, account), after.administrators(catalog, account));
            keep_an_administrator(account, before, now).map_err(precondition(format!("accounts/{account}")))?;
        }
        Ok(())
    }

    fn known_roles(
        &self,
        catalog: &Catalog,
        account: &AccountId,
        names: &[RoleName],
        field: &str,
    ) -> Result<(), Denial> {
        let kind = self.accounts.get(account).map(|a| a.facts.kind.clone());
        let mut violations = Vec::new();
        for (i, name) in names.iter().enumerate() {
            if self.role(catalog, account, name).is_none() {
                let kind = kind.as_ref().map_or_else(String::new, ToString::to_string);
                violations.push(FieldViolation::new(
                    if names.len() == 1 && !field.ends_with('s') { field.to_owned() } else { format!("{field}[{i}]") },
                    format!("no role {name} in account {account} (kind {kind}): use a built-in role of the kind or a custom role of the account"),
                ));
            }
        }
        if violations.is_empty() { Ok(()) } else { Err(Denial::Invalid(violations)) }
    }

    /// Whether `actor` (`None`: the calling service) may perform `op` on this state, and if not
    /// why, in the order and words of its RPC (see the module docs).
    pub fn check(&self, catalog: &Catalog, actor: Option<&UserId>, op: &SimOp, now: Timestamp) -> Result<(), Denial> {
        match op {
            SimOp::UpdateRole(def) => {
                self.admit(catalog, actor, &Operation::ManageRoles(def.account.clone()), Hide::Account, now)?;
                let account = self
                    .accounts
                    .get(&def.account)
                    .ok_or_else(|| Denial::NotFound { entity: "account", id: def.account.to_string() })?;
                let subject = format!("accounts/{}/roles/{}", def.account, def.name);
                check_descendant_levels(catalog, &account.facts.kind, &def.descendant_grants)
                    .map_err(violation(subject.clone()))?;
                if let Some(a) = actor {
                    let reach = self.reach_until(catalog, a, &def.account, None, None)?;
                    check_role_definition(&def.grants, &def.descendant_grants, &reach).map_err(violation(subject))?;
                }
                let mut unknown = Vec::new();
                for (field, grants) in [("grants", &def.grants), ("descendant_grants", &def.descendant_grants)] {
                    for (i, feature) in grants.keys().enumerate() {
                        if catalog.feature(feature).is_none() {
                            unknown.push(FieldViolation::new(
                                format!("{field}[{i}].feature"),
                                format!("unknown feature {feature}: see ListCatalog"),
                            ));
                        }
                    }
                }
                if !unknown.is_empty() {
                    return Err(Denial::Invalid(unknown));
                }
                if catalog.builtin_role(&account.facts.kind, &def.name).is_some() {
                    return Err(Denial::Precondition {
                        kind: "BUILTIN_ROLE",
                        subject: format!("accounts/{}/roles/{}", def.account, def.name),
                        description: format!(
                            "{} is a built-in role of the catalog and cannot be changed: create a custom role instead",
                            def.name
                        ),
                    });
                }
                if !account.custom_roles.iter().any(|r| r.name == def.name) {
                    return Err(Denial::NotFound { entity: "role", id: format!("{}/{}", def.account, def.name) });
                }
                self.guard(catalog, std::slice::from_ref(&def.account), op)
            }
            SimOp::SetMembershipRoles { membership, roles } => {
                let m = self.managed_membership(catalog, actor, membership, now)?;
                check_role_limit(roles).map_err(violation(format!("memberships/{membership}")))?;
                self.ensure_grant(
                    catalog,
                    actor,
                    &m.account,
                    Some(&m.user),
                    roles,
                    m.restriction.as_ref(),
                    m.expires_at,
                )?;
                self.known_roles(catalog, &m.account, roles, "roles")?;
                self.guard(catalog, std::slice::from_ref(&m.account), op)
            }
            SimOp::AssignRole { membership, role } => {
                let m = self.managed_membership(catalog, actor, membership, now)?;
                let roles = std::slice::from_ref(role);
                self.ensure_grant(
                    catalog,
                    actor,
                    &m.account,
                    Some(&m.user),
                    roles,
                    m.restriction.as_ref(),
                    m.expires_at,
                )?;
                self.known_roles(catalog, &m.account, roles, "role")?;
                if !m.roles.contains(role) && m.roles.len() >= MAX_ROLES {
                    return Err(Denial::Violation {
                        subject: format!("memberships/{membership}"),
                        violation: Violation::RoleLimit,
                    });
                }
                self.guard(catalog, std::slice::from_ref(&m.account), op)
            }
            SimOp::UnassignRole { membership, role } => {
                let m = self.managed_membership(catalog, actor, membership, now)?;
                roles_without(&m.roles, role).map_err(precondition(format!("memberships/{membership}")))?;
                self.guard(catalog, std::slice::from_ref(&m.account), op)
            }
            SimOp::SetResourceRestriction { membership, restriction } => {
                let m = self.managed_membership(catalog, actor, membership, now)?;
                self.ensure_grant(
                    catalog,
                    actor,
                    &m.account,
                    Some(&m.user),
                    &m.roles,
                    restriction.as_ref(),
                    m.expires_at,
                )?;
                for (i, r) in restriction.iter().flat_map(Restriction::ids).enumerate() {
                    if self.resources.get(r) != Some(&m.account) {
                        return Err(invalid(
                            format!("restriction.resource_ids[{i}]"),
                            format!("no resource {r} in account {}", m.account),
                        ));
                    }
                }
                self.guard(catalog, std::slice::from_ref(&m.account), op)
            }
            SimOp::SetMembershipStatus { membership, status } => {
                let m = self.managed_membership(catalog, actor, membership, now)?;
                if *status == MembershipStatus::Active {
                    self.ensure_grant(
                        catalog,
                        actor,
                        &m.account,
                        Some(&m.user),
                        &m.roles,
                        m.restriction.as_ref(),
                        m.expires_at,
                    )?;
                }
                check_membership_transition(membership, m.status, *status, false)
                    .map_err(precondition(format!("memberships/{membership}")))?;
                self.guard(catalog, std::slice::from_ref(&m.account), op)
            }
            SimOp::SetAccountModules { account, .. } => self.admit_lifecycle(catalog, actor, account, now),
            SimOp::SetAccountStatus { account, status } => {
                self.admit_lifecycle(catalog, actor, account, now)?;
                let suspended = self.accounts.get(account).is_some_and(|a| a.facts.status == AccountStatus::Suspended);
                check_suspension_change("account", account.as_str(), suspended, *status == AccountStatus::Suspended)
                    .map_err(precondition(format!("accounts/{account}")))
            }
            SimOp::SetUserStatus { user, status } => {
                if !self.users.contains_key(user) {
                    return Err(Denial::NotFound { entity: "user", id: user.to_string() });
                }
                let accounts = self.user_accounts(user);
                let op_rule = Operation::ManageUser { user: user.clone(), accounts: accounts.clone(), status: true };
                self.admit(catalog, actor, &op_rule, Hide::Record("user", user.as_str()), now)?;
                let suspended = self.users.get(user) == Some(&UserStatus::Suspended);
                check_suspension_change("user", user.as_str(), suspended, *status == UserStatus::Suspended)
                    .map_err(precondition(format!("users/{user}")))?;
                if *status == UserStatus::Suspended { self.guard(catalog, &accounts, op) } else { Ok(()) }
            }
            SimOp::CreateDelegation(cmd) => {
                // The server's `check_expiry`: in the future, at most ten years (of 365.25 days) ahead.
                const MAX_EXPIRY_AHEAD_MS: i64 = 10 * 36_525 * 86_400_000 / 100;
                if let Some(at) = cmd.expires_at
                    && at <= now
                {
                    return Err(invalid("expire_time", "must be in the future (leave it unset for no expiry)"));
                }
                if let Some(at) = cmd.expires_at
                    && at.as_millis() - now.as_millis() > MAX_EXPIRY_AHEAD_MS
                {
                    return Err(invalid(
                        "expire_time",
                        "must be at most 10 years ahead (leave it unset for no expiry)",
                    ));
                }
                let rule = Operation::CreateDelegation { from: cmd.from_account.clone(), to: cmd.to_account.clone() };
                self.admit(catalog, actor, &rule, Hide::Account, now)?;
                let role = std::slice::from_ref(&cmd.role);
                self.ensure_grant(catalog, actor, &cmd.to_account, None, role, None, cmd.expires_at)?;
                if cmd.from_account == cmd.to_account {
                    return Err(invalid("to_account_id", "an account cannot delegate to itself"));
                }
                if !self.accounts.contains_key(&cmd.from_account) {
                    return Err(Denial::NotFound { entity: "account", id: cmd.from_account.to_string() });
                }
                let below = self.chain(&cmd.to_account).iter().skip(1).any(|a| a.id == cmd.from_account);
                if !below {
                    let scope = delegation_out_of_scope(&cmd.from_account, &cmd.to_account);
                    return Err(precondition(format!("accounts/{}", cmd.to_account))(scope));
                }
                self.known_roles(catalog, &cmd.to_account, role, "role")?;
                let exists = self.delegations.iter().find(|(id, d)| {
                    cmd.id.as_ref() == Some(*id) || (d.from == cmd.from_account && d.to == cmd.to_account)
                });
                if let Some((id, _)) = exists {
                    let id = cmd.id.as_ref().unwrap_or(id);
                    return Err(Denial::AlreadyExists {
                        entity: "delegation",
                        id: format!("{id} (or from {} to {})", cmd.from_account, cmd.to_account),
                    });
                }
                Ok(())
            }
            SimOp::DeleteDelegation(id) => {
                let d = self
                    .delegations
                    .get(id)
                    .ok_or_else(|| Denial::NotFound { entity: "delegation", id: id.to_string() })?;
                let rule = Operation::DeleteDelegation { from: d.from.clone(), to: d.to.clone() };
                self.admit(catalog, actor, &rule, Hide::Record("delegation", id.as_str()), now)
            }
        }
    }

    /// Makes the change of `op` in memory (what its RPC writes when it is allowed). A record the
    /// operation names that does not exist is left alone.
    pub fn apply(&mut self, op: &SimOp) {
        match op {
            SimOp::UpdateRole(def) => {
                if let Some(a) = self.accounts.get_mut(&def.account) {
                    for r in a.custom_roles.iter_mut().filter(|r| r.name == def.name) {
                        r.display_name.clone_from(&def.display_name);
                        r.description.clone_from(&def.description);
                        r.grants.clone_from(&def.grants);
                        r.descendant_grants.clone_from(&def.descendant_grants);
                    }
                }
            }
            SimOp::SetMembershipRoles { membership, roles } => {
                if let Some(m) = self.memberships.get_mut(membership) {
                    let mut unique: Vec<RoleName> = Vec::new();
                    for r in roles {
                        if !unique.contains(r) {
                            unique.push(r.clone());
                        }
                    }
                    m.roles = unique;
                }
            }
            SimOp::AssignRole { membership, role } => {
                if let Some(m) = self.memberships.get_mut(membership)
                    && !m.roles.contains(role)
                {
                    m.roles.push(role.clone());
                }
            }
            SimOp::UnassignRole { membership, role } => {
                if let Some(m) = self.memberships.get_mut(membership) {
                    m.roles.retain(|r| r != role);
                }
            }
            SimOp::SetResourceRestriction { membership, restriction } => {
                if let Some(m) = self.memberships.get_mut(membership) {
                    m.restriction.clone_from(restriction);
                }
            }
            SimOp::SetMembershipStatus { membership, status } => {
                if let Some(m) = self.memberships.get_mut(membership) {
                    m.status = *status;
                }
            }
            SimOp::SetAccountModules { account, modules } => {
                if let Some(a) = self.accounts.get_mut(account) {
                    a.facts.modules.clone_from(modules);
                }
            }
            SimOp::SetAccountStatus { account, status } => {
                if let Some(a) = self.accounts.get_mut(account) {
                    a.facts.status = *status;
                }
            }
            SimOp::SetUserStatus { user, status } => {
                if let Some(s) = self.users.get_mut(user) {
                    *s = *status;
                }
            }
            SimOp::CreateDelegation(cmd) => {
                let id = cmd.id.clone().unwrap_or_else(|| {
                    DelegationId::from_trusted(format!("{SIMULATED_DELEGATION} {}", self.delegations.len()))
                });
                self.delegations.insert(
                    id,
                    SnapshotDelegation {
                        from: cmd.from_account.clone(),
                        to: cmd.to_account.clone(),
                        role: cmd.role.clone(),
                        expires_at: cmd.expires_at,
                    },
                );
            }
            SimOp::DeleteDelegation(id) => {
                self.delegations.remove(id);
            }
        }
    }

    /// The effective level of `user` on every feature of the catalog in `account` (on `resource`
    /// when given), by the decision engine; features at `none` are absent.
    pub fn levels(
        &self,
        catalog: &Catalog,
        user: &UserId,
        account: &AccountId,
        resource: Option<&ResourceId>,
        now: Timestamp,
    ) -> BTreeMap<FeatureName, Level> {
        let facts = self.facts(catalog, &users_view(user, account, resource.cloned()));
        crate::decision::levels_on(catalog, user, account, resource, &facts, now)
    }
}

fn diff(
    before: &BTreeMap<FeatureName, Level>,
    after: &BTreeMap<FeatureName, Level>,
    resource: Option<&ResourceId>,
    out: &mut Vec<LevelChange>,
) {
    let features: BTreeSet<&FeatureName> = before.keys().chain(after.keys()).collect();
    for f in features {
        let from = before.get(f).copied().unwrap_or(Level::None);
        let to = after.get(f).copied().unwrap_or(Level::None);
        if from != to {
            out.push(LevelChange { feature: f.clone(), resource: resource.cloned(), from, to });
        }
    }
}

/// What changes between two states, for every member of `after` in every account of it (see the
/// module docs), by user then account.
pub fn effects(catalog: &Catalog, before: &Snapshot, after: &Snapshot, now: Timestamp) -> Vec<Effect> {
    let users: BTreeSet<&UserId> =
        before.memberships.values().chain(after.memberships.values()).map(|m| &m.user).collect();
    let mut out = Vec::new();
    for user in users {
        for account in after.accounts.keys() {
            let mut changes = Vec::new();
            // Each place compared on its own facts: the account at large does not see a
            // restricted membership's resources (a change of its restriction changes only the
            // facts on the resources it names, before or after).
            let resources = after.resources.iter().filter(|(_, a)| *a == account).map(|(r, _)| Some(r));
            for resource in std::iter::once(None).chain(resources) {
                let request = users_view(user, account, resource.cloned());
                let (fb, fa) = (before.facts(catalog, &request), after.facts(catalog, &request));
                if fb != fa {
                    diff(
                        &crate::decision::levels_on(catalog, user, account, resource, &fb, now),
                        &crate::decision::levels_on(catalog, user, account, resource, &fa, now),
                        resource,
                        &mut changes,
                    );
                }
            }
            if !changes.is_empty() {
                out.push(Effect { user: user.clone(), account: account.clone(), changes });
            }
        }
    }
    out
}

/// Previews `ops` in order for `actor` (see the module docs): each operation's answer on the state
/// the allowed ones before it produced, and the effect of the allowed ones, at most `limit`
/// (user, account) pairs. `Err((index, violations))`: the first invalid input.
pub fn simulate(
    catalog: &Catalog,
    snapshot: &Snapshot,
    actor: Option<&UserId>,
    ops: &[SimOp],
    limit: usize,
    now: Timestamp,
) -> Result<Simulation, (usize, Vec<FieldViolation>)> {
    let mut state = snapshot.clone();
    let mut outcomes = Vec::with_capacity(ops.len());
    for (i, op) in ops.iter().enumerate() {
        match state.check(catalog, actor, op, now) {
            Ok(()) => {
                state.apply(op);
                outcomes.push(Ok(()));
            }
            Err(Denial::Invalid(v)) => return Err((i, v)),
            Err(denial) => outcomes.push(Err(denial)),
        }
    }
    let mut all = effects(catalog, snapshot, &state, now);
    if let Some(a) = actor {
        let mut visible: BTreeMap<AccountId, bool> = BTreeMap::new();
        all.retain(|e| {
            *visible
                .entry(e.account.clone())
                .or_insert_with(|| snapshot.decide(catalog, a, &e.account, Need::view(USERS_FEATURE), now).allowed)
        });
    }
    let total = all.len();
    all.truncate(limit);
    Ok(Simulation { outcomes, truncated: all.len() < total, effects: all, total })
}

#[cfg(test)]
mod tests;
