//! Management calls made for a person (the actor) are authorised by the same engine as CheckAccess.

use guichet_proto::v1 as pb;
use guichet_testkit::requests;
use guichet_tests::details;
use guichet_tests::{Clients, list_events};
use tonic::Code;

use crate::scenario::{check, on_sqlite_with_the_world};

fn precondition(e: &tonic::Status) -> String {
    details(e).precondition_failure().map(|p| p.violations[0].r#type.clone()).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn actors_act_within_their_rights() {
    let (_db, s) = on_sqlite_with_the_world().await;

    // The partner's billing manager is partner staff, out of the client administrator's reach:
    // she reaches the customer through a delegation, never a direct membership (NOT_FOUND, as for
    // an unknown user).
    let e = s
        .memberships()
        .create_membership(requests::membership("admin-a", "client-a", "factu", &["client_user"]))
        .await
        .unwrap_err();
    assert_eq!((e.code(), e.message()), (Code::NotFound, "user factu not found"));
    // The client administrator creates a client user's profile and adds her to her company…
    s.users()
        .create_user(pb::CreateUserRequest {
            given_name: "Inès".into(),
            ..requests::user_for("admin-a", "client-a", "stagiaire", "stagiaire@client-a.fr")
        })
        .await
        .unwrap();
    let m = s
        .memberships()
        .create_membership(requests::membership("admin-a", "client-a", "stagiaire", &["client_user"]))
        .await
        .unwrap()
        .into_inner()
        .membership
        .unwrap();
    assert_eq!((m.created_by.as_str(), m.status), ("admin-a", pb::MembershipStatus::Active as i32));
    assert!(check(&s, "stagiaire", "client-a", "folders:view", "").await.allowed);
    // …but not to another company, which she cannot reach at all.
    let e = s
        .memberships()
        .create_membership(requests::membership("admin-a", "client-b", "stagiaire", &["client_user"]))
        .await
        .unwrap_err();
    assert_eq!((e.code(), e.message()), (Code::NotFound, "account client-b not found"));
    // The calling service, on its own authority, gives the billing manager a place in client-a.
    s.memberships().create_membership(requests::membership("", "client-a", "factu", &["client_user"])).await.unwrap();

    // A user outside the actor's reach is NOT_FOUND, so emails cannot be probed.
    let e =
        s.users().get_user(pb::GetUserRequest { actor_id: "admin-a".into(), id: "gerant".into() }).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    let e = s
        .users()
        .find_user_by_email(pb::FindUserByEmailRequest {
            actor_id: "admin-a".into(),
            email: "gerant@exemple.fr".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    // A member of her company is within reach; so is she herself.
    let u =
        s.users().get_user(pb::GetUserRequest { actor_id: "admin-a".into(), id: "employe-a".into() }).await.unwrap();
    assert_eq!(u.into_inner().user.unwrap().email, "employe-a@exemple.fr");
    s.users().get_user(pb::GetUserRequest { actor_id: "gerant".into(), id: "gerant".into() }).await.unwrap();

    // Root accounts are created on the service's own authority only.
    let e = s
        .accounts()
        .create_account(pb::CreateAccountRequest {
            actor_id: "gerant".into(),
            ..requests::account("", "Nouveau", "partner", "")
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    // The partner's account manager creates and suspends its customers (organizations:full in the parent).
    s.accounts()
        .create_account(pb::CreateAccountRequest {
            actor_id: "gerant".into(),
            ..requests::account("client-d", "Client D", "customer", "partner")
        })
        .await
        .unwrap();
    let suspend = pb::SuspendAccountRequest { actor_id: "gerant".into(), id: "client-d".into(), ..Default::default() };
    s.accounts().suspend_account(suspend.clone()).await.unwrap();
    let e = s.accounts().suspend_account(suspend).await.unwrap_err();
    assert_eq!((e.code(), precondition(&e).as_str()), (Code::FailedPrecondition, "ALREADY_SUSPENDED"));
    // Nothing can be added under a suspended account.
    let e = s.accounts().create_account(requests::account("", "x", "customer", "client-d")).await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    // The billing manager cannot.
    let reactivate =
        pb::ReactivateAccountRequest { actor_id: "factu".into(), id: "client-d".into(), ..Default::default() };
    let e = s.accounts().reactivate_account(reactivate).await.unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);

    // Suspending the last administrator of an account, as a user, is refused.
    let e = s
        .users()
        .suspend_user(pb::SuspendUserRequest { id: "admin-a".into(), ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!((e.code(), precondition(&e).as_str()), (Code::FailedPrecondition, "LAST_ADMINISTRATOR"));
    // A suspended user is denied everywhere, on the next call.
    s.users().suspend_user(pb::SuspendUserRequest { id: "employe-a".into(), ..Default::default() }).await.unwrap();
    let r = check(&s, "employe-a", "client-a", "folders:view", "dossier-a").await;
    assert_eq!((r.allowed, r.reason_code.as_str()), (false, "subject_suspended"));

    // A suspended membership grants nothing; suspending it twice says so.
    let suspend_factu = pb::SuspendMembershipRequest { membership_id: "m-factu".into(), ..Default::default() };
    s.memberships().suspend_membership(suspend_factu.clone()).await.unwrap();
    assert!(!check(&s, "factu", "partner", "invoices:view", "").await.allowed);
    let e = s.memberships().suspend_membership(suspend_factu).await.unwrap_err();
    assert_eq!(precondition(&e), "ALREADY_SUSPENDED");

    // ListMyAccounts: with exactly one usable account, it is the default.
    let of = |user: &str| pb::ListMyAccountsRequest { user_id: user.into(), ..Default::default() };
    let mine = s.users().list_my_accounts(of("admin-a")).await.unwrap();
    assert_eq!(mine.into_inner().default_account_id, "client-a");
    let mine = s.users().list_my_accounts(of("factu")).await.unwrap();
    let mine = mine.into_inner();
    assert_eq!(mine.accounts.len(), 2);
    assert_eq!(mine.default_account_id, "client-a", "the partner membership is suspended, one account is left");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_change_writes_one_audit_event() {
    let (_db, s) = on_sqlite_with_the_world().await;
    let events = |actor: &'static str, types: Vec<String>| {
        let mut client = s.events();
        async move {
            client
                .list_events(pb::ListEventsRequest {
                    actor_id: actor.into(),
                    account_id: "client-a".into(),
                    types,
                    ..Default::default()
                })
                .await
        }
    };
    let before = events("admin-a", vec![]).await.unwrap().into_inner().events;
    let kinds: Vec<_> = before.iter().map(|e| e.r#type.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "account.created",
            "resource.created",
            "resource.created",
            "membership.created",
            "membership.created",
            "delegation.created"
        ]
    );

    // A change made for a person records who, what, before/after and the write's revision.
    let w = s
        .memberships()
        .set_membership_roles(pb::SetMembershipRolesRequest {
            actor_id: "admin-a".into(),
            request_id: "change-1".into(),
            membership_id: "m-employe-a".into(),
            roles: vec!["client_administrator".into()],
            unchanged_since: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let after = events("admin-a", vec!["membership.roles_changed".into()]).await.unwrap().into_inner().events;
    assert_eq!(after.len(), 1);
    let e = &after[0];
    assert_eq!(
        (e.actor_id.as_str(), e.target_id.as_str(), e.request_id.as_str()),
        ("admin-a", "m-employe-a", "change-1")
    );
    assert_eq!(e.revision, w.revision);
    assert!(e.before_json.contains("client_user") && e.after_json.contains("client_administrator"), "{e:?}");

    // A refused change writes no event.
    let _ = s
        .memberships()
        .delete_membership(pb::DeleteMembershipRequest { membership_id: "m-nobody".into(), ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(events("admin-a", vec![]).await.unwrap().into_inner().events.len(), before.len() + 1);

    // Reading events needs event_logs:view in that account.
    let e = events("factu", vec![]).await.unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_id_makes_a_write_happen_once() {
    let (_db, s) = on_sqlite_with_the_world().await;
    // A profile of no account yet, which the client administrator may add.
    s.users().create_user(requests::user("stagiaire", "stagiaire@client-a.fr")).await.unwrap();
    let request = pb::CreateMembershipRequest {
        request_id: "ajout-stagiaire-client-a".into(),
        ..requests::membership("admin-a", "client-a", "stagiaire", &["client_user"])
    };
    // Concurrent replays of one request: one membership, the same answer for all.
    let mut calls = Vec::new();
    for _ in 0..8 {
        let mut client = s.memberships();
        let request = request.clone();
        calls.push(tokio::spawn(async move { client.create_membership(request).await.map(|r| r.into_inner()) }));
    }
    let mut answers = Vec::new();
    for c in calls {
        answers.push(c.await.unwrap().unwrap());
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "every replay gets the first response");
    let replay = s.memberships().create_membership(request.clone()).await.unwrap().into_inner();
    assert_eq!(replay, answers[0]);
    let by_admin = pb::ListEventsRequest {
        by_actor_id: "admin-a".into(),
        ..requests::events("", "client-a", &["membership.created"])
    };
    let events = list_events(&s, by_admin).await.unwrap();
    assert_eq!(events.len(), 1, "written once");

    // The same key with another body is refused, naming request_id.
    let e = s
        .memberships()
        .create_membership(pb::CreateMembershipRequest { roles: vec!["client_administrator".into()], ..request })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::AlreadyExists);
    assert_eq!(guichet_tests::violated_fields(&e), ["request_id"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn generic_addresses_are_flagged_by_default() {
    let (_db, s) = on_sqlite_with_the_world().await;
    let created = s
        .users()
        .create_user(requests::user_for("admin-a", "client-a", "", "Contact@Boulangerie.example"))
        .await
        .unwrap()
        .into_inner();
    assert!(created.email_flagged, "{created:?}");
    assert!(!created.email_flag_reason.is_empty());
    assert_eq!(created.user.unwrap().email, "contact@boulangerie.example");
    let plain = s
        .users()
        .create_user(requests::user_for("admin-a", "client-a", "", "jeanne.roux@boulangerie.example"))
        .await
        .unwrap()
        .into_inner();
    assert!(!plain.email_flagged);
}
