//! Suggestions on the seeds' bakery, and a property test over random worlds: every suggested set
//! of changes makes the decision allow, and every member it names may make its change under the
//! rule book, as the server would decide the call from the world's facts. One file: the small
//! world, the seed cases and the property share the world's builder and its oracle.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::*;
use crate::decision::{AccountFacts, MembershipFacts, ResourceFacts, SubjectFacts};
use crate::ids::AccountKind;
use crate::level::Permission;

/// The instant the tests evaluate at: nothing in their worlds expires.
const NOW: Timestamp = Timestamp::from_millis(1_795_000_000_000);

fn acc(s: &str) -> AccountId {
    AccountId::from_trusted(s)
}
fn user(s: &str) -> UserId {
    UserId::from_trusted(s)
}
fn res(s: &str) -> ResourceId {
    ResourceId::from_trusted(s)
}

/// A small world: a partner `nuage` and its customer `bakery`, as the store would hold it.
#[derive(Debug, Clone)]
struct World {
    catalog: Catalog,
    accounts: Vec<AccountFacts>,
    users: BTreeMap<UserId, UserStatus>,
    memberships: Vec<(UserId, MembershipFacts)>,
    delegations: Vec<DelegationFacts>,
    resources: Vec<ResourceFacts>,
    requires_approval: bool,
    requesters: BTreeMap<MembershipId, UserId>,
}

const TARGET: &str = "bakery";

impl World {
    fn new() -> Self {
        let catalog = Catalog::builtin().unwrap();
        let account = |id: &str, kind: &str, parent: Option<&str>| AccountFacts {
            id: acc(id),
            kind: AccountKind::from_trusted(kind),
            status: AccountStatus::Active,
            parent: parent.map(acc),
            modules: catalog.default_modules(),
        };
        let accounts = vec![account("nuage", "partner", None), account(TARGET, "customer", Some("nuage"))];
        let resources = ["comptes-2025", "paie", "juridique"]
            .iter()
            .map(|r| ResourceFacts { id: res(r), account: acc(TARGET) })
            .collect();
        World {
            catalog,
            accounts,
            users: BTreeMap::new(),
            memberships: Vec::new(),
            delegations: Vec::new(),
            resources,
            requires_approval: false,
            requesters: BTreeMap::new(),
        }
    }

    fn role(&self, account: &str, name: &str) -> Role {
        let kind = self.accounts.iter().find(|a| a.id.as_str() == account).unwrap().kind.clone();
        self.catalog.builtin_role(&kind, &RoleName::from_trusted(name)).unwrap().clone()
    }

    fn member(
        &mut self,
        who: &str,
        account: &str,
        roles: &[&str],
        status: MembershipStatus,
        restriction: Option<&[(&str, Level)]>,
    ) -> MembershipId {
        self.users.entry(user(who)).or_insert(UserStatus::Active);
        let id = MembershipId::from_trusted(format!("m-{who}-{account}"));
        let roles = roles.iter().map(|r| self.role(account, r)).collect();
        let resources = restriction.map(|rs| {
            let mut r = Restriction::new();
            for (id, level) in rs {
                r.insert(res(id), *level);
            }
            r
        });
        self.memberships.push((
            user(who),
            MembershipFacts { id: id.clone(), account: acc(account), status, roles, resources, expires_at: None },
        ));
        id
    }

    fn delegate(&mut self, role: &str) {
        let from_account = self.accounts[0].clone();
        self.delegations.push(DelegationFacts {
            id: DelegationId::from_trusted("dl-nuage-bakery"),
            from_account,
            to_account: acc(TARGET),
            role: self.role(TARGET, role),
            expires_at: None,
        });
    }

    fn chain(&self, account: &AccountId) -> Vec<AccountFacts> {
        let mut out = Vec::new();
        let mut next = Some(account.clone());
        while let Some(id) = next {
            let Some(a) = self.accounts.iter().find(|a| a.id == id) else { break };
            next = a.parent.clone();
            out.push(a.clone());
        }
        out
    }

