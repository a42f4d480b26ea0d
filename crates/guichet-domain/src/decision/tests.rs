//! Unit tests of the decision, with the built-in catalog (the seeds), over worlds written as data
//! ([`WorldSpec`]) and loaded into the facts a store would return ([`WorldSpec::resolve`]).

use std::collections::BTreeSet;

use super::*;
/// The instant the tests evaluate at.
pub(super) const NOW: Timestamp = Timestamp::from_millis(1_000_000);

use crate::world::{AccountSpec, DelegationSpec, MembershipSpec, ResourceSpec, UserSpec, WorldSpec};

/// A world the tests build, with the built-in catalog.
#[derive(Clone)]
pub(super) struct World {
    pub(super) catalog: Catalog,
    pub(super) spec: WorldSpec,
}

pub(super) fn aid(s: &str) -> AccountId {
    AccountId::parse(s).unwrap()
}
pub(super) fn uid(s: &str) -> UserId {
    UserId::parse(s).unwrap()
}
pub(super) fn rid(s: &str) -> ResourceId {
    ResourceId::parse(s).unwrap()
}
pub(super) fn perm(s: &str) -> Permission {
    Permission::parse(s).unwrap()
}

impl World {
    pub(super) fn new() -> Self {
        World { catalog: Catalog::builtin().unwrap(), spec: WorldSpec::new() }
    }

    /// The seeds' tree: partner p → sub-partner s → customer c2; p → customer c; affiliate a →
    /// customer ac; direct client d.
    pub(super) fn seeds() -> Self {
        let spec = WorldSpec {
            accounts: vec![
                AccountSpec::new("p", "partner"),
                AccountSpec::new("s", "sub_partner").under("p"),
                AccountSpec::new("c", "customer").under("p"),
                AccountSpec::new("c2", "customer").under("s"),
                AccountSpec::new("a", "affiliate"),
                AccountSpec::new("ac", "customer").under("a"),
                AccountSpec::new("d", "direct_client"),
            ],
            ..WorldSpec::new()
        };
        World { spec, ..World::new() }
    }

    pub(super) fn account(&mut self, id: &str, kind: &str, parent: Option<&str>) {
        let account = AccountSpec::new(id, kind);
        self.spec.accounts.push(match parent {
            Some(p) => account.under(p),
            None => account,
        });
    }

    pub(super) fn role(&self, account: &str, name: &str) -> Role {
        let kind = &self.spec.accounts.iter().find(|a| a.id == account).unwrap().kind;
        let kind = AccountKind::parse(kind).unwrap();
        self.catalog.builtin_role(&kind, &RoleName::parse(name).unwrap()).unwrap().clone()
    }

    /// Adds an active, unrestricted membership `m-{user}-{account}` (and the user, if new).
    pub(super) fn member(&mut self, user: &str, account: &str, roles: &[&str]) -> &mut MembershipSpec {
        if self.spec.user_mut(user).is_none() {
            self.spec.users.push(UserSpec::new(user));
        }
        let id = format!("m-{user}-{account}");
        self.spec.memberships.push(MembershipSpec::new(&id, user, account, roles));
        self.spec.memberships.last_mut().unwrap()
    }

    pub(super) fn delegate(&mut self, from: &str, to: &str, role: &str) {
        self.spec.delegations.push(DelegationSpec::new(&format!("d-{from}-{to}"), from, to, role));
    }

    pub(super) fn folder(&mut self, id: &str, account: &str) {
        self.spec.resources.push(ResourceSpec::new(id, account));
    }

    pub(super) fn set_status(&mut self, account: &str, status: AccountStatus) {
        self.spec.account_mut(account).unwrap().status = status;
    }

    pub(super) fn suspend_user(&mut self, user: &str) {
        self.spec.user_mut(user).unwrap().status = UserStatus::Suspended;
    }

    /// What the loader returns for `subject` in `account` (and `resource`).
    pub(super) fn facts(&self, subject: &str, account: &str, resource: Option<&str>) -> Facts {
        let request = AccessRequest {
            subject: uid(subject),
            account: aid(account),
            permission: perm("users:view"),
            resource: resource.map(rid),
        };
        self.spec.resolve(&self.catalog).unwrap().facts(&request)
    }

