//! The preview against a reference: random worlds written as [`WorldSpec`]s and random
//! operations. The reference applies each operation to the spec itself and reads the world again
//! ([`WorldSpec::resolve`], the loader the decision's own property tests trust); the preview
//! applies it to the [`Snapshot`] of the same world. Then:
//!
//! - every level of every member in every account (and on every folder) by the snapshot's facts is
//!   the reference's, before the operation;
//! - the effect [`simulate`] reports is exactly what differs in the reference between before and
//!   after applying the operation for real;
//! - the rule book's answer in the preview is the one [`admit`] gives on the reference's decisions.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::*;
use crate::world::{AccountSpec, DelegationSpec, MembershipSpec, ResourceSpec, RoleSpec, UserSpec, WorldSpec};

const ACCOUNTS: [(&str, &str, Option<&str>); 5] = [
    ("p", "partner", None),
    ("c1", "customer", Some("p")),
    ("c2", "customer", Some("p")),
    ("q", "partner", None),
    ("c3", "customer", Some("q")),
];
const USERS: [&str; 4] = ["u0", "u1", "u2", "u3"];
const FOLDERS: [(&str, &str); 2] = [("f1", "c1"), ("f2", "c1")];
const FEATURES: [&str; 6] = ["billing", "invoices", "users", "folders", "delegated_administration", "hosting"];
const NOW: Timestamp = Timestamp::from_millis(1_000);

fn catalog() -> Catalog {
    Catalog::builtin().unwrap()
}

fn kind_of(account: &str) -> &'static str {
    ACCOUNTS.iter().find(|(a, ..)| *a == account).map_or("customer", |(_, k, _)| k)
}

/// The roles a membership in `account` may name: the built-in ones of its kind, and `r` in c1.
fn role_names(account: &str) -> Vec<String> {
    let c = catalog();
    let mut out: Vec<String> = c
        .kind(&crate::AccountKind::from_trusted(kind_of(account)))
        .map(|k| k.roles.iter().map(|r| r.name.to_string()).collect())
        .unwrap_or_default();
    if account == "c1" {
        out.push("r".to_owned());
    }
    out
}

fn level() -> impl Strategy<Value = Level> {
    prop_oneof![Just(Level::View), Just(Level::Full)]
}

fn grants() -> impl Strategy<Value = BTreeMap<String, Level>> {
    proptest::collection::btree_map(proptest::sample::select(FEATURES.to_vec()).prop_map(str::to_owned), level(), 0..4)
}

#[derive(Debug, Clone)]
struct RawMembership {
    user: usize,
    account: usize,
    roles: Vec<prop::sample::Index>,
    restricted: Option<Vec<(bool, Level)>>,
    suspended: bool,
}

fn raw_membership() -> impl Strategy<Value = RawMembership> {
    (
        0..USERS.len(),
        0..ACCOUNTS.len(),
        proptest::collection::vec(any::<prop::sample::Index>(), 1..3),
        proptest::option::of(proptest::collection::vec((any::<bool>(), level()), 2)),
        proptest::bool::weighted(0.15),
    )
        .prop_map(|(user, account, roles, restricted, suspended)| RawMembership {
            user,
            account,
            roles,
            restricted,
            suspended,
        })
}

