//! Snapshots (insta) of what people read: the messages of refused calls and ExplainAccess's account
//! of a few checks of the seeds' stories. Revisions, staleness and generated ids are redacted, so
//! the snapshots are the same on every run and both backends.

use guichet_proto::v1 as pb;
use guichet_testkit::requests;
use guichet_tests::Clients;
use guichet_tests::{Backend, TestApp, TestDatabase, details, spawn_app, test_config};

use crate::scenario::build_world;

/// `text` with what changes from run to run replaced: revisions (`r123`), staleness, and uuids.
pub(crate) fn redact(text: &str) -> String {
    let mut out = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        let indent = &line[..line.len() - trimmed.len()];
        let line = if trimmed.starts_with("revision: ") {
            format!("{indent}revision: \"[revision]\",")
        } else if trimmed.starts_with("staleness_ms: ") {
            format!("{indent}staleness_ms: [staleness],")
        } else {
            redact_words(line)
        };
        out.push(line);
    }
    out.join("\n")
}

/// Revisions (`r` and digits) and uuids inside a line.
fn redact_words(line: &str) -> String {
    let mut out = String::new();
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        let is_revision = word.len() > 1 && word.starts_with('r') && word[1..].chars().all(|c| c.is_ascii_digit());
        let is_uuid = word.len() == 36 && word.chars().filter(|c| *c == '-').count() == 4;
        out.push_str(if is_revision {
            "[revision]"
        } else if is_uuid {
            "[uuid]"
        } else {
            word
        });
        word.clear();
    };
    for c in line.chars() {
        if c.is_ascii_alphanumeric() || c == '-' {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// A refused call as its client reads it: code, message, and every detail.
fn refusal(e: &tonic::Status) -> String {
    let d = details(e);
    let mut out = format!("{:?}: {}", e.code(), e.message());
    if let Some(b) = d.bad_request() {
        for v in &b.field_violations {
            out.push_str(&format!("\n  field {}: {}", v.field, v.description));
        }
    }
    if let Some(p) = d.precondition_failure() {
        for v in &p.violations {
            out.push_str(&format!("\n  precondition {} {}: {}", v.r#type, v.subject, v.description));
        }
    }
    if let Some(i) = d.error_info() {
        let metadata: std::collections::BTreeMap<_, _> = i.metadata.iter().collect();
        out.push_str(&format!("\n  reason {} ({}) {metadata:?}", i.reason, i.domain));
    }
    redact(&out)
}

async fn explain(s: &TestApp, subject: &str, account: &str, permission: &str, resource: &str) -> String {
    let e = s
        .access()
        .explain_access(requests::explain(subject, account, permission, resource))
        .await
        .unwrap()
        .into_inner();
    redact(&format!("{e:#?}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn explain_access_tells_the_seed_stories() {
    let db = TestDatabase::new(Backend::Sqlite).await.unwrap();
    let s = spawn_app(test_config(&db.url)).await;
    build_world(&s).await;
    // The partner's manager manages billing; the billing clerk may not manage users; the adviser
    // reaches a customer through a delegation but not the one without; an employee sees only the
    // folder they were given.
    insta::assert_snapshot!(
        "explain_gerant_billing_full_in_partner",
        explain(&s, "gerant", "partner", "billing:full", "").await
    );
    insta::assert_snapshot!(
        "explain_factu_users_full_in_partner",
        explain(&s, "factu", "partner", "users:full", "").await
    );
    insta::assert_snapshot!(
        "explain_conseiller_users_full_in_client_a",
        explain(&s, "conseiller", "client-a", "users:full", "").await
    );
    insta::assert_snapshot!(
        "explain_conseiller_users_view_in_client_b",
        explain(&s, "conseiller", "client-b", "users:view", "").await
    );
    insta::assert_snapshot!(
        "explain_employe_a_folder_c_in_client_a",
        explain(&s, "employe-a", "client-a", "folders:view", "dossier-c").await
    );
    assert!(s.stop().await.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn refusals_read_as_written() {
    let db = TestDatabase::new(Backend::Sqlite).await.unwrap();
    let s = spawn_app(test_config(&db.url)).await;
    build_world(&s).await;
    let mut out = Vec::new();

    let e = s.users().create_user(requests::user("", "pas-une-adresse")).await.unwrap_err();
    out.push(format!("CreateUser with a bad email\n{}", refusal(&e)));

    let e = s.access().check_access(pb::CheckAccessRequest::default()).await.unwrap_err();
    out.push(format!("CheckAccess with nothing\n{}", refusal(&e)));

    let e = s
        .accounts()
        .get_account(pb::GetAccountRequest { id: "nulle-part".into(), ..Default::default() })
        .await
        .unwrap_err();
    out.push(format!("GetAccount of an unknown account\n{}", refusal(&e)));

    let e = s.accounts().create_account(requests::account("partner", "Encore", "partner", "")).await.unwrap_err();
    out.push(format!("CreateAccount of an id that exists\n{}", refusal(&e)));

    let e = s
        .accounts()
        .get_account(pb::GetAccountRequest { actor_id: "factu".into(), id: "client-a".into() })
        .await
        .unwrap_err();
    out.push(format!("GetAccount out of the actor's reach\n{}", refusal(&e)));

    insta::assert_snapshot!("refusals", out.join("\n\n"));
    assert!(s.stop().await.success());
}
