//! The access decision (DESIGN §3): a pure, synchronous function over facts the server loaded.
//!
//! [`evaluate`] answers *may this subject use this feature at this level in this account (and this
//! resource)?* and explains the answer: every path considered, the caps applied, the path that
//! granted.
//!
//! # Rules
//!
//! The **effective level** is the highest level over the *live* paths, then capped.
//!
//! 1. **Direct** — each role of each membership of the subject in the target account gives
//!    [`Role::level`].
//! 2. **Inherited** — each role of each membership of the subject in an ancestor of the target
//!    (`chain[1..]`) gives [`Role::descendant_level`]. If an account between that ancestor and the
//!    target (both included) is suspended, the path gives nothing ([`PathOutcome::SourceSuspended`]).
//! 3. **Delegated** — for each delegation into the target or one of its ancestors, and each
//!    membership of the subject in the delegation's source account, the path gives the delegation
//!    role's [`Role::level`] on the delegated account, and its [`Role::descendant_level`] on the
//!    delegated account's descendants (a delegation into a sub-partner reaches the sub-partner's
//!    customers only through the role's descendant levels, as the role itself would). It needs:
//!    the source account active ([`PathOutcome::SourceSuspended`] otherwise), and one of the
//!    membership's roles holding `delegated_administration:full` in the source account itself
//!    ([`PathOutcome::NoDelegationRight`] otherwise). Only a **direct** membership in the source
//!    account counts: a member of the source's parent does not act through the source's
//!    delegations. No delegation row, no path — however high the member's role in the source.
//!
//! A path is live when its grant has not expired ([`PathOutcome::Expired`] otherwise, checked
//! first: a membership, or for a delegated path the membership or the delegation, whose
//! `expires_at` is at or before the evaluation's instant `now` grants nothing — its roles with it),
//! its membership is active ([`PathOutcome::Inactive`] otherwise) and none of the above refuses
//! it. For a resource check, a membership path is live only
//! if the membership reaches the resource (unrestricted, or restricted to a set containing it); a
//! delegation path reaches every resource of the account. A path that would give the required level
//! but does not reach the resource is [`PathOutcome::ResourceNotReachable`].
//!
//! # Levels per resource
//!
//! A restricted membership carries a **level cap** per resource it reaches
//! ([`crate::restriction`]): on a resource check, each of its paths gives
//! `min(role level, cap)` on that resource ([`PathEvaluation::resource_cap`] names the cap when
//! it is below `full`). The effective level on a resource is therefore **the best of the paths,
//! each path's level on that resource**. A cap only lowers: it never gives more than the path's
//! role. Examples from the seeds (an accounting firm's client, *dossiers* per year):
//!
//! - Marc's role *Collaborateur* gives `documents:full`; his membership is restricted to
//!   `{Comptes 2025: view, Paie: full}`. `documents:view` on *Comptes 2025*: allowed (view);
//!   `documents:full` there: denied, [`Reason::ResourceLevelCapped`]; `documents:full` on *Paie*:
//!   allowed; anything on *Juridique*: [`Reason::ResourceNotGranted`].
//! - The same Marc also holds, through his firm's delegation, `documents:full` on every folder:
//!   the delegated path reaches *Comptes 2025* uncapped, so the best of the paths is `full`.
//! - Sophie's role gives `documents:view`; a `full` cap on *Paie* leaves her at `view` there (the
//!   cap does not raise).
//!
//! **Caps** turn the effective level to none: a suspended subject ([`Cap::SubjectSuspended`]), a
//! suspended target account **or any suspended ancestor** — a suspended partner's whole subtree is
//! reachable by nobody ([`Cap::AccountSuspended`]) — and a module feature that is not enabled on
//! the target account ([`Cap::ModuleDisabled`]; administrative features are never capped this way).
//! A live path that would have granted is then [`PathOutcome::Capped`].
//!
//! A permission always requires at least `view`: a [`Permission`] built by hand with `none` is
//! evaluated as `view`.
//!
//! # Expiry and time
//!
//! `evaluate` reads no clock: the caller passes the instant. A grant with an expiry grants strictly
//! before it and never at or after it, whatever else is true, so a decision never depends on
//! whether anything noticed the expiry. [`Decision::valid_until`] is the first instant after `now`
//! at which an expiry could change the answer: the earliest expiry among the paths that are live
//! or that would be live if they reached the resource. A refused path stays refused once expired,
//! and an expiry never adds a path, so nothing else can change the answer before it: a cache keeps
//! the answer strictly before that instant only.
//!
//! # Unknowns
//!
//! Checked in this order, each a deny with its [`Reason`] and no path: the feature is not in the
//! catalog; the subject is unknown (`facts.subject` is `None`, or another user than asked); the
//! account is unknown (`facts.chain` is empty, or does not start with the account asked); the
//! request names a resource and `facts.resource` is `None` (or another resource); the resource
//! belongs to another account.
//!
//! # Reasons for a deny
//!
//! First the caps (subject suspended, then account suspended, then module disabled); then
//! [`Reason::ResourceNotGranted`] when some path would have granted but does not reach the
//! resource; then [`Reason::ResourceLevelCapped`] when some live path's role would have granted but
//! its cap on the resource is lower; then [`Reason::InsufficientLevel`] when some live path leads to the account but gives
//! less than required; otherwise [`Reason::NoAccessPath`]. Direct and delegated paths always lead
//! to the account; an inherited path leads to it only when its role has some descendant level above
//! none — a partner's account manager, whose role has no descendant levels, has *no access path*
//! to a customer without a delegation, not an insufficient one. Such paths are still listed.
//!
//! # Why one file
//!
//! The rules above and [`evaluate`], which applies them in the order they are written here, are
//! read and changed together: a rule's change is a change of this page and of that function, in
//! one review. The types here are the decision's vocabulary — its facts in; its paths, caps and
//! reasons out. Its tests are apart (`decision/tests.rs`, `decision/proptests.rs`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::catalog::{Catalog, DELEGATED_ADMINISTRATION_FEATURE, Role};
use crate::ids::{AccountId, AccountKind, DelegationId, FeatureName, MembershipId, ResourceId, RoleName, UserId};
use crate::level::{Level, Permission, level_in};
use crate::model::Timestamp;
use crate::restriction::Restriction;
use crate::status::{AccountStatus, MembershipStatus, UserStatus};

