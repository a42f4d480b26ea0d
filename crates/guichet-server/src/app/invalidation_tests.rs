//! The scoped invalidation of the decision caches, proven against the decision itself: random
//! writes of every kind on a small world of account trees, and after each one, every decision in
//! a sample that was cached just before is asked again through the caches and compared with a
//! fresh evaluation from the store. A cached answer that differs is a write whose scopes missed a
//! fact the decision read (see the table in [`crate::cache`]).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use guichet_domain::{
    AccessRequest, AccountId, AccountKind, AccountStatus, Answer, Catalog, Consistency, DelegationId, Email,
    FeatureName, Level, MembershipId, MembershipStatus, NewAccount, NewDelegation, NewMembership, NewResource, NewUser,
    Permission, ResourceId, RoleDefinition, RoleName, Timestamp, UserId, UserStatus,
};
use guichet_store::{Audit, Store, StoreOptions};

use super::App;
use crate::cache::DecisionCache;
use crate::clock::SystemClock;
use crate::config::CacheConfig;

const USERS: [&str; 6] = ["u0", "u1", "u2", "u3", "u4", "u5"];
/// (id, kind, parent)
const ACCOUNTS: [(&str, &str, Option<&str>); 7] = [
    ("p", "partner", None),
    ("c1", "customer", Some("p")),
    ("c2", "customer", Some("p")),
    ("sp", "sub_partner", Some("p")),
    ("c3", "customer", Some("sp")),
    ("a", "affiliate", Some("p")),
    ("c4", "customer", Some("a")),
];
const RESOURCES: [(&str, &str); 5] = [("r1", "c1"), ("r2", "c1"), ("r3", "c3"), ("r4", "c4"), ("r5", "c2")];
const PERMISSIONS: [&str; 5] =
    ["users:full", "billing:view", "folders:view", "offers:full", "delegated_administration:full"];
/// The memberships of the world at the start: (user, account, role, restricted to).
const MEMBERS: [(&str, &str, &str, Option<[&str; 1]>); 9] = [
    ("u0", "p", "account_manager", None),
    ("u1", "p", "delegated_account_administrator", None),
    ("u2", "c1", "client_administrator", None),
    ("u3", "c1", "client_user", Some(["r1"])),
    ("u4", "a", "technical_manager", None),
    ("u5", "c3", "client_administrator", None),
    ("u0", "c2", "client_administrator", None),
    ("u5", "sp", "account_manager", None),
    ("u4", "c4", "client_administrator", None),
];
const MODULES: [&str; 4] = ["billing", "folders", "offers", "hosting"];

fn roles_of(kind: &str) -> &'static [&'static str] {
    match kind {
        "partner" => {
            &["account_manager", "billing_manager", "technical_manager", "delegated_account_administrator", "custom"]
        }
        "sub_partner" => &["account_manager", "technical_manager", "subscription_manager", "custom"],
        "affiliate" => &["account_manager", "technical_manager", "custom"],
        _ => &["client_administrator", "client_user", "custom"],
    }
}

/// xorshift64*: reproducible from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % u64::try_from(n).unwrap()).unwrap()
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

fn kind_of(account: &str) -> &'static str {
    ACCOUNTS.iter().find(|(id, _, _)| *id == account).map(|(_, k, _)| *k).unwrap()
}

fn parent_of(account: &str) -> Option<&'static str> {
    ACCOUNTS.iter().find(|(id, _, _)| *id == account).and_then(|(_, _, p)| *p)
}

fn audit() -> Audit {
    Audit::system(Timestamp::from_millis(1_795_000_000_000))
}

fn mid(user: &str, account: &str) -> MembershipId {
    MembershipId::parse(&format!("m-{user}-{account}")).unwrap()
}

/// An account named after its id, of `kind`, under `parent`, with no modules or settings given.
pub(super) fn new_account(id: &str, kind: &str, parent: Option<&str>) -> NewAccount {
    NewAccount {
        id: Some(AccountId::parse(id).unwrap()),
        name: id.to_owned(),
        kind: AccountKind::parse(kind).unwrap(),
        parent: parent.map(|p| AccountId::parse(p).unwrap()),
        modules: None,
        settings: None,
    }
}