    /// The facts the store loads for `who` in `account` (on `resource`).
    fn facts(&self, who: &UserId, account: &AccountId, resource: Option<&ResourceId>) -> Facts {
        let chain = self.chain(account);
        let ids: BTreeSet<AccountId> = chain.iter().map(|a| a.id.clone()).collect();
        let delegations: Vec<DelegationFacts> = self
            .delegations
            .iter()
            .filter(|d| ids.contains(&d.to_account))
            .map(|d| {
                let mut d = d.clone();
                if let Some(a) = self.accounts.iter().find(|a| a.id == d.from_account.id) {
                    d.from_account = a.clone();
                }
                d
            })
            .collect();
        let sources: BTreeSet<AccountId> = delegations.iter().map(|d| d.from_account.id.clone()).collect();
        Facts {
            subject: self.users.get(who).map(|status| SubjectFacts { id: who.clone(), status: *status }),
            memberships: self
                .memberships
                .iter()
                .filter(|(u, m)| u == who && (ids.contains(&m.account) || sources.contains(&m.account)))
                .map(|(_, m)| m.clone())
                .collect(),
            chain,
            delegations,
            resource: resource.and_then(|r| self.resources.iter().find(|x| x.id == *r).cloned()),
        }
    }

    fn roles_of_target(&self) -> Vec<Role> {
        let kind = AccountKind::from_trusted("customer");
        self.catalog.kind(&kind).unwrap().roles.clone()
    }

    /// The view the store loads: own active members first, then the delegating accounts' members.
    fn view(&self, request: &AccessRequest) -> AccountView {
        let target = acc(TARGET);
        let subject_facts = self.facts(&request.subject, &target, None);
        let mut resources: BTreeSet<ResourceId> = subject_facts
            .memberships
            .iter()
            .filter(|m| m.account == target)
            .flat_map(|m| m.resources.iter().flat_map(|r| r.ids().cloned().collect::<Vec<_>>()))
            .collect();
        resources.extend(request.resource.clone());
        let candidate = |u: &UserId, via: Via| Candidate {
            user: u.clone(),
            via,
            in_accounts: self.chain(&target).iter().map(|a| (a.id.clone(), self.facts(u, &a.id, None))).collect(),
            on_resources: resources.iter().map(|r| (r.clone(), self.facts(u, &target, Some(r)))).collect(),
        };
        let mut own: Vec<&UserId> = self
            .memberships
            .iter()
            .filter(|(_, m)| m.account == target && m.status == MembershipStatus::Active)
            .map(|(u, _)| u)
            .collect();
        own.sort();
        own.dedup();
        let mut candidates: Vec<Candidate> = own.into_iter().map(|u| candidate(u, Via::Member)).collect();
        for d in self.delegations.iter().filter(|d| d.to_account == target) {
            let mut theirs: Vec<&UserId> = self
                .memberships
                .iter()
                .filter(|(_, m)| m.account == d.from_account.id && m.status == MembershipStatus::Active)
                .map(|(u, _)| u)
                .collect();
            theirs.sort();
            theirs.dedup();
            candidates.extend(theirs.into_iter().map(|u| candidate(u, Via::Delegation(d.id.clone()))));
        }
        AccountView {
            roles: self.roles_of_target(),
            requires_approval: self.requires_approval,
            requesters: self.requesters.clone(),
            subject_accounts: {
                let mut a: Vec<AccountId> = self
                    .memberships
                    .iter()
                    .filter(|(u, _)| *u == request.subject)
                    .map(|(_, m)| m.account.clone())
                    .collect();
                a.sort();
                a.dedup();
                a
            },
            candidates,
            candidates_truncated: false,
        }
    }

    fn ask(&self, who: &str, permission: &str, resource: Option<&str>) -> (AccessRequest, Vec<Suggestion>) {
        let request = AccessRequest {
            subject: user(who),
            account: acc(TARGET),
            permission: Permission::parse(permission).unwrap(),
            resource: resource.map(res),
        };
        let facts = self.facts(&request.subject, &request.account, request.resource.as_ref());
        let out = suggest(&self.catalog, &request, &facts, &self.view(&request), NOW);
        (request, out)
    }
}

fn names(step: &Step) -> Vec<&str> {
    step.fixers.iter().map(|f| f.user.as_str()).collect()
}

/// The bakery of the seeds: Lucie administers it; Marc, client user, reaches the 2025 folder only;
/// David manages it through the partner's delegation.
fn bakery() -> World {
    let mut w = World::new();
    w.member("lucie", TARGET, &["client_administrator"], MembershipStatus::Active, None);
    w.member("marc", TARGET, &["client_user"], MembershipStatus::Active, Some(&[("comptes-2025", Level::View)]));
    w.member("david", "nuage", &["delegated_account_administrator"], MembershipStatus::Active, None);
    w.member("karim", "nuage", &["delegated_account_administrator"], MembershipStatus::Active, None);
    w.delegate("client_administrator");
    w
}

