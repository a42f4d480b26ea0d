//! The change stream (`EventService/WatchEvents`) against the real binary: gap-free resume across a
//! restart and across two replicas sharing one database, the rule book's filter, bad cursors.
//!
//! The oracle is the store itself: the `events` table read directly with SQL, in (revision, id)
//! order, and CheckAccess for who may see an account's events.

use std::collections::{BTreeMap, BTreeSet};

use guichet_proto::v1 as pb;
use guichet_testkit::requests;
use guichet_tests::Clients;
use guichet_tests::{
    Backend, Config, TestApp, TestDatabase, both_backends, details, list_events, spawn_app, test_config,
    violated_fields,
};
use sea_orm::{ConnectionTrait, Database, Statement};
use tonic::Code;
use tonic::codec::Streaming;

use crate::contract::{BACKOFFICE_TOKEN, PORTAL_TOKEN, authenticated, with_token};

/// Every account of the demo world.
const DEMO_ACCOUNTS: [&str; 8] = [
    "nuage-partenaires",
    "alpes-revente",
    "boulangerie-martin",
    "fromagerie-dupont",
    "hotel-lumiere",
    "reseau-affilie",
    "garage-moreau",
    "cabinet-leclerc",
];

fn rev(token: &str) -> u64 {
    token.strip_prefix('r').and_then(|d| d.parse().ok()).unwrap_or_else(|| panic!("not a revision: {token}"))
}

fn request(actor: &str, after: &str, account: &str) -> pb::WatchEventsRequest {
    pb::WatchEventsRequest { actor_id: actor.into(), after_revision: after.into(), account_id: account.into() }
}

async fn open(s: &TestApp, r: pb::WatchEventsRequest) -> Streaming<pb::WatchEventsResponse> {
    s.events().watch_events(r).await.unwrap().into_inner()
}

/// What a stream delivered: (revision, event id, account) in the order received, and the last
/// cursor.
#[derive(Debug, Default)]
struct Seen {
    events: Vec<(u64, String, String)>,
    cursor: u64,
}

/// Reads `stream` until a response carries a revision at or past `until`. Checks on the way that
/// revisions strictly increase and that every event carries its response's revision.
async fn read_until(stream: &mut Streaming<pb::WatchEventsResponse>, seen: &mut Seen, until: u64) {
    while seen.cursor < until {
        let m = tokio::time::timeout(std::time::Duration::from_secs(30), stream.message())
            .await
            .expect("the stream delivers within 30 s")
            .expect("the stream is healthy")
            .expect("the stream goes on");
        let r = rev(&m.revision);
        // Only a progress mark may repeat the cursor (the first response of a stream).
        assert!(r > seen.cursor || (r == seen.cursor && m.events.is_empty()), "{m:?} after cursor {}", seen.cursor);
        for e in &m.events {
            assert_eq!(rev(&e.revision), r, "{e:?} in the response of {}", m.revision);
            seen.events.push((r, e.id.clone(), e.account_id.clone()));
        }
        seen.cursor = r;
    }
}

