//! Property tests of the decision over random facts: chains of depth 1 to 4, random roles,
//! memberships, delegations, modules and statuses.

use std::collections::BTreeSet;

use proptest::prelude::*;

use super::*;
use crate::level::Grants;

const FEATURES: [&str; 5] = ["users", "billing", "folders", "delegated_administration", "event_logs"];
const MODULES: [&str; 2] = ["billing", "folders"];
const RESOURCES: [&str; 2] = ["r1", "r2"];

/// The instant the properties evaluate at.
const NOW: Timestamp = Timestamp::from_millis(1_000_000);

/// No expiry (most often), or one before, at or after [`NOW`].
fn expiry() -> impl Strategy<Value = Option<Timestamp>> {
    prop_oneof![
        3 => Just(None),
        1 => (-2i64..=3).prop_map(|k| Some(Timestamp::from_millis(NOW.as_millis() + k * 1_000))),
    ]
}

fn fname(s: &str) -> FeatureName {
    FeatureName::from_trusted(s)
}

fn level() -> impl Strategy<Value = Level> {
    prop_oneof![Just(Level::None), Just(Level::View), Just(Level::Full)]
}

fn grants() -> impl Strategy<Value = Grants> {
    proptest::collection::vec(proptest::option::of(level()), FEATURES.len())
        .prop_map(|levels| FEATURES.iter().zip(levels).filter_map(|(f, l)| l.map(|l| (fname(f), l))).collect())
}

fn role() -> impl Strategy<Value = Role> {
    (0u8..100, grants(), grants()).prop_map(|(n, grants, descendant_grants)| Role {
        name: RoleName::from_trusted(format!("role_{n}")),
        display_name: String::new(),
        description: String::new(),
        builtin: false,
        grants,
        descendant_grants,
    })
}

fn account_status() -> impl Strategy<Value = AccountStatus> {
    prop_oneof![4 => Just(AccountStatus::Active), 1 => Just(AccountStatus::Suspended)]
}

fn membership_status() -> impl Strategy<Value = MembershipStatus> {
    prop_oneof![
        4 => Just(MembershipStatus::Active),
        1 => Just(MembershipStatus::PendingApproval),
        1 => Just(MembershipStatus::Suspended),
    ]
}

fn modules() -> impl Strategy<Value = BTreeSet<FeatureName>> {
    proptest::collection::btree_set(proptest::sample::select(MODULES.to_vec()), 0..=2)
        .prop_map(|s| s.into_iter().map(fname).collect())
}

/// A restriction to up to two resources, each capped at `view` or `full`.
fn resources() -> impl Strategy<Value = Option<Restriction>> {
    proptest::option::of(
        proptest::collection::btree_map(
            proptest::sample::select(RESOURCES.to_vec()),
            prop_oneof![Just(Level::View), Just(Level::Full)],
            0..=2,
        )
        .prop_map(|s| s.into_iter().map(|(r, l)| (ResourceId::from_trusted(r), l)).collect()),
    )
}

/// Where a membership is held: an index into the chain (0 = target), or the delegation source.
#[derive(Debug, Clone)]
enum At {
    Chain(usize),
    Source,
}

fn at() -> impl Strategy<Value = At> {
    prop_oneof![3 => (0usize..4).prop_map(At::Chain), 1 => Just(At::Source)]
}

type RawMembership = (At, MembershipStatus, Vec<Role>, Option<Restriction>, Option<Timestamp>);

fn membership() -> impl Strategy<Value = RawMembership> {
    (at(), membership_status(), proptest::collection::vec(role(), 1..=2), resources(), expiry())
}

#[derive(Debug, Clone)]
struct Case {
    facts: Facts,
    request: AccessRequest,
}

fn account_id(i: usize) -> AccountId {
    AccountId::from_trusted(format!("acc{i}"))
}

fn make_membership(n: usize, depth: usize, raw: RawMembership) -> MembershipFacts {
    let (at, status, roles, resources, expires_at) = raw;
    let account = match at {
        At::Chain(i) => account_id(i % depth),
        At::Source => AccountId::from_trusted("source"),
    };
    MembershipFacts { id: MembershipId::from_trusted(format!("m{n}")), account, status, roles, resources, expires_at }
}