    pub(super) fn check(&self, subject: &str, account: &str, permission: &str) -> Decision {
        self.check_resource(subject, account, permission, None)
    }

    pub(super) fn check_resource(
        &self,
        subject: &str,
        account: &str,
        permission: &str,
        resource: Option<&str>,
    ) -> Decision {
        let request = AccessRequest {
            subject: uid(subject),
            account: aid(account),
            permission: perm(permission),
            resource: resource.map(rid),
        };
        evaluate(&self.catalog, &request, &self.facts(subject, account, resource), NOW)
    }
}

/// Seed 003's table: (kind, role, permission, allowed), each role held directly in its account.
#[test]
fn seed_003_partner_portal_roles() {
    let table: &[(&str, &str, &str, bool)] = &[
        // Partner — account manager: "a accès à tout".
        ("partner", "account_manager", "billing:full", true),
        ("partner", "account_manager", "users:full", true),
        ("partner", "account_manager", "organizations:full", true),
        ("partner", "account_manager", "delegated_administration:full", true),
        ("partner", "account_manager", "access_approvals:full", true),
        // Partner — billing manager: view but not modify organisations, users, offers; invoices,
        // payments, credit cards, price lists.
        ("partner", "billing_manager", "organizations:view", true),
        ("partner", "billing_manager", "organizations:full", false),
        ("partner", "billing_manager", "users:view", true),
        ("partner", "billing_manager", "users:full", false),
        ("partner", "billing_manager", "offers:view", true),
        ("partner", "billing_manager", "offers:full", false),
        ("partner", "billing_manager", "invoices:full", true),
        ("partner", "billing_manager", "billing:full", true),
        ("partner", "billing_manager", "payment_methods:full", true),
        ("partner", "billing_manager", "price_lists:view", true),
        ("partner", "billing_manager", "price_lists:full", false),
        ("partner", "billing_manager", "subscriptions:view", false),
        // Partner — technical manager.
        ("partner", "technical_manager", "organizations:full", true),
        ("partner", "technical_manager", "offers:full", true),
        ("partner", "technical_manager", "event_logs:view", true),
        ("partner", "technical_manager", "event_logs:full", false),
        ("partner", "technical_manager", "users:view", true),
        ("partner", "technical_manager", "users:full", false),
        ("partner", "technical_manager", "notifications:view", true),
        ("partner", "technical_manager", "price_lists:view", true),
        ("partner", "technical_manager", "billing:view", false),
        // Partner — subscription manager.
        ("partner", "subscription_manager", "subscriptions:full", true),
        ("partner", "subscription_manager", "event_logs:view", true),
        ("partner", "subscription_manager", "users:view", true),
        ("partner", "subscription_manager", "users:full", false),
        ("partner", "subscription_manager", "notifications:view", true),
        ("partner", "subscription_manager", "offers:view", false),
        // Partner — delegated account administrator.
        ("partner", "delegated_account_administrator", "delegated_administration:full", true),
        ("partner", "delegated_account_administrator", "organizations:view", true),
        ("partner", "delegated_account_administrator", "users:view", false),
        // Sub-partner — account manager: everything but the billing tab.
        ("sub_partner", "account_manager", "users:full", true),
        ("sub_partner", "account_manager", "organizations:full", true),
        ("sub_partner", "account_manager", "billing:view", false),
        ("sub_partner", "account_manager", "invoices:view", false),
        ("sub_partner", "account_manager", "payment_methods:view", false),
        ("sub_partner", "technical_manager", "organizations:full", true),
        ("sub_partner", "technical_manager", "users:full", false),
        ("sub_partner", "subscription_manager", "subscriptions:full", true),
        ("sub_partner", "subscription_manager", "notifications:full", false),
        // Direct client.
        ("direct_client", "account_manager", "billing:full", true),
        ("direct_client", "account_manager", "users:full", true),
        ("direct_client", "billing_manager", "users:view", true),
        ("direct_client", "billing_manager", "users:full", false),
        ("direct_client", "billing_manager", "offers:full", false),
        ("direct_client", "billing_manager", "invoices:full", true),
        ("direct_client", "billing_manager", "payment_methods:full", true),
        ("direct_client", "billing_manager", "account_settings:view", true),
        ("direct_client", "billing_manager", "account_settings:full", false),
        ("direct_client", "technical_manager", "offers:full", true),
        ("direct_client", "technical_manager", "event_logs:view", true),
        ("direct_client", "technical_manager", "organizations:view", false),
        ("direct_client", "subscription_manager", "subscriptions:full", true),
        ("direct_client", "subscription_manager", "billing:view", false),
        // Affiliate, in the affiliate itself.
        ("affiliate", "account_manager", "users:full", true),
        ("affiliate", "account_manager", "billing:full", true),
        ("affiliate", "technical_manager", "users:view", true),
        ("affiliate", "technical_manager", "users:full", false),
        ("affiliate", "technical_manager", "offers:full", false),
    ];
    let mut w = World::seeds();
    let account_of = |kind: &str| match kind {
        "partner" => "p",
        "sub_partner" => "s",
        "direct_client" => "d",
        _ => "a",
    };
    for (i, (kind, role, _, _)) in table.iter().enumerate() {
        w.member(&format!("u{i}"), account_of(kind), &[role]);
    }
    for (i, (kind, role, permission, expected)) in table.iter().enumerate() {
        let d = w.check(&format!("u{i}"), account_of(kind), permission);
        assert_eq!(d.allowed, *expected, "{kind} {role} {permission}: {d:?}");
        let reason = if *expected { Reason::Allowed } else { Reason::InsufficientLevel };
        assert_eq!(d.reason, reason, "{kind} {role} {permission}");
        if *expected {
            assert!(matches!(d.granted_by, Some(Path::Direct { .. })));
        }
    }
}

