//! A partner-portal scenario built through the API, then checked: the seeds' stories in their words.

use guichet_proto::v1 as pb;
use guichet_testkit::requests;
use guichet_tests::{Backend, Clients, TestApp, TestDatabase, both_backends, spawn_app, test_config};

use crate::worlds;

/// Builds the world of the tests ([`worlds::scenario`]) through the API (on the service's own
/// authority).
pub async fn build_world(s: &impl Clients) {
    worlds::load_world(s, &worlds::scenario()).await;
}

/// A server on SQLite holding the world of the tests ([`build_world`]); the database lives as long
/// as the first half.
pub async fn on_sqlite_with_the_world() -> (TestDatabase, TestApp) {
    let db = TestDatabase::new(Backend::Sqlite).await.unwrap();
    let s = spawn_app(test_config(&db.url)).await;
    build_world(&s).await;
    (db, s)
}

/// CheckAccess at the default consistency.
pub async fn check(
    s: &impl Clients,
    subject: &str,
    account: &str,
    permission: &str,
    resource: &str,
) -> pb::CheckAccessResponse {
    s.access().check_access(requests::check(subject, account, permission, resource)).await.unwrap().into_inner()
}

/// ExplainAccess at the default consistency; the question is [subject, account, permission, resource].
pub async fn explain(s: &impl Clients, question: [&str; 4]) -> pb::ExplainAccessResponse {
    let [subject, account, permission, resource] = question;
    s.access().explain_access(requests::explain(subject, account, permission, resource)).await.unwrap().into_inner()
}