/// The question: may `subject` use `permission` in `account` (and on `resource`)?
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AccessRequest {
    /// The user asking.
    pub subject: UserId,
    /// The account where the user acts.
    pub account: AccountId,
    /// The feature and the level required.
    pub permission: Permission,
    /// The resource acted on, when the check is about one (a folder).
    pub resource: Option<ResourceId>,
}

/// What the decision needs to know about the subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectFacts {
    /// The user.
    pub id: UserId,
    /// Active or suspended.
    pub status: UserStatus,
}

/// What the decision needs to know about an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountFacts {
    /// The account.
    pub id: AccountId,
    /// Its kind.
    pub kind: AccountKind,
    /// Active or suspended.
    pub status: AccountStatus,
    /// Its parent.
    pub parent: Option<AccountId>,
    /// The module features enabled on it.
    pub modules: BTreeSet<FeatureName>,
}

/// One of the subject's memberships.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipFacts {
    /// The membership.
    pub id: MembershipId,
    /// The account it is held in.
    pub account: AccountId,
    /// Its status: only an active membership grants.
    pub status: MembershipStatus,
    /// Its roles, resolved (built-in or custom).
    pub roles: Vec<Role>,
    /// `None`: every resource; `Some`: only these, each with its level cap (the loader may include
    /// only the resource asked about).
    pub resources: Option<Restriction>,
    /// When it stops granting (its roles with it); `None`: never.
    pub expires_at: Option<Timestamp>,
}

/// A delegation into the target account or one of its ancestors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DelegationFacts {
    /// The delegation.
    pub id: DelegationId,
    /// The account whose members act (the partner).
    pub from_account: AccountFacts,
    /// The account they act in (the customer).
    pub to_account: AccountId,
    /// The role they act with.
    pub role: Role,
    /// When it stops granting; `None`: never.
    pub expires_at: Option<Timestamp>,
}

