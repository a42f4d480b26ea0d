//! The AuthZEN Authorization API 1.0 end to end: the server in-process (the binary for the
//! printed curl line and the span), real HTTP (a client written from
//! RFC 9112 in `guichet_tests`), SQLite and PostgreSQL, TLS, mTLS and bearer tokens. The
//! specification's MUSTs and the certification scenario's cases, on the demo world; the
//! conformance table of docs/authzen.md names these tests.

use std::net::SocketAddr;
use std::sync::Arc;

use guichet_proto::v1 as pb;
use guichet_testkit::requests;
use guichet_tests::Clients;
use guichet_tests::{
    Backend, Config, HttpAnswer, TestApp, TestDatabase, TestServer, both_backends, config_from_toml, http_exchange,
    http_plain, post_json, spawn_app, test_config,
};
use serde_json::{Value, json};

use crate::scenario::check;

const EVALUATION: &str = "/access/v1/evaluation";
const EVALUATIONS: &str = "/access/v1/evaluations";
const SEARCH_SUBJECT: &str = "/access/v1/search/subject";
const SEARCH_RESOURCE: &str = "/access/v1/search/resource";
const SEARCH_ACTION: &str = "/access/v1/search/action";

fn user(id: &str) -> Value {
    json!({ "type": "user", "id": id })
}
fn folder(id: &str) -> Value {
    json!({ "type": "folder", "id": id })
}
fn account(id: &str) -> Value {
    json!({ "type": "account", "id": id })
}
fn act(name: &str) -> Value {
    json!({ "name": name })
}

async fn start(backend: Backend, configure: impl FnOnce(&mut Config)) -> Option<(TestDatabase, TestApp)> {
    let db = TestDatabase::new(backend).await?;
    let mut config = Config { demo: true, ..test_config(&db.url) };
    configure(&mut config);
    let s = spawn_app(config).await;
    Some((db, s))
}

fn az(s: &TestApp) -> SocketAddr {
    s.authzen_addr.expect("the AuthZEN server is on")
}

async fn evaluate(s: &TestApp, body: Value) -> HttpAnswer {
    let a = post_json(az(s), EVALUATION, &body, &[]).await;
    assert_eq!(a.status, 200, "{body}: {}", a.body);
    assert_eq!(a.header("content-type"), Some("application/json"));
    a
}

async fn decision(s: &TestApp, subject: Value, action: Value, resource: Value) -> Value {
    evaluate(s, json!({ "subject": subject, "action": action, "resource": resource })).await.json()
}

fn level(l: i32) -> &'static str {
    match pb::Level::try_from(l) {
        Ok(pb::Level::View) => "view",
        Ok(pb::Level::Full) => "full",
        _ => "none",
    }
}

/// Every page of a search, walked with `page.limit`: the results in order, and the checks the
/// specification makes of pages (a non-empty token while there are more, "" on the last).
async fn walk(s: &TestApp, path: &str, request: Value, limit: u64) -> Vec<Value> {
    let mut all = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..100 {
        let mut body = request.clone();
        let page = match &token {
            None => json!({ "limit": limit }),
            Some(t) => json!({ "token": t }),
        };
        body.as_object_mut().unwrap().insert("page".into(), page);
        let a = post_json(az(s), path, &body, &[]).await;
        assert_eq!(a.status, 200, "{body}: {}", a.body);
        let v = a.json();
        let results = v["results"].as_array().unwrap().clone();
        assert!(results.len() as u64 <= limit, "{v}");
        assert_eq!(v["page"]["count"], results.len(), "{v}");
        all.extend(results);
        let next = v["page"]["next_token"].as_str().unwrap().to_owned();
        if next.is_empty() {
            return all;
        }
        token = Some(next);
    }
    panic!("more than 100 pages");
}