/// Seed 003: the affiliate's technical manager acts "for their clients"; its account manager has
/// access to everything, clients included.
#[test]
fn affiliate_roles_reach_their_clients() {
    let mut w = World::seeds();
    w.member("karim", "a", &["technical_manager"]);
    w.member("anna", "a", &["account_manager"]);
    let table = [
        ("karim", "offers:full", true),
        ("karim", "event_logs:view", true),
        ("karim", "users:view", true),
        ("karim", "users:full", false),
        ("karim", "notifications:view", true),
        ("karim", "price_lists:view", true),
        ("karim", "billing:view", false),
        ("anna", "billing:full", true),
        ("anna", "users:full", true),
    ];
    for (user, permission, expected) in table {
        let d = w.check(user, "ac", permission);
        assert_eq!(d.allowed, expected, "{user} {permission}: {d:?}");
    }
    let d = w.check("karim", "ac", "offers:full");
    assert_eq!(
        d.granted_by,
        Some(Path::Inherited {
            membership: MembershipId::parse("m-karim-a").unwrap(),
            ancestor: aid("a"),
            role: RoleName::parse("technical_manager").unwrap(),
        })
    );
    // In the affiliate itself, offers are not the technical manager's.
    assert!(!w.check("karim", "a", "offers:full").allowed);
}

/// Seed 001: a client administrator creates client users (users:full) and validates access; a
/// client user does not.
#[test]
fn seed_001_client_administrator_and_client_user() {
    let mut w = World::seeds();
    w.member("lucie", "c", &["client_administrator"]);
    w.member("marc", "c", &["client_user"]);
    let table = [
        ("lucie", "users:full", true),
        ("lucie", "access_approvals:full", true),
        ("lucie", "folders:full", true),
        ("lucie", "delegated_administration:full", false),
        ("marc", "users:view", false),
        ("marc", "users:full", false),
        ("marc", "access_approvals:full", false),
        ("marc", "folders:view", true),
        ("marc", "folders:full", false),
        ("marc", "invoices:view", true),
    ];
    for (user, permission, expected) in table {
        assert_eq!(w.check(user, "c", permission).allowed, expected, "{user} {permission}");
    }
    assert!(w.role("c", "client_administrator").is_administrator());
    assert!(!w.role("c", "client_user").is_administrator());
}

