//! The seeds' stories that other modules do not tell, in the seeds' own words, end to end on SQLite
//! and PostgreSQL: 000 (profiles with None / View only / Full access, the account choice) and 002
//! (an owner invites users by email with some permissions and some folders; 7-day invitations; an
//! existing login is reused; the owner edits and removes; one account logs straight in, several
//! are switched between). Seed 001 is told in `invitations.rs`, 003 in `scenario.rs`, 004 (contacts
//! and the ordered communication lists) in `contacts.rs`.

use guichet_proto::v1 as pb;
use guichet_testkit::requests;
use guichet_tests::Clients;
use guichet_tests::{Backend, TestApp, TestDatabase, both_backends, details, spawn_app, test_config};
use tonic::Code;

use crate::scenario::check;
use crate::worlds;

async fn member(s: &TestApp, actor: &str, id: &str, account: &str, user: &str, role: &str) {
    let request = pb::CreateMembershipRequest { id: id.into(), ..requests::membership(actor, account, user, &[role]) };
    s.memberships().create_membership(request).await.unwrap();
}

fn grant(feature: &str, level: pb::Level) -> pb::FeatureGrant {
    pb::FeatureGrant { feature: feature.into(), level: level as i32 }
}

fn missing_permission(e: &tonic::Status) -> String {
    details(e).error_info().and_then(|i| i.metadata.get("permission").cloned()).unwrap_or_default()
}