/// What the decision needs to know about the resource asked about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceFacts {
    /// The resource.
    pub id: ResourceId,
    /// The account it belongs to.
    pub account: AccountId,
}

/// Everything [`evaluate`] looks at, loaded by the server for one request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Facts {
    /// The subject; `None`: unknown subject.
    pub subject: Option<SubjectFacts>,
    /// The target account first, then its parent, …, the root; empty: unknown account.
    pub chain: Vec<AccountFacts>,
    /// The subject's memberships in the chain's accounts and in delegations' source accounts
    /// (others are ignored).
    pub memberships: Vec<MembershipFacts>,
    /// The delegations whose `to_account` is in the chain (others are ignored).
    pub delegations: Vec<DelegationFacts>,
    /// The resource, when the request names one and it exists.
    pub resource: Option<ResourceFacts>,
}

/// A way from the subject to a level in the target account.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Path {
    /// A role of a membership in the target account.
    Direct {
        /// The membership.
        membership: MembershipId,
        /// The target account.
        account: AccountId,
        /// The role.
        role: RoleName,
    },
    /// A role's descendant levels, from a membership in an ancestor.
    Inherited {
        /// The membership.
        membership: MembershipId,
        /// The ancestor holding it.
        ancestor: AccountId,
        /// The role.
        role: RoleName,
    },
    /// A delegation's role, through a membership in the delegation's source account.
    Delegated {
        /// The delegation.
        delegation: DelegationId,
        /// Its source account.
        from_account: AccountId,
        /// The subject's membership there.
        membership: MembershipId,
        /// The account delegated (the target or an ancestor).
        into: AccountId,
        /// The delegation's role.
        role: RoleName,
    },
}

impl Path {
    /// `direct`, `inherited` or `delegated`.
    pub const fn kind(&self) -> &'static str {
        match self {
            Path::Direct { .. } => "direct",
            Path::Inherited { .. } => "inherited",
            Path::Delegated { .. } => "delegated",
        }
    }

    /// The role whose levels the path gives.
    pub fn role(&self) -> &RoleName {
        match self {
            Path::Direct { role, .. } | Path::Inherited { role, .. } | Path::Delegated { role, .. } => role,
        }
    }

    /// The subject's membership the path goes through.
    pub fn membership(&self) -> &MembershipId {
        match self {
            Path::Direct { membership, .. }
            | Path::Inherited { membership, .. }
            | Path::Delegated { membership, .. } => membership,
        }
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Direct { membership, account, role } => {
                write!(f, "role {role} of membership {membership} in {account}")
            }
            Path::Inherited { membership, ancestor, role } => {
                write!(f, "descendant levels of role {role} of membership {membership} in ancestor {ancestor}")
            }
            Path::Delegated { delegation, from_account, membership, into, role } => write!(
                f,
                "delegation {delegation} from {from_account} into {into} with role {role}, through membership {membership}"
            ),
        }
    }
}

/// What became of a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PathOutcome {
    /// It gives the required level: the request is allowed through it.
    Granted,
    /// It is live but gives less than the required level.
    Insufficient,
    /// Its membership is not active.
    Inactive(MembershipStatus),
    /// It would give the level, but its membership does not reach the resource.
    ResourceNotReachable,
    /// An account it goes through is suspended: for an inherited path, the ancestor or an account
    /// between it and the target; for a delegated path, the source account.
    SourceSuspended,
    /// Delegated path whose membership holds no role with `delegated_administration:full`.
    NoDelegationRight,
    /// Its membership, or its delegation, expired at this instant (at or before the evaluation's).
    Expired(Timestamp),
    /// It would give the level, but a cap turns it to none.
    Capped,
}

impl PathOutcome {
    /// A stable snake-case code, e.g. `resource_not_reachable`.
    pub const fn code(&self) -> &'static str {
        match self {
            PathOutcome::Granted => "granted",
            PathOutcome::Insufficient => "insufficient",
            PathOutcome::Inactive(_) => "inactive",
            PathOutcome::ResourceNotReachable => "resource_not_reachable",
            PathOutcome::SourceSuspended => "source_suspended",
            PathOutcome::NoDelegationRight => "no_delegation_right",
            PathOutcome::Expired(_) => "expired",
            PathOutcome::Capped => "capped",
        }
    }
}

