//! What would grant a denied request, and who may make that change (ExplainAccess's
//! suggestions). Pure and synchronous, over facts the server loaded at the decision's revision.
//!
//! [`suggest`] takes the request, the subject's [`Facts`] (those the decision was made on) and an
//! [`AccountView`] of the account asked about — its roles, its approval setting, and the members
//! who might make a change (*candidates*), each with the facts the rule book needs about them —
//! and returns the smallest sets of changes that would make the decision allow, each change with
//! the members who may make it.
//!
//! # The changes
//!
//! A [`Suggestion`] is a list of [`Step`]s that together grant; each step is one [`Change`] an API
//! call makes:
//!
//! - the **caps** first, which every suggestion then carries: a suspended subject is reactivated
//!   ([`Change::ReactivateUser`]), a suspended account of the chain is reactivated
//!   ([`Change::ReactivateAccount`]), a module that is not enabled is enabled
//!   ([`Change::EnableModule`]);
//! - then a **path**, for each membership of the subject in the account: activate it when it is
//!   not active ([`Change::ApproveMembership`] when pending, [`Change::ReactivateMembership`] when
//!   suspended), add a role of the account ([`Change::AssignRole`]) and/or extend its restriction
//!   to the resource asked about, or raise its cap there to the level required
//!   ([`Change::ExtendRestriction`]);
//! - or, for a subject who is a member of an ancestor of the account holding
//!   `delegated_administration:full` there (a partner's member without a delegation), a
//!   delegation from that ancestor into the account with a role of the account
//!   ([`Change::CreateDelegation`]): partner reach is a delegation the customer sees.
//!
//! Every candidate set of changes is applied to the facts and evaluated by the decision
//! ([`evaluate`]); only those that allow are kept, and of those only the minimal ones (a set that
//! contains another one that allows is dropped), fewest steps first, then the smallest roles (a
//! role's size is the sum of its levels, `view` 1 and `full` 2, on the account and on
//! descendants). At most [`MAX_SUGGESTIONS`] are returned. A subject with no tie to the account
//! (no membership there, no partner membership above it) gets none: joining is an invitation, which
//! the account's administrators decide on its own terms.
//!
//! # Who may make a change
//!
//! A change's *fixers* are the candidates the rule book allows to make it as the actor of the API
//! call the change is, exactly as the server decides that call
//! ([`Operation::requirement`](crate::Operation::requirement), then the invariants the call
//! checks: no escalation with [`check_grant`], partner reach with [`check_partner_reach`],
//! four-eyes with [`check_four_eyes`] and [`check_pending_frozen`], the role limit) — never the
//! subject. Candidates are the account's own active members first, then the members of the
//! accounts delegating into it (partner members acting through a delegation the customer sees),
//! each group in user-id order; at most [`MAX_FIXERS`] are named per step, with
//! [`Step::more_fixers`] when there are more (or when the candidates the server loaded were
//! bounded). Members of other accounts are never named: a change decided in the parent account
//! (enabling a module, reactivating an account) names only the members of this account or of its
//! delegating partners who hold the right there, and says where it is decided
//! ([`Step::decided_in`]; `None`: only the calling service, on its own authority).
//!
//! # Four-eyes
//!
//! When the account requires approval of new access ([`AccountView::requires_approval`]), a step
//! that gives access in it says so ([`Step::four_eyes`]): the access waits for a second member
//! holding `access_approvals:full`, who is neither its author nor the subject.
//!
//! # Why one file
//!
//! The changes, how each is applied to the facts, and which operation of the rule book each one is
//! are read together: a new kind of change is a variant, an arm in [`apply`], one in
//! [`operation`] and one in [`may_make`], in one review. Its tests are apart (`suggest/tests.rs`).

use std::collections::{BTreeMap, BTreeSet};

use crate::catalog::{Catalog, DELEGATED_ADMINISTRATION_FEATURE, Role};
use crate::decision::{AccessRequest, DelegationFacts, Facts, Reason, evaluate};
use crate::ids::{AccountId, DelegationId, FeatureName, MembershipId, ResourceId, RoleName, UserId};
use crate::level::{Level, level_in};
use crate::model::Timestamp;
use crate::restriction::Restriction;
use crate::rules::{
    Grant, MAX_ROLES, Operation, Own, Reach, Requirement, check_four_eyes, check_grant, check_partner_reach,
    check_pending_frozen,
};
use crate::status::{AccountStatus, MembershipStatus, UserStatus};

