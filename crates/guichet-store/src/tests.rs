//! Store tests on SQLite (a temporary file) and, when `GUICHET_TEST_DATABASE_URL` is set, on a fresh
//! PostgreSQL database.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use guichet_domain::{
    AccessRequest, AccountId, AccountKind, Catalog, Level, MembershipId, MembershipStatus, NewAccount, NewMembership,
    NewResource, NewUser, Permission, ResourceId, Revision, RoleName, Timestamp, UserId, evaluate,
};
use sea_orm::{ConnectionTrait, Database};

use crate::{Audit, Store, StoreError, StoreOptions};

fn audit() -> Audit {
    Audit::system(NOW)
}

pub(crate) const NOW: Timestamp = Timestamp::from_millis(1_795_000_000_000);

/// The two databases the store runs on.
#[derive(Debug, Clone, Copy)]
enum Backend {
    Sqlite,
    Postgres,
}

/// The URL of a new, empty database, and the temporary folder that holds it on SQLite; `None` when
/// `GUICHET_TEST_DATABASE_URL` is not set for PostgreSQL (refused in CI).
async fn empty_database(backend: Backend) -> Option<(String, Option<tempfile::TempDir>)> {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
            Some((url, Some(dir)))
        }
        Backend::Postgres => {
            let Ok(admin) = std::env::var("GUICHET_TEST_DATABASE_URL") else {
                assert!(std::env::var("CI").is_err(), "GUICHET_TEST_DATABASE_URL must be set in CI");
                eprintln!("SKIPPED PostgreSQL store test: GUICHET_TEST_DATABASE_URL is not set");
                return None;
            };
            let name = format!("guichet_s_{}", uuid::Uuid::new_v4().simple());
            let conn = Database::connect(admin.as_str()).await.unwrap();
            conn.execute_unprepared(&format!("CREATE DATABASE {name}")).await.unwrap();
            let (base, _) = admin.rsplit_once('/').unwrap();
            Some((format!("{base}/{name}"), None))
        }
    }
}

/// What a test body starts from on a new database: a migrated [`Store`], or a bare connection
/// (for the tests of upgrades).
trait Fresh: Sized {
    async fn fresh(backend: Backend) -> Option<(Self, Option<tempfile::TempDir>)>;
}

impl Fresh for Store {
    async fn fresh(backend: Backend) -> Option<(Self, Option<tempfile::TempDir>)> {
        let (url, dir) = empty_database(backend).await?;
        let store = Store::connect(&StoreOptions::new(url), Arc::new(Catalog::builtin().unwrap())).await.unwrap();
        store.migrate().await.unwrap();
        Some((store, dir))
    }
}

impl Fresh for sea_orm::DatabaseConnection {
    async fn fresh(backend: Backend) -> Option<(Self, Option<tempfile::TempDir>)> {
        let (url, dir) = empty_database(backend).await?;
        Some((Database::connect(url.as_str()).await.unwrap(), dir))
    }
}

/// Runs `body` on a new database of `backend` (skipped on PostgreSQL without a server, outside CI).
async fn on<T: Fresh, F: Future<Output = ()>>(backend: Backend, body: impl FnOnce(T) -> F) {
    if let Some((db, _dir)) = T::fresh(backend).await {
        body(db).await;
    }
}

/// `both_backends!(name)` runs the test body `name` (taking a [`Store`] or a bare connection) on
/// SQLite and on PostgreSQL, as the tests `name::on_sqlite` and `name::on_postgres`.
macro_rules! both_backends {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread")]
            async fn on_sqlite() {
                super::on(super::Backend::Sqlite, super::$name).await;
            }
            #[tokio::test(flavor = "multi_thread")]
            async fn on_postgres() {
                super::on(super::Backend::Postgres, super::$name).await;
            }
        }
    };
}

/// A fresh SQLite database: (store, guard keeping it alive).
pub(crate) async fn sqlite() -> (Store, tempfile::TempDir) {
    let (store, dir) = Store::fresh(Backend::Sqlite).await.unwrap();
    (store, dir.unwrap())
}

/// A fresh PostgreSQL database, `None` without `GUICHET_TEST_DATABASE_URL` (refused in CI).
pub(crate) async fn postgres() -> Option<Store> {
    Store::fresh(Backend::Postgres).await.map(|(store, _)| store)
}

fn id<T, E: std::fmt::Debug>(s: &str, parse: impl Fn(&str) -> Result<T, E>) -> T {
    parse(s).unwrap()
}

async fn account(store: &Store, name: &str, kind: &str, parent: Option<&str>) -> Revision {
    let cmd = NewAccount {
        id: Some(id(name, AccountId::parse)),
        name: name.to_owned(),
        kind: id(kind, AccountKind::parse),
        parent: parent.map(|p| id(p, AccountId::parse)),
        modules: None,
        settings: None,
    };
    store.create_account(&cmd, &audit()).await.unwrap().1
}

async fn user(store: &Store, name: &str) {
    let cmd = NewUser {
        id: Some(id(name, UserId::parse)),
        email: guichet_domain::Email::parse(&format!("{name}@exemple.fr")).unwrap(),
        given_name: name.to_owned(),
        family_name: String::new(),
        phone: None,
        idp_subject: None,
    };
    store.create_user(&cmd, &audit()).await.unwrap();
}

async fn member(store: &Store, user: &str, account: &str, role: &str) -> Result<Revision, StoreError> {
    let cmd = NewMembership {
        id: Some(id(&format!("m-{user}-{account}"), MembershipId::parse)),
        account: id(account, AccountId::parse),
        user: id(user, UserId::parse),
        roles: vec![id(role, RoleName::parse)],
        restriction: None,
        expires_at: None,
    };
    store.create_membership(&cmd, &audit()).await.map(|(_, r)| r)
}

async fn every_write_bumps_the_revision_once(store: Store) {
    let r0 = store.revision().await.unwrap();
    let r1 = account(&store, "p", "partner", None).await;
    assert_eq!(r1.value(), r0.value() + 1);
    user(&store, "alice").await;
    let r3 = member(&store, "alice", "p", "account_manager").await.unwrap();
    assert_eq!(r3.value(), r0.value() + 3);
    // A refused write leaves the revision and the data as they were.
    let err = member(&store, "alice", "p", "billing_manager").await.unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists { .. }), "{err:?}");
    assert_eq!(store.revision().await.unwrap(), r3);
}

both_backends!(every_write_bumps_the_revision_once);

/// Loading a check's facts takes the same number of statements for a 2-deep and a 12-deep tree.
async fn facts_take_a_bounded_number_of_queries(mut store: Store) {
    let counter = store.count_statements();
    account(&store, "root", "partner", None).await;
    account(&store, "sub", "sub_partner", Some("root")).await;
    account(&store, "c0", "customer", Some("sub")).await;
    user(&store, "u").await;
    member(&store, "u", "root", "delegated_account_administrator").await.unwrap();
    let question = |account: &str| AccessRequest {
        subject: id("u", UserId::parse),
        account: id(account, AccountId::parse),
        permission: id("users:view", Permission::parse),
        resource: None,
    };
    counter.store(0, Ordering::SeqCst);
    let (facts, _) = store.load_facts(&question("c0")).await.unwrap();
    let shallow = counter.swap(0, Ordering::SeqCst);
    assert_eq!(facts.chain.len(), 3);

    // A deeper chain: partners may not nest, so extend under the customer with custom kinds? No:
    // use a custom catalog where a customer may parent a customer.
    let mut parent = "c0".to_owned();
    for i in 1..=9 {
        let child = format!("c{i}");
        let cmd = NewAccount {
            id: Some(id(&child, AccountId::parse)),
            name: child.clone(),
            kind: id("deep", AccountKind::parse),
            parent: Some(id(&parent, AccountId::parse)),
            modules: None,
            settings: None,
        };
        store.create_account(&cmd, &audit()).await.unwrap();
        parent = child;
    }
    counter.store(0, Ordering::SeqCst);
    let (facts, _) = store.load_facts(&question("c9")).await.unwrap();
    let deep = counter.swap(0, Ordering::SeqCst);
    assert_eq!(facts.chain.len(), 12);
    assert_eq!(deep, shallow, "statements for a 12-deep chain vs a 3-deep one");
    assert!(shallow <= 14, "{shallow} statements");
}

fn deep_catalog() -> Catalog {
    let mut text = include_str!("../../guichet-domain/catalog/default.toml").to_owned();
    text.push_str(
        r#"
[[kinds]]
name = "deep"
display_name = "Deep"
description = "a kind that nests under customers, for depth tests"
parents = ["customer", "deep"]
root = false
owner_role = "admin"
[[kinds.roles]]
name = "admin"
display_name = "Admin"
description = "everything"
all = "full"
"#,
    );
    Catalog::from_toml_str(&text).unwrap()
}

#[tokio::test]
async fn facts_take_a_bounded_number_of_queries_on_sqlite() {
    let (url, _dir) = empty_database(Backend::Sqlite).await.unwrap();
    let store = Store::connect(&StoreOptions::new(url), Arc::new(deep_catalog())).await.unwrap();
    store.migrate().await.unwrap();
    facts_take_a_bounded_number_of_queries(store).await;
}

/// A membership restricted to folders of another account is refused whole: nothing is written.
#[tokio::test]
async fn a_refused_membership_leaves_nothing_behind() {
    let (store, _dir) = sqlite().await;
    account(&store, "p", "partner", None).await;
    account(&store, "a", "customer", Some("p")).await;
    account(&store, "b", "customer", Some("p")).await;
    user(&store, "u").await;
    let (folder, _) = store
        .create_resource(
            &NewResource {
                id: Some(id("dossier-b", ResourceId::parse)),
                account: id("b", AccountId::parse),
                kind: id("folder", guichet_domain::FeatureName::parse),
                name: "Dossier B".into(),
            },
            &audit(),
        )
        .await
        .unwrap();
    let before = store.revision().await.unwrap();
    let cmd = NewMembership {
        id: None,
        account: id("a", AccountId::parse),
        user: id("u", UserId::parse),
        roles: vec![id("client_user", RoleName::parse)],
        restriction: Some([folder.id.clone()].into_iter().collect()),
        expires_at: None,
    };
    let err = store.create_membership(&cmd, &audit()).await.unwrap_err();
    let StoreError::Invalid(v) = err else { panic!("{err:?}") };
    assert_eq!(v[0].field, "restriction.resource_ids[0]");
    assert_eq!(store.revision().await.unwrap(), before);
    let page = store
        .list_memberships(
            &crate::MembershipFilter { user: Some(id("u", UserId::parse)), ..Default::default() },
            &crate::PageRequest { after: None, limit: 10 },
        )
        .await
        .unwrap();
    assert!(page.items.is_empty());
}