impl fmt::Display for PathOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathOutcome::Inactive(status) => write!(f, "inactive ({status})"),
            PathOutcome::Expired(at) => write!(f, "expired (at {} ms since the epoch)", at.as_millis()),
            PathOutcome::Granted
            | PathOutcome::Insufficient
            | PathOutcome::ResourceNotReachable
            | PathOutcome::SourceSuspended
            | PathOutcome::NoDelegationRight
            | PathOutcome::Capped => f.write_str(self.code()),
        }
    }
}

/// One path considered, with the level its role gives on the feature (whatever the outcome) and
/// what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PathEvaluation {
    /// The path.
    pub path: Path,
    /// The level the path's role gives on the feature, before status, reachability and caps.
    pub level: Level,
    /// On a resource check, the membership's level cap on the resource when it is below `full`
    /// (the path then gives `min(level, cap)` there; see [`crate::restriction`]).
    pub resource_cap: Option<Level>,
    /// What became of it.
    pub outcome: PathOutcome,
}

/// A rule that turned the effective level to none.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Cap {
    /// The subject is suspended.
    SubjectSuspended,
    /// This account of the chain (the target or an ancestor) is suspended.
    AccountSuspended(AccountId),
    /// This module feature is not enabled on the target account.
    ModuleDisabled(FeatureName),
}

impl fmt::Display for Cap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cap::SubjectSuspended => f.write_str("the subject is suspended"),
            Cap::AccountSuspended(account) => write!(f, "account {account} is suspended"),
            Cap::ModuleDisabled(feature) => {
                write!(f, "module {feature} is not enabled on the account")
            }
        }
    }
}

/// Why the decision is what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// A path gives the required level.
    Allowed,
    /// The subject is not a known user.
    UnknownSubject,
    /// The account does not exist.
    UnknownAccount,
    /// The feature is not in the catalog.
    UnknownFeature,
    /// The resource does not exist.
    UnknownResource,
    /// The resource belongs to another account.
    ResourceOutsideAccount,
    /// The subject is suspended.
    SubjectSuspended,
    /// The account or one of its ancestors is suspended.
    AccountSuspended,
    /// The feature is a module not enabled on the account.
    ModuleDisabled,
    /// No live membership or delegation leads to the account.
    NoAccessPath,
    /// Live paths exist, but none gives the required level.
    InsufficientLevel,
    /// A path would give the level but does not reach the resource.
    ResourceNotGranted,
    /// A path would give the level, but its membership reaches the resource at a lower level.
    ResourceLevelCapped,
}

impl Reason {
    /// Every reason.
    pub const ALL: [Reason; 13] = [
        Reason::Allowed,
        Reason::UnknownSubject,
        Reason::UnknownAccount,
        Reason::UnknownFeature,
        Reason::UnknownResource,
        Reason::ResourceOutsideAccount,
        Reason::SubjectSuspended,
        Reason::AccountSuspended,
        Reason::ModuleDisabled,
        Reason::NoAccessPath,
        Reason::InsufficientLevel,
        Reason::ResourceNotGranted,
        Reason::ResourceLevelCapped,
    ];