/// Seeds 002 and 004: owner, administrator and user of a customer.
#[test]
fn seeds_002_004_owner_administrator_user() {
    let mut w = World::seeds();
    w.member("olga", "c", &["owner"]);
    w.member("paul", "c", &["administrator"]);
    w.member("ugo", "c", &["user"]);
    let table = [
        ("olga", "users:full", true),
        ("olga", "billing:full", true),
        ("olga", "contacts:full", true),
        ("paul", "users:full", true),
        ("paul", "contacts:full", true),
        ("paul", "voip_911:full", true),
        ("paul", "voip_cdr:full", true),
        ("paul", "billing:full", true),
        ("paul", "access_approvals:full", true),
        ("paul", "hosting:full", false),
        ("ugo", "hosting:view", true),
        ("ugo", "billing:view", false),
        ("ugo", "users:view", false),
    ];
    for (user, permission, expected) in table {
        assert_eq!(w.check(user, "c", permission).allowed, expected, "{user} {permission}");
    }
}

/// Seed 000: view is satisfied by full, none denies; a member whose role gives none is told so.
#[test]
fn seed_000_none_view_full() {
    let mut w = World::seeds();
    w.member("bruno", "p", &["billing_manager"]);
    let d = w.check("bruno", "p", "invoices:view");
    assert!(d.allowed);
    assert_eq!((d.required, d.effective), (Level::View, Level::Full));
    let d = w.check("bruno", "p", "users:full");
    assert_eq!((d.allowed, d.effective, d.reason), (false, Level::View, Reason::InsufficientLevel));
    assert_eq!(d.paths[0].outcome, PathOutcome::Insufficient);
    let d = w.check("bruno", "p", "subscriptions:view");
    assert_eq!((d.allowed, d.effective, d.reason), (false, Level::None, Reason::InsufficientLevel));
}

#[test]
fn several_roles_take_the_highest_level() {
    let mut w = World::seeds();
    w.member("x", "p", &["billing_manager", "technical_manager"]);
    let d = w.check("x", "p", "organizations:full");
    assert!(d.allowed);
    assert_eq!(d.paths.len(), 2);
    assert_eq!(d.paths[0].outcome, PathOutcome::Insufficient);
    assert_eq!(d.paths[1].outcome, PathOutcome::Granted);
    assert_eq!(d.granted_by.as_ref().map(|p| p.role().as_str()), Some("technical_manager"));
}

/// DESIGN §2: no delegation row, no access — however high the member's role in the partner.
#[test]
fn partner_members_reach_customers_only_through_delegations() {
    let mut w = World::seeds();
    w.member("claire", "p", &["account_manager"]);
    w.member("david", "p", &["delegated_account_administrator"]);
    w.member("bruno", "p", &["billing_manager"]);

    // No delegation: nothing, not even for the account manager.
    let d = w.check("claire", "c", "users:view");
    assert_eq!((d.allowed, d.reason), (false, Reason::NoAccessPath));
    assert_eq!(d.paths.len(), 1, "the inherited path is listed: {d:?}");
    assert_eq!(d.paths[0].outcome, PathOutcome::Insufficient);
    assert!(matches!(d.paths[0].path, Path::Inherited { .. }));
    let d = w.check("david", "c", "users:view");
    assert_eq!(d.reason, Reason::NoAccessPath);

    // With a delegation of client_administrator into c.
    w.delegate("p", "c", "client_administrator");
    let d = w.check("david", "c", "users:full");
    assert!(d.allowed, "{d:?}");
    assert_eq!(
        d.granted_by,
        Some(Path::Delegated {
            delegation: DelegationId::parse("d-p-c").unwrap(),
            from_account: aid("p"),
            membership: MembershipId::parse("m-david-p").unwrap(),
            into: aid("c"),
            role: RoleName::parse("client_administrator").unwrap(),
        })
    );
    // The account manager holds delegated_administration:full too (everything).
    assert!(w.check("claire", "c", "billing:full").allowed);
    // A billing manager does not hold the delegation right.
    let d = w.check("bruno", "c", "invoices:view");
    assert_eq!((d.allowed, d.reason), (false, Reason::NoAccessPath));
    let delegated: Vec<_> = d.paths.iter().filter(|p| matches!(p.path, Path::Delegated { .. })).collect();
    assert_eq!(delegated.len(), 1);
    assert_eq!(delegated[0].outcome, PathOutcome::NoDelegationRight);
    assert_eq!(delegated[0].level, Level::Full);
    // The delegation reaches c, not the other customer c2.
    assert!(!w.check("david", "c2", "users:view").allowed);
}