fn world() -> impl Strategy<Value = WorldSpec> {
    (
        grants(),
        proptest::collection::vec(raw_membership(), 1..8),
        proptest::option::of(any::<prop::sample::Index>()),
        proptest::bool::weighted(0.1),
        proptest::bool::weighted(0.1),
    )
        .prop_map(|(r_grants, raw, delegation, suspend_user, switch_off)| {
            let mut spec = WorldSpec::new();
            for (id, kind, parent) in ACCOUNTS {
                let mut a = AccountSpec::new(id, kind);
                if let Some(p) = parent {
                    a = a.under(p);
                }
                if switch_off && id == "c1" {
                    a = a.without_module("billing");
                }
                spec.accounts.push(a);
            }
            for u in USERS {
                let mut user = UserSpec::new(u);
                if suspend_user && u == "u3" {
                    user = user.suspended();
                }
                spec.users.push(user);
            }
            for (id, account) in FOLDERS {
                spec.resources.push(ResourceSpec::new(id, account));
            }
            let mut role = RoleSpec::new("c1", "r");
            role.grants = r_grants;
            spec.roles.push(role);
            let mut seen = BTreeSet::new();
            for (i, m) in raw.into_iter().enumerate() {
                let (user, account) = (USERS[m.user], ACCOUNTS[m.account].0);
                if !seen.insert((user, account)) {
                    continue;
                }
                let names = role_names(account);
                let mut roles: Vec<&str> = Vec::new();
                for ix in &m.roles {
                    let n = names[ix.index(names.len())].as_str();
                    if !roles.contains(&n) {
                        roles.push(n);
                    }
                }
                let mut ms = MembershipSpec::new(&format!("m{i}"), user, account, &roles);
                if let (Some(r), "c1") = (&m.restricted, account) {
                    let caps: Vec<(&str, Level)> =
                        FOLDERS.iter().zip(r).filter(|(_, (keep, _))| *keep).map(|((f, _), (_, l))| (*f, *l)).collect();
                    ms = ms.restricted(&caps);
                }
                if m.suspended {
                    ms = ms.status(MembershipStatus::Suspended);
                }
                spec.memberships.push(ms);
            }
            if let Some(ix) = delegation {
                let names = role_names("c1");
                spec.delegations.push(DelegationSpec::new("d1", "p", "c1", &names[ix.index(names.len())]));
            }
            spec
        })
}

/// A random operation on the world, by index into what exists.
#[derive(Debug, Clone)]
enum RawOp {
    EditRole(BTreeMap<String, Level>),
    SetRoles(prop::sample::Index, Vec<prop::sample::Index>),
    Restrict(prop::sample::Index, Option<Vec<(bool, Level)>>),
    MembershipStatus(prop::sample::Index, bool),
    Modules(usize, BTreeSet<String>),
    AccountStatus(usize, bool),
    UserStatus(usize, bool),
    Delegate(usize, prop::sample::Index),
    Undelegate,
}

fn raw_op() -> impl Strategy<Value = RawOp> {
    prop_oneof![
        3 => grants().prop_map(RawOp::EditRole),
        2 => (any::<prop::sample::Index>(), proptest::collection::vec(any::<prop::sample::Index>(), 1..3)).prop_map(|(m, r)| RawOp::SetRoles(m, r)),
        1 => (any::<prop::sample::Index>(), proptest::option::of(proptest::collection::vec((any::<bool>(), level()), 2))).prop_map(|(m, r)| RawOp::Restrict(m, r)),
        1 => (any::<prop::sample::Index>(), any::<bool>()).prop_map(|(m, s)| RawOp::MembershipStatus(m, s)),
        1 => (0..ACCOUNTS.len(), proptest::collection::btree_set(proptest::sample::select(FEATURES.to_vec()).prop_map(str::to_owned), 0..6)).prop_map(|(a, m)| RawOp::Modules(a, m)),
        1 => (0..ACCOUNTS.len(), any::<bool>()).prop_map(|(a, s)| RawOp::AccountStatus(a, s)),
        1 => (0..USERS.len(), any::<bool>()).prop_map(|(u, s)| RawOp::UserStatus(u, s)),
        1 => (1..3usize, any::<prop::sample::Index>()).prop_map(|(a, r)| RawOp::Delegate(a, r)),
        1 => Just(RawOp::Undelegate),
    ]
}

fn grants_of(g: &BTreeMap<String, Level>) -> crate::Grants {
    g.iter().map(|(f, l)| (FeatureName::from_trusted(f.as_str()), *l)).collect()
}

