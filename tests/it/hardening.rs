//! Defects the reliability harness (`make reliability`) found, kept fixed: role edits that hand out
//! more than the actor holds, and error details too large for HTTP/2 trailers.

use guichet_proto::v1 as pb;
use guichet_testkit::requests;
use guichet_tests::Clients;
use guichet_tests::{Backend, TestApp, TestDatabase, details, spawn_app, test_config, violated_fields};
use tonic::Code;

use crate::scenario::check;

async fn account_with_an_inviter(s: &TestApp) {
    s.accounts().create_account(requests::account("acme", "Acme", "direct_client", "")).await.unwrap();
    for id in ["owner", "inviter", "clerk"] {
        s.users().create_user(requests::user(id, &format!("{id}@exemple.fr"))).await.unwrap();
    }
    // A custom role that manages users and holds nothing else.
    let inviter = pb::CreateRoleRequest {
        account_id: "acme".into(),
        name: "inviter".into(),
        display_name: "Inviter".into(),
        grants: vec![pb::FeatureGrant { feature: "users".into(), level: pb::Level::Full as i32 }],
        ..Default::default()
    };
    s.roles().create_role(inviter).await.unwrap();
    for (id, user, role) in [
        ("m-owner", "owner", "account_manager"),
        ("m-inviter", "inviter", "inviter"),
        ("m-clerk", "clerk", "billing_manager"),
    ] {
        let member = pb::CreateMembershipRequest { id: id.into(), ..requests::membership("", "acme", user, &[role]) };
        s.memberships().create_membership(member).await.unwrap();
    }
}

fn assert_no_escalation(e: &tonic::Status) {
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    let info = details(e).error_info().cloned().expect("ErrorInfo");
    assert_eq!(info.reason, "NO_ESCALATION");
    assert!(info.metadata["reason"].starts_with("no escalation"), "{:?}", info.metadata);
}

#[tokio::test(flavor = "multi_thread")]
async fn role_edits_cannot_hand_out_more_than_the_actor_holds() {
    let db = TestDatabase::new(Backend::Sqlite).await.unwrap();
    let s = spawn_app(test_config(&db.url)).await;
    account_with_an_inviter(&s).await;

    // Promoting itself or someone else to a role above its own is refused, by either RPC.
    let e = s
        .memberships()
        .set_membership_roles(requests::membership_roles("inviter", "m-inviter", &["account_manager"]))
        .await
        .unwrap_err();
    assert_no_escalation(&e);
    let e =
        s.memberships().assign_role(requests::assign_role("inviter", "m-clerk", "account_manager")).await.unwrap_err();
    assert_no_escalation(&e);
    // Nothing changed.
    assert!(!check(&s, "inviter", "acme", "billing:full", "").await.allowed);
    assert!(!check(&s, "clerk", "acme", "users:full", "").await.allowed);
    let get = pb::GetMembershipRequest { id: "m-clerk".into(), ..Default::default() };
    let m = s.memberships().get_membership(get).await.unwrap().into_inner().membership.unwrap();
    assert_eq!(m.roles, ["billing_manager"]);

    // Within what it holds, the same calls work; an administrator may promote.
    s.memberships().set_membership_roles(requests::membership_roles("inviter", "m-clerk", &["inviter"])).await.unwrap();
    s.memberships().assign_role(requests::assign_role("owner", "m-clerk", "account_manager")).await.unwrap();
    assert!(check(&s, "clerk", "acme", "billing:full", "").await.allowed);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_of_a_thousand_bad_items_is_one_bounded_invalid_argument() {
    let db = TestDatabase::new(Backend::Sqlite).await.unwrap();
    let s = spawn_app(test_config(&db.url)).await;
    let item = requests::batch_item("someone", "acme", "not-a-permission");
    let e = s
        .access()
        .check_access_batch(pb::CheckAccessBatchRequest { items: vec![item; 1000], consistency: None })
        .await
        .unwrap_err();
    // Before the bound, the trailers outgrew the client's header limit: an HTTP/2 protocol error.
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    let fields = violated_fields(&e);
    assert_eq!(fields.len(), 20);
    assert_eq!(fields[0], "items[0].permission");
    assert_eq!(fields[19], "items[19].permission");
    assert!(e.message().ends_with("(and 980 more violations)"), "{}", e.message());
    // The connection is still usable.
    let r = s.access().check_access(requests::check("someone", "acme", "users:view", "")).await.unwrap().into_inner();
    assert!(!r.allowed);
}