async fn conformance(backend: Backend) {
    let Some((_db, s)) = start(backend, |_| {}).await else { return };

    // --- Access Evaluation (spec §6; certification c-2) ---
    let d = decision(&s, user("marc"), act("read"), folder("bm-dossier-2025")).await;
    assert_eq!(d["decision"], true, "{d}");
    assert_eq!(d["context"]["reason_code"], "allowed");
    assert_eq!(d["context"]["effective_level"], "view");
    assert!(d["context"]["revision"].as_str().unwrap().starts_with('r'));
    assert!(["none", "local", "shared"].contains(&d["context"]["cache_tier"].as_str().unwrap()));
    assert_eq!(d["context"]["granted_by"]["type"], "direct");
    // Choosing the company does not grant its folders: a deny is a 200 with decision false.
    let d = decision(&s, user("marc"), act("read"), folder("bm-dossier-juridique")).await;
    assert_eq!(
        (d["decision"].clone(), d["context"]["reason_code"].clone()),
        (json!(false), json!("resource_not_granted"))
    );
    // `feature:level` works on accounts and on resources.
    let d = decision(&s, user("david"), act("users:full"), account("boulangerie-martin")).await;
    assert_eq!(d["decision"], true, "{d}");
    assert_eq!(d["context"]["granted_by"]["type"], "delegated");
    let d = decision(&s, user("david"), act("users:view"), account("fromagerie-dupont")).await;
    assert_eq!(d["context"]["reason_code"], "no_access_path");
    assert_eq!(decision(&s, user("marc"), act("folders:view"), folder("bm-dossier-2025")).await["decision"], true);
    // Unknown things are denies, not errors.
    for (subject, action, resource, reason) in [
        (user("nobody"), act("read"), folder("bm-dossier-2025"), "unknown_subject"),
        (json!({ "type": "group", "id": "marc" }), act("read"), folder("bm-dossier-2025"), "unknown_subject"),
        (user("marc"), act("can_dance"), folder("bm-dossier-2025"), "unknown_action"),
        (user("marc"), act("read"), account("boulangerie-martin"), "unknown_action"),
        (user("marc"), act("read"), folder("no-such-folder"), "unknown_resource"),
        (user("marc"), act("folders:view"), json!({ "type": "invoice", "id": "bm-dossier-2025" }), "unknown_resource"),
        (user("marc"), act("users:view"), account("no-such-account"), "unknown_account"),
        (user("marc"), act("nothing:view"), account("boulangerie-martin"), "unknown_feature"),
        (user("marc bernard/x"), act("read"), folder("bm-dossier-2025"), "unknown_subject"),
    ] {
        let d = decision(&s, subject.clone(), action.clone(), resource.clone()).await;
        assert_eq!(
            (d["decision"].clone(), d["context"]["reason_code"].clone()),
            (json!(false), json!(reason)),
            "{subject} {action} {resource}: {d}"
        );
    }
    // A resource's account may be given (it is checked as CheckAccess checks it).
    let mut given = folder("bm-dossier-2025");
    given["properties"] = json!({ "account_id": "hotel-lumiere" });
    let d = decision(&s, user("marc"), act("read"), given).await;
    assert_eq!(d["context"]["reason_code"], "resource_outside_account", "{d}");
    // Optional context, properties and unknown members change nothing (c-2-2-3, c-2-2-8, c-2-2-9).
    let d = evaluate(
        &s,
        json!({
            "subject": { "type": "user", "id": "marc", "properties": { "role": "admin", "department": "Sales" } },
            "action": { "name": "read", "properties": { "method": "GET" } },
            "resource": { "type": "folder", "id": "bm-dossier-juridique", "properties": { "status": "active" } },
            "context": { "time": "2025-06-27T18:03-07:00", "ip": "192.168.1.1" },
            "foo": "bar", "futureField": { "nested": true },
        }),
    )
    .await
    .json();
    assert_eq!(d["decision"], false, "properties never grant: {d}");
    // X-Request-ID is echoed (c-2-5-1); without one, nothing fails (c-2-5-2).
    let body = json!({ "subject": user("marc"), "action": act("read"), "resource": folder("bm-dossier-2025") });
    let a = post_json(az(&s), EVALUATION, &body, &[("X-Request-ID", "bfe9eb29-ab87-4ca3-be83-a1d5d8305716")]).await;
    assert_eq!(a.header("x-request-id"), Some("bfe9eb29-ab87-4ca3-be83-a1d5d8305716"));
    assert_eq!(post_json(az(&s), EVALUATION, &body, &[]).await.header("x-request-id"), None);
    // The same request gives the same decision (c-2-6).
    for _ in 0..3 {
        assert_eq!(post_json(az(&s), EVALUATION, &body, &[]).await.json()["decision"], true);
    }

    // --- 400: required members and their types (spec §11.1.1; c-2-4) ---
    let bad = [
        (json!({ "action": act("read"), "resource": folder("f") }), "subject: is required"),
        (json!({ "subject": user("marc"), "resource": folder("f") }), "action: is required"),
        (json!({ "subject": user("marc"), "action": act("read") }), "resource: is required"),
        (
            json!({ "subject": { "id": "marc" }, "action": act("read"), "resource": folder("f") }),
            "subject.type: is required",
        ),
        (
            json!({ "subject": { "type": "user" }, "action": act("read"), "resource": folder("f") }),
            "subject.id: is required",
        ),
        (json!({ "subject": user("marc"), "action": {}, "resource": folder("f") }), "action.name: is required"),
        (
            json!({ "subject": user("marc"), "action": act("read"), "resource": { "id": "f" } }),
            "resource.type: is required",
        ),
        (
            json!({ "subject": user("marc"), "action": act("read"), "resource": { "type": "folder" } }),
            "resource.id: is required",
        ),
        (json!({ "subject": "marc", "action": act("read"), "resource": folder("f") }), "subject: must be an object"),
        (
            json!({ "subject": user("marc"), "action": { "name": 123 }, "resource": folder("f") }),
            "action.name: must be a string",
        ),
        (
            json!({ "subject": user("marc"), "action": act("read"), "resource": folder("f"), "context": { "consistency": { "at_least_as_fresh": "r99999999" } } }),
            "newer than the store's latest",
        ),
    ];
    for (body, message) in bad {
        let a = post_json(az(&s), EVALUATION, &body, &[("X-Request-ID", "bad-1")]).await;
        assert_eq!(a.status, 400, "{body}: {}", a.body);
        assert_eq!(a.header("x-request-id"), Some("bad-1"), "echoed on errors too");
        let e = a.json();
        assert_eq!(e["error"]["status"], 400);
        assert!(e["error"]["message"].as_str().unwrap().contains(message), "{body}: {e}");
    }
    let addr = az(&s);
    let raw = |ct: &'static str, body: &'static str| async move {
        let headers: Vec<(&str, &str)> = if ct.is_empty() { vec![] } else { vec![("Content-Type", ct)] };
        http_plain(addr, "POST", EVALUATION, &headers, body.as_bytes()).await
    };
    let ok_body = r#"{"subject":{"type":"user","id":"marc"},"action":{"name":"read"},"resource":{"type":"folder","id":"bm-dossier-2025"}}"#;
    assert_eq!(raw("text/plain", ok_body).await.status, 400, "c-2-4-3: not application/json");
    assert_eq!(raw("", ok_body).await.status, 400, "no Content-Type");
    assert_eq!(raw("application/json; charset=utf-8", ok_body).await.status, 200, "a charset parameter is fine");
    assert_eq!(raw("application/json", "{\"subject\":").await.status, 400, "c-2-4-4: malformed JSON");
    assert_eq!(raw("application/json", "").await.status, 400, "c-2-4-5: empty body");
    assert_eq!(raw("application/json", "[1,2]").await.status, 400, "the top level must be an object");
    assert_eq!(http_plain(az(&s), "GET", EVALUATION, &[], b"").await.status, 405);
    let a = http_plain(az(&s), "POST", "/access/v2/evaluation", &[("Content-Type", "application/json")], b"{}").await;
    assert_eq!(a.status, 404);

    // --- Access Evaluations (spec §7; c-3) ---
    let eval = |body: Value| {
        let s = &s;
        async move {
            let a = post_json(az(s), EVALUATIONS, &body, &[]).await;
            assert_eq!(a.status, 200, "{body}: {}", a.body);
            a.json()
        }
    };
    let decisions = |v: &Value| -> Vec<bool> {
        assert!(v.get("decision").is_none(), "no top-level decision beside evaluations: {v}");
        v["evaluations"].as_array().unwrap().iter().map(|d| d["decision"].as_bool().unwrap()).collect()
    };
    // Defaults at the top, items overriding whole entities, order kept (c-3-2-*, c-3-3-*).
    let v = eval(json!({
        "subject": user("marc"),
        "action": act("read"),
        "context": { "time": "2024-05-31T15:22-07:00" },
        "evaluations": [
            { "resource": folder("bm-dossier-2025") },
            { "resource": folder("bm-dossier-juridique") },
            { "action": act("users:full"), "resource": account("boulangerie-martin") },
            { "subject": user("lucie"), "resource": folder("bm-dossier-juridique"), "context": { "source": "override" } },
            { "subject": user("david"), "action": act("write"), "resource": folder("bm-dossier-juridique") },
        ],
    }))
    .await;
    assert_eq!(decisions(&v), [true, false, false, true, true]);
    assert_eq!(v["evaluations"][1]["context"]["reason_code"], "resource_not_granted");
    // No defaults at all (c-3-2-5).
    let v = eval(json!({ "evaluations": [
        { "subject": user("marc"), "action": act("read"), "resource": folder("bm-dossier-2025") },
        { "subject": user("bruno"), "action": act("users:full"), "resource": account("nuage-partenaires") },
    ]}))
    .await;
    assert_eq!(decisions(&v), [true, false]);
    // Missing or empty evaluations: the single evaluation's answer (c-3-4-2, c-3-4-3).
    for evaluations in [None, Some(json!([]))] {
        let mut body = json!({ "subject": user("marc"), "action": act("read"), "resource": folder("bm-dossier-2025") });
        if let Some(e) = evaluations {
            body["evaluations"] = e;
        }
        let v = eval(body).await;
        assert_eq!(v["decision"], true, "{v}");
        assert!(v.get("evaluations").is_none());
    }
    let a = post_json(az(&s), EVALUATIONS, &json!({ "subject": user("marc"), "evaluations": [] }), &[]).await;
    assert_eq!(a.status, 400, "an empty batch is a single evaluation, which needs all three: {}", a.body);
    // An item missing a required entity is that item's error; the others are answered (c-3-4-1).
    let v = eval(json!({
        "subject": user("marc"),
        "action": act("read"),
        "options": { "evaluations_semantic": "execute_all" },
        "evaluations": [ { "resource": folder("bm-dossier-2025") }, {}, { "resource": { "type": "folder" } }, "x" ],
    }))
    .await;
    assert_eq!(decisions(&v), [true, false, false, false]);
    assert_eq!(
        v["evaluations"][1]["context"]["error"],
        json!({ "status": 400, "message": "evaluations[1].resource: is required" })
    );
    assert_eq!(v["evaluations"][2]["context"]["error"]["message"], "evaluations[2].resource.id: is required");
    assert_eq!(v["evaluations"][3]["context"]["error"]["message"], "evaluations[3]: must be an object");
    // The short-circuits: stop at the first deny (an error counts), or at the first permit.
    let three = |semantic: &str| {
        json!({
            "subject": user("marc"),
            "action": act("read"),
            "options": { "evaluations_semantic": semantic },
            "evaluations": [
                { "resource": folder("bm-dossier-2025") },
                { "resource": folder("bm-dossier-juridique") },
                { "resource": folder("bm-dossier-2025") },
            ],
        })
    };
    assert_eq!(decisions(&eval(three("execute_all")).await), [true, false, true]);
    assert_eq!(decisions(&eval(three("deny_on_first_deny")).await), [true, false]);
    assert_eq!(decisions(&eval(three("permit_on_first_permit")).await), [true]);
    let mut errs = three("deny_on_first_deny");
    errs["evaluations"][0] = json!({ "resource": { "type": "folder" } });
    assert_eq!(decisions(&eval(errs).await), [false], "an error stops deny_on_first_deny");
    let mut denies_first = three("permit_on_first_permit");
    denies_first["evaluations"][0] = json!({ "resource": folder("bm-dossier-juridique") });
    assert_eq!(decisions(&eval(denies_first).await), [false, false, true]);
    let mut bad_semantic = three("all_of_them");
    let a = post_json(az(&s), EVALUATIONS, &bad_semantic, &[]).await;
    assert_eq!(a.status, 400, "{}", a.body);
    bad_semantic["options"] = json!({});
    assert_eq!(decisions(&eval(bad_semantic).await), [true, false, true], "no semantic is execute_all");
    let a = post_json(az(&s), EVALUATIONS, &json!({ "subject": "marc", "evaluations": [{}] }), &[]).await;
    assert_eq!(a.status, 400, "a malformed default is the whole request's error");

    // --- Subject search (spec §8.4; c-4-2) ---
    let who = json!({ "subject": { "type": "user" }, "action": act("read"), "resource": folder("bm-dossier-2025") });
    let people = walk(&s, SEARCH_SUBJECT, who.clone(), 2).await;
    let ids: Vec<&str> = people.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert!(people.iter().all(|r| r["type"] == "user"));
    // Lucie (administrator), Marc (his folder), David (the delegation); not Odile (another customer).
    for expected in ["lucie", "marc", "david"] {
        assert!(ids.contains(&expected), "{expected} in {ids:?}");
    }
    assert!(!ids.contains(&"odile") && !ids.contains(&"bruno"), "{ids:?}");
    assert_eq!(walk(&s, SEARCH_SUBJECT, who.clone(), 1000).await, people, "one page or many, the same results");
    // Entities are written `type` first, as the specification writes them (some PEPs compare text).
    let raw = post_json(az(&s), SEARCH_SUBJECT, &who, &[]).await.body;
    assert!(
        raw.starts_with("{\"page\":{\"next_token\":") && raw.contains("\"results\":[{\"type\":\"user\",\"id\":"),
        "{raw}"
    );
    let mut with_id = who.clone();
    with_id["subject"]["id"] = json!("lucie");
    assert_eq!(walk(&s, SEARCH_SUBJECT, with_id, 1000).await, people, "c-4-2-3: subject.id is ignored");
    // Every result evaluates to true (spec §8.1).
    for p in &people {
        assert_eq!(decision(&s, p.clone(), act("read"), folder("bm-dossier-2025")).await["decision"], true, "{p}");
    }
    let juridique = walk(
        &s,
        SEARCH_SUBJECT,
        json!({ "subject": { "type": "user" }, "action": act("read"), "resource": folder("bm-dossier-juridique") }),
        50,
    )
    .await;
    assert!(!juridique.iter().any(|r| r["id"] == "marc"), "the restricted member is not listed: {juridique:?}");
    // Unknown types and identifiers: empty results, not errors (c-4-6).
    for body in [
        json!({ "subject": { "type": "spaceship" }, "action": act("read"), "resource": folder("bm-dossier-2025") }),
        json!({ "subject": { "type": "user" }, "action": act("read"), "resource": folder("nope") }),
        json!({ "subject": { "type": "user" }, "action": act("fly"), "resource": folder("bm-dossier-2025") }),
    ] {
        let v = post_json(az(&s), SEARCH_SUBJECT, &body, &[]).await.json();
        assert_eq!(v["results"], json!([]), "{body}: {v}");
        assert_eq!(v["page"]["next_token"], "");
    }

    // --- Resource search (spec §8.5; c-4-3) ---
    let karim = walk(
        &s,
        SEARCH_RESOURCE,
        json!({ "subject": user("karim"), "action": act("event_logs:view"), "resource": { "type": "account" } }),
        1,
    )
    .await;
    let ids: Vec<&str> = karim.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["cabinet-leclerc", "garage-moreau", "reseau-affilie"], "his account and its clients");
    let davids = walk(&s, SEARCH_RESOURCE, json!({ "subject": user("david"), "action": act("users:full"), "resource": { "type": "account", "id": "ignored" } }), 50).await;
    let ids: Vec<&str> = davids.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&"boulangerie-martin") && !ids.contains(&"fromagerie-dupont"), "the delegation only: {ids:?}");
    let marcs = walk(
        &s,
        SEARCH_RESOURCE,
        json!({ "subject": user("marc"), "action": act("read"), "resource": { "type": "folder" } }),
        1,
    )
    .await;
    assert_eq!(marcs, [folder("bm-dossier-2025")], "the restricted member reaches his folder only");
    let lucies = walk(
        &s,
        SEARCH_RESOURCE,
        json!({ "subject": user("lucie"), "action": act("write"), "resource": { "type": "folder" } }),
        1,
    )
    .await;
    assert_eq!(lucies, [folder("bm-dossier-2025"), folder("bm-dossier-juridique"), folder("bm-dossier-paie")]);
    // Levels per folder: Anne reads the 2025 folder and payroll, and writes payroll only.
    for (action, expected) in [
        ("read", vec![folder("bm-dossier-2025"), folder("bm-dossier-paie")]),
        ("write", vec![folder("bm-dossier-paie")]),
    ] {
        let annes = walk(
            &s,
            SEARCH_RESOURCE,
            json!({ "subject": user("anne"), "action": act(action), "resource": { "type": "folder" } }),
            1,
        )
        .await;
        assert_eq!(annes, expected, "{action}");
    }
    // Folders in two accounts: pages across accounts, whatever the page size, give them all.
    s.resources()
        .create_resource(requests::folder("", "np-dossier", "nuage-partenaires", "Dossier partenaire"))
        .await
        .unwrap();
    let claire = json!({ "subject": user("claire"), "action": act("read"), "resource": { "type": "folder" } });
    let all = walk(&s, SEARCH_RESOURCE, claire.clone(), 50).await;
    assert_eq!(
        all,
        [folder("bm-dossier-2025"), folder("bm-dossier-juridique"), folder("bm-dossier-paie"), folder("np-dossier")]
    );
    for limit in [1, 2, 3] {
        assert_eq!(walk(&s, SEARCH_RESOURCE, claire.clone(), limit).await, all, "pages of {limit}");
    }
    let mut in_account = json!({ "subject": user("david"), "action": act("read"), "resource": { "type": "folder", "properties": { "account_id": "boulangerie-martin" } } });
    assert_eq!(
        walk(&s, SEARCH_RESOURCE, in_account.clone(), 1).await.len(),
        3,
        "the delegated partner, in the account given"
    );
    in_account["resource"]["properties"]["account_id"] = json!("fromagerie-dupont");
    assert_eq!(walk(&s, SEARCH_RESOURCE, in_account, 1).await, Vec::<Value>::new());
    for (who, action, results) in [
        ("karim", "event_logs:view", &karim),
        ("david", "users:full", &davids),
        ("marc", "read", &marcs),
        ("lucie", "write", &lucies),
        ("claire", "read", &all),
    ] {
        for r in results {
            assert_eq!(decision(&s, user(who), act(action), r.clone()).await["decision"], true, "{who} {action} {r}");
        }
    }

    // --- Action search (spec §8.6; c-4-4) ---
    let actions =
        walk(&s, SEARCH_ACTION, json!({ "subject": user("marc"), "resource": folder("bm-dossier-2025") }), 3).await;
    let names: Vec<&str> = actions.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["read"], "the catalog's verbs for folders, those allowed; not write");
    let lucie =
        walk(&s, SEARCH_ACTION, json!({ "subject": user("lucie"), "resource": folder("bm-dossier-2025") }), 1).await;
    assert_eq!(lucie, [act("read"), act("write")]);
    // On an account, for which the catalog names no verb: every feature:level allowed.
    let davids =
        walk(&s, SEARCH_ACTION, json!({ "subject": user("david"), "resource": account("boulangerie-martin") }), 7)
            .await;
    let names: Vec<&str> = davids.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"users:full") && names.contains(&"folders:view"), "{names:?}");
    assert!(!names.contains(&"delegated_administration:full"), "the delegation's role does not hold it: {names:?}");
    for (who, target, results) in [
        ("marc", folder("bm-dossier-2025"), &actions),
        ("lucie", folder("bm-dossier-2025"), &lucie),
        ("david", account("boulangerie-martin"), &davids),
    ] {
        for a in results {
            assert_eq!(decision(&s, user(who), a.clone(), target.clone()).await["decision"], true, "{who} {a}");
        }
    }
    // No action for an unknown subject (c-4-6-1), nor on a folder Marc was not given.
    for (who, id, why) in [
        ("nonexistent-user", "bm-dossier-2025", "c-4-6-1"),
        ("marc", "bm-dossier-juridique", "nothing on a folder he was not given"),
    ] {
        let body = json!({ "subject": user(who), "resource": folder(id) });
        let v = post_json(az(&s), SEARCH_ACTION, &body, &[]).await.json();
        assert_eq!(v["results"], json!([]), "{why}: {v}");
    }

    // Search errors (c-4-7) and pages that change mid-way.
    for (path, body) in [
        (SEARCH_SUBJECT, json!({ "subject": { "type": "user" }, "resource": folder("bm-dossier-2025") })),
        (SEARCH_RESOURCE, json!({ "action": act("read"), "resource": { "type": "folder" } })),
        (SEARCH_ACTION, json!({ "subject": user("marc") })),
        (
            SEARCH_SUBJECT,
            json!({ "subject": { "type": "user" }, "action": act("read"), "resource": { "type": "folder" } }),
        ),
        (
            SEARCH_RESOURCE,
            json!({ "subject": { "type": "user" }, "action": act("read"), "resource": { "type": "folder" } }),
        ),
        (SEARCH_ACTION, json!({ "subject": { "type": "user" }, "resource": folder("bm-dossier-2025") })),
        (
            SEARCH_SUBJECT,
            json!({ "subject": { "type": "user" }, "action": act("read"), "resource": folder("bm-dossier-2025"), "page": { "limit": -1 } }),
        ),
    ] {
        let a = post_json(az(&s), path, &body, &[]).await;
        assert_eq!(a.status, 400, "{path} {body}: {}", a.body);
    }
    let mut first = who.clone();
    first["page"] = json!({ "limit": 1 });
    let token =
        post_json(az(&s), SEARCH_SUBJECT, &first, &[]).await.json()["page"]["next_token"].as_str().unwrap().to_owned();
    assert!(!token.is_empty());
    let mut changed = who.clone();
    changed["resource"] = folder("bm-dossier-juridique");
    changed["page"] = json!({ "token": token });
    let a = post_json(az(&s), SEARCH_SUBJECT, &changed, &[]).await;
    assert_eq!(a.status, 400, "a token with other entities: {}", a.body);
    assert!(a.body.contains("page.token"), "{}", a.body);

    // --- The same answers as CheckAccess, for the same questions ---
    let questions = [
        ("marc", "boulangerie-martin", "folders:view", "bm-dossier-2025"),
        ("marc", "boulangerie-martin", "folders:view", "bm-dossier-juridique"),
        ("david", "boulangerie-martin", "users:full", ""),
        ("david", "fromagerie-dupont", "users:view", ""),
        ("bruno", "nuage-partenaires", "users:full", ""),
        ("karim", "garage-moreau", "offers:full", ""),
        ("paul", "cabinet-leclerc", "voip_911:full", ""),
        ("inconnu", "boulangerie-martin", "users:view", ""),
        ("lucie", "boulangerie-martin", "folders:full", "bm-dossier-juridique"),
    ];
    for (subject, acc, permission, resource) in questions {
        let target = if resource.is_empty() { account(acc) } else { folder(resource) };
        let d = decision(&s, user(subject), act(permission), target).await;
        let c = check(&s, subject, acc, permission, resource).await;
        let q = format!("{subject} {acc} {permission} {resource}");
        assert_eq!(d["decision"], c.allowed, "{q}");
        assert_eq!(d["context"]["reason_code"], c.reason_code.as_str(), "{q}");
        assert_eq!(d["context"]["reason"], c.reason.as_str(), "{q}");
        assert_eq!(d["context"]["effective_level"], level(c.effective_level), "{q}");
        assert_eq!(d["context"]["required_level"], level(c.required_level), "{q}");
        assert_eq!(d["context"]["revision"], c.revision.as_str(), "{q}");
    }

    // --- Consistency: the revision a write returns, as a context member ---
    let m = s
        .memberships()
        .suspend_membership(pb::SuspendMembershipRequest { membership_id: "m-marc".into(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    let fresh = json!({ "consistency": { "at_least_as_fresh": m.revision } });
    let d = evaluate(&s, json!({ "subject": user("marc"), "action": act("read"), "resource": folder("bm-dossier-2025"), "context": fresh })).await.json();
    assert_eq!(d["decision"], false, "never stale after a write: {d}");
    assert!(d["context"]["revision"].as_str().unwrap() >= m.revision.as_str());
    let d = evaluate(&s, json!({ "subject": user("marc"), "action": act("read"), "resource": folder("bm-dossier-2025"), "context": { "consistency": { "fully_consistent": true } } })).await.json();
    assert_eq!((d["decision"].clone(), d["context"]["cache_tier"].clone()), (json!(false), json!("none")), "{d}");

    // --- Metrics, bounded labels ---
    let (code, metrics) = s.admin_get("/metrics").await;
    assert_eq!(code, 200);
    assert!(metrics.contains("guichet_authzen_requests_total{endpoint=\"evaluation\",status=\"200\"}"), "{metrics}");
    assert!(metrics.contains("guichet_authzen_requests_total{endpoint=\"unknown\",status=\"404\"}"));
    assert!(
        metrics.contains("guichet_authzen_request_duration_seconds_count{endpoint=\"search_subject\",status=\"200\"}")
    );
    assert!(!metrics.contains("v2"), "no label from a request path");
}

both_backends!(the_specification => conformance);

/// The discovery document: from `[authzen] public_url`, never from the Host header (spec §10).
#[tokio::test(flavor = "multi_thread")]
async fn the_metadata_comes_from_the_configuration() {
    let pdp = "https://pdp.example.test:8443";
    let Some((_db, s)) = start(Backend::Sqlite, |c| {
        c.authzen.public_url = Some(pdp.to_owned());
        c.limits.max_message_bytes = 2048;
        c.authzen.idle_timeout_secs = 1;
    })
    .await
    else {
        return;
    };
    // A client that starts a request and sends nothing more is cut off after the idle timeout.
    {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut slow = tokio::net::TcpStream::connect(az(&s)).await.unwrap();
        slow.write_all(b"POST /access/v1/evaluation HTTP/1.1\r\nHost: x\r\n").await.unwrap();
        let mut rest = Vec::new();
        let closed = tokio::time::timeout(std::time::Duration::from_secs(30), slow.read_to_end(&mut rest)).await;
        assert!(closed.is_ok(), "the idle connection was not closed");
    }
    // A body above limits.max_message_bytes is refused before it is parsed (spec §12.7).
    let big = json!({ "subject": user("marc"), "action": act("read"), "resource": folder("bm-dossier-2025"), "pad": "x".repeat(4096) });
    let a = post_json(az(&s), EVALUATION, &big, &[]).await;
    assert_eq!(a.status, 413, "{}", a.body);
    assert_eq!(
        post_json(
            az(&s),
            EVALUATION,
            &json!({ "subject": user("marc"), "action": act("read"), "resource": folder("bm-dossier-2025") }),
            &[]
        )
        .await
        .status,
        200
    );
    let stream = tokio::net::TcpStream::connect(az(&s)).await.unwrap();
    let a = http_exchange(stream, "evil.example.com", "GET", "/.well-known/authzen-configuration", &[], b"").await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.header("content-type"), Some("application/json"));
    assert_eq!(
        a.json(),
        json!({
            "policy_decision_point": pdp,
            "access_evaluation_endpoint": format!("{pdp}/access/v1/evaluation"),
            "access_evaluations_endpoint": format!("{pdp}/access/v1/evaluations"),
            "search_subject_endpoint": format!("{pdp}/access/v1/search/subject"),
            "search_resource_endpoint": format!("{pdp}/access/v1/search/resource"),
            "search_action_endpoint": format!("{pdp}/access/v1/search/action"),
            "access_request_endpoint": format!("{pdp}/access/v1/requests"),
            "capabilities": ["urn:openid:authzen:capability:access-request"],
        })
    );
    assert_eq!(http_plain(az(&s), "POST", "/.well-known/authzen-configuration", &[], b"").await.status, 405);
    // Without a public URL on loopback, the bound address.
    let Some((_db2, s2)) = start(Backend::Sqlite, |_| {}).await else { return };
    let v = http_plain(az(&s2), "GET", "/.well-known/authzen-configuration", &[("Host", "evil.example.com")], b"")
        .await
        .json();
    assert_eq!(v["policy_decision_point"], format!("http://{}", az(&s2)));
}

/// `make run` prints a curl line after `guichet listening`; pasted, it asks the demo world.
#[tokio::test(flavor = "multi_thread")]
async fn the_printed_curl_line_answers() {
    use tokio::io::AsyncBufReadExt;
    let db = TestDatabase::new(Backend::Sqlite).await.unwrap();
    let mut child = tokio::process::Command::new(guichet_tests::guichet_bin())
        .args(["serve", "--demo", "--listen", "127.0.0.1:0", "--database-url", &db.url])
        .env("GUICHET__ADMIN__LISTEN", "127.0.0.1:0")
        .env("GUICHET__AUTHZEN__LISTEN", "127.0.0.1:0")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen_listening = false;
    let mut curl = None;
    while let Ok(Some(line)) =
        tokio::time::timeout(std::time::Duration::from_secs(60), lines.next_line()).await.unwrap()
    {
        if line.starts_with("guichet listening on ") {
            seen_listening = true;
        } else if seen_listening && line.starts_with("curl ") {
            curl = Some(line);
            break;
        }
    }
    let curl = curl.expect("a curl line after `guichet listening`");
    let out = std::process::Command::new("sh").args(["-c", &curl]).output().unwrap();
    assert!(out.status.success(), "{curl}: {}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["decision"], true, "{v}");
    let _ = child.kill().await;
}

/// Runs every `curl` line of the README's AuthZEN section against a demo server.
#[tokio::test(flavor = "multi_thread")]
async fn readme_curl_examples_run_verbatim() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let section = readme
        .split("<!-- authzen-examples:start -->")
        .nth(1)
        .and_then(|s| s.split("<!-- authzen-examples:end -->").next())
        .unwrap();
    let commands: Vec<&str> = section.lines().filter(|l| l.starts_with("curl ")).collect();
    assert!(commands.len() >= 4, "the README shows the examples");
    let Some((_db, s)) = start(Backend::Sqlite, |_| {}).await else { return };
    for command in commands {
        let line = command.replace("localhost:8181", &az(&s).to_string());
        let out = std::process::Command::new("sh").args(["-c", &line]).output().unwrap();
        assert!(out.status.success(), "{command}\n{}", String::from_utf8_lossy(&out.stderr));
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{command}: {e}"));
        assert!(v.get("error").is_none(), "{command}: {v}");
    }
}

// ---------------------------------------------------------------------------------------------
// TLS, mTLS and bearer tokens: the gRPC port's callers and scopes

const GATEWAY_TOKEN: &str = "gateway-token-5b7f0e";
const PORTAL_TOKEN: &str = "portal-token-ad13c9";

/// A server on `backend` with TLS (mTLS when `client_ca` is given) and three services: `gateway`
/// (`check`, a token and a SPIFFE id), `portal` (`admin` only, a token).
async fn secure(
    backend: Backend,
    ca: &crate::tls::Ca,
    client_ca: Option<&crate::tls::Ca>,
) -> Option<(TestDatabase, TestApp, tempfile::TempDir)> {
    let db = TestDatabase::new(backend).await?;
    let dir = tempfile::tempdir().unwrap();
    let server = ca.server();
    std::fs::write(dir.path().join("server.pem"), &server.cert).unwrap();
    std::fs::write(dir.path().join("server.key"), &server.key).unwrap();
    let mut config = format!(
        "[tls]\ncert_file = {:?}\nkey_file = {:?}\n",
        dir.path().join("server.pem"),
        dir.path().join("server.key")
    );
    if let Some(c) = client_ca {
        std::fs::write(dir.path().join("client-ca.pem"), &c.pem).unwrap();
        config.push_str(&format!("client_ca_file = {:?}\n", dir.path().join("client-ca.pem")));
    }
    config.push_str(&crate::contract::services_toml(&[
        ("gateway", &["check"], &["spiffe://cluster.local/ns/gw/sa/envoy"], GATEWAY_TOKEN),
        ("portal", &["admin"], &[], PORTAL_TOKEN),
    ]));
    let path = dir.path().join("guichet.toml");
    std::fs::write(&path, config).unwrap();
    let s =
        spawn_app(Config { demo: true, ..config_from_toml(&db.url, &std::fs::read_to_string(&path).unwrap()) }).await;
    Some((db, s, dir))
}

/// One request over rustls (ring), trusting `ca`, with a client certificate when given.
async fn https(
    addr: SocketAddr,
    ca: &crate::tls::Ca,
    client: Option<&crate::tls::Leaf>,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<HttpAnswer> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(rustls::pki_types::CertificateDer::from_pem_slice(ca.pem.as_bytes()).unwrap()).unwrap();
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let mut config = match client {
        Some(c) => builder
            .with_client_auth_cert(
                vec![rustls::pki_types::CertificateDer::from_pem_slice(c.cert.as_bytes()).unwrap()],
                rustls::pki_types::PrivateKeyDer::from_pem_slice(c.key.as_bytes()).unwrap(),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = connector.connect(name, tcp).await?;
    // TLS 1.3: a refused client certificate shows at the first read, not in the handshake.
    use tokio::io::AsyncWriteExt;
    tls.flush().await?;
    Ok(http_exchange(tls, &format!("localhost:{}", addr.port()), method, path, headers, body).await)
}

async fn tls_and_tokens(backend: Backend) {
    let ca = crate::tls::Ca::new("server CA");
    let Some((_db, s, _dir)) = secure(backend, &ca, None).await else { return };
    let addr = az(&s);
    let body =
        json!({ "subject": user("marc"), "action": act("read"), "resource": folder("bm-dossier-2025") }).to_string();
    let post = |auth: Option<&'static str>| {
        let body = body.clone();
        let ca = &ca;
        async move {
            let bearer = auth.map(|t| format!("Bearer {t}"));
            let mut headers = vec![("Content-Type", "application/json"), ("X-Request-ID", "tls-1")];
            if let Some(b) = &bearer {
                headers.push(("Authorization", b.as_str()));
            }
            https(addr, ca, None, "POST", EVALUATION, &headers, body.as_bytes()).await.unwrap()
        }
    };
    // No credentials, a wrong token: 401 with a Bearer challenge; a management-only service: 403.
    let a = post(None).await;
    assert_eq!(a.status, 401, "{}", a.body);
    assert_eq!(a.header("www-authenticate"), Some("Bearer realm=\"guichet\""));
    assert_eq!(a.header("x-request-id"), Some("tls-1"));
    assert!(a.json()["error"]["message"].as_str().unwrap().contains("no credentials"));
    let a = post(Some("not-a-token")).await;
    assert_eq!(a.status, 401);
    assert_eq!(a.header("www-authenticate"), Some("Bearer realm=\"guichet\", error=\"invalid_token\""));
    let a = post(Some(PORTAL_TOKEN)).await;
    assert_eq!(a.status, 403, "{}", a.body);
    assert!(a.json()["error"]["message"].as_str().unwrap().contains("service portal lacks the check scope"));
    // The check-scoped gateway evaluates and searches.
    let a = post(Some(GATEWAY_TOKEN)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let d = a.json();
    assert_eq!(d["decision"], true);
    let auth = format!("Bearer {GATEWAY_TOKEN}");
    let headers = [("Content-Type", "application/json"), ("Authorization", auth.as_str())];
    for (path, body) in [
        (
            SEARCH_SUBJECT,
            json!({ "subject": { "type": "user" }, "action": act("read"), "resource": folder("bm-dossier-2025") }),
        ),
        (SEARCH_RESOURCE, json!({ "subject": user("marc"), "action": act("read"), "resource": { "type": "folder" } })),
        (SEARCH_ACTION, json!({ "subject": user("marc"), "resource": folder("bm-dossier-2025") })),
        (
            EVALUATIONS,
            json!({ "subject": user("marc"), "action": act("read"), "evaluations": [{ "resource": folder("bm-dossier-2025") }] }),
        ),
    ] {
        let a = https(addr, &ca, None, "POST", path, &headers, body.to_string().as_bytes()).await.unwrap();
        assert_eq!(a.status, 200, "{path}: {}", a.body);
        assert!(!a.json()["results"].as_array().is_some_and(Vec::is_empty), "{path}: {}", a.body);
        let portal = format!("Bearer {PORTAL_TOKEN}");
        let a = https(
            addr,
            &ca,
            None,
            "POST",
            path,
            &[("Content-Type", "application/json"), ("Authorization", &portal)],
            body.to_string().as_bytes(),
        )
        .await
        .unwrap();
        assert_eq!(a.status, 403, "{path}");
    }
    // The discovery document needs no credentials, and says https.
    let a = https(addr, &ca, None, "GET", "/.well-known/authzen-configuration", &[], b"").await.unwrap();
    assert_eq!(a.status, 200);
    assert_eq!(a.json()["policy_decision_point"], format!("https://{addr}"));
    // The same decision as CheckAccess over TLS with the same token.
    let channel = tonic::transport::Channel::from_shared(format!("https://{}", s.addr))
        .unwrap()
        .tls_config(
            tonic::transport::ClientTlsConfig::new()
                .ca_certificate(tonic::transport::Certificate::from_pem(&ca.pem))
                .domain_name("localhost"),
        )
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut request = tonic::Request::new(pb::CheckAccessRequest {
        subject_id: "marc".into(),
        account_id: "boulangerie-martin".into(),
        permission: "folders:view".into(),
        resource_id: "bm-dossier-2025".into(),
        consistency: None,
    });
    request.metadata_mut().insert("authorization", auth.parse().unwrap());
    let c =
        pb::access_service_client::AccessServiceClient::new(channel).check_access(request).await.unwrap().into_inner();
    assert_eq!(
        (d["decision"].as_bool(), d["context"]["reason_code"].as_str()),
        (Some(c.allowed), Some(c.reason_code.as_str()))
    );
    assert_eq!(d["context"]["revision"], c.revision.as_str());
    // Plaintext is refused on a TLS port.
    let plain = tokio::time::timeout(
        std::time::Duration::from_secs(15),
        http_plain(addr, "GET", "/.well-known/authzen-configuration", &[], b""),
    )
    .await;
    assert!(plain.is_err() || plain.as_ref().is_ok_and(|a| a.status != 200), "plaintext must not be answered");
}

both_backends!(tls_and_bearer_tokens => tls_and_tokens);

/// mTLS: a client certificate of a configured service authenticates; one of no service is 401;
/// none fails the handshake.
#[tokio::test(flavor = "multi_thread")]
async fn mtls_identities_authenticate_as_on_the_grpc_port() {
    let ca = crate::tls::Ca::new("server CA");
    let clients = crate::tls::Ca::new("client CA");
    let Some((_db, s, _dir)) = secure(Backend::Sqlite, &ca, Some(&clients)).await else { return };
    let addr = az(&s);
    let body =
        json!({ "subject": user("marc"), "action": act("read"), "resource": folder("bm-dossier-2025") }).to_string();
    let headers = [("Content-Type", "application/json")];
    let gw = clients.client_uri("spiffe://cluster.local/ns/gw/sa/envoy", false);
    let a = https(addr, &ca, Some(&gw), "POST", EVALUATION, &headers, body.as_bytes()).await.unwrap();
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.json()["decision"], true);
    let stranger = clients.client_uri("spiffe://cluster.local/ns/x/sa/stranger", false);
    let a = https(addr, &ca, Some(&stranger), "POST", EVALUATION, &headers, body.as_bytes()).await.unwrap();
    assert_eq!(a.status, 401, "{}", a.body);
    assert!(a.body.contains("match no configured service"), "{}", a.body);
    let refused = https(addr, &ca, None, "POST", EVALUATION, &headers, body.as_bytes()).await;
    assert!(
        refused.is_err() || refused.as_ref().is_ok_and(|a| a.status == 0),
        "no certificate, no answer: {refused:?}"
    );
}

/// Each AuthZEN request is a server span continuing the caller's trace, with the decision on it and
/// the store's span under it (the same check path as CheckAccess), and one log line with its trace.
#[tokio::test(flavor = "multi_thread")]
async fn an_evaluation_is_a_server_span_in_the_callers_trace() {
    use crate::telemetry::{attribute, hex, start_collector};
    let (collector, collector_addr) = start_collector().await;
    let endpoint = format!("http://{collector_addr}");
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("RUST_LOG", "info"),
        ("GUICHET__LOG__FORMAT", "json"),
        ("GUICHET__LOG__CHECK_CALLS", "true"),
    ];
    let db = TestDatabase::new(Backend::Sqlite).await.unwrap();
    let s = TestServer::start_with_env(&db.url, &["--demo"], &env).await;
    let az = |s: &TestServer| s.authzen_addr.expect("the server printed its AuthZEN address");
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let parent = "00f067aa0ba902b7";
    let traceparent = format!("00-{trace_id}-{parent}-01");
    let body = json!({ "subject": user("marc"), "action": act("read"), "resource": folder("bm-dossier-2025") });
    let a = post_json(az(&s), EVALUATION, &body, &[("traceparent", traceparent.as_str())]).await;
    assert_eq!(a.json()["decision"], true);
    let revision = a.json()["context"]["revision"].as_str().unwrap().to_owned();
    let log = s.stderr();
    assert!(s.stop().await.success());
    let exported = collector.0.lock().unwrap().clone();
    let spans: Vec<_> = exported.iter().flat_map(|r| &r.scope_spans).flat_map(|s| &s.spans).collect();
    let in_trace: Vec<_> = spans.iter().copied().filter(|s| hex(&s.trace_id) == trace_id).collect();
    let span = in_trace
        .iter()
        .find(|s| s.name == "POST /access/v1/evaluation")
        .unwrap_or_else(|| panic!("no AuthZEN span: {:?}", spans.iter().map(|s| &s.name).collect::<Vec<_>>()));
    assert_eq!(hex(&span.parent_span_id), parent);
    assert_eq!(span.kind, 2, "SPAN_KIND_SERVER");
    assert_eq!(attribute(&span.attributes, "http.request.method").as_deref(), Some("POST"));
    assert_eq!(attribute(&span.attributes, "http.route").as_deref(), Some("/access/v1/evaluation"));
    assert_eq!(attribute(&span.attributes, "http.response.status_code").as_deref(), Some("200"));
    assert_eq!(attribute(&span.attributes, "decision.allowed").as_deref(), Some("true"));
    assert_eq!(attribute(&span.attributes, "revision"), Some(revision));
    assert!(in_trace.iter().any(|s| s.name == "store.load_facts"), "the store's span in the same trace");
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("\"target\":\"guichet::authzen\"") && l.contains("\"endpoint\":\"evaluation\""))
        .collect();
    assert_eq!(lines.len(), 1, "{log}");
    let line: Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!((line["fields"]["status"].as_u64(), line["fields"]["trace_id"].as_str()), (Some(200), Some(trace_id)));
}