/// Two concurrent demotions of the last two administrators: exactly one succeeds.
/// More rounds on PostgreSQL, where the writes really run side by side.
async fn last_administrator_survives_concurrent_demotions(store: Store) {
    let rounds = if store.db.get_database_backend() == sea_orm::DbBackend::Postgres { 25 } else { 10 };
    let catalog = Catalog::builtin().unwrap();
    for round in 0..rounds {
        let acc = format!("client-{round}");
        if round == 0 {
            account(&store, "p", "partner", None).await;
        }
        account(&store, &acc, "customer", Some("p")).await;
        for u in ["x", "y"] {
            let name = format!("{u}{round}");
            user(&store, &name).await;
            member(&store, &name, &acc, "client_administrator").await.unwrap();
        }
        let demote = |u: String| {
            let store = store.clone();
            let acc = acc.clone();
            async move {
                let m = id(&format!("m-{u}-{acc}"), MembershipId::parse);
                store.set_membership_roles(&m, &[id("client_user", RoleName::parse)], &audit()).await
            }
        };
        let (a, b) = tokio::join!(demote(format!("x{round}")), demote(format!("y{round}")));
        let refused = [&a, &b]
            .iter()
            .filter(|r| matches!(r, Err(StoreError::Precondition { kind: "LAST_ADMINISTRATOR", .. })))
            .count();
        assert_eq!((a.is_ok() as usize + b.is_ok() as usize, refused), (1, 1), "round {round}: {a:?} {b:?}");
        // Whoever won, the account still has an administrator the engine sees.
        let admins =
            crate::administrators::administrator_count(&store.db, &catalog, &id(&acc, AccountId::parse)).await.unwrap();
        assert_eq!(admins, 1);
        let status = store.get_membership(&id(&format!("m-x{round}-{acc}"), MembershipId::parse)).await.unwrap().status;
        assert_eq!(status, MembershipStatus::Active);
    }
}

both_backends!(last_administrator_survives_concurrent_demotions);

/// The loaded facts decide as the domain says: a delegation grants, its removal does not.
#[tokio::test]
async fn facts_follow_delegations() {
    let (store, _dir) = sqlite().await;
    let catalog = Catalog::builtin().unwrap();
    account(&store, "p", "partner", None).await;
    account(&store, "c", "customer", Some("p")).await;
    user(&store, "advisor").await;
    member(&store, "advisor", "p", "delegated_account_administrator").await.unwrap();
    let q = AccessRequest {
        subject: id("advisor", UserId::parse),
        account: id("c", AccountId::parse),
        permission: id("users:full", Permission::parse),
        resource: None,
    };
    let (facts, _) = store.load_facts(&q).await.unwrap();
    assert!(!evaluate(&catalog, &q, &facts, NOW).allowed);
    let (d, _) = store
        .create_delegation(
            &guichet_domain::NewDelegation {
                id: None,
                from_account: id("p", AccountId::parse),
                to_account: id("c", AccountId::parse),
                role: id("client_administrator", RoleName::parse),
                expires_at: None,
            },
            &audit(),
        )
        .await
        .unwrap();
    let (facts, _) = store.load_facts(&q).await.unwrap();
    assert!(evaluate(&catalog, &q, &facts, NOW).allowed);
    store.delete_delegation(&d.id, &audit()).await.unwrap();
    let (facts, _) = store.load_facts(&q).await.unwrap();
    assert!(!evaluate(&catalog, &q, &facts, NOW).allowed);
}

/// Every write logs the scopes it touched at its revision; the listener hears them; a reader gets
/// the latest revision and the changes after its own in one statement.
async fn every_write_logs_its_scopes(store: Store) {
    let heard = Arc::new(std::sync::Mutex::new(Vec::<(Revision, Vec<String>)>::new()));
    let h = heard.clone();
    store.set_change_listener(Arc::new(move |r, s| h.lock().unwrap().push((r, s.to_vec()))));
    let r0 = store.revision().await.unwrap();
    let r1 = account(&store, "p", "partner", None).await;
    let r2 = account(&store, "c", "customer", Some("p")).await;
    let r3 = account(&store, "other", "partner", None).await;
    user(&store, "alice").await;
    let r5 = member(&store, "alice", "c", "client_user").await.unwrap();
    let changes = store.changes_after(r0, 100).await.unwrap();
    assert_eq!(changes.latest, r5);
    assert!(!changes.truncated);
    let got: BTreeSet<(u64, &str)> = changes.changes.iter().map(|(r, s)| (r.value(), s.as_str())).collect();
    let base = r0.value();
    // Each write: its narrow scopes, its tree (for the previous build's replicas) and the marker.
    let expected: BTreeSet<(u64, &str)> = [
        (r1.value(), "acct:p"),
        (r1.value(), "tree:p"),
        (r1.value(), "~"),
        (r2.value(), "acct:c"),
        (r2.value(), "tree:p"),
        (r2.value(), "~"),
        (r3.value(), "acct:other"),
        (r3.value(), "tree:other"),
        (r3.value(), "~"),
        (base + 4, "user:alice"),
        (base + 4, "~"),
        (r5.value(), "user:alice"),
        (r5.value(), "tree:p"),
        (r5.value(), "~"),
    ]
    .into();
    assert_eq!(got, expected);
    assert!(changes.changes.windows(2).all(|w| w[0].0 <= w[1].0), "the log is in revision order");
    assert_eq!(heard.lock().unwrap().len(), 5);
    // Only what is after the reader's revision; a limit that is too small says so.
    let after = store.changes_after(r3, 100).await.unwrap();
    assert_eq!(after.changes.len(), 5);
    let small = store.changes_after(r0, 2).await.unwrap();
    assert!(small.truncated);
    assert_eq!(small.latest, r5);
}

both_backends!(every_write_logs_its_scopes);

/// A single load, a batched load and the generic multi-query read give each request the same
/// facts (on PostgreSQL the single load is one statement; elsewhere the same queries as the
/// others), in a number of statements that does not grow with the batch. The world has a custom
/// role held by a membership and by a delegation, a restricted membership, a suspended member,
/// a sub-partner tree three deep and requests for accounts, subjects and resources that do not
/// exist.
async fn every_load_gives_the_same_facts(mut store: Store) {
    account(&store, "p", "partner", None).await;
    account(&store, "s", "sub_partner", Some("p")).await;
    account(&store, "c", "customer", Some("s")).await;
    account(&store, "d", "customer", Some("p")).await;
    account(&store, "q", "partner", None).await;
    for u in ["alice", "bob", "carol", "dave"] {
        user(&store, u).await;
    }
    let rw = |f: &str, l| (id(f, guichet_domain::FeatureName::parse), l);
    let auditeur = guichet_domain::RoleDefinition {
        account: id("c", AccountId::parse),
        name: id("auditeur", RoleName::parse),
        display_name: "Auditeur".to_owned(),
        description: "Lit les dossiers".to_owned(),
        grants: [rw("folders", guichet_domain::Level::View), rw("users", guichet_domain::Level::View)].into(),
        descendant_grants: Default::default(),
    };
    store.create_role(&auditeur, &audit()).await.unwrap();
    member(&store, "alice", "p", "delegated_account_administrator").await.unwrap();
    member(&store, "bob", "c", "auditeur").await.unwrap();
    member(&store, "carol", "q", "account_manager").await.unwrap();
    member(&store, "dave", "s", "account_manager").await.unwrap();
    let folder = |name: &str| NewResource {
        id: Some(id(name, ResourceId::parse)),
        account: id("c", AccountId::parse),
        kind: id("folders", guichet_domain::FeatureName::parse),
        name: name.to_uppercase(),
    };
    store.create_resource(&folder("f1"), &audit()).await.unwrap();
    store.create_resource(&folder("f2"), &audit()).await.unwrap();
    let restricted = NewMembership {
        id: Some(id("m-dave-c", MembershipId::parse)),
        account: id("c", AccountId::parse),
        user: id("dave", UserId::parse),
        roles: vec![id("client_user", RoleName::parse), id("auditeur", RoleName::parse)],
        // Dave may only view f1 and reaches f2 at his roles' levels.
        restriction: Some(
            [(id("f1", ResourceId::parse), Level::View), (id("f2", ResourceId::parse), Level::Full)]
                .into_iter()
                .collect(),
        ),
        expires_at: None,
    };
    store.create_membership(&restricted, &audit()).await.unwrap();
    for (from, role) in [("p", "auditeur"), ("s", "client_administrator")] {
        let cmd = guichet_domain::NewDelegation {
            id: None,
            from_account: id(from, AccountId::parse),
            to_account: id("c", AccountId::parse),
            role: id(role, RoleName::parse),
            expires_at: None,
        };
        store.create_delegation(&cmd, &audit()).await.unwrap();
    }
    store
        .set_membership_status(&id("m-bob-c", MembershipId::parse), MembershipStatus::Suspended, false, &audit())
        .await
        .unwrap();
    let mut requests = Vec::new();
    for subject in ["alice", "bob", "carol", "dave", "nobody"] {
        for account in ["p", "s", "c", "d", "q", "nowhere"] {
            for resource in [None, Some("f1"), Some("f2"), Some("nothing")] {
                requests.push(AccessRequest {
                    subject: id(subject, UserId::parse),
                    account: id(account, AccountId::parse),
                    permission: id("folders:view", Permission::parse),
                    resource: resource.map(|r| id(r, ResourceId::parse)),
                });
            }
        }
    }
    let postgres = store.backend_name() == "postgresql";
    let counter = store.count_statements();
    let refs: Vec<&AccessRequest> = requests.iter().collect();
    counter.store(0, Ordering::SeqCst);
    let (many, _) = store.load_facts_many(&refs).await.unwrap();
    let batch_statements = counter.swap(0, Ordering::SeqCst);
    store.load_facts_many(&refs[..2]).await.unwrap();
    let two_statements = counter.swap(0, Ordering::SeqCst);
    assert!(batch_statements <= 14, "{batch_statements} statements for {} requests", refs.len());
    assert!(batch_statements <= two_statements + 3, "{batch_statements} vs {two_statements}");
    // A batch of one (a CheckAccess that missed the caches) is the single load.
    let (one, _) = store.load_facts_many(&refs[2..3]).await.unwrap();
    let one_statements = counter.swap(0, Ordering::SeqCst);
    assert_eq!(one, many[2..3]);
    if postgres {
        assert_eq!(one_statements, 1);
    }
    assert_eq!(many.len(), requests.len());
    let sorted = |f: &guichet_domain::Facts| {
        let mut f = f.clone();
        f.memberships.sort_by(|a, b| a.id.cmp(&b.id));
        f.delegations.sort_by(|a, b| a.id.cmp(&b.id));
        f
    };
    let revision = store.revision().await.unwrap();
    let mut with_custom_roles = 0;
    for (request, facts) in requests.iter().zip(&many) {
        counter.store(0, Ordering::SeqCst);
        let (single, at) = store.load_facts(request).await.unwrap();
        let statements = counter.swap(0, Ordering::SeqCst);
        if postgres {
            assert_eq!(statements, 1, "{request:?}");
        }
        assert_eq!(at, revision);
        let generic = store.load_facts_generic(request).await.unwrap();
        assert_eq!(sorted(facts), sorted(&single), "{request:?}");
        assert_eq!(sorted(&generic), sorted(&single), "{request:?}");
        // Every loader carries the membership's cap on the resource asked about.
        if request.subject.as_str() == "dave" && request.account.as_str() == "c" {
            let cap = single.memberships.iter().find(|m| m.id.as_str() == "m-dave-c").and_then(|m| {
                let restriction = m.resources.as_ref().expect("restricted");
                request.resource.as_ref().and_then(|r| restriction.cap(r))
            });
            let expected = match request.resource.as_ref().map(ResourceId::as_str) {
                Some("f1") => Some(Level::View),
                Some("f2") => Some(Level::Full),
                _ => None,
            };
            assert_eq!(cap, expected, "{request:?}");
        }
        with_custom_roles += single
            .memberships
            .iter()
            .flat_map(|m| &m.roles)
            .chain(single.delegations.iter().map(|d| &d.role))
            .filter(|r| !r.builtin)
            .count();
    }
    // The custom role reaches the facts through bob's and dave's memberships and p's delegation.
    assert!(with_custom_roles >= 3 * 4, "{with_custom_roles}");
}