    /// A stable snake-case code, e.g. `module_disabled`.
    pub const fn code(&self) -> &'static str {
        match self {
            Reason::Allowed => "allowed",
            Reason::UnknownSubject => "unknown_subject",
            Reason::UnknownAccount => "unknown_account",
            Reason::UnknownFeature => "unknown_feature",
            Reason::UnknownResource => "unknown_resource",
            Reason::ResourceOutsideAccount => "resource_outside_account",
            Reason::SubjectSuspended => "subject_suspended",
            Reason::AccountSuspended => "account_suspended",
            Reason::ModuleDisabled => "module_disabled",
            Reason::NoAccessPath => "no_access_path",
            Reason::InsufficientLevel => "insufficient_level",
            Reason::ResourceNotGranted => "resource_not_granted",
            Reason::ResourceLevelCapped => "resource_level_capped",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl Reason {
    /// The sentence that explains it (its `Display`), without going through a formatter: the
    /// check path writes it into every answer.
    pub const fn message(&self) -> &'static str {
        match self {
            Reason::Allowed => "the subject holds the required level",
            Reason::UnknownSubject => "the subject is not a known user",
            Reason::UnknownAccount => "the account does not exist",
            Reason::UnknownFeature => "the feature is not in the catalog",
            Reason::UnknownResource => "the resource does not exist",
            Reason::ResourceOutsideAccount => "the resource belongs to another account",
            Reason::SubjectSuspended => "the subject is suspended",
            Reason::AccountSuspended => "the account or one of its ancestors is suspended",
            Reason::ModuleDisabled => "the feature is a module that is not enabled on the account",
            Reason::NoAccessPath => "no active membership or delegation of the subject leads to the account",
            Reason::InsufficientLevel => "the subject's roles do not give the required level",
            Reason::ResourceNotGranted => "the memberships that would give the level do not reach the resource",
            Reason::ResourceLevelCapped => {
                "the memberships that would give the level reach the resource at a lower level"
            }
        }
    }
}

/// The answer, and its explanation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request is allowed: `effective >= required`.
    pub allowed: bool,
    /// The level required (at least `view`).
    pub required: Level,
    /// The subject's effective level on the feature in the account (on the resource, when asked),
    /// after caps.
    pub effective: Level,
    /// The path that granted: the first granting one, direct before inherited before delegated.
    /// `Some` exactly when allowed.
    pub granted_by: Option<Path>,
    /// Why.
    pub reason: Reason,
    /// Every path considered, granting or not, in the order direct, inherited (nearest ancestor
    /// first), delegated.
    pub paths: Vec<PathEvaluation>,
    /// The caps that apply.
    pub caps: Vec<Cap>,
    /// The answer (allowed, effective level, reason, granting path) holds until this instant,
    /// exclusive: the earliest expiry after the evaluation's instant among the memberships and
    /// delegations of the paths that count toward it (live ones, and those that would be live if
    /// they reached the resource). `None`: no expiry can change it. A cached answer is never used
    /// at or after it.
    pub valid_until: Option<Timestamp>,
}

impl Decision {
    fn deny(required: Level, reason: Reason) -> Self {
        Decision {
            allowed: false,
            required,
            effective: Level::None,
            granted_by: None,
            reason,
            paths: Vec::new(),
            caps: Vec::new(),
            valid_until: None,
        }
    }
}

/// A path before its outcome is known: its level and whether it is live.
enum Pending {
    /// Live: counts toward the effective level.
    Live,
    /// Would be live if it reached the resource.
    Unreachable,
    /// Refused for this reason.
    Refused(PathOutcome),
}

/// A path before its outcome: (path, role level, resource cap, state, whether the path leads to
/// the account at all, the expiry of its grants).
type PendingPath = (Path, Level, Option<Level>, Pending, bool, Option<Timestamp>);

/// How `membership` reaches `resource`: `Some(None)` uncapped (no resource asked, unrestricted,
/// or a `full` cap), `Some(Some(cap))` capped below `full`, `None` not at all.
fn reaches(membership: &MembershipFacts, resource: Option<&ResourceId>) -> Option<Option<Level>> {
    match (resource, &membership.resources) {
        (None, _) | (Some(_), None) => Some(None),
        (Some(r), Some(restriction)) => restriction.cap(r).map(|cap| (cap < Level::Full).then_some(cap)),
    }
}

