//! Access that ends by itself (issue 18, item 3): a time-boxed delegation — the partner's Manage
//! until `T` — allows before `T` and denies from `T` on, on two replicas sharing the database (and
//! Redis when there is one), with the answer cached before `T` and the clock moved by the test
//! (never slept); the expiry's event appears once in ListEvents and in WatchEvents; the
//! `expiring_before` filters; and who may set or extend an expiry.

use std::time::Duration;

use guichet_proto::v1 as pb;
use guichet_server::clock::Clock as _;
use guichet_testkit::requests;
use guichet_tests::Clients;
use guichet_tests::{
    Backend, Config, ManualClock, Secret, TestApp, TestDatabase, both_backends, details, test_config, violated_fields,
};
use tonic::Code;

use crate::contract::{BACKOFFICE_TOKEN, SHOP_TOKEN, shop_and_backoffice, with_token};
use crate::scenario::{build_world, check, explain};
use crate::watch::read_until_type;

/// A protobuf time `ms` milliseconds after the epoch.
fn at(ms: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: i32::try_from(ms.rem_euclid(1000) * 1_000_000).unwrap(),
    }
}

const HOUR: i64 = 3_600_000;

fn set_delegation_expiry(actor: &str, id: &str, ms: Option<i64>) -> pb::SetDelegationExpiryRequest {
    pb::SetDelegationExpiryRequest {
        actor_id: actor.into(),
        id: id.into(),
        expire_time: ms.map(at),
        ..Default::default()
    }
}

fn set_membership_expiry(actor: &str, id: &str, ms: Option<i64>) -> pb::SetMembershipExpiryRequest {
    pb::SetMembershipExpiryRequest {
        actor_id: actor.into(),
        membership_id: id.into(),
        expire_time: ms.map(at),
        ..Default::default()
    }
}

/// Two replicas over one database (and one Redis, when `GUICHET_TEST_REDIS_URL` is set), reading
/// one manual clock.
async fn two_replicas(backend: Backend) -> Option<(TestDatabase, ManualClock, TestApp, TestApp)> {
    let db = TestDatabase::new(backend).await?;
    let mut config = test_config(&db.url);
    if let Ok(redis) = std::env::var("GUICHET_TEST_REDIS_URL")
        && !redis.is_empty()
    {
        config = Config { redis_url: Some(Secret::new(redis)), ..config };
        config.cache.redis_key_prefix = format!("guichet-expiry-{}:", uuid::Uuid::new_v4().simple());
    }
    let clock = ManualClock::new();
    let a = TestApp::builder(config.clone()).clock(clock.clone()).start().await;
    let b = TestApp::builder(config).clock(clock.clone()).start().await;
    Some((db, clock, a, b))
}

fn cached(r: &pb::CheckAccessResponse) -> bool {
    r.cache_tier == pb::CacheTier::Local as i32 || r.cache_tier == pb::CacheTier::Shared as i32
}

