//! Zero staleness of the decision caches: two real server processes over one PostgreSQL database
//! and one Redis; a write on A is seen by the very next check on B. Also: a lost pub/sub message,
//! tenant scoping, and Redis killed and restarted under a running server.

use std::time::Duration;

use guichet_proto::v1 as pb;
use guichet_server::config::CacheConfig;
use guichet_testkit::requests;
use guichet_tests::Clients;
use guichet_tests::{Backend, Config, Secret, TestApp, TestDatabase, skip, spawn_app, test_config};

use crate::scenario::{build_world, on_sqlite_with_the_world};
use crate::worlds;

const LOCAL: i32 = pb::CacheTier::Local as i32;
const SHARED: i32 = pb::CacheTier::Shared as i32;
const NONE: i32 = pb::CacheTier::None as i32;

fn redis_url() -> Option<String> {
    match std::env::var("GUICHET_TEST_REDIS_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            skip("Redis test", "GUICHET_TEST_REDIS_URL is not set");
            None
        }
    }
}

async fn ask(s: &TestApp, subject: &str, account: &str, permission: &str) -> pb::CheckAccessResponse {
    s.access().check_access(requests::check(subject, account, permission, "")).await.unwrap().into_inner()
}

/// Asks twice and checks that the second answer came from a cache tier with the given decision.
async fn cached(s: &TestApp, subject: &str, account: &str, permission: &str, allowed: bool) {
    let first = ask(s, subject, account, permission).await;
    assert_eq!(first.allowed, allowed, "{subject} {permission} in {account}: {first:?}");
    let second = ask(s, subject, account, permission).await;
    assert_eq!(second.allowed, allowed, "{subject} {permission} in {account}: {second:?}");
    assert!(
        second.cache_tier == LOCAL || second.cache_tier == SHARED,
        "{subject} {permission} in {account} was not served from a cache: {second:?}"
    );
}

/// Two servers over one PostgreSQL database and one Redis (a key prefix of their own). B runs on
/// one worker thread (a current-thread runtime, as a one-CPU pod does), A on the multi-threaded
/// runtime: the fence, the commit wait and the subscriber work on both.
async fn two_servers(cache: impl Fn(&mut CacheConfig)) -> Option<(TestDatabase, TestApp, TestApp)> {
    let redis = redis_url()?;
    let db = TestDatabase::new(Backend::Postgres).await?;
    let mut config = Config { redis_url: Some(Secret::new(redis)), ..test_config(&db.url) };
    config.cache.redis_key_prefix = format!("guichet-test-{}:", uuid::Uuid::new_v4().simple());
    cache(&mut config.cache);
    let a = TestApp::builder(config.clone()).own_runtime().start().await;
    let b = TestApp::builder(Config { worker_threads: 1, ..config }).own_runtime().start().await;
    Some((db, a, b))
}

async fn create_user(s: &TestApp, id: &str) {
    s.users().create_user(requests::user(id, &format!("{id}@exemple.fr"))).await.unwrap();
}

