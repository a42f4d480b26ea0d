//! The seeded world as data: [`spec`] writes, for a [`SeedPlan`], the [`WorldSpec`] that
//! [`Store::bulk_seed`](guichet_store::Store::bulk_seed) writes in bulk — the same accounts,
//! users, folders, memberships (roles, restrictions) and delegations, with the same ids, names and
//! emails. `guichet-bench spec` prints it as TOML, so that a small bench world can be read,
//! diffed, loaded into another server (`guichet_testkit::world`) or into the decision's facts.
//!
//! The bulk seeder stays the way a million memberships are written (multi-row inserts, one
//! revision); the test below holds it to the spec: every check of the load mix decides the same
//! over the facts the store loads from a bulk-seeded database and over the spec's facts.

use guichet_domain::{AccountSpec, DelegationSpec, Level, MembershipSpec, ResourceSpec, UserSpec, WorldSpec};
use guichet_store::bulk::{FOLDERS_PER_CUSTOMER, SeedKind, SeedPlan};

/// The kind of the seeded folders (as the bulk seeder writes it).
const FOLDER_KIND: &str = "folders";

/// The role of every seeded delegation.
const DELEGATION_ROLE: &str = "client_administrator";

/// The world `plan` seeds, as data (see the module docs). It holds `plan.memberships` users and
/// memberships: for a large plan, mind the memory (about 1 KiB per membership).
pub(crate) fn spec(plan: &SeedPlan) -> WorldSpec {
    let mut spec = WorldSpec::new();
    for a in 0..plan.accounts {
        let kind = SeedPlan::kind(a);
        let account =
            AccountSpec::new(&SeedPlan::account_id(a), kind.as_str()).named(&format!("{} {a}", kind.as_str()));
        spec.accounts.push(match SeedPlan::parent(a) {
            Some(p) => account.under(&SeedPlan::account_id(p)),
            None => account,
        });
        if kind == SeedKind::Customer {
            for k in 0..FOLDERS_PER_CUSTOMER {
                let folder = ResourceSpec::new(&SeedPlan::folder_id(a, k), &SeedPlan::account_id(a));
                spec.resources.push(folder.kind(FOLDER_KIND).named(&format!("Dossier {k}")));
            }
        }
        for to in plan.delegated_customers(a) {
            spec.delegations.push(DelegationSpec::new(
                &SeedPlan::delegation_id(to),
                &SeedPlan::account_id(a),
                &SeedPlan::account_id(to),
                DELEGATION_ROLE,
            ));
        }
    }
    for m in 0..plan.memberships {
        let user = SeedPlan::user_id(m);
        spec.users.push(UserSpec::new(&user).email(&format!("u{m}@bench.example.com")).named("User", &format!("N{m}")));
        let account = SeedPlan::account_id(plan.membership_account(m));
        let mut membership = MembershipSpec::new(&SeedPlan::membership_id(m), &user, &account, plan.roles(m));
        if let Some(folders) = plan.restriction(m) {
            membership.resources = Some(folders.into_iter().map(|f| (f, Level::Full)).collect());
        }
        spec.memberships.push(membership);
    }
    spec
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use guichet_domain::{AccessRequest, AccountId, Catalog, Permission, ResourceId, Timestamp, UserId, evaluate};
    use guichet_store::{Store, StoreOptions};

    use super::*;
    use crate::checks;

    fn request(r: &guichet_proto::v1::CheckAccessRequest) -> AccessRequest {
        AccessRequest {
            subject: UserId::parse(&r.subject_id).unwrap(),
            account: AccountId::parse(&r.account_id).unwrap(),
            permission: Permission::parse(&r.permission).unwrap(),
            resource: (!r.resource_id.is_empty()).then(|| ResourceId::parse(&r.resource_id).unwrap()),
        }
    }

    #[test]
    fn the_spec_holds_what_the_plan_seeds() {
        let plan = SeedPlan::new(100, 1_000).unwrap();
        let spec = spec(&plan);
        assert_eq!((spec.accounts.len(), spec.users.len(), spec.memberships.len()), (100, 1_000, 1_000));
        // 100 accounts: 8 partner trees and 2 affiliate trees; 8 × 8 + 2 × 9 customers.
        assert_eq!(spec.resources.len() as u64, (8 * 8 + 2 * 9) * FOLDERS_PER_CUSTOMER);
        assert_eq!(spec.delegations.len(), 16);
        let restricted = spec.memberships.iter().filter(|m| m.resources.is_some()).count();
        assert_eq!(restricted as u64, (0..1_000).filter(|m| plan.restriction(*m).is_some()).count() as u64);
        // Every reference holds, against the built-in catalog.
        let world = spec.resolve(&Catalog::builtin().unwrap()).unwrap();
        let hot = request(&checks::hot(&plan));
        assert!(world.evaluate(&hot).allowed, "{hot:?}");
    }

    /// The bulk seeder writes the spec's world: every check of the uniform mix (direct, inherited,
    /// delegated and folder checks), and every user in its own account on every feature, decides
    /// the same over the facts the store loads and over the spec's facts.
    #[tokio::test]
    async fn the_bulk_seeded_world_decides_as_the_spec() {
        let dir = std::env::temp_dir().join(format!("guichet-bench-world-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let catalog = Arc::new(Catalog::builtin().unwrap());
        let url = format!("sqlite://{}?mode=rwc", dir.join("bench.db").display());
        let store = Store::connect(&StoreOptions::new(url), catalog.clone()).await.unwrap();
        store.migrate().await.unwrap();
        let plan = SeedPlan::new(50, 400).unwrap();
        store.bulk_seed(&plan, Timestamp::from_millis(1_767_225_600_000)).await.unwrap();
        let world = spec(&plan).resolve(&catalog).unwrap();

        let mut requests: Vec<AccessRequest> = checks::uniform_set(&plan, 1_500).iter().map(request).collect();
        for m in (0..plan.memberships).step_by(7) {
            for feature in catalog.features() {
                requests.push(AccessRequest {
                    subject: UserId::parse(&SeedPlan::user_id(m)).unwrap(),
                    account: AccountId::parse(&SeedPlan::account_id(plan.membership_account(m))).unwrap(),
                    permission: Permission::new(feature.name.clone(), Level::Full).unwrap(),
                    resource: None,
                });
            }
        }
        let mut allowed = 0;
        for r in &requests {
            let (facts, _) = store.load_facts(r).await.unwrap();
            let got = evaluate(&catalog, r, &facts, guichet_domain::Timestamp::from_millis(0));
            assert_eq!(got, world.evaluate(r), "{r:?}");
            allowed += usize::from(got.allowed);
        }
        assert!(allowed > requests.len() / 10 && allowed < requests.len(), "{allowed} of {}", requests.len());
        store.close().await.unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