/// Reads `stream` until it has streamed an event of type `kind`.
pub(crate) async fn read_until_type(stream: &mut Streaming<pb::WatchEventsResponse>, kind: &str) {
    let mut kinds: Vec<String> = Vec::new();
    while !kinds.iter().any(|k| k == kind) {
        let m = tokio::time::timeout(std::time::Duration::from_secs(30), stream.message())
            .await
            .unwrap_or_else(|_| panic!("{kind} is streamed within 30 s"))
            .unwrap()
            .unwrap();
        kinds.extend(m.events.into_iter().map(|e| e.r#type));
    }
}

/// Takes in one more response read outside [`read_until`].
fn read_more(seen: &mut Seen, m: &pb::WatchEventsResponse) {
    let r = rev(&m.revision);
    assert!(r > seen.cursor || (r == seen.cursor && m.events.is_empty()), "{m:?} after cursor {}", seen.cursor);
    seen.events.extend(m.events.iter().map(|e| (r, e.id.clone(), e.account_id.clone())));
    seen.cursor = r;
}

/// The events of the store after `after`, in (revision, id) order, read with SQL.
async fn stored_after(url: &str, after: u64) -> Vec<(u64, String, String)> {
    let db = Database::connect(url).await.unwrap();
    let backend = db.get_database_backend();
    let rows = db
        .query_all_raw(Statement::from_string(
            backend,
            format!("SELECT revision, id, account_id FROM events WHERE revision > {after} ORDER BY revision, id"),
        ))
        .await
        .unwrap();
    db.close().await.unwrap();
    rows.into_iter()
        .map(|row| {
            let r: i64 = row.try_get("", "revision").unwrap();
            let id: String = row.try_get("", "id").unwrap();
            let account: Option<String> = row.try_get("", "account_id").unwrap();
            (u64::try_from(r).unwrap(), id, account.unwrap_or_default())
        })
        .collect()
}

async fn latest(url: &str) -> u64 {
    let db = Database::connect(url).await.unwrap();
    let backend = db.get_database_backend();
    let row = db
        .query_one_raw(Statement::from_string(backend, "SELECT value FROM guichet_revision WHERE id = 1"))
        .await
        .unwrap()
        .unwrap();
    db.close().await.unwrap();
    u64::try_from(row.try_get::<i64>("", "value").unwrap()).unwrap()
}

/// Renames a demo account on the service's own authority: one write, one event. Returns its
/// revision.
async fn rename(s: &TestApp, account: &str, name: &str) -> u64 {
    let r = s
        .accounts()
        .update_account(pb::UpdateAccountRequest { id: account.into(), name: name.into(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    rev(&r.revision)
}

async fn restart_resume(backend: Backend) {
    let Some(db) = TestDatabase::new(backend).await else {
        return;
    };
    let s = spawn_app(Config { demo: true, ..test_config(&db.url) }).await;

    // From the beginning: exactly the store's trail, in order, ending at the latest revision.
    let head = latest(&db.url).await;
    let mut all = Seen::default();
    let mut stream = open(&s, request("", "r0", "")).await;
    read_until(&mut stream, &mut all, head).await;
    assert_eq!(all.events, stored_after(&db.url, 0).await);
    assert!(all.events.len() > 20, "the demo writes its world: {}", all.events.len());

    // Live: W1 and W2 arrive; the client keeps only W1's cursor (it drops after W1).
    let w1 = rename(&s, "boulangerie-martin", "Boulangerie Martin (1)").await;
    let w2 = rename(&s, "fromagerie-dupont", "Fromagerie Dupont (2)").await;
    read_until(&mut stream, &mut all, w2).await;
    let cursor = w1;
    // While it is away: W3, then the server restarts, then W4 on the new process.
    let w3 = rename(&s, "cabinet-leclerc", "Cabinet Leclerc (3)").await;
    let url = s.database_url().to_owned();
    let status = s.stop().await;
    assert!(status.success(), "guichet exited with {status} with a stream open");
    // The open stream ended with UNAVAILABLE, naming a cursor to resume from (the server did not
    // wait for it to drain).
    let ended = loop {
        match stream.message().await {
            Ok(Some(m)) => read_more(&mut all, &m),
            Ok(None) => panic!("the stream ended without a status"),
            Err(e) => break e,
        }
    };
    assert_eq!(ended.code(), Code::Unavailable, "{ended:?}");
    assert!(ended.message().contains(&format!("resume with after_revision r{} ", all.cursor)), "{ended:?}");
    assert!(all.cursor == w2 || all.cursor == w3, "{} not in {w2}..={w3}", all.cursor);
    let s = spawn_app(test_config(&url)).await;
    let w4 = rename(&s, "garage-moreau", "Garage Moreau (4)").await;
    assert!(w1 < w2 && w2 < w3 && w3 < w4);

    // Resume after W1 on the new process: W2, W3, W4, each once, and nothing else.
    let mut resumed = Seen { events: Vec::new(), cursor };
    let mut stream = open(&s, request("", &format!("r{cursor}"), "")).await;
    read_until(&mut stream, &mut resumed, w4).await;
    assert_eq!(resumed.events, stored_after(&db.url, cursor).await);
    let revisions: Vec<u64> = resumed.events.iter().map(|e| e.0).collect();
    assert_eq!(revisions, [w2, w3, w4]);
    let ids: BTreeSet<&String> = resumed.events.iter().map(|e| &e.1).collect();
    assert_eq!(ids.len(), resumed.events.len(), "no duplicate");

    // An empty cursor starts at the latest revision: a progress mark, then only what follows.
    let mut now = open(&s, request("", "", "")).await;
    let first = now.message().await.unwrap().unwrap();
    assert_eq!((rev(&first.revision), first.events.len()), (w4, 0));
    let w5 = rename(&s, "garage-moreau", "Garage Moreau (5)").await;
    let mut seen = Seen { events: Vec::new(), cursor: w4 };
    read_until(&mut now, &mut seen, w5).await;
    assert_eq!(seen.events.iter().map(|e| e.0).collect::<Vec<_>>(), [w5]);
}

both_backends!(watch_resumes_without_gap_or_duplicate_across_a_restart => restart_resume);

async fn two_replicas(backend: Backend) {
    let Some(db) = TestDatabase::new(backend).await else {
        return;
    };
    let a = spawn_app(Config { demo: true, ..test_config(&db.url) }).await;
    let b = spawn_app(test_config(&db.url)).await;
    let start = latest(&db.url).await;

    // B streams from now while writes race through both replicas at once: revisions are
    // allocated in one order and may commit in any, and none may be skipped.
    let mut on_b = open(&b, request("", &format!("r{start}"), "")).await;
    let mut writers = Vec::new();
    for i in 0..24 {
        let target = if i % 2 == 0 { a.channel.clone() } else { b.channel.clone() };
        let account = DEMO_ACCOUNTS[i % DEMO_ACCOUNTS.len()];
        writers.push(tokio::spawn(async move {
            let mut accounts = pb::account_service_client::AccountServiceClient::new(target);
            let r = accounts
                .update_account(pb::UpdateAccountRequest {
                    id: account.into(),
                    name: format!("Renamed {i}"),
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner();
            rev(&r.revision)
        }));
    }
    let mut written = Vec::new();
    for w in writers {
        written.push(w.await.unwrap());
    }
    let last = *written.iter().max().unwrap();
    let mut seen = Seen { events: Vec::new(), cursor: start };
    read_until(&mut on_b, &mut seen, last).await;
    let stored = stored_after(&db.url, start).await;
    assert_eq!(seen.events, stored, "B streams every write, A's and its own, in revision order");
    let revisions: BTreeSet<u64> = seen.events.iter().map(|e| e.0).collect();
    assert_eq!(revisions, written.iter().copied().collect::<BTreeSet<u64>>());

    // Drop B's stream midway and resume on A: the rest, once.
    let cursor = seen.events[seen.events.len() / 2].0;
    let w = rename(&b, "hotel-lumiere", "Hotel Lumiere (after)").await;
    let mut on_a = open(&a, request("", &format!("r{cursor}"), "")).await;
    let mut rest = Seen { events: Vec::new(), cursor };
    read_until(&mut on_a, &mut rest, w).await;
    assert_eq!(rest.events, stored_after(&db.url, cursor).await);
    assert_eq!(rest.events.last().map(|e| e.0), Some(w));
}

both_backends!(watch_streams_the_writes_of_another_replica => two_replicas);

/// Whether `actor` holds `event_logs:view` in `account`, by CheckAccess.
async fn may_view_events(s: &TestApp, actor: &str, account: &str) -> bool {
    s.access().check_access(requests::check(actor, account, "event_logs:view", "")).await.unwrap().into_inner().allowed
}

async fn filter(backend: Backend) {
    let Some(db) = TestDatabase::new(backend).await else {
        return;
    };
    let s = spawn_app(Config { demo: true, ..test_config(&db.url) }).await;
    let head = latest(&db.url).await;
    let stored = stored_after(&db.url, 0).await;
    let accounts: BTreeSet<&str> = DEMO_ACCOUNTS.into_iter().collect();

    // Each actor is sent exactly the events of the accounts where CheckAccess gives it
    // event_logs:view: lucie (the bakery's administrator), david (the partner's delegated
    // administrator: the bakery through the delegation, not the cheese shop), marc (a client user:
    // nothing), karim (the affiliate's technical manager).
    let mut sent_to = BTreeMap::new();
    for actor in ["lucie", "david", "marc", "karim", "claire"] {
        let mut visible = BTreeSet::new();
        for account in &accounts {
            if may_view_events(&s, actor, account).await {
                visible.insert(account.to_string());
            }
        }
        let mut seen = Seen::default();
        let mut stream = open(&s, request(actor, "r0", "")).await;
        read_until(&mut stream, &mut seen, head).await;
        let expected: Vec<(u64, String, String)> = stored.iter().filter(|e| visible.contains(&e.2)).cloned().collect();
        assert_eq!(seen.events, expected, "{actor} sees the events of {visible:?}");
        sent_to.insert(actor, visible);
    }
    assert!(sent_to["lucie"].contains("boulangerie-martin"));
    assert!(!sent_to["lucie"].contains("fromagerie-dupont"), "{:?}", sent_to["lucie"]);
    assert!(sent_to["david"].contains("boulangerie-martin"), "{:?}", sent_to["david"]);
    assert!(!sent_to["david"].contains("fromagerie-dupont"), "no delegation, nothing: {:?}", sent_to["david"]);
    assert!(sent_to["marc"].is_empty(), "{:?}", sent_to["marc"]);

    // Live: a change of the cheese shop moves lucie's cursor but never reaches her; one of her
    // bakery does.
    let mut lucie = open(&s, request("lucie", "", "")).await;
    let mut seen = Seen::default();
    read_until(&mut lucie, &mut seen, head).await;
    let other = rename(&s, "fromagerie-dupont", "Fromagerie (secret)").await;
    read_until(&mut lucie, &mut seen, other).await;
    let hers = rename(&s, "boulangerie-martin", "Boulangerie (visible)").await;
    read_until(&mut lucie, &mut seen, hers).await;
    assert_eq!(seen.events.iter().map(|e| (e.0, e.2.as_str())).collect::<Vec<_>>(), [(hers, "boulangerie-martin")]);

    // An account filter is admitted like ListEvents: another tenant's account is unknown, an
    // account where the actor lacks event_logs:view is PERMISSION_DENIED naming it.
    let e = s.events().watch_events(request("lucie", "r0", "fromagerie-dupont")).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound, "{e:?}");
    let e = s.events().watch_events(request("marc", "r0", "boulangerie-martin")).await.unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    assert!(e.message().contains("event_logs:view"), "{e:?}");
    // An unknown actor, and a suspended one, are refused.
    let e = s.events().watch_events(request("inconnu", "r0", "")).await.unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    s.users().suspend_user(pb::SuspendUserRequest { id: "marc".into(), ..Default::default() }).await.unwrap();
    let e = s.events().watch_events(request("marc", "r0", "")).await.unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    assert!(e.message().contains("suspended"), "{e:?}");
    let hers = latest(&db.url).await;
    // With the account filter, david gets the bakery's events only.
    let mut seen = Seen::default();
    let mut stream = open(&s, request("david", "r0", "boulangerie-martin")).await;
    read_until(&mut stream, &mut seen, hers).await;
    let expected: Vec<_> = stored_after(&db.url, 0).await.into_iter().filter(|e| e.2 == "boulangerie-martin").collect();
    assert_eq!(seen.events, expected);
}

both_backends!(watch_sends_an_actor_only_the_accounts_it_may_see => filter);

#[tokio::test(flavor = "multi_thread")]
async fn watch_refuses_unauthenticated_callers_and_check_only_services() {
    let db = TestDatabase::new(Backend::Sqlite).await.unwrap();
    let s = authenticated(&db, true).await;
    let e = s.events().watch_events(with_token(request("", "r0", ""), None)).await.unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated, "{e:?}");
    let e = s.events().watch_events(with_token(request("", "r0", ""), Some(PORTAL_TOKEN))).await.unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    let e = s.events().watch_events(with_token(request("lucie", "r0", ""), Some(PORTAL_TOKEN))).await.unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    // The management service is served.
    let mut stream = s
        .events()
        .watch_events(with_token(request("lucie", "r0", ""), Some(BACKOFFICE_TOKEN)))
        .await
        .unwrap()
        .into_inner();
    let first = stream.message().await.unwrap().unwrap();
    assert!(first.events.iter().all(|e| e.account_id == "boulangerie-martin"), "{first:?}");
}

async fn bad_cursors(backend: Backend) {
    let Some(db) = TestDatabase::new(backend).await else {
        return;
    };
    let s = spawn_app(Config { demo: true, ..test_config(&db.url) }).await;
    let head = latest(&db.url).await;

    for (cursor, why) in
        [("12", "not a token"), ("r", "no digits"), ("r-1", "negative"), (&format!("r{}", head + 1000), "future")]
    {
        let e = s.events().watch_events(request("", cursor, "")).await.unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{why}: {e:?}");
        assert_eq!(violated_fields(&e), ["after_revision"], "{why}");
    }
    let e = s.events().watch_events(request("pas un id!", "r0", "")).await.unwrap_err();
    assert_eq!(violated_fields(&e), ["actor_id"]);
    let e = s.events().watch_events(request("", "r0", "pas un id!")).await.unwrap_err();
    assert_eq!(violated_fields(&e), ["account_id"]);

    // The operator removes old events (the documented retention): a cursor before what is left
    // is OUT_OF_RANGE, naming the oldest cursor accepted, which then works.
    let horizon = head / 2;
    let conn = Database::connect(db.url.as_str()).await.unwrap();
    conn.execute_unprepared(&format!("DELETE FROM events WHERE revision <= {horizon}")).await.unwrap();
    conn.close().await.unwrap();
    let e = s.events().watch_events(request("", "r0", "")).await.unwrap_err();
    assert_eq!(e.code(), Code::OutOfRange, "{e:?}");
    assert_eq!(violated_fields(&e), ["after_revision"]);
    let info = details(&e).error_info().cloned().expect("an ErrorInfo");
    assert_eq!(info.reason, "REVISION_TOO_OLD");
    let oldest = info.metadata["oldest_revision"].clone();
    assert_eq!(rev(&oldest), horizon);
    let e = s.events().watch_events(request("", &format!("r{}", horizon - 1), "")).await.unwrap_err();
    assert_eq!(e.code(), Code::OutOfRange, "{e:?}");
    let mut seen = Seen { events: Vec::new(), cursor: horizon };
    let mut stream = open(&s, request("", &oldest, "")).await;
    read_until(&mut stream, &mut seen, head).await;
    assert_eq!(seen.events, stored_after(&db.url, horizon).await);
    assert_eq!(seen.events.first().map(|e| e.0), Some(horizon + 1));
}

both_backends!(watch_refuses_bad_and_expired_cursors => bad_cursors);

/// Each streamed event names the ids it touched: a restricted membership its user and folders, a
/// delegation both accounts.
#[tokio::test(flavor = "multi_thread")]
async fn watch_events_name_the_ids_they_touch() {
    let db = TestDatabase::new(Backend::Sqlite).await.unwrap();
    let s = spawn_app(Config { demo: true, ..test_config(&db.url) }).await;
    let head = latest(&db.url).await;
    let mut stream = open(&s, request("", "r0", "")).await;
    let mut events = Vec::new();
    loop {
        let m = stream.message().await.unwrap().unwrap();
        let r = rev(&m.revision);
        events.extend(m.events);
        if r >= head {
            break;
        }
    }
    let touched =
        |target: &str| events.iter().find(|e| e.target_id == target).map(|e| e.touched_ids.clone()).unwrap_or_default();
    assert_eq!(touched("m-marc"), ["m-marc", "boulangerie-martin", "bm-dossier-2025", "marc"]);
    assert_eq!(touched("d-nuage-boulangerie"), ["d-nuage-boulangerie", "boulangerie-martin", "nuage-partenaires"]);
    assert_eq!(touched("marc"), ["marc"]);
    // ListEvents carries the same.
    let all = pb::ListEventsRequest { page_size: 1000, ..requests::events("", "boulangerie-martin", &[]) };
    let listed = list_events(&s, all).await.unwrap();
    let m = listed.iter().find(|e| e.target_id == "m-marc").unwrap();
    assert_eq!(m.touched_ids, ["m-marc", "boulangerie-martin", "bm-dossier-2025", "marc"]);
}