/// The most fixers named per step.
pub const MAX_FIXERS: usize = 10;

/// The most suggestions returned.
pub const MAX_SUGGESTIONS: usize = 5;

/// One change to guichet's state, as one API call makes it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Change {
    /// Reactivate the suspended subject (`UserService/ReactivateUser`).
    ReactivateUser {
        /// The subject.
        user: UserId,
    },
    /// Reactivate a suspended account of the chain (`AccountService/ReactivateAccount`).
    ReactivateAccount {
        /// The account.
        account: AccountId,
    },
    /// Enable a module on the account (`AccountService/SetAccountModules`).
    EnableModule {
        /// The account.
        account: AccountId,
        /// The module feature.
        feature: FeatureName,
    },
    /// Approve the subject's pending membership (`ApprovalService/ApproveMembership`).
    ApproveMembership {
        /// The membership.
        membership: MembershipId,
    },
    /// Reactivate the subject's suspended membership (`MembershipService/ReactivateMembership`).
    ReactivateMembership {
        /// The membership.
        membership: MembershipId,
    },
    /// Add a role of the account to the subject's membership (`MembershipService/AssignRole`).
    AssignRole {
        /// The membership.
        membership: MembershipId,
        /// The role.
        role: RoleName,
    },
    /// Add the resource to the membership's restriction, or raise its cap there
    /// (`MembershipService/SetResourceRestriction`).
    ExtendRestriction {
        /// The membership.
        membership: MembershipId,
        /// The resource.
        resource: ResourceId,
        /// The cap it gets there.
        level: Level,
    },
    /// A delegation from an ancestor where the subject is a member into the account
    /// (`DelegationService/CreateDelegation`).
    CreateDelegation {
        /// The delegating (partner) account.
        from: AccountId,
        /// The account.
        to: AccountId,
        /// A role of the account.
        role: RoleName,
    },
}

impl Change {
    /// The API call that makes the change, `Service/Method`.
    pub const fn rpc(&self) -> &'static str {
        match self {
            Change::ReactivateUser { .. } => "guichet.v1.UserService/ReactivateUser",
            Change::ReactivateAccount { .. } => "guichet.v1.AccountService/ReactivateAccount",
            Change::EnableModule { .. } => "guichet.v1.AccountService/SetAccountModules",
            Change::ApproveMembership { .. } => "guichet.v1.ApprovalService/ApproveMembership",
            Change::ReactivateMembership { .. } => "guichet.v1.MembershipService/ReactivateMembership",
            Change::AssignRole { .. } => "guichet.v1.MembershipService/AssignRole",
            Change::ExtendRestriction { .. } => "guichet.v1.MembershipService/SetResourceRestriction",
            Change::CreateDelegation { .. } => "guichet.v1.DelegationService/CreateDelegation",
        }
    }

    /// Whether the change gives access in the account (and so falls under four-eyes there).
    const fn gives_access(&self) -> bool {
        match self {
            Change::ReactivateMembership { .. }
            | Change::AssignRole { .. }
            | Change::ExtendRestriction { .. }
            | Change::CreateDelegation { .. } => true,
            Change::ReactivateUser { .. }
            | Change::ReactivateAccount { .. }
            | Change::EnableModule { .. }
            | Change::ApproveMembership { .. } => false,
        }
    }
}

/// How a fixer acts in the account.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Via {
    /// A member of the account itself.
    Member,
    /// A member of a delegating (partner) account, through this delegation into the account.
    Delegation(DelegationId),
}

/// A member who may make a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fixer {
    /// The user.
    pub user: UserId,
    /// How they act in the account.
    pub via: Via,
}

/// One change of a suggestion, with who may make it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The change.
    pub change: Change,
    /// The account whose permission the change needs (the account itself, or its parent for a
    /// module or an account's reactivation); `None`: only the calling service, on its own authority.
    pub decided_in: Option<AccountId>,
    /// The members who may make it, own members first, at most [`MAX_FIXERS`].
    pub fixers: Vec<Fixer>,
    /// More members than those named may make it.
    pub more_fixers: bool,
    /// The account requires approval of new access: what the change gives waits for a second
    /// approver.
    pub four_eyes: bool,
}

/// A set of changes that together make the decision allow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suggestion {
    /// The changes, caps first.
    pub steps: Vec<Step>,
}