#[test]
fn marc_denied_the_legal_folder_is_told_the_restriction_and_lucie() {
    let w = bakery();
    let (_, out) = w.ask("marc", "folders:view", Some("juridique"));
    let first = &out[0];
    assert_eq!(first.steps.len(), 1);
    assert_eq!(
        first.steps[0].change,
        Change::ExtendRestriction {
            membership: MembershipId::from_trusted("m-marc-bakery"),
            resource: res("juridique"),
            level: Level::View
        }
    );
    assert_eq!(first.steps[0].decided_in, Some(acc(TARGET)));
    // Lucie first (the bakery's own administrator), then the partner's delegated members; never Marc.
    assert_eq!(names(&first.steps[0]), ["lucie", "david", "karim"]);
    assert_eq!(first.steps[0].fixers[1].via, Via::Delegation(DelegationId::from_trusted("dl-nuage-bakery")));
    assert!(!first.steps[0].more_fixers);
    assert!(!first.steps[0].four_eyes);
    // Raising the cap to full on the 2025 folder: the same change, at full.
    let (_, out) = w.ask("marc", "folders:full", Some("comptes-2025"));
    assert!(out.iter().any(|s| s.steps.iter().any(|st| matches!(
        &st.change,
        Change::ExtendRestriction { resource, level: Level::Full, .. } if resource.as_str() == "comptes-2025"
    ))));
}

#[test]
fn a_role_that_carries_the_level_is_named_smallest_first() {
    let w = bakery();
    let (_, out) = w.ask("marc", "users:view", None);
    let roles: Vec<&str> = out
        .iter()
        .filter_map(|s| match &s.steps[..] {
            [Step { change: Change::AssignRole { role, .. }, .. }] => Some(role.as_str()),
            _ => None,
        })
        .collect();
    assert!(!roles.is_empty());
    let sizes: Vec<u32> = roles.iter().map(|r| role_size(&w.role(TARGET, r))).collect();
    assert!(sizes.windows(2).all(|p| p[0] <= p[1]), "{roles:?} {sizes:?}");
    assert!(!roles.contains(&"client_user"), "Marc holds it already");
}

#[test]
fn four_eyes_and_a_pending_membership() {
    let mut w = bakery();
    w.requires_approval = true;
    let m = w.member("sophie", TARGET, &["client_user"], MembershipStatus::PendingApproval, None);
    w.requesters.insert(m.clone(), user("lucie"));
    let (_, out) = w.ask("sophie", "billing:view", None);
    assert_eq!(out[0].steps.len(), 1);
    assert_eq!(out[0].steps[0].change, Change::ApproveMembership { membership: m });
    // Lucie asked for it: she cannot approve it; David can.
    assert_eq!(names(&out[0].steps[0]), ["david", "karim"]);
    let (_, out) = w.ask("marc", "users:view", None);
    assert!(out[0].steps[0].four_eyes, "new access in the bakery waits for a second approver");
}

#[test]
fn a_partner_member_without_delegation_is_told_a_delegation_decided_by_the_customer() {
    let mut w = bakery();
    w.delegations.clear();
    let (_, out) = w.ask("david", "users:view", None);
    assert!(!out.is_empty());
    for s in &out {
        let [step] = &s.steps[..] else { panic!("one step: {s:?}") };
        assert!(matches!(&step.change, Change::CreateDelegation { from, .. } if from.as_str() == "nuage"));
        assert_eq!(names(step), ["lucie"], "the customer's administrators decide, not the partner");
    }
}

#[test]
fn no_second_delegation_is_suggested_where_one_exists() {
    // A delegation from the partner into the bakery exists with a smaller role: another one would
    // be refused (one delegation per pair of accounts), so none is suggested.
    let mut w = bakery();
    w.delegations.clear();
    w.delegate("client_user");
    // client_user carries no `users` level: David is denied users:full through it.
    let (_, out) = w.ask("david", "users:full", None);
    let steps: Vec<&Change> = out.iter().flat_map(|s| &s.steps).map(|s| &s.change).collect();
    assert!(!steps.iter().any(|c| matches!(c, Change::CreateDelegation { .. })), "{steps:?}");
    // Without it, the delegation is what David is told.
    w.delegations.clear();
    let (_, out) = w.ask("david", "users:full", None);
    assert!(out.iter().flat_map(|s| &s.steps).any(|s| matches!(s.change, Change::CreateDelegation { .. })));
}