/// The operation `raw` names in `spec`, and `spec` with it applied for real (the reference).
fn resolve_op(spec: &WorldSpec, raw: &RawOp) -> Option<(SimOp, WorldSpec)> {
    let mut after = spec.clone();
    let pick = |ix: &prop::sample::Index| spec.memberships.get(ix.index(spec.memberships.len())).cloned();
    let op = match raw {
        RawOp::EditRole(g) => {
            let role = after.roles.iter_mut().find(|r| r.name == "r")?;
            role.grants = g.clone();
            SimOp::UpdateRole(RoleDefinition {
                account: AccountId::from_trusted("c1"),
                name: RoleName::from_trusted("r"),
                display_name: role.display_name.clone(),
                description: role.description.clone(),
                grants: grants_of(g),
                descendant_grants: grants_of(&role.descendant_grants),
            })
        }
        RawOp::SetRoles(m, roles) => {
            let m = pick(m)?;
            let names = role_names(&m.account);
            let mut chosen: Vec<String> = Vec::new();
            for ix in roles {
                let n = names[ix.index(names.len())].clone();
                if !chosen.contains(&n) {
                    chosen.push(n);
                }
            }
            after.membership_mut(&m.id)?.roles = chosen.clone();
            SimOp::SetMembershipRoles {
                membership: MembershipId::from_trusted(m.id.as_str()),
                roles: chosen.iter().map(|r| RoleName::from_trusted(r.as_str())).collect(),
            }
        }
        RawOp::Restrict(m, r) => {
            let m = pick(m)?;
            if m.account != "c1" {
                return None;
            }
            let caps: Option<BTreeMap<String, Level>> = r.as_ref().map(|r| {
                FOLDERS
                    .iter()
                    .zip(r)
                    .filter(|(_, (keep, _))| *keep)
                    .map(|((f, _), (_, l))| ((*f).to_owned(), *l))
                    .collect()
            });
            after.membership_mut(&m.id)?.resources = caps.clone();
            SimOp::SetResourceRestriction {
                membership: MembershipId::from_trusted(m.id.as_str()),
                restriction: caps.map(|c| {
                    let mut out = Restriction::new();
                    for (f, l) in c {
                        out.insert(ResourceId::from_trusted(f), l);
                    }
                    out
                }),
            }
        }
        RawOp::MembershipStatus(m, active) => {
            let m = pick(m)?;
            let status = if *active { MembershipStatus::Active } else { MembershipStatus::Suspended };
            after.membership_mut(&m.id)?.status = status;
            SimOp::SetMembershipStatus { membership: MembershipId::from_trusted(m.id.as_str()), status }
        }
        RawOp::Modules(a, modules) => {
            let id = ACCOUNTS[*a].0;
            let c = catalog();
            let modules: BTreeSet<String> =
                modules.iter().filter(|m| c.feature_by_str(m).is_some_and(|f| f.module)).cloned().collect();
            let acc = after.account_mut(id)?;
            acc.modules = Some(modules.clone());
            acc.modules_off.clear();
            SimOp::SetAccountModules {
                account: AccountId::from_trusted(id),
                modules: modules.iter().map(|m| FeatureName::from_trusted(m.as_str())).collect(),
            }
        }
        RawOp::AccountStatus(a, active) => {
            let id = ACCOUNTS[*a].0;
            let status = if *active { AccountStatus::Active } else { AccountStatus::Suspended };
            after.account_mut(id)?.status = status;
            SimOp::SetAccountStatus { account: AccountId::from_trusted(id), status }
        }
        RawOp::UserStatus(u, active) => {
            let status = if *active { UserStatus::Active } else { UserStatus::Suspended };
            after.user_mut(USERS[*u])?.status = status;
            SimOp::SetUserStatus { user: UserId::from_trusted(USERS[*u]), status }
        }
        RawOp::Delegate(a, r) => {
            let to = ACCOUNTS[*a].0;
            if spec.delegations.iter().any(|d| d.to == to) {
                return None;
            }
            let names = role_names(to);
            let role = names[r.index(names.len())].clone();
            after.delegations.push(DelegationSpec::new("d2", "p", to, &role));
            SimOp::CreateDelegation(NewDelegation {
                id: Some(DelegationId::from_trusted("d2")),
                from_account: AccountId::from_trusted("p"),
                to_account: AccountId::from_trusted(to),
                role: RoleName::from_trusted(role.as_str()),
                expires_at: None,
            })
        }
        RawOp::Undelegate => {
            let d = spec.delegations.first()?.clone();
            after.delegations.retain(|x| x.id != d.id);
            SimOp::DeleteDelegation(DelegationId::from_trusted(d.id.as_str()))
        }
    };
    Some((op, after))
}