/// A member who might make a change, with the facts the rule book reads about them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The user.
    pub user: UserId,
    /// How they act in the account.
    pub via: Via,
    /// Their facts in each account of the chain (loaded with no resource), by account.
    pub in_accounts: BTreeMap<AccountId, Facts>,
    /// Their facts in the account with each resource the subject's restrictions name (and the
    /// resource asked about), by resource.
    pub on_resources: BTreeMap<ResourceId, Facts>,
}

/// What the suggestions read about the account asked about, loaded at the decision's revision.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AccountView {
    /// Its roles: the built-in roles of its kind, then its custom roles.
    pub roles: Vec<Role>,
    /// Whether new access waits for approval (four-eyes).
    pub requires_approval: bool,
    /// Who requested each of the subject's memberships in the account, when known.
    pub requesters: BTreeMap<MembershipId, UserId>,
    /// Every account where the subject is a member.
    pub subject_accounts: Vec<AccountId>,
    /// The members who might make a change: own members first, then delegated ones.
    pub candidates: Vec<Candidate>,
    /// The server loaded a bounded number of candidates and there were more.
    pub candidates_truncated: bool,
}

/// A role's size: the sum of its levels (`view` 1, `full` 2), in the account and below.
pub fn role_size(role: &Role) -> u32 {
    let rank = |l: &Level| match l {
        Level::None => 0,
        Level::View => 1,
        Level::Full => 2,
    };
    role.grants.values().chain(role.descendant_grants.values()).map(rank).sum()
}

/// The smallest sets of changes that would make `request` allowed, each change with who may make
/// it (see the module docs). Empty when the request is allowed, or denied for an unknown subject,
/// account, feature or resource.
pub fn suggest(
    catalog: &Catalog,
    request: &AccessRequest,
    facts: &Facts,
    view: &AccountView,
    now: Timestamp,
) -> Vec<Suggestion> {
    let decision = evaluate(catalog, request, facts, now);
    match decision.reason {
        Reason::Allowed
        | Reason::UnknownSubject
        | Reason::UnknownAccount
        | Reason::UnknownFeature
        | Reason::UnknownResource
        | Reason::ResourceOutsideAccount => return Vec::new(),
        Reason::SubjectSuspended
        | Reason::AccountSuspended
        | Reason::ModuleDisabled
        | Reason::NoAccessPath
        | Reason::InsufficientLevel
        | Reason::ResourceNotGranted
        | Reason::ResourceLevelCapped => {}
    }
    let Some(target) = facts.chain.first() else { return Vec::new() };
    let required = decision.required;

    let mut caps = Vec::new();
    for cap in &decision.caps {
        caps.push(match cap {
            crate::decision::Cap::SubjectSuspended => Change::ReactivateUser { user: request.subject.clone() },
            crate::decision::Cap::AccountSuspended(a) => Change::ReactivateAccount { account: a.clone() },
            crate::decision::Cap::ModuleDisabled(f) => {
                Change::EnableModule { account: target.id.clone(), feature: f.clone() }
            }
        });
    }

    let mut roles: Vec<&Role> = view.roles.iter().collect();
    roles.sort_by(|a, b| role_size(a).cmp(&role_size(b)).then_with(|| a.name.cmp(&b.name)));

    // Candidate paths: (changes, the size of the roles they add).
    let mut paths: Vec<(Vec<Change>, u32)> = vec![(Vec::new(), 0)];
    for m in facts.memberships.iter().filter(|m| m.account == target.id) {
        let activate = match m.status {
            MembershipStatus::Active => None,
            MembershipStatus::PendingApproval => Some(Change::ApproveMembership { membership: m.id.clone() }),
            MembershipStatus::Suspended => Some(Change::ReactivateMembership { membership: m.id.clone() }),
        };
        let mut role_options: Vec<Option<&Role>> = vec![None];
        role_options.extend(roles.iter().filter(|r| !m.roles.iter().any(|h| h.name == r.name)).map(|r| Some(*r)));
        let extend = match (&request.resource, &m.resources) {
            (Some(r), Some(restriction)) if restriction.cap(r).is_none_or(|cap| cap < required) => {
                Some(Change::ExtendRestriction { membership: m.id.clone(), resource: r.clone(), level: required })
            }
            _ => None,
        };
        for role in &role_options {
            for ext in [None, extend.clone()] {
                let mut changes: Vec<Change> = activate.iter().cloned().collect();
                if let Some(role) = role {
                    changes.push(Change::AssignRole { membership: m.id.clone(), role: role.name.clone() });
                }
                changes.extend(ext);
                if !changes.is_empty() {
                    paths.push((changes, role.map_or(0, role_size)));
                }
                if extend.is_none() {
                    break;
                }
            }
        }
    }
    let delegated = FeatureName::from_trusted(DELEGATED_ADMINISTRATION_FEATURE);
    for ancestor in facts.chain.iter().skip(1) {
        let partner_member = facts.memberships.iter().any(|m| {
            m.account == ancestor.id
                && m.status == MembershipStatus::Active
                && m.roles.iter().any(|r| level_in(&r.grants, delegated.as_str()) == Level::Full)
        });
        // One delegation per pair of accounts: where the partner already delegates into the
        // account (with too small a role, or expired), a second would be refused.
        let delegates = facts.delegations.iter().any(|d| d.from_account.id == ancestor.id && d.to_account == target.id);
        if !partner_member || delegates || ancestor.status == AccountStatus::Suspended {
            continue;
        }
        for role in &roles {
            let change =
                Change::CreateDelegation { from: ancestor.id.clone(), to: target.id.clone(), role: role.name.clone() };
            paths.push((vec![change], role_size(role)));
        }
    }

    // Keep the plans that allow, minimal ones only, fewest changes and smallest roles first.
    let mut allowing: Vec<(Vec<Change>, u32)> = paths
        .into_iter()
        .map(|(path, size)| {
            let mut plan = caps.clone();
            plan.extend(path);
            (plan, size)
        })
        .filter(|(plan, _)| evaluate(catalog, request, &apply(facts, view, plan), now).allowed)
        .collect();
    allowing.sort_by(|(a, sa), (b, sb)| a.len().cmp(&b.len()).then(sa.cmp(sb)).then_with(|| a.cmp(b)));
    let mut kept: Vec<Vec<Change>> = Vec::new();
    for (plan, _) in allowing {
        let set: BTreeSet<&Change> = plan.iter().collect();
        if kept.iter().any(|k| k.iter().all(|c| set.contains(c))) {
            continue;
        }
        kept.push(plan);
        if kept.len() == MAX_SUGGESTIONS {
            break;
        }
    }

    kept.into_iter()
        .map(|plan| Suggestion {
            steps: plan.into_iter().map(|change| step(catalog, request, facts, view, change, now)).collect(),
        })
        .collect()
}