fn case() -> impl Strategy<Value = (Case, RawMembership)> {
    (
        1usize..=4,
        proptest::collection::vec((account_status(), modules()), 4),
        (account_status(), prop_oneof![4 => Just(UserStatus::Active), 1 => Just(UserStatus::Suspended)]),
        proptest::collection::vec(membership(), 0..=5),
        proptest::collection::vec(((0usize..4), role(), expiry()), 0..=2),
        (proptest::sample::select(FEATURES.to_vec()), prop_oneof![Just(Level::View), Just(Level::Full)]),
        proptest::option::of(proptest::sample::select(RESOURCES.to_vec())),
        membership(),
    )
        .prop_map(
            |(
                depth,
                accounts,
                (source_status, subject_status),
                memberships,
                delegations,
                (feature, lvl),
                resource,
                extra,
            )| {
                // chain[i] is acc{i}; acc{i}'s parent is acc{i+1}.
                let chain: Vec<AccountFacts> = accounts
                    .into_iter()
                    .take(depth)
                    .enumerate()
                    .map(|(i, (status, modules))| AccountFacts {
                        id: account_id(i),
                        kind: AccountKind::from_trusted("customer"),
                        status,
                        parent: (i + 1 < depth).then(|| account_id(i + 1)),
                        modules,
                    })
                    .collect();
                let source = AccountFacts {
                    id: AccountId::from_trusted("source"),
                    kind: AccountKind::from_trusted("partner"),
                    status: source_status,
                    parent: None,
                    modules: BTreeSet::new(),
                };
                let memberships =
                    memberships.into_iter().enumerate().map(|(n, m)| make_membership(n, depth, m)).collect();
                let delegations = delegations
                    .into_iter()
                    .enumerate()
                    .map(|(n, (to, role, expires_at))| DelegationFacts {
                        id: DelegationId::from_trusted(format!("d{n}")),
                        from_account: source.clone(),
                        to_account: account_id(to % depth),
                        role,
                        expires_at,
                    })
                    .collect();
                let resource = resource.map(ResourceId::from_trusted);
                let facts = Facts {
                    subject: Some(SubjectFacts { id: UserId::from_trusted("subject"), status: subject_status }),
                    chain,
                    memberships,
                    delegations,
                    resource: resource.clone().map(|id| ResourceFacts { id, account: account_id(0) }),
                };
                let request = AccessRequest {
                    subject: UserId::from_trusted("subject"),
                    account: account_id(0),
                    permission: Permission { feature: fname(feature), level: lvl },
                    resource,
                };
                (Case { facts, request }, extra)
            },
        )
}

/// Whether `p` is a membership path that does not reach the resource asked (listed as
/// insufficient when its level is below the requirement anyway).
fn reaches_nothing(case: &Case, p: &PathEvaluation) -> bool {
    let Some(asked) = &case.request.resource else { return false };
    match &p.path {
        Path::Direct { membership, .. } | Path::Inherited { membership, .. } => case
            .facts
            .memberships
            .iter()
            .find(|m| m.id == *membership)
            .is_some_and(|m| m.resources.as_ref().is_some_and(|set| !set.contains(asked))),
        Path::Delegated { .. } => false,
    }
}

fn catalog() -> Catalog {
    Catalog::builtin().unwrap()
}