async fn scenario(backend: Backend) {
    let Some(db) = TestDatabase::new(backend).await else {
        return;
    };
    let s = spawn_app(test_config(&db.url)).await;
    build_world(&s).await;

    // Seed 003: the account manager has access to everything in the partner account…
    let r = check(&s, "gerant", "partner", "billing:full", "").await;
    assert!(r.allowed, "{r:?}");
    assert_eq!(r.reason_code, "allowed");
    let Some(pb::access_path::Path::Direct(p)) = r.granted_by.and_then(|g| g.path) else {
        panic!("direct path expected")
    };
    assert_eq!((p.membership_id.as_str(), p.role.as_str()), ("m-gerant", "account_manager"));
    assert!(r.revision.starts_with('r'));
    // …the billing manager views users but does not modify them.
    assert!(check(&s, "factu", "partner", "users:view", "").await.allowed);
    let r = check(&s, "factu", "partner", "users:full", "").await;
    assert!(!r.allowed);
    assert_eq!(r.reason_code, "insufficient_level");
    assert_eq!(r.effective_level, pb::Level::View as i32);

    // No delegation row, no access — however high the role in the partner.
    let r = check(&s, "gerant", "client-b", "users:view", "").await;
    assert!(!r.allowed);
    assert_eq!(r.reason_code, "no_access_path");
    // The delegated account administrator "Manages" client A through the delegation, not client B.
    let r = check(&s, "conseiller", "client-a", "users:full", "").await;
    assert!(r.allowed, "{r:?}");
    assert!(
        matches!(r.granted_by.and_then(|g| g.path), Some(pb::access_path::Path::Delegated(d)) if d.delegation_id == "deleg-a")
    );
    assert!(!check(&s, "conseiller", "client-b", "users:view", "").await.allowed);

    // Seed 001: the client user reaches folder A, not folder C; the company does not grant its folders.
    assert!(check(&s, "employe-a", "client-a", "folders:view", "dossier-a").await.allowed);
    let r = check(&s, "employe-a", "client-a", "folders:view", "dossier-c").await;
    assert!(!r.allowed);
    assert_eq!(r.reason_code, "resource_not_granted");
    // Lookups: the folders each one reaches, and who reaches a folder.
    let folders = |subject: &str| {
        let mut access = s.access();
        let subject = subject.to_owned();
        async move {
            access
                .list_accessible_resources(pb::ListAccessibleResourcesRequest {
                    subject_id: subject,
                    account_id: "client-a".into(),
                    permission: "folders:view".into(),
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
                .resource_ids
        }
    };
    assert_eq!(folders("employe-a").await, ["dossier-a"]);
    assert_eq!(folders("admin-a").await, ["dossier-a", "dossier-c"]);
    assert_eq!(folders("conseiller").await, ["dossier-a", "dossier-c"], "the delegation reaches every folder");
    assert!(folders("factu").await.is_empty());
    let who = s
        .access()
        .list_authorized_subjects(requests::authorized_subjects("client-a", "folders:view", "dossier-c"))
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<_> = who.subjects.iter().map(|x| x.subject_id.as_str()).collect();
    assert_eq!(ids, ["admin-a", "conseiller", "gerant"]);
    let page = s
        .access()
        .list_authorized_subjects(pb::ListAuthorizedSubjectsRequest {
            page_size: 2,
            ..requests::authorized_subjects("client-a", "folders:view", "dossier-a")
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.subjects.len(), 2);
    let rest = s
        .access()
        .list_authorized_subjects(pb::ListAuthorizedSubjectsRequest {
            page_size: 2,
            page_token: page.next_page_token.clone(),
            ..requests::authorized_subjects("client-a", "folders:view", "dossier-a")
        })
        .await
        .unwrap()
        .into_inner();
    let all: Vec<_> = page.subjects.iter().chain(&rest.subjects).map(|x| x.subject_id.as_str()).collect();
    assert_eq!(all, ["admin-a", "conseiller", "employe-a", "gerant"]);

    // The client administrator creates users; the client user does not.
    assert!(check(&s, "admin-a", "client-a", "users:full", "").await.allowed);
    assert!(!check(&s, "employe-a", "client-a", "users:full", "").await.allowed);

    // The affiliate's technical manager acts for its clients through descendant levels.
    let r = check(&s, "tech-affilie", "client-c", "offers:full", "").await;
    assert!(r.allowed, "{r:?}");
    assert!(
        matches!(r.granted_by.and_then(|g| g.path), Some(pb::access_path::Path::Inherited(i)) if i.ancestor_account_id == "affilie")
    );

    // ExplainAccess lists the paths that did not grant too.
    let e = explain(&s, ["conseiller", "client-b", "users:view", ""]).await;
    assert_eq!(e.account_chain, ["client-b", "partner"]);
    assert!(!e.decision.unwrap().allowed);

    // Disabling a module denies the feature; the write returns a newer revision.
    let before = check(&s, "admin-a", "client-a", "hosting:view", "").await;
    assert!(before.allowed);
    let catalog = s.roles().list_catalog(pb::ListCatalogRequest {}).await.unwrap().into_inner();
    let modules: Vec<String> =
        catalog.features.iter().filter(|f| f.module && f.name != "hosting").map(|f| f.name.clone()).collect();
    let w = s
        .accounts()
        .set_account_modules(pb::SetAccountModulesRequest {
            account_id: "client-a".into(),
            modules,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        w.revision.trim_start_matches('r').parse::<u64>().unwrap()
            > before.revision.trim_start_matches('r').parse::<u64>().unwrap()
    );
    let r = check(&s, "admin-a", "client-a", "hosting:view", "").await;
    assert!(!r.allowed);
    assert_eq!(r.reason_code, "module_disabled");

    // Suspending the account denies everything in it on the very next call.
    s.accounts()
        .suspend_account(pb::SuspendAccountRequest {
            id: "client-a".into(),
            reason: "impayé".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let r = check(&s, "admin-a", "client-a", "users:view", "").await;
    assert_eq!((r.allowed, r.reason_code.as_str()), (false, "account_suspended"));

    // Deleting the delegation removes the Manage path.
    s.accounts()
        .reactivate_account(pb::ReactivateAccountRequest { id: "client-a".into(), ..Default::default() })
        .await
        .unwrap();
    assert!(check(&s, "conseiller", "client-a", "users:full", "").await.allowed);
    s.delegations()
        .delete_delegation(pb::DeleteDelegationRequest { id: "deleg-a".into(), ..Default::default() })
        .await
        .unwrap();
    assert!(!check(&s, "conseiller", "client-a", "users:full", "").await.allowed);

    // ListAccessibleAccounts: the affiliate's technical manager sees the affiliate and its client.
    let l = s
        .access()
        .list_accessible_accounts(requests::accessible_accounts("tech-affilie", "event_logs:view"))
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<_> = l.accounts.iter().map(|a| a.account_id.as_str()).collect();
    assert_eq!(ids, ["affilie", "client-c"]);

    // Batch answers keep the order of the items.
    let items = ["invoices:view", "users:full"].map(|p| requests::batch_item("factu", "partner", p)).into();
    let batch = pb::CheckAccessBatchRequest { items, consistency: None };
    let b = s.access().check_access_batch(batch).await.unwrap().into_inner();
    assert_eq!(b.results.iter().map(|r| r.allowed).collect::<Vec<_>>(), [true, false]);
    assert!(s.stop().await.success());
}

both_backends!(partner_portal_scenario => scenario);
