//! The `guichet` process: what was written before a restart answers the same after it, on a SQLite
//! file and on PostgreSQL; SIGTERM stops the server cleanly.

use guichet_tests::{Backend, TestDatabase, TestServer, both_backends};

use crate::scenario::{build_world, check};

async fn survives_restart(backend: Backend) {
    let Some(db) = TestDatabase::new(backend).await else {
        return;
    };
    let s = TestServer::start(&db.url, &[]).await;
    build_world(&s).await;
    let questions = [
        ("gerant", "partner", "billing:full", ""),
        ("factu", "partner", "users:full", ""),
        ("conseiller", "client-a", "users:full", ""),
        ("conseiller", "client-b", "users:view", ""),
        ("employe-a", "client-a", "folders:view", "dossier-a"),
        ("employe-a", "client-a", "folders:view", "dossier-c"),
        ("tech-affilie", "client-c", "offers:full", ""),
    ];
    let mut before = Vec::new();
    for (u, a, p, r) in questions {
        before.push(check(&s, u, a, p, r).await);
    }
    let s = s.restart(&[]).await;
    for (i, (u, a, p, r)) in questions.into_iter().enumerate() {
        let after = check(&s, u, a, p, r).await;
        assert_eq!(
            (after.allowed, &after.reason_code, &after.revision, &after.granted_by),
            (before[i].allowed, &before[i].reason_code, &before[i].revision, &before[i].granted_by),
            "{u} {a} {p} {r}"
        );
    }
    assert_eq!(before.iter().map(|r| r.allowed).collect::<Vec<_>>(), [true, false, true, false, true, false, true]);
    let status = s.stop().await;
    assert!(status.success(), "exit status after SIGTERM: {status}");
}

both_backends!(data_survives_a_restart => survives_restart);