/// The step of `change`: where it is decided and who may make it.
fn step(
    catalog: &Catalog,
    request: &AccessRequest,
    facts: &Facts,
    view: &AccountView,
    change: Change,
    now: Timestamp,
) -> Step {
    let op = operation(request, facts, view, &change);
    let decided_in = match op.requirement() {
        Requirement::Holds(account, _) => Some(account),
        Requirement::AnyOf(options) => options.first().map(|(a, _)| a.clone()),
        Requirement::UserOr { .. } => facts.chain.first().map(|a| a.id.clone()),
        Requirement::Member { account, .. } => Some(account),
        Requirement::Scope | Requirement::ServiceOnly(_) => None,
    };
    let mut fixers = Vec::new();
    let mut more_fixers = view.candidates_truncated;
    for candidate in &view.candidates {
        if may_make(catalog, request, facts, view, candidate, &change, now) {
            if fixers.len() == MAX_FIXERS {
                more_fixers = true;
                break;
            }
            fixers.push(Fixer { user: candidate.user.clone(), via: candidate.via.clone() });
        }
    }
    let four_eyes = view.requires_approval && change.gives_access();
    Step { change, decided_in, fixers, more_fixers, four_eyes }
}

/// The operation of the rule book the change's API call is.
pub fn operation(request: &AccessRequest, facts: &Facts, view: &AccountView, change: &Change) -> Operation {
    let target = request.account.clone();
    let parent_of = |account: &AccountId| facts.chain.iter().find(|a| a.id == *account).and_then(|a| a.parent.clone());
    match change {
        Change::ReactivateUser { user } => {
            Operation::ManageUser { user: user.clone(), accounts: view.subject_accounts.clone(), status: true }
        }
        Change::ReactivateAccount { account } | Change::EnableModule { account, .. } => {
            Operation::AccountLifecycle { account: account.clone(), parent: parent_of(account) }
        }
        Change::ApproveMembership { .. } => Operation::DecideApproval(target),
        Change::ReactivateMembership { .. } | Change::AssignRole { .. } | Change::ExtendRestriction { .. } => {
            Operation::ManageMemberships(target)
        }
        Change::CreateDelegation { from, to, .. } => Operation::CreateDelegation { from: from.clone(), to: to.clone() },
    }
}