both_backends!(every_load_gives_the_same_facts);

/// The descendants of an account whose id holds `_` (a LIKE wildcard) are found, and not those of
/// a look-alike account.
async fn trees_whose_ids_hold_wildcards(store: Store) {
    account(&store, "aff_1", "affiliate", None).await;
    account(&store, "cli_1", "customer", Some("aff_1")).await;
    account(&store, "affx1", "affiliate", None).await;
    account(&store, "clix", "customer", Some("affx1")).await;
    user(&store, "karim").await;
    member(&store, "karim", "aff_1", "account_manager").await.unwrap();
    let subject = id("karim", UserId::parse);
    let permission = id("users:view", Permission::parse);
    let lookup = crate::Lookup::Accounts { subject: &subject, permission: &permission };
    let (reached, _) = store.lookup(lookup, None, 100, NOW, |r, _| Some(r.account.to_string())).await.unwrap();
    assert_eq!(reached, ["aff_1", "cli_1"]);
    let children = store
        .list_children(&id("aff_1", AccountId::parse), true, &crate::PageRequest { after: None, limit: 10 })
        .await
        .unwrap();
    assert_eq!(children.items.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(), ["cli_1"]);
}

both_backends!(trees_whose_ids_hold_wildcards);

/// The pre-filter of the walks drops a grant at its expiry, before the decision is asked: with a
/// `keep` that keeps every candidate, an expired membership's user is no longer a candidate of
/// its account, nor its account one of the user's; a delegation's likewise.
async fn the_walks_drop_expired_grants(store: Store) {
    let t = Timestamp::from_millis(NOW.as_millis() + 1_000);
    account(&store, "p", "partner", None).await;
    account(&store, "c", "customer", Some("p")).await;
    for u in ["alice", "bob", "carol"] {
        user(&store, u).await;
    }
    let membership = |user: &str, account: &str, role: &str, expires_at| NewMembership {
        id: Some(id(&format!("m-{user}-{account}"), MembershipId::parse)),
        account: id(account, AccountId::parse),
        user: id(user, UserId::parse),
        roles: vec![id(role, RoleName::parse)],
        restriction: None,
        expires_at,
    };
    for cmd in [
        membership("alice", "c", "client_administrator", Some(t)),
        membership("carol", "c", "client_administrator", None),
        membership("bob", "p", "delegated_account_administrator", None),
    ] {
        store.create_membership(&cmd, &audit()).await.unwrap();
    }
    let delegation = guichet_domain::NewDelegation {
        id: None,
        from_account: id("p", AccountId::parse),
        to_account: id("c", AccountId::parse),
        role: id("client_administrator", RoleName::parse),
        expires_at: Some(t),
    };
    store.create_delegation(&delegation, &audit()).await.unwrap();
    let permission = id("users:view", Permission::parse);
    let c = id("c", AccountId::parse);
    let (alice, bob) = (id("alice", UserId::parse), id("bob", UserId::parse));
    for (now, subjects, accounts_of_alice, bob_in_c) in [
        (Timestamp::from_millis(t.as_millis() - 1), vec!["alice", "bob", "carol"], vec!["c"], true),
        (t, vec!["carol"], vec![], false),
    ] {
        let lookup = crate::Lookup::Subjects { account: &c, permission: &permission, resource: None };
        let (got, _) = store.lookup(lookup, None, 100, now, |r, _| Some(r.subject.to_string())).await.unwrap();
        assert_eq!(got, subjects, "at {now:?}");
        let lookup = crate::Lookup::Accounts { subject: &alice, permission: &permission };
        let (got, _) = store.lookup(lookup, None, 100, now, |r, _| Some(r.account.to_string())).await.unwrap();
        assert_eq!(got, accounts_of_alice, "at {now:?}");
        let lookup = crate::Lookup::Accounts { subject: &bob, permission: &permission };
        let (got, _) = store.lookup(lookup, None, 100, now, |r, _| Some(r.account.to_string())).await.unwrap();
        assert_eq!(got.contains(&"c".to_owned()), bob_in_c, "at {now:?}: {got:?}");
    }
}

both_backends!(the_walks_drop_expired_grants);

/// A walk gives the kept candidates after the cursor in id order, stops at `want`, and reads the
/// facts of a chunk in a bounded number of statements: the same answers as one load per
/// candidate, whatever the share of candidates kept, with or without a resource.
#[tokio::test]
async fn a_walk_keeps_what_it_is_asked_in_id_order_from_the_cursor() {
    let (mut store, _dir) = sqlite().await;
    let plan = crate::bulk::SeedPlan::new(10, 1200).unwrap();
    store.bulk_seed(&plan, NOW).await.unwrap();
    let catalog = Catalog::builtin().unwrap();
    let account = id("c6", AccountId::parse);
    // The candidates: the members of c6, s1 and p0 (p0 also delegates into c6), in id order.
    let mut candidates: Vec<String> = (0..plan.memberships)
        .filter(|m| [0, 1, 6].contains(&plan.membership_account(*m)))
        .map(crate::bulk::SeedPlan::user_id)
        .collect();
    candidates.sort();
    assert_eq!(candidates.len(), 360);
    let counter = store.count_statements();
    for (permission, resource) in [("users:view", None), ("folders:view", Some(id("r6-1", ResourceId::parse)))] {
        let permission = id(permission, Permission::parse);
        let lookup =
            crate::Lookup::Subjects { account: &account, permission: &permission, resource: resource.as_ref() };
        let mut allowed = Vec::new();
        for c in &candidates {
            let request = AccessRequest {
                subject: id(c, UserId::parse),
                account: account.clone(),
                permission: permission.clone(),
                resource: resource.clone(),
            };
            let (facts, _) = store.load_facts(&request).await.unwrap();
            if evaluate(&catalog, &request, &facts, NOW).allowed {
                allowed.push(c.clone());
            }
        }
        assert!(allowed.len() > 50 && allowed.len() < 300, "{} allowed", allowed.len());
        let decide = |r: &AccessRequest, f: &guichet_domain::Facts| {
            evaluate(&catalog, r, f, NOW).allowed.then(|| r.subject.as_str().to_owned())
        };
        for (after, want) in [(None, 1), (None, 10), (None, 1000), (Some(allowed[7].as_str()), 25), (Some("u5"), 200)] {
            counter.store(0, Ordering::SeqCst);
            let (got, _) = store.lookup(lookup, after, want, NOW, decide).await.unwrap();
            let statements = counter.swap(0, Ordering::SeqCst);
            let expected: Vec<String> =
                allowed.iter().filter(|a| after.is_none_or(|x| a.as_str() > x)).take(want).cloned().collect();
            assert_eq!(got, expected, "{permission} on {resource:?} after {after:?}, want {want}");
            assert!(statements <= 60, "{statements} statements after {after:?} for {want}");
        }
        // Keeping everything: the candidates the pre-filter lets through, every allowed one among
        // them.
        let (all, _) = store.lookup(lookup, None, 10_000, NOW, |r, _| Some(r.subject.to_string())).await.unwrap();
        assert!(all.iter().all(|c| candidates.contains(c)), "only candidates");
        assert!(allowed.iter().all(|a| all.contains(a)), "every allowed one");
    }
}

// ---------------------------------------------------------------------------------------------
// Administration is sound: atomic read-modify-writes, identity, four-eyes.

/// An audit made for `name`.
fn by(name: &str) -> Audit {
    Audit { actor: Some(id(name, UserId::parse)), ..audit() }
}

fn page(limit: u64) -> crate::PageRequest {
    crate::PageRequest { after: None, limit }
}

fn roles_of(m: &guichet_domain::Membership) -> BTreeSet<&str> {
    m.roles.iter().map(RoleName::as_str).collect()
}

/// A custom role of `account` granting `billing:view`.
async fn custom_role(store: &Store, account: &str, name: &str) {
    let def = guichet_domain::RoleDefinition {
        account: id(account, AccountId::parse),
        name: id(name, RoleName::parse),
        display_name: name.to_owned(),
        description: String::new(),
        grants: [(id("billing", guichet_domain::FeatureName::parse), guichet_domain::Level::View)].into(),
        descendant_grants: Default::default(),
    };
    store.create_role(&def, &audit()).await.unwrap();
}

/// A customer of `p` whose new memberships wait for approval.
async fn approving_customer(store: &Store, name: &str, parent: &str) {
    let cmd = NewAccount {
        id: Some(id(name, AccountId::parse)),
        name: name.to_owned(),
        kind: id("customer", AccountKind::parse),
        parent: Some(id(parent, AccountId::parse)),
        modules: None,
        settings: Some(guichet_domain::AccountSettings { requires_approval: true, ..Default::default() }),
    };
    store.create_account(&cmd, &audit()).await.unwrap();
}

async fn new_user(
    store: &Store,
    name: &str,
    subject: Option<&str>,
    audit: &Audit,
) -> Result<guichet_domain::User, StoreError> {
    let cmd = NewUser {
        id: Some(id(name, UserId::parse)),
        email: guichet_domain::Email::parse(&format!("{name}@exemple.fr")).unwrap(),
        given_name: name.to_owned(),
        family_name: "Famille".to_owned(),
        phone: Some(guichet_domain::Phone::parse("+33612345678").unwrap()),
        idp_subject: subject.map(str::to_owned),
    };
    store.create_user(&cmd, audit).await.map(|(u, _)| u)
}

async fn invite(
    store: &Store,
    account: &str,
    email: &str,
    roles: &[&str],
    hash: &str,
    audit: &Audit,
) -> guichet_domain::Invitation {
    let cmd = guichet_domain::NewInvitation {
        id: None,
        account: id(account, AccountId::parse),
        email: guichet_domain::Email::parse(email).unwrap(),
        roles: roles.iter().map(|r| id(r, RoleName::parse)).collect(),
        restriction: None,
    };
    store.create_invitation(&cmd, hash, audit).await.unwrap().0.invitation
}

