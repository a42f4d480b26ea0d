//! The rule book's model test (DESIGN §5, issue 15 "Proof by model"): random worlds, random
//! sequences of every management operation that changes who holds what, by random actors; each
//! operation admitted as the server admits it ([`admit`]), applied when accepted, and after each
//! one the invariants of the rule book checked against a naive reference evaluator
//! ([`reference`]) that shares no code with [`evaluate`].
//!
//! # The world
//!
//! The catalog's kinds in one fixed tree — a partner `p` with a sub-partner `s`, customers `cp`
//! (under `p`) and `cs` (under `s`), an affiliate `a` (under `p` or a root) with its customer `ca`,
//! a direct client `d` — each with one or two folders; seven users; and, at random: enabled
//! modules, suspended accounts and users, the approval setting, custom roles (levels and
//! descendant levels), memberships (built-in or custom roles, active / pending / suspended,
//! restricted to some folders or not, their requester) and delegations (from an ancestor into a
//! descendant, with a role of the descendant); memberships and delegations may carry an expiry,
//! some already passed. The world has a clock: decisions are taken at its instant.
//!
//! # The operations
//!
//! CreateRole, UpdateRole, DeleteRole, CreateMembership, SetMembershipRoles, AssignRole,
//! UnassignRole, SetResourceRestriction, SuspendMembership, ReactivateMembership,
//! DeleteMembership, ApproveMembership, RejectMembership, CreateDelegation, DeleteDelegation,
//! SetMembershipExpiry, SetDelegationExpiry (setting, extending, shortening, clearing), an
//! invitation sent and accepted (one step), SetAccountModules, SuspendAccount and
//! ReactivateAccount — by a random user (often one with a membership near the account, or the
//! requester of the membership acted on), or by the calling service itself (no actor: exempt from
//! the rules about actors); CreateMembership and CreateDelegation may set an expiry; and time
//! passes (the clock moves on, by nobody).
//!
//! # Admission
//!
//! [`admit`] does what the server does: what the store refuses whoever asks (unknown names,
//! duplicates, status transitions, `ROLE_IN_USE`, `DELEGATION_SCOPE`, suspended users and
//! accounts, the last role); the operation's [`Operation::requirement`], met with [`evaluate`] on
//! [`Facts`] built as the store's loader builds them; then the invariants of the rule book —
//! [`check_grant`] over [`Reach::compute`] and [`check_partner_reach`] for every grant that names
//! a user (create, invite, roles, restriction, reactivation, approval), [`check_grant`] in the
//! `to` account for a delegation, [`check_pending_frozen`] for every change of a membership but
//! its deletion, [`check_four_eyes`] for decisions, [`check_descendant_levels`] (whoever asks) and
//! [`check_role_definition`] for role definitions, [`check_role_limit`], the identity rule for
//! CreateMembership (the user belongs to no account yet, or the actor may view them), and
//! [`check_last_administrator`] counted before and after as the store counts (whoever asks).
//! **Time**: a grant is compared with the actor's reach at the last instant it grants (its
//! expiry, or forever), an expiry in the past is refused, and extending an expiry (the model's own
//! reading of "extending", checked equal to [`expiry_extends`]) is granting the grant's levels
//! without the grant itself; shortening needs only the right to edit it.
//!
//! # The invariants
//!
//! After every accepted operation by an actor *X*, over every user, account, feature, and
//! resource (each folder, a folder created later, or none: the account at large) — and over a
//! hypothetical new child of every account that may have children — at the clock's instant (an
//! expired grant grants nothing) and at every later instant where a level may change (each expiry
//! of the world before or after the operation: levels are constant in between, and after the
//! last):
//!
//! 1. **No escalation**: where anybody's reference level went up, *X*'s reference level there just
//!    before, at the same instant, was at least the new level — so nothing *X* gives outlives its
//!    own reach (an actor whose access ends at `T` gives nothing past `T`; a partner does not
//!    extend its own delegation). Levels are compared without the module cap, twice: with
//!    the suspensions of accounts as they are (ReactivateAccount excepted: it gives back what the
//!    account's own grants gave), and ignoring them (what a suspended account holds becomes real
//!    when it is reactivated, so it is compared too).
//! 2. **Partner reach is a delegation**: whoever holds a membership in an ancestor of an account
//!    reaches it by inheritance only through descendant levels within what the ancestor kind's
//!    built-in roles give (checked after every operation, the service's too); and an actor never
//!    raises what such a user reaches in the account through a membership *of the account* —
//!    except by rewriting a role (UpdateRole), which gives no membership: the rule book bounds it
//!    by no escalation only, and such memberships were given by the service, or before their user
//!    joined the partner side.
//! 3. **Four-eyes**: no membership is approved by its requester or its own user; the requester of
//!    a membership never changes; a pending membership is not changed by its requester.
//! 4. **Last administrator**: an account that had an active administrator keeps one (after every
//!    operation: the store's guard binds the service too; counted as the store counts, expiries
//!    aside).
//!
//! And after every refused operation the world is exactly what it was.
//!
//! # What the reference evaluator holds
//!
//! The level a user holds on a feature in an account, on a folder or at large, uncapped by
//! modules (DESIGN §3): the roles of their active memberships in the account that reach the folder
//! (unrestricted, or restricted to a set naming it — each level then at most the folder's cap; at
//! large, every one, uncapped); the descendant levels of
//! their active memberships in its ancestors (at large every one, restricted or not — the
//! decision's rule, which [`Reach`] tightens to unrestricted ones; on a folder, unrestricted ones
//! only — an ancestor's restriction names the ancestor's folders); the role (into the account) or
//! the role's descendant levels (into an ancestor) of every delegation from a source account where
//! they hold an active membership with `delegated_administration:full`, the source active; only
//! grants whose expiry is after the instant asked (the delegation and the source membership both);
//! nothing when the user, the account or an ancestor is suspended. A separate property proves it
//! equal to [`evaluate`] with every module enabled, at the clock.
//!
//! # Simulations
//!
//! A second property (module `simulations`) previews random lists of operations by one actor
//! with [`crate::simulate::simulate`] over the world's snapshot: its answer per operation is the
//! model's admission applied in sequence (the refusal too: requirement, the exact violation, or
//! the store's precondition), and the effects it reports are exactly the reference evaluator's
//! levels (live, at the clock, under the module cap) that differ before and after the admitted
//! operations, in the accounts the actor may view users of.
//!
//! `PROPTEST_CASES` sets the number of sequences (default [`DEFAULT_CASES`]); `make soak` runs
//! 100,000 in release.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{self, Write as _};
use std::sync::LazyLock;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{RngAlgorithm, TestRng, TestRunner};

use super::*;
use crate::decision::{
    AccessRequest, AccountFacts, DelegationFacts, MembershipFacts, ResourceFacts, SubjectFacts, evaluate,
};
use crate::ids::DelegationId;
use crate::status::{AccountStatus, UserStatus};

/// Sequences per property when `PROPTEST_CASES` is not set: `make test` stays quick.
const DEFAULT_CASES: u32 = 64;
/// The longest operation sequence.
const MAX_STEPS: usize = 40;
/// The model's clock when a world is built; [`Op::AdvanceClock`] moves it on.
const MODEL_NOW: Timestamp = Timestamp::from_millis(1_000_000);
/// The model's unit of time: expiries and clock moves are whole ticks, so that a few instants
/// cover every interval on which levels are constant.
const TICK: i64 = 100;

/// `t` moved by `ticks` ticks.
fn ticks(t: Timestamp, ticks: i64) -> Timestamp {
    Timestamp::from_millis(t.as_millis() + ticks * TICK)
}

/// Whether a grant expiring at `expires_at` still grants at `at` (DESIGN §3: strictly before its
/// expiry, never at or after it). Written here, not borrowed from the decision.
fn live(expires_at: Option<Timestamp>, at: Timestamp) -> bool {
    expires_at.is_none_or(|e| at < e)
}

/// Whether changing an expiry from `current` to `new` (`None`: never) lets the grant grant longer
/// (the rule book's "extending", written here from its wording: a later instant, or none at all).
fn lengthens(current: Option<Timestamp>, new: Option<Timestamp>) -> bool {
    match (current, new) {
        (None, _) => false,
        (Some(_), None) => true,
        (Some(c), Some(n)) => c < n,
    }
}

/// The proptest configuration: `PROPTEST_CASES` when set (the soak target), else
/// [`DEFAULT_CASES`]. (`ProptestConfig::with_cases` would ignore the variable.)
fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(DEFAULT_CASES);
    ProptestConfig { cases, ..ProptestConfig::default() }
}

// ---------------------------------------------------------------------------------------------
// The catalog, indexed
// ---------------------------------------------------------------------------------------------

const MAX_FEATURES: usize = 32;
/// A level per feature, by the catalog's feature order.
type Levels = [Level; MAX_FEATURES];
const NO_LEVELS: Levels = [Level::None; MAX_FEATURES];

/// A role's levels on its account and on the account's descendants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RoleLevels {
    grants: Levels,
    descendants: Levels,
}

/// The catalog and what the model derives from it once.
struct Model {
    catalog: Catalog,
    features: Vec<FeatureName>,
    index: BTreeMap<FeatureName, usize>,
    /// The module features, in order (SetAccountModules picks a subset by bit).
    modules: Vec<FeatureName>,
    delegated_administration: usize,
    builtins: BTreeMap<AccountKind, BTreeMap<RoleName, RoleLevels>>,
    /// Per kind, the highest level its built-in roles give below, by feature.
    descendant_max: BTreeMap<AccountKind, Levels>,
    /// The kinds some kind may have as parent.
    parents: BTreeSet<AccountKind>,
}

impl Model {
    fn new() -> Model {
        let catalog = Catalog::builtin().unwrap();
        let features: Vec<FeatureName> = catalog.features().map(|f| f.name.clone()).collect();
        assert!(features.len() <= MAX_FEATURES, "raise MAX_FEATURES to {}", features.len());
        let index: BTreeMap<FeatureName, usize> = features.iter().enumerate().map(|(i, f)| (f.clone(), i)).collect();
        let modules = catalog.features().filter(|f| f.module).map(|f| f.name.clone()).collect();
        let delegated_administration = index[crate::catalog::DELEGATED_ADMINISTRATION_FEATURE];
        let builtins: BTreeMap<AccountKind, BTreeMap<RoleName, RoleLevels>> = catalog
            .kinds()
            .map(|k| {
                let roles = k
                    .roles
                    .iter()
                    .map(|r| {
                        let levels = RoleLevels {
                            grants: levels_of(&index, &r.grants),
                            descendants: levels_of(&index, &r.descendant_grants),
                        };
                        (r.name.clone(), levels)
                    })
                    .collect();
                (k.name.clone(), roles)
            })
            .collect();
        let parents = catalog.kinds().flat_map(|k| k.parents.iter().cloned()).collect();
        let descendant_max = builtins
            .iter()
            .map(|(kind, roles)| {
                let mut max = NO_LEVELS;
                for r in roles.values() {
                    raise(&mut max, &r.descendants);
                }
                (kind.clone(), max)
            })
            .collect();
        Model { catalog, features, index, modules, delegated_administration, builtins, descendant_max, parents }
    }

    fn levels(&self, grants: &Grants) -> Levels {
        levels_of(&self.index, grants)
    }

    /// The highest level the built-in roles of `kind` give below on feature `f`.
    fn builtin_descendant_max(&self, kind: &AccountKind, f: usize) -> Level {
        self.descendant_max.get(kind).map_or(Level::None, |max| max[f])
    }
}

fn levels_of(index: &BTreeMap<FeatureName, usize>, grants: &Grants) -> Levels {
    let mut out = NO_LEVELS;
    for (feature, level) in grants {
        if let Some(&i) = index.get(feature) {
            out[i] = *level;
        }
    }
    out
}

static MODEL: LazyLock<Model> = LazyLock::new(Model::new);

// ---------------------------------------------------------------------------------------------
// The world
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
struct Account {
    id: AccountId,
    kind: AccountKind,
    parent: Option<usize>,
    status: AccountStatus,
    modules: BTreeSet<FeatureName>,
    requires_approval: bool,
    resources: Vec<ResourceId>,
    /// The account's custom roles.
    roles: BTreeMap<RoleName, Role>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct User {
    id: UserId,
    status: UserStatus,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Member {
    id: MembershipId,
    user: usize,
    account: usize,
    roles: Vec<RoleName>,
    status: MembershipStatus,
    restriction: Option<Restriction>,
    /// The requester: the creator or the inviter (`None`: the calling service).
    created_by: Option<usize>,
    approved_by: Option<usize>,
    /// When it stops granting (`None`: never).
    expires_at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Deleg {
    id: DelegationId,
    from: usize,
    to: usize,
    role: RoleName,
    /// When it stops granting (`None`: never).
    expires_at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct World {
    accounts: Vec<Account>,
    users: Vec<User>,
    memberships: Vec<Member>,
    delegations: Vec<Deleg>,
    next_id: u32,
    /// The model's clock: decisions are taken at this instant.
    now: Timestamp,
}

/// The fixed tree: (id, kind, parent, folders).
const SKELETON: [(&str, &str, Option<usize>, &[&str]); 7] = [
    ("p", "partner", None, &["p-f1"]),
    ("s", "sub_partner", Some(0), &["s-f1"]),
    ("cp", "customer", Some(0), &["cp-f1", "cp-f2"]),
    ("cs", "customer", Some(1), &["cs-f1", "cs-f2"]),
    ("a", "affiliate", Some(0), &["a-f1"]),
    ("ca", "customer", Some(4), &["ca-f1", "ca-f2"]),
    ("d", "direct_client", None, &["d-f1", "d-f2"]),
];
const AFFILIATE: usize = 4;
const USERS: usize = 7;

impl World {
    /// The tree, every module enabled, every account active, no role, no membership.
    fn skeleton(affiliate_under_partner: bool) -> World {
        let accounts = SKELETON
            .iter()
            .enumerate()
            .map(|(i, (id, kind, parent, folders))| {
                let kind = AccountKind::from_trusted(*kind);
                Account {
                    id: AccountId::from_trusted(*id),
                    requires_approval: MODEL.catalog.kind(&kind).is_some_and(|k| k.default_requires_approval),
                    kind,
                    parent: if i == AFFILIATE && !affiliate_under_partner { None } else { *parent },
                    status: AccountStatus::Active,
                    modules: MODEL.catalog.default_modules(),
                    resources: folders.iter().map(|f| ResourceId::from_trusted(*f)).collect(),
                    roles: BTreeMap::new(),
                }
            })
            .collect();
        let users = (0..USERS)
            .map(|i| User { id: UserId::from_trusted(format!("u{i}")), status: UserStatus::Active })
            .collect();
        World { accounts, users, memberships: Vec::new(), delegations: Vec::new(), next_id: 0, now: MODEL_NOW }
    }

    fn fresh(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}{}", self.next_id)
    }

    /// `a`, its parent, …, the root.
    fn chain(&self, a: usize) -> Vec<usize> {
        let mut out = vec![a];
        let mut at = a;
        while let Some(p) = self.accounts[at].parent {
            out.push(p);
            at = p;
        }
        out
    }

    fn strict_ancestors(&self, a: usize) -> Vec<usize> {
        self.chain(a).split_off(1)
    }

    fn account_index(&self, id: &AccountId) -> Option<usize> {
        self.accounts.iter().position(|a| a.id == *id)
    }

    fn membership(&self, id: &MembershipId) -> Option<&Member> {
        self.memberships.iter().find(|m| m.id == *id)
    }

    fn member_of(&self, user: usize, account: usize) -> Option<&Member> {
        self.memberships.iter().find(|m| m.user == user && m.account == account)
    }

    /// The role names `account` may use: its kind's built-in roles, then its custom roles.
    fn role_names(&self, a: usize) -> Vec<RoleName> {
        let acc = &self.accounts[a];
        let builtin = MODEL.catalog.kind(&acc.kind).into_iter().flat_map(|k| k.roles.iter().map(|r| r.name.clone()));
        builtin.chain(acc.roles.keys().cloned()).collect()
    }

    fn role(&self, a: usize, name: &RoleName) -> Option<&Role> {
        let acc = &self.accounts[a];
        MODEL.catalog.builtin_role(&acc.kind, name).or_else(|| acc.roles.get(name))
    }

    fn resource_owner(&self, r: &ResourceId) -> Option<usize> {
        self.accounts.iter().position(|a| a.resources.contains(r))
    }

    /// Active administrators of `a` as the store counts them: active memberships of active users
    /// holding a role with `users:full`.
    fn administrators(&self, a: usize) -> usize {
        self.memberships
            .iter()
            .filter(|m| m.account == a && m.status == MembershipStatus::Active)
            .filter(|m| self.users[m.user].status == UserStatus::Active)
            .filter(|m| m.roles.iter().any(|r| self.role(a, r).is_some_and(|r| r.is_administrator())))
            .count()
    }

    /// The accounts where `user` holds a membership, whatever its status.
    fn accounts_of(&self, user: usize) -> Vec<usize> {
        self.memberships.iter().filter(|m| m.user == user).map(|m| m.account).collect()
    }

    /// Every expiry of the world after the clock, and the clock: the instants at which levels
    /// may differ from one interval to the next.
    fn instants(&self) -> BTreeSet<Timestamp> {
        let expiries =
            self.memberships.iter().map(|m| m.expires_at).chain(self.delegations.iter().map(|d| d.expires_at));
        let mut out: BTreeSet<Timestamp> = expiries.flatten().filter(|e| *e > self.now).collect();
        out.insert(self.now);
        out
    }

    /// The partner side of `a`: its ancestors and the sources of delegations into its chain.
    fn partner_side(&self, a: usize) -> BTreeSet<usize> {
        let chain = self.chain(a);
        let mut side: BTreeSet<usize> = chain[1..].iter().copied().collect();
        side.extend(self.delegations.iter().filter(|d| chain.contains(&d.to)).map(|d| d.from));
        side
    }
}

impl fmt::Display for World {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "  now {}", self.now.as_millis())?;
        for acc in &self.accounts {
            let parent = acc.parent.map_or("-".to_owned(), |p| self.accounts[p].id.to_string());
            let off: Vec<&str> =
                MODEL.modules.iter().filter(|m| !acc.modules.contains(*m)).map(|m| m.as_str()).collect();
            writeln!(
                f,
                "  account {} ({}, parent {parent}, {}{}, modules off {off:?})",
                acc.id,
                acc.kind,
                acc.status,
                if acc.requires_approval { ", approval" } else { "" }
            )?;
            for r in acc.roles.values() {
                writeln!(
                    f,
                    "    role {}: {} / below {}",
                    r.name,
                    show_grants(&r.grants),
                    show_grants(&r.descendant_grants)
                )?;
            }
        }
        for u in self.users.iter().filter(|u| u.status == UserStatus::Suspended) {
            writeln!(f, "  user {} suspended", u.id)?;
        }
        for m in &self.memberships {
            writeln!(f, "  {}", show_member(self, m))?;
        }
        for d in &self.delegations {
            writeln!(
                f,
                "  delegation {} {} -> {} as {}{}",
                d.id,
                self.accounts[d.from].id,
                self.accounts[d.to].id,
                d.role,
                show_expiry(d.expires_at)
            )?;
        }
        Ok(())
    }
}

fn show_grants(g: &Grants) -> String {
    let parts: Vec<String> = g.iter().filter(|(_, l)| **l > Level::None).map(|(f, l)| format!("{f}:{l}")).collect();
    format!("{{{}}}", parts.join(" "))
}

fn show_expiry(e: Option<Timestamp>) -> String {
    e.map_or(String::new(), |e| format!(", until {}", e.as_millis()))
}

fn show_restriction(r: Option<&Restriction>) -> String {
    match r {
        None => "unrestricted".to_owned(),
        Some(set) => format!("restricted to {:?}", set.iter().map(|(r, cap)| format!("{r}:{cap}")).collect::<Vec<_>>()),
    }
}

fn show_member(w: &World, m: &Member) -> String {
    let roles: Vec<&str> = m.roles.iter().map(RoleName::as_str).collect();
    format!(
        "membership {} of {} in {}: {roles:?}, {}, {}, by {}{}{}",
        m.id,
        w.users[m.user].id,
        w.accounts[m.account].id,
        m.status,
        show_restriction(m.restriction.as_ref()),
        m.created_by.map_or("the service".to_owned(), |u| w.users[u].id.to_string()),
        m.approved_by.map_or(String::new(), |u| format!(", approved by {}", w.users[u].id)),
        show_expiry(m.expires_at),
    )
}

// ---------------------------------------------------------------------------------------------
// The operations
// ---------------------------------------------------------------------------------------------

/// A management operation, resolved against the world.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    CreateRole {
        account: usize,
        name: RoleName,
        grants: Grants,
        descendant_grants: Grants,
    },
    UpdateRole {
        account: usize,
        name: RoleName,
        grants: Grants,
        descendant_grants: Grants,
    },
    DeleteRole {
        account: usize,
        name: RoleName,
    },
    CreateMembership {
        user: usize,
        account: usize,
        roles: Vec<RoleName>,
        restriction: Option<Restriction>,
        expires_at: Option<Timestamp>,
    },
    SetMembershipRoles {
        membership: MembershipId,
        roles: Vec<RoleName>,
    },
    AssignRole {
        membership: MembershipId,
        role: RoleName,
    },
    UnassignRole {
        membership: MembershipId,
        role: RoleName,
    },
    SetResourceRestriction {
        membership: MembershipId,
        restriction: Option<Restriction>,
    },
    SuspendMembership(MembershipId),
    ReactivateMembership(MembershipId),
    DeleteMembership(MembershipId),
    ApproveMembership(MembershipId),
    RejectMembership(MembershipId),
    CreateDelegation {
        from: usize,
        to: usize,
        role: RoleName,
        expires_at: Option<Timestamp>,
    },
    DeleteDelegation(DelegationId),
    SetMembershipExpiry {
        membership: MembershipId,
        expires_at: Option<Timestamp>,
    },
    SetDelegationExpiry {
        delegation: DelegationId,
        expires_at: Option<Timestamp>,
    },
    /// Time passes (by this many ticks): nobody's operation, always accepted.
    AdvanceClock(i64),
    /// CreateInvitation then AcceptInvitation by `invitee` (`None`: someone with no account yet).
    Invite {
        account: usize,
        invitee: Option<usize>,
        roles: Vec<RoleName>,
        restriction: Option<Restriction>,
    },
    SetAccountModules {
        account: usize,
        modules: BTreeSet<FeatureName>,
    },
    SuspendAccount(usize),
    ReactivateAccount(usize),
}