/// The snapshot a store would load for the whole world.
fn snapshot_of(spec: &WorldSpec, c: &Catalog) -> Snapshot {
    let facts = spec.resolve(c).unwrap();
    let mut snap = Snapshot::default();
    for a in facts.accounts() {
        snap.accounts.insert(a.id.clone(), SnapshotAccount { facts: a.clone(), custom_roles: Vec::new() });
    }
    for r in &spec.roles {
        let role = Role {
            name: RoleName::from_trusted(r.name.as_str()),
            display_name: r.display_name.clone(),
            description: r.description.clone(),
            builtin: false,
            grants: grants_of(&r.grants),
            descendant_grants: grants_of(&r.descendant_grants),
        };
        snap.accounts.get_mut(&AccountId::from_trusted(r.account.as_str())).unwrap().custom_roles.push(role);
    }
    for u in &spec.users {
        snap.users.insert(UserId::from_trusted(u.id.as_str()), u.status);
    }
    for m in &spec.memberships {
        snap.memberships.insert(
            MembershipId::from_trusted(m.id.as_str()),
            SnapshotMembership {
                user: UserId::from_trusted(m.user.as_str()),
                account: AccountId::from_trusted(m.account.as_str()),
                status: m.status,
                roles: m.roles.iter().map(|r| RoleName::from_trusted(r.as_str())).collect(),
                restriction: m.resources.as_ref().map(|caps| {
                    let mut out = Restriction::new();
                    for (f, l) in caps {
                        out.insert(ResourceId::from_trusted(f.as_str()), *l);
                    }
                    out
                }),
                expires_at: None,
                requester: None,
            },
        );
    }
    for d in &spec.delegations {
        snap.delegations.insert(
            DelegationId::from_trusted(d.id.as_str()),
            SnapshotDelegation {
                from: AccountId::from_trusted(d.from.as_str()),
                to: AccountId::from_trusted(d.to.as_str()),
                role: RoleName::from_trusted(d.role.as_str()),
                expires_at: None,
            },
        );
    }
    for (f, a) in FOLDERS {
        snap.resources.insert(ResourceId::from_trusted(f), AccountId::from_trusted(a));
    }
    snap
}

/// Every level by the reference: (user, account, resource) → levels.
type AllLevels = BTreeMap<(String, String, Option<String>), BTreeMap<FeatureName, Level>>;

fn reference_levels(spec: &WorldSpec, c: &Catalog) -> AllLevels {
    let world = spec.resolve(c).unwrap();
    let mut out = AllLevels::new();
    for u in USERS {
        for (a, ..) in ACCOUNTS {
            let places = std::iter::once(None)
                .chain(FOLDERS.iter().filter(|(_, fa)| *fa == a).map(|(f, _)| Some(ResourceId::from_trusted(*f))));
            for r in places {
                let mut levels = BTreeMap::new();
                for f in c.features() {
                    let request = AccessRequest {
                        subject: UserId::from_trusted(u),
                        account: AccountId::from_trusted(a),
                        permission: Permission { feature: f.name.clone(), level: Level::View },
                        resource: r.clone(),
                    };
                    let facts = world.facts(&request);
                    let level = evaluate(c, &request, &facts, NOW).effective;
                    if level > Level::None {
                        levels.insert(f.name.clone(), level);
                    }
                }
                out.insert((u.to_owned(), a.to_owned(), r.map(|r| r.to_string())), levels);
            }
        }
    }
    out
}