#[test]
fn a_disabled_module_is_enabled_in_the_parent_and_nobody_of_the_bakery_may() {
    let mut w = bakery();
    w.accounts[1].modules.remove(&FeatureName::from_trusted("folders"));
    let (_, out) = w.ask("lucie", "folders:view", Some("paie"));
    let [s] = &out[..] else { panic!("one suggestion: {out:?}") };
    let [step] = &s.steps[..] else { panic!("one step: {s:?}") };
    assert_eq!(
        step.change,
        Change::EnableModule { account: acc(TARGET), feature: FeatureName::from_trusted("folders") }
    );
    assert_eq!(step.decided_in, Some(acc("nuage")));
    assert!(step.fixers.is_empty(), "the partner's members are not named: {step:?}");
}

#[test]
fn nothing_is_suggested_when_allowed_or_unknown() {
    let w = bakery();
    assert!(w.ask("lucie", "users:full", None).1.is_empty());
    assert!(w.ask("nobody", "users:view", None).1.is_empty());
    assert!(w.ask("marc", "folders:view", Some("no-such-folder")).1.is_empty());
}

#[test]
fn more_than_ten_fixers_are_bounded() {
    let mut w = bakery();
    for i in 0..12 {
        w.member(&format!("admin{i:02}"), TARGET, &["client_administrator"], MembershipStatus::Active, None);
    }
    let (_, out) = w.ask("marc", "folders:view", Some("juridique"));
    assert_eq!(out[0].steps[0].fixers.len(), MAX_FIXERS);
    assert!(out[0].steps[0].more_fixers);
    assert_eq!(out[0].steps[0].fixers[0].user.as_str(), "admin00");
}

// ---- The property -------------------------------------------------------------------------

const CUSTOMER_ROLES: [&str; 4] = ["client_administrator", "client_user", "administrator", "owner"];
const PARTNER_ROLES: [&str; 3] = ["account_manager", "billing_manager", "delegated_account_administrator"];
const USERS: [&str; 5] = ["s", "u1", "u2", "u3", "u4"];
const PERMISSIONS: [&str; 8] = [
    "users:view",
    "users:full",
    "folders:view",
    "folders:full",
    "billing:view",
    "access_approvals:full",
    "organizations:view",
    "invoices:full",
];
const RESOURCES: [&str; 3] = ["comptes-2025", "paie", "juridique"];

fn status() -> impl Strategy<Value = MembershipStatus> {
    prop_oneof![
        5 => Just(MembershipStatus::Active),
        1 => Just(MembershipStatus::PendingApproval),
        1 => Just(MembershipStatus::Suspended),
    ]
}

fn restriction() -> impl Strategy<Value = Option<Vec<(usize, bool)>>> {
    proptest::option::weighted(0.4, proptest::collection::vec((0usize..3, any::<bool>()), 0..=2))
}

type RawMember = (usize, bool, Vec<usize>, MembershipStatus, Option<Vec<(usize, bool)>>);

fn raw_member() -> impl Strategy<Value = RawMember> {
    (0usize..USERS.len(), any::<bool>(), proptest::collection::vec(0usize..4, 1..=2), status(), restriction())
}

#[derive(Debug, Clone)]
struct Raw {
    members: Vec<RawMember>,
    delegation: Option<usize>,
    folders_enabled: bool,
    bakery_suspended: bool,
    subject_suspended: bool,
    requires_approval: bool,
    requester: Option<usize>,
    permission: usize,
    resource: Option<usize>,
}

prop_compose! {
    fn raw()(
        members in proptest::collection::vec(raw_member(), 1..=7),
        delegation in proptest::option::of(0usize..4),
        folders_enabled in prop_oneof![4 => Just(true), 1 => Just(false)],
        bakery_suspended in prop_oneof![6 => Just(false), 1 => Just(true)],
        subject_suspended in prop_oneof![6 => Just(false), 1 => Just(true)],
        requires_approval in any::<bool>(),
        requester in proptest::option::of(0usize..USERS.len()),
        permission in 0usize..PERMISSIONS.len(),
        resource in proptest::option::of(0usize..3),
    ) -> Raw {
        Raw {
            members,
            delegation,
            folders_enabled,
            bakery_suspended,
            subject_suspended,
            requires_approval,
            requester,
            permission,
            resource,
        }
    }
}