#[test]
fn a_delegation_into_an_ancestor_reaches_its_descendants_through_descendant_levels_only() {
    let mut w = World::seeds();
    w.account("hq", "partner", None);
    w.member("eve", "hq", &["delegated_account_administrator"]);
    w.delegate("hq", "s", "technical_manager");
    // The sub-partner's technical manager carries no descendant levels: the delegation into s
    // gives nothing in s's customers — no access path, not an insufficient one.
    let d = w.check("eve", "c2", "organizations:full");
    assert_eq!((d.allowed, d.reason), (false, Reason::NoAccessPath), "{d:?}");
    assert!(d.paths.iter().any(|p| matches!(&p.path, Path::Delegated { into, .. } if into.as_str() == "s")));
    assert!(w.check("eve", "s", "offers:full").allowed);
    assert!(!w.check("eve", "s", "users:full").allowed);
}

#[test]
fn delegation_needs_an_active_source_and_membership() {
    let mut w = World::seeds();
    w.account("hq", "partner", None);
    w.member("eve", "hq", &["delegated_account_administrator"]);
    w.delegate("hq", "c", "client_administrator");
    assert!(w.check("eve", "c", "users:full").allowed);

    let mut suspended = w.clone();
    suspended.set_status("hq", AccountStatus::Suspended);
    let d = suspended.check("eve", "c", "users:full");
    assert_eq!((d.allowed, d.reason), (false, Reason::NoAccessPath));
    assert_eq!(d.paths[0].outcome, PathOutcome::SourceSuspended);
    assert!(d.caps.is_empty(), "the source is not on the chain");

    let mut pending = w.clone();
    pending.spec.memberships[0].status = MembershipStatus::PendingApproval;
    let d = pending.check("eve", "c", "users:full");
    assert_eq!(d.paths[0].outcome, PathOutcome::Inactive(MembershipStatus::PendingApproval));
    assert_eq!(d.reason, Reason::NoAccessPath);
}

#[test]
fn modules_cap_module_features_only() {
    let mut w = World::seeds();
    w.member("paul", "c", &["administrator"]);
    w.spec.account_mut("c").unwrap().modules_off.insert("voip_911".to_owned());
    let d = w.check("paul", "c", "voip_911:view");
    assert_eq!((d.allowed, d.effective, d.reason), (false, Level::None, Reason::ModuleDisabled));
    assert_eq!(d.caps, vec![Cap::ModuleDisabled(FeatureName::parse("voip_911").unwrap())]);
    assert_eq!(d.paths[0].outcome, PathOutcome::Capped);
    assert_eq!(d.paths[0].level, Level::Full);
    // Administrative features are never modules.
    w.spec.account_mut("c").unwrap().modules = Some(BTreeSet::new());
    assert!(w.check("paul", "c", "users:full").allowed);
    assert!(w.check("paul", "c", "contacts:full").allowed);
    assert!(!w.check("paul", "c", "billing:view").allowed);
}