impl Op {
    /// The operations an actor performs (the clock is nobody's).
    const KINDS: [&'static str; 21] = [
        "CreateRole",
        "UpdateRole",
        "DeleteRole",
        "CreateMembership",
        "SetMembershipRoles",
        "AssignRole",
        "UnassignRole",
        "SetResourceRestriction",
        "SuspendMembership",
        "ReactivateMembership",
        "DeleteMembership",
        "ApproveMembership",
        "RejectMembership",
        "CreateDelegation",
        "DeleteDelegation",
        "SetMembershipExpiry",
        "SetDelegationExpiry",
        "Invite",
        "SetAccountModules",
        "SuspendAccount",
        "ReactivateAccount",
    ];

    fn kind(&self) -> &'static str {
        match self {
            Op::CreateRole { .. } => "CreateRole",
            Op::UpdateRole { .. } => "UpdateRole",
            Op::DeleteRole { .. } => "DeleteRole",
            Op::CreateMembership { .. } => "CreateMembership",
            Op::SetMembershipRoles { .. } => "SetMembershipRoles",
            Op::AssignRole { .. } => "AssignRole",
            Op::UnassignRole { .. } => "UnassignRole",
            Op::SetResourceRestriction { .. } => "SetResourceRestriction",
            Op::SuspendMembership(_) => "SuspendMembership",
            Op::ReactivateMembership(_) => "ReactivateMembership",
            Op::DeleteMembership(_) => "DeleteMembership",
            Op::ApproveMembership(_) => "ApproveMembership",
            Op::RejectMembership(_) => "RejectMembership",
            Op::CreateDelegation { .. } => "CreateDelegation",
            Op::DeleteDelegation(_) => "DeleteDelegation",
            Op::SetMembershipExpiry { .. } => "SetMembershipExpiry",
            Op::SetDelegationExpiry { .. } => "SetDelegationExpiry",
            Op::AdvanceClock(_) => "AdvanceClock",
            Op::Invite { .. } => "Invite",
            Op::SetAccountModules { .. } => "SetAccountModules",
            Op::SuspendAccount(_) => "SuspendAccount",
            Op::ReactivateAccount(_) => "ReactivateAccount",
        }
    }

    /// The operation, for a trace.
    fn show(&self, w: &World) -> String {
        let acc = |a: &usize| w.accounts[*a].id.to_string();
        let names = |r: &[RoleName]| format!("{:?}", r.iter().map(RoleName::as_str).collect::<Vec<_>>());
        let kind = self.kind();
        match self {
            Op::CreateRole { account, name, grants, descendant_grants }
            | Op::UpdateRole { account, name, grants, descendant_grants } => format!(
                "{kind} {}/{name}: {} / below {}",
                acc(account),
                show_grants(grants),
                show_grants(descendant_grants)
            ),
            Op::DeleteRole { account, name } => format!("{kind} {}/{name}", acc(account)),
            Op::CreateMembership { user, account, roles, restriction, expires_at } => format!(
                "{kind} for {} in {}: {}, {}{}",
                w.users[*user].id,
                acc(account),
                names(roles),
                show_restriction(restriction.as_ref()),
                show_expiry(*expires_at)
            ),
            Op::SetMembershipRoles { membership, roles } => format!("{kind} {membership}: {}", names(roles)),
            Op::AssignRole { membership, role } | Op::UnassignRole { membership, role } => {
                format!("{kind} {membership}: {role}")
            }
            Op::SetResourceRestriction { membership, restriction } => {
                format!("{kind} {membership}: {}", show_restriction(restriction.as_ref()))
            }
            Op::SuspendMembership(m)
            | Op::ReactivateMembership(m)
            | Op::DeleteMembership(m)
            | Op::ApproveMembership(m)
            | Op::RejectMembership(m) => format!("{kind} {m}"),
            Op::CreateDelegation { from, to, role, expires_at } => {
                format!("{kind} {} -> {} as {role}{}", acc(from), acc(to), show_expiry(*expires_at))
            }
            Op::DeleteDelegation(d) => format!("{kind} {d}"),
            Op::SetMembershipExpiry { membership: id, expires_at } => {
                format!("{kind} {id}: {}", expires_at.map_or("never".to_owned(), |e| e.as_millis().to_string()))
            }
            Op::SetDelegationExpiry { delegation: id, expires_at } => {
                format!("{kind} {id}: {}", expires_at.map_or("never".to_owned(), |e| e.as_millis().to_string()))
            }
            Op::AdvanceClock(n) => format!("{kind} by {n} ticks"),
            Op::Invite { account, invitee, roles, restriction } => format!(
                "{kind} {} into {}: {}, {}",
                invitee.map_or("a new user".to_owned(), |u| w.users[u].id.to_string()),
                acc(account),
                names(roles),
                show_restriction(restriction.as_ref())
            ),
            Op::SetAccountModules { account, modules } => {
                format!("{kind} {}: {:?}", acc(account), modules.iter().map(FeatureName::as_str).collect::<Vec<_>>())
            }
            Op::SuspendAccount(a) | Op::ReactivateAccount(a) => format!("{kind} {}", acc(a)),
        }
    }
}

/// Applies an admitted operation, as the store writes it.
fn apply(w: &mut World, actor: Option<usize>, op: &Op) {
    match op {
        Op::CreateRole { account, name, grants, descendant_grants }
        | Op::UpdateRole { account, name, grants, descendant_grants } => {
            let role = Role {
                name: name.clone(),
                display_name: String::new(),
                description: String::new(),
                builtin: false,
                grants: grants.clone(),
                descendant_grants: descendant_grants.clone(),
            };
            w.accounts[*account].roles.insert(name.clone(), role);
        }
        Op::DeleteRole { account, name } => {
            w.accounts[*account].roles.remove(name);
        }
        Op::CreateMembership { user, account, roles, restriction, expires_at } => {
            create_membership(w, *user, *account, roles, restriction.clone(), actor);
            if let Some(m) = w.memberships.last_mut() {
                m.expires_at = *expires_at;
            }
        }
        Op::Invite { account, invitee, roles, restriction } => {
            let user = invitee.unwrap_or_else(|| {
                let id = w.fresh("new");
                w.users.push(User { id: UserId::from_trusted(id), status: UserStatus::Active });
                w.users.len() - 1
            });
            create_membership(w, user, *account, roles, restriction.clone(), actor);
        }
        Op::SetMembershipRoles { membership, roles } => {
            if let Some(m) = w.memberships.iter_mut().find(|m| m.id == *membership) {
                m.roles = distinct(roles);
            }
        }
        Op::AssignRole { membership, role } => {
            if let Some(m) = w.memberships.iter_mut().find(|m| m.id == *membership)
                && !m.roles.contains(role)
            {
                m.roles.push(role.clone());
            }
        }
        Op::UnassignRole { membership, role } => {
            if let Some(m) = w.memberships.iter_mut().find(|m| m.id == *membership) {
                m.roles.retain(|r| r != role);
            }
        }
        Op::SetResourceRestriction { membership, restriction } => {
            if let Some(m) = w.memberships.iter_mut().find(|m| m.id == *membership) {
                m.restriction = restriction.clone();
            }
        }
        Op::SuspendMembership(id) | Op::ReactivateMembership(id) => {
            if let Some(m) = w.memberships.iter_mut().find(|m| m.id == *id) {
                m.status = if let Op::SuspendMembership(_) = op {
                    MembershipStatus::Suspended
                } else {
                    MembershipStatus::Active
                };
            }
        }
        Op::ApproveMembership(id) => {
            if let Some(m) = w.memberships.iter_mut().find(|m| m.id == *id) {
                m.status = MembershipStatus::Active;
                m.approved_by = actor;
            }
        }
        Op::DeleteMembership(id) | Op::RejectMembership(id) => w.memberships.retain(|m| m.id != *id),
        Op::CreateDelegation { from, to, role, expires_at } => {
            let id = DelegationId::from_trusted(w.fresh("d"));
            w.delegations.push(Deleg { id, from: *from, to: *to, role: role.clone(), expires_at: *expires_at });
        }
        Op::DeleteDelegation(id) => w.delegations.retain(|d| d.id != *id),
        Op::SetMembershipExpiry { membership, expires_at } => {
            if let Some(m) = w.memberships.iter_mut().find(|m| m.id == *membership) {
                m.expires_at = *expires_at;
            }
        }
        Op::SetDelegationExpiry { delegation, expires_at } => {
            if let Some(d) = w.delegations.iter_mut().find(|d| d.id == *delegation) {
                d.expires_at = *expires_at;
            }
        }
        Op::AdvanceClock(n) => w.now = ticks(w.now, *n),
        Op::SetAccountModules { account, modules } => w.accounts[*account].modules = modules.clone(),
        Op::SuspendAccount(a) => w.accounts[*a].status = AccountStatus::Suspended,
        Op::ReactivateAccount(a) => w.accounts[*a].status = AccountStatus::Active,
    }
}

fn distinct(roles: &[RoleName]) -> Vec<RoleName> {
    let mut seen = BTreeSet::new();
    roles.iter().filter(|r| seen.insert(*r)).cloned().collect()
}

fn create_membership(
    w: &mut World,
    user: usize,
    account: usize,
    roles: &[RoleName],
    restriction: Option<Restriction>,
    requester: Option<usize>,
) {
    let id = MembershipId::from_trusted(w.fresh("m"));
    let status = if w.accounts[account].requires_approval {
        MembershipStatus::PendingApproval
    } else {
        MembershipStatus::Active
    };
    w.memberships.push(Member {
        id,
        user,
        account,
        roles: distinct(roles),
        status,
        restriction,
        created_by: requester,
        approved_by: None,
        expires_at: None,
    });
}

// ---------------------------------------------------------------------------------------------
// Admission
// ---------------------------------------------------------------------------------------------

/// Why an operation was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Refusal {
    /// What the store refuses whoever asks: unknown or invalid names, duplicates, status
    /// transitions, a role in use, a delegation outside the tree, a suspended user or account.
    Store(&'static str),
    /// The actor does not meet the operation's requirement.
    Requirement(String),
    /// An invariant of the rule book.
    Rule(Violation),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Store(kind) => write!(f, "store: {kind}"),
            Refusal::Requirement(requirement) => write!(f, "requirement: {requirement}"),
            Refusal::Rule(violation) => write!(f, "{}: {violation}", violation.code()),
        }
    }
}

/// A check of the admission, to switch off in the tests that prove the model can fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    Grant,
    RoleDefinition,
    DescendantLevels,
    PartnerReach,
    FourEyes,
    PendingFrozen,
    LastAdministrator,
    /// Time in grants: a grant compared with the actor's reach for as long as it lasts (not only
    /// now), and extending an expiry decided as granting, without the grant itself. Skipped, a
    /// grant is compared with the actor's reach now and an extension needs only the right to edit
    /// the grant.
    Expiry,
}

/// The facts the store's loader reads for `user` in `account` (and `resource`): the chain target
/// first, the delegations into the chain, the user's memberships in the chain's accounts and in
/// those delegations' sources (a restriction reduced to the resource asked about, when it names
/// it), the resource.
fn facts(w: &World, user: usize, account: usize, resource: Option<&ResourceId>) -> Facts {
    let account_facts = |a: usize| {
        let acc = &w.accounts[a];
        AccountFacts {
            id: acc.id.clone(),
            kind: acc.kind.clone(),
            status: acc.status,
            parent: acc.parent.map(|p| w.accounts[p].id.clone()),
            modules: acc.modules.clone(),
        }
    };
    let chain = w.chain(account);
    let mut into: Vec<&Deleg> = w.delegations.iter().filter(|d| chain.contains(&d.to)).collect();
    into.sort_by(|a, b| a.id.cmp(&b.id));
    let mut reached: Vec<usize> = chain.clone();
    reached.extend(into.iter().map(|d| d.from));
    let memberships = w
        .memberships
        .iter()
        .filter(|m| m.user == user && reached.contains(&m.account))
        .map(|m| MembershipFacts {
            id: m.id.clone(),
            account: w.accounts[m.account].id.clone(),
            status: m.status,
            roles: m.roles.iter().filter_map(|r| w.role(m.account, r).cloned()).collect(),
            resources: m.restriction.as_ref().map(|set| match resource.and_then(|r| Some((r, set.cap(r)?))) {
                Some((r, cap)) => [(r.clone(), cap)].into_iter().collect(),
                None => Restriction::new(),
            }),
            expires_at: m.expires_at,
        })
        .collect();
    let delegations = into
        .iter()
        .filter_map(|d| {
            Some(DelegationFacts {
                id: d.id.clone(),
                from_account: account_facts(d.from),
                to_account: w.accounts[d.to].id.clone(),
                role: w.role(d.to, &d.role)?.clone(),
                expires_at: d.expires_at,
            })
        })
        .collect();
    Facts {
        subject: Some(SubjectFacts { id: w.users[user].id.clone(), status: w.users[user].status }),
        chain: chain.iter().map(|&a| account_facts(a)).collect(),
        memberships,
        delegations,
        resource: resource.and_then(|r| {
            w.resource_owner(r).map(|a| ResourceFacts { id: r.clone(), account: w.accounts[a].id.clone() })
        }),
    }
}

/// Whether `actor` holds `need` in account `a`, by the decision engine, at the model's clock.
fn holds(w: &World, actor: usize, a: usize, need: Need) -> bool {
    let request = AccessRequest {
        subject: w.users[actor].id.clone(),
        account: w.accounts[a].id.clone(),
        permission: need.permission(),
        resource: None,
    };
    evaluate(&MODEL.catalog, &request, &facts(w, actor, a, None), w.now).allowed
}

/// Whether `actor` meets `requirement` (see [`Requirement`]'s docs).
fn satisfies(w: &World, actor: usize, requirement: &Requirement) -> Result<(), Refusal> {
    let holds_in = |account: &AccountId, need: Need| w.account_index(account).is_some_and(|a| holds(w, actor, a, need));
    let met = match requirement {
        Requirement::Scope => true,
        Requirement::ServiceOnly(_) => false,
        Requirement::Holds(account, need) => holds_in(account, *need),
        Requirement::AnyOf(options) => options.iter().any(|(a, need)| holds_in(a, *need)),
        Requirement::Member { account, user } => {
            *user == w.users[actor].id
                && w.account_index(account)
                    .and_then(|a| w.member_of(actor, a))
                    .is_some_and(|m| m.status == MembershipStatus::Active)
        }
        Requirement::UserOr { user, accounts, need, every, own } => {
            if *user == w.users[actor].id {
                *own == Own::Allowed
            } else if !accounts.iter().any(|a| holds_in(a, need.as_view())) {
                false
            } else if *every {
                accounts.iter().all(|a| holds_in(a, *need))
            } else {
                accounts.iter().any(|a| holds_in(a, *need))
            }
        }
    };
    if met { Ok(()) } else { Err(Refusal::Requirement(format!("{requirement:?}"))) }
}