async fn all_events(store: &Store) -> Vec<guichet_domain::Event> {
    store.list_events(&crate::EventFilter::default(), &page(1000)).await.unwrap().items
}

fn precondition(r: Result<impl std::fmt::Debug, StoreError>) -> &'static str {
    match r {
        Err(StoreError::Precondition { kind, .. }) => kind,
        other => panic!("expected a precondition, got {other:?}"),
    }
}

/// Concurrent AssignRole and UnassignRole of different roles on one membership: every call that
/// answers OK has its effect in the end — none is lost to another's stale read.
async fn concurrent_role_changes_all_take_effect(store: Store) {
    const N: usize = 6;
    account(&store, "p", "partner", None).await;
    account(&store, "c", "customer", Some("p")).await;
    for i in 0..N {
        custom_role(&store, "c", &format!("old{i}")).await;
        custom_role(&store, "c", &format!("new{i}")).await;
    }
    user(&store, "alice").await;
    let mut initial = vec![id("client_administrator", RoleName::parse)];
    initial.extend((0..N).map(|i| id(&format!("old{i}"), RoleName::parse)));
    let cmd = NewMembership {
        id: Some(id("m-alice-c", MembershipId::parse)),
        account: id("c", AccountId::parse),
        user: id("alice", UserId::parse),
        roles: initial,
        restriction: None,
        expires_at: None,
    };
    store.create_membership(&cmd, &audit()).await.unwrap();
    let m = id("m-alice-c", MembershipId::parse);
    let assign = |role: String| {
        let store = store.clone();
        let m = m.clone();
        async move { store.assign_role(&m, &id(&role, RoleName::parse), &audit()).await }
    };
    let unassign = |role: String| {
        let store = store.clone();
        let m = m.clone();
        async move { store.unassign_role(&m, &id(&role, RoleName::parse), &audit()).await }
    };
    // Pairs, one after the other: each pair races an assign against an unassign.
    for i in 0..N / 2 {
        let (a, u) = tokio::join!(assign(format!("new{i}")), unassign(format!("old{i}")));
        a.unwrap();
        u.unwrap();
        let now = store.get_membership(&m).await.unwrap();
        assert!(roles_of(&now).contains(format!("new{i}").as_str()), "round {i}: {:?}", now.roles);
        assert!(!roles_of(&now).contains(format!("old{i}").as_str()), "round {i}: {:?}", now.roles);
    }
    // Then every remaining change at once, on their own tasks.
    let mut tasks = tokio::task::JoinSet::new();
    for i in N / 2..N {
        tasks.spawn(assign(format!("new{i}")));
        tasks.spawn(unassign(format!("old{i}")));
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap().unwrap();
    }
    let end = store.get_membership(&m).await.unwrap();
    let mut expected: BTreeSet<String> = (0..N).map(|i| format!("new{i}")).collect();
    expected.insert("client_administrator".to_owned());
    assert_eq!(roles_of(&end), expected.iter().map(String::as_str).collect::<BTreeSet<_>>());
    // Every change wrote its own event.
    let changes = all_events(&store).await.into_iter().filter(|e| e.kind == "membership.roles_changed").count();
    assert_eq!(changes, 2 * N);
}

both_backends!(concurrent_role_changes_all_take_effect);

/// A membership holds at most 16 roles (`ROLE_LIMIT` on assign, a field violation on a list);
/// assigning a role held, or unassigning one not held, writes nothing; the last role stays.
#[tokio::test]
async fn a_membership_holds_at_most_sixteen_roles() {
    let (store, _dir) = sqlite().await;
    account(&store, "p", "partner", None).await;
    account(&store, "c", "customer", Some("p")).await;
    for i in 0..16 {
        custom_role(&store, "c", &format!("r{i}")).await;
    }
    user(&store, "alice").await;
    member(&store, "alice", "c", "client_administrator").await.unwrap();
    let m = id("m-alice-c", MembershipId::parse);
    for i in 0..15 {
        store.assign_role(&m, &id(&format!("r{i}"), RoleName::parse), &audit()).await.unwrap();
    }
    let before = store.revision().await.unwrap();
    let r = store.assign_role(&m, &id("r15", RoleName::parse), &audit()).await;
    assert_eq!(precondition(r), "ROLE_LIMIT");
    // A role already held: no change, no new revision, even at the limit.
    let (same, at) = store.assign_role(&m, &id("r3", RoleName::parse), &audit()).await.unwrap();
    assert_eq!((same.roles.len(), at), (16, before));
    let (same, at) = store.unassign_role(&m, &id("r15", RoleName::parse), &audit()).await.unwrap();
    assert_eq!((same.roles.len(), at), (16, before));
    assert_eq!(store.revision().await.unwrap(), before);
    // An unknown role is reported on `role`.
    let Err(StoreError::Invalid(v)) = store.assign_role(&m, &id("nope", RoleName::parse), &audit()).await else {
        panic!("an unknown role is invalid")
    };
    assert_eq!(v[0].field, "role");
    // A list of 17 roles is refused whole.
    let mut seventeen: Vec<RoleName> = (0..16).map(|i| id(&format!("r{i}"), RoleName::parse)).collect();
    seventeen.push(id("client_administrator", RoleName::parse));
    let Err(StoreError::Invalid(v)) = store.set_membership_roles(&m, &seventeen, &audit()).await else {
        panic!("17 roles are invalid")
    };
    assert_eq!(v[0].field, "roles");
    // The last role cannot be removed.
    store.set_membership_roles(&m, &[id("r0", RoleName::parse)], &audit()).await.unwrap_err();
    user(&store, "bob").await;
    member(&store, "bob", "c", "client_user").await.unwrap();
    let r =
        store.unassign_role(&id("m-bob-c", MembershipId::parse), &id("client_user", RoleName::parse), &audit()).await;
    assert_eq!(precondition(r), "LAST_ROLE");
}

/// `idp_subject` is unique: checked inside the write on create and update, and the unique index
/// guards what gets past it. Users without a subject are as many as wanted.
async fn idp_subjects_are_unique(store: Store) {
    new_user(&store, "alice", Some("oidc|alice"), &audit()).await.unwrap();
    new_user(&store, "bob", None, &audit()).await.unwrap();
    new_user(&store, "carol", None, &audit()).await.unwrap();
    let before = store.revision().await.unwrap();
    let err = new_user(&store, "mallory", Some("oidc|alice"), &audit()).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::AlreadyExists { entity: "user with idp_subject", id } if id == "oidc|alice"),
        "{err:?}"
    );
    let changes = |s: &str| crate::UserChanges { idp_subject: Some(s.to_owned()), ..Default::default() };
    let err = store.update_user(&id("bob", UserId::parse), &changes("oidc|alice"), &audit()).await.unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists { entity: "user with idp_subject", .. }), "{err:?}");
    assert_eq!(store.revision().await.unwrap(), before, "nothing written");
    assert_eq!(store.get_user(&id("bob", UserId::parse)).await.unwrap().idp_subject, None);
    // A user may be given its own subject again, and a free one.
    store.update_user(&id("alice", UserId::parse), &changes("oidc|alice"), &audit()).await.unwrap();
    store.update_user(&id("bob", UserId::parse), &changes("oidc|bob"), &audit()).await.unwrap();
    // The index: a row written past the check is refused by the database, reported the same way.
    use sea_orm::{ActiveModelTrait, Set};
    let err = crate::entities::user::ActiveModel {
        id: Set("sneaky".to_owned()),
        email: Set("sneaky@exemple.fr".to_owned()),
        given_name: Set(String::new()),
        family_name: Set(String::new()),
        phone: Set(None),
        idp_subject: Set(Some("oidc|bob".to_owned())),
        status: Set("active".to_owned()),
        claimed_at: Set(None),
        created_at: Set(0),
        updated_at: Set(0),
    }
    .insert(&store.db)
    .await
    .unwrap_err();
    let err = crate::users::user_write_error(err, "sneaky", Some("oidc|bob"));
    assert!(matches!(err, StoreError::AlreadyExists { entity: "user with idp_subject", .. }), "{err:?}");
}

both_backends!(idp_subjects_are_unique);

/// The requester of an invitation is fixed at creation: resending it, by another member or on
/// the service's own authority, does not change it (the resender is on the event).
#[tokio::test]
async fn a_resend_keeps_the_requester() {
    let (store, _dir) = sqlite().await;
    account(&store, "p", "partner", None).await;
    approving_customer(&store, "c", "p").await;
    let inv = invite(&store, "c", "marc@exemple.fr", &["client_user"], "hash-1", &by("lucie")).await;
    assert_eq!(inv.invited_by, Some(id("lucie", UserId::parse)));
    let (resent, _) = store.resend_invitation(&inv.id, "hash-2", &by("paul")).await.unwrap();
    assert_eq!((resent.invited_by.clone(), resent.resend_count), (Some(id("lucie", UserId::parse)), 1));
    let (resent, _) = store.resend_invitation(&inv.id, "hash-3", &audit()).await.unwrap();
    assert_eq!(resent.invited_by, Some(id("lucie", UserId::parse)));
    let resends: Vec<_> =
        all_events(&store).await.into_iter().filter(|e| e.kind == "invitation.resent").map(|e| e.actor).collect();
    assert_eq!(resends, [Some(id("paul", UserId::parse)), None]);
    // Accepted, the membership's requester is still the inviter.
    let (accepted, _) = store.accept_invitation("hash-3", &crate::AcceptProfile::default(), &audit()).await.unwrap();
    assert_eq!(accepted.membership.created_by, Some(id("lucie", UserId::parse)));
    assert_eq!(accepted.membership.status, MembershipStatus::PendingApproval);
}

/// Accepting writes one event, `invitation.accepted`, made by the accepting user, and logs the
/// user's scope with the account's.
async fn an_accept_writes_one_event_by_the_accepter(store: Store) {
    account(&store, "p", "partner", None).await;
    account(&store, "c", "customer", Some("p")).await;
    new_user(&store, "known", None, &audit()).await.unwrap();
    for (email, hash, created) in [("new@exemple.fr", "hash-new", true), ("known@exemple.fr", "hash-known", false)] {
        let inv = invite(&store, "c", email, &["client_user"], hash, &by("lucie")).await;
        let before = all_events(&store).await.len();
        let r0 = store.revision().await.unwrap();
        let (accepted, revision) =
            store.accept_invitation(hash, &crate::AcceptProfile::default(), &audit()).await.unwrap();
        assert_eq!(accepted.user_created, created);
        let events = all_events(&store).await;
        assert_eq!(events.len(), before + 1, "{:?}", &events[before..]);
        let e = events.last().unwrap();
        assert_eq!(
            (e.kind.as_str(), e.actor.as_ref(), e.target.as_str(), e.revision),
            ("invitation.accepted", Some(&accepted.user.id), inv.id.as_str(), revision)
        );
        assert!(e.after.as_deref().unwrap().contains(accepted.membership.id.as_str()), "{:?}", e.after);
        let scopes: BTreeSet<String> =
            store.changes_after(r0, 100).await.unwrap().changes.into_iter().map(|(_, s)| s).collect();
        assert_eq!(scopes, BTreeSet::from(["tree:p".to_owned(), format!("user:{}", accepted.user.id), "~".to_owned()]));
    }
}