fn snapshot_levels(snap: &Snapshot, c: &Catalog) -> AllLevels {
    let mut out = AllLevels::new();
    for u in USERS {
        for (a, ..) in ACCOUNTS {
            let places = std::iter::once(None)
                .chain(FOLDERS.iter().filter(|(_, fa)| *fa == a).map(|(f, _)| Some(ResourceId::from_trusted(*f))));
            for r in places {
                let levels = snap.levels(c, &UserId::from_trusted(u), &AccountId::from_trusted(a), r.as_ref(), NOW);
                out.insert((u.to_owned(), a.to_owned(), r.map(|r| r.to_string())), levels);
            }
        }
    }
    out
}

/// The changes between two level maps, as (user, account, resource, feature, from, to).
type Diff = BTreeSet<(String, String, Option<String>, FeatureName, Level, Level)>;

fn diff_levels(before: &AllLevels, after: &AllLevels) -> Diff {
    let mut out = Diff::new();
    for (key, b) in before {
        let a = &after[key];
        let features: BTreeSet<&FeatureName> = b.keys().chain(a.keys()).collect();
        for f in features {
            let (x, y) = (b.get(f).copied().unwrap_or(Level::None), a.get(f).copied().unwrap_or(Level::None));
            if x != y {
                out.insert((key.0.clone(), key.1.clone(), key.2.clone(), f.clone(), x, y));
            }
        }
    }
    out
}

fn effects_as_diff(effects: &[Effect]) -> Diff {
    effects
        .iter()
        .flat_map(|e| {
            e.changes.iter().map(|c| {
                (
                    e.user.to_string(),
                    e.account.to_string(),
                    c.resource.as_ref().map(ToString::to_string),
                    c.feature.clone(),
                    c.from,
                    c.to,
                )
            })
        })
        .collect()
}