/// A grant left out of the actor's reach: the one whose expiry is extended (a grant never vouches
/// for its own extension).
#[derive(Debug, Clone, Copy)]
enum Without<'a> {
    Nothing,
    Membership(&'a MembershipId),
    Delegation(&'a DelegationId),
}

/// The actor's reach in `account`, with each resource of `restriction` loaded on its own, for a
/// grant lasting until `until` (`None`: forever): evaluated at the last instant the grant grants
/// (it grants strictly before `until`), `without` one grant. `at_now`: at the clock instead (the
/// expiry rule skipped).
fn reach(
    w: &World,
    actor: usize,
    account: usize,
    restriction: Option<&Restriction>,
    until: Option<Timestamp>,
    without: Without<'_>,
    at_now: bool,
) -> Reach {
    let strip = |mut f: Facts| {
        match without {
            Without::Nothing => {}
            Without::Membership(id) => f.memberships.retain(|m| m.id != *id),
            Without::Delegation(id) => f.delegations.retain(|d| d.id != *id),
        }
        f
    };
    let per_resource: Vec<(ResourceId, Facts)> = restriction
        .into_iter()
        .flat_map(Restriction::ids)
        .map(|r| (r.clone(), strip(facts(w, actor, account, Some(r)))))
        .collect();
    let at = match until {
        _ if at_now => w.now,
        None => Timestamp::NEVER,
        Some(t) => Timestamp::from_millis(t.as_millis() - 1),
    };
    Reach::compute(&MODEL.catalog, &strip(facts(w, actor, account, None)), &per_resource, at)
}

/// The rule book's [`Operation`] for `op` (`None`: the clock, nobody's operation). `expiry_rule`:
/// whether extending a delegation's expiry is told apart from shortening it.
fn operation(w: &World, op: &Op, expiry_rule: bool) -> Result<Option<Operation>, Refusal> {
    let id = |a: usize| w.accounts[a].id.clone();
    let account_of = |m: &MembershipId| w.membership(m).map(|m| id(m.account)).ok_or(Refusal::Store("NOT_FOUND"));
    let delegation = |d: &DelegationId| w.delegations.iter().find(|x| x.id == *d).ok_or(Refusal::Store("NOT_FOUND"));
    Ok(Some(match op {
        Op::AdvanceClock(_) => return Ok(None),
        Op::CreateRole { account, .. } | Op::UpdateRole { account, .. } | Op::DeleteRole { account, .. } => {
            Operation::ManageRoles(id(*account))
        }
        Op::CreateMembership { account, .. } => Operation::ManageMemberships(id(*account)),
        Op::SetMembershipRoles { membership, .. }
        | Op::AssignRole { membership, .. }
        | Op::UnassignRole { membership, .. }
        | Op::SetResourceRestriction { membership, .. }
        | Op::SuspendMembership(membership)
        | Op::ReactivateMembership(membership)
        | Op::DeleteMembership(membership)
        | Op::SetMembershipExpiry { membership, .. } => Operation::ManageMemberships(account_of(membership)?),
        Op::ApproveMembership(membership) | Op::RejectMembership(membership) => {
            Operation::DecideApproval(account_of(membership)?)
        }
        Op::CreateDelegation { from, to, .. } => Operation::CreateDelegation { from: id(*from), to: id(*to) },
        Op::DeleteDelegation(d) => {
            let d = delegation(d)?;
            Operation::DeleteDelegation { from: id(d.from), to: id(d.to) }
        }
        Op::SetDelegationExpiry { delegation: d, expires_at } => {
            let d = delegation(d)?;
            let extends = expiry_rule && lengthens(d.expires_at, *expires_at);
            Operation::ChangeDelegationExpiry { from: id(d.from), to: id(d.to), extends }
        }
        Op::Invite { account, .. } => Operation::ManageInvitations(id(*account)),
        Op::SetAccountModules { account, .. } | Op::SuspendAccount(account) | Op::ReactivateAccount(account) => {
            Operation::AccountLifecycle { account: id(*account), parent: w.accounts[*account].parent.map(id) }
        }
    }))
}

/// What the store refuses whoever asks.
fn store_preconditions(w: &World, op: &Op) -> Result<(), Refusal> {
    let refuse = |kind: &'static str| Err(Refusal::Store(kind));
    let found = |m: &MembershipId| w.membership(m).ok_or(Refusal::Store("NOT_FOUND"));
    let known_roles = |a: usize, roles: &[RoleName]| {
        if roles.is_empty() || roles.iter().any(|r| w.role(a, r).is_none()) {
            return Err(Refusal::Store("INVALID_ROLES"));
        }
        Ok(())
    };
    let in_account = |a: usize, restriction: Option<&Restriction>| {
        if restriction.into_iter().flat_map(Restriction::ids).any(|r| !w.accounts[a].resources.contains(r)) {
            return Err(Refusal::Store("INVALID_RESOURCE"));
        }
        Ok(())
    };
    // The server's `check_expiry`: an expiry set is in the future.
    let future = |e: &Option<Timestamp>| {
        if e.is_some_and(|e| e <= w.now) {
            return Err(Refusal::Store("INVALID_EXPIRY"));
        }
        Ok(())
    };
    let active = |user: usize, a: usize| {
        if w.users[user].status == UserStatus::Suspended {
            return Err(Refusal::Store("USER_SUSPENDED"));
        }
        if w.accounts[a].status == AccountStatus::Suspended {
            return Err(Refusal::Store("ACCOUNT_SUSPENDED"));
        }
        Ok(())
    };
    match op {
        Op::CreateRole { account, name, .. } => {
            if w.role(*account, name).is_some() {
                return refuse("ALREADY_EXISTS");
            }
        }
        Op::UpdateRole { account, name, .. } => {
            if !w.accounts[*account].roles.contains_key(name) {
                return refuse("NOT_FOUND");
            }
        }
        Op::DeleteRole { account, name } => {
            if !w.accounts[*account].roles.contains_key(name) {
                return refuse("NOT_FOUND");
            }
            let held = w.memberships.iter().any(|m| m.account == *account && m.roles.contains(name));
            let delegated = w.delegations.iter().any(|d| d.to == *account && d.role == *name);
            if held || delegated {
                return refuse("ROLE_IN_USE");
            }
        }
        Op::CreateMembership { user, account, roles, restriction, expires_at } => {
            future(expires_at)?;
            active(*user, *account)?;
            known_roles(*account, roles)?;
            in_account(*account, restriction.as_ref())?;
            if w.member_of(*user, *account).is_some() {
                return refuse("ALREADY_EXISTS");
            }
        }
        Op::Invite { account, invitee, roles, restriction } => {
            if w.accounts[*account].status == AccountStatus::Suspended {
                return refuse("ACCOUNT_SUSPENDED");
            }
            known_roles(*account, roles)?;
            in_account(*account, restriction.as_ref())?;
            if let Some(u) = invitee {
                active(*u, *account)?;
                if w.member_of(*u, *account).is_some() {
                    return refuse("ALREADY_EXISTS");
                }
            }
        }
        Op::SetMembershipRoles { membership, roles } => known_roles(found(membership)?.account, roles)?,
        Op::AssignRole { membership, role } => known_roles(found(membership)?.account, std::slice::from_ref(role))?,
        Op::UnassignRole { membership, role } => {
            let m = found(membership)?;
            if m.roles.len() == 1 && m.roles.contains(role) {
                return refuse("LAST_ROLE");
            }
        }
        Op::SetResourceRestriction { membership, restriction } => {
            in_account(found(membership)?.account, restriction.as_ref())?;
        }
        // A pending membership is approved or rejected, never suspended or reactivated.
        Op::SuspendMembership(id) => match found(id)?.status {
            MembershipStatus::Active => {}
            MembershipStatus::Suspended => return refuse("ALREADY_SUSPENDED"),
            MembershipStatus::PendingApproval => return refuse("MEMBERSHIP_PENDING"),
        },
        Op::ReactivateMembership(id) => match found(id)?.status {
            MembershipStatus::Suspended => {}
            MembershipStatus::Active => return refuse("NOT_SUSPENDED"),
            MembershipStatus::PendingApproval => return refuse("MEMBERSHIP_PENDING"),
        },
        Op::DeleteMembership(id) => {
            found(id)?;
        }
        Op::ApproveMembership(id) => {
            let m = found(id)?;
            if m.status != MembershipStatus::PendingApproval {
                return refuse("MEMBERSHIP_NOT_PENDING");
            }
            active(m.user, m.account)?;
        }
        Op::RejectMembership(id) => {
            if found(id)?.status != MembershipStatus::PendingApproval {
                return refuse("MEMBERSHIP_NOT_PENDING");
            }
        }
        Op::CreateDelegation { from, to, role, expires_at } => {
            future(expires_at)?;
            if !w.strict_ancestors(*to).contains(from) {
                return refuse("DELEGATION_SCOPE");
            }
            known_roles(*to, std::slice::from_ref(role))?;
            if w.delegations.iter().any(|d| d.from == *from && d.to == *to) {
                return refuse("ALREADY_EXISTS");
            }
        }
        Op::DeleteDelegation(id) => {
            if !w.delegations.iter().any(|d| d.id == *id) {
                return refuse("NOT_FOUND");
            }
        }
        Op::SetMembershipExpiry { membership, expires_at } => {
            future(expires_at)?;
            found(membership)?;
        }
        Op::SetDelegationExpiry { delegation, expires_at } => {
            future(expires_at)?;
            if !w.delegations.iter().any(|d| d.id == *delegation) {
                return refuse("NOT_FOUND");
            }
        }
        Op::SetAccountModules { .. } | Op::AdvanceClock(_) => {}
        Op::SuspendAccount(a) => {
            if w.accounts[*a].status == AccountStatus::Suspended {
                return refuse("ALREADY_SUSPENDED");
            }
        }
        Op::ReactivateAccount(a) => {
            if w.accounts[*a].status == AccountStatus::Active {
                return refuse("NOT_SUSPENDED");
            }
        }
    }
    Ok(())
}

/// Admits `op` by `actor` (`None`: the calling service's own authority) as the server does.
fn admit(w: &World, actor: Option<usize>, op: &Op) -> Result<(), Refusal> {
    admit_without(w, actor, op, None)
}

/// [`admit`], with one check switched off (`skip`): only the tests proving the model can fail.
fn admit_without(w: &World, actor: Option<usize>, op: &Op, skip: Option<Check>) -> Result<(), Refusal> {
    store_preconditions(w, op)?;
    requirement(w, actor, op, skip)?;
    invariants(w, actor, op, skip)?;
    last_administrator(w, actor, op, skip)
}

/// The requirement: one row of the rule book's table (the clock needs none).
fn requirement(w: &World, actor: Option<usize>, op: &Op, skip: Option<Check>) -> Result<(), Refusal> {
    let Some(operation) = operation(w, op, skip != Some(Check::Expiry))? else { return Ok(()) };
    match actor {
        Some(x) => satisfies(w, x, &operation.requirement()),
        None => Ok(()),
    }
}

/// The invariants of the rule book the operation's RPC checks, in its order, but the last
/// administrator (the store's, counted in its write).
fn invariants(w: &World, actor: Option<usize>, op: &Op, skip: Option<Check>) -> Result<(), Refusal> {
    let on = |c: Check| skip != Some(c);
    let rule = |r: Result<(), Violation>| r.map_err(Refusal::Rule);

    // A grant: the roles over the restriction within the actor's reach where it applies them, for
    // as long as it lasts (`until`), and no direct access for the account's partner side.
    let grant = |account: usize,
                 user: Option<usize>,
                 roles: &[RoleName],
                 restriction: Option<&Restriction>,
                 until: Option<Timestamp>,
                 without: Without<'_>| {
        let Some(x) = actor else { return Ok(()) };
        if on(Check::Grant) {
            // Resolved as the server resolves them: in the account's order of its roles.
            let names = w.role_names(account).into_iter().filter(|n| roles.contains(n));
            let resolved: Vec<Role> = names.filter_map(|r| w.role(account, &r).cloned()).collect();
            let reach = reach(w, x, account, restriction, until, without, !on(Check::Expiry));
            rule(check_grant(Grant { roles: &resolved, restriction }, &reach))?;
        }
        if let Some(u) = user
            && on(Check::PartnerReach)
        {
            let side: BTreeSet<AccountId> =
                w.partner_side(account).into_iter().map(|a| w.accounts[a].id.clone()).collect();
            // The user's accounts by id, as the store lists them.
            let theirs: BTreeSet<AccountId> = w.accounts_of(u).into_iter().map(|a| w.accounts[a].id.clone()).collect();
            let theirs: Vec<AccountId> = theirs.into_iter().collect();
            rule(check_partner_reach(&w.users[u].id, &theirs, &side))?;
        }
        Ok(())
    };
    let forever = Without::Nothing;
    // A change of a membership: frozen for the requester while pending.
    let frozen = |m: &Member| match actor {
        Some(x) if on(Check::PendingFrozen) => {
            rule(check_pending_frozen(&w.users[x].id, &m.id, m.status, m.created_by.map(|u| &w.users[u].id)))
        }
        Some(_) | None => Ok(()),
    };
    let member = |id: &MembershipId| w.membership(id).ok_or(Refusal::Store("NOT_FOUND"));
    match op {
        Op::CreateRole { account, grants, descendant_grants, .. }
        | Op::UpdateRole { account, grants, descendant_grants, .. } => {
            if on(Check::DescendantLevels) {
                rule(check_descendant_levels(&MODEL.catalog, &w.accounts[*account].kind, descendant_grants))?;
            }
            if let Some(x) = actor
                && on(Check::RoleDefinition)
            {
                let reach = reach(w, x, *account, None, None, forever, !on(Check::Expiry));
                rule(check_role_definition(grants, descendant_grants, &reach))?;
            }
        }
        Op::DeleteRole { .. } | Op::DeleteMembership(_) | Op::DeleteDelegation(_) | Op::AdvanceClock(_) => {}
        Op::CreateMembership { user, account, roles, restriction, expires_at } => {
            rule(check_role_limit(roles))?;
            if let Some(x) = actor {
                // Identity: the user is already reachable by the actor, or belongs to no account.
                let accounts: Vec<AccountId> = w.accounts_of(*user).iter().map(|a| w.accounts[*a].id.clone()).collect();
                if !accounts.is_empty() {
                    let view = Operation::ViewUser { user: w.users[*user].id.clone(), accounts }.requirement();
                    satisfies(w, x, &view).map_err(|_| Refusal::Store("NOT_FOUND"))?;
                }
            }
            grant(*account, Some(*user), roles, restriction.as_ref(), *expires_at, forever)?;
        }
        Op::Invite { account, invitee, roles, restriction } => {
            rule(check_role_limit(roles))?;
            grant(*account, *invitee, roles, restriction.as_ref(), None, forever)?;
            if let Some(x) = actor {
                satisfies(w, x, &Operation::AcceptInvitation.requirement())?;
            }
        }
        Op::SetMembershipRoles { membership, roles } => {
            let m = member(membership)?;
            frozen(m)?;
            rule(check_role_limit(roles))?;
            grant(m.account, Some(m.user), roles, m.restriction.as_ref(), m.expires_at, forever)?;
        }
        Op::AssignRole { membership, role } => {
            let m = member(membership)?;
            frozen(m)?;
            let mut after = m.roles.clone();
            after.push(role.clone());
            rule(check_role_limit(&distinct(&after)))?;
            grant(m.account, Some(m.user), std::slice::from_ref(role), m.restriction.as_ref(), m.expires_at, forever)?;
        }
        Op::UnassignRole { membership, .. } | Op::SuspendMembership(membership) => frozen(member(membership)?)?,
        Op::SetResourceRestriction { membership, restriction } => {
            let m = member(membership)?;
            frozen(m)?;
            grant(m.account, Some(m.user), &m.roles, restriction.as_ref(), m.expires_at, forever)?;
        }
        Op::ReactivateMembership(membership) => {
            let m = member(membership)?;
            frozen(m)?;
            grant(m.account, Some(m.user), &m.roles, m.restriction.as_ref(), m.expires_at, forever)?;
        }
        Op::SetMembershipExpiry { membership, expires_at } => {
            // Extending is granting the membership's roles to its user for longer, without the
            // membership; shortening only needs the right to edit it.
            let m = member(membership)?;
            frozen(m)?;
            if on(Check::Expiry) && lengthens(m.expires_at, *expires_at) {
                let without = Without::Membership(&m.id);
                grant(m.account, Some(m.user), &m.roles, m.restriction.as_ref(), *expires_at, without)?;
            }
        }
        Op::SetDelegationExpiry { delegation, expires_at } => {
            let d = w.delegations.iter().find(|d| d.id == *delegation).ok_or(Refusal::Store("NOT_FOUND"))?;
            if on(Check::Expiry) && lengthens(d.expires_at, *expires_at) {
                grant(d.to, None, std::slice::from_ref(&d.role), None, *expires_at, Without::Delegation(&d.id))?;
            }
        }
        Op::ApproveMembership(membership) | Op::RejectMembership(membership) => {
            let m = member(membership)?;
            if let Some(x) = actor
                && on(Check::FourEyes)
            {
                let requester = m.created_by.map(|u| &w.users[u].id);
                rule(check_four_eyes(&w.users[x].id, &m.id, requester, &w.users[m.user].id))?;
            }
            // The server approves with the approver's reach forever, whatever the expiry.
            if let Op::ApproveMembership(_) = op {
                grant(m.account, Some(m.user), &m.roles, m.restriction.as_ref(), None, forever)?;
            }
        }
        Op::CreateDelegation { to, role, expires_at, .. } => {
            grant(*to, None, std::slice::from_ref(role), None, *expires_at, forever)?;
        }
        Op::SetAccountModules { .. } | Op::SuspendAccount(_) | Op::ReactivateAccount(_) => {}
    }
    Ok(())
}