both_backends!(an_accept_writes_one_event_by_the_accepter);

/// A profile belongs to its owner once claimed. A user an administrator created for someone else
/// is unclaimed: the owner accepting an invitation replaces its whole profile (what they leave
/// empty is cleared) and claims it; after that, accepting changes nothing of it.
async fn a_claimed_profile_belongs_to_its_owner(store: Store) {
    account(&store, "p", "partner", None).await;
    account(&store, "a", "customer", Some("p")).await;
    account(&store, "b", "customer", Some("p")).await;
    // On the service's own authority: claimed at once. By an actor: unclaimed.
    let imported = new_user(&store, "imported", Some("oidc|imported"), &audit()).await.unwrap();
    assert_eq!(imported.claimed_at, Some(NOW));
    let planted = new_user(&store, "vera", Some("oidc|mallory"), &by("mallory")).await.unwrap();
    assert_eq!((planted.claimed_at, planted.phone.is_some()), (None, true));

    // The owner accepts an invitation elsewhere: the planted phone and subject are gone.
    invite(&store, "b", "vera@exemple.fr", &["client_user"], "hash-b", &by("lucie")).await;
    let taken = crate::AcceptProfile { idp_subject: Some("oidc|imported".to_owned()), ..Default::default() };
    let r0 = store.revision().await.unwrap();
    let err = store.accept_invitation("hash-b", &taken, &audit()).await.unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists { entity: "user with idp_subject", .. }), "{err:?}");
    assert_eq!(store.revision().await.unwrap(), r0, "nothing written");
    let profile = crate::AcceptProfile {
        given_name: "Véra".to_owned(),
        family_name: String::new(),
        phone: None,
        idp_subject: Some("oidc|vera".to_owned()),
    };
    let (accepted, _) = store.accept_invitation("hash-b", &profile, &audit()).await.unwrap();
    assert!(!accepted.user_created);
    let vera = store.get_user(&id("vera", UserId::parse)).await.unwrap();
    assert_eq!(vera, accepted.user);
    assert_eq!(
        (vera.given_name.as_str(), vera.family_name.as_str(), vera.phone.as_ref(), vera.idp_subject.as_deref()),
        ("Véra", "", None, Some("oidc|vera"))
    );
    assert_eq!(vera.claimed_at, Some(NOW));

    // Claimed: a later acceptance leaves the profile as its owner made it.
    invite(&store, "a", "vera@exemple.fr", &["client_user"], "hash-a", &by("lucie")).await;
    let other = crate::AcceptProfile {
        given_name: "Autre".to_owned(),
        family_name: "Nom".to_owned(),
        phone: Some(guichet_domain::Phone::parse("+33700000000").unwrap()),
        idp_subject: Some("oidc|other".to_owned()),
    };
    let (again, _) = store.accept_invitation("hash-a", &other, &audit()).await.unwrap();
    assert_eq!(again.user, vera);
    assert_eq!(store.get_user(&id("vera", UserId::parse)).await.unwrap(), vera);
}

both_backends!(a_claimed_profile_belongs_to_its_owner);

/// No membership is created, nor approved, for a suspended user or in a suspended account: the
/// store checks inside the write.
#[tokio::test]
async fn suspended_users_and_accounts_get_no_membership() {
    let (store, _dir) = sqlite().await;
    account(&store, "p", "partner", None).await;
    account(&store, "c", "customer", Some("p")).await;
    approving_customer(&store, "d", "p").await;
    user(&store, "sam").await;
    user(&store, "alice").await;
    store.set_user_status(&id("sam", UserId::parse), guichet_domain::UserStatus::Suspended, &audit()).await.unwrap();
    assert_eq!(precondition(member(&store, "sam", "c", "client_user").await), "USER_SUSPENDED");
    store
        .set_account_status(&id("c", AccountId::parse), guichet_domain::AccountStatus::Suspended, None, &audit())
        .await
        .unwrap();
    assert_eq!(precondition(member(&store, "alice", "c", "client_user").await), "ACCOUNT_SUSPENDED");
    // A pending membership whose user was suspended since cannot be approved.
    member(&store, "alice", "d", "client_user").await.unwrap();
    let m = id("m-alice-d", MembershipId::parse);
    store.set_user_status(&id("alice", UserId::parse), guichet_domain::UserStatus::Suspended, &audit()).await.unwrap();
    let r = store.set_membership_status(&m, MembershipStatus::Active, true, &by("paul")).await;
    assert_eq!(precondition(r), "USER_SUSPENDED");
    assert_eq!(store.get_membership(&m).await.unwrap().status, MembershipStatus::PendingApproval);
}

/// A custom role named by a pending invitation, or by a delegation, is in use; an expired or
/// revoked invitation does not hold it.
#[tokio::test]
async fn roles_named_by_pending_invitations_are_in_use() {
    let (store, _dir) = sqlite().await;
    account(&store, "p", "partner", None).await;
    account(&store, "c", "customer", Some("p")).await;
    for r in ["invited", "expired", "delegated"] {
        custom_role(&store, "c", r).await;
    }
    let c = id("c", AccountId::parse);
    let inv = invite(&store, "c", "marc@exemple.fr", &["client_user", "invited"], "hash-1", &audit()).await;
    let r = store.delete_role(&c, &id("invited", RoleName::parse), &audit()).await;
    assert_eq!(precondition(r), "ROLE_IN_USE");
    store.revoke_invitation(&inv.id, None, &audit()).await.unwrap();
    store.delete_role(&c, &id("invited", RoleName::parse), &audit()).await.unwrap();

    invite(&store, "c", "jean@exemple.fr", &["expired"], "hash-2", &audit()).await;
    let r = store.delete_role(&c, &id("expired", RoleName::parse), &audit()).await;
    assert_eq!(precondition(r), "ROLE_IN_USE");
    let later = Audit::system(NOW.plus_days(8));
    store.delete_role(&c, &id("expired", RoleName::parse), &later).await.unwrap();

    let delegation = guichet_domain::NewDelegation {
        id: None,
        from_account: id("p", AccountId::parse),
        to_account: c.clone(),
        role: id("delegated", RoleName::parse),
        expires_at: None,
    };
    let (d, _) = store.create_delegation(&delegation, &audit()).await.unwrap();
    let r = store.delete_role(&c, &id("delegated", RoleName::parse), &audit()).await;
    assert_eq!(precondition(r), "ROLE_IN_USE");
    store.delete_delegation(&d.id, &audit()).await.unwrap();
    store.delete_role(&c, &id("delegated", RoleName::parse), &audit()).await.unwrap();
}

/// Account ids compare exactly: the tree of `ACME` is not below `acme`, on SQLite (whose LIKE
/// ignores case) as on PostgreSQL.
async fn trees_whose_ids_differ_by_case(store: Store) {
    account(&store, "acme", "affiliate", None).await;
    account(&store, "acme-client", "customer", Some("acme")).await;
    account(&store, "ACME", "affiliate", None).await;
    account(&store, "ACME-client", "customer", Some("ACME")).await;
    let children = store.list_children(&id("acme", AccountId::parse), true, &page(10)).await.unwrap();
    assert_eq!(children.items.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(), ["acme-client"]);
    let children = store.list_children(&id("ACME", AccountId::parse), true, &page(10)).await.unwrap();
    assert_eq!(children.items.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(), ["ACME-client"]);
    user(&store, "karim").await;
    member(&store, "karim", "acme", "account_manager").await.unwrap();
    let subject = id("karim", UserId::parse);
    let permission = id("users:view", Permission::parse);
    let lookup = crate::Lookup::Accounts { subject: &subject, permission: &permission };
    let (reached, _) = store.lookup(lookup, None, 100, NOW, |r, _| Some(r.account.to_string())).await.unwrap();
    assert_eq!(reached, ["acme", "acme-client"]);
}

both_backends!(trees_whose_ids_differ_by_case);

/// An approval or a rejection names the version reviewed: a membership changed since is refused
/// with `STALE_VERSION`, inside the write, and stays as it is. The requester is returned.
async fn an_approval_names_the_version_it_approves(store: Store) {
    account(&store, "p", "partner", None).await;
    approving_customer(&store, "c", "p").await;
    custom_role(&store, "c", "auditeur").await;
    for u in ["marc", "julie"] {
        user(&store, u).await;
    }
    let create = |u: &str| NewMembership {
        id: Some(id(&format!("m-{u}-c"), MembershipId::parse)),
        account: id("c", AccountId::parse),
        user: id(u, UserId::parse),
        roles: vec![id("client_user", RoleName::parse)],
        restriction: None,
        expires_at: None,
    };
    let (marc, _) = store.create_membership(&create("marc"), &by("lucie")).await.unwrap();
    assert_eq!(
        (marc.status, marc.created_by.clone()),
        (MembershipStatus::PendingApproval, Some(id("lucie", UserId::parse)))
    );
    assert_eq!(store.get_membership(&marc.id).await.unwrap().created_by, Some(id("lucie", UserId::parse)));
    let reviewed = marc.version();
    // The requester adds a role after the review.
    let (changed, _) = store.assign_role(&marc.id, &id("auditeur", RoleName::parse), &by("lucie")).await.unwrap();
    assert_ne!(changed.version(), reviewed);
    let r0 = store.revision().await.unwrap();
    let r = store
        .set_membership_status_if_version(&marc.id, MembershipStatus::Active, true, Some(&reviewed), &by("paul"))
        .await;
    assert_eq!(precondition(r), "STALE_VERSION");
    assert_eq!(store.revision().await.unwrap(), r0);
    assert_eq!(store.get_membership(&marc.id).await.unwrap(), changed);
    let (approved, _) = store
        .set_membership_status_if_version(
            &marc.id,
            MembershipStatus::Active,
            true,
            Some(&changed.version()),
            &by("paul"),
        )
        .await
        .unwrap();
    assert_eq!((approved.status, approved.approved_by), (MembershipStatus::Active, Some(id("paul", UserId::parse))));
    // Approving again with that version: not pending any more, said as such.
    let r = store
        .set_membership_status_if_version(
            &marc.id,
            MembershipStatus::Active,
            true,
            Some(&changed.version()),
            &by("paul"),
        )
        .await;
    assert_eq!(precondition(r), "MEMBERSHIP_NOT_PENDING");

    // A rejection too.
    let (julie, _) = store.create_membership(&create("julie"), &by("lucie")).await.unwrap();
    let reviewed = julie.version();
    let restriction = guichet_domain::Restriction::new();
    store.set_resource_restriction(&julie.id, Some(&restriction), &by("lucie")).await.unwrap();
    let r = store.reject_membership_if_version(&julie.id, "non", Some(&reviewed), &by("paul")).await;
    assert_eq!(precondition(r), "STALE_VERSION");
    let current = store.get_membership(&julie.id).await.unwrap();
    store.reject_membership_if_version(&julie.id, "non", Some(&current.version()), &by("paul")).await.unwrap();
    assert!(matches!(store.get_membership(&julie.id).await, Err(StoreError::NotFound { .. })));
}