#[test]
fn suspensions_cap_everything() {
    let mut w = World::seeds();
    w.member("lucie", "c", &["client_administrator"]);
    w.member("karim", "a", &["technical_manager"]);

    let mut s = w.clone();
    s.suspend_user("lucie");
    let d = s.check("lucie", "c", "users:view");
    assert_eq!((d.allowed, d.reason, d.caps.clone()), (false, Reason::SubjectSuspended, vec![Cap::SubjectSuspended]));
    assert_eq!(d.paths[0].outcome, PathOutcome::Capped);

    let mut s = w.clone();
    s.set_status("c", AccountStatus::Suspended);
    let d = s.check("lucie", "c", "users:view");
    assert_eq!((d.allowed, d.reason), (false, Reason::AccountSuspended));
    assert_eq!(d.caps, vec![Cap::AccountSuspended(aid("c"))]);

    // A suspended ancestor suspends its whole subtree.
    let mut s = w.clone();
    s.set_status("p", AccountStatus::Suspended);
    let d = s.check("lucie", "c", "users:view");
    assert_eq!((d.allowed, d.reason), (false, Reason::AccountSuspended));
    assert_eq!(d.caps, vec![Cap::AccountSuspended(aid("p"))]);

    // An inherited path through a suspended ancestor is SourceSuspended.
    let mut s = w.clone();
    s.set_status("a", AccountStatus::Suspended);
    let d = s.check("karim", "ac", "offers:full");
    assert_eq!((d.allowed, d.reason), (false, Reason::AccountSuspended));
    assert_eq!(d.paths[0].outcome, PathOutcome::SourceSuspended);

    // Subject suspension comes first in the reasons.
    s.suspend_user("karim");
    let d = s.check("karim", "ac", "offers:full");
    assert_eq!(d.reason, Reason::SubjectSuspended);
    assert_eq!(d.caps, vec![Cap::SubjectSuspended, Cap::AccountSuspended(aid("a"))]);
}

#[test]
fn pending_and_suspended_memberships_grant_nothing() {
    for status in [MembershipStatus::PendingApproval, MembershipStatus::Suspended] {
        let mut w = World::seeds();
        w.member("lucie", "c", &["client_administrator"]).status = status;
        let d = w.check("lucie", "c", "users:view");
        assert_eq!((d.allowed, d.reason), (false, Reason::NoAccessPath), "{status}");
        assert_eq!(d.paths[0].outcome, PathOutcome::Inactive(status));
        assert_eq!(d.paths[0].level, Level::Full);
    }
}

/// Seed 001: folders are granted one by one; choosing the company does not grant its folders.
#[test]
fn folder_restrictions() {
    let mut w = World::seeds();
    for (r, a) in [("folder-a", "c"), ("folder-c", "c"), ("other", "c2")] {
        w.folder(r, a);
    }
    w.member("marc", "c", &["client_user"]).resources = Some([("folder-a".to_owned(), Level::Full)].into());
    w.member("lucie", "c", &["client_administrator"]);

    let d = w.check_resource("marc", "c", "folders:view", Some("folder-a"));
    assert!(d.allowed, "{d:?}");
    let d = w.check_resource("marc", "c", "folders:view", Some("folder-c"));
    assert_eq!((d.allowed, d.reason), (false, Reason::ResourceNotGranted));
    assert_eq!(d.paths[0].outcome, PathOutcome::ResourceNotReachable);
    // Asking more than the role gives is insufficient, whether or not the folder is reached.
    let d = w.check_resource("marc", "c", "folders:full", Some("folder-c"));
    assert_eq!((d.allowed, d.reason), (false, Reason::InsufficientLevel));
    // Unrestricted reaches every folder.
    assert!(w.check_resource("lucie", "c", "folders:full", Some("folder-c")).allowed);
    // A resource of another account.
    let d = w.check_resource("lucie", "c", "folders:view", Some("other"));
    assert_eq!((d.allowed, d.reason), (false, Reason::ResourceOutsideAccount));
    assert!(d.paths.is_empty());
    let d = w.check_resource("lucie", "c", "folders:view", Some("ghost"));
    assert_eq!(d.reason, Reason::UnknownResource);
    // A delegation reaches every resource of the account.
    w.member("david", "p", &["delegated_account_administrator"]);
    w.delegate("p", "c", "client_user");
    assert!(w.check_resource("david", "c", "folders:view", Some("folder-c")).allowed);
}