fn world_of(raw: &Raw) -> World {
    let mut w = World::new();
    let mut seen = BTreeSet::new();
    for (u, in_partner, roles, status, restriction) in &raw.members {
        let account = if *in_partner { "nuage" } else { TARGET };
        if !seen.insert((*u, account)) {
            continue;
        }
        let names: Vec<&str> = roles
            .iter()
            .map(|i| if *in_partner { PARTNER_ROLES[i % PARTNER_ROLES.len()] } else { CUSTOMER_ROLES[*i] })
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let restriction: Option<Vec<(&str, Level)>> = restriction.as_ref().filter(|_| !*in_partner).map(|rs| {
            rs.iter().map(|(r, full)| (RESOURCES[*r], if *full { Level::Full } else { Level::View })).collect()
        });
        let id = w.member(USERS[*u], account, &names, *status, restriction.as_deref());
        if *status == MembershipStatus::PendingApproval
            && let Some(r) = raw.requester
        {
            w.requesters.insert(id, user(USERS[r]));
        }
    }
    w.users.entry(user("s")).or_insert(UserStatus::Active);
    if raw.subject_suspended {
        w.users.insert(user("s"), UserStatus::Suspended);
    }
    if let Some(r) = raw.delegation {
        w.delegate(CUSTOMER_ROLES[r]);
    }
    if !raw.folders_enabled {
        w.accounts[1].modules.remove(&FeatureName::from_trusted("folders"));
    }
    if raw.bakery_suspended {
        w.accounts[1].status = AccountStatus::Suspended;
    }
    w.requires_approval = raw.requires_approval;
    w
}

/// `world` with `change` made.
fn change_world(w: &mut World, change: &Change) {
    let target = acc(TARGET);
    match change {
        Change::ReactivateUser { user } => {
            w.users.insert(user.clone(), UserStatus::Active);
        }
        Change::ReactivateAccount { account } => {
            for a in w.accounts.iter_mut().filter(|a| a.id == *account) {
                a.status = AccountStatus::Active;
            }
        }
        Change::EnableModule { account, feature } => {
            for a in w.accounts.iter_mut().filter(|a| a.id == *account) {
                a.modules.insert(feature.clone());
            }
        }
        Change::ApproveMembership { membership } | Change::ReactivateMembership { membership } => {
            for (_, m) in w.memberships.iter_mut().filter(|(_, m)| m.id == *membership) {
                m.status = MembershipStatus::Active;
            }
        }
        Change::AssignRole { membership, role } => {
            let role = w.role(TARGET, role.as_str());
            for (_, m) in w.memberships.iter_mut().filter(|(_, m)| m.id == *membership && m.account == target) {
                m.roles.push(role.clone());
            }
        }
        Change::ExtendRestriction { membership, resource, level } => {
            for (_, m) in w.memberships.iter_mut().filter(|(_, m)| m.id == *membership) {
                m.resources.as_mut().unwrap().insert(resource.clone(), *level);
            }
        }
        Change::CreateDelegation { from, to, role } => {
            let from_account = w.accounts.iter().find(|a| a.id == *from).unwrap().clone();
            let role = w.role(TARGET, role.as_str());
            w.delegations.push(DelegationFacts {
                id: DelegationId::from_trusted(format!("dl-new-{}", w.delegations.len())),
                from_account,
                to_account: to.clone(),
                role,
                expires_at: None,
            });
        }
    }
}