both_backends!(an_approval_names_the_version_it_approves);

/// Upgrading a database: users created on a service's own authority, or who accepted an
/// invitation, are claimed; users an actor created stay unclaimed. Two users sharing an
/// `idp_subject` stop the upgrade with the subjects to fix.
async fn upgrades_claim_users_and_refuse_shared_subjects(db: sea_orm::DatabaseConnection) {
    use sea_orm_migration::MigratorTrait;
    crate::Migrator::up(&db, Some(5)).await.unwrap();
    let user = |id: &str, subject: &str| {
        format!(
            "INSERT INTO users (id, email, given_name, family_name, phone, idp_subject, status, created_at, updated_at) \
             VALUES ('{id}', '{id}@exemple.fr', '', '', NULL, {subject}, 'active', 10, 10)"
        )
    };
    let event = |id: &str, target: &str, actor: &str| {
        format!(
            "INSERT INTO events (id, revision, account_id, actor_id, service, kind, target_id, before_json, after_json, \
             trace_id, request_id, created_at) VALUES ('{id}', 1, NULL, {actor}, NULL, 'user.created', '{target}', \
             NULL, NULL, NULL, NULL, 10)"
        )
    };
    for sql in [
        "INSERT INTO accounts (id, name, kind, parent_id, path, depth, status, suspension_reason, modules, settings, \
         created_at, updated_at) VALUES ('c', 'c', 'customer', NULL, 'c', 1, 'active', NULL, '[]', '{}', 1, 1)"
            .to_owned(),
        user("planted", "'oidc|a'"),
        user("imported", "NULL"),
        user("accepter", "NULL"),
        event("evt1", "planted", "'admin'"),
        event("evt2", "imported", "NULL"),
        "INSERT INTO invitations (id, account_id, email, roles, restricted, resource_ids, status, token_hash, invited_by, \
         created_at, expires_at, updated_at, resend_count, accepted_user_id, membership_id, revoked_by, \
         revocation_reason) VALUES ('inv1', 'c', 'accepter@exemple.fr', '[]', false, '[]', 'accepted', 'h', NULL, 1, \
         99, 42, 0, 'accepter', NULL, NULL, NULL)"
            .to_owned(),
        user("twin", "'oidc|a'"),
    ] {
        db.execute_unprepared(&sql).await.unwrap();
    }
    let err = crate::Migrator::up(&db, None).await.unwrap_err().to_string();
    assert!(err.contains("oidc|a") && err.contains("idp_subject"), "{err}");
    db.execute_unprepared("UPDATE users SET idp_subject = NULL WHERE id = 'twin'").await.unwrap();
    crate::Migrator::up(&db, None).await.unwrap();
    use sea_orm::EntityTrait;
    let claimed = crate::entities::user::Entity::find()
        .all(&db)
        .await
        .unwrap()
        .into_iter()
        .map(|u| (u.id, u.claimed_at))
        .collect::<std::collections::BTreeMap<_, _>>();
    let expected = [("accepter", Some(42)), ("imported", Some(10)), ("planted", None), ("twin", None)]
        .map(|(id, at)| (id.to_owned(), at))
        .into();
    assert_eq!(claimed, expected);
}

both_backends!(upgrades_claim_users_and_refuse_shared_subjects);

/// `events_after` reads whole revisions after the cursor, says whether it reached the latest
/// revision, narrows to one account, and reports the oldest cursor it can serve.
async fn events_after_reads_whole_revisions(store: Store) {
    use sea_orm::{ActiveModelTrait, Set};
    let r1 = account(&store, "p", "partner", None).await;
    let r2 = account(&store, "c", "customer", Some("p")).await;
    let r3 = account(&store, "q", "partner", None).await;
    assert_eq!((r1.value(), r2.value(), r3.value()), (1, 2, 3));
    // A second event at r2, as a write that records two.
    crate::entities::event::ActiveModel {
        id: Set("evt_zzzz".to_owned()),
        revision: Set(2),
        account_id: Set(Some("c".to_owned())),
        actor_id: Set(None),
        service: Set(None),
        kind: Set("account.renamed".to_owned()),
        target_id: Set("c".to_owned()),
        before_json: Set(None),
        after_json: Set(None),
        trace_id: Set(None),
        request_id: Set(None),
        created_at: Set(NOW.as_millis()),
    }
    .insert(&store.db)
    .await
    .unwrap();
    let revisions = |r: &crate::EventsAfter| r.events.iter().map(|e| e.revision.value()).collect::<Vec<_>>();

    // Room for r1 and half of r2: r2 is left whole for the next read.
    let read = store.events_after(Revision::ZERO, None, 2).await.unwrap();
    assert_eq!(
        (revisions(&read), read.complete, read.latest, read.oldest_cursor),
        (vec![1], false, r3, Revision::ZERO)
    );
    // Room for less than r2 alone: r2 is read whole all the same.
    let read = store.events_after(r1, None, 1).await.unwrap();
    assert_eq!((revisions(&read), read.complete), (vec![2, 2], false));
    let read = store.events_after(r2, None, 10).await.unwrap();
    assert_eq!((revisions(&read), read.complete), (vec![3], true));
    let read = store.events_after(r3, None, 10).await.unwrap();
    assert_eq!((revisions(&read), read.complete), (vec![], true));
    // One account's events.
    let read = store.events_after(Revision::ZERO, Some(&id("c", AccountId::parse)), 10).await.unwrap();
    assert_eq!((revisions(&read), read.complete), (vec![2, 2], true));
    assert!(read.events.iter().all(|e| e.account.as_ref().is_some_and(|a| a.as_str() == "c")));
    // Old events removed: the oldest cursor served moves up.
    store.db.execute_unprepared("DELETE FROM events WHERE revision <= 1").await.unwrap();
    let read = store.events_after(r1, None, 10).await.unwrap();
    assert_eq!((revisions(&read), read.oldest_cursor), (vec![2, 2, 3], r1));
    store.db.execute_unprepared("DELETE FROM events").await.unwrap();
    assert_eq!(store.events_after(r3, None, 10).await.unwrap().oldest_cursor, r3);
}

both_backends!(events_after_reads_whole_revisions);

// ---------------------------------------------------------------------------------------------
// Paging: every list walked one item at a time gives the whole list, in its order.

/// Every item of a list, read `limit` at a time from the start, following the tokens.
async fn walk<T, F, Fut>(limit: u64, mut list: F) -> Vec<T>
where
    F: FnMut(crate::PageRequest) -> Fut,
    Fut: std::future::Future<Output = Result<crate::Page<T>, StoreError>>,
{
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let found = list(crate::PageRequest { after: after.clone(), limit }).await.unwrap();
        assert!(found.items.len() <= usize::try_from(limit).unwrap());
        out.extend(found.items);
        match found.next_after {
            Some(next) => after = Some(next),
            None => return out,
        }
    }
}

/// Walks a list one, two and a thousand at a time: the walks agree, hold `len` items, and the
/// items come out in the order `key` gives.
macro_rules! pages_agree {
    ($len:expr, $key:expr, |$p:ident| $list:expr) => {{
        let whole = walk(1000, |$p| async move { $list }).await;
        assert_eq!(whole.len(), $len, "{}", stringify!($list));
        assert_eq!(walk(1, |$p| async move { $list }).await, whole, "{}", stringify!($list));
        assert_eq!(walk(2, |$p| async move { $list }).await, whole, "{}", stringify!($list));
        let keys: Vec<_> = whole.iter().map($key).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted, "{}", stringify!($list));
        whole
    }};
}

async fn every_list_pages(store: Store) {
    account(&store, "p", "partner", None).await;
    approving_customer(&store, "c", "p").await;
    for name in ["c1", "c3", "c2"] {
        account(&store, name, "customer", Some("p")).await;
    }
    for u in ["ana", "bea", "cid", "dan"] {
        user(&store, u).await;
        member(&store, u, "p", "account_manager").await.unwrap();
    }
    // Pending approval in `c`, requested at three times, two at the same time.
    for (u, at) in [("dan", 3), ("ana", 1), ("cid", 1)] {
        let later = Audit { now: Timestamp::from_millis(NOW.as_millis() + at), ..audit() };
        let cmd = NewMembership {
            id: Some(id(&format!("m-{u}-c"), MembershipId::parse)),
            account: id("c", AccountId::parse),
            user: id(u, UserId::parse),
            roles: vec![id("client_user", RoleName::parse)],
            restriction: None,
            expires_at: None,
        };
        store.create_membership(&cmd, &later).await.unwrap();
    }
    for r in ["f2", "f1", "f3"] {
        let cmd = NewResource {
            id: Some(id(r, ResourceId::parse)),
            account: id("c", AccountId::parse),
            kind: id("folders", guichet_domain::FeatureName::parse),
            name: r.to_owned(),
        };
        store.create_resource(&cmd, &audit()).await.unwrap();
    }
    for to in ["c", "c1", "c2"] {
        let cmd = guichet_domain::NewDelegation {
            id: None,
            from_account: id("p", AccountId::parse),
            to_account: id(to, AccountId::parse),
            role: id("client_administrator", RoleName::parse),
            expires_at: None,
        };
        store.create_delegation(&cmd, &audit()).await.unwrap();
    }
    // Invitations: two at the same time, one later.
    for (email, at) in [("x@exemple.fr", 0), ("y@exemple.fr", 5), ("z@exemple.fr", 0)] {
        let later = Audit { now: Timestamp::from_millis(NOW.as_millis() + at), ..audit() };
        invite(&store, "c", email, &["client_user"], &format!("hash-{email}"), &later).await;
    }
    // Contacts: equal family names, equal given names.
    for (given, family) in [("Léa", "Durand"), ("Marc", "Durand"), ("Léa", "Durand"), ("Zoé", "Abel"), ("", "Durand")]
    {
        let cmd = guichet_domain::NewContact {
            id: None,
            account: id("c", AccountId::parse),
            details: guichet_domain::ContactDetails {
                given_name: given.to_owned(),
                family_name: family.to_owned(),
                email: Some(guichet_domain::Email::parse("contact@exemple.fr").unwrap()),
                ..Default::default()
            },
        };
        store.create_contact(&cmd, &audit()).await.unwrap();
    }

    let store = &store;
    let (p, c) = (&id("p", AccountId::parse), &id("c", AccountId::parse));
    pages_agree!(5, |a| a.id.clone(), |pr| store.list_accounts(&crate::AccountFilter::default(), &pr).await);
    pages_agree!(4, |a| a.id.clone(), |pr| store.list_children(p, false, &pr).await);
    let all = &crate::MembershipFilter::default();
    pages_agree!(7, |m| m.id.clone(), |pr| store.list_memberships(all, &pr).await);
    let approvals = pages_agree!(3, |a| (a.membership.created_at, a.membership.id.clone()), |pr| store
        .list_pending_approvals(c, &pr)
        .await);
    assert_eq!(
        approvals.iter().map(|a| a.membership.id.as_str()).collect::<Vec<_>>(),
        ["m-ana-c", "m-cid-c", "m-dan-c"]
    );
    pages_agree!(3, |r| r.id.clone(), |pr| store.list_resources(c, None, &pr).await);
    pages_agree!(3, |d| d.id.clone(), |pr| store.list_delegations(Some(p), None, None, &pr).await);
    let filter = &crate::InvitationFilter { account: c.clone(), status: None, email: None };
    let invitations = pages_agree!(3, |i| std::cmp::Reverse((i.created_at, i.id.clone())), |pr| store
        .list_invitations(filter, NOW, &pr)
        .await);
    assert_eq!(invitations[0].email.as_str(), "y@exemple.fr");
    let contacts =
        pages_agree!(5, |k| (k.details.family_name.clone(), k.details.given_name.clone(), k.id.clone()), |pr| store
            .list_contacts(c, None, &pr)
            .await);
    assert_eq!(contacts[0].details.given_name, "Zoé");
    let events = all_events(store).await.len();
    pages_agree!(events, |e| e.id.clone(), |pr| store.list_events(&crate::EventFilter::default(), &pr).await);
    // A token of another list's shape is a field error, not a page.
    let token = |t: &str| crate::PageRequest { after: Some(t.to_owned()), limit: 10 };
    for wrong in [
        store.list_invitations(filter, NOW, &token("m-ana-c")).await.map(|_| ()),
        store.list_pending_approvals(c, &token("m-ana-c")).await.map(|_| ()),
        store.list_contacts(c, None, &token("00000000000000000001:m-ana-c")).await.map(|_| ()),
    ] {
        match wrong {
            Err(StoreError::Invalid(v)) => assert_eq!(v[0].field, "page_token"),
            other => panic!("expected a page_token violation, got {other:?}"),
        }
    }
}

