//! The operator's path: grpcurl against the real server, through reflection.

use std::path::PathBuf;
use std::process::Command;

use guichet_tests::{Backend, Config, TestApp, TestDatabase, grpcurl, spawn_app, test_config};

fn run(bin: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(bin).args(args).output().expect("run grpcurl");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// grpcurl, and the demo world served on SQLite for it to call; `None` without grpcurl.
async fn grpcurl_and_the_demo() -> Option<(PathBuf, TestDatabase, TestApp)> {
    let bin = grpcurl()?;
    let db = TestDatabase::new(Backend::Sqlite).await.unwrap();
    let s = spawn_app(Config { demo: true, ..test_config(&db.url) }).await;
    Some((bin, db, s))
}

#[tokio::test(flavor = "multi_thread")]
async fn grpcurl_lists_describes_and_checks() {
    let Some((bin, _db, s)) = grpcurl_and_the_demo().await else { return };
    let addr = s.addr.to_string();

    let (ok, out, err) = run(&bin, &["-plaintext", &addr, "list"]);
    assert!(ok, "{err}");
    for service in [
        "guichet.v1.AccessService",
        "guichet.v1.AccountService",
        "guichet.v1.MembershipService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
    ] {
        assert!(out.lines().any(|l| l.trim() == service), "{service} missing from:\n{out}");
    }

    let (ok, out, err) = run(&bin, &["-plaintext", &addr, "describe", "guichet.v1.AccessService.CheckAccess"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("rpc CheckAccess ( .guichet.v1.CheckAccessRequest ) returns ( .guichet.v1.CheckAccessResponse )"),
        "{out}"
    );

    let (ok, out, err) = run(&bin, &["-plaintext", &addr, "grpc.health.v1.Health/Check"]);
    assert!(ok, "{err}");
    assert!(out.contains("SERVING"), "{out}");

    let body = r#"{"subject_id":"marc","account_id":"boulangerie-martin","permission":"folders:view","resource_id":"bm-dossier-2025"}"#;
    let (ok, out, err) = run(&bin, &["-plaintext", "-d", body, &addr, "guichet.v1.AccessService/CheckAccess"]);
    assert!(ok, "{err}");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["allowed"], true, "{out}");
    assert_eq!(json["reasonCode"], "allowed");

    // A bad request shows its field violation to the operator.
    let (ok, _out, err) =
        run(&bin, &["-plaintext", "-d", r#"{"subject_id":""}"#, &addr, "guichet.v1.AccessService/CheckAccess"]);
    assert!(!ok);
    assert!(err.contains("InvalidArgument") && err.contains("subject_id"), "{err}");
}

/// The `google.rpc` details of an error, as grpcurl prints them (`Details:` then one JSON object
/// per detail, each line prefixed by a tab).
fn printed_details(stderr: &str) -> Vec<serde_json::Value> {
    let Some((_, details)) = stderr.split_once("Details:") else { return Vec::new() };
    let mut out = Vec::new();
    let mut current = String::new();
    for line in details.lines() {
        let line = line.trim_start();
        // A detail starts with "1)", "2)", ... then a tab.
        let body = match line.split_once(")\t") {
            Some((n, rest)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
                if !current.trim().is_empty() {
                    out.push(serde_json::from_str(&current).unwrap_or(serde_json::Value::String(current.clone())));
                }
                current.clear();
                rest
            }
            _ => line,
        };
        current.push_str(body);
        current.push('\n');
    }
    if !current.trim().is_empty() {
        out.push(serde_json::from_str(&current).unwrap_or(serde_json::Value::String(current)));
    }
    out
}

/// grpcurl decodes every `google.rpc` detail through reflection: the README's bad request prints
/// its field violation, a missing record its ResourceInfo, a refused actor its ErrorInfo — never
/// "google.rpc.BadRequest is not recognized" and base64.
#[tokio::test(flavor = "multi_thread")]
async fn grpcurl_decodes_every_error_detail() {
    let Some((bin, _db, s)) = grpcurl_and_the_demo().await else { return };
    let addr = s.addr.to_string();

    // The README's example, verbatim.
    let body = r#"{"subject_id":"marc","account_id":"boulangerie-martin","permission":"folders"}"#;
    let (ok, _out, err) = run(&bin, &["-plaintext", "-d", body, &addr, "guichet.v1.AccessService/CheckAccess"]);
    assert!(!ok);
    assert!(!err.contains("is not recognized"), "{err}");
    assert!(err.contains("Code: InvalidArgument"), "{err}");
    let details = printed_details(&err);
    assert_eq!(details.len(), 1, "{err}");
    assert_eq!(details[0]["@type"], "type.googleapis.com/google.rpc.BadRequest", "{err}");
    let violations = details[0]["fieldViolations"].as_array().expect("fieldViolations decoded");
    assert_eq!(violations.len(), 1, "{err}");
    assert_eq!(violations[0]["field"], "permission", "{err}");
    assert!(violations[0]["description"].as_str().is_some_and(|d| !d.is_empty()), "{err}");

    let (ok, _out, err) =
        run(&bin, &["-plaintext", "-d", r#"{"id":"absent"}"#, &addr, "guichet.v1.AccountService/GetAccount"]);
    assert!(!ok);
    let details = printed_details(&err);
    assert_eq!(details[0]["@type"], "type.googleapis.com/google.rpc.ResourceInfo", "{err}");
    assert_eq!(details[0]["resourceName"], "absent", "{err}");

    let body = r#"{"actor_id":"marc","account_id":"boulangerie-martin"}"#;
    let (ok, _out, err) = run(&bin, &["-plaintext", "-d", body, &addr, "guichet.v1.EventService/ListEvents"]);
    assert!(!ok);
    let details = printed_details(&err);
    assert_eq!(details[0]["@type"], "type.googleapis.com/google.rpc.ErrorInfo", "{err}");
    assert_eq!(details[0]["reason"], "MISSING_PERMISSION", "{err}");
    assert_eq!(details[0]["metadata"]["permission"], "event_logs:view", "{err}");

    // The descriptors are there for grpcurl describe too.
    let (ok, out, err) = run(&bin, &["-plaintext", &addr, "describe", "google.rpc.BadRequest"]);
    assert!(ok, "{err}");
    assert!(out.contains("FieldViolation"), "{out}");
}