fn check_invariants(d: &Decision, case: &Case) -> Result<(), TestCaseError> {
    prop_assert_eq!(d.allowed, d.effective.satisfies(d.required));
    prop_assert_eq!(d.granted_by.is_some(), d.allowed);
    prop_assert_eq!(d.reason == Reason::Allowed, d.allowed);
    if let Some(granted) = &d.granted_by {
        prop_assert!(d.paths.iter().any(|p| p.path == *granted && p.outcome == PathOutcome::Granted));
    }
    if let Some(asked) = &case.request.resource {
        for p in d.paths.iter().filter(|p| p.outcome == PathOutcome::Granted) {
            if let Path::Direct { membership, .. } | Path::Inherited { membership, .. } = &p.path {
                let m = case.facts.memberships.iter().find(|m| m.id == *membership);
                prop_assert!(m.is_some_and(|m| m.resources.as_ref().is_none_or(|set| set.contains(asked))));
                // A granting path's level on the resource is its role's level under its cap.
                let cap = m.and_then(|m| m.resources.as_ref()).and_then(|set| set.cap(asked));
                prop_assert_eq!(p.resource_cap, cap.filter(|c| *c < Level::Full));
                prop_assert!(p.level.min(p.resource_cap.unwrap_or(Level::Full)).satisfies(d.required));
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// The rule of per-resource levels: a cap only lowers. Raising every cap to `full` (what a
    /// restriction meant before caps) never lowers the level; lowering one to `view` never raises
    /// it; and on a check without a resource caps change nothing.
    #[test]
    fn a_resource_cap_never_raises_a_level((case, _extra) in case(), which in 0usize..5, to_view in any::<bool>()) {
        let c = catalog();
        let before = evaluate(&c, &case.request, &case.facts, NOW);
        let mut uncapped = case.clone();
        for m in &mut uncapped.facts.memberships {
            if let Some(set) = &mut m.resources {
                *set = set.ids().cloned().collect();
            }
        }
        let full = evaluate(&c, &uncapped.request, &uncapped.facts, NOW);
        check_invariants(&full, &uncapped)?;
        prop_assert!(full.effective >= before.effective);
        if case.request.resource.is_none() {
            prop_assert_eq!(&full, &before);
        }
        let mut lowered = case.clone();
        if let Some(m) = lowered.facts.memberships.get_mut(which)
            && let Some(set) = &mut m.resources
        {
            let ids: Vec<ResourceId> = set.ids().cloned().collect();
            for r in ids {
                set.insert(r, if to_view { Level::View } else { Level::Full });
            }
        }
        let after = evaluate(&c, &lowered.request, &lowered.facts, NOW);
        check_invariants(&after, &lowered)?;
        if to_view {
            prop_assert!(after.effective <= before.effective);
        } else {
            prop_assert!(after.effective >= before.effective);
        }
        // And the effective level on a resource is the best of the paths, each path's level there.
        if before.caps.is_empty() {
            let best = before
                .paths
                .iter()
                .filter(|p| matches!(p.outcome, PathOutcome::Granted | PathOutcome::Insufficient)
                    && !(p.outcome == PathOutcome::Insufficient && reaches_nothing(&case, p)))
                .map(|p| p.level.min(p.resource_cap.unwrap_or(Level::Full)))
                .max()
                .unwrap_or(Level::None);
            prop_assert_eq!(before.effective, best);
        }
    }

    #[test]
    fn decisions_are_consistent((case, _extra) in case()) {
        let d = evaluate(&catalog(), &case.request, &case.facts, NOW);
        check_invariants(&d, &case)?;
    }

    #[test]
    fn adding_a_membership_never_lowers_the_level((case, extra) in case()) {
        let c = catalog();
        let before = evaluate(&c, &case.request, &case.facts, NOW);
        let mut more = case.clone();
        let depth = more.facts.chain.len();
        more.facts.memberships.push(make_membership(99, depth, extra));
        let after = evaluate(&c, &more.request, &more.facts, NOW);
        check_invariants(&after, &more)?;
        prop_assert!(after.effective >= before.effective, "{:?} -> {:?}", before.effective, after.effective);
        prop_assert!(after.allowed || !before.allowed);
    }

    #[test]
    fn suspending_an_account_never_raises_the_level((case, _extra) in case(), which in 0usize..5) {
        let c = catalog();
        let before = evaluate(&c, &case.request, &case.facts, NOW);
        let mut less = case.clone();
        if which < less.facts.chain.len() {
            less.facts.chain[which].status = AccountStatus::Suspended;
        } else {
            for d in &mut less.facts.delegations {
                d.from_account.status = AccountStatus::Suspended;
            }
        }
        let after = evaluate(&c, &less.request, &less.facts, NOW);
        check_invariants(&after, &less)?;
        prop_assert!(after.effective <= before.effective);
        if which < less.facts.chain.len() {
            prop_assert!(!after.allowed);
            prop_assert_eq!(after.effective, Level::None);
        }
    }

    #[test]
    fn disabling_a_module_denies_it((case, _extra) in case()) {
        let c = catalog();
        let feature = case.request.permission.feature.clone();
        let is_module = c.feature(&feature).is_some_and(|f| f.module);
        let mut off = case.clone();
        off.facts.chain[0].modules.remove(&feature);
        let d = evaluate(&c, &off.request, &off.facts, NOW);
        check_invariants(&d, &off)?;
        if is_module {
            prop_assert!(!d.allowed);
            prop_assert_eq!(d.effective, Level::None);
            prop_assert!(d.caps.contains(&Cap::ModuleDisabled(feature)));
        } else {
            prop_assert_eq!(d, evaluate(&c, &case.request, &case.facts, NOW));
        }
    }

    #[test]
    fn suspending_the_subject_denies_everything((case, _extra) in case()) {
        let mut s = case.clone();
        if let Some(subject) = &mut s.facts.subject {
            subject.status = UserStatus::Suspended;
        }
        let d = evaluate(&catalog(), &s.request, &s.facts, NOW);
        prop_assert!(!d.allowed);
        prop_assert_eq!(d.reason, Reason::SubjectSuspended);
        prop_assert_eq!(d.effective, Level::None);
    }

    #[test]
    fn the_effective_level_is_the_best_live_path((case, _extra) in case()) {
        let d = evaluate(&catalog(), &case.request, &case.facts, NOW);
        let best_granted = d
            .paths
            .iter()
            .filter(|p| p.outcome == PathOutcome::Granted)
            .map(|p| p.level.min(p.resource_cap.unwrap_or(Level::Full)))
            .max();
        if d.allowed {
            prop_assert_eq!(Some(d.effective), best_granted);
        } else {
            prop_assert!(best_granted.is_none());
            prop_assert!(d.effective < d.required);
        }
    }

    #[test]
    fn an_expired_grant_never_grants((case, _extra) in case()) {
        let d = evaluate(&catalog(), &case.request, &case.facts, NOW);
        for p in d.paths.iter().filter(|p| p.outcome == PathOutcome::Granted) {
            let expiry = path_expiry(&case, &p.path);
            prop_assert!(expiry.is_none_or(|at| at > NOW), "{} granted, expiring at {expiry:?}", p.path);
        }
        for p in &d.paths {
            if let PathOutcome::Expired(at) = p.outcome {
                prop_assert!(at <= NOW);
                prop_assert_eq!(Some(at), path_expiry(&case, &p.path));
            }
        }
        // With every expiry in the past, nothing grants.
        let mut gone = case.clone();
        for m in &mut gone.facts.memberships {
            m.expires_at = Some(NOW);
        }
        prop_assert!(!evaluate(&catalog(), &gone.request, &gone.facts, NOW).allowed);
    }

    #[test]
    fn the_answer_holds_until_valid_until_and_no_granting_expiry_is_before_it(
        (case, _extra) in case(),
        step in 0i64..6_000,
    ) {
        let c = catalog();
        let d = evaluate(&c, &case.request, &case.facts, NOW);
        if let Some(until) = d.valid_until {
            prop_assert!(until > NOW);
        }
        for p in d.paths.iter().filter(|p| p.outcome == PathOutcome::Granted) {
            if let Some(at) = path_expiry(&case, &p.path) {
                prop_assert!(d.valid_until.is_some_and(|until| until <= at), "{:?} after a granting expiry {at:?}", d.valid_until);
            }
        }
        // At any later instant before valid_until, the same answer.
        let later = Timestamp::from_millis(NOW.as_millis() + step);
        let again = evaluate(&c, &case.request, &case.facts, later);
        if d.valid_until.is_none_or(|until| later < until) {
            prop_assert_eq!(
                (again.allowed, again.effective, again.reason, &again.granted_by),
                (d.allowed, d.effective, d.reason, &d.granted_by)
            );
        }
        // Time only takes away: allowed later means allowed now.
        prop_assert!(!again.allowed || d.allowed);
        prop_assert!(again.effective <= d.effective);
    }
}

/// The expiry of a path: its membership's, and for a delegated path the earlier of that and the
/// delegation's.
fn path_expiry(case: &Case, path: &Path) -> Option<Timestamp> {
    let m = case.facts.memberships.iter().find(|m| m.id == *path.membership()).and_then(|m| m.expires_at);
    let d = match path {
        Path::Delegated { delegation, .. } => {
            case.facts.delegations.iter().find(|d| d.id == *delegation).and_then(|d| d.expires_at)
        }
        Path::Direct { .. } | Path::Inherited { .. } => None,
    };
    earliest(m, d)
}