both_backends!(every_list_pages);

/// Expiries: the loaded facts carry them (one statement on PostgreSQL, the generic loader on
/// both), the decision stops granting at the instant, the lists filter "expiring before", and
/// concurrent sweeps record each expiry exactly once, with its event and change.
async fn grants_expire_and_their_expiry_is_recorded_once(store: Store) {
    let catalog = Catalog::builtin().unwrap();
    account(&store, "p", "partner", None).await;
    account(&store, "c", "customer", Some("p")).await;
    user(&store, "advisor").await;
    user(&store, "lucie").await;
    member(&store, "advisor", "p", "delegated_account_administrator").await.unwrap();
    member(&store, "lucie", "c", "client_administrator").await.unwrap();
    let t = Timestamp::from_millis(NOW.as_millis() + 60_000);
    let (d, _) = store
        .create_delegation(
            &guichet_domain::NewDelegation {
                id: None,
                from_account: id("p", AccountId::parse),
                to_account: id("c", AccountId::parse),
                role: id("client_administrator", RoleName::parse),
                expires_at: Some(t),
            },
            &audit(),
        )
        .await
        .unwrap();
    assert_eq!(d.expires_at, Some(t));
    let lucie_m = id("m-lucie-c", MembershipId::parse);
    let (m, _) = store.set_membership_expiry(&lucie_m, Some(t), &audit()).await.unwrap();
    assert_eq!(m.expires_at, Some(t));
    // No change, no write.
    let r = store.revision().await.unwrap();
    assert_eq!(store.set_membership_expiry(&lucie_m, Some(t), &audit()).await.unwrap().1, r);

    let q = |who: &str| AccessRequest {
        subject: id(who, UserId::parse),
        account: id("c", AccountId::parse),
        permission: id("users:full", Permission::parse),
        resource: None,
    };
    for who in ["advisor", "lucie"] {
        let (facts, _) = store.load_facts(&q(who)).await.unwrap();
        assert_eq!(facts, store.load_facts_generic(&q(who)).await.unwrap(), "{who}");
        let before = evaluate(&catalog, &q(who), &facts, NOW);
        assert!(before.allowed, "{who}: {before:?}");
        assert_eq!(before.valid_until, Some(t));
        assert!(!evaluate(&catalog, &q(who), &facts, t).allowed, "{who}");
    }

    // Expiring before: strictly before the instant given; grants without expiry never.
    let filter = |before: Timestamp| crate::MembershipFilter {
        account: Some(id("c", AccountId::parse)),
        expiring_before: Some(before),
        ..crate::MembershipFilter::default()
    };
    let ids =
        |p: crate::Page<guichet_domain::Membership>| p.items.into_iter().map(|m| m.id.to_string()).collect::<Vec<_>>();
    assert_eq!(ids(store.list_memberships(&filter(t), &page(10)).await.unwrap()), Vec::<String>::new());
    let later = Timestamp::from_millis(t.as_millis() + 1);
    assert_eq!(ids(store.list_memberships(&filter(later), &page(10)).await.unwrap()), ["m-lucie-c"]);
    let from = id("p", AccountId::parse);
    assert!(store.list_delegations(Some(&from), None, Some(t), &page(10)).await.unwrap().items.is_empty());
    assert_eq!(store.list_delegations(Some(&from), None, Some(later), &page(10)).await.unwrap().items.len(), 1);
    assert_eq!(store.list_delegations(Some(&from), None, None, &page(10)).await.unwrap().items.len(), 1);

    // Nothing due before the expiry: no write at all.
    let r = store.revision().await.unwrap();
    assert_eq!(store.record_expiries(NOW).await.unwrap(), crate::Expired::default());
    assert_eq!(store.revision().await.unwrap(), r);
    // Four replicas sweep at once: each expiry is recorded once.
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.record_expiries(t).await })
        })
        .collect();
    let mut sweeps: Vec<crate::Expired> = Vec::new();
    for task in tasks {
        sweeps.push(task.await.unwrap().unwrap());
    }
    let memberships: Vec<&String> = sweeps.iter().flat_map(|s| &s.memberships).collect();
    let delegations: Vec<&String> = sweeps.iter().flat_map(|s| &s.delegations).collect();
    assert_eq!(memberships, ["m-lucie-c"]);
    assert_eq!(delegations, [&d.id.to_string()]);
    assert_eq!(store.revision().await.unwrap().value(), r.value() + 1, "one write for the sweep");
    let events = store
        .list_events(&crate::EventFilter { account: Some(id("c", AccountId::parse)), ..Default::default() }, &page(100))
        .await
        .unwrap();
    let kinds: Vec<&str> = events.items.iter().map(|e| e.kind.as_str()).filter(|k| k.ends_with(".expired")).collect();
    assert_eq!(kinds.len(), 2, "{kinds:?}");
    assert!(kinds.contains(&"membership.expired") && kinds.contains(&"delegation.expired"));
    // The sweep's change reaches the member's decisions (user scope) and the account's.
    let changes = store.changes_after(r, 100).await.unwrap();
    let scopes: Vec<&str> = changes.changes.iter().map(|(_, s)| s.as_str()).collect();
    assert!(scopes.contains(&"user:lucie") && scopes.contains(&"acct:c"), "{scopes:?}");
    // Swept again: nothing. A new expiry is recorded again when it passes.
    assert_eq!(store.record_expiries(later).await.unwrap(), crate::Expired::default());
    let t2 = Timestamp::from_millis(t.as_millis() + 10_000);
    store.set_membership_expiry(&lucie_m, Some(t2), &audit()).await.unwrap();
    assert_eq!(store.record_expiries(t2).await.unwrap().memberships, ["m-lucie-c"]);
    // Cleared: never expires again.
    let (m, _) = store.set_membership_expiry(&lucie_m, None, &audit()).await.unwrap();
    assert_eq!(m.expires_at, None);
    let (facts, _) = store.load_facts(&q("lucie")).await.unwrap();
    assert!(evaluate(&catalog, &q("lucie"), &facts, Timestamp::NEVER).allowed);
    let (d2, _) = store.set_delegation_expiry(&d.id, None, &audit()).await.unwrap();
    assert_eq!(d2.expires_at, None);
}

both_backends!(grants_expire_and_their_expiry_is_recorded_once);