async fn add_member(s: &TestApp, id: &str, user: &str, account: &str, role: &str) -> pb::Membership {
    let request = pb::CreateMembershipRequest { id: id.into(), ..requests::membership("", account, user, &[role]) };
    s.memberships().create_membership(request).await.unwrap().into_inner().membership.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_kind_of_write_on_one_server_is_seen_by_the_next_check_on_another() {
    let Some((_db, a, b)) = two_servers(|_| {}).await else { return };
    build_world(&a).await;

    // Membership created, then removed.
    create_user(&a, "nouveau").await;
    cached(&b, "nouveau", "client-b", "billing:view", false).await;
    add_member(&a, "m-nouveau", "nouveau", "client-b", "client_user").await;
    let r = ask(&b, "nouveau", "client-b", "billing:view").await;
    assert!(r.allowed, "membership created on A, B answers {r:?}");
    cached(&b, "nouveau", "client-b", "billing:view", true).await;
    a.memberships()
        .delete_membership(pb::DeleteMembershipRequest { membership_id: "m-nouveau".into(), ..Default::default() })
        .await
        .unwrap();
    let r = ask(&b, "nouveau", "client-b", "billing:view").await;
    assert!(!r.allowed, "membership removed on A, B answers {r:?}");

    // Role edit: a custom role loses the feature.
    let grant = |feature: &str| pb::FeatureGrant { feature: feature.into(), level: pb::Level::View as i32 };
    a.roles()
        .create_role(pb::CreateRoleRequest {
            account_id: "client-b".into(),
            name: "lecteur".into(),
            display_name: "Lecteur".into(),
            grants: vec![grant("folders")],
            ..Default::default()
        })
        .await
        .unwrap();
    create_user(&a, "lecteur-u").await;
    add_member(&a, "m-lecteur", "lecteur-u", "client-b", "lecteur").await;
    cached(&b, "lecteur-u", "client-b", "folders:view", true).await;
    a.roles()
        .update_role(pb::UpdateRoleRequest {
            account_id: "client-b".into(),
            name: "lecteur".into(),
            display_name: "Lecteur".into(),
            grants: vec![grant("billing")],
            ..Default::default()
        })
        .await
        .unwrap();
    let r = ask(&b, "lecteur-u", "client-b", "folders:view").await;
    assert!(!r.allowed, "role edited on A, B answers {r:?}");

    // Delegation removal: the delegated administrator no longer manages client A.
    cached(&b, "conseiller", "client-a", "users:full", true).await;
    a.delegations()
        .delete_delegation(pb::DeleteDelegationRequest { id: "deleg-a".into(), ..Default::default() })
        .await
        .unwrap();
    let r = ask(&b, "conseiller", "client-a", "users:full").await;
    assert!(!r.allowed, "delegation removed on A, B answers {r:?}");

    // Approval: a pending membership is approved (a cached deny becomes an allow).
    a.accounts()
        .update_account_settings(pb::UpdateAccountSettingsRequest {
            account_id: "client-b".into(),
            settings: Some(pb::AccountSettings {
                invitation_ttl_days: 7,
                requires_approval: true,
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap();
    create_user(&a, "attente").await;
    let m = add_member(&a, "m-attente", "attente", "client-b", "client_user").await;
    assert_eq!(m.status, pb::MembershipStatus::PendingApproval as i32);
    cached(&b, "attente", "client-b", "billing:view", false).await;
    a.approvals()
        .approve_membership(pb::ApproveMembershipRequest { membership_id: "m-attente".into(), ..Default::default() })
        .await
        .unwrap();
    let r = ask(&b, "attente", "client-b", "billing:view").await;
    assert!(r.allowed, "membership approved on A, B answers {r:?}");

    // Module toggle: folders switched off on client A.
    cached(&b, "admin-a", "client-a", "billing:view", true).await;
    a.accounts()
        .set_account_modules(pb::SetAccountModulesRequest {
            account_id: "client-a".into(),
            modules: vec!["folders".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    let r = ask(&b, "admin-a", "client-a", "billing:view").await;
    assert!(!r.allowed, "module switched off on A, B answers {r:?}");

    // Account suspension: the whole partner.
    cached(&b, "gerant", "partner", "users:view", true).await;
    a.accounts()
        .suspend_account(pb::SuspendAccountRequest { id: "partner".into(), ..Default::default() })
        .await
        .unwrap();
    let r = ask(&b, "gerant", "partner", "users:view").await;
    assert!(!r.allowed, "account suspended on A, B answers {r:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_invalidation_message_never_makes_an_answer_stale() {
    // No pub/sub at all: every invalidation message is lost.
    let Some((_db, a, b)) = two_servers(|c| c.pubsub = false).await else { return };
    build_world(&a).await;
    cached(&b, "conseiller", "client-a", "users:full", true).await;
    a.delegations()
        .delete_delegation(pb::DeleteDelegationRequest { id: "deleg-a".into(), ..Default::default() })
        .await
        .unwrap();
    let r = ask(&b, "conseiller", "client-a", "users:full").await;
    assert!(!r.allowed, "delegation removed on A without pub/sub, B answers {r:?}");
    cached(&b, "gerant", "partner", "users:view", true).await;
    a.accounts()
        .suspend_account(pb::SuspendAccountRequest { id: "partner".into(), ..Default::default() })
        .await
        .unwrap();
    let r = ask(&b, "gerant", "partner", "users:view").await;
    assert!(!r.allowed, "account suspended on A without pub/sub, B answers {r:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_write_returns_only_once_no_replica_can_answer_from_before_it() {
    // A wide fence window and no pub/sub: B answers cache hits without asking the store, and only
    // the commit wait of the write on A keeps B from serving the decision made before it.
    let window = Duration::from_millis(400);
    let Some((_db, a, b)) = two_servers(|c| {
        c.pubsub = false;
        c.fence_window_ms = 400;
    })
    .await
    else {
        return;
    };
    // Two client administrators of the bakery, so that the account may lose the first.
    worlds::load_world(&a, &worlds::fence()).await;
    cached(&b, "gerante", "boulangerie", "users:full", true).await;
    let started = std::time::Instant::now();
    a.memberships()
        .suspend_membership(pb::SuspendMembershipRequest { membership_id: "m-gerante".into(), ..Default::default() })
        .await
        .unwrap();
    assert!(started.elapsed() >= window, "the write returned before the fence window closed");
    let r = ask(&b, "gerante", "boulangerie", "users:full").await;
    assert!(!r.allowed, "membership suspended on A, B answers from before the write: {r:?}");
}

/// Role changes sent at once to A — on PostgreSQL the store makes those that queue together in one
/// transaction (its group commit) — each answer a revision of their own, and each is seen by the
/// next check on B, whose cache held the decision made before it.
#[tokio::test(flavor = "multi_thread")]
async fn role_changes_sent_at_once_to_one_server_are_each_seen_by_the_next_check_on_another() {
    let Some((_db, a, b)) = two_servers(|_| {}).await else { return };
    a.accounts().create_account(requests::account("reseau", "Réseau", "partner", "")).await.unwrap();
    a.accounts().create_account(requests::account("boulangerie", "Boulangerie", "customer", "reseau")).await.unwrap();
    create_user(&a, "gerante").await;
    add_member(&a, "m-gerante", "gerante", "boulangerie", "client_administrator").await;
    const N: usize = 12;
    for i in 0..N {
        let vendeur = format!("vendeur{i}");
        create_user(&a, &vendeur).await;
        add_member(&a, &format!("m-{vendeur}"), &vendeur, "boulangerie", "client_user").await;
        cached(&b, &vendeur, "boulangerie", "users:full", false).await;
    }
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..N {
        let mut memberships = a.memberships();
        let request = requests::membership_roles("", &format!("m-vendeur{i}"), &["client_administrator"]);
        calls.spawn(async move { memberships.set_membership_roles(request).await });
    }
    let mut revisions = std::collections::BTreeSet::new();
    while let Some(answer) = calls.join_next().await {
        revisions.insert(answer.unwrap().unwrap().into_inner().revision);
    }
    assert_eq!(revisions.len(), N, "each change answers a revision of its own: {revisions:?}");
    for i in 0..N {
        let r = ask(&b, &format!("vendeur{i}"), "boulangerie", "users:full").await;
        assert!(r.allowed, "vendeur{i} made an administrator on A, B answers from before the write: {r:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_write_in_one_tenant_leaves_another_tenants_decisions_cached() {
    let Some((_db, a, b)) = two_servers(|_| {}).await else { return };
    build_world(&a).await;
    cached(&b, "tech-affilie", "client-c", "offers:full", true).await;
    cached(&b, "admin-a", "client-a", "users:full", true).await;
    // A write in the partner's tree…
    create_user(&a, "nouveau").await;
    add_member(&a, "m-nouveau", "nouveau", "client-b", "client_user").await;
    // …leaves the affiliate's decision a hit, and the sibling customer's too (see the next test).
    let r = ask(&b, "tech-affilie", "client-c", "offers:full").await;
    assert!(r.allowed);
    assert_eq!(r.cache_tier, LOCAL, "another tenant's cached decision was dropped: {r:?}");
    let r = ask(&b, "admin-a", "client-a", "users:full").await;
    assert!(r.allowed);
    assert_eq!(r.cache_tier, LOCAL, "a sibling customer's cached decision was dropped: {r:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_edit_of_one_member_leaves_the_siblings_and_the_partners_decisions_cached_and_an_ancestors_change_reaches_every_descendant()
 {
    let Some((_db, a, b)) = two_servers(|_| {}).await else { return };
    build_world(&a).await;
    let m = add_member(&a, "m-extra", "factu", "client-b", "client_user").await;
    // Decisions of the partner, of both customers, through a delegation, on a folder, and of
    // the member about to be edited.
    let warm = [
        ("gerant", "partner", "users:full", true),
        ("factu", "partner", "billing:view", true),
        ("admin-a", "client-a", "users:full", true),
        ("conseiller", "client-a", "users:full", true),
        ("employe-a", "client-a", "folders:view", true),
        ("factu", "client-b", "users:full", false),
    ];
    for (subject, account, permission, allowed) in warm {
        cached(&b, subject, account, permission, allowed).await;
    }
    // An administrator of client-b edits one member of client-b: only that member's decisions are
    // evaluated again — in client-b and wherever else the same user is checked.
    let r = a
        .memberships()
        .set_membership_roles(pb::SetMembershipRolesRequest {
            membership_id: m.id.clone(),
            roles: vec!["client_administrator".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(!r.into_inner().revision.is_empty());
    for (subject, account, permission, allowed) in warm {
        let r = ask(&b, subject, account, permission).await;
        if subject == "factu" {
            assert_eq!(r.cache_tier, NONE, "the edited member's decision was served from a cache: {r:?}");
            if account == "client-b" {
                assert!(r.allowed, "the edit is missing: {r:?}");
                continue;
            }
        } else {
            assert_eq!(r.cache_tier, LOCAL, "{subject} in {account} was dropped by an edit in client-b: {r:?}");
        }
        assert_eq!(r.allowed, allowed, "{subject} {permission} in {account}: {r:?}");
    }
    // The partner's modules change: every decision of the partner and of its descendants is
    // evaluated again; the affiliate's tree keeps its own.
    cached(&b, "tech-affilie", "client-c", "offers:full", true).await;
    for (subject, account, permission, _) in warm {
        cached(&b, subject, account, permission, ask(&b, subject, account, permission).await.allowed).await;
    }
    a.accounts()
        .set_account_modules(pb::SetAccountModulesRequest {
            account_id: "partner".into(),
            modules: vec!["billing".into(), "offers".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    for (subject, account, permission, _) in warm {
        let r = ask(&b, subject, account, permission).await;
        assert_eq!(
            r.cache_tier, NONE,
            "{subject} in {account}, below the changed partner, was served from a cache: {r:?}"
        );
    }
    let r = ask(&b, "tech-affilie", "client-c", "offers:full").await;
    assert_eq!(r.cache_tier, LOCAL, "another tree's decision was dropped: {r:?}");
}

/// A redis-server of this test's own, on a fixed port in a temporary folder.
struct OwnRedis {
    child: Option<std::process::Child>,
    dir: Option<tempfile::TempDir>,
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl OwnRedis {
    fn start(port: u16, dir: tempfile::TempDir) -> Self {
        let child = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir.path())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("start redis-server");
        Self { child: Some(child), dir: Some(dir) }
    }

    async fn wait_ready(port: u16) {
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("redis-server did not start on port {port}");
    }

    fn kill(mut self) -> tempfile::TempDir {
        let mut c = self.child.take().unwrap();
        c.kill().unwrap();
        c.wait().unwrap();
        self.dir.take().unwrap()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn checks_stay_correct_while_redis_is_down_and_hits_resume_when_it_returns() {
    if std::process::Command::new("redis-server").arg("--version").output().is_err() {
        skip("Redis restart test", "redis-server is not installed");
        return;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let redis = OwnRedis::start(port, tempfile::tempdir().unwrap());
    OwnRedis::wait_ready(port).await;
    let db = TestDatabase::new(Backend::Sqlite).await.unwrap();
    let url = format!("redis://127.0.0.1:{port}");
    // No in-process tier: every hit comes from Redis.
    let mut config = Config { redis_url: Some(Secret::new(url)), ..test_config(&db.url) };
    config.cache.in_process_capacity = 0;
    config.cache.redis_timeout_ms = 200;
    let s = spawn_app(config).await;
    build_world(&s).await;
    ask(&s, "conseiller", "client-a", "users:full").await;
    let r = ask(&s, "conseiller", "client-a", "users:full").await;
    assert_eq!((r.allowed, r.cache_tier), (true, SHARED));

    let dir = redis.kill();
    let r = ask(&s, "conseiller", "client-a", "users:full").await;
    assert_eq!((r.allowed, r.cache_tier), (true, NONE));
    s.delegations()
        .delete_delegation(pb::DeleteDelegationRequest { id: "deleg-a".into(), ..Default::default() })
        .await
        .unwrap();
    let r = ask(&s, "conseiller", "client-a", "users:full").await;
    assert_eq!((r.allowed, r.cache_tier), (false, NONE));
    let r = ask(&s, "admin-a", "client-a", "users:full").await;
    assert_eq!((r.allowed, r.cache_tier), (true, NONE));

    let _redis = OwnRedis::start(port, dir);
    OwnRedis::wait_ready(port).await;
    let mut resumed = None;
    for _ in 0..50 {
        let r = ask(&s, "admin-a", "client-a", "users:full").await;
        assert!(r.allowed);
        if r.cache_tier == SHARED {
            resumed = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(resumed.is_some(), "Redis hits did not resume after Redis came back");
    let r = ask(&s, "conseiller", "client-a", "users:full").await;
    assert!(!r.allowed);
}

fn item(subject: &str, account: &str, permission: &str) -> pb::CheckAccessBatchItem {
    requests::batch_item(subject, account, permission)
}

async fn batch(s: &TestApp, consistency: Option<pb::consistency::Requirement>) -> Vec<(bool, i32)> {
    let items = vec![
        item("admin-a", "client-a", "users:full"),
        item("tech-affilie", "client-c", "offers:full"),
        item("factu", "partner", "users:full"),
    ];
    s.access()
        .check_access_batch(pb::CheckAccessBatchRequest {
            items,
            consistency: consistency.map(|r| pb::Consistency { requirement: Some(r) }),
        })
        .await
        .unwrap()
        .into_inner()
        .results
        .iter()
        .map(|r| (r.allowed, r.cache_tier))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_serves_hits_from_the_cache_and_evaluates_the_misses() {
    // In-process tier only (no Redis URL).
    let (_db, s) = on_sqlite_with_the_world().await;
    assert_eq!(batch(&s, None).await, [(true, NONE), (true, NONE), (false, NONE)]);
    assert_eq!(batch(&s, None).await, [(true, LOCAL), (true, LOCAL), (false, LOCAL)]);
    // fully_consistent bypasses the caches.
    let full = Some(pb::consistency::Requirement::FullyConsistent(true));
    assert_eq!(batch(&s, full).await, [(true, NONE), (true, NONE), (false, NONE)]);
    // A change to factu's membership: factu's item is evaluated again; the others (a customer of the
    // same partner, the affiliate) stay hits.
    let token = s
        .memberships()
        .set_membership_roles(requests::membership_roles("", "m-factu", &["account_manager"]))
        .await
        .unwrap()
        .into_inner()
        .revision;
    let after = batch(&s, None).await;
    assert_eq!(after.iter().map(|r| r.1).collect::<Vec<_>>(), [LOCAL, LOCAL, NONE]);
    assert!(after[2].0, "the new role grants users:full: {after:?}");
    // at_least_as_fresh with the write's token: the entries older than the token are not used.
    let fresh = Some(pb::consistency::Requirement::AtLeastAsFresh(token));
    assert_eq!(batch(&s, fresh).await, [(true, NONE), (true, NONE), (true, LOCAL)]);
}