async fn world(store: &Store) {
    let a = audit();
    for (id, kind, parent) in ACCOUNTS {
        store.create_account(&new_account(id, kind, parent), &a).await.unwrap();
    }
    for u in USERS {
        let cmd = NewUser {
            id: Some(UserId::parse(u).unwrap()),
            email: Email::parse(&format!("{u}@exemple.fr")).unwrap(),
            given_name: u.to_owned(),
            family_name: String::new(),
            phone: None,
            idp_subject: None,
        };
        store.create_user(&cmd, &a).await.unwrap();
    }
    for (id, account) in RESOURCES {
        let cmd = NewResource {
            id: Some(ResourceId::parse(id).unwrap()),
            account: AccountId::parse(account).unwrap(),
            kind: FeatureName::parse("folders").unwrap(),
            name: id.to_owned(),
        };
        store.create_resource(&cmd, &a).await.unwrap();
    }
    for (user, account, role, restricted) in MEMBERS {
        let cmd = NewMembership {
            id: Some(mid(user, account)),
            account: AccountId::parse(account).unwrap(),
            user: UserId::parse(user).unwrap(),
            roles: vec![RoleName::parse(role).unwrap()],
            restriction: restricted.map(|r| r.iter().map(|id| ResourceId::parse(id).unwrap()).collect()),
            expires_at: None,
        };
        store.create_membership(&cmd, &a).await.unwrap();
    }
    let cmd = NewDelegation {
        id: Some(DelegationId::parse("d-p-c1").unwrap()),
        from_account: AccountId::parse("p").unwrap(),
        to_account: AccountId::parse("c1").unwrap(),
        role: RoleName::parse("client_administrator").unwrap(),
        expires_at: None,
    };
    store.create_delegation(&cmd, &a).await.unwrap();
}

/// One random write; most fail harmlessly (already there, not there, last administrator…): the
/// caches must be right either way. Returns its name, for the failure message.
async fn random_write(store: &Store, rng: &mut Rng, members: &mut Vec<(&'static str, &'static str)>) -> String {
    let a = audit();
    let op = rng.below(13);
    // Changes to a membership mostly name one that exists.
    let (user, account) = if (1..=4).contains(&op) && !members.is_empty() && rng.chance(85) {
        *rng.pick(members)
    } else {
        (*rng.pick(&USERS), rng.pick(&ACCOUNTS).0)
    };
    let kind = kind_of(account);
    let role = RoleName::parse(rng.pick::<&str>(roles_of(kind))).unwrap();
    let m = mid(user, account);
    // Some of the account's folders, each viewed only or at the roles' levels.
    let mut resources = guichet_domain::Restriction::new();
    for (id, _) in RESOURCES.iter().filter(|(_, acc)| *acc == account) {
        if rng.chance(50) {
            let cap = if rng.chance(50) { guichet_domain::Level::View } else { guichet_domain::Level::Full };
            resources.insert(ResourceId::parse(id).unwrap(), cap);
        }
    }
    let acc = AccountId::parse(account).unwrap();
    let what = match op {
        0 => {
            let cmd = NewMembership {
                id: Some(m),
                account: acc,
                user: UserId::parse(user).unwrap(),
                roles: vec![role],
                restriction: None,
                expires_at: None,
            };
            let r = store.create_membership(&cmd, &a).await.map(|_| ()).err();
            if r.is_none() {
                members.push((user, account));
            }
            r
        }
        1 => store.set_membership_roles(&m, &[role], &a).await.map(|_| ()).err(),
        2 => {
            let status = if rng.chance(50) { MembershipStatus::Suspended } else { MembershipStatus::Active };
            store.set_membership_status(&m, status, false, &a).await.map(|_| ()).err()
        }
        3 => {
            let restriction = rng.chance(60).then_some(&resources);
            store.set_resource_restriction(&m, restriction, &a).await.map(|_| ()).err()
        }
        4 => {
            let r = store.delete_membership(&m, &a).await.map(|_| ()).err();
            if r.is_none() {
                members.retain(|x| *x != (user, account));
            }
            r
        }
        5 => {
            let status = if rng.chance(40) { AccountStatus::Suspended } else { AccountStatus::Active };
            store.set_account_status(&acc, status, None, &a).await.map(|_| ()).err()
        }
        6 => {
            let modules: BTreeSet<FeatureName> =
                MODULES.iter().filter(|_| rng.chance(60)).map(|f| FeatureName::parse(f).unwrap()).collect();
            store.set_account_modules(&acc, &modules, &a).await.map(|_| ()).err()
        }
        7 | 8 => {
            // A delegation from an ancestor into `account`, or its removal.
            let ancestors: Vec<&str> = std::iter::successors(parent_of(account), |a| parent_of(a)).collect();
            let from = if ancestors.is_empty() { "p" } else { *rng.pick(&ancestors) };
            let id = DelegationId::parse(&format!("d-{from}-{account}")).unwrap();
            if op == 7 {
                let role = RoleName::parse(rng.pick::<&str>(roles_of(kind))).unwrap();
                let cmd = NewDelegation {
                    id: Some(id),
                    from_account: AccountId::parse(from).unwrap(),
                    to_account: acc,
                    role,
                    expires_at: None,
                };
                store.create_delegation(&cmd, &a).await.map(|_| ()).err()
            } else {
                store.delete_delegation(&id, &a).await.map(|_| ()).err()
            }
        }
        9 => {
            let (id, owner) = *rng.pick(&RESOURCES);
            if rng.chance(50) {
                store.delete_resource(&ResourceId::parse(id).unwrap(), &a).await.map(|_| ()).err()
            } else {
                let cmd = NewResource {
                    id: Some(ResourceId::parse(id).unwrap()),
                    account: AccountId::parse(owner).unwrap(),
                    kind: FeatureName::parse("folders").unwrap(),
                    name: id.to_owned(),
                };
                store.create_resource(&cmd, &a).await.map(|_| ()).err()
            }
        }
        10 => {
            let status = if rng.chance(40) { UserStatus::Suspended } else { UserStatus::Active };
            store.set_user_status(&UserId::parse(user).unwrap(), status, &a).await.map(|_| ()).err()
        }
        _ => {
            // The account's custom role, created or changed, with random levels.
            let level = |rng: &mut Rng| [Level::None, Level::View, Level::Full][rng.below(3)];
            let mut grants = guichet_domain::Grants::new();
            let mut descendant_grants = guichet_domain::Grants::new();
            for p in PERMISSIONS {
                let feature = FeatureName::parse(p.split(':').next().unwrap()).unwrap();
                grants.insert(feature.clone(), level(rng));
                if kind != "customer" {
                    descendant_grants.insert(feature, level(rng));
                }
            }
            let def = RoleDefinition {
                account: acc,
                name: RoleName::parse("custom").unwrap(),
                display_name: "Custom".to_owned(),
                description: String::new(),
                grants,
                descendant_grants,
            };
            match store.create_role(&def, &a).await {
                Ok(_) => None,
                Err(_) => store.update_role(&def, &a).await.map(|_| ()).err(),
            }
        }
    };
    format!("op {op} user {user} account {account}: {}", what.map_or_else(|| "ok".to_owned(), |e| e.to_string()))
}