/// The rule book's answer for `actor` making `change`, from the world as the server reads it.
fn rule_book_allows(w: &World, request: &AccessRequest, actor: &UserId, change: &Change) -> bool {
    let target = acc(TARGET);
    let facts = w.facts(&request.subject, &target, None);
    let view = w.view(request);
    let op = operation(request, &facts, &view, change);
    let holds = |account: &AccountId, need: crate::rules::Need| {
        let r = AccessRequest {
            subject: actor.clone(),
            account: account.clone(),
            permission: need.permission(),
            resource: None,
        };
        evaluate(&w.catalog, &r, &w.facts(actor, account, None), NOW).allowed
    };
    let met = match op.requirement() {
        Requirement::Holds(a, need) => holds(&a, need),
        Requirement::AnyOf(options) => options.iter().any(|(a, n)| holds(a, *n)),
        Requirement::UserOr { user, accounts, need, every, own } => {
            if *actor == user {
                own == Own::Allowed
            } else {
                accounts.iter().any(|a| holds(a, need.as_view()))
                    && if every {
                        accounts.iter().all(|a| holds(a, need))
                    } else {
                        accounts.iter().any(|a| holds(a, need))
                    }
            }
        }
        Requirement::Member { account, user } => {
            *actor == user && crate::suggest::active_member(&w.facts(actor, &account, None), actor, &account, NOW)
        }
        Requirement::Scope => true,
        Requirement::ServiceOnly(_) => false,
    };
    if !met {
        return false;
    }
    let grant = |roles: &[Role], restriction: Option<&Restriction>| {
        let per: Vec<(ResourceId, Facts)> = restriction
            .into_iter()
            .flat_map(Restriction::ids)
            .map(|r| (r.clone(), w.facts(actor, &target, Some(r))))
            .collect();
        let reach = Reach::compute(&w.catalog, &w.facts(actor, &target, None), &per, Timestamp::NEVER);
        check_grant(Grant { roles, restriction }, &reach).is_ok()
    };
    let partner = || {
        let mut side: BTreeSet<AccountId> = facts.chain.iter().skip(1).map(|a| a.id.clone()).collect();
        side.extend(facts.delegations.iter().map(|d| d.from_account.id.clone()));
        check_partner_reach(&request.subject, &view.subject_accounts, &side).is_ok()
    };
    let m = |id: &MembershipId| w.memberships.iter().find(|(_, m)| m.id == *id).map(|(_, m)| m.clone()).unwrap();
    match change {
        Change::ReactivateUser { .. } | Change::ReactivateAccount { .. } | Change::EnableModule { .. } => true,
        Change::ApproveMembership { membership } => {
            let m = m(membership);
            check_four_eyes(actor, membership, w.requesters.get(membership), &request.subject).is_ok()
                && grant(&m.roles, m.resources.as_ref())
                && partner()
        }
        Change::ReactivateMembership { membership } => {
            let m = m(membership);
            grant(&m.roles, m.resources.as_ref()) && partner()
        }
        Change::AssignRole { membership, role } => {
            let m = m(membership);
            check_pending_frozen(actor, membership, m.status, w.requesters.get(membership)).is_ok()
                && grant(&[w.role(TARGET, role.as_str())], m.resources.as_ref())
                && partner()
        }
        Change::ExtendRestriction { membership, resource, level } => {
            let m = m(membership);
            let mut r = m.resources.clone().unwrap();
            r.insert(resource.clone(), *level);
            check_pending_frozen(actor, membership, m.status, w.requesters.get(membership)).is_ok()
                && grant(&m.roles, Some(&r))
                && partner()
        }
        Change::CreateDelegation { role, .. } => grant(&[w.role(TARGET, role.as_str())], None),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn every_suggestion_grants_and_every_fixer_may_make_it(raw in raw()) {
        let w = world_of(&raw);
        let resource = raw.resource.map(|r| RESOURCES[r]);
        let (request, out) = w.ask("s", PERMISSIONS[raw.permission], resource);
        let own: BTreeSet<&str> =
            w.memberships.iter().filter(|(_, m)| m.account.as_str() == TARGET).map(|(u, _)| u.as_str()).collect();
        let delegating: BTreeSet<&str> = if w.delegations.is_empty() {
            BTreeSet::new()
        } else {
            w.memberships.iter().filter(|(_, m)| m.account.as_str() == "nuage").map(|(u, _)| u.as_str()).collect()
        };
        prop_assert!(out.len() <= MAX_SUGGESTIONS);
        for (i, s) in out.iter().enumerate() {
            // Applied one after the other, by the members named, the changes grant.
            let mut after = w.clone();
            for step in &s.steps {
                prop_assert!(step.fixers.len() <= MAX_FIXERS);
                for f in &step.fixers {
                    prop_assert_ne!(f.user.as_str(), "s", "never the subject");
                    match &f.via {
                        Via::Member => prop_assert!(own.contains(f.user.as_str())),
                        Via::Delegation(_) => prop_assert!(delegating.contains(f.user.as_str())),
                    }
                    prop_assert!(
                        rule_book_allows(&w, &request, &f.user, &step.change),
                        "{} may not make {:?}", f.user, step.change
                    );
                }
                change_world(&mut after, &step.change);
            }
            let facts = after.facts(&request.subject, &request.account, request.resource.as_ref());
            let decision = evaluate(&w.catalog, &request, &facts, NOW);
            prop_assert!(decision.allowed, "suggestion {i} {s:?} does not grant: {:?}", decision.reason);
            // Minimal: no other suggestion is contained in it.
            let mine: BTreeSet<&Change> = s.steps.iter().map(|st| &st.change).collect();
            for (j, other) in out.iter().enumerate() {
                if i != j {
                    prop_assert!(!other.steps.iter().all(|st| mine.contains(&st.change)), "{other:?} is inside {s:?}");
                }
            }
        }
    }
}