/// The last administrator, counted before and after as the store does inside its write (an
/// expired administrator still counts: the store counts statuses and roles, not expiries).
fn last_administrator(w: &World, actor: Option<usize>, op: &Op, skip: Option<Check>) -> Result<(), Refusal> {
    if skip == Some(Check::LastAdministrator) {
        return Ok(());
    }
    let mut after = w.clone();
    apply(&mut after, actor, op);
    for a in 0..w.accounts.len() {
        check_last_administrator(&w.accounts[a].id, w.administrators(a), after.administrators(a))
            .map_err(Refusal::Rule)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The reference evaluator
// ---------------------------------------------------------------------------------------------

/// Where a level is held: an account, or a hypothetical new child of an account.
#[derive(Debug, Clone, PartialEq, Eq)]
enum At {
    Account(usize),
    Below(usize),
}

/// A folder of the account, or one created after the operation.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Folder {
    Real(ResourceId),
    New,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Place {
    at: At,
    /// `None`: the account at large.
    folder: Option<Folder>,
    /// The account itself (`None`: a new child).
    target: Option<usize>,
    /// Its strict ancestors, nearest first.
    ancestors: Vec<usize>,
}

impl Place {
    fn show(&self, w: &World) -> String {
        let at = match self.at {
            At::Account(a) => format!("in {}", w.accounts[a].id),
            At::Below(a) => format!("in a new child of {}", w.accounts[a].id),
        };
        match &self.folder {
            None => format!("{at} at large"),
            Some(Folder::Real(r)) => format!("{at} on folder {r}"),
            Some(Folder::New) => format!("{at} on a new folder"),
        }
    }
}

/// Every place of the world: each account at large, on each folder and on a new folder; a new
/// child of each account that may have children, at large and on a new folder.
fn places(w: &World) -> Vec<Place> {
    let mut out = Vec::new();
    for (a, acc) in w.accounts.iter().enumerate() {
        let here = |folder| Place { at: At::Account(a), folder, target: Some(a), ancestors: w.strict_ancestors(a) };
        out.push(here(None));
        out.extend(acc.resources.iter().map(|r| here(Some(Folder::Real(r.clone())))));
        out.push(here(Some(Folder::New)));
        if MODEL.parents.contains(&acc.kind) {
            let below = |folder| Place { at: At::Below(a), folder, target: None, ancestors: w.chain(a) };
            out.push(below(None));
            out.push(below(Some(Folder::New)));
        }
    }
    out
}

/// Whether account statuses count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// As they are: a suspended account (or subject, or delegation source) gives nothing.
    Live,
    /// Ignored: what would be held were every account active.
    Latent,
}

/// Every role's levels, per account: the kind's built-in roles and the account's custom roles.
struct Roles(Vec<(Option<&'static RoleTable>, RoleTable)>);

type RoleTable = BTreeMap<RoleName, RoleLevels>;

impl Roles {
    fn of(w: &World) -> Roles {
        let model: &'static Model = &MODEL;
        Roles(
            w.accounts
                .iter()
                .map(|acc| {
                    let custom = acc
                        .roles
                        .values()
                        .map(|r| {
                            let levels = RoleLevels {
                                grants: model.levels(&r.grants),
                                descendants: model.levels(&r.descendant_grants),
                            };
                            (r.name.clone(), levels)
                        })
                        .collect();
                    (model.builtins.get(&acc.kind), custom)
                })
                .collect(),
        )
    }

    fn get(&self, account: usize, role: &RoleName) -> Option<&RoleLevels> {
        let (builtin, custom) = self.0.get(account)?;
        builtin.and_then(|b| b.get(role)).or_else(|| custom.get(role))
    }
}

fn raise(out: &mut Levels, by: &Levels) {
    for (o, b) in out.iter_mut().zip(by) {
        *o = (*o).max(*b);
    }
}

/// Whether a membership with `restriction` reaches `folder`, and with which cap: `full` when no
/// folder is asked (the account at large) or the membership is unrestricted; the folder's cap
/// when the restriction names it; nothing otherwise (a new folder is named by no restriction).
fn folder_cap(folder: Option<&Folder>, restriction: Option<&Restriction>) -> Option<Level> {
    match (folder, restriction) {
        (None, _) | (Some(_), None) => Some(Level::Full),
        (Some(Folder::Real(r)), Some(set)) => set.cap(r),
        (Some(Folder::New), Some(_)) => None,
    }
}

/// `levels`, each at most `cap`.
fn capped(levels: &Levels, cap: Level) -> Levels {
    let mut out = *levels;
    for l in &mut out {
        *l = (*l).min(cap);
    }
    out
}

/// The levels `user` holds at `place` at instant `at`, uncapped by modules (see the module docs).
/// Naive on purpose: every membership and delegation of the world looked at, each rule written
/// out.
fn reference(w: &World, roles: &Roles, user: usize, place: &Place, mode: Mode, at: Timestamp) -> Levels {
    let mut out = NO_LEVELS;
    let (target, ancestors) = (place.target, &place.ancestors);
    if mode == Mode::Live {
        let suspended = |a: &usize| w.accounts[*a].status == AccountStatus::Suspended;
        if w.users[user].status == UserStatus::Suspended || target.iter().chain(ancestors).any(suspended) {
            return out;
        }
    }
    let active = |m: &&Member| m.user == user && m.status == MembershipStatus::Active && live(m.expires_at, at);
    // Direct: the roles of the memberships in the account that reach the folder.
    for m in w.memberships.iter().filter(active).filter(|m| Some(m.account) == target) {
        if let Some(cap) = folder_cap(place.folder.as_ref(), m.restriction.as_ref()) {
            for r in m.roles.iter().filter_map(|r| roles.get(m.account, r)) {
                raise(&mut out, &capped(&r.grants, cap));
            }
        }
    }
    // Inherited: the descendant levels of the memberships in the ancestors; an ancestor's
    // restriction names the ancestor's folders, so on a folder only unrestricted ones count.
    for m in w.memberships.iter().filter(active).filter(|m| ancestors.contains(&m.account)) {
        if place.folder.is_none() || m.restriction.is_none() {
            for r in m.roles.iter().filter_map(|r| roles.get(m.account, r)) {
                raise(&mut out, &r.descendants);
            }
        }
    }
    // Delegated: into the account, the role; into an ancestor, its descendant levels; for a
    // member of the (active) source holding delegated_administration:full there.
    let da = MODEL.delegated_administration;
    for d in &w.delegations {
        let into_target = Some(d.to) == target;
        if !into_target && !ancestors.contains(&d.to) || !live(d.expires_at, at) {
            continue;
        }
        if mode == Mode::Live && w.accounts[d.from].status == AccountStatus::Suspended {
            continue;
        }
        let acts = w
            .memberships
            .iter()
            .filter(active)
            .filter(|m| m.account == d.from)
            .any(|m| m.roles.iter().filter_map(|r| roles.get(m.account, r)).any(|r| r.grants[da] == Level::Full));
        if let Some(r) = roles.get(d.to, &d.role)
            && acts
        {
            raise(&mut out, if into_target { &r.grants } else { &r.descendants });
        }
    }
    out
}

/// The reference levels of every user at every place, in both modes, at some instants.
struct Tables {
    users: usize,
    places: usize,
    /// By instant: (live, latent), each by user then place.
    at: BTreeMap<Timestamp, (Vec<Levels>, Vec<Levels>)>,
}

impl Tables {
    fn of(w: &World, places: &[Place], instants: &BTreeSet<Timestamp>) -> Tables {
        let mut tables = Tables { users: w.users.len(), places: places.len(), at: BTreeMap::new() };
        tables.fill(w, places, instants);
        tables
    }

    /// Adds the instants not computed yet (`w` is the world the tables are of: the clock moves
    /// nobody's grants, so an instant's table stays true of the world when the clock moves).
    fn fill(&mut self, w: &World, places: &[Place], instants: &BTreeSet<Timestamp>) {
        let roles = Roles::of(w);
        for &at in instants {
            if self.at.contains_key(&at) {
                continue;
            }
            let mut live = Vec::with_capacity(w.users.len() * places.len());
            let mut latent = Vec::with_capacity(w.users.len() * places.len());
            for u in 0..w.users.len() {
                for p in places {
                    live.push(reference(w, &roles, u, p, Mode::Live, at));
                    latent.push(reference(w, &roles, u, p, Mode::Latent, at));
                }
            }
            self.at.insert(at, (live, latent));
        }
    }

    /// `user`'s levels at place `p` at instant `at` (none for a user who did not exist yet).
    fn get(&self, mode: Mode, at: Timestamp, user: usize, p: usize) -> &Levels {
        let Some((live, latent)) = self.at.get(&at) else { return &NO_LEVELS };
        if user >= self.users {
            return &NO_LEVELS;
        }
        let table = match mode {
            Mode::Live => live,
            Mode::Latent => latent,
        };
        &table[user * self.places + p]
    }
}

// ---------------------------------------------------------------------------------------------
// The invariants
// ---------------------------------------------------------------------------------------------

/// An invariant that does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Broken {
    invariant: &'static str,
    detail: String,
}

fn broken(invariant: &'static str, detail: String) -> Result<(), Broken> {
    Err(Broken { invariant, detail })
}

const NO_ESCALATION: &str = "no escalation";
const PARTNER_REACH: &str = "partner reach";
const FOUR_EYES: &str = "four-eyes";
const LAST_ADMINISTRATOR: &str = "last administrator";

/// What must hold of any world: inherited reach within the kind's built-in descendant levels
/// (2), and no approval by the requester or the member (3).
fn check_state(w: &World) -> Result<(), Broken> {
    let roles = Roles::of(w);
    for m in &w.memberships {
        let kind = &w.accounts[m.account].kind;
        for (name, levels) in m.roles.iter().filter_map(|r| roles.get(m.account, r).map(|l| (r, l))) {
            for (f, feature) in MODEL.features.iter().enumerate() {
                let allowed = MODEL.builtin_descendant_max(kind, f);
                if levels.descendants[f] > allowed {
                    return broken(
                        PARTNER_REACH,
                        format!(
                            "{} reaches the descendants of {} with {feature}:{} through role {name}, beyond the {allowed} of kind {kind}'s built-in roles",
                            w.users[m.user].id, w.accounts[m.account].id, levels.descendants[f]
                        ),
                    );
                }
            }
        }
        if let Some(a) = m.approved_by
            && (m.created_by == Some(a) || m.user == a)
        {
            return broken(FOUR_EYES, format!("{} approved by {}", show_member(w, m), w.users[a].id));
        }
    }
    Ok(())
}

/// The levels `user` holds in account `a` at instant `at` through its memberships *of `a`* only,
/// ignoring account statuses: what survives the end of every delegation.
fn direct(w: &World, roles: &Roles, user: usize, a: usize, folder: Option<&Folder>, at: Timestamp) -> Levels {
    let mut out = NO_LEVELS;
    let held = |m: &&Member| {
        m.user == user && m.account == a && m.status == MembershipStatus::Active && live(m.expires_at, at)
    };
    for m in w.memberships.iter().filter(held) {
        if let Some(cap) = folder_cap(folder, m.restriction.as_ref()) {
            for r in m.roles.iter().filter_map(|r| roles.get(a, r)) {
                raise(&mut out, &capped(&r.grants, cap));
            }
        }
    }
    out
}

/// The invariants over one accepted operation `op` by `actor`, from `before` to `after`, at every
/// instant of `instants` (the clock and every expiry after it: levels are constant between two of
/// them, and after the last).
fn check_step(
    before: &World,
    after: &World,
    actor: Option<usize>,
    op: &Op,
    places: &[Place],
    instants: &BTreeSet<Timestamp>,
    tables: (&Tables, &Tables),
) -> Result<(), Broken> {
    check_state(after)?;

    // 4. Last administrator (the store's guard binds every caller).
    for a in 0..after.accounts.len() {
        if before.administrators(a) > 0 && after.administrators(a) == 0 {
            return broken(LAST_ADMINISTRATOR, format!("{} has no active administrator left", after.accounts[a].id));
        }
    }

    // 3. The requester never changes.
    for m in &after.memberships {
        if let Some(old) = before.membership(&m.id)
            && old.created_by != m.created_by
        {
            return broken(
                FOUR_EYES,
                format!("the requester of {} changed from {:?}", show_member(after, m), old.created_by),
            );
        }
    }

    let Some(x) = actor else { return Ok(()) };
    let xid = &after.users[x].id;

    // 3. A pending membership is not changed by its requester.
    for m in &after.memberships {
        if let Some(old) = before.membership(&m.id)
            && old.status == MembershipStatus::PendingApproval
            && old.created_by == Some(x)
            && (old.roles != m.roles || old.restriction != m.restriction || old.expires_at != m.expires_at)
        {
            return broken(FOUR_EYES, format!("{xid} changed its own pending request: {}", show_member(after, m)));
        }
    }

    // 1. No escalation, with account statuses as they are and ignoring them, now and at every
    // later instant: nothing given outlives the actor's own reach.
    let (tb, ta) = tables;
    for &at in instants {
        let when = if at == after.now { "now".to_owned() } else { format!("at {}", at.as_millis()) };
        for mode in [Mode::Live, Mode::Latent] {
            if mode == Mode::Live && matches!(op, Op::ReactivateAccount(_)) {
                continue;
            }
            for y in 0..after.users.len() {
                for (p, place) in places.iter().enumerate() {
                    let (new, old, held) = (ta.get(mode, at, y, p), tb.get(mode, at, y, p), tb.get(mode, at, x, p));
                    for (f, feature) in MODEL.features.iter().enumerate() {
                        if new[f] > old[f] && held[f] < new[f] {
                            return broken(
                                NO_ESCALATION,
                                format!(
                                    "{} holds {feature}:{} {} {when} (was {}), but the actor {xid} held {} there ({mode:?})",
                                    after.users[y].id,
                                    new[f],
                                    place.show(after),
                                    old[f],
                                    held[f]
                                ),
                            );
                        }
                    }
                }
            }
        }
    }

    // 2. An actor never raises what a member of an ancestor reaches through a membership of the
    // account itself. A role rewrite gives no membership: it changes what every holder of the role
    // holds, within the rewriter's reach (1); the memberships it reaches were given by the
    // service, or before their user joined the partner side.
    if let Op::UpdateRole { .. } = op {
        return Ok(());
    }
    check_direct_partner_reach(before, after, places, instants)
}

/// Invariant 2 for one change from `before` to `after`: no member of an ancestor of an account
/// reaches more in it, at any of `instants`, through a membership of the account itself.
fn check_direct_partner_reach(
    before: &World,
    after: &World,
    places: &[Place],
    instants: &BTreeSet<Timestamp>,
) -> Result<(), Broken> {
    let (rb, ra) = (Roles::of(before), Roles::of(after));
    for y in 0..after.users.len() {
        let side: BTreeSet<usize> = after.accounts_of(y).into_iter().collect();
        for c in 0..after.accounts.len() {
            let Some(via) = after.strict_ancestors(c).into_iter().find(|a| side.contains(a)) else { continue };
            for (&at, place) in
                instants.iter().flat_map(|at| places.iter().filter(|p| p.at == At::Account(c)).map(move |p| (at, p)))
            {
                let new = direct(after, &ra, y, c, place.folder.as_ref(), at);
                let old = if y < before.users.len() {
                    direct(before, &rb, y, c, place.folder.as_ref(), at)
                } else {
                    NO_LEVELS
                };
                if let Some(f) = (0..MODEL.features.len()).find(|&f| new[f] > old[f]) {
                    return broken(
                        PARTNER_REACH,
                        format!(
                            "{}, a member of {}, holds {}:{} {} at {} through a membership of {} (was {})",
                            after.users[y].id,
                            after.accounts[via].id,
                            MODEL.features[f],
                            new[f],
                            place.show(after),
                            at.as_millis(),
                            after.accounts[c].id,
                            old[f]
                        ),
                    );
                }
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Running a sequence
// ---------------------------------------------------------------------------------------------

/// What a sequence did, for the tests that check the model exercises every operation.
#[derive(Debug, Default)]
struct Stats {
    /// Accepted operations by an actor, by kind.
    accepted: BTreeMap<&'static str, usize>,
    /// Refusals by the rule book, by violation code.
    violations: BTreeMap<&'static str, usize>,
    /// Refusals by the rule book, by operation kind and violation code.
    violations_by_kind: BTreeMap<(&'static str, &'static str), usize>,
    /// Accepted clock moves.
    clock_moves: usize,
    /// Other refusals (requirement, store), by kind.
    refused: BTreeMap<String, usize>,
}

/// A failed sequence: the invariant, the initial world and the trace.
#[derive(Debug)]
struct Failure {
    broken: Broken,
    world: String,
    trace: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}\ninitial world:\n{}operations:\n{}",
            self.broken.invariant, self.broken.detail, self.world, self.trace
        )
    }
}

/// A world under a sequence of operations, checked after each.
struct Run {
    world: World,
    places: Vec<Place>,
    tables: Tables,
    skip: Option<Check>,
    initial: String,
    trace: String,
    stats: Stats,
}

impl Run {
    fn new(world: World, skip: Option<Check>) -> Result<Run, Failure> {
        let places = places(&world);
        let tables = Tables::of(&world, &places, &world.instants());
        let initial = world.to_string();
        let run = Run { world, places, tables, skip, initial, trace: String::new(), stats: Stats::default() };
        check_state(&run.world).map_err(|broken| run.failure(broken))?;
        Ok(run)
    }

    fn failure(&self, broken: Broken) -> Failure {
        Failure { broken, world: self.initial.clone(), trace: self.trace.clone() }
    }

    /// Admits `op` by `actor`; applies it when accepted, then checks the invariants.
    fn step(&mut self, actor: Option<usize>, op: &Op) -> Result<Result<(), Refusal>, Failure> {
        let who = actor.map_or("service".to_owned(), |x| self.world.users[x].id.to_string());
        let _ = write!(self.trace, "  {who}: {}", op.show(&self.world));
        let before = self.world.clone();
        let admitted = match self.skip {
            None => admit(&self.world, actor, op),
            Some(check) => admit_without(&self.world, actor, op, Some(check)),
        };
        match admitted {
            Err(refusal) => {
                let _ = writeln!(self.trace, " -> refused: {refusal}");
                match &refusal {
                    Refusal::Rule(v) => {
                        *self.stats.violations.entry(v.code()).or_default() += 1;
                        *self.stats.violations_by_kind.entry((op.kind(), v.code())).or_default() += 1;
                    }
                    Refusal::Requirement(_) => *self.stats.refused.entry("requirement".to_owned()).or_default() += 1,
                    Refusal::Store(kind) => *self.stats.refused.entry((*kind).to_owned()).or_default() += 1,
                }
                if self.world != before {
                    return Err(self.failure(Broken {
                        invariant: "refusal",
                        detail: "a refused operation changed the world".into(),
                    }));
                }
                Ok(Err(refusal))
            }
            Ok(()) => {
                let _ = writeln!(self.trace, " -> accepted");
                if actor.is_some() {
                    *self.stats.accepted.entry(op.kind()).or_default() += 1;
                }
                if let Op::AdvanceClock(_) = op {
                    self.stats.clock_moves += 1;
                }
                apply(&mut self.world, actor, op);
                // The instants of either world from the clock on: those where a level may change.
                let mut instants = self.world.instants();
                instants.extend(before.instants().into_iter().filter(|t| *t >= self.world.now));
                self.tables.fill(&before, &self.places, &instants);
                let tables = Tables::of(&self.world, &self.places, &instants);
                check_step(&before, &self.world, actor, op, &self.places, &instants, (&self.tables, &tables))
                    .map_err(|broken| self.failure(broken))?;
                self.tables = tables;
                Ok(Ok(()))
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Random worlds and sequences
// ---------------------------------------------------------------------------------------------

type GrantsSpec = Vec<(u8, Level)>;

#[derive(Debug, Clone)]
struct AccountSpec {
    suspended: bool,
    modules: u16,
    requires_approval: bool,
    owner: u8,
    /// The owner's expiry, in ticks from the clock: an administrator for a while.
    owner_expiry: Option<i8>,
    roles: Vec<(GrantsSpec, GrantsSpec)>,
}

#[derive(Debug, Clone)]
struct MemberSpec {
    user: u8,
    account: u8,
    roles: Vec<u8>,
    status: MembershipStatus,
    restriction: Option<Vec<u8>>,
    created_by: Option<u8>,
    /// In ticks from the world's clock (at or before it: expired).
    expiry: Option<i8>,
}

#[derive(Debug, Clone)]
struct WorldSpec {
    affiliate_under_partner: bool,
    accounts: Vec<AccountSpec>,
    suspended_users: Vec<bool>,
    memberships: Vec<MemberSpec>,
    /// (to, from, role, expiry in ticks from the clock).
    delegations: Vec<(u8, u8, u8, Option<i8>)>,
}

fn pick<T: Clone>(items: &[T], i: u8) -> Option<T> {
    if items.is_empty() { None } else { items.get(usize::from(i) % items.len()).cloned() }
}

fn grants_of(spec: &[(u8, Level)]) -> Grants {
    spec.iter().map(|(f, l)| (MODEL.features[usize::from(*f) % MODEL.features.len()].clone(), *l)).collect()
}

/// A restriction from picks: each pick names a folder of the account (its low bits) and its cap
/// (`view` when the high bit is set, `full` otherwise).
fn restriction_of(w: &World, a: usize, spec: Option<&Vec<u8>>) -> Option<Restriction> {
    spec.map(|picks| {
        picks
            .iter()
            .filter_map(|i| {
                let cap = if i & 0x80 != 0 { Level::View } else { Level::Full };
                Some((pick(&w.accounts[a].resources, i & 0x7f)?, cap))
            })
            .collect()
    })
}

fn roles_of(w: &World, a: usize, picks: &[u8]) -> Vec<RoleName> {
    let names = w.role_names(a);
    picks.iter().filter_map(|i| pick(&names, *i)).collect()
}

/// The world `spec` describes, as the service would have made it: custom roles keep the catalog's
/// bound on descendant levels (which binds the service too).
fn build(spec: &WorldSpec) -> World {
    let mut w = World::skeleton(spec.affiliate_under_partner);
    for (a, s) in spec.accounts.iter().enumerate().take(w.accounts.len()) {
        let acc = &mut w.accounts[a];
        acc.status = if s.suspended { AccountStatus::Suspended } else { AccountStatus::Active };
        acc.modules = MODEL
            .modules
            .iter()
            .enumerate()
            .filter(|(i, _)| s.modules & (1 << (i % 16)) != 0)
            .map(|(_, m)| m.clone())
            .collect();
        acc.requires_approval = s.requires_approval;
        for (i, (grants, below)) in s.roles.iter().enumerate() {
            let name = RoleName::from_trusted(format!("custom_{i}"));
            let mut descendant_grants = grants_of(below);
            for (feature, level) in &mut descendant_grants {
                *level = (*level).min(MODEL.builtin_descendant_max(&acc.kind, MODEL.index[feature]));
            }
            let role = Role {
                name: name.clone(),
                display_name: String::new(),
                description: String::new(),
                builtin: false,
                grants: grants_of(grants),
                descendant_grants,
            };
            acc.roles.insert(name, role);
        }
    }
    for (a, s) in spec.accounts.iter().enumerate().take(w.accounts.len()) {
        let Some(owner) = MODEL.catalog.kind(&w.accounts[a].kind).map(|k| k.owner_role.clone()) else { continue };
        let user = usize::from(s.owner) % USERS;
        create_membership(&mut w, user, a, &[owner], None, None);
        if let Some(m) = w.memberships.last_mut() {
            m.status = MembershipStatus::Active;
            m.expires_at = s.owner_expiry.map(|e| ticks(MODEL_NOW, i64::from(e)));
        }
    }
    for s in &spec.memberships {
        let (user, a) = (usize::from(s.user) % USERS, usize::from(s.account) % w.accounts.len());
        let roles = roles_of(&w, a, &s.roles);
        if w.member_of(user, a).is_some() || roles.is_empty() {
            continue;
        }
        let restriction = restriction_of(&w, a, s.restriction.as_ref());
        create_membership(&mut w, user, a, &roles, restriction, s.created_by.map(|u| usize::from(u) % USERS));
        if let Some(m) = w.memberships.last_mut() {
            m.status = s.status;
            m.expires_at = s.expiry.map(|e| ticks(MODEL_NOW, i64::from(e)));
        }
    }
    for (to, from, role, expiry) in &spec.delegations {
        let below: Vec<usize> = (0..w.accounts.len()).filter(|a| w.accounts[*a].parent.is_some()).collect();
        let Some(to) = pick(&below, *to) else { continue };
        let (Some(from), Some(role)) = (pick(&w.strict_ancestors(to), *from), pick(&w.role_names(to), *role)) else {
            continue;
        };
        if w.delegations.iter().all(|d| d.from != from || d.to != to) {
            let id = DelegationId::from_trusted(w.fresh("d"));
            let expires_at = expiry.map(|e| ticks(MODEL_NOW, i64::from(e)));
            w.delegations.push(Deleg { id, from, to, role, expires_at });
        }
    }
    for (u, suspended) in w.users.iter_mut().zip(&spec.suspended_users) {
        if *suspended {
            u.status = UserStatus::Suspended;
        }
    }
    w
}

fn level() -> impl Strategy<Value = Level> {
    prop_oneof![1 => Just(Level::None), 2 => Just(Level::View), 3 => Just(Level::Full)]
}

fn grants_spec(max: usize) -> impl Strategy<Value = GrantsSpec> {
    proptest::collection::vec((any::<u8>(), level()), 0..=max)
}

/// A custom role's levels: half of them make an administrator (`users:full`) whose other levels
/// are partial — the actors the rules are about.
fn role_grants_spec() -> impl Strategy<Value = GrantsSpec> {
    let users = u8::try_from(MODEL.index[crate::catalog::USERS_FEATURE]).unwrap_or(0);
    (any::<bool>(), grants_spec(6)).prop_map(move |(admin, mut grants)| {
        if admin {
            grants.push((users, Level::Full));
        }
        grants
    })
}

/// An expiry of the initial world, in ticks from its clock: mostly none, sometimes passed.
fn expiry_spec() -> impl Strategy<Value = Option<i8>> {
    prop_oneof![3 => Just(None), 2 => (-2i8..=5).prop_map(Some)]
}

fn role_picks() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 1..=2)
}

fn restriction_spec() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop_oneof![3 => Just(None), 2 => proptest::collection::vec(any::<u8>(), 0..=2).prop_map(Some)]
}

fn world_spec() -> impl Strategy<Value = WorldSpec> {
    let account = (
        proptest::bool::weighted(0.1),
        any::<u16>(),
        proptest::bool::weighted(0.35),
        any::<u8>(),
        prop_oneof![4 => Just(None), 1 => (1i8..=5).prop_map(Some)],
        proptest::collection::vec((role_grants_spec(), grants_spec(3)), 0..=2),
    )
        .prop_map(|(suspended, modules, requires_approval, owner, owner_expiry, roles)| AccountSpec {
            suspended,
            modules,
            requires_approval,
            owner,
            owner_expiry,
            roles,
        });
    let status = prop_oneof![
        6 => Just(MembershipStatus::Active),
        2 => Just(MembershipStatus::PendingApproval),
        1 => Just(MembershipStatus::Suspended),
    ];
    let member = (
        any::<u8>(),
        any::<u8>(),
        role_picks(),
        status,
        restriction_spec(),
        proptest::option::of(any::<u8>()),
        expiry_spec(),
    )
        .prop_map(|(user, account, roles, status, restriction, created_by, expiry)| MemberSpec {
            user,
            account,
            roles,
            status,
            restriction,
            created_by,
            expiry,
        });
    (
        any::<bool>(),
        proptest::collection::vec(account, SKELETON.len()),
        proptest::collection::vec(proptest::bool::weighted(0.1), USERS),
        proptest::collection::vec(member, 0..=12),
        proptest::collection::vec((any::<u8>(), any::<u8>(), any::<u8>(), expiry_spec()), 0..=3),
    )
        .prop_map(|(affiliate_under_partner, accounts, suspended_users, memberships, delegations)| WorldSpec {
            affiliate_under_partner,
            accounts,
            suspended_users,
            memberships,
            delegations,
        })
}

/// Who acts.
#[derive(Debug, Clone)]
enum Actor {
    /// The calling service, without actor.
    Service,
    /// Any user.
    Anyone(u8),
    /// A user with a membership in the account's chain or in the source of a delegation into it.
    Insider(u8),
    /// The requester of the membership acted on (an insider when none).
    Requester(u8),
}

/// An operation with its arguments as picks, resolved against the world when it runs.
#[derive(Debug, Clone)]
enum RawOp {
    CreateRole { account: u8, name: u8, grants: GrantsSpec, below: GrantsSpec },
    UpdateRole { role: u8, grants: GrantsSpec, below: GrantsSpec },
    DeleteRole { role: u8 },
    CreateMembership { user: u8, account: u8, roles: Vec<u8>, restriction: Option<Vec<u8>>, expiry: Option<u8> },
    SetMembershipRoles { membership: u8, roles: Vec<u8> },
    AssignRole { membership: u8, role: u8 },
    UnassignRole { membership: u8, role: u8 },
    SetResourceRestriction { membership: u8, restriction: Option<Vec<u8>> },
    SuspendMembership(u8),
    ReactivateMembership(u8),
    DeleteMembership(u8),
    ApproveMembership(u8),
    RejectMembership(u8),
    CreateDelegation { to: u8, from: u8, role: u8, expiry: Option<u8> },
    DeleteDelegation(u8),
    SetMembershipExpiry { membership: u8, expiry: ExpiryPick },
    SetDelegationExpiry { delegation: u8, expiry: ExpiryPick },
    AdvanceClock(u8),
    Invite { account: u8, invitee: u8, roles: Vec<u8>, restriction: Option<Vec<u8>> },
    SetAccountModules { account: u8, modules: u16 },
    SuspendAccount(u8),
    ReactivateAccount(u8),
}

/// A new expiry: none, some ticks after the clock (none: the clock itself, refused), or the
/// current expiry (the clock when none) moved by some ticks, earlier or later.
#[derive(Debug, Clone)]
enum ExpiryPick {
    Never,
    Ahead(u8),
    Shift(i8),
}

fn expiry_pick() -> impl Strategy<Value = ExpiryPick> {
    prop_oneof![
        1 => Just(ExpiryPick::Never),
        2 => any::<u8>().prop_map(ExpiryPick::Ahead),
        2 => (-3i8..=3).prop_map(ExpiryPick::Shift),
    ]
}

/// `k` ticks after `now`, `k` from 0 (refused: not in the future) to 5.
fn ahead(now: Timestamp, k: u8) -> Timestamp {
    ticks(now, i64::from(k % 6))
}

fn pick_expiry(now: Timestamp, current: Option<Timestamp>, pick: &ExpiryPick) -> Option<Timestamp> {
    match pick {
        ExpiryPick::Never => None,
        ExpiryPick::Ahead(k) => Some(ahead(now, *k)),
        ExpiryPick::Shift(n) => Some(ticks(current.unwrap_or(now), i64::from(*n))),
    }
}

/// An expiry for a new grant: mostly none.
fn new_expiry() -> impl Strategy<Value = Option<u8>> {
    prop_oneof![3 => Just(None), 2 => any::<u8>().prop_map(Some)]
}

fn raw_op() -> impl Strategy<Value = RawOp> {
    let i = any::<u8>;
    prop_oneof![
        2 => (i(), 0u8..4, role_grants_spec(), grants_spec(3))
            .prop_map(|(account, name, grants, below)| RawOp::CreateRole { account, name, grants, below }),
        3 => (i(), role_grants_spec(), grants_spec(3)).prop_map(|(role, grants, below)| RawOp::UpdateRole { role, grants, below }),
        1 => i().prop_map(|role| RawOp::DeleteRole { role }),
        5 => (i(), i(), role_picks(), restriction_spec(), new_expiry())
            .prop_map(|(user, account, roles, restriction, expiry)| RawOp::CreateMembership { user, account, roles, restriction, expiry }),
        3 => (i(), role_picks()).prop_map(|(membership, roles)| RawOp::SetMembershipRoles { membership, roles }),
        3 => (i(), i()).prop_map(|(membership, role)| RawOp::AssignRole { membership, role }),
        2 => (i(), i()).prop_map(|(membership, role)| RawOp::UnassignRole { membership, role }),
        3 => (i(), restriction_spec())
            .prop_map(|(membership, restriction)| RawOp::SetResourceRestriction { membership, restriction }),
        2 => i().prop_map(RawOp::SuspendMembership),
        3 => i().prop_map(RawOp::ReactivateMembership),
        1 => i().prop_map(RawOp::DeleteMembership),
        3 => i().prop_map(RawOp::ApproveMembership),
        1 => i().prop_map(RawOp::RejectMembership),
        3 => (i(), i(), i(), new_expiry()).prop_map(|(to, from, role, expiry)| RawOp::CreateDelegation { to, from, role, expiry }),
        1 => i().prop_map(RawOp::DeleteDelegation),
        3 => (i(), expiry_pick()).prop_map(|(membership, expiry)| RawOp::SetMembershipExpiry { membership, expiry }),
        3 => (i(), expiry_pick()).prop_map(|(delegation, expiry)| RawOp::SetDelegationExpiry { delegation, expiry }),
        1 => i().prop_map(RawOp::AdvanceClock),
        4 => (i(), i(), role_picks(), restriction_spec())
            .prop_map(|(account, invitee, roles, restriction)| RawOp::Invite { account, invitee, roles, restriction }),
        1 => (i(), any::<u16>()).prop_map(|(account, modules)| RawOp::SetAccountModules { account, modules }),
        1 => i().prop_map(RawOp::SuspendAccount),
        2 => i().prop_map(RawOp::ReactivateAccount),
    ]
}

fn actor() -> impl Strategy<Value = Actor> {
    prop_oneof![
        1 => Just(Actor::Service),
        2 => any::<u8>().prop_map(Actor::Anyone),
        6 => any::<u8>().prop_map(Actor::Insider),
        2 => any::<u8>().prop_map(Actor::Requester),
    ]
}

/// A sequence of operations by their actors, as picks.
type Steps = Vec<(Actor, RawOp)>;

fn step() -> impl Strategy<Value = (Actor, RawOp)> {
    (actor(), raw_op())
}

fn steps(max: usize) -> impl Strategy<Value = Vec<(Actor, RawOp)>> {
    proptest::collection::vec(step(), 1..=max)
}

/// The account whose insiders act on `op`.
fn account_of(w: &World, op: &Op) -> Option<usize> {
    let of = |m: &MembershipId| w.membership(m).map(|m| m.account);
    match op {
        Op::CreateRole { account, .. }
        | Op::UpdateRole { account, .. }
        | Op::DeleteRole { account, .. }
        | Op::CreateMembership { account, .. }
        | Op::Invite { account, .. } => Some(*account),
        Op::SetMembershipRoles { membership, .. }
        | Op::AssignRole { membership, .. }
        | Op::UnassignRole { membership, .. }
        | Op::SetResourceRestriction { membership, .. }
        | Op::SuspendMembership(membership)
        | Op::ReactivateMembership(membership)
        | Op::DeleteMembership(membership)
        | Op::ApproveMembership(membership)
        | Op::RejectMembership(membership)
        | Op::SetMembershipExpiry { membership, .. } => of(membership),
        Op::CreateDelegation { to, .. } => Some(*to),
        Op::DeleteDelegation(id) | Op::SetDelegationExpiry { delegation: id, .. } => {
            w.delegations.iter().find(|d| d.id == *id).map(|d| d.to)
        }
        Op::AdvanceClock(_) => None,
        Op::SetAccountModules { account, .. } | Op::SuspendAccount(account) | Op::ReactivateAccount(account) => {
            Some(w.accounts[*account].parent.unwrap_or(*account))
        }
    }
}

/// The requester of the membership `op` acts on, if any.
fn requester_of(w: &World, op: &Op) -> Option<usize> {
    match op {
        Op::SetMembershipRoles { membership, .. }
        | Op::AssignRole { membership, .. }
        | Op::UnassignRole { membership, .. }
        | Op::SetResourceRestriction { membership, .. }
        | Op::SuspendMembership(membership)
        | Op::ReactivateMembership(membership)
        | Op::DeleteMembership(membership)
        | Op::ApproveMembership(membership)
        | Op::RejectMembership(membership)
        | Op::SetMembershipExpiry { membership, .. } => w.membership(membership).and_then(|m| m.created_by),
        Op::CreateRole { .. }
        | Op::SetDelegationExpiry { .. }
        | Op::AdvanceClock(_)
        | Op::UpdateRole { .. }
        | Op::DeleteRole { .. }
        | Op::CreateMembership { .. }
        | Op::CreateDelegation { .. }
        | Op::DeleteDelegation(_)
        | Op::Invite { .. }
        | Op::SetAccountModules { .. }
        | Op::SuspendAccount(_)
        | Op::ReactivateAccount(_) => None,
    }
}

/// Users with a membership in `a`'s chain or in the source of a delegation into it.
fn insiders(w: &World, a: usize) -> Vec<usize> {
    let chain = w.chain(a);
    let mut near: BTreeSet<usize> = chain.iter().copied().collect();
    near.extend(w.delegations.iter().filter(|d| chain.contains(&d.to)).map(|d| d.from));
    let users: BTreeSet<usize> = w.memberships.iter().filter(|m| near.contains(&m.account)).map(|m| m.user).collect();
    users.into_iter().collect()
}

/// `raw` against the world: `None` when there is nothing to act on (no custom role to update, …).
fn resolve(w: &World, actor: &Actor, raw: &RawOp) -> Option<(Option<usize>, Op)> {
    let n = w.accounts.len();
    let account = |i: &u8| usize::from(*i) % n;
    let custom: Vec<(usize, RoleName)> =
        w.accounts.iter().enumerate().flat_map(|(a, acc)| acc.roles.keys().map(move |r| (a, r.clone()))).collect();
    let all: Vec<MembershipId> = w.memberships.iter().map(|m| m.id.clone()).collect();
    let with = |status: MembershipStatus, i: &u8| {
        let some: Vec<MembershipId> =
            w.memberships.iter().filter(|m| m.status == status).map(|m| m.id.clone()).collect();
        pick(&some, *i).or_else(|| pick(&all, *i))
    };
    let member = |id: &MembershipId| w.membership(id);
    let insider = |i: &u8, op: &Op| {
        let near = account_of(w, op).map(|a| insiders(w, a)).unwrap_or_default();
        pick(&near, *i).unwrap_or(usize::from(*i) % w.users.len())
    };
    let op = match raw {
        RawOp::CreateRole { account: a, name, grants, below } => Op::CreateRole {
            account: account(a),
            name: RoleName::from_trusted(format!("custom_{name}")),
            grants: grants_of(grants),
            descendant_grants: grants_of(below),
        },
        RawOp::UpdateRole { role, grants, below } => {
            // Mostly a role someone holds, by a membership or a delegation: rewriting it is what
            // changes levels.
            let held: Vec<(usize, RoleName)> = custom
                .iter()
                .filter(|(a, r)| {
                    w.memberships.iter().any(|m| m.account == *a && m.roles.contains(r))
                        || w.delegations.iter().any(|d| d.to == *a && d.role == *r)
                })
                .cloned()
                .collect();
            let (account, name) = if role % 4 == 0 { pick(&custom, *role) } else { pick(&held, *role) }
                .or_else(|| pick(&custom, *role))?;
            Op::UpdateRole { account, name, grants: grants_of(grants), descendant_grants: grants_of(below) }
        }
        RawOp::DeleteRole { role } => {
            let (account, name) = pick(&custom, *role)?;
            Op::DeleteRole { account, name }
        }
        RawOp::CreateMembership { user, account: a, roles, restriction, expiry } => {
            let a = account(a);
            Op::CreateMembership {
                user: usize::from(*user) % w.users.len(),
                account: a,
                roles: roles_of(w, a, roles),
                restriction: restriction_of(w, a, restriction.as_ref()),
                expires_at: expiry.map(|k| ahead(w.now, k)),
            }
        }
        RawOp::SetMembershipRoles { membership, roles } => {
            let id = pick(&all, *membership)?;
            let roles = roles_of(w, member(&id)?.account, roles);
            Op::SetMembershipRoles { membership: id, roles }
        }
        RawOp::AssignRole { membership, role } => {
            let id = pick(&all, *membership)?;
            let role = pick(&w.role_names(member(&id)?.account), *role)?;
            Op::AssignRole { membership: id, role }
        }
        RawOp::UnassignRole { membership, role } => {
            let several: Vec<MembershipId> =
                w.memberships.iter().filter(|m| m.roles.len() > 1).map(|m| m.id.clone()).collect();
            let id = pick(&several, *membership).or_else(|| pick(&all, *membership))?;
            let role = pick(&member(&id)?.roles, *role)?;
            Op::UnassignRole { membership: id, role }
        }
        RawOp::SetResourceRestriction { membership, restriction } => {
            let id = pick(&all, *membership)?;
            let restriction = restriction_of(w, member(&id)?.account, restriction.as_ref());
            Op::SetResourceRestriction { membership: id, restriction }
        }
        RawOp::SuspendMembership(i) => Op::SuspendMembership(with(MembershipStatus::Active, i)?),
        RawOp::ReactivateMembership(i) => Op::ReactivateMembership(with(MembershipStatus::Suspended, i)?),
        RawOp::DeleteMembership(i) => Op::DeleteMembership(pick(&all, *i)?),
        RawOp::ApproveMembership(i) => Op::ApproveMembership(with(MembershipStatus::PendingApproval, i)?),
        RawOp::RejectMembership(i) => Op::RejectMembership(with(MembershipStatus::PendingApproval, i)?),
        RawOp::CreateDelegation { to, from, role, expiry } => {
            let below: Vec<usize> = (0..n).filter(|a| w.accounts[*a].parent.is_some()).collect();
            let to = pick(&below, *to)?;
            Op::CreateDelegation {
                from: pick(&w.strict_ancestors(to), *from)?,
                to,
                role: pick(&w.role_names(to), *role)?,
                expires_at: expiry.map(|k| ahead(w.now, k)),
            }
        }
        RawOp::DeleteDelegation(i) => {
            Op::DeleteDelegation(pick(&w.delegations.iter().map(|d| d.id.clone()).collect::<Vec<_>>(), *i)?)
        }
        RawOp::SetMembershipExpiry { membership, expiry } => {
            // Mostly one that expires: extending it is granting.
            let timed: Vec<MembershipId> =
                w.memberships.iter().filter(|m| m.expires_at.is_some()).map(|m| m.id.clone()).collect();
            let id = if membership % 4 == 0 { pick(&all, *membership) } else { pick(&timed, *membership) }
                .or_else(|| pick(&all, *membership))?;
            let expires_at = pick_expiry(w.now, member(&id)?.expires_at, expiry);
            Op::SetMembershipExpiry { membership: id, expires_at }
        }
        RawOp::SetDelegationExpiry { delegation, expiry } => {
            let timed: Vec<Deleg> = w.delegations.iter().filter(|d| d.expires_at.is_some()).cloned().collect();
            let d = if delegation % 4 == 0 { pick(&w.delegations, *delegation) } else { pick(&timed, *delegation) }
                .or_else(|| pick(&w.delegations, *delegation))?;
            Op::SetDelegationExpiry { delegation: d.id, expires_at: pick_expiry(w.now, d.expires_at, expiry) }
        }
        RawOp::AdvanceClock(k) => Op::AdvanceClock(1 + i64::from(k % 3)),
        RawOp::Invite { account: a, invitee, roles, restriction } => {
            let a = account(a);
            let invitee = usize::from(*invitee) % (w.users.len() + 1);
            Op::Invite {
                account: a,
                invitee: (invitee < w.users.len()).then_some(invitee),
                roles: roles_of(w, a, roles),
                restriction: restriction_of(w, a, restriction.as_ref()),
            }
        }
        RawOp::SetAccountModules { account: a, modules } => Op::SetAccountModules {
            account: account(a),
            modules: MODEL
                .modules
                .iter()
                .enumerate()
                .filter(|(i, _)| modules & (1 << (i % 16)) != 0)
                .map(|(_, m)| m.clone())
                .collect(),
        },
        RawOp::SuspendAccount(a) => Op::SuspendAccount(account(a)),
        RawOp::ReactivateAccount(a) => {
            let suspended: Vec<usize> = (0..n).filter(|a| w.accounts[*a].status == AccountStatus::Suspended).collect();
            Op::ReactivateAccount(pick(&suspended, *a).unwrap_or_else(|| account(a)))
        }
    };
    let actor = match actor {
        // Time passes for everybody.
        _ if matches!(op, Op::AdvanceClock(_)) => None,
        Actor::Service => None,
        Actor::Anyone(i) => Some(usize::from(*i) % w.users.len()),
        Actor::Insider(i) => Some(insider(i, &op)),
        Actor::Requester(i) => Some(requester_of(w, &op).unwrap_or_else(|| insider(i, &op))),
    };
    Some((actor, op))
}

/// Runs a random sequence on a random world, admission weakened by `skip`.
fn run_random(spec: &WorldSpec, steps: &[(Actor, RawOp)], skip: Option<Check>) -> Result<Run, Failure> {
    let mut run = Run::new(build(spec), skip)?;
    for (actor, raw) in steps {
        if let Some((actor, op)) = resolve(&run.world, actor, raw) {
            let _accepted_or_refused = run.step(actor, &op)?;
        }
    }
    Ok(run)
}

// ---------------------------------------------------------------------------------------------
// The properties
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config())]

    /// The model test: every accepted operation keeps the invariants; refusals change nothing.
    #[test]
    fn every_accepted_operation_keeps_the_invariants(spec in world_spec(), steps in steps(MAX_STEPS)) {
        if let Err(failure) = run_random(&spec, &steps, None) {
            return Err(TestCaseError::fail(failure.to_string()));
        }
    }

    /// The reference evaluator is the decision engine with every module enabled, for one user at
    /// every place (a new child and a new folder built as [`Reach::compute`] builds them), after a
    /// few random operations.
    #[test]
    fn the_reference_evaluator_is_the_decision_without_the_module_cap(
        spec in world_spec(),
        steps in steps(8),
        user in any::<u8>(),
    ) {
        let w = run_random(&spec, &steps, None).map_err(|f| TestCaseError::fail(f.to_string()))?.world;
        let user = usize::from(user) % w.users.len();
        let roles = Roles::of(&w);
        for place in places(&w) {
            let expected = reference(&w, &roles, user, &place, Mode::Live, w.now);
            let (resource, loaded) = match &place.folder {
                None => (None, None),
                Some(Folder::Real(r)) => (Some(r.clone()), Some(r)),
                // A new folder: named by no restriction, as the loader reads an unknown grant.
                Some(Folder::New) => (Some(ResourceId::from_trusted("new-folder")), None),
            };
            let (target, mut f) = match place.at {
                At::Account(a) => (w.accounts[a].id.clone(), facts(&w, user, a, loaded)),
                At::Below(a) => {
                    let mut f = facts(&w, user, a, None);
                    let child = AccountFacts {
                        id: AccountId::from_trusted("new-child"),
                        kind: AccountKind::from_trusted("customer"),
                        status: AccountStatus::Active,
                        parent: Some(w.accounts[a].id.clone()),
                        modules: BTreeSet::new(),
                    };
                    f.chain.insert(0, child);
                    (AccountId::from_trusted("new-child"), f)
                }
            };
            if let Some(Folder::New) = place.folder {
                f.resource = Some(ResourceFacts { id: ResourceId::from_trusted("new-folder"), account: target.clone() });
            }
            if let Some(t) = f.chain.first_mut() {
                t.modules = MODEL.catalog.default_modules();
            }
            for (i, feature) in MODEL.features.iter().enumerate() {
                let request = AccessRequest {
                    subject: w.users[user].id.clone(),
                    account: target.clone(),
                    permission: Permission { feature: feature.clone(), level: Level::View },
                    resource: resource.clone(),
                };
                let got = evaluate(&MODEL.catalog, &request, &f, w.now).effective;
                prop_assert_eq!(
                    got, expected[i],
                    "{} on {} {}: evaluate says {}, the reference {}\n{}",
                    w.users[user].id, feature, place.show(&w), got, expected[i], w
                );
            }
        }
    }
}

/// The deterministic random sequences the coverage and weakening tests share.
fn deterministic(count: usize) -> Vec<(WorldSpec, Vec<(Actor, RawOp)>)> {
    let mut runner =
        TestRunner::new_with_rng(ProptestConfig::default(), TestRng::deterministic_rng(RngAlgorithm::ChaCha));
    let strategy = (world_spec(), steps(MAX_STEPS));
    (0..count).map(|_| strategy.new_tree(&mut runner).unwrap().current()).collect()
}

/// The model is not vacuous: over fixed random sequences, every operation is accepted from an
/// actor at least once, and each rule of the rule book refuses something.
#[test]
fn the_model_exercises_every_operation_and_every_rule() {
    let mut accepted: BTreeMap<&str, usize> = BTreeMap::new();
    let mut violations: BTreeMap<&str, usize> = BTreeMap::new();
    let mut refused: BTreeMap<String, usize> = BTreeMap::new();
    let mut by_kind: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    let mut clock_moves = 0;
    for (spec, steps) in deterministic(64) {
        let run = run_random(&spec, &steps, None).unwrap_or_else(|f| panic!("{f}"));
        clock_moves += run.stats.clock_moves;
        for (k, n) in run.stats.violations_by_kind {
            *by_kind.entry(k).or_default() += n;
        }
        for (k, n) in run.stats.accepted {
            *accepted.entry(k).or_default() += n;
        }
        for (k, n) in run.stats.violations {
            *violations.entry(k).or_default() += n;
        }
        for (k, n) in run.stats.refused {
            *refused.entry(k).or_default() += n;
        }
    }
    for kind in Op::KINDS {
        assert!(
            accepted.get(kind).is_some_and(|n| *n > 0),
            "{kind} never accepted from an actor: {accepted:?}, refused: {refused:?}"
        );
    }
    for code in
        ["NO_ESCALATION", "DESCENDANT_LEVELS", "PARTNER_REACH", "FOUR_EYES", "PENDING_FROZEN", "LAST_ADMINISTRATOR"]
    {
        assert!(
            violations.get(code).is_some_and(|n| *n > 0),
            "{code} never refused anything: {violations:?}, refused: {refused:?}"
        );
    }
    // Time: the clock moves, expiries in the past are refused, and extensions beyond the actor's
    // reach (a membership's, a delegation's) are refused as escalations.
    assert!(clock_moves > 0, "the clock never moved");
    assert!(refused.get("INVALID_EXPIRY").is_some_and(|n| *n > 0), "no expiry in the past: {refused:?}");
    for kind in ["SetMembershipExpiry", "SetDelegationExpiry"] {
        assert!(by_kind.get(&(kind, "NO_ESCALATION")).is_some_and(|n| *n > 0), "{kind} never refused: {by_kind:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// The model can fail: weakened admissions on fixed sequences
// ---------------------------------------------------------------------------------------------

fn user(i: usize) -> Option<usize> {
    Some(i)
}

fn role(name: &str) -> RoleName {
    RoleName::from_trusted(name)
}

fn account(w: &World, id: &str) -> usize {
    w.account_index(&AccountId::from_trusted(id)).unwrap()
}

/// Runs `ops` on `world` with `skip` off; the first broken invariant, if any.
fn run_fixed(
    world: &World,
    ops: &[(Option<usize>, Op)],
    skip: Option<Check>,
) -> Result<Vec<Result<(), Refusal>>, Failure> {
    let mut run = Run::new(world.clone(), skip)?;
    ops.iter().map(|(actor, op)| run.step(*actor, op)).collect()
}

/// A world where `cp` has its administrator u0 (client_administrator) and u1, an
/// `administrator` (users:full, but no payment_methods, no folders), and `p` its account manager
/// u2 and delegated administrator u3, delegating into `cp` with client_administrator.
fn fixed_world() -> World {
    let mut w = World::skeleton(true);
    let (p, cp) = (account(&w, "p"), account(&w, "cp"));
    for (u, a, r) in [
        (0, cp, "client_administrator"),
        (1, cp, "administrator"),
        (2, p, "account_manager"),
        (3, p, "delegated_account_administrator"),
    ] {
        create_membership(&mut w, u, a, &[role(r)], None, None);
    }
    let id = DelegationId::from_trusted(w.fresh("d"));
    w.delegations.push(Deleg { id, from: p, to: cp, role: role("client_administrator"), expires_at: None });
    w
}

fn expect_broken(world: &World, ops: &[(Option<usize>, Op)], skip: Check, invariant: &str, refusal: &str) {
    // With the check: refused by the rule book.
    let outcomes = run_fixed(world, ops, None).unwrap_or_else(|f| panic!("{f}"));
    let last = outcomes.last().cloned();
    assert!(matches!(&last, Some(Err(Refusal::Rule(v))) if v.code() == refusal), "expected {refusal}, got {last:?}");
    // Without it: accepted, and the model says which invariant broke.
    let failure = run_fixed(world, ops, Some(skip)).map(|_| ()).expect_err("the weakened admission went unnoticed");
    assert_eq!(failure.broken.invariant, invariant, "{failure}");
}

#[test]
fn skipping_check_grant_is_an_escalation() {
    let w = fixed_world();
    let cp = account(&w, "cp");
    // u1 (administrator: no payment_methods) makes u4 a client administrator (everything full).
    let op = Op::CreateMembership {
        user: 4,
        account: cp,
        roles: vec![role("client_administrator")],
        restriction: None,
        expires_at: None,
    };
    expect_broken(&w, &[(user(1), op)], Check::Grant, NO_ESCALATION, "NO_ESCALATION");
}

#[test]
fn skipping_check_grant_on_a_restriction_is_an_escalation() {
    let w = fixed_world();
    let cp = account(&w, "cp");
    // The service gives u4 a client_user membership restricted to cp-f1 and restricts u0 to
    // cp-f1; u0 then moves u4's restriction to cp-f2, which u0 does not reach.
    let only = |r: &str| Some([ResourceId::from_trusted(r)].into_iter().collect());
    let ops = [
        (
            None,
            Op::CreateMembership {
                user: 4,
                account: cp,
                roles: vec![role("client_user")],
                restriction: only("cp-f1"),
                expires_at: None,
            },
        ),
        (None, Op::SetResourceRestriction { membership: w.memberships[0].id.clone(), restriction: only("cp-f1") }),
        (
            user(0),
            Op::SetResourceRestriction { membership: MembershipId::from_trusted("m6"), restriction: only("cp-f2") },
        ),
    ];
    expect_broken(&w, &ops, Check::Grant, NO_ESCALATION, "NO_ESCALATION");
}

#[test]
fn skipping_check_grant_on_a_resource_cap_is_an_escalation() {
    let w = fixed_world();
    let cp = account(&w, "cp");
    // The service gives u4 a client administrator membership that may only view cp-f1, and caps u0
    // at view
    // on cp-f1; u0 then lifts u4's cap there to full, a level u0 does not hold on that folder.
    let capped = |r: &str, cap: Level| Some([(ResourceId::from_trusted(r), cap)].into_iter().collect());
    let ops = [
        (
            None,
            Op::CreateMembership {
                user: 4,
                account: cp,
                roles: vec![role("client_administrator")],
                restriction: capped("cp-f1", Level::View),
                expires_at: None,
            },
        ),
        (
            None,
            Op::SetResourceRestriction {
                membership: w.memberships[0].id.clone(),
                restriction: capped("cp-f1", Level::View),
            },
        ),
        (
            user(0),
            Op::SetResourceRestriction {
                membership: MembershipId::from_trusted("m6"),
                restriction: capped("cp-f1", Level::Full),
            },
        ),
    ];
    expect_broken(&w, &ops, Check::Grant, NO_ESCALATION, "NO_ESCALATION");
}

#[test]
fn skipping_check_role_definition_is_an_escalation() {
    let w = fixed_world();
    let cp = account(&w, "cp");
    let harmless = Grants::from([(FeatureName::from_trusted("offers"), Level::View)]);
    let strong = Grants::from([(FeatureName::from_trusted("payment_methods"), Level::Full)]);
    // The service creates a harmless role and gives it to u4; u1 rewrites it beyond its reach.
    let ops = [
        (
            None,
            Op::CreateRole { account: cp, name: role("custom_0"), grants: harmless, descendant_grants: Grants::new() },
        ),
        (
            None,
            Op::CreateMembership {
                user: 4,
                account: cp,
                roles: vec![role("custom_0")],
                restriction: None,
                expires_at: None,
            },
        ),
        (
            user(1),
            Op::UpdateRole { account: cp, name: role("custom_0"), grants: strong, descendant_grants: Grants::new() },
        ),
    ];
    expect_broken(&w, &ops, Check::RoleDefinition, NO_ESCALATION, "NO_ESCALATION");
}

#[test]
fn skipping_check_descendant_levels_breaks_partner_reach() {
    let w = fixed_world();
    let p = account(&w, "p");
    let below = Grants::from([(FeatureName::from_trusted("users"), Level::Full)]);
    // Even the service: a partner's custom role carries no descendant level.
    let ops = [(
        None,
        Op::CreateRole { account: p, name: role("custom_0"), grants: Grants::new(), descendant_grants: below },
    )];
    let outcomes = run_fixed(&w, &ops, None).unwrap_or_else(|f| panic!("{f}"));
    assert!(matches!(outcomes.last(), Some(Err(Refusal::Rule(Violation::DescendantLevel { .. })))), "{outcomes:?}");
    // Weakened, the role is created; held by u3, it reaches every customer of the partner.
    let mut held = ops.to_vec();
    held.push((None, Op::AssignRole { membership: w.memberships[3].id.clone(), role: role("custom_0") }));
    let failure = run_fixed(&w, &held, Some(Check::DescendantLevels)).map(|_| ()).expect_err("unnoticed");
    assert_eq!(failure.broken.invariant, PARTNER_REACH, "{failure}");
}

#[test]
fn skipping_check_partner_reach_breaks_partner_reach() {
    let w = fixed_world();
    let cp = account(&w, "cp");
    // u3, a delegated administrator of p acting in cp, gives itself a direct membership of cp.
    let op = Op::CreateMembership {
        user: 3,
        account: cp,
        roles: vec![role("client_user")],
        restriction: None,
        expires_at: None,
    };
    expect_broken(&w, &[(user(3), op)], Check::PartnerReach, PARTNER_REACH, "PARTNER_REACH");
}

#[test]
fn skipping_check_four_eyes_breaks_four_eyes() {
    let mut w = fixed_world();
    let cp = account(&w, "cp");
    w.accounts[cp].requires_approval = true;
    // u0 invites u4 (pending, requested by u0), then approves its own request.
    let ops = [
        (user(0), Op::Invite { account: cp, invitee: Some(4), roles: vec![role("client_user")], restriction: None }),
        (user(0), Op::ApproveMembership(MembershipId::from_trusted("m6"))),
    ];
    expect_broken(&w, &ops, Check::FourEyes, FOUR_EYES, "FOUR_EYES");
}

#[test]
fn skipping_check_pending_frozen_breaks_four_eyes() {
    let mut w = fixed_world();
    let cp = account(&w, "cp");
    w.accounts[cp].requires_approval = true;
    // u0 asks for u4 as a client user, then changes the pending request.
    let ops = [
        (user(0), Op::Invite { account: cp, invitee: Some(4), roles: vec![role("client_user")], restriction: None }),
        (user(0), Op::AssignRole { membership: MembershipId::from_trusted("m6"), role: role("user") }),
    ];
    expect_broken(&w, &ops, Check::PendingFrozen, FOUR_EYES, "PENDING_FROZEN");
}

#[test]
fn skipping_the_last_administrator_guard_breaks_it() {
    let w = fixed_world();
    // cp's administrators are u0 and u1: u0 removes u1, then u0 removes itself.
    let ops = [
        (user(0), Op::DeleteMembership(w.memberships[1].id.clone())),
        (user(0), Op::DeleteMembership(w.memberships[0].id.clone())),
    ];
    expect_broken(&w, &ops, Check::LastAdministrator, LAST_ADMINISTRATOR, "LAST_ADMINISTRATOR");
}

/// u0's membership in cp ends in two ticks (the service sets it); u0 then makes u4 a client user
/// of cp for good, and extends u5's membership (ending in one tick) for good: each outlives u0's
/// own access.
#[test]
fn skipping_check_expiry_lets_a_grant_outlive_the_actor() {
    let mut w = fixed_world();
    let cp = account(&w, "cp");
    create_membership(&mut w, 5, cp, &[role("client_user")], None, None);
    let soon = |n| Some(ticks(MODEL_NOW, n));
    let ends = |id: &MembershipId, n| (None, Op::SetMembershipExpiry { membership: id.clone(), expires_at: soon(n) });
    let (u0, u5) = (w.memberships[0].id.clone(), w.memberships[4].id.clone());
    let grant = Op::CreateMembership {
        user: 4,
        account: cp,
        roles: vec![role("client_user")],
        restriction: None,
        expires_at: None,
    };
    expect_broken(&w, &[ends(&u0, 2), (user(0), grant)], Check::Expiry, NO_ESCALATION, "NO_ESCALATION");
    let extend = Op::SetMembershipExpiry { membership: u5.clone(), expires_at: None };
    expect_broken(&w, &[ends(&u0, 2), ends(&u5, 1), (user(0), extend)], Check::Expiry, NO_ESCALATION, "NO_ESCALATION");
    // Within u0's own reach (until its access ends), the same extension is accepted.
    let within = Op::SetMembershipExpiry { membership: u5, expires_at: soon(2) };
    let outcomes = run_fixed(&w, &[ends(&u0, 2), ends(&w.memberships[4].id, 1), (user(0), within)], None)
        .unwrap_or_else(|f| panic!("{f}"));
    assert!(matches!(outcomes.as_slice(), [Ok(()), Ok(()), Ok(())]), "{outcomes:?}");
}

/// p's delegation into cp ends in two ticks; u3, p's delegated administrator acting in cp through
/// it, extends it for good: without the delegation itself, u3 reaches nothing in cp.
#[test]
fn skipping_check_expiry_lets_a_partner_extend_its_own_delegation() {
    let w = fixed_world();
    let d = w.delegations[0].id.clone();
    let ops = [
        (None, Op::SetDelegationExpiry { delegation: d.clone(), expires_at: Some(ticks(MODEL_NOW, 2)) }),
        (user(3), Op::SetDelegationExpiry { delegation: d.clone(), expires_at: None }),
    ];
    expect_broken(&w, &ops, Check::Expiry, NO_ESCALATION, "NO_ESCALATION");
    // Shortening it is ending access sooner: either side may.
    let shorten =
        [ops[0].clone(), (user(3), Op::SetDelegationExpiry { delegation: d, expires_at: Some(ticks(MODEL_NOW, 1)) })];
    let outcomes = run_fixed(&w, &shorten, None).unwrap_or_else(|f| panic!("{f}"));
    assert!(matches!(outcomes.as_slice(), [Ok(()), Ok(())]), "{outcomes:?}");
}

/// Extending an expiry is granting to the membership's user: a direct membership of a partner's
/// member (here u2, account manager of p, given a client user membership of cp ending in one tick
/// by the service) is refused for partner reach when cp's administrator extends it, as
/// reactivating it is. Without the check, u2 would hold in cp, through a membership of cp, what
/// survives the end of every delegation.
#[test]
fn skipping_check_partner_reach_on_an_extension_breaks_partner_reach() {
    let w = fixed_world();
    let cp = account(&w, "cp");
    let given = Op::CreateMembership {
        user: 2,
        account: cp,
        roles: vec![role("client_user")],
        restriction: None,
        expires_at: Some(ticks(MODEL_NOW, 1)),
    };
    let m6 = MembershipId::from_trusted("m6");
    for expires_at in [None, Some(ticks(MODEL_NOW, 2))] {
        let extend = Op::SetMembershipExpiry { membership: m6.clone(), expires_at };
        let ops = [(None, given.clone()), (user(0), extend)];
        expect_broken(&w, &ops, Check::PartnerReach, PARTNER_REACH, "PARTNER_REACH");
    }
    // Shortening it only takes access away: allowed.
    let outcomes = run_fixed(
        &w,
        &[
            (None, given.clone()),
            (
                user(0),
                Op::SetMembershipExpiry {
                    membership: m6.clone(),
                    expires_at: Some(Timestamp::from_millis(MODEL_NOW.as_millis() + TICK / 2)),
                },
            ),
        ],
        None,
    )
    .unwrap_or_else(|f| panic!("{f}"));
    assert!(matches!(outcomes.as_slice(), [Ok(()), Ok(())]), "{outcomes:?}");
    // Reactivating it is refused alike.
    let suspend = Op::SuspendMembership(m6.clone());
    let reactivate = Op::ReactivateMembership(m6);
    let outcomes =
        run_fixed(&w, &[(None, given), (None, suspend), (user(0), reactivate)], None).unwrap_or_else(|f| panic!("{f}"));
    assert!(matches!(outcomes.last(), Some(Err(Refusal::Rule(Violation::PartnerReach { .. })))), "{outcomes:?}");
}

/// `lengthens`, the model's reading of "extending", is the rule book's [`expiry_extends`].
#[test]
fn the_model_extends_an_expiry_as_the_rule_book_does() {
    let instants = [None, Some(ticks(MODEL_NOW, -1)), Some(MODEL_NOW), Some(ticks(MODEL_NOW, 1))];
    for current in instants {
        for new in instants {
            assert_eq!(lengthens(current, new), expiry_extends(current, new), "{current:?} -> {new:?}");
        }
    }
}

/// Random search alone finds what each weakened admission lets through, within a few fixed
/// sequences.
#[test]
fn random_sequences_find_what_a_weakened_admission_lets_through() {
    let sequences = deterministic(128);
    for (skip, invariant) in [
        (Check::Grant, NO_ESCALATION),
        (Check::RoleDefinition, NO_ESCALATION),
        (Check::DescendantLevels, PARTNER_REACH),
        (Check::PartnerReach, PARTNER_REACH),
        (Check::FourEyes, FOUR_EYES),
        (Check::PendingFrozen, FOUR_EYES),
        (Check::LastAdministrator, LAST_ADMINISTRATOR),
        (Check::Expiry, NO_ESCALATION),
    ] {
        let found = sequences
            .iter()
            .find_map(|(spec, steps)| run_random(spec, steps, Some(skip)).err())
            .unwrap_or_else(|| panic!("{skip:?} off: no sequence broke an invariant"));
        assert_eq!(found.broken.invariant, invariant, "{skip:?}: {found}");
    }
}

/// Found by the model: `delegated_administration` reached through a delegation (or from an
/// ancestor) acts through nothing — only members of an account use the account's delegations —
/// so a partner acting in a sub-partner through a delegation handed out, with the sub-partner's
/// account manager role, the sub-partner's delegations into its customers, which it does not
/// reach itself.
#[test]
fn delegated_administration_is_reached_only_as_a_member() {
    let mut w = World::skeleton(true);
    let (p, s, cs) = (account(&w, "p"), account(&w, "s"), account(&w, "cs"));
    create_membership(&mut w, 2, p, &[role("account_manager")], None, None);
    create_membership(&mut w, 3, cs, &[role("client_administrator")], None, None);
    for (from, to, r) in [(p, s, "account_manager"), (s, cs, "client_administrator")] {
        let id = DelegationId::from_trusted(w.fresh("d"));
        w.delegations.push(Deleg { id, from, to, role: role(r), expires_at: None });
    }
    let invite = |by: usize, invitee: usize| {
        (
            user(by),
            Op::Invite { account: s, invitee: Some(invitee), roles: vec![role("account_manager")], restriction: None },
        )
    };
    // u2 acts in s through the delegation: it may not make u4 a delegated administrator of s.
    let outcomes = run_fixed(&w, &[invite(2, 4)], None).unwrap_or_else(|f| panic!("{f}"));
    assert!(
        matches!(outcomes.as_slice(), [Err(Refusal::Rule(Violation::Escalation { feature, .. }))] if feature.as_str() == "delegated_administration"),
        "{outcomes:?}"
    );
    // Without the rule, u4 would act in cs through s's delegation, where u2 reaches nothing.
    let failure = run_fixed(&w, &[invite(2, 4)], Some(Check::Grant)).map(|_| ()).expect_err("unnoticed");
    assert_eq!(failure.broken.invariant, NO_ESCALATION, "{failure}");
    // A member of s holding it directly hands it out: u4 then reaches in cs what u5 reaches.
    create_membership(&mut w, 5, s, &[role("account_manager")], None, None);
    let outcomes = run_fixed(&w, &[invite(5, 4)], None).unwrap_or_else(|f| panic!("{f}"));
    assert!(matches!(outcomes.as_slice(), [Ok(())]), "{outcomes:?}");
}

// ---------------------------------------------------------------------------------------------
// Access requests (issue 18, item 2): approving applies a suggestion through the calls that make
// its changes; each call is admitted by this model's own admission, so approving never yields
// access the approver could not have granted directly.
// ---------------------------------------------------------------------------------------------

mod access_requests {
    use super::*;
    use crate::access_request::{approvers, first_suggestion_for};
    use crate::suggest::{AccountView, Candidate, Change, Via, suggest};

    /// What suggestions read about account `a` for a request of `subject`, built from the world
    /// as the store's `load_suggestion_facts` builds it: the account's roles, its approval
    /// setting, the subject's requesters and accounts, and as candidates the active members of
    /// `a` then those of the accounts delegating into it.
    fn view(w: &World, subject: usize, a: usize, resource: Option<&ResourceId>) -> AccountView {
        let roles = w.role_names(a).iter().filter_map(|n| w.role(a, n).cloned()).collect();
        let requesters = w
            .memberships
            .iter()
            .filter(|m| m.user == subject && m.account == a)
            .filter_map(|m| Some((m.id.clone(), w.users[m.created_by?].id.clone())))
            .collect();
        let subject_accounts = w.accounts_of(subject).into_iter().map(|x| w.accounts[x].id.clone()).collect();
        let mut on: BTreeSet<ResourceId> = resource.into_iter().cloned().collect();
        for m in w.memberships.iter().filter(|m| m.user == subject && m.account == a) {
            on.extend(m.restriction.iter().flat_map(Restriction::ids).cloned());
        }
        let candidate = |user: usize, via: Via| Candidate {
            user: w.users[user].id.clone(),
            via,
            in_accounts: w.chain(a).into_iter().map(|x| (w.accounts[x].id.clone(), facts(w, user, x, None))).collect(),
            on_resources: on.iter().map(|r| (r.clone(), facts(w, user, a, Some(r)))).collect(),
        };
        let mut candidates = Vec::new();
        let mut own: Vec<usize> = w
            .memberships
            .iter()
            .filter(|m| m.account == a && m.status == MembershipStatus::Active)
            .map(|m| m.user)
            .collect();
        own.sort_unstable();
        own.dedup();
        candidates.extend(own.iter().map(|&u| candidate(u, Via::Member)));
        for d in w.delegations.iter().filter(|d| d.to == a) {
            let mut from: Vec<usize> = w
                .memberships
                .iter()
                .filter(|m| m.account == d.from && m.status == MembershipStatus::Active && !own.contains(&m.user))
                .map(|m| m.user)
                .collect();
            from.sort_unstable();
            from.dedup();
            candidates.extend(from.into_iter().map(|u| candidate(u, Via::Delegation(d.id.clone()))));
        }
        AccountView {
            roles,
            requires_approval: w.accounts[a].requires_approval,
            requesters,
            subject_accounts,
            candidates,
            candidates_truncated: false,
        }
    }

    /// The model's operation for a suggested change (`None`: a change the model does not make,
    /// reactivating a user).
    fn op_of(w: &World, change: &Change) -> Option<Op> {
        let idx = |id: &AccountId| w.account_index(id);
        Some(match change {
            Change::ReactivateUser { .. } => return None,
            Change::ReactivateAccount { account } => Op::ReactivateAccount(idx(account)?),
            Change::EnableModule { account, feature } => {
                let a = idx(account)?;
                let mut modules = w.accounts[a].modules.clone();
                modules.insert(feature.clone());
                Op::SetAccountModules { account: a, modules }
            }
            Change::ApproveMembership { membership } => Op::ApproveMembership(membership.clone()),
            Change::ReactivateMembership { membership } => Op::ReactivateMembership(membership.clone()),
            Change::AssignRole { membership, role } => {
                Op::AssignRole { membership: membership.clone(), role: role.clone() }
            }
            Change::ExtendRestriction { membership, resource, level } => {
                let mut r = w.membership(membership)?.restriction.clone().unwrap_or_default();
                r.insert(resource.clone(), *level);
                Op::SetResourceRestriction { membership: membership.clone(), restriction: Some(r) }
            }
            Change::CreateDelegation { from, to, role } => {
                Op::CreateDelegation { from: idx(from)?, to: idx(to)?, role: role.clone(), expires_at: None }
            }
        })
    }

    const ASKED: [&str; 6] =
        ["folders:view", "folders:full", "billing:view", "users:full", "invoices:view", "hosting:full"];

    proptest! {
        #![proptest_config(config())]

        /// For a random request in a random world: the approvers never include the requester, and
        /// every approver's suggestion, applied change by change *as that approver*, is admitted by
        /// the model's admission (the requirement of each call, no escalation, partner reach,
        /// four-eyes), keeps every invariant, and grants the request.
        #[test]
        fn approving_a_request_never_grants_what_the_approver_could_not_grant(
            spec in world_spec(),
            subject in 0..USERS,
            account in 0..SKELETON.len(),
            asked in 0..ASKED.len(),
            on_folder in proptest::option::of(0..2usize),
        ) {
            let w = build(&spec);
            let resource = on_folder.and_then(|i| w.accounts[account].resources.get(i).cloned());
            let request = AccessRequest {
                subject: w.users[subject].id.clone(),
                account: w.accounts[account].id.clone(),
                permission: Permission::parse(ASKED[asked]).unwrap_or_else(|e| panic!("{e}")),
                resource: resource.clone(),
            };
            let f = facts(&w, subject, account, resource.as_ref());
            let v = view(&w, subject, account, resource.as_ref());
            let suggestions = suggest(&MODEL.catalog, &request, &f, &v, MODEL_NOW);
            let names = approvers(&MODEL.catalog, &request, &f, &v, &suggestions, MODEL_NOW);
            prop_assert!(!names.contains(&request.subject), "the requester approves: {names:?}");
            for approver in &names {
                let Some(index) =
                    first_suggestion_for(&MODEL.catalog, &request, &f, &v, &suggestions, approver, MODEL_NOW)
                else {
                    return Err(TestCaseError::fail(format!("{approver} is named but may make no suggestion")));
                };
                let Some(x) = w.users.iter().position(|u| u.id == *approver) else { continue };
                let mut run = match Run::new(w.clone(), None) {
                    Ok(run) => run,
                    Err(failure) => return Err(TestCaseError::fail(failure.to_string())),
                };
                let mut applied = true;
                for step in &suggestions[index].steps {
                    let Some(op) = op_of(&run.world, &step.change) else { applied = false; break };
                    match run.step(Some(x), &op) {
                        Ok(Ok(())) => {}
                        // What the store refuses whoever asks (a delegation that already
                        // exists between the two accounts): the approval fails, nothing is
                        // granted.
                        Ok(Err(Refusal::Store(_))) => {
                            applied = false;
                            break;
                        }
                        Ok(Err(refusal)) => {
                            return Err(TestCaseError::fail(format!(
                                "{approver} approves {request:?} with {:?}, but the rule book refuses it ({refusal}) in\n{w}",
                                step.change
                            )));
                        }
                        Err(failure) => return Err(TestCaseError::fail(failure.to_string())),
                    }
                }
                if applied {
                    let after = facts(&run.world, subject, account, resource.as_ref());
                    let d = evaluate(&MODEL.catalog, &request, &after, MODEL_NOW);
                    prop_assert!(d.allowed, "{approver}'s approval does not grant {request:?}: {:?}", d.reason);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Simulations (SimulateChanges): the preview's answer per operation is the model's admission
// applied in sequence, and the effect it reports is the difference of the reference evaluator.
// ---------------------------------------------------------------------------------------------

mod simulations {
    use super::*;
    use crate::catalog::USERS_FEATURE;
    use crate::model::{NewDelegation, RoleDefinition};
    use crate::simulate::{Denial, SimOp, Snapshot, SnapshotAccount, SnapshotDelegation, SnapshotMembership, simulate};

    /// The world as the server's snapshot holds it.
    fn snapshot(w: &World) -> Snapshot {
        let id = |a: usize| w.accounts[a].id.clone();
        Snapshot {
            accounts: w
                .accounts
                .iter()
                .map(|acc| {
                    let facts = AccountFacts {
                        id: acc.id.clone(),
                        kind: acc.kind.clone(),
                        status: acc.status,
                        parent: acc.parent.map(id),
                        modules: acc.modules.clone(),
                    };
                    (acc.id.clone(), SnapshotAccount { facts, custom_roles: acc.roles.values().cloned().collect() })
                })
                .collect(),
            users: w.users.iter().map(|u| (u.id.clone(), u.status)).collect(),
            memberships: w
                .memberships
                .iter()
                .map(|m| {
                    let snapshot = SnapshotMembership {
                        user: w.users[m.user].id.clone(),
                        account: id(m.account),
                        status: m.status,
                        roles: m.roles.clone(),
                        restriction: m.restriction.clone(),
                        expires_at: m.expires_at,
                        requester: m.created_by.map(|u| w.users[u].id.clone()),
                    };
                    (m.id.clone(), snapshot)
                })
                .collect(),
            delegations: w
                .delegations
                .iter()
                .map(|d| {
                    let snapshot = SnapshotDelegation {
                        from: id(d.from),
                        to: id(d.to),
                        role: d.role.clone(),
                        expires_at: d.expires_at,
                    };
                    (d.id.clone(), snapshot)
                })
                .collect(),
            resources: w
                .accounts
                .iter()
                .flat_map(|acc| acc.resources.iter().map(|r| (r.clone(), acc.id.clone())))
                .collect(),
        }
    }

    /// The preview's operation for `op` (`None`: one SimulateChanges does not preview). A new
    /// delegation is named with the id the model gives it.
    fn sim_op(w: &World, op: &Op) -> Option<SimOp> {
        let id = |a: &usize| w.accounts[*a].id.clone();
        Some(match op {
            Op::UpdateRole { account, name, grants, descendant_grants } => SimOp::UpdateRole(RoleDefinition {
                account: id(account),
                name: name.clone(),
                display_name: String::new(),
                description: String::new(),
                grants: grants.clone(),
                descendant_grants: descendant_grants.clone(),
            }),
            Op::SetMembershipRoles { membership, roles } => {
                SimOp::SetMembershipRoles { membership: membership.clone(), roles: roles.clone() }
            }
            Op::AssignRole { membership, role } => {
                SimOp::AssignRole { membership: membership.clone(), role: role.clone() }
            }
            Op::UnassignRole { membership, role } => {
                SimOp::UnassignRole { membership: membership.clone(), role: role.clone() }
            }
            Op::SetResourceRestriction { membership, restriction } => {
                SimOp::SetResourceRestriction { membership: membership.clone(), restriction: restriction.clone() }
            }
            Op::SuspendMembership(m) => {
                SimOp::SetMembershipStatus { membership: m.clone(), status: MembershipStatus::Suspended }
            }
            Op::ReactivateMembership(m) => {
                SimOp::SetMembershipStatus { membership: m.clone(), status: MembershipStatus::Active }
            }
            Op::SetAccountModules { account, modules } => {
                SimOp::SetAccountModules { account: id(account), modules: modules.clone() }
            }
            Op::SuspendAccount(a) => SimOp::SetAccountStatus { account: id(a), status: AccountStatus::Suspended },
            Op::ReactivateAccount(a) => SimOp::SetAccountStatus { account: id(a), status: AccountStatus::Active },
            Op::CreateDelegation { from, to, role, expires_at } => SimOp::CreateDelegation(NewDelegation {
                id: Some(DelegationId::from_trusted(format!("d{}", w.next_id + 1))),
                from_account: id(from),
                to_account: id(to),
                role: role.clone(),
                expires_at: *expires_at,
            }),
            Op::DeleteDelegation(d) => SimOp::DeleteDelegation(d.clone()),
            Op::CreateRole { .. }
            | Op::DeleteRole { .. }
            | Op::CreateMembership { .. }
            | Op::DeleteMembership(_)
            | Op::ApproveMembership(_)
            | Op::RejectMembership(_)
            | Op::Invite { .. }
            | Op::SetMembershipExpiry { .. }
            | Op::SetDelegationExpiry { .. }
            | Op::AdvanceClock(_) => return None,
        })
    }

    /// An answer, as both sides can say it.
    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Answer {
        Admitted,
        /// The requirement is not met (or the account is out of reach, answered as unknown).
        Requirement,
        /// An invariant of the rule book, exactly.
        Rule(Violation),
        /// What the store refuses in its write, by kind.
        Store(String),
    }

    /// The model's answer in the order an RPC checks: the records named exist, the requirement,
    /// the invariants, the store's preconditions, the last administrator counted in the write.
    /// Whether it is a refusal is [`admit`]'s answer (asserted by the property).
    fn model_answer(w: &World, actor: Option<usize>, op: &Op) -> Answer {
        let refusal = requirement(w, actor, op, None)
            .and_then(|()| invariants(w, actor, op, None))
            .and_then(|()| store_preconditions(w, op))
            .and_then(|()| last_administrator(w, actor, op, None));
        match refusal {
            Ok(()) => Answer::Admitted,
            Err(Refusal::Requirement(_)) => Answer::Requirement,
            Err(Refusal::Rule(Violation::LastAdministrator { .. })) => Answer::Store("LAST_ADMINISTRATOR".to_owned()),
            Err(Refusal::Rule(v)) => Answer::Rule(v),
            Err(Refusal::Store(kind)) => Answer::Store(kind.to_owned()),
        }
    }

    fn sim_answer(outcome: &Result<(), Denial>) -> Answer {
        match outcome {
            Ok(()) => Answer::Admitted,
            Err(Denial::Refused(_) | Denial::NotFound { entity: "account", .. }) => Answer::Requirement,
            Err(Denial::Violation { violation, .. }) => Answer::Rule(violation.clone()),
            Err(Denial::Precondition { kind, .. }) => Answer::Store((*kind).to_owned()),
            Err(Denial::NotFound { .. }) => Answer::Store("NOT_FOUND".to_owned()),
            Err(Denial::AlreadyExists { .. }) => Answer::Store("ALREADY_EXISTS".to_owned()),
            Err(Denial::Invalid(v)) => Answer::Store(format!("INVALID {v:?}")),
        }
    }

    /// Found by the property, and fixed: the preview refuses what the store refuses in its
    /// write — suspending a pending membership (which it applied before, so that a reactivation
    /// later in the list was previewed as giving access), unassigning the last role, suspending a
    /// suspended account — with the store's kind; and it reports a restriction moved from one
    /// folder to another, which it skipped (at large a restriction reads alike).
    #[test]
    fn the_preview_refuses_what_the_store_refuses_and_reports_a_moved_restriction() {
        let mut w = fixed_world();
        let (cp, d) = (account(&w, "cp"), account(&w, "d"));
        let only = |r: &str| Some([ResourceId::from_trusted(r)].into_iter().collect::<Restriction>());
        create_membership(&mut w, 4, cp, &[role("client_user")], only("cp-f1"), None);
        create_membership(&mut w, 5, cp, &[role("client_user")], None, None);
        w.memberships[5].status = MembershipStatus::PendingApproval;
        w.accounts[d].status = AccountStatus::Suspended;
        let (u4, u5) = (w.memberships[4].id.clone(), w.memberships[5].id.clone());
        let ops = [
            Op::SuspendMembership(u5.clone()),
            Op::ReactivateMembership(u5),
            Op::UnassignRole { membership: u4.clone(), role: role("client_user") },
            Op::SuspendAccount(d),
        ];
        let sims: Vec<SimOp> = ops.iter().filter_map(|op| sim_op(&w, op)).collect();
        let preview = simulate(&MODEL.catalog, &snapshot(&w), None, &sims, usize::MAX, w.now).unwrap();
        let kinds = ["MEMBERSHIP_PENDING", "MEMBERSHIP_PENDING", "LAST_ROLE", "ALREADY_SUSPENDED"];
        for ((op, outcome), kind) in ops.iter().zip(&preview.outcomes).zip(kinds) {
            assert_eq!(store_preconditions(&w, op), Err(Refusal::Store(kind)), "{}", op.show(&w));
            assert_eq!(sim_answer(outcome), Answer::Store(kind.to_owned()), "{}", op.show(&w));
        }
        assert!(preview.effects.is_empty(), "{:?}", preview.effects);
        // u4 moves from cp-f1 to cp-f2: u4 loses cp-f1 and gains cp-f2, as the reference sees it.
        let moved = Op::SetResourceRestriction { membership: u4, restriction: only("cp-f2") };
        let sims = [sim_op(&w, &moved).unwrap()];
        let preview = simulate(&MODEL.catalog, &snapshot(&w), None, &sims, usize::MAX, w.now).unwrap();
        assert_eq!(preview.outcomes, [Ok(())]);
        let mut after = w.clone();
        apply(&mut after, None, &moved);
        let reported: BTreeSet<Change> = preview
            .effects
            .iter()
            .flat_map(|e| {
                e.changes
                    .iter()
                    .map(|c| (e.user.clone(), e.account.clone(), c.feature.clone(), c.resource.clone(), c.from, c.to))
            })
            .collect();
        let reference = model_effects(&w, &after, None);
        let folders: BTreeSet<Option<ResourceId>> = reference.iter().map(|c| c.3.clone()).collect();
        let moved_between: BTreeSet<Option<ResourceId>> =
            ["cp-f1", "cp-f2"].into_iter().map(|r| Some(ResourceId::from_trusted(r))).collect();
        assert_eq!(folders, moved_between);
        assert_eq!(reported, reference);
    }

    /// A level that changes: user, account, feature, folder (`None`: at large), from, to.
    type Change = (UserId, AccountId, FeatureName, Option<ResourceId>, Level, Level);

    /// The reference's effective level of `user` in account `a` (on `folder`) at the clock: its
    /// levels, live, under the account's module cap.
    fn effective(w: &World, roles: &Roles, user: usize, a: usize, folder: Option<&ResourceId>) -> Levels {
        let place = Place {
            at: At::Account(a),
            folder: folder.map(|r| Folder::Real(r.clone())),
            target: Some(a),
            ancestors: w.strict_ancestors(a),
        };
        let mut out = reference(w, roles, user, &place, Mode::Live, w.now);
        for (f, feature) in MODEL.features.iter().enumerate() {
            if MODEL.modules.contains(feature) && !w.accounts[a].modules.contains(feature) {
                out[f] = Level::None;
            }
        }
        out
    }

    /// What differs for every member (before or after) in every account, at large and on each
    /// folder, between `before` and `after` — on an actor's authority, in the accounts where the
    /// actor views users before only.
    fn model_effects(before: &World, after: &World, actor: Option<usize>) -> BTreeSet<Change> {
        let (rb, ra) = (Roles::of(before), Roles::of(after));
        let users: BTreeSet<usize> = before.memberships.iter().chain(&after.memberships).map(|m| m.user).collect();
        let users_feature = MODEL.index[USERS_FEATURE];
        let mut out = BTreeSet::new();
        for a in 0..after.accounts.len() {
            if let Some(x) = actor
                && effective(before, &rb, x, a, None)[users_feature] < Level::View
            {
                continue;
            }
            let folders = std::iter::once(None).chain(after.accounts[a].resources.iter().map(Some));
            for folder in folders {
                for &u in &users {
                    let (lb, la) = (effective(before, &rb, u, a, folder), effective(after, &ra, u, a, folder));
                    for (f, feature) in MODEL.features.iter().enumerate().filter(|(f, _)| lb[*f] != la[*f]) {
                        let (user, account) = (after.users[u].id.clone(), after.accounts[a].id.clone());
                        out.insert((user, account, feature.clone(), folder.cloned(), lb[f], la[f]));
                    }
                }
            }
        }
        out
    }

    /// What a preview answered, for the test that checks the property is not vacuous.
    #[derive(Debug, Default)]
    struct Previewed {
        /// Answers by kind (`Admitted` by an actor apart), with their count.
        answers: BTreeMap<String, usize>,
        /// Level changes reported.
        changes: usize,
    }

    /// Fixed sequences, each previewed by an actor of every kind in turn.
    fn with_actors(sequences: Vec<(WorldSpec, Steps)>) -> Vec<(WorldSpec, Actor, Steps)> {
        let who = |i: usize| {
            let pick = u8::try_from(i % 256).unwrap_or(0);
            match i % 4 {
                0 => Actor::Service,
                1 => Actor::Anyone(pick),
                2 => Actor::Insider(pick),
                _ => Actor::Requester(pick),
            }
        };
        sequences.into_iter().enumerate().map(|(i, (spec, steps))| (spec, who(i), steps)).collect()
    }

    /// A change of the snapshot the preview reads.
    type Tamper = fn(&mut Snapshot);

    /// The property's one case (see its docs), the preview reading the snapshot as `tamper` leaves
    /// it (only the test proving the property can fail changes it).
    fn preview(
        spec: &WorldSpec,
        who: &Actor,
        steps: &[(Actor, RawOp)],
        tamper: Tamper,
    ) -> Result<Previewed, TestCaseError> {
        let initial = build(spec);
        let mut w = initial.clone();
        let mut actor: Option<Option<usize>> = None;
        let (mut ops, mut expected, mut shown) = (Vec::new(), Vec::new(), String::new());
        for (_, raw) in steps {
            // The actor as `who` names it for the first operation previewed, then the same.
            let Some((x, op)) = resolve(&w, who, raw) else { continue };
            let Some(sim) = sim_op(&w, &op) else { continue };
            if let Err(Refusal::Store("INVALID_EXPIRY")) = store_preconditions(&w, &op) {
                continue;
            }
            let x = *actor.get_or_insert(x);
            let answer = model_answer(&w, x, &op);
            let admitted = admit(&w, x, &op);
            prop_assert_eq!(
                answer == Answer::Admitted,
                admitted.is_ok(),
                "{} {:?}: {:?}",
                op.show(&w),
                answer,
                admitted
            );
            let _ = writeln!(shown, "  {}: {answer:?}", op.show(&w));
            if admitted.is_ok() {
                apply(&mut w, x, &op);
            }
            ops.push(sim);
            expected.push(answer);
        }
        let actor = actor.flatten();
        let actor_id = actor.map(|x| initial.users[x].id.clone());
        let mut read = snapshot(&initial);
        tamper(&mut read);
        let preview = simulate(&MODEL.catalog, &read, actor_id.as_ref(), &ops, usize::MAX, initial.now)
            .map_err(|(i, v)| TestCaseError::fail(format!("operation {i} invalid: {v:?}\n{shown}")))?;
        let answers: Vec<Answer> = preview.outcomes.iter().map(sim_answer).collect();
        prop_assert_eq!(&answers, &expected, "by {:?} in\n{}operations:\n{}", actor_id, initial, shown);
        let reported: BTreeSet<Change> = preview
            .effects
            .iter()
            .flat_map(|e| {
                e.changes
                    .iter()
                    .map(|c| (e.user.clone(), e.account.clone(), c.feature.clone(), c.resource.clone(), c.from, c.to))
            })
            .collect();
        let reference = model_effects(&initial, &w, actor);
        prop_assert_eq!(preview.total, preview.effects.len());
        prop_assert!(!preview.truncated);
        prop_assert_eq!(
            &reported,
            &reference,
            "by {:?}: reported only {:?}, the reference only {:?}, in\n{}operations:\n{}",
            actor_id,
            reported.difference(&reference).collect::<Vec<_>>(),
            reference.difference(&reported).collect::<Vec<_>>(),
            initial,
            shown
        );
        let mut previewed = Previewed { changes: reported.len(), ..Previewed::default() };
        for answer in &expected {
            let kind = match answer {
                Answer::Admitted if actor.is_some() => "admitted from an actor".to_owned(),
                Answer::Admitted => "admitted from the service".to_owned(),
                Answer::Requirement => "requirement".to_owned(),
                Answer::Rule(v) => v.code().to_owned(),
                Answer::Store(kind) => kind.clone(),
            };
            *previewed.answers.entry(kind).or_default() += 1;
        }
        Ok(previewed)
    }

    proptest! {
        #![proptest_config(config())]

        /// For a random world and a random list of operations by one actor (or the service):
        /// [`simulate`]'s answer per operation is the model's, each operation admitted by the
        /// model on the world the admitted ones before it produced, and the effect it reports is
        /// exactly what the reference evaluator tells apart before and after the admitted ones.
        /// Left out of the lists: expiries in the past (invalid input, which stops the whole
        /// preview).
        #[test]
        fn the_preview_answers_as_the_model_and_reports_the_references_difference(
            spec in world_spec(),
            who in actor(),
            steps in steps(12),
        ) {
            preview(&spec, &who, &steps, |_| {})?;
        }
    }

    /// The property can fail: a preview that reads one fact wrong (the expiry of delegations or
    /// memberships, a custom role's levels) is caught within a few lists.
    #[test]
    fn the_preview_property_notices_a_preview_that_reads_a_fact_wrong() {
        let sequences = with_actors(deterministic(64));
        let tampers: [(&str, Tamper); 3] = [
            ("delegations never expire", |s| s.delegations.values_mut().for_each(|d| d.expires_at = None)),
            ("memberships never expire", |s| s.memberships.values_mut().for_each(|m| m.expires_at = None)),
            ("custom roles give nothing", |s| {
                for a in s.accounts.values_mut() {
                    a.custom_roles.iter_mut().for_each(|r| r.grants.clear());
                }
            }),
        ];
        for (what, tamper) in tampers {
            let caught = sequences.iter().any(|(spec, who, steps)| preview(spec, who, steps, tamper).is_err());
            assert!(caught, "{what}: unnoticed");
        }
    }

    /// The preview property is not vacuous: over fixed random lists, operations are admitted from
    /// actors, refused for their requirement, by the rule book and by the store, and levels change.
    #[test]
    fn the_preview_property_sees_every_kind_of_answer() {
        let mut answers: BTreeMap<String, usize> = BTreeMap::new();
        let mut changes = 0;
        for (spec, who, steps) in with_actors(deterministic(64)) {
            let previewed = preview(&spec, &who, &steps, |_| {}).unwrap_or_else(|e| panic!("{e}"));
            changes += previewed.changes;
            for (k, n) in previewed.answers {
                *answers.entry(k).or_default() += n;
            }
        }
        let kinds = [
            "admitted from an actor",
            "admitted from the service",
            "requirement",
            "NO_ESCALATION",
            "PARTNER_REACH",
            "DESCENDANT_LEVELS",
            "LAST_ADMINISTRATOR",
            "ALREADY_EXISTS",
        ];
        for kind in kinds {
            assert!(answers.get(kind).is_some_and(|n| *n > 0), "{kind} never answered: {answers:?}");
        }
        assert!(changes > 0, "no level changed: {answers:?}");
    }
}