/// Writes take their connection from the writer pool: a write goes through while a read holds the
/// reads' only connection, and the store reports each phase of each write to its observer.
async fn writes_use_a_pool_of_their_own(backend: Backend) {
    let Some((url, _dir)) = empty_database(backend).await else { return };
    let mut options = StoreOptions::new(url);
    options.max_connections = 1;
    let store = Store::connect(&options, Arc::new(Catalog::builtin().unwrap())).await.unwrap();
    store.migrate().await.unwrap();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = seen.clone();
    store.set_observer(Arc::new(move |t: crate::WriteTiming| sink.lock().unwrap().push(t.phase)));
    let read = store.begin_read().await.unwrap();
    account(&store, "p", "partner", None).await;
    user(&store, "alice").await;
    read.rollback().await.unwrap();
    // The writer pool's release hook ends a write's timing once its connection is back.
    let phases = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        loop {
            let phases = seen.lock().unwrap().clone();
            if phases.iter().filter(|p| **p == crate::WritePhase::Transaction).count() == 2 {
                return phases;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap();
    for phase in crate::WritePhase::ALL {
        assert_eq!(phases.iter().filter(|p| **p == phase).count(), 2, "{phase:?} in {phases:?}");
    }
    store.close().await.unwrap();
}

mod writes_use_a_pool_of_their_own {
    #[tokio::test(flavor = "multi_thread")]
    async fn on_sqlite() {
        super::writes_use_a_pool_of_their_own(super::Backend::Sqlite).await;
    }
    #[tokio::test(flavor = "multi_thread")]
    async fn on_postgres() {
        super::writes_use_a_pool_of_their_own(super::Backend::Postgres).await;
    }
}

/// A store with four writer connections: its writes wait for the revision lock in the database,
/// not for the pool's one connection (as writes of several replicas do).
async fn several_writers(backend: Backend) -> Option<(Store, Option<tempfile::TempDir>)> {
    let (url, dir) = empty_database(backend).await?;
    let mut options = StoreOptions::new(url);
    options.writer_connections = 4;
    let store = Store::connect(&options, Arc::new(Catalog::builtin().unwrap())).await.unwrap();
    store.migrate().await.unwrap();
    Some((store, dir))
}

/// The concurrent writes of one membership (role changes racing, demotions of the last two
/// administrators) on several connections: each write reads what it changes only once it holds
/// the lock, so none is lost and the rule holds (a read made before the lock was granted fails
/// both).
async fn concurrent_writes_on_several_connections(backend: Backend) {
    if let Some((store, _dir)) = several_writers(backend).await {
        concurrent_role_changes_all_take_effect(store).await;
    }
    if let Some((store, _dir)) = several_writers(backend).await {
        last_administrator_survives_concurrent_demotions(store).await;
    }
}

mod concurrent_writes_on_several_connections {
    #[tokio::test(flavor = "multi_thread")]
    async fn on_sqlite() {
        super::concurrent_writes_on_several_connections(super::Backend::Sqlite).await;
    }
    #[tokio::test(flavor = "multi_thread")]
    async fn on_postgres() {
        super::concurrent_writes_on_several_connections(super::Backend::Postgres).await;
    }
}

/// Role changes queued together on PostgreSQL are made in one batch (`group_commit`), and each is
/// what it would be alone: its own revision (consecutive, in the order they were made), its own
/// event and change-log rows, its effect; a refused change refuses alone; a demotion of a last
/// administrator is refused; a second change of the same membership waits for the next batch and
/// keeps the first.
#[tokio::test(flavor = "multi_thread")]
async fn queued_role_changes_are_one_batch_and_each_as_alone() {
    let Some(mut store) = postgres().await else { return };
    let statements = store.count_statements();
    account(&store, "p", "partner", None).await;
    for c in ["c1", "c2"] {
        account(&store, c, "customer", Some("p")).await;
    }
    user(&store, "bea").await;
    member(&store, "bea", "c2", "client_administrator").await.unwrap();
    const N: usize = 20;
    for i in 0..N + 3 {
        let u = format!("u{i}");
        user(&store, &u).await;
        member(&store, &u, if i.is_multiple_of(2) { "c1" } else { "c2" }, "client_user").await.unwrap();
    }
    let m = |u: &str, c: &str| id(&format!("m-{u}-{c}"), MembershipId::parse);
    let c_of = |i: usize| if i.is_multiple_of(2) { "c1" } else { "c2" };
    let role = |r: &str| id(r, RoleName::parse);
    let start = store.revision().await.unwrap();
    // The writer connection is held: every change queues until it is released.
    let holder = store.staged().await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..N {
        let (store, id) = (store.clone(), m(&format!("u{i}"), c_of(i)));
        let roles = vec![role("client_user"), role("user")];
        tasks.push(tokio::spawn(async move { store.set_membership_roles(&id, &roles, &audit()).await }));
    }
    let twice = m(&format!("u{N}"), c_of(N));
    for r in ["client_administrator", "user"] {
        let (store, id, r) = (store.clone(), twice.clone(), role(r));
        tasks.push(tokio::spawn(async move { store.assign_role(&id, &r, &audit()).await }));
    }
    let refused: Vec<(MembershipId, Vec<RoleName>)> = vec![
        (m(&format!("u{}", N + 1), c_of(N + 1)), vec![role("no_such_role")]),
        (m("nobody", "c1"), vec![role("user")]),
        (m("bea", "c2"), vec![role("client_user")]),
    ];
    for (id, roles) in refused {
        let store = store.clone();
        tasks.push(tokio::spawn(async move { store.set_membership_roles(&id, &roles, &audit()).await }));
    }
    let last_role = m(&format!("u{}", N + 2), c_of(N + 2));
    {
        let (store, id) = (store.clone(), last_role.clone());
        tasks.push(tokio::spawn(async move { store.unassign_role(&id, &role("client_user"), &audit()).await }));
    }
    let total = tasks.len();
    for _ in 0..10_000 {
        if store.batches.queued() == total {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    assert_eq!(store.batches.queued(), total, "every change waits for the writer connection");
    let sent = statements.load(Ordering::Relaxed);
    holder.commit_staged().await.unwrap();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    // Two statements per batch (the lock with the read, then every write), a few for the
    // demotion made alone: far fewer than one per change. Made one by one it is two per change.
    let used = statements.load(Ordering::Relaxed) - sent;
    assert!(used < total as u64, "{used} statements for {total} changes");
    let made: Vec<(guichet_domain::Membership, Revision)> =
        answers.iter().filter_map(|a| a.as_ref().ok().cloned()).collect();
    assert_eq!(made.len(), N + 2, "{answers:?}");
    let errors: Vec<String> = answers.iter().filter_map(|a| a.as_ref().err().map(|e| format!("{e:?}"))).collect();
    assert_eq!(errors.len(), 4, "{errors:?}");
    let mut refusals = answers.split_off(N + 2).into_iter();
    let invalid = refusals.next().unwrap();
    assert!(matches!(invalid, Err(StoreError::Invalid(_))), "{invalid:?}");
    let missing = refusals.next().unwrap();
    assert!(matches!(missing, Err(StoreError::NotFound { .. })), "{missing:?}");
    assert_eq!(precondition(refusals.next().unwrap()), "LAST_ADMINISTRATOR");
    assert_eq!(precondition(refusals.next().unwrap()), "LAST_ROLE");
    // Consecutive revisions, one per change made; each answer is what a read gives now, and its
    // event carries its revision.
    let mut revisions: Vec<u64> = made.iter().map(|(_, r)| r.value()).collect();
    revisions.sort_unstable();
    let expected: Vec<u64> = (start.value() + 1..=start.value() + made.len() as u64).collect();
    assert_eq!(revisions, expected);
    assert_eq!(store.revision().await.unwrap().value(), start.value() + made.len() as u64);
    let events = all_events(&store).await;
    for (membership, revision) in &made[..N] {
        assert_eq!(membership, &store.get_membership(&membership.id).await.unwrap());
        assert_eq!(roles_of(membership), BTreeSet::from(["client_user", "user"]));
        let event: Vec<_> =
            events.iter().filter(|e| e.revision == *revision && e.kind == "membership.roles_changed").collect();
        assert_eq!(event.len(), 1, "revision {revision}");
        assert_eq!(event[0].target, membership.id.as_str());
    }
    // Both assigns of one membership took effect, one after the other.
    let both = store.get_membership(&twice).await.unwrap();
    assert_eq!(roles_of(&both), BTreeSet::from(["client_administrator", "client_user", "user"]));
    // Every revision made has its change-log rows.
    let logged = store.changes_after(start, 10_000).await.unwrap();
    let logged: BTreeSet<u64> = logged.changes.iter().map(|(r, _)| r.value()).collect();
    assert_eq!(logged, expected.into_iter().collect::<BTreeSet<_>>());
    // Nothing was written for the refused ones.
    assert_eq!(
        roles_of(&store.get_membership(&m("bea", "c2")).await.unwrap()),
        BTreeSet::from(["client_administrator"])
    );
    assert_eq!(roles_of(&store.get_membership(&last_role).await.unwrap()), BTreeSet::from(["client_user"]));
}

/// The last-administrator rule of a write that changes one membership: the account is refused only
/// the loss of its last active administrator — a demotion or a suspension of the last one; a
/// demotion while another remains, an edit of a member who is not an administrator, and the
/// demotion of an administrator whose user is suspended (who does not count) go through.
async fn one_membership_edits_keep_the_last_administrator(mut store: Store) {
    let statements = store.count_statements();
    account(&store, "p", "partner", None).await;
    account(&store, "c", "customer", Some("p")).await;
    for u in ["ada", "bea", "cal"] {
        user(&store, u).await;
    }
    member(&store, "ada", "c", "client_administrator").await.unwrap();
    member(&store, "bea", "c", "client_administrator").await.unwrap();
    member(&store, "cal", "c", "client_user").await.unwrap();
    let m = |u: &str| id(&format!("m-{u}-c"), MembershipId::parse);
    let roles = |r: &str| vec![id(r, RoleName::parse)];
    // Another administrator remains: bea may lose the role.
    store.set_membership_roles(&m("bea"), &roles("client_user"), &audit()).await.unwrap();
    // ada is the last one: neither a demotion nor a suspension of her membership.
    let before = store.revision().await.unwrap();
    assert_eq!(
        precondition(store.set_membership_roles(&m("ada"), &roles("client_user"), &audit()).await),
        "LAST_ADMINISTRATOR"
    );
    let suspended = store.set_membership_status(&m("ada"), MembershipStatus::Suspended, false, &audit()).await;
    assert_eq!(precondition(suspended), "LAST_ADMINISTRATOR");
    assert_eq!(store.revision().await.unwrap(), before, "nothing written");
    // Members who are not administrators are edited freely, and the edit reads no other member:
    // the statements of a role change (BEGIN and COMMIT are not counted), all but the first made
    // holding the revision lock.
    let sent = statements.load(Ordering::Relaxed);
    let (returned, _) = store.set_membership_roles(&m("cal"), &roles("user"), &audit()).await.unwrap();
    // On PostgreSQL two: the revision bump with the membership, its account and its roles
    // (`guichet_lock_membership`), then the roles dropped and kept, the membership's time of
    // change, the event and its changes. On SQLite seven: the bump, the read, then each write. It
    // was 20 when the account's administrators were counted before and after every edit, 13 when
    // the account, the membership and its roles were read again, 7 on PostgreSQL when the roles,
    // the row and the event were written one after the other.
    let expected = if store.backend_name() == "postgresql" { 2 } else { 7 };
    assert_eq!(statements.load(Ordering::Relaxed) - sent, expected);
    // What a role change answers without reading the membership again is what a read gives, a
    // repeated name written once, in order.
    assert_eq!(returned, store.get_membership(&m("cal")).await.unwrap());
    let twice = vec![id("user", RoleName::parse), id("client_user", RoleName::parse), id("user", RoleName::parse)];
    let (returned, _) = store.set_membership_roles(&m("cal"), &twice, &audit()).await.unwrap();
    assert_eq!(returned.roles, twice[..2].to_vec());
    assert_eq!(returned, store.get_membership(&m("cal")).await.unwrap());
    let (returned, _) =
        store.assign_role(&m("cal"), &id("client_administrator", RoleName::parse), &audit()).await.unwrap();
    assert_eq!(returned, store.get_membership(&m("cal")).await.unwrap());
    let (returned, _) =
        store.unassign_role(&m("cal"), &id("client_administrator", RoleName::parse), &audit()).await.unwrap();
    assert_eq!(returned, store.get_membership(&m("cal")).await.unwrap());
    // bea administrator again; ada's user suspended: ada no longer counts, so her demotion reads
    // no other member, and bea is now the last one.
    store.set_membership_roles(&m("bea"), &roles("client_administrator"), &audit()).await.unwrap();
    store.set_user_status(&id("ada", UserId::parse), guichet_domain::UserStatus::Suspended, &audit()).await.unwrap();
    store.set_membership_roles(&m("ada"), &roles("client_user"), &audit()).await.unwrap();
    let demoted = store.set_membership_roles(&m("bea"), &roles("user"), &audit()).await;
    assert_eq!(precondition(demoted), "LAST_ADMINISTRATOR");
    let catalog = Catalog::builtin().unwrap();
    let admins = crate::administrators::administrator_count(&store.db, &catalog, &id("c", AccountId::parse)).await;
    assert_eq!(admins.unwrap(), 1);
}

both_backends!(one_membership_edits_keep_the_last_administrator);
