//! The demo world answers as the README says, and the README's grpcurl examples run verbatim.

use std::process::Command;

use guichet_tests::{Backend, Config, TestDatabase, grpcurl, spawn_app, test_config};

use crate::scenario::check;

#[tokio::test(flavor = "multi_thread")]
async fn demo_world_answers_as_documented() {
    let db = TestDatabase::new(Backend::Sqlite).await.unwrap();
    let s = spawn_app(Config { demo: true, ..test_config(&db.url) }).await;
    let cases = [
        ("marc", "boulangerie-martin", "folders:view", "bm-dossier-2025", true, "allowed"),
        ("marc", "boulangerie-martin", "folders:view", "bm-dossier-juridique", false, "resource_not_granted"),
        // Anne, the bakery's bookkeeper: view on the 2025 folder, edit on the payroll folder.
        ("anne", "boulangerie-martin", "folders:view", "bm-dossier-2025", true, "allowed"),
        ("anne", "boulangerie-martin", "folders:full", "bm-dossier-2025", false, "resource_level_capped"),
        ("anne", "boulangerie-martin", "folders:full", "bm-dossier-paie", true, "allowed"),
        ("anne", "boulangerie-martin", "folders:view", "bm-dossier-juridique", false, "resource_not_granted"),
        ("david", "boulangerie-martin", "users:full", "", true, "allowed"),
        ("david", "fromagerie-dupont", "users:view", "", false, "no_access_path"),
        ("claire", "fromagerie-dupont", "users:view", "", false, "no_access_path"),
        ("claire", "boulangerie-martin", "users:full", "", true, "allowed"),
        ("bruno", "boulangerie-martin", "users:view", "", false, "no_access_path"),
        ("inconnu", "boulangerie-martin", "users:view", "", false, "unknown_subject"),
        ("bruno", "nuage-partenaires", "users:view", "", true, "allowed"),
        ("bruno", "nuage-partenaires", "users:full", "", false, "insufficient_level"),
        ("amelie", "alpes-revente", "billing:view", "", false, "insufficient_level"),
        ("karim", "garage-moreau", "offers:full", "", true, "allowed"),
        ("paul", "cabinet-leclerc", "voip_911:full", "", false, "module_disabled"),
        ("paul", "cabinet-leclerc", "voip_cdr:view", "", true, "allowed"),
        ("lucie", "boulangerie-martin", "users:full", "", true, "allowed"),
        ("marc", "boulangerie-martin", "users:full", "", false, "insufficient_level"),
    ];
    for (u, a, p, r, allowed, reason) in cases {
        let got = check(&s, u, a, p, r).await;
        assert_eq!((got.allowed, got.reason_code.as_str()), (allowed, reason), "{u} {a} {p} {r}: {}", got.reason);
    }
}

/// Runs every `grpcurl` line of the README's "Try it" section against a demo server.
#[tokio::test(flavor = "multi_thread")]
async fn readme_grpcurl_examples_run_verbatim() {
    let Some(bin) = grpcurl() else { return };
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let section =
        readme.split("<!-- examples:start -->").nth(1).and_then(|s| s.split("<!-- examples:end -->").next()).unwrap();
    let commands: Vec<&str> = section.lines().filter(|l| l.starts_with("grpcurl ")).collect();
    assert!(commands.len() >= 5, "the README shows the examples");
    let db = TestDatabase::new(Backend::Sqlite).await.unwrap();
    let s = spawn_app(Config { demo: true, ..test_config(&db.url) }).await;
    for command in commands {
        let line =
            command.replacen("grpcurl", &bin.display().to_string(), 1).replace("localhost:50051", &s.addr.to_string());
        let out = Command::new("sh").args(["-c", &line]).output().unwrap();
        assert!(out.status.success(), "{command}\n{}", String::from_utf8_lossy(&out.stderr));
    }
}
