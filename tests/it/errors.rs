//! Bad input gets the canonical code and google.rpc details naming what to fix; nothing is written.

use guichet_proto::v1 as pb;
use guichet_testkit::requests;
use guichet_tests::Clients;
use guichet_tests::{details, violated_fields};
use tonic::Code;

use crate::scenario::{check, on_sqlite_with_the_world};

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_is_refused_with_field_violations() {
    let (_db, s) = on_sqlite_with_the_world().await;

    // A bad email.
    let e = s.users().create_user(requests::user("", "pas-une-adresse")).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&e), ["email"]);

    // Empty ids, all reported at once.
    let e = s.access().check_access(pb::CheckAccessRequest::default()).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&e), ["subject_id", "account_id", "permission"]);

    // A malformed permission is an error; an unknown feature is a deny with a reason.
    let e = s.access().check_access(requests::check("gerant", "partner", "billing", "")).await.unwrap_err();
    assert_eq!(violated_fields(&e), ["permission"]);
    let r = check(&s, "gerant", "partner", "teleportation:view", "").await;
    assert_eq!((r.allowed, r.reason_code.as_str()), (false, "unknown_feature"));
    let r = check(&s, "personne", "partner", "billing:view", "").await;
    assert_eq!((r.allowed, r.reason_code.as_str()), (false, "unknown_subject"));
    let r = check(&s, "gerant", "nulle-part", "billing:view", "").await;
    assert_eq!((r.allowed, r.reason_code.as_str()), (false, "unknown_account"));

    // An oversized batch.
    let item = requests::batch_item("gerant", "partner", "billing:view");
    let oversized = pb::CheckAccessBatchRequest { items: vec![item; 1001], consistency: None };
    let e = s.access().check_access_batch(oversized).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&e), ["items"]);

    // A bad page token and a bad page size.
    let e = s
        .accounts()
        .list_accounts(pb::ListAccountsRequest {
            page_token: "n'importe-quoi".into(),
            page_size: -1,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&e), ["page_size", "page_token"]);

    // A revision token from the future.
    let e = s
        .access()
        .check_access(pb::CheckAccessRequest {
            subject_id: "gerant".into(),
            account_id: "partner".into(),
            permission: "billing:view".into(),
            resource_id: String::new(),
            consistency: Some(pb::Consistency {
                requirement: Some(pb::consistency::Requirement::AtLeastAsFresh("r999999".into())),
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&e), ["consistency.at_least_as_fresh"]);

    // NOT_FOUND and ALREADY_EXISTS name the record.
    let e = s
        .accounts()
        .get_account(pb::GetAccountRequest { id: "inconnu".into(), ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    assert_eq!(details(&e).resource_info().unwrap().resource_name, "inconnu");
    let e = s.accounts().create_account(requests::account("partner", "x", "partner", "")).await.unwrap_err();
    assert_eq!(e.code(), Code::AlreadyExists);
    let e = s.users().create_user(requests::user("", "  GERANT@Exemple.FR ")).await.unwrap_err();
    assert_eq!(e.code(), Code::AlreadyExists, "the same person, written differently, is one identity");

    // A kind that cannot be a child of that parent: FAILED_PRECONDITION with its violation.
    let e = s.accounts().create_account(requests::account("mauvais", "x", "partner", "client-a")).await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    assert_eq!(details(&e).precondition_failure().unwrap().violations[0].r#type, "PARENT_KIND_NOT_ALLOWED");

    // The last administrator cannot be demoted; nothing is written.
    let e = s
        .memberships()
        .set_membership_roles(requests::membership_roles("", "m-admin-a", &["client_user"]))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    let v = details(&e).precondition_failure().unwrap().violations[0].clone();
    assert_eq!((v.r#type.as_str(), v.subject.as_str()), ("LAST_ADMINISTRATOR", "accounts/client-a"));
    assert!(check(&s, "admin-a", "client-a", "users:full", "").await.allowed);
    let last_admin = pb::DeleteMembershipRequest { membership_id: "m-admin-a".into(), ..Default::default() };
    let e = s.memberships().delete_membership(last_admin).await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);

    // An actor without the right gets PERMISSION_DENIED naming the permission.
    let not_hers = requests::membership("employe-a", "client-a", "factu", &["client_user"]);
    let e = s.memberships().create_membership(not_hers).await.unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    let info = details(&e).error_info().unwrap().clone();
    assert_eq!(info.reason, "MISSING_PERMISSION");
    assert_eq!(info.metadata.get("permission").map(String::as_str), Some("users:full"));
    let list = pb::ListMembershipsRequest { account_id: "client-a".into(), ..Default::default() };
    let m = s.memberships().list_memberships(list).await.unwrap().into_inner();
    assert_eq!(m.memberships.len(), 2, "nothing was written");

    // An unknown role names the entry.
    let e = s
        .memberships()
        .create_membership(requests::membership("", "client-b", "factu", &["client_user", "pape"]))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&e), ["roles[1]"]);

    // Lookups validate their input too.
    let e = s.access().list_authorized_subjects(pb::ListAuthorizedSubjectsRequest::default()).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&e), ["account_id", "permission"]);
}