fn all_requests() -> Vec<AccessRequest> {
    let mut out = Vec::new();
    for u in USERS {
        for (account, _, _) in ACCOUNTS {
            for p in PERMISSIONS {
                for r in [None, Some("r1"), Some("r3"), Some("r4")] {
                    out.push(AccessRequest {
                        subject: UserId::parse(u).unwrap(),
                        account: AccountId::parse(account).unwrap(),
                        permission: Permission::parse(p).unwrap(),
                        resource: r.map(|r| ResourceId::parse(r).unwrap()),
                    });
                }
            }
        }
    }
    out
}

async fn fresh(app: &App, r: &AccessRequest) -> Answer {
    let c = app.check(r, Consistency::FullyConsistent).await.unwrap();
    Answer::new(&c.decision, c.revision)
}

#[tokio::test(flavor = "multi_thread")]
async fn cache_matches_fresh_evaluation() {
    let seeds: u64 = std::env::var("GUICHET_INVALIDATION_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(3);
    let (mut hits_after_writes, mut asked_after_writes) = (0_u64, 0_u64);
    for seed in 1..=seeds {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let catalog = Arc::new(Catalog::builtin().unwrap());
        let store = Store::connect(&StoreOptions::new(url), catalog.clone()).await.unwrap();
        store.migrate().await.unwrap();
        world(&store).await;
        // No fence window: each check reads the change log, so the caches see each write at once.
        let config = CacheConfig { fence_window_ms: 0, ..CacheConfig::default() };
        let cache = DecisionCache::start(store.clone(), &config, None).await.unwrap();
        let app = App::new(store.clone(), catalog, Arc::new(SystemClock)).with_cache(cache.clone());
        let requests = all_requests();
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ seed.wrapping_mul(0x1234_5678_9abc_def1));
        let mut log = Vec::new();
        let mut members: Vec<(&str, &str)> = MEMBERS.iter().map(|(u, a, _, _)| (*u, *a)).collect();
        for _step in 0..60 {
            let sample: Vec<&AccessRequest> = (0..30).map(|_| rng.pick(&requests)).collect();
            for r in &sample {
                app.check_access(r, Consistency::MinimizeLatency).await.unwrap();
            }
            log.push(random_write(&store, &mut rng, &mut members).await);
            for r in &sample {
                let before = cache.stats().local_hits.load(Ordering::Relaxed);
                let mut cached = app.check_access(r, Consistency::MinimizeLatency).await.unwrap();
                let hit = cache.stats().local_hits.load(Ordering::Relaxed) > before;
                let expected = fresh(&app, r).await;
                cached.tier = expected.tier;
                cached.revision = expected.revision;
                assert_eq!(
                    cached,
                    expected,
                    "seed {seed}: {r:?} answered from {} after the writes\n{}",
                    if hit { "the cache" } else { "the store" },
                    log.join("\n")
                );
                asked_after_writes += 1;
                hits_after_writes += u64::from(hit);
            }
        }
    }
    // The writes left most decisions cached (each touches one member, account or resource): the
    // comparison above was made on cached answers, not only on re-evaluated ones.
    assert!(
        hits_after_writes * 2 > asked_after_writes,
        "{hits_after_writes} hits of {asked_after_writes} checks after a write"
    );
}
