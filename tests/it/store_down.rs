//! PostgreSQL down: checks answer at once (the store breaker), cached decisions are served marked
//! stale only when the operator allowed it and within the bound, and answers are fresh again once
//! the database is back. Each test stops a PostgreSQL cluster of its own, never the shared one.
//!
//! No wall-clock thresholds: the pool's acquire timeout is set to two minutes, so an answer that
//! arrives within one minute did not wait for it.

use std::time::Duration;

use guichet_proto::v1 as pb;
use guichet_testkit::requests;
use guichet_tests::{Clients, OwnPostgres, TestServer};
use tonic::Code;

use crate::scenario::build_world;

const STALE: i32 = pb::ConsistencyGiven::Stale as i32;
const AS_REQUESTED: i32 = pb::ConsistencyGiven::AsRequested as i32;

/// Far longer than any answer these tests accept: the pool's acquire timeout.
const POOL_TIMEOUT_MS: &str = "120000";
/// Half of it: an answer within this did not wait for the pool.
const NOT_THE_POOL: Duration = Duration::from_secs(60);

fn request(
    subject: &str,
    account: &str,
    permission: &str,
    consistency: Option<pb::consistency::Requirement>,
) -> pb::CheckAccessRequest {
    pb::CheckAccessRequest {
        consistency: consistency.map(|r| pb::Consistency { requirement: Some(r) }),
        ..requests::check(subject, account, permission, "")
    }
}

/// One check, which must be answered (OK or an error) before the pool's timeout.
async fn check(
    s: &TestServer,
    subject: &str,
    account: &str,
    permission: &str,
    consistency: Option<pb::consistency::Requirement>,
) -> Result<pb::CheckAccessResponse, tonic::Status> {
    let mut client = s.access();
    tokio::time::timeout(NOT_THE_POOL, client.check_access(request(subject, account, permission, consistency)))
        .await
        .unwrap_or_else(|_| panic!("{subject} {permission} in {account}: no answer before the pool's timeout"))
        .map(tonic::Response::into_inner)
}

async fn server(pg: &OwnPostgres, serve_stale_ms: &str) -> TestServer {
    TestServer::start_with_env(
        &pg.url(),
        &[],
        &[
            ("GUICHET__DATABASE_ACQUIRE_TIMEOUT_MS", POOL_TIMEOUT_MS),
            ("GUICHET__CACHE__SERVE_STALE_WHEN_STORE_DOWN_MS", serve_stale_ms),
        ],
    )
    .await
}

async fn health(s: &TestServer) -> i32 {
    let mut client = tonic_health::pb::health_client::HealthClient::new(s.channel.clone());
    client.check(tonic_health::pb::HealthCheckRequest { service: String::new() }).await.unwrap().into_inner().status
}

fn serving() -> i32 {
    tonic_health::pb::health_check_response::ServingStatus::Serving as i32
}

/// Warms the caches with one allowed and one denied decision; returns the allowed one.
async fn warm(s: &TestServer) -> pb::CheckAccessResponse {
    build_world(s).await;
    for _ in 0..2 {
        assert!(!check(s, "factu", "partner", "users:full", None).await.unwrap().allowed);
    }
    assert!(check(s, "conseiller", "client-a", "users:full", None).await.unwrap().allowed);
    check(s, "admin-a", "client-a", "users:full", None).await.unwrap();
    let r = check(s, "admin-a", "client-a", "users:full", None).await.unwrap();
    assert!(r.allowed && r.cache_tier == pb::CacheTier::Local as i32, "{r:?}");
    assert_eq!((r.consistency_given, r.staleness_ms), (AS_REQUESTED, 0));
    r
}

/// A server on its own PostgreSQL serving stale answers for `serve_stale_ms` ([`server`]), warmed
/// ([`warm`], whose last answer it returns), then its PostgreSQL stopped at once; `None` where no
/// PostgreSQL can be started.
async fn warmed_then_down(serve_stale_ms: &str) -> Option<(OwnPostgres, TestServer, pb::CheckAccessResponse)> {
    let mut pg = OwnPostgres::start().await?;
    let s = server(&pg, serve_stale_ms).await;
    let warmed = warm(&s).await;
    pg.stop_immediate().await;
    Some((pg, s, warmed))
}

