//! Invitations (seed 002), four-eyes approval and the email policy (seed 001), end to end on
//! SQLite and PostgreSQL. Time passes by moving the server's manual clock: no test sleeps.

use guichet_proto::v1 as pb;
use guichet_testkit::requests;
use guichet_tests::{
    Backend, Clients, TestApp, TestDatabase, both_backends, details, list_events, spawn_app, test_config,
    violated_fields,
};
use tonic::Code;

use crate::scenario::check;
use crate::worlds;

const DAY_MS: i64 = 86_400_000;

fn precondition(e: &tonic::Status) -> String {
    details(e).precondition_failure().map(|p| p.violations[0].r#type.clone()).unwrap_or_default()
}

fn missing_permission(e: &tonic::Status) -> String {
    details(e).error_info().and_then(|i| i.metadata.get("permission").cloned()).unwrap_or_default()
}

fn settings(ttl: u32, approval: bool, generic: pb::GenericAddressPolicy) -> pb::AccountSettings {
    pb::AccountSettings {
        invitation_ttl_days: ttl,
        requires_approval: approval,
        email_policy: Some(pb::EmailPolicy {
            forbidden_domains: vec!["cabinet-leclerc.fr".into()],
            generic_addresses: generic as i32,
        }),
    }
}

/// The accounting firm and its client, the bakery ([`worlds::bakery`]: Lucie and Paul its client
/// administrators, Odile a client user; folders A and C; the billing and folders modules), then
/// the bakery's settings: invitations living `ttl` days, access needing a colleague's approval or
/// not, generic addresses treated as `generic` says.
pub(crate) async fn bakery(s: &impl Clients, ttl: u32, approval: bool, generic: pb::GenericAddressPolicy) {
    worlds::load_world(s, &worlds::bakery()).await;
    let request = pb::UpdateAccountSettingsRequest {
        account_id: "boulangerie".into(),
        settings: Some(settings(ttl, approval, generic)),
        ..Default::default()
    };
    s.accounts().update_account_settings(request).await.unwrap();
}

pub(crate) async fn invite(
    s: &impl Clients,
    actor: &str,
    email: &str,
    roles: &[&str],
    folders: Option<&[&str]>,
) -> (String, String) {
    let r = s
        .invitations()
        .create_invitation(pb::CreateInvitationRequest {
            actor_id: actor.into(),
            account_id: "boulangerie".into(),
            email: email.into(),
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
            restriction: folders.map(|f| pb::ResourceRestriction {
                restricted: true,
                resource_ids: f.iter().map(|r| (*r).to_owned()).collect(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    (r.invitation.unwrap().id, r.token)
}

pub(crate) async fn accept(s: &impl Clients, token: &str) -> Result<pb::AcceptInvitationResponse, tonic::Status> {
    s.invitations()
        .accept_invitation(pb::AcceptInvitationRequest {
            token: token.into(),
            given_name: "Marc".into(),
            family_name: "Petit".into(),
            ..Default::default()
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn list(s: &TestApp, status: pb::InvitationStatus) -> Vec<String> {
    s.invitations()
        .list_invitations(pb::ListInvitationsRequest {
            account_id: "boulangerie".into(),
            status: status as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .invitations
        .into_iter()
        .map(|i| i.id)
        .collect()
}

async fn members(s: &TestApp) -> Vec<pb::Membership> {
    s.memberships()
        .list_memberships(pb::ListMembershipsRequest {
            account_id: "boulangerie".into(),
            page_size: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .memberships
}

// ---- seed 001, in its own words ----

/// "A client administrator invites a client user with folder A and the billing module; the access
/// is pending until a colleague with validation rights approves it; the user then reads folder A
/// and not folder C; the inviter cannot approve her own invitation."
async fn seed_001_story(backend: Backend) {
    let Some(db) = TestDatabase::new(backend).await else { return };
    let s = spawn_app(test_config(&db.url)).await;
    bakery(&s, 7, true, pb::GenericAddressPolicy::Flag).await;

    // Lucie, client administrator, invites Marc as a client user with folder A.
    let (inv, token) =
        invite(&s, "lucie", " Marc@Boulangerie-Martin.FR ", &["client_user"], Some(&["dossier-a"])).await;
    assert!(token.len() >= 22, "a token of at least 128 bits: {token}");
    let got = s
        .invitations()
        .get_invitation(pb::GetInvitationRequest { actor_id: "paul".into(), id: inv.clone() })
        .await
        .unwrap()
        .into_inner()
        .invitation
        .unwrap();
    assert_eq!(got.email, "marc@boulangerie-martin.fr");
    assert_eq!((got.status, got.invited_by.as_str()), (pb::InvitationStatus::Pending as i32, "lucie"));

    // Marc accepts: his user is created, his access waits for approval and grants nothing.
    let a = accept(&s, &token).await.unwrap();
    assert!(a.user_created);
    let marc = a.user.unwrap().id;
    let m = a.membership.unwrap();
    assert_eq!(m.status, pb::MembershipStatus::PendingApproval as i32);
    assert_eq!(m.created_by, "lucie");
    assert!(!check(&s, &marc, "boulangerie", "folders:view", "dossier-a").await.allowed);
    assert!(!check(&s, &marc, "boulangerie", "billing:view", "").await.allowed);

    // It is in the list of pending requests, asked by Lucie, from the invitation.
    let pending = s
        .approvals()
        .list_pending_approvals(pb::ListPendingApprovalsRequest {
            actor_id: "paul".into(),
            account_id: "boulangerie".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .approvals;
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].requested_by, "lucie");
    assert_eq!(pending[0].invitation_id, inv);
    assert_eq!(pending[0].user.as_ref().unwrap().email, "marc@boulangerie-martin.fr");

    // The inviter cannot approve her own invitation; neither can a client user (no validation rights).
    let e = s
        .approvals()
        .approve_membership(pb::ApproveMembershipRequest {
            actor_id: "lucie".into(),
            membership_id: m.id.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!((e.code(), precondition(&e).as_str()), (Code::FailedPrecondition, "FOUR_EYES"));
    let e = s
        .approvals()
        .approve_membership(pb::ApproveMembershipRequest {
            actor_id: "odile".into(),
            membership_id: m.id.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!((e.code(), missing_permission(&e).as_str()), (Code::PermissionDenied, "access_approvals:full"));
    assert!(!check(&s, &marc, "boulangerie", "folders:view", "dossier-a").await.allowed);

    // Paul, a colleague with validation rights, approves: Marc reads folder A, not folder C.
    let approved = s
        .approvals()
        .approve_membership(pb::ApproveMembershipRequest {
            actor_id: "paul".into(),
            membership_id: m.id.clone(),
            version: m.version.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .membership
        .unwrap();
    assert_eq!((approved.status, approved.approved_by.as_str()), (pb::MembershipStatus::Active as i32, "paul"));
    assert!(check(&s, &marc, "boulangerie", "folders:view", "dossier-a").await.allowed);
    assert!(!check(&s, &marc, "boulangerie", "folders:view", "dossier-c").await.allowed);
    assert!(check(&s, &marc, "boulangerie", "billing:view", "").await.allowed);
    assert!(!check(&s, &marc, "boulangerie", "billing:full", "").await.allowed);

    // Approving again is refused: it is no longer pending.
    let e = s
        .approvals()
        .approve_membership(pb::ApproveMembershipRequest {
            actor_id: "paul".into(),
            membership_id: m.id.clone(),
            version: m.version.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(precondition(&e), "MEMBERSHIP_NOT_PENDING");

    // A rejected request is deleted, and the audit trail says why.
    let (_, token) = invite(&s, "paul", "julie@boulangerie-martin.fr", &["client_user"], None).await;
    let julie = accept(&s, &token).await.unwrap().membership.unwrap();
    let e = s
        .approvals()
        .reject_membership(pb::RejectMembershipRequest {
            actor_id: "paul".into(),
            membership_id: julie.id.clone(),
            version: julie.version.clone(),
            reason: "not ours".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(precondition(&e), "FOUR_EYES");
    s.approvals()
        .reject_membership(pb::RejectMembershipRequest {
            actor_id: "lucie".into(),
            membership_id: julie.id.clone(),
            version: julie.version.clone(),
            reason: "Julie a quitté la boulangerie".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let e = s
        .memberships()
        .get_membership(pb::GetMembershipRequest { id: julie.id.clone(), ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    let events = list_events(&s, requests::events("", "boulangerie", &[])).await.unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.r#type.as_str()).collect();
    for kind in ["invitation.created", "invitation.accepted", "membership.approved", "membership.rejected"] {
        assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
    }
    let rejected = events.iter().find(|e| e.r#type == "membership.rejected").unwrap();
    assert!(rejected.after_json.contains("Julie a quitté la boulangerie"), "{}", rejected.after_json);
    assert!(events.iter().all(|e| !e.after_json.contains(&token)), "no token in the audit trail");
}

both_backends!(seed_001_story => seed_001_story);

// ---- the invitation lifecycle, with time moved by restarting in the future ----

async fn lifecycle(backend: Backend) {
    let Some(db) = TestDatabase::new(backend).await else { return };
    let s = spawn_app(test_config(&db.url)).await;
    bakery(&s, 1, false, pb::GenericAddressPolicy::Flag).await;

    // A member is not invited again.
    let e = s
        .invitations()
        .create_invitation(requests::invitation("", "boulangerie", "odile@boulangerie-martin.fr", &["client_user"]))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::AlreadyExists, "Odile is already a member: {e:?}");
    s.memberships()
        .delete_membership(pb::DeleteMembershipRequest { membership_id: "m-odile".into(), ..Default::default() })
        .await
        .unwrap();
    // Accepted before its expiry (one day): the existing user is linked, not created.
    let (first, token) = invite(&s, "lucie", "odile@boulangerie-martin.fr", &["client_user"], None).await;
    let a = accept(&s, &token).await.unwrap();
    assert!(!a.user_created);
    assert_eq!(a.user.unwrap().id, "odile");
    assert_eq!(a.membership.as_ref().unwrap().status, pb::MembershipStatus::Active as i32);
    let inv = a.invitation.unwrap();
    assert_eq!((inv.id.as_str(), inv.status), (first.as_str(), pb::InvitationStatus::Accepted as i32));
    assert_eq!(inv.membership_id, a.membership.unwrap().id);

    // A second accept of the same token creates nothing.
    let before = members(&s).await.len();
    let e = accept(&s, &token).await.unwrap_err();
    assert_eq!((e.code(), precondition(&e).as_str()), (Code::FailedPrecondition, "INVITATION_ALREADY_ACCEPTED"));
    assert_eq!(details(&e).precondition_failure().unwrap().violations[0].subject, format!("invitations/{first}"));
    assert_eq!(members(&s).await.len(), before);

    // A pending invitation for the same email is refused; a revoked one refuses its token.
    let (late, late_token) = invite(&s, "lucie", "marc@boulangerie-martin.fr", &["client_user"], None).await;
    let e = s
        .invitations()
        .create_invitation(requests::invitation("lucie", "boulangerie", "marc@boulangerie-martin.fr", &["client_user"]))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::AlreadyExists);
    let (revoked, revoked_token) = invite(&s, "lucie", "anne@boulangerie-martin.fr", &["client_user"], None).await;
    s.invitations()
        .revoke_invitation(pb::RevokeInvitationRequest {
            actor_id: "lucie".into(),
            id: revoked.clone(),
            reason: "wrong person".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let e = accept(&s, &revoked_token).await.unwrap_err();
    assert_eq!(precondition(&e), "INVITATION_REVOKED");
    assert_eq!(list(&s, pb::InvitationStatus::Revoked).await, vec![revoked.clone()]);
    assert_eq!(list(&s, pb::InvitationStatus::Pending).await, vec![late.clone()]);

    // Two days later: the pending invitation has expired and its token is refused.
    s.clock.advance(std::time::Duration::from_millis(2 * DAY_MS.unsigned_abs()));
    let e = accept(&s, &late_token).await.unwrap_err();
    assert_eq!((e.code(), precondition(&e).as_str()), (Code::FailedPrecondition, "INVITATION_EXPIRED"));
    assert_eq!(list(&s, pb::InvitationStatus::Expired).await, vec![late.clone()]);
    assert!(list(&s, pb::InvitationStatus::Pending).await.is_empty());
    assert_eq!(list(&s, pb::InvitationStatus::Unspecified).await, vec![revoked.clone(), late.clone(), first.clone()]);
    let e = s
        .invitations()
        .revoke_invitation(pb::RevokeInvitationRequest { id: late.clone(), ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(precondition(&e), "INVITATION_EXPIRED");

    // Resend reopens it with a new token and expiry; the old token is superseded.
    let resent = s
        .invitations()
        .resend_invitation(pb::ResendInvitationRequest {
            actor_id: "paul".into(),
            id: late.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let inv = resent.invitation.unwrap();
    assert_eq!(
        (inv.status, inv.resend_count, inv.invited_by.as_str()),
        (pb::InvitationStatus::Pending as i32, 1, "lucie")
    );
    assert_ne!(resent.token, late_token);
    let e = accept(&s, &late_token).await.unwrap_err();
    assert_eq!(precondition(&e), "INVITATION_TOKEN_SUPERSEDED");
    let a = accept(&s, &resent.token).await.unwrap();
    assert!(a.user_created);
    let e = accept(&s, &late_token).await.unwrap_err();
    assert_eq!(precondition(&e), "INVITATION_ALREADY_ACCEPTED");
    for (id, what) in [(&late, "INVITATION_ALREADY_ACCEPTED"), (&revoked, "INVITATION_REVOKED")] {
        let e = s
            .invitations()
            .resend_invitation(pb::ResendInvitationRequest { id: id.clone(), ..Default::default() })
            .await
            .unwrap_err();
        assert_eq!(precondition(&e), what);
    }

    // An unknown token is NOT_FOUND.
    let e = accept(&s, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
}

both_backends!(invitation_lifecycle => lifecycle);

// ---- concurrent double accepts ----

const RACES: usize = 20;

async fn concurrent_accepts(backend: Backend) {
    let Some(db) = TestDatabase::new(backend).await else { return };
    let s = spawn_app(test_config(&db.url)).await;
    bakery(&s, 7, false, pb::GenericAddressPolicy::Flag).await;
    let before = members(&s).await.len();
    let mut tokens = Vec::new();
    for i in 0..RACES {
        tokens.push(invite(&s, "lucie", &format!("invite{i}@exemple.fr"), &["client_user"], None).await.1);
    }
    let mut races = Vec::new();
    for token in tokens {
        let (a, b) = (s.invitations(), s.invitations());
        let request = pb::AcceptInvitationRequest { token, ..Default::default() };
        let (ra, rb) = (request.clone(), request);
        races.push(tokio::spawn(async move {
            let (x, y) = tokio::join!(async move { a.clone().accept_invitation(ra).await }, async move {
                b.clone().accept_invitation(rb).await
            });
            (x.map(|_| ()), y.map(|_| ()))
        }));
    }
    for race in races {
        let (x, y) = race.await.unwrap();
        let outcomes = [&x, &y];
        assert_eq!(outcomes.iter().filter(|r| r.is_ok()).count(), 1, "exactly one accept wins: {x:?} {y:?}");
        let loser = outcomes.iter().find_map(|r| r.as_ref().err()).unwrap();
        assert_eq!(precondition(loser), "INVITATION_ALREADY_ACCEPTED", "{loser:?}");
    }
    assert_eq!(members(&s).await.len(), before + RACES, "one membership per invitation");
    eprintln!("{RACES} concurrent pairs of accepts on {backend:?}: one membership each");
}

both_backends!(concurrent_double_accepts => concurrent_accepts);

// ---- the email policy ----

async fn email_policy(backend: Backend) {
    let Some(db) = TestDatabase::new(backend).await else { return };
    let s = spawn_app(test_config(&db.url)).await;
    bakery(&s, 7, false, pb::GenericAddressPolicy::Flag).await;
    let create = |email: &str| requests::invitation("lucie", "boulangerie", email, &["client_user"]);

    // The firm's own domain is forbidden, subdomains and case included, for invitations and users.
    for email in ["jean@cabinet-leclerc.fr", "Jean@Paris.CABINET-LECLERC.fr", "info@cabinet-leclerc.fr"] {
        let e = s.invitations().create_invitation(create(email)).await.unwrap_err();
        assert_eq!(
            (e.code(), precondition(&e).as_str()),
            (Code::FailedPrecondition, "EMAIL_DOMAIN_FORBIDDEN"),
            "{email}"
        );
    }
    let e = s
        .users()
        .create_user(requests::user_for("lucie", "boulangerie", "", "jean@cabinet-leclerc.fr"))
        .await
        .unwrap_err();
    assert_eq!(precondition(&e), "EMAIL_DOMAIN_FORBIDDEN");
    // Without an account, no account's policy applies.
    s.users().create_user(requests::user("", "jean@cabinet-leclerc.fr")).await.unwrap();

    // A generic address is flagged…
    let r = s.invitations().create_invitation(create("Contact@boulangerie-martin.fr")).await.unwrap().into_inner();
    assert!(r.email_flagged);
    assert!(r.email_flag_reason.contains("contact@ is a generic address"), "{}", r.email_flag_reason);
    let r = s.invitations().create_invitation(create("marc@boulangerie-martin.fr")).await.unwrap().into_inner();
    assert!(!r.email_flagged && r.email_flag_reason.is_empty());

    // …or refused, as the account says.
    s.accounts()
        .update_account_settings(pb::UpdateAccountSettingsRequest {
            account_id: "boulangerie".into(),
            settings: Some(settings(7, false, pb::GenericAddressPolicy::Reject)),
            ..Default::default()
        })
        .await
        .unwrap();
    let e = s.invitations().create_invitation(create("compta+2025@boulangerie-martin.fr")).await.unwrap_err();
    assert_eq!((e.code(), precondition(&e).as_str()), (Code::FailedPrecondition, "GENERIC_ADDRESS_REJECTED"));
    let e = s
        .users()
        .create_user(requests::user_for("", "boulangerie", "", "info@boulangerie-martin.fr"))
        .await
        .unwrap_err();
    assert_eq!(precondition(&e), "GENERIC_ADDRESS_REJECTED");
    // Nothing was written for the refused ones.
    let all = s
        .invitations()
        .list_invitations(pb::ListInvitationsRequest { account_id: "boulangerie".into(), ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .invitations;
    let emails: Vec<&str> = all.iter().map(|i| i.email.as_str()).collect();
    assert_eq!(emails, vec!["marc@boulangerie-martin.fr", "contact@boulangerie-martin.fr"]);
}

both_backends!(email_policy => email_policy);

// ---- no escalation, permissions ----

async fn no_escalation(backend: Backend) {
    let Some(db) = TestDatabase::new(backend).await else { return };
    let s = spawn_app(test_config(&db.url)).await;
    bakery(&s, 7, false, pb::GenericAddressPolicy::Flag).await;
    // A "gestionnaire" manages users and views what a client user views, no more.
    let view = |f: &str| pb::FeatureGrant { feature: f.into(), level: pb::Level::View as i32 };
    let mut grants: Vec<pb::FeatureGrant> = [
        "billing",
        "invoices",
        "offers",
        "subscriptions",
        "notifications",
        "folders",
        "support_tickets",
        "hosting",
        "voip_cdr",
        "contacts",
    ]
    .into_iter()
    .map(view)
    .collect();
    grants.push(pb::FeatureGrant { feature: "users".into(), level: pb::Level::Full as i32 });
    s.roles()
        .create_role(pb::CreateRoleRequest {
            account_id: "boulangerie".into(),
            name: "gestionnaire".into(),
            display_name: "Gestionnaire".into(),
            grants,
            ..Default::default()
        })
        .await
        .unwrap();
    s.users().create_user(requests::user("gaston", "gaston@boulangerie-martin.fr")).await.unwrap();
    s.memberships()
        .create_membership(requests::membership("", "boulangerie", "gaston", &["gestionnaire"]))
        .await
        .unwrap();

    // He may invite a client user (within what he holds)…
    invite(&s, "gaston", "marc@boulangerie-martin.fr", &["client_user"], None).await;
    // …but not a client administrator: the first level out of his reach is named, nothing is written.
    let e = s
        .invitations()
        .create_invitation(requests::invitation(
            "gaston",
            "boulangerie",
            "boss@boulangerie-martin.fr",
            &["client_administrator"],
        ))
        .await
        .unwrap_err();
    assert_eq!((e.code(), missing_permission(&e).as_str()), (Code::PermissionDenied, "access_approvals:full"));
    assert!(e.message().contains("access_approvals:full"), "{}", e.message());
    assert_eq!(list(&s, pb::InvitationStatus::Unspecified).await.len(), 1);
    // The same rule for a direct membership.
    s.users().create_user(requests::user("hugo", "hugo@boulangerie-martin.fr")).await.unwrap();
    let e = s
        .memberships()
        .create_membership(requests::membership("gaston", "boulangerie", "hugo", &["client_administrator"]))
        .await
        .unwrap_err();
    assert_eq!((e.code(), missing_permission(&e).as_str()), (Code::PermissionDenied, "access_approvals:full"));

    // A client user may not invite at all, nor read the pending requests.
    let e = s
        .invitations()
        .create_invitation(requests::invitation("odile", "boulangerie", "x@boulangerie-martin.fr", &["client_user"]))
        .await
        .unwrap_err();
    assert_eq!((e.code(), missing_permission(&e).as_str()), (Code::PermissionDenied, "users:full"));
    let e = s
        .approvals()
        .list_pending_approvals(pb::ListPendingApprovalsRequest {
            actor_id: "odile".into(),
            account_id: "boulangerie".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!((e.code(), missing_permission(&e).as_str()), (Code::PermissionDenied, "access_approvals:view"));
}

both_backends!(no_escalation => no_escalation);

// ---- bad input ----

#[tokio::test(flavor = "multi_thread")]
async fn invitation_and_approval_bad_input() {
    let db = TestDatabase::new(Backend::Sqlite).await.unwrap();
    let s = spawn_app(test_config(&db.url)).await;
    bakery(&s, 7, true, pb::GenericAddressPolicy::Flag).await;
    let good = requests::invitation("", "boulangerie", "marc@boulangerie-martin.fr", &["client_user"]);
    let seventeen: Vec<String> = (0..17).map(|i| format!("r{i}")).collect();
    let cases: Vec<(pb::CreateInvitationRequest, Code, Vec<&str>)> = vec![
        (
            pb::CreateInvitationRequest { account_id: String::new(), ..good.clone() },
            Code::InvalidArgument,
            vec!["account_id"],
        ),
        (pb::CreateInvitationRequest { email: "marc".into(), ..good.clone() }, Code::InvalidArgument, vec!["email"]),
        (pb::CreateInvitationRequest { roles: vec![], ..good.clone() }, Code::InvalidArgument, vec!["roles"]),
        (pb::CreateInvitationRequest { roles: seventeen, ..good.clone() }, Code::InvalidArgument, vec!["roles"]),
        (
            pb::CreateInvitationRequest { roles: vec!["client_user".into(), "client_user".into()], ..good.clone() },
            Code::InvalidArgument,
            vec!["roles[1]"],
        ),
        (
            pb::CreateInvitationRequest { roles: vec!["Bad".into()], ..good.clone() },
            Code::InvalidArgument,
            vec!["roles[0]"],
        ),
        (
            pb::CreateInvitationRequest { roles: vec!["nope".into()], ..good.clone() },
            Code::InvalidArgument,
            vec!["roles[0]"],
        ),
        (
            pb::CreateInvitationRequest {
                restriction: Some(pb::ResourceRestriction {
                    restricted: false,
                    resource_ids: vec!["dossier-a".into()],
                    ..Default::default()
                }),
                ..good.clone()
            },
            Code::InvalidArgument,
            vec!["restriction.resource_ids"],
        ),
        (
            pb::CreateInvitationRequest { restriction: requests::restricted(&["ailleurs"]), ..good.clone() },
            Code::InvalidArgument,
            vec!["restriction.resource_ids[0]"],
        ),
        (pb::CreateInvitationRequest { id: "/x".into(), ..good.clone() }, Code::InvalidArgument, vec!["id"]),
        (
            pb::CreateInvitationRequest { actor_id: "x y".into(), ..good.clone() },
            Code::InvalidArgument,
            vec!["actor_id"],
        ),
        (
            pb::CreateInvitationRequest { request_id: "-".into(), ..good.clone() },
            Code::InvalidArgument,
            vec!["request_id"],
        ),
        (
            pb::CreateInvitationRequest { account_id: String::new(), email: String::new(), ..good.clone() },
            Code::InvalidArgument,
            vec!["account_id", "email"],
        ),
        (pb::CreateInvitationRequest { account_id: "inconnu".into(), ..good.clone() }, Code::NotFound, vec![]),
    ];
    for (request, code, fields) in cases {
        let e = s.invitations().create_invitation(request.clone()).await.unwrap_err();
        assert_eq!(
            (e.code(), violated_fields(&e)),
            (code, fields.iter().map(|f| (*f).to_owned()).collect()),
            "{request:?}"
        );
    }

    let fields = |e: tonic::Status| (e.code(), violated_fields(&e));
    let inv = |e| (Code::InvalidArgument, vec![String::from(e)]);
    let mut i = s.invitations();
    let e = i.get_invitation(pb::GetInvitationRequest { id: String::new(), ..Default::default() }).await.unwrap_err();
    assert_eq!(fields(e), inv("id"));
    let e = i.get_invitation(pb::GetInvitationRequest { id: "nope".into(), ..Default::default() }).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    // ListInvitations with one bad field: the field each request names.
    let bakery = || pb::ListInvitationsRequest { account_id: "boulangerie".into(), ..Default::default() };
    let bad_lists = [
        ("page_size", pb::ListInvitationsRequest { page_size: -1, ..bakery() }),
        ("status", pb::ListInvitationsRequest { status: 9, ..bakery() }),
        ("page_token", pb::ListInvitationsRequest { page_token: "zz".into(), ..bakery() }),
        ("account_id", pb::ListInvitationsRequest::default()),
    ];
    for (field, request) in bad_lists {
        let e = i.list_invitations(request).await.unwrap_err();
        assert_eq!(fields(e), inv(field), "ListInvitations with a bad {field}");
    }
    let e = i.resend_invitation(pb::ResendInvitationRequest::default()).await.unwrap_err();
    assert_eq!(fields(e), inv("id"));
    let e = i
        .revoke_invitation(pb::RevokeInvitationRequest {
            id: "x".into(),
            reason: "r".repeat(1025),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(fields(e), inv("reason"));
    for (token, field) in [("", "token"), ("short", "token"), ("a/b+c=ddddddddddddddddddddddd", "token")] {
        let e = i
            .accept_invitation(pb::AcceptInvitationRequest { token: token.into(), ..Default::default() })
            .await
            .unwrap_err();
        assert_eq!(fields(e), inv(field), "{token:?}");
    }
    let e = i
        .accept_invitation(pb::AcceptInvitationRequest {
            token: "A".repeat(43),
            phone: "0612".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(fields(e), inv("phone"));

    let mut a = s.approvals();
    let e = a.list_pending_approvals(pb::ListPendingApprovalsRequest::default()).await.unwrap_err();
    assert_eq!(fields(e), inv("account_id"));
    let e = a
        .list_pending_approvals(pb::ListPendingApprovalsRequest { account_id: "inconnu".into(), ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    let e = a.approve_membership(pb::ApproveMembershipRequest::default()).await.unwrap_err();
    assert_eq!(fields(e), inv("membership_id"));
    let e = a
        .approve_membership(pb::ApproveMembershipRequest { membership_id: "nope".into(), ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    let e = a
        .reject_membership(pb::RejectMembershipRequest { membership_id: "m-lucie".into(), ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(fields(e), inv("reason"));
    let e = a
        .reject_membership(pb::RejectMembershipRequest {
            membership_id: "m-lucie".into(),
            reason: "x".repeat(1025),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(fields(e), inv("reason"));
    let e = a
        .reject_membership(pb::RejectMembershipRequest {
            membership_id: "m-lucie".into(),
            reason: "active".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!((e.code(), precondition(&e).as_str()), (Code::FailedPrecondition, "MEMBERSHIP_NOT_PENDING"));
}