/// What the rule book requires for `op`, and how a refusal is hidden, when it is one of the plain
/// requirements (not the account lifecycle, which first asks whether the actor reaches it).
fn plain_requirement(spec: &WorldSpec, op: &SimOp) -> Option<(Operation, Hide<'static>)> {
    let account_of = |m: &MembershipId| {
        spec.memberships.iter().find(|x| x.id == m.as_str()).map(|x| AccountId::from_trusted(x.account.as_str()))
    };
    Some(match op {
        SimOp::UpdateRole(def) => (Operation::ManageRoles(def.account.clone()), Hide::Account),
        SimOp::SetMembershipRoles { membership, .. }
        | SimOp::SetResourceRestriction { membership, .. }
        | SimOp::SetMembershipStatus { membership, .. } => {
            let id: &'static str = Box::leak(membership.to_string().into_boxed_str());
            (Operation::ManageMemberships(account_of(membership)?), Hide::Record("membership", id))
        }
        SimOp::CreateDelegation(cmd) => {
            (Operation::CreateDelegation { from: cmd.from_account.clone(), to: cmd.to_account.clone() }, Hide::Account)
        }
        SimOp::AssignRole { .. }
        | SimOp::UnassignRole { .. }
        | SimOp::SetAccountModules { .. }
        | SimOp::SetAccountStatus { .. }
        | SimOp::SetUserStatus { .. }
        | SimOp::DeleteDelegation(_) => return None,
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// The snapshot's facts give the reference's levels; the effect of an operation previewed is
    /// exactly what applying it for real changes.
    #[test]
    fn a_previewed_effect_is_what_the_operation_does(spec in world(), raw in raw_op()) {
        let c = catalog();
        let Some((op, after)) = resolve_op(&spec, &raw) else { return Ok(()) };
        let snap = snapshot_of(&spec, &c);
        let before = reference_levels(&spec, &c);
        prop_assert_eq!(&snapshot_levels(&snap, &c), &before);
        let sim = simulate(&c, &snap, None, std::slice::from_ref(&op), usize::MAX, NOW).unwrap();
        match &sim.outcomes[0] {
            Ok(()) => {
                let expected = diff_levels(&before, &reference_levels(&after, &c));
                prop_assert_eq!(effects_as_diff(&sim.effects), expected);
                prop_assert_eq!(sim.total, sim.effects.len());
                let mut applied = snap.clone();
                applied.apply(&op);
                prop_assert_eq!(snapshot_levels(&applied, &c), reference_levels(&after, &c));
            }
            // The service's own authority is refused only by what the store keeps.
            Err(Denial::Precondition { kind, .. }) => {
                let kept = [
                    "LAST_ADMINISTRATOR",
                    "DELEGATION_SCOPE",
                    "LAST_ROLE",
                    "ALREADY_SUSPENDED",
                    "NOT_SUSPENDED",
                    "MEMBERSHIP_PENDING",
                ];
                prop_assert!(kept.contains(kind), "{kind}");
                prop_assert!(sim.effects.is_empty());
            }
            Err(other) => prop_assert!(false, "refused on the service's authority: {other:?}"),
        }
    }

    /// The rule book's answer in the preview is the one `admit` gives on the reference's decisions
    /// for every actor: refused alike, or admitted (and then decided by the invariants only).
    #[test]
    fn a_previewed_answer_is_the_rule_books(spec in world(), raw in raw_op(), actor in 0..USERS.len()) {
        let c = catalog();
        let Some((op, _)) = resolve_op(&spec, &raw) else { return Ok(()) };
        let Some((rule, hide)) = plain_requirement(&spec, &op) else { return Ok(()) };
        let world = spec.resolve(&c).unwrap();
        let actor = UserId::from_trusted(USERS[actor]);
        let mut decide = |account: &AccountId, need: Need| {
            let request = AccessRequest {
                subject: actor.clone(),
                account: account.clone(),
                permission: need.permission(),
                resource: None,
            };
            evaluate(&c, &request, &world.facts(&request), NOW)
        };
        let expected = admit(Some(&actor), &rule.requirement(), hide, &mut decide);
        let got = snapshot_of(&spec, &c).check(&c, Some(&actor), &op, NOW);
        match expected {
            Err(refusal) => prop_assert_eq!(got, Err(Denial::Refused(refusal))),
            Ok(()) => prop_assert!(!matches!(got, Err(Denial::Refused(_))), "{got:?}"),
        }
    }
}

/// A restricted membership restricted differently: the account at large sees no difference (its
/// facts name no resource), the folders do, and the effect reports them.
#[test]
fn a_restriction_changed_shows_on_the_folders() {
    let c = catalog();
    let mut spec = WorldSpec::new();
    for (id, kind, parent) in ACCOUNTS {
        let mut a = AccountSpec::new(id, kind);
        if let Some(p) = parent {
            a = a.under(p);
        }
        spec.accounts.push(a);
    }
    spec.users.push(UserSpec::new("u0"));
    for (id, account) in FOLDERS {
        spec.resources.push(ResourceSpec::new(id, account));
    }
    let mut role = RoleSpec::new("c1", "r");
    role.grants = BTreeMap::from([("folders".to_owned(), Level::Full)]);
    spec.roles.push(role);
    spec.memberships.push(MembershipSpec::new("m0", "u0", "c1", &["r"]).restricted(&[("f1", Level::View)]));
    let mut after = spec.clone();
    after.membership_mut("m0").unwrap().resources = Some(BTreeMap::from([("f2".to_owned(), Level::Full)]));
    let mut restriction = Restriction::new();
    restriction.insert(ResourceId::from_trusted("f2"), Level::Full);
    let op =
        SimOp::SetResourceRestriction { membership: MembershipId::from_trusted("m0"), restriction: Some(restriction) };
    let sim = simulate(&c, &snapshot_of(&spec, &c), None, &[op], usize::MAX, NOW).unwrap();
    let expected = diff_levels(&reference_levels(&spec, &c), &reference_levels(&after, &c));
    assert_eq!(expected.len(), 2, "f1 falls, f2 rises: {expected:?}");
    assert_eq!(effects_as_diff(&sim.effects), expected);
}