/// The earlier of two optional expiries (`None`: never).
fn earliest(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

/// Whether a grant expiring at `expires_at` has expired at `now`: it grants strictly before its
/// expiry, never at or after it.
pub fn expired(expires_at: Option<Timestamp>, now: Timestamp) -> bool {
    expires_at.is_some_and(|at| at <= now)
}

/// Evaluates `request` over `facts` with `catalog` at the instant `now` (see the module docs for
/// the rules).
pub fn evaluate(catalog: &Catalog, request: &AccessRequest, facts: &Facts, now: Timestamp) -> Decision {
    let required = request.permission.level.max(Level::View);
    let feature = &request.permission.feature;
    let Some(feature_def) = catalog.feature(feature) else {
        return Decision::deny(required, Reason::UnknownFeature);
    };
    let subject = match &facts.subject {
        Some(s) if s.id == request.subject => s,
        _ => return Decision::deny(required, Reason::UnknownSubject),
    };
    let target = match facts.chain.first() {
        Some(t) if t.id == request.account => t,
        _ => return Decision::deny(required, Reason::UnknownAccount),
    };
    let resource = request.resource.as_ref();
    if let Some(asked) = resource {
        match &facts.resource {
            Some(r) if r.id == *asked => {
                if r.account != request.account {
                    return Decision::deny(required, Reason::ResourceOutsideAccount);
                }
            }
            _ => return Decision::deny(required, Reason::UnknownResource),
        }
    }

    let mut caps = Vec::new();
    if subject.status == UserStatus::Suspended {
        caps.push(Cap::SubjectSuspended);
    }
    for account in &facts.chain {
        if account.status == AccountStatus::Suspended {
            caps.push(Cap::AccountSuspended(account.id.clone()));
        }
    }
    if feature_def.module && !target.modules.contains(feature) {
        caps.push(Cap::ModuleDisabled(feature.clone()));
    }

    let mut pending: Vec<PendingPath> = Vec::new();
    // Direct, then inherited from the nearest ancestor up.
    for (depth, account) in facts.chain.iter().enumerate() {
        let suspended_between = facts.chain.iter().take(depth + 1).any(|a| a.status == AccountStatus::Suspended);
        for m in facts.memberships.iter().filter(|m| m.account == account.id) {
            let reach = reaches(m, resource);
            let cap = reach.flatten();
            for role in &m.roles {
                let (path, level) = if depth == 0 {
                    (
                        Path::Direct { membership: m.id.clone(), account: account.id.clone(), role: role.name.clone() },
                        role.level(feature),
                    )
                } else {
                    (
                        Path::Inherited {
                            membership: m.id.clone(),
                            ancestor: account.id.clone(),
                            role: role.name.clone(),
                        },
                        role.descendant_level(feature),
                    )
                };
                let state = if let Some(at) = m.expires_at.filter(|at| *at <= now) {
                    Pending::Refused(PathOutcome::Expired(at))
                } else if m.status != MembershipStatus::Active {
                    Pending::Refused(PathOutcome::Inactive(m.status))
                } else if depth > 0 && suspended_between {
                    Pending::Refused(PathOutcome::SourceSuspended)
                } else if reach.is_none() {
                    Pending::Unreachable
                } else {
                    Pending::Live
                };
                let leads = depth == 0 || role.descendant_grants.values().any(|l| *l > Level::None);
                pending.push((path, level, cap, state, leads, m.expires_at));
            }
        }
    }
    // Delegated, in the order of the chain (into the target first).
    for (depth, account) in facts.chain.iter().enumerate() {
        for d in facts.delegations.iter().filter(|d| d.to_account == account.id) {
            // Into the target: the role's levels; into an ancestor: its descendant levels only.
            let level = if depth == 0 { d.role.level(feature) } else { d.role.descendant_level(feature) };
            let leads = depth == 0 || d.role.descendant_grants.values().any(|l| *l > Level::None);
            for m in facts.memberships.iter().filter(|m| m.account == d.from_account.id) {
                let path = Path::Delegated {
                    delegation: d.id.clone(),
                    from_account: d.from_account.id.clone(),
                    membership: m.id.clone(),
                    into: account.id.clone(),
                    role: d.role.name.clone(),
                };
                let expires_at = earliest(m.expires_at, d.expires_at);
                let state = if let Some(at) = expires_at.filter(|at| *at <= now) {
                    Pending::Refused(PathOutcome::Expired(at))
                } else if m.status != MembershipStatus::Active {
                    Pending::Refused(PathOutcome::Inactive(m.status))
                } else if d.from_account.status == AccountStatus::Suspended {
                    Pending::Refused(PathOutcome::SourceSuspended)
                } else if !m.roles.iter().any(|r| level_in(&r.grants, DELEGATED_ADMINISTRATION_FEATURE) == Level::Full)
                {
                    Pending::Refused(PathOutcome::NoDelegationRight)
                } else {
                    Pending::Live
                };
                pending.push((path, level, None, state, leads, expires_at));
            }
        }
    }

    // A path's level on the resource: its role's level, capped by the membership's cap there.
    let on_resource = |level: Level, cap: Option<Level>| cap.map_or(level, |c| level.min(c));
    let raw = pending
        .iter()
        .filter(|(_, _, _, s, _, _)| matches!(s, Pending::Live))
        .map(|(_, l, c, _, _, _)| on_resource(*l, *c))
        .max()
        .unwrap_or(Level::None);
    // Only the live paths (and those that would be if they reached the resource) make the answer;
    // a refused path stays refused when it expires, so its expiry changes nothing the answer says.
    let valid_until = pending
        .iter()
        .filter(|(_, _, _, s, _, _)| matches!(s, Pending::Live | Pending::Unreachable))
        .filter_map(|(_, _, _, _, _, e)| *e)
        .min();
    let capped = !caps.is_empty();
    let effective = if capped { Level::None } else { raw };
    let allowed = effective.satisfies(required);

    let mut any_live = false;
    let mut any_unreachable = false;
    let mut any_capped_on_resource = false;
    let mut granted_by = None;
    let mut paths = Vec::with_capacity(pending.len());
    for (path, level, cap, state, leads, _) in pending {
        let outcome = match state {
            Pending::Refused(outcome) => outcome,
            Pending::Unreachable if level.satisfies(required) => {
                any_unreachable = true;
                PathOutcome::ResourceNotReachable
            }
            Pending::Unreachable => {
                any_live |= leads;
                PathOutcome::Insufficient
            }
            Pending::Live => {
                any_live |= leads;
                if !on_resource(level, cap).satisfies(required) {
                    any_capped_on_resource |= level.satisfies(required);
                    PathOutcome::Insufficient
                } else if capped {
                    PathOutcome::Capped
                } else {
                    PathOutcome::Granted
                }
            }
        };
        if outcome == PathOutcome::Granted && granted_by.is_none() {
            granted_by = Some(path.clone());
        }
        paths.push(PathEvaluation { path, level, resource_cap: cap, outcome });
    }

    let reason = if allowed {
        Reason::Allowed
    } else if caps.contains(&Cap::SubjectSuspended) {
        Reason::SubjectSuspended
    } else if caps.iter().any(|c| matches!(c, Cap::AccountSuspended(_))) {
        Reason::AccountSuspended
    } else if capped {
        Reason::ModuleDisabled
    } else if any_unreachable {
        Reason::ResourceNotGranted
    } else if any_capped_on_resource {
        Reason::ResourceLevelCapped
    } else if any_live {
        Reason::InsufficientLevel
    } else {
        Reason::NoAccessPath
    };
    Decision { allowed, required, effective, granted_by, reason, paths, caps, valid_until }
}

/// The level `user` holds on every feature of `catalog` in `account` (on `resource`, when given)
/// over `facts` at `now`: [`evaluate`] asked for *View* of each feature, the features it holds
/// nothing of left out.
pub(crate) fn levels_on(
    catalog: &Catalog,
    user: &UserId,
    account: &AccountId,
    resource: Option<&ResourceId>,
    facts: &Facts,
    now: Timestamp,
) -> BTreeMap<FeatureName, Level> {
    catalog
        .features()
        .filter_map(|f| {
            let request = AccessRequest {
                subject: user.clone(),
                account: account.clone(),
                permission: Permission { feature: f.name.clone(), level: Level::View },
                resource: resource.cloned(),
            };
            let level = evaluate(catalog, &request, facts, now).effective;
            (level > Level::None).then(|| (f.name.clone(), level))
        })
        .collect()
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod proptests;