/// Seed 001 with levels per folder: one membership that views one folder and edits another; a cap
/// only lowers, and another path reaching the folder uncapped still counts (the best of the paths).
#[test]
fn folder_levels() {
    let mut w = World::seeds();
    for (r, a) in [("comptes-2025", "c"), ("paie", "c"), ("juridique", "c")] {
        w.folder(r, a);
    }
    w.member("marc", "c", &["client_administrator"]).resources =
        Some([("comptes-2025".to_owned(), Level::View), ("paie".to_owned(), Level::Full)].into());
    w.member("sophie", "c", &["client_user"]).resources = Some([("paie".to_owned(), Level::Full)].into());

    assert!(w.check_resource("marc", "c", "folders:view", Some("comptes-2025")).allowed);
    let d = w.check_resource("marc", "c", "folders:full", Some("comptes-2025"));
    assert_eq!((d.allowed, d.effective, d.reason), (false, Level::View, Reason::ResourceLevelCapped), "{d:?}");
    assert_eq!(d.paths[0].resource_cap, Some(Level::View));
    assert_eq!(d.paths[0].outcome, PathOutcome::Insufficient);
    let d = w.check_resource("marc", "c", "folders:full", Some("paie"));
    assert!(d.allowed, "{d:?}");
    assert_eq!(d.paths[0].resource_cap, None);
    let d = w.check_resource("marc", "c", "folders:view", Some("juridique"));
    assert_eq!(d.reason, Reason::ResourceNotGranted);
    // At large (no folder), the roles' levels: caps are about folders.
    assert!(w.check("marc", "c", "folders:full").allowed);
    // A full cap does not raise what the role gives.
    let d = w.check_resource("sophie", "c", "folders:full", Some("paie"));
    assert_eq!((d.allowed, d.effective, d.reason), (false, Level::View, Reason::InsufficientLevel));
    // An uncapped path to the folder (a delegation) gives its own level: the best of the paths.
    w.member("marc", "p", &["delegated_account_administrator"]);
    w.delegate("p", "c", "client_administrator");
    let d = w.check_resource("marc", "c", "folders:full", Some("comptes-2025"));
    assert!(d.allowed, "{d:?}");
    assert!(matches!(d.granted_by, Some(Path::Delegated { .. })));
}

#[test]
fn unknowns_are_denies_with_a_reason() {
    let mut w = World::seeds();
    w.member("lucie", "c", &["client_administrator"]);
    assert_eq!(w.check("nobody", "c", "users:view").reason, Reason::UnknownSubject);
    assert_eq!(w.check("lucie", "ghost", "users:view").reason, Reason::UnknownAccount);
    let d = w.check("lucie", "c", "teleportation:view");
    assert_eq!((d.allowed, d.reason, d.required), (false, Reason::UnknownFeature, Level::View));
    // Facts about someone else than asked are treated as unknown.
    let request =
        AccessRequest { subject: uid("lucie"), account: aid("c"), permission: perm("users:view"), resource: None };
    let mut facts = w.facts("lucie", "c", None);
    facts.subject = Some(SubjectFacts { id: uid("marc"), status: UserStatus::Active });
    assert_eq!(evaluate(&w.catalog, &request, &facts, NOW).reason, Reason::UnknownSubject);
    let facts = w.facts("lucie", "p", None);
    assert_eq!(evaluate(&w.catalog, &request, &facts, NOW).reason, Reason::UnknownAccount);
}

#[test]
fn a_hand_built_none_permission_requires_view() {
    let mut w = World::seeds();
    w.member("marc", "c", &["client_user"]);
    let request = AccessRequest {
        subject: uid("marc"),
        account: aid("c"),
        permission: Permission { feature: FeatureName::parse("users").unwrap(), level: Level::None },
        resource: None,
    };
    let d = evaluate(&w.catalog, &request, &w.facts("marc", "c", None), NOW);
    assert_eq!((d.allowed, d.required, d.granted_by), (false, Level::View, None));
}

#[test]
fn granted_by_prefers_direct_then_inherited_then_delegated() {
    let mut w = World::seeds();
    w.member("anna", "a", &["account_manager"]);
    w.member("anna", "ac", &["client_user"]);
    w.member("anna", "p", &["account_manager"]);
    w.delegate("p", "ac", "client_administrator");
    let d = w.check("anna", "ac", "invoices:view");
    assert!(matches!(d.granted_by, Some(Path::Direct { .. })));
    let kinds: Vec<_> = d.paths.iter().map(|p| (p.path.kind(), p.outcome)).collect();
    assert_eq!(
        kinds,
        [("direct", PathOutcome::Granted), ("inherited", PathOutcome::Granted), ("delegated", PathOutcome::Granted)]
    );
    let d = w.check("anna", "ac", "users:full");
    assert!(matches!(d.granted_by, Some(Path::Inherited { .. })));
}