/// Once the database is back, answers are fresh again: a write made after the restart (the
/// partner's delegation into client-a, deleted) is in the next check, which was cached before the
/// outage, and nothing is marked stale.
async fn fresh_after_restart(s: &TestServer, pg: &mut OwnPostgres) {
    pg.start_again().await;
    let mut answered = None;
    for _ in 0..600 {
        match check(s, "admin-a", "client-a", "users:full", None).await {
            Ok(r) if r.consistency_given == AS_REQUESTED => {
                answered = Some(r);
                break;
            }
            Ok(r) => assert_eq!(r.consistency_given, STALE, "{r:?}"),
            Err(e) => assert_eq!(e.code(), Code::Unavailable, "{e:?}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(answered.is_some_and(|r| r.allowed), "no fresh answer within a minute of the restart");
    s.delegations()
        .delete_delegation(pb::DeleteDelegationRequest { id: "deleg-a".into(), ..Default::default() })
        .await
        .unwrap();
    let r = check(s, "conseiller", "client-a", "users:full", None).await.unwrap();
    assert!(!r.allowed, "a write after the restart is missing: {r:?}");
    assert_eq!((r.consistency_given, r.staleness_ms), (AS_REQUESTED, 0));
    let (code, body) = s.admin_get("/readyz").await;
    assert_eq!((code, body.as_str()), (200, "ok\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn with_the_database_down_and_no_stale_bound_checks_answer_unavailable_without_waiting_for_the_pool() {
    let Some((mut pg, s, _)) = warmed_then_down("0").await else { return };
    // The probe opens the breaker (then every answer below is of this one outage).
    for _ in 0..600 {
        if s.admin_get("/readyz").await.0 == 503 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Cached or not, allowed or denied, every consistency: UNAVAILABLE, before the pool's timeout.
    for _ in 0..3 {
        for (subject, account, permission) in [
            ("admin-a", "client-a", "users:full"),
            ("factu", "partner", "users:full"),
            ("gerant", "partner", "billing:view"),
        ] {
            let e = check(&s, subject, account, permission, None).await.unwrap_err();
            assert_eq!(e.code(), Code::Unavailable, "{e:?}");
        }
    }
    let e = check(&s, "admin-a", "client-a", "users:full", Some(pb::consistency::Requirement::FullyConsistent(true)))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unavailable);
    let (code, body) = s.admin_get("/readyz").await;
    assert_eq!(code, 503, "{body}");
    assert!(body.starts_with("store unreachable"), "{body}");
    assert_eq!(health(&s).await, serving(), "the gRPC health must stay SERVING through a store outage");
    let (_, metrics) = s.admin_get("/metrics").await;
    assert!(metrics.contains("guichet_store_breaker_open 1"), "{metrics}");
    assert!(metrics.contains("guichet_stale_answers_total 0"), "{metrics}");
    // Ten UNAVAILABLE checks, one warning: with the RPC and the cause, once for the outage.
    let warned = |l: &str| {
        l.contains("WARN")
            && l.contains("answered UNAVAILABLE")
            && l.contains("guichet.v1.AccessService/CheckAccess\"")
            && l.contains("breaker open")
    };
    let (logged, log) = s.stderr_line(warned).await;
    assert!(logged, "{log}");
    assert_eq!(log.lines().filter(|l| warned(l)).count(), 1, "{log}");
    // AuthZEN the same: every evaluation a 503, one warning for the outage.
    let authzen = s.authzen_addr.expect("the AuthZEN listener");
    let question = serde_json::json!({
        "subject": { "type": "user", "id": "admin-a" },
        "action": { "name": "users:full" },
        "resource": { "type": "account", "id": "client-a" },
    });
    for _ in 0..5 {
        let answer = guichet_tests::post_json(authzen, "/access/v1/evaluation", &question, &[]).await;
        assert_eq!(answer.status, 503, "{}", answer.body);
    }
    let warned_http =
        |l: &str| l.contains("WARN") && l.contains("answered UNAVAILABLE") && l.contains("/access/v1/evaluation");
    let (logged, log) = s.stderr_line(warned_http).await;
    assert!(logged, "{log}");
    assert_eq!(log.lines().filter(|l| warned_http(l)).count(), 1, "{log}");
    fresh_after_restart(&s, &mut pg).await;
    let (_, metrics) = s.admin_get("/metrics").await;
    assert!(metrics.contains("guichet_store_breaker_open 0"), "{metrics}");
}

#[tokio::test(flavor = "multi_thread")]
async fn within_the_stale_bound_cached_decisions_are_served_marked_stale_and_nothing_else() {
    let Some((mut pg, s, warmed)) = warmed_then_down("60000").await else { return };
    // Cached decisions, allowed and denied: served, marked stale, from the tier that held them.
    for _ in 0..3 {
        let r = check(&s, "admin-a", "client-a", "users:full", None).await.unwrap();
        assert!(r.allowed);
        assert_eq!((r.consistency_given, r.cache_tier), (STALE, pb::CacheTier::Local as i32), "{r:?}");
        assert!(r.staleness_ms <= 60_000, "{r:?}");
        assert_eq!(r.revision, warmed.revision);
        let r = check(&s, "factu", "partner", "users:full", None).await.unwrap();
        assert!(!r.allowed);
        assert_eq!(r.consistency_given, STALE, "{r:?}");
    }
    // A token this replica had confirmed: served stale too.
    let token = pb::consistency::Requirement::AtLeastAsFresh(warmed.revision.clone());
    let r = check(&s, "admin-a", "client-a", "users:full", Some(token)).await.unwrap();
    assert_eq!((r.allowed, r.consistency_given), (true, STALE));
    // Not cached, fully consistent, or a token newer than what the replica confirmed: UNAVAILABLE.
    let e = check(&s, "gerant", "partner", "billing:view", None).await.unwrap_err();
    assert_eq!(e.code(), Code::Unavailable, "{e:?}");
    let e = check(&s, "admin-a", "client-a", "users:full", Some(pb::consistency::Requirement::FullyConsistent(true)))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unavailable, "{e:?}");
    let newer = format!("r{}", warmed.revision.trim_start_matches('r').parse::<u64>().unwrap() + 1_000);
    let e = check(&s, "admin-a", "client-a", "users:full", Some(pb::consistency::Requirement::AtLeastAsFresh(newer)))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unavailable, "{e:?}");
    // A batch with one uncached item is not half answered.
    let batch = s
        .access()
        .check_access_batch(pb::CheckAccessBatchRequest {
            items: vec![
                requests::batch_item("admin-a", "client-a", "users:full"),
                requests::batch_item("gerant", "partner", "billing:view"),
            ],
            consistency: None,
        })
        .await
        .unwrap_err();
    assert_eq!(batch.code(), Code::Unavailable);
    // The replica says it, counts it, logs it once, and stays SERVING and ready (within the bound).
    let (code, body) = s.admin_get("/readyz").await;
    assert_eq!(code, 200, "{body}");
    assert!(body.starts_with("store unreachable") && body.contains("stale"), "{body}");
    assert_eq!(health(&s).await, serving());
    let (_, metrics) = s.admin_get("/metrics").await;
    assert!(metrics.contains("guichet_stale_answers_total 7"), "{metrics}");
    let (logged, log) = s.stderr_line(|l| l.contains("serving cached decisions marked stale")).await;
    assert!(logged, "{log}");
    assert_eq!(log.matches("serving cached decisions marked stale").count(), 1, "{log}");
    fresh_after_restart(&s, &mut pg).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn past_the_stale_bound_cached_decisions_are_unavailable() {
    let Some((mut pg, s, _)) = warmed_then_down("1000").await else { return };
    // Wait until this replica's latest confirmation is older than the bound: from then on, never
    // a stale answer.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    for _ in 0..3 {
        let e = check(&s, "admin-a", "client-a", "users:full", None).await.unwrap_err();
        assert_eq!(e.code(), Code::Unavailable, "{e:?}");
    }
    let (code, body) = s.admin_get("/readyz").await;
    assert_eq!(code, 503, "{body}");
    fresh_after_restart(&s, &mut pg).await;
}
