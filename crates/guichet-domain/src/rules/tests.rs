//! The rule book's unit tests: the table, and each invariant on the seeds' world. The model test
//! (random worlds and operation sequences) is in `model.rs`.

use std::collections::BTreeSet;

use super::*;
use crate::decision::{AccountFacts, DelegationFacts, MembershipFacts, ResourceFacts, SubjectFacts};
use crate::ids::DelegationId;
use crate::status::{AccountStatus, UserStatus};

fn catalog() -> Catalog {
    Catalog::builtin().unwrap()
}

fn acc(id: &str, kind: &str, parent: Option<&str>, modules: &[&str]) -> AccountFacts {
    AccountFacts {
        id: AccountId::from_trusted(id),
        kind: AccountKind::from_trusted(kind),
        status: AccountStatus::Active,
        parent: parent.map(AccountId::from_trusted),
        modules: modules.iter().map(|m| FeatureName::from_trusted(*m)).collect(),
    }
}

fn builtin(kind: &str, role: &str) -> Role {
    catalog().builtin_role(&AccountKind::from_trusted(kind), &RoleName::from_trusted(role)).unwrap().clone()
}

fn member(id: &str, account: &str, roles: Vec<Role>, restriction: Option<&[&str]>) -> MembershipFacts {
    MembershipFacts {
        id: MembershipId::from_trusted(id),
        account: AccountId::from_trusted(account),
        status: MembershipStatus::Active,
        roles,
        resources: restriction.map(|r| r.iter().map(|x| ResourceId::from_trusted(*x)).collect()),
        expires_at: None,
    }
}

fn facts(chain: Vec<AccountFacts>, memberships: Vec<MembershipFacts>, delegations: Vec<DelegationFacts>) -> Facts {
    Facts {
        subject: Some(SubjectFacts { id: UserId::from_trusted("actor"), status: UserStatus::Active }),
        chain,
        memberships,
        delegations,
        resource: None,
    }
}

fn lvl(g: &Grants, f: &str) -> Level {
    g.get(&FeatureName::from_trusted(f)).copied().unwrap_or(Level::None)
}

#[test]
fn every_rpc_has_a_unique_path_and_a_scope() {
    let paths: BTreeSet<_> = Rpc::ALL.iter().map(|r| r.path()).collect();
    assert_eq!(paths.len(), Rpc::ALL.len());
    assert_eq!(Rpc::from_path("/guichet.v1.RoleService/CreateRole"), Some(Rpc::CreateRole));
    assert_eq!(Rpc::from_path("/guichet.v1.RoleService/createrole"), None);
    assert_eq!(Rpc::ListCatalog.scope(), Scope::CheckOrAdmin);
    assert_eq!(Rpc::ListMyAccounts.scope(), Scope::CheckOrAdmin);
    assert_eq!(Rpc::CheckAccess.scope(), Scope::Check);
    assert_eq!(Rpc::CreateDelegation.scope(), Scope::Admin);
}

#[test]
fn a_delegation_is_decided_by_the_customer() {
    let op = Operation::CreateDelegation { from: AccountId::from_trusted("p"), to: AccountId::from_trusted("c") };
    assert_eq!(op.requirement(), Requirement::Holds(AccountId::from_trusted("c"), Need::full("users")));
}

#[test]
fn the_reach_of_a_restricted_administrator_is_its_folders() {
    let cat = catalog();
    let admin = builtin("customer", "client_administrator");
    let f = facts(
        vec![acc("c", "customer", None, &[])],
        vec![member("m", "c", vec![admin.clone()], Some(&["f1"]))],
        vec![],
    );
    let mut on_f1 = f.clone();
    on_f1.memberships[0].resources = Some([ResourceId::from_trusted("f1")].into_iter().collect());
    on_f1.resource = Some(ResourceFacts { id: ResourceId::from_trusted("f1"), account: AccountId::from_trusted("c") });
    let mut on_f2 = f.clone();
    on_f2.memberships[0].resources = Some(Restriction::new());
    on_f2.resource = Some(ResourceFacts { id: ResourceId::from_trusted("f2"), account: AccountId::from_trusted("c") });
    let reach = Reach::compute(
        &cat,
        &f,
        &[(ResourceId::from_trusted("f1"), on_f1), (ResourceId::from_trusted("f2"), on_f2)],
        Timestamp::NEVER,
    );
    assert_eq!(lvl(&reach.everywhere, "users"), Level::None);
    assert_eq!(lvl(&reach.account, "users"), Level::Full);
    assert_eq!(lvl(&reach.resources[&ResourceId::from_trusted("f1")], "folders"), Level::Full);
    assert_eq!(lvl(&reach.resources[&ResourceId::from_trusted("f2")], "folders"), Level::None);

    // Lifting the restriction, an unrestricted membership, a folder out of reach: refused.
    let roles = [admin];
    let everywhere = check_grant(Grant { roles: &roles, restriction: None }, &reach);
    assert!(matches!(everywhere, Err(Violation::Escalation { .. })), "{everywhere:?}");
    let f2: Restriction = [ResourceId::from_trusted("f2")].into_iter().collect();
    assert!(check_grant(Grant { roles: &roles, restriction: Some(&f2) }, &reach).is_err());
    let f1: Restriction = [ResourceId::from_trusted("f1")].into_iter().collect();
    assert_eq!(check_grant(Grant { roles: &roles, restriction: Some(&f1) }, &reach), Ok(()));
}