#[test]
fn reasons_have_stable_codes_and_sentences() {
    let codes: Vec<&str> = Reason::ALL.iter().map(Reason::code).collect();
    assert_eq!(
        codes,
        [
            "allowed",
            "unknown_subject",
            "unknown_account",
            "unknown_feature",
            "unknown_resource",
            "resource_outside_account",
            "subject_suspended",
            "account_suspended",
            "module_disabled",
            "no_access_path",
            "insufficient_level",
            "resource_not_granted",
            "resource_level_capped",
        ]
    );
    for r in Reason::ALL {
        let s = r.to_string();
        assert!(s.starts_with(|c: char| c.is_lowercase()) && !s.ends_with('.'), "{s}");
    }
    assert_eq!(Reason::ModuleDisabled.to_string(), "the feature is a module that is not enabled on the account");
    assert_eq!(PathOutcome::Inactive(MembershipStatus::PendingApproval).to_string(), "inactive (pending_approval)");
    assert_eq!(Cap::AccountSuspended(aid("p")).to_string(), "account p is suspended");
}

/// A time-boxed delegation (the partner's *Manage* until `T`) and a time-boxed membership: each
/// grants strictly before its expiry, never at or after it, and the answer says until when it holds.
#[test]
fn a_grant_stops_granting_at_its_expiry_and_the_answer_says_until_when() {
    let mut w = World::seeds();
    w.member("david", "p", &["delegated_account_administrator"]);
    w.member("lucie", "c", &["client_administrator"]);
    w.delegate("p", "c", "client_administrator");
    let t = Timestamp::from_millis(NOW.as_millis() + 60_000);
    let request =
        AccessRequest { subject: uid("david"), account: aid("c"), permission: perm("users:full"), resource: None };
    let mut facts = w.facts("david", "c", None);
    for d in &mut facts.delegations {
        d.expires_at = Some(t);
    }
    let before = evaluate(&w.catalog, &request, &facts, NOW);
    assert!(before.allowed, "{before:?}");
    assert_eq!(before.valid_until, Some(t));
    let just_before = evaluate(&w.catalog, &request, &facts, Timestamp::from_millis(t.as_millis() - 1));
    assert!(just_before.allowed);
    for at in [t, Timestamp::from_millis(t.as_millis() + 1)] {
        let after = evaluate(&w.catalog, &request, &facts, at);
        assert!(!after.allowed, "{after:?}");
        assert_eq!(after.reason, Reason::NoAccessPath);
        let delegated = after.paths.iter().find(|p| p.path.kind() == "delegated").unwrap();
        assert_eq!(delegated.outcome, PathOutcome::Expired(t));
        assert_eq!(delegated.outcome.code(), "expired");
        assert_eq!(after.valid_until, None, "a deny cannot become an allow by an expiry");
    }

    // The membership's expiry covers its roles; the earlier of the two counts on a delegated path.
    let early = Timestamp::from_millis(NOW.as_millis() + 1_000);
    for m in &mut facts.memberships {
        m.expires_at = Some(early);
    }
    assert_eq!(evaluate(&w.catalog, &request, &facts, NOW).valid_until, Some(early));
    let d = evaluate(&w.catalog, &request, &facts, early);
    assert!(!d.allowed);
    assert!(d.paths.iter().all(|p| p.outcome == PathOutcome::Expired(early)), "{d:?}");

    // A direct membership: an expired one is expired whatever its status.
    let mut lucie = w.facts("lucie", "c", None);
    lucie.memberships[0].expires_at = Some(NOW);
    lucie.memberships[0].status = MembershipStatus::Suspended;
    let request = AccessRequest { subject: uid("lucie"), ..request };
    let d = evaluate(&w.catalog, &request, &lucie, NOW);
    assert_eq!((d.allowed, d.paths[0].outcome), (false, PathOutcome::Expired(NOW)));
}