/// Whether `candidate` holds `need`-style permission `permission` in `account`, by the decision.
fn holds(
    catalog: &Catalog,
    candidate: &Candidate,
    account: &AccountId,
    need: crate::rules::Need,
    now: Timestamp,
) -> bool {
    let Some(facts) = candidate.in_accounts.get(account) else { return false };
    let request = AccessRequest {
        subject: candidate.user.clone(),
        account: account.clone(),
        permission: need.permission(),
        resource: None,
    };
    evaluate(catalog, &request, facts, now).allowed
}

/// Whether the rule book's requirement is met by `candidate` as the actor.
pub fn requirement_met(catalog: &Catalog, candidate: &Candidate, requirement: &Requirement, now: Timestamp) -> bool {
    match requirement {
        Requirement::Scope => true,
        Requirement::ServiceOnly(_) => false,
        Requirement::Holds(account, need) => holds(catalog, candidate, account, *need, now),
        Requirement::AnyOf(options) => options.iter().any(|(a, n)| holds(catalog, candidate, a, *n, now)),
        Requirement::Member { account, user } => {
            candidate.user == *user
                && candidate.in_accounts.get(account).is_some_and(|f| active_member(f, user, account, now))
        }
        Requirement::UserOr { user, accounts, need, every, own } => {
            if candidate.user == *user {
                return *own == Own::Allowed;
            }
            if !accounts.iter().any(|a| holds(catalog, candidate, a, need.as_view(), now)) {
                return false;
            }
            if *every {
                accounts.iter().all(|a| holds(catalog, candidate, a, *need, now))
            } else {
                accounts.iter().any(|a| holds(catalog, candidate, a, *need, now))
            }
        }
    }
}

/// Whether `facts` hold an active, unexpired membership of `user` in `account` (the
/// [`Requirement::Member`] rule).
pub fn active_member(facts: &Facts, user: &UserId, account: &AccountId, now: Timestamp) -> bool {
    facts.subject.as_ref().is_some_and(|s| s.id == *user)
        && facts.memberships.iter().any(|m| {
            m.account == *account
                && m.status == MembershipStatus::Active
                && !crate::decision::expired(m.expires_at, now)
        })
}

/// **No escalation** for `candidate` granting `roles` over `restriction` in the account, as the
/// server's `ensure_grant` checks it (the reach over each resource of the restriction).
fn grant_within_reach(
    catalog: &Catalog,
    request: &AccessRequest,
    candidate: &Candidate,
    roles: &[Role],
    restriction: Option<&Restriction>,
) -> bool {
    let Some(in_account) = candidate.in_accounts.get(&request.account) else { return false };
    let mut per_resource = Vec::new();
    for r in restriction.into_iter().flat_map(Restriction::ids) {
        match candidate.on_resources.get(r) {
            Some(f) => per_resource.push((r.clone(), f.clone())),
            None => return false,
        }
    }
    // A suggested change carries no expiry: the actor's reach must hold for good.
    let reach = Reach::compute(catalog, in_account, &per_resource, Timestamp::NEVER);
    check_grant(Grant { roles, restriction }, &reach).is_ok()
}

/// **Partner reach** for a direct grant to the subject: not a member of an ancestor or of a
/// delegating account.
fn partner_reach_ok(request: &AccessRequest, facts: &Facts, view: &AccountView) -> bool {
    let mut side: BTreeSet<AccountId> = facts.chain.iter().skip(1).map(|a| a.id.clone()).collect();
    side.extend(facts.delegations.iter().map(|d| d.from_account.id.clone()));
    check_partner_reach(&request.subject, &view.subject_accounts, &side).is_ok()
}