async fn my_accounts(s: &TestApp, user: &str) -> (Vec<String>, String) {
    let r = s
        .users()
        .list_my_accounts(pb::ListMyAccountsRequest { user_id: user.into(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    (r.accounts.iter().map(|m| m.account.as_ref().unwrap().id.clone()).collect(), r.default_account_id)
}

async fn seed_000(backend: Backend) {
    let Some(db) = TestDatabase::new(backend).await else {
        return;
    };
    let s = spawn_app(test_config(&db.url)).await;
    // A contract account of the Reveal portal, its administrator, and two users who will share a
    // profile.
    worlds::load_world(&s, &worlds::seed_000()).await;

    // "Profiles set, per portal feature, one of None / View only / Full access."
    s.roles()
        .create_role(pb::CreateRoleRequest {
            actor_id: "admin".into(),
            account_id: "reveal".into(),
            name: "comptabilite".into(),
            display_name: "Comptabilité".into(),
            grants: vec![
                grant("billing", pb::Level::Full),
                grant("invoices", pb::Level::View),
                grant("hosting", pb::Level::None),
            ],
            ..Default::default()
        })
        .await
        .unwrap();
    member(&s, "admin", "m-julie", "reveal", "julie", "comptabilite").await;
    member(&s, "admin", "m-marc", "reveal", "marc", "comptabilite").await;

    // "Every user of a profile gets the same level."
    for u in ["julie", "marc"] {
        assert!(check(&s, u, "reveal", "billing:full", "").await.allowed, "{u} has full access to billing");
        assert!(check(&s, u, "reveal", "invoices:view", "").await.allowed, "{u} views invoices");
        let r = check(&s, u, "reveal", "invoices:full", "").await;
        assert_eq!((r.allowed, r.reason_code.as_str()), (false, "insufficient_level"), "{u}: view only");
        assert!(!check(&s, u, "reveal", "hosting:view", "").await.allowed, "{u}: none on hosting");
    }

    // "Admins have full access and are the only ones who can edit profiles; others see them
    // greyed out."
    assert!(check(&s, "admin", "reveal", "users:full", "").await.allowed);
    let raise_invoices = |actor: &str| pb::UpdateRoleRequest {
        actor_id: actor.into(),
        account_id: "reveal".into(),
        name: "comptabilite".into(),
        display_name: "Comptabilité".into(),
        grants: vec![grant("billing", pb::Level::Full), grant("invoices", pb::Level::Full)],
        ..Default::default()
    };
    let e = s.roles().update_role(raise_invoices("julie")).await.unwrap_err();
    assert_eq!((e.code(), missing_permission(&e).as_str()), (Code::PermissionDenied, "users:full"));
    assert!(!check(&s, "marc", "reveal", "invoices:full", "").await.allowed, "nothing changed");
    // The administrator raises invoices to full access: both users of the profile have it at once.
    s.roles().update_role(raise_invoices("admin")).await.unwrap();
    for u in ["julie", "marc"] {
        assert!(check(&s, u, "reveal", "invoices:full", "").await.allowed, "{u} follows the profile");
    }

    // "A user with several contract accounts picks one; with one, no choice is asked."
    assert_eq!(my_accounts(&s, "julie").await, (vec!["reveal".to_owned()], "reveal".to_owned()));
    member(&s, "", "m-marc-2", "reveal-2", "marc", "billing_manager").await;
    let (accounts, default) = my_accounts(&s, "marc").await;
    assert_eq!(accounts.len(), 2);
    assert!(accounts.contains(&"reveal".to_owned()) && accounts.contains(&"reveal-2".to_owned()));
    assert_eq!(default, "", "Marc picks his contract account");
}

both_backends!(seed_000_profiles_story => seed_000);

async fn seed_002(backend: Backend) {
    let Some(db) = TestDatabase::new(backend).await else {
        return;
    };
    let s = spawn_app(test_config(&db.url)).await;
    // The hosting provider, Paul's workshop (an account holding products) and its owner; Léa
    // already has a login, for another customer of the provider.
    worlds::load_world(&s, &worlds::seed_002()).await;
    for (id, name) in [("site-vitrine", "Site vitrine"), ("boutique", "Boutique en ligne")] {
        s.resources().create_resource(requests::folder("paul", id, "atelier", name)).await.unwrap();
    }
    // "Choosing all or some permissions (e.g. hosting but not billing)."
    s.roles()
        .create_role(pb::CreateRoleRequest {
            actor_id: "paul".into(),
            account_id: "atelier".into(),
            name: "webmestre".into(),
            display_name: "Webmestre".into(),
            grants: vec![grant("hosting", pb::Level::Full), grant("folders", pb::Level::View)],
            ..Default::default()
        })
        .await
        .unwrap();

    // "The owner invites users by email", here with one of the two sites only.
    let invite = |email: &str, id: &str| pb::CreateInvitationRequest {
        actor_id: "paul".into(),
        id: id.into(),
        account_id: "atelier".into(),
        email: email.into(),
        roles: vec!["webmestre".into()],
        restriction: requests::restricted(&["site-vitrine"]),
        ..Default::default()
    };
    let for_lea =
        s.invitations().create_invitation(invite("Lea@Studio-Exemple.fr", "inv-lea")).await.unwrap().into_inner();
    let inv = for_lea.invitation.clone().unwrap();
    assert_eq!((inv.email.as_str(), inv.invited_by.as_str()), ("lea@studio-exemple.fr", "paul"));
    assert_eq!(inv.status, pb::InvitationStatus::Pending as i32);
    // "Invitations expire after 7 days."
    let (created, expires) = (inv.create_time.unwrap(), inv.expire_time.unwrap());
    assert_eq!(expires.seconds - created.seconds, 7 * 24 * 3600);

    // "An invited email that already has a login uses it."
    let accepted = s
        .invitations()
        .accept_invitation(pb::AcceptInvitationRequest { token: for_lea.token.clone(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert!(!accepted.user_created);
    assert_eq!(accepted.user.unwrap().id, "lea");
    let m_lea = accepted.membership.unwrap().id;
    // Hosting but not billing; the site she was given, not the shop.
    assert!(check(&s, "lea", "atelier", "hosting:full", "").await.allowed);
    assert!(!check(&s, "lea", "atelier", "billing:view", "").await.allowed);
    assert!(check(&s, "lea", "atelier", "folders:view", "site-vitrine").await.allowed);
    let r = check(&s, "lea", "atelier", "folders:view", "boutique").await;
    assert_eq!((r.allowed, r.reason_code.as_str()), (false, "resource_not_granted"));

    // "Otherwise the person creates one."
    let for_hugo = s.invitations().create_invitation(invite("hugo@graphisme-exemple.fr", "inv-hugo")).await.unwrap();
    let accepted = s
        .invitations()
        .accept_invitation(pb::AcceptInvitationRequest {
            token: for_hugo.into_inner().token,
            given_name: "Hugo".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(accepted.user_created);
    let hugo = accepted.user.unwrap();
    assert_eq!(hugo.email, "hugo@graphisme-exemple.fr");

    // "A user with one account is logged straight into it; with several, picks one and can switch
    // accounts at any time."
    assert_eq!(my_accounts(&s, &hugo.id).await, (vec!["atelier".to_owned()], "atelier".to_owned()));
    let (accounts, default) = my_accounts(&s, "lea").await;
    assert_eq!((accounts.len(), default.as_str()), (2, ""));
    assert!(check(&s, "lea", "fleuriste", "billing:view", "").await.allowed, "switched to the florist");

    // "Owners edit users' permissions or remove them."
    s.memberships()
        .set_resource_restriction(pb::SetResourceRestrictionRequest {
            actor_id: "paul".into(),
            membership_id: m_lea.clone(),
            restriction: requests::restricted(&["site-vitrine", "boutique"]),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(check(&s, "lea", "atelier", "folders:view", "boutique").await.allowed);
    s.memberships()
        .delete_membership(pb::DeleteMembershipRequest {
            actor_id: "paul".into(),
            membership_id: m_lea,
            ..Default::default()
        })
        .await
        .unwrap();
    let r = check(&s, "lea", "atelier", "hosting:view", "").await;
    assert_eq!((r.allowed, r.reason_code.as_str()), (false, "no_access_path"));
    assert!(check(&s, "lea", "fleuriste", "billing:view", "").await.allowed, "her other account is untouched");
}

both_backends!(seed_002_invitations_story => seed_002);
