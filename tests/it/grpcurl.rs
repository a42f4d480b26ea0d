//! The operator's path: grpcurl against the real server, through reflection.

use std::process::Command;

use guichet_tests::{Backend, TestDatabase, TestServer, grpcurl};

fn run(bin: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(bin).args(args).output().expect("run grpcurl");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn grpcurl_lists_describes_and_checks() {
    let Some(bin) = grpcurl() else { return };
    let db = TestDatabase::new(Backend::Sqlite).await.unwrap();
    let s = TestServer::start(&db.url, &["--demo"]).await;
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