/// Whether the rule book lets `candidate` make `change` (see the module docs): the requirement of
/// the call, then the invariants it checks. Never the subject.
pub fn may_make(
    catalog: &Catalog,
    request: &AccessRequest,
    facts: &Facts,
    view: &AccountView,
    candidate: &Candidate,
    change: &Change,
    now: Timestamp,
) -> bool {
    if candidate.user == request.subject {
        return false;
    }
    let op = operation(request, facts, view, change);
    if !requirement_met(catalog, candidate, &op.requirement(), now) {
        return false;
    }
    let membership = |id: &MembershipId| facts.memberships.iter().find(|m| m.id == *id && m.account == request.account);
    let requester = |id: &MembershipId| view.requesters.get(id);
    match change {
        Change::ReactivateUser { .. } | Change::ReactivateAccount { .. } | Change::EnableModule { .. } => true,
        Change::ApproveMembership { membership: id } => {
            let Some(m) = membership(id) else { return false };
            check_four_eyes(&candidate.user, id, requester(id), &request.subject).is_ok()
                && grant_within_reach(catalog, request, candidate, &m.roles, m.resources.as_ref())
                && partner_reach_ok(request, facts, view)
        }
        Change::ReactivateMembership { membership: id } => {
            let Some(m) = membership(id) else { return false };
            check_pending_frozen(&candidate.user, id, m.status, requester(id)).is_ok()
                && grant_within_reach(catalog, request, candidate, &m.roles, m.resources.as_ref())
                && partner_reach_ok(request, facts, view)
        }
        Change::AssignRole { membership: id, role } => {
            let Some(m) = membership(id) else { return false };
            let Some(role) = view.roles.iter().find(|r| r.name == *role) else { return false };
            check_pending_frozen(&candidate.user, id, m.status, requester(id)).is_ok()
                && m.roles.len() < MAX_ROLES
                && grant_within_reach(catalog, request, candidate, std::slice::from_ref(role), m.resources.as_ref())
                && partner_reach_ok(request, facts, view)
        }
        Change::ExtendRestriction { membership: id, resource, level } => {
            let Some(m) = membership(id) else { return false };
            let mut restriction = m.resources.clone().unwrap_or_default();
            restriction.insert(resource.clone(), *level);
            check_pending_frozen(&candidate.user, id, m.status, requester(id)).is_ok()
                && grant_within_reach(catalog, request, candidate, &m.roles, Some(&restriction))
                && partner_reach_ok(request, facts, view)
        }
        Change::CreateDelegation { role, .. } => {
            let Some(role) = view.roles.iter().find(|r| r.name == *role) else { return false };
            grant_within_reach(catalog, request, candidate, std::slice::from_ref(role), None)
        }
    }
}

/// The id a suggested delegation has in the facts it is evaluated on: not a valid id, so it
/// cannot collide with a real one.
const SUGGESTED_DELEGATION: &str = "(suggested delegation)";

/// `facts` with `changes` applied.
pub fn apply(facts: &Facts, view: &AccountView, changes: &[Change]) -> Facts {
    let mut f = facts.clone();
    for change in changes {
        match change {
            Change::ReactivateUser { user } => {
                if let Some(s) = f.subject.as_mut().filter(|s| s.id == *user) {
                    s.status = UserStatus::Active;
                }
            }
            Change::ReactivateAccount { account } => {
                for a in f.chain.iter_mut().filter(|a| a.id == *account) {
                    a.status = AccountStatus::Active;
                }
                for d in f.delegations.iter_mut().filter(|d| d.from_account.id == *account) {
                    d.from_account.status = AccountStatus::Active;
                }
            }
            Change::EnableModule { account, feature } => {
                for a in f.chain.iter_mut().filter(|a| a.id == *account) {
                    a.modules.insert(feature.clone());
                }
            }
            Change::ApproveMembership { membership } | Change::ReactivateMembership { membership } => {
                for m in f.memberships.iter_mut().filter(|m| m.id == *membership) {
                    m.status = MembershipStatus::Active;
                }
            }
            Change::AssignRole { membership, role } => {
                if let Some(role) = view.roles.iter().find(|r| r.name == *role) {
                    for m in f.memberships.iter_mut().filter(|m| m.id == *membership) {
                        if !m.roles.iter().any(|r| r.name == role.name) {
                            m.roles.push(role.clone());
                        }
                    }
                }
            }
            Change::ExtendRestriction { membership, resource, level } => {
                for m in f.memberships.iter_mut().filter(|m| m.id == *membership) {
                    if let Some(r) = m.resources.as_mut() {
                        r.insert(resource.clone(), *level);
                    }
                }
            }
            Change::CreateDelegation { from, to, role } => {
                let source = f.chain.iter().find(|a| a.id == *from).cloned();
                let role = view.roles.iter().find(|r| r.name == *role).cloned();
                if let (Some(from_account), Some(role)) = (source, role) {
                    f.delegations.push(DelegationFacts {
                        id: DelegationId::from_trusted(SUGGESTED_DELEGATION),
                        from_account,
                        to_account: to.clone(),
                        role,
                        expires_at: None,
                    });
                }
            }
        }
    }
    f
}

#[cfg(test)]
mod tests;