async fn a_time_boxed_delegation_ends_at_its_instant_on_every_replica(backend: Backend) {
    let Some((_db, clock, a, b)) = two_replicas(backend).await else { return };
    build_world(&a).await;
    let t = clock.now().as_millis() + HOUR;

    // The customer's administrator time-boxes the partner's Manage.
    let d = a
        .delegations()
        .set_delegation_expiry(set_delegation_expiry("admin-a", "deleg-a", Some(t)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(d.delegation.unwrap().expire_time, Some(at(t)));
    let after_write = d.revision;

    // Before T: allowed on both replicas, and from a cache on the second ask.
    for s in [&a, &b] {
        let first = check(s, "conseiller", "client-a", "users:full", "").await;
        assert!(first.allowed, "{first:?}");
        let second = check(s, "conseiller", "client-a", "users:full", "").await;
        assert!(second.allowed && cached(&second), "{second:?}");
    }
    let mut watch = b
        .events()
        .watch_events(pb::WatchEventsRequest {
            actor_id: String::new(),
            after_revision: after_write,
            account_id: "client-a".into(),
        })
        .await
        .unwrap()
        .into_inner();

    // The listed expiries: strictly before the instant given.
    let listed = |before: i64| pb::ListDelegationsRequest {
        from_account_id: "partner".into(),
        expiring_before: Some(at(before)),
        ..Default::default()
    };
    let found = a.delegations().list_delegations(listed(t)).await.unwrap().into_inner();
    assert!(found.delegations.is_empty(), "{found:?}");
    let found = a.delegations().list_delegations(listed(t + 1)).await.unwrap().into_inner();
    assert_eq!(found.delegations.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(), ["deleg-a"]);

    // One millisecond before T: still allowed (from the caches).
    clock.advance(Duration::from_millis(u64::try_from(HOUR - 1).unwrap()));
    for s in [&a, &b] {
        assert!(check(s, "conseiller", "client-a", "users:full", "").await.allowed);
    }
    // At T: denied on both replicas, though the allow was cached and nothing was written.
    clock.advance(Duration::from_millis(1));
    for s in [&a, &b] {
        let r = check(s, "conseiller", "client-a", "users:full", "").await;
        assert!(!r.allowed, "the delegation granted at its expiry: {r:?}");
    }
    // ExplainAccess names the expiry.
    let e = explain(&b, ["conseiller", "client-a", "users:full", ""]).await;
    assert!(e.paths.iter().any(|p| p.outcome == pb::PathOutcome::Expired as i32), "no path says expired: {e:?}");

    // The sweepers of both replicas record the expiry: one event, seen by Watch and ListEvents.
    read_until_type(&mut watch, "delegation.expired").await;
    let events = a
        .events()
        .list_events(pb::ListEventsRequest { account_id: "client-a".into(), page_size: 100, ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    let expired: Vec<_> = events.events.iter().filter(|e| e.r#type == "delegation.expired").collect();
    assert_eq!(expired.len(), 1, "{expired:?}");
    assert_eq!(expired[0].target_id, "deleg-a");

    // Renewed by the customer: it grants again.
    a.delegations().set_delegation_expiry(set_delegation_expiry("admin-a", "deleg-a", Some(t + HOUR))).await.unwrap();
    for s in [&a, &b] {
        assert!(check(s, "conseiller", "client-a", "users:full", "").await.allowed);
    }
}

async fn who_may_set_or_extend_an_expiry(backend: Backend) {
    let Some((_db, clock, a, _b)) = two_replicas(backend).await else { return };
    build_world(&a).await;
    let now = clock.now().as_millis();
    let t = now + HOUR;
    a.delegations().set_delegation_expiry(set_delegation_expiry("", "deleg-a", Some(t))).await.unwrap();

    // The delegated partner cannot extend its own delegation (it holds users:full in the customer
    // only through it), nor clear its expiry.
    for ms in [Some(t + HOUR), None] {
        let e = a.delegations().set_delegation_expiry(set_delegation_expiry("conseiller", "deleg-a", ms)).await;
        assert_eq!(e.unwrap_err().code(), Code::PermissionDenied, "{ms:?}");
    }
    // The customer's administrator may.
    a.delegations().set_delegation_expiry(set_delegation_expiry("admin-a", "deleg-a", Some(t + HOUR))).await.unwrap();

    // A restricted member cannot set an expiry, nor change one.
    let e = a.memberships().set_membership_expiry(set_membership_expiry("employe-a", "m-admin-a", Some(t))).await;
    assert_eq!(e.unwrap_err().code(), Code::PermissionDenied);
    // An administrator cannot extend their own access: a time-boxed admin cannot clear their expiry.
    a.memberships().set_membership_expiry(set_membership_expiry("", "m-admin-a", Some(t))).await.unwrap();
    let e = a.memberships().set_membership_expiry(set_membership_expiry("admin-a", "m-admin-a", None)).await;
    assert_eq!(e.unwrap_err().code(), Code::PermissionDenied);
    // …nor give access that outlives their own: a membership without expiry for the employee.
    let e = a
        .memberships()
        .set_membership_roles(pb::SetMembershipRolesRequest {
            actor_id: "admin-a".into(),
            membership_id: "m-employe-a".into(),
            roles: vec!["client_administrator".into()],
            ..Default::default()
        })
        .await;
    assert_eq!(e.unwrap_err().code(), Code::PermissionDenied);
    // Shortening is editing: allowed to whoever may edit the membership, themselves included.
    a.memberships().set_membership_expiry(set_membership_expiry("admin-a", "m-admin-a", Some(t - 1))).await.unwrap();
    let shown =
        a.memberships().set_membership_expiry(set_membership_expiry("admin-a", "m-employe-a", Some(t - 1))).await;
    assert_eq!(shown.unwrap().into_inner().membership.unwrap().expire_time, Some(at(t - 1)));

    // An expiry in the past, or more than ten years ahead: INVALID_ARGUMENT on expire_time.
    for ms in [now - 1, now, now + 11 * 366 * 24 * HOUR] {
        let e =
            a.memberships().set_membership_expiry(set_membership_expiry("", "m-admin-a", Some(ms))).await.unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{ms}");
        assert_eq!(violated_fields(&e), ["expire_time"]);
        let e = a
            .delegations()
            .create_delegation(pb::CreateDelegationRequest {
                from_account_id: "affilie".into(),
                to_account_id: "client-c".into(),
                role: "client_administrator".into(),
                expire_time: Some(at(ms)),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(violated_fields(&e), ["expire_time"], "{e:?}");
    }

    // ListMemberships: expiring before.
    let found = a
        .memberships()
        .list_memberships(pb::ListMembershipsRequest {
            account_id: "client-a".into(),
            expiring_before: Some(at(t)),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut ids: Vec<&str> = found.memberships.iter().map(|m| m.id.as_str()).collect();
    ids.sort_unstable();
    assert_eq!(ids, ["m-admin-a", "m-employe-a"]);
}

async fn get_membership(s: &TestApp, id: &str) -> pb::Membership {
    let request = pb::GetMembershipRequest { id: id.into(), ..Default::default() };
    s.memberships().get_membership(request).await.unwrap().into_inner().membership.unwrap()
}

/// Extending an expiry is granting the membership to its user for longer: a direct membership of
/// a partner's member in a customer is refused for partner reach when the customer's administrator
/// extends it, as reactivating it is, and nothing is written; shortening it is allowed.
async fn extending_a_partner_members_direct_membership(backend: Backend) {
    let Some((_db, clock, a, _b)) = two_replicas(backend).await else { return };
    build_world(&a).await;
    let t = clock.now().as_millis() + HOUR;
    // The service gives gerant (account manager of the partner) a time-boxed direct membership.
    a.memberships()
        .create_membership(pb::CreateMembershipRequest {
            id: "m-gerant-a".into(),
            account_id: "client-a".into(),
            user_id: "gerant".into(),
            roles: vec!["client_user".into()],
            expire_time: Some(at(t)),
            ..Default::default()
        })
        .await
        .unwrap();
    let before = get_membership(&a, "m-gerant-a").await;
    let partner_reach = |e: tonic::Status| {
        assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
        assert_eq!(details(&e).error_info().map(|i| i.reason.clone()).as_deref(), Some("PARTNER_REACH"), "{e:?}");
    };
    for ms in [Some(t + HOUR), None] {
        let e = a.memberships().set_membership_expiry(set_membership_expiry("admin-a", "m-gerant-a", ms)).await;
        partner_reach(e.unwrap_err());
        assert_eq!(get_membership(&a, "m-gerant-a").await, before, "{ms:?}: nothing written");
    }
    // Reactivating it is refused alike.
    let suspend = pb::SuspendMembershipRequest { membership_id: "m-gerant-a".into(), ..Default::default() };
    a.memberships().suspend_membership(suspend).await.unwrap();
    let reactivate = pb::ReactivateMembershipRequest {
        actor_id: "admin-a".into(),
        membership_id: "m-gerant-a".into(),
        ..Default::default()
    };
    let e = a.memberships().reactivate_membership(reactivate).await;
    partner_reach(e.unwrap_err());
    // Shortening only takes access away: allowed.
    let shown =
        a.memberships().set_membership_expiry(set_membership_expiry("admin-a", "m-gerant-a", Some(t - 1))).await;
    assert_eq!(shown.unwrap().into_inner().membership.unwrap().expire_time, Some(at(t - 1)));
}

/// The three lookups at the clock's instant, in `client-a` of the scenario world: the users holding
/// `folders:view` on `dossier-a` and `users:full`; the accounts where `employe-a` holds
/// `folders:view` and `conseiller` `users:full`; the folders `employe-a` reaches.
async fn lookups(s: &TestApp) -> (Vec<String>, Vec<String>, Vec<String>, Vec<String>, Vec<String>) {
    let subjects = |permission: &str, resource: &str| pb::ListAuthorizedSubjectsRequest {
        page_size: 100,
        ..requests::authorized_subjects("client-a", permission, resource)
    };
    let accounts = |subject: &str, permission: &str| pb::ListAccessibleAccountsRequest {
        page_size: 100,
        ..requests::accessible_accounts(subject, permission)
    };
    let mut out = Vec::new();
    for request in [subjects("folders:view", "dossier-a"), subjects("users:full", "")] {
        let r = s.access().list_authorized_subjects(request).await.unwrap().into_inner();
        out.push(r.subjects.into_iter().map(|x| x.subject_id).collect::<Vec<_>>());
    }
    for request in [accounts("employe-a", "folders:view"), accounts("conseiller", "users:full")] {
        let r = s.access().list_accessible_accounts(request).await.unwrap().into_inner();
        out.push(r.accounts.into_iter().map(|x| x.account_id).collect());
    }
    let folders = pb::ListAccessibleResourcesRequest {
        subject_id: "employe-a".into(),
        account_id: "client-a".into(),
        permission: "folders:view".into(),
        page_size: 100,
        ..Default::default()
    };
    let r = s.access().list_accessible_resources(folders).await.unwrap().into_inner();
    out.push(r.resource_ids);
    let [a, b, c, d, e]: [Vec<String>; 5] = out.try_into().unwrap();
    (a, b, c, d, e)
}

/// A time-boxed membership (`employe-a`'s, restricted to `dossier-a`) and a time-boxed delegation
/// (the partner's Manage of `client-a`) leave the three lookups once the clock passes their expiry,
/// with nothing written in between: ListAuthorizedSubjects no longer lists their users,
/// ListAccessibleAccounts no longer lists `client-a` for them, ListAccessibleResources gives no
/// folder.
async fn the_lookups_drop_an_expired_grant(backend: Backend) {
    let Some(db) = TestDatabase::new(backend).await else { return };
    let clock = ManualClock::new();
    let s = TestApp::builder(test_config(&db.url)).clock(clock.clone()).start().await;
    build_world(&s).await;
    let t = clock.now().as_millis() + HOUR;
    s.memberships().set_membership_expiry(set_membership_expiry("", "m-employe-a", Some(t))).await.unwrap();
    s.delegations().set_delegation_expiry(set_delegation_expiry("", "deleg-a", Some(t))).await.unwrap();

    // One millisecond before: listed.
    clock.advance(Duration::from_millis(u64::try_from(HOUR - 1).unwrap()));
    let (on_folder, full, employe, conseiller, folders) = lookups(&s).await;
    assert!(on_folder.contains(&"employe-a".to_owned()), "{on_folder:?}");
    assert!(full.contains(&"conseiller".to_owned()) && full.contains(&"admin-a".to_owned()), "{full:?}");
    assert_eq!(employe, ["client-a"]);
    assert!(conseiller.contains(&"client-a".to_owned()), "{conseiller:?}");
    assert_eq!(folders, ["dossier-a"]);

    // At the expiry: gone from every lookup; the grants without expiry stay.
    clock.advance(Duration::from_millis(1));
    let (on_folder, full, employe, conseiller, folders) = lookups(&s).await;
    assert!(!on_folder.contains(&"employe-a".to_owned()), "{on_folder:?}");
    assert!(!full.contains(&"conseiller".to_owned()), "{full:?}");
    assert!(full.contains(&"admin-a".to_owned()), "{full:?}");
    assert!(employe.is_empty(), "{employe:?}");
    assert!(!conseiller.contains(&"client-a".to_owned()), "{conseiller:?}");
    assert!(folders.is_empty(), "{folders:?}");
}

async fn calling_services_without_the_admin_scope(backend: Backend) {
    let Some(db) = TestDatabase::new(backend).await else { return };
    let s = TestApp::builder(shop_and_backoffice(&db.url, false)).start().await;
    let t = s.clock.now().as_millis() + HOUR;
    for (token, code) in [(Some(SHOP_TOKEN), Code::PermissionDenied), (None, Code::Unauthenticated)] {
        let e = s
            .delegations()
            .set_delegation_expiry(with_token(set_delegation_expiry("", "deleg-a", Some(t)), token))
            .await
            .unwrap_err();
        assert_eq!(e.code(), code, "{token:?}: {e:?}");
        let e = s
            .memberships()
            .set_membership_expiry(with_token(set_membership_expiry("", "m-admin-a", Some(t)), token))
            .await
            .unwrap_err();
        assert_eq!(e.code(), code, "{token:?}: {e:?}");
    }
    // The back office reaches the handler (an unknown delegation).
    let e = s
        .delegations()
        .set_delegation_expiry(with_token(set_delegation_expiry("", "deleg-a", Some(t)), Some(BACKOFFICE_TOKEN)))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
}

both_backends! {
    a_time_boxed_delegation_ends_at_its_instant => a_time_boxed_delegation_ends_at_its_instant_on_every_replica,
    who_may_set_or_extend_an_expiry => who_may_set_or_extend_an_expiry,
    extending_a_partner_members_direct_membership => extending_a_partner_members_direct_membership,
    check_only_and_unauthenticated_callers => calling_services_without_the_admin_scope,
    the_lookups_drop_an_expired_grant => the_lookups_drop_an_expired_grant,
}