#[test]
fn disabled_modules_are_compared_not_skipped() {
    let cat = catalog();
    // An administrator of an account where voip_911 is not enabled, holding none on it.
    let mut role = builtin("customer", "client_administrator");
    role.grants.remove(&FeatureName::from_trusted("voip_911"));
    let f = facts(vec![acc("c", "customer", None, &[])], vec![member("m", "c", vec![role], None)], vec![]);
    let reach = Reach::compute(&cat, &f, &[], Timestamp::NEVER);
    let wanted = Grants::from([(FeatureName::from_trusted("voip_911"), Level::Full)]);
    assert!(check_role_definition(&wanted, &Grants::new(), &reach).is_err());
    // What the actor holds is compared without the cap: billing, a module not enabled either.
    let billing = Grants::from([(FeatureName::from_trusted("billing"), Level::Full)]);
    assert_eq!(check_role_definition(&billing, &Grants::new(), &reach), Ok(()));
}

#[test]
fn partner_custom_roles_carry_no_descendant_levels() {
    let cat = catalog();
    let users_full = Grants::from([(FeatureName::from_trusted("users"), Level::Full)]);
    let refused = check_descendant_levels(&cat, &AccountKind::from_trusted("partner"), &users_full);
    assert!(matches!(refused, Err(Violation::DescendantLevel { allowed: Level::None, .. })), "{refused:?}");
    assert_eq!(check_descendant_levels(&cat, &AccountKind::from_trusted("partner"), &Grants::new()), Ok(()));
}

#[test]
fn a_delegated_actor_reaches_descendants_only_through_descendant_levels() {
    let cat = catalog();
    let chain = vec![acc("s", "sub_partner", Some("p"), &[]), acc("p", "partner", None, &[])];
    let da = builtin("partner", "delegated_account_administrator");
    let delegation = DelegationFacts {
        id: DelegationId::from_trusted("d"),
        from_account: acc("hq", "partner", None, &[]),
        to_account: AccountId::from_trusted("s"),
        role: builtin("sub_partner", "account_manager"),
        expires_at: None,
    };
    let f = facts(chain, vec![member("m", "hq", vec![da], None)], vec![delegation]);
    let reach = Reach::compute(&cat, &f, &[], Timestamp::NEVER);
    assert_eq!(lvl(&reach.everywhere, "users"), Level::Full);
    assert_eq!(lvl(&reach.descendants, "users"), Level::None);
}

#[test]
fn four_eyes_and_frozen_requests() {
    let (a, b) = (UserId::from_trusted("a"), UserId::from_trusted("b"));
    let m = MembershipId::from_trusted("m");
    assert!(check_four_eyes(&a, &m, Some(&a), &b).is_err());
    assert!(check_four_eyes(&a, &m, Some(&b), &a).is_err());
    assert_eq!(check_four_eyes(&a, &m, Some(&b), &b), Ok(()));
    assert!(check_pending_frozen(&a, &m, MembershipStatus::PendingApproval, Some(&a)).is_err());
    assert_eq!(check_pending_frozen(&b, &m, MembershipStatus::PendingApproval, Some(&a)), Ok(()));
    assert_eq!(check_pending_frozen(&a, &m, MembershipStatus::Active, Some(&a)), Ok(()));
}

#[test]
fn limits_and_profiles() {
    let roles: Vec<RoleName> = (0..=MAX_ROLES).map(|i| RoleName::from_trusted(format!("r{i}"))).collect();
    assert_eq!(check_role_limit(&roles), Err(Violation::RoleLimit));
    assert_eq!(check_role_limit(&roles[..MAX_ROLES]), Ok(()));
    let u = UserId::from_trusted("u");
    assert!(check_profile_change(&u, ProfileEditor::Owner, true, true).is_err());
    assert!(check_profile_change(&u, ProfileEditor::Administrator, false, true).is_err());
    assert_eq!(check_profile_change(&u, ProfileEditor::Administrator, false, false), Ok(()));
    let side = BTreeSet::from([AccountId::from_trusted("p")]);
    assert!(check_partner_reach(&u, &[AccountId::from_trusted("p")], &side).is_err());
    assert_eq!(check_partner_reach(&u, &[AccountId::from_trusted("c")], &side), Ok(()));
}
