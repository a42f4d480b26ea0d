//! ExplainAccess's suggestions end to end, on SQLite and PostgreSQL, on the demo world: what would
//! grant a deny and who may make that change — and the change made by the member named is accepted
//! by the rule book and grants — then who may read them: a check-only service, an actor of another
//! tenant, a restricted member, an unknown actor are refused them; nothing else changes in the
//! answer.

use guichet_proto::v1 as pb;
use guichet_testkit::requests;
use guichet_tests::Clients;
use guichet_tests::{Backend, Config, TestApp, TestDatabase, both_backends, spawn_app, test_config};
use pb::suggested_change::Change;
use tonic::Code;

use crate::access_requests::four_eyes;
use crate::contract::{BACKOFFICE_TOKEN, SHOP_TOKEN, shop_and_backoffice};

const BAKERY: &str = "boulangerie-martin";

async fn demo(backend: Backend) -> Option<(TestDatabase, TestApp)> {
    let db = TestDatabase::new(backend).await?;
    let s = spawn_app(Config { demo: true, ..test_config(&db.url) }).await;
    Some((db, s))
}

fn request<T>(message: T, token: Option<&str>) -> tonic::Request<T> {
    let mut r = tonic::Request::new(message);
    if let Some(t) = token {
        r.metadata_mut().insert("authorization", format!("Bearer {t}").parse().unwrap());
    }
    r
}

async fn explain_as(
    s: &TestApp,
    token: Option<&str>,
    actor: &str,
    subject: &str,
    account: &str,
    permission: &str,
    resource: &str,
) -> Result<pb::ExplainAccessResponse, tonic::Status> {
    let message = pb::ExplainAccessRequest {
        actor_id: actor.into(),
        ..requests::explain(subject, account, permission, resource)
    };
    s.access().explain_access(request(message, token)).await.map(tonic::Response::into_inner)
}

async fn explain(
    s: &TestApp,
    subject: &str,
    account: &str,
    permission: &str,
    resource: &str,
) -> pb::ExplainAccessResponse {
    explain_as(s, None, "", subject, account, permission, resource).await.unwrap()
}

async fn allowed(s: &TestApp, subject: &str, account: &str, permission: &str, resource: &str) -> bool {
    s.access().check_access(requests::check(subject, account, permission, resource)).await.unwrap().into_inner().allowed
}

fn fixers(c: &pb::SuggestedChange) -> Vec<(&str, &str)> {
    c.fixers.iter().map(|f| (f.user_id.as_str(), f.via_delegation_id.as_str())).collect()
}

/// Marc is denied the legal folder: ExplainAccess names the restriction and Lucie (the bakery's
/// administrator) first, then the partner's Claire and David (through its delegation); never Marc. Lucie lifts
/// it as suggested — the rule book accepts it — and Marc then reads the folder. With four-eyes on,
/// the change says it waits for a second approver.
async fn marc_and_the_legal_folder(backend: Backend) {
    let Some((_db, s)) = demo(backend).await else { return };
    let e = explain(&s, "marc", BAKERY, "folders:view", "bm-dossier-juridique").await;
    assert!(!e.decision.as_ref().unwrap().allowed);
    assert!(!e.suggestions_withheld);
    let first = &e.suggestions[0].changes;
    assert_eq!(first.len(), 1, "{first:#?}");
    let c = &first[0];
    assert_eq!(
        c.change,
        Some(Change::ExtendRestriction(pb::ExtendRestrictionChange {
            membership_id: "m-marc".into(),
            resource_id: "bm-dossier-juridique".into(),
            level: pb::Level::View.into(),
        }))
    );
    assert_eq!(c.rpc, "guichet.v1.MembershipService/SetResourceRestriction");
    assert_eq!(c.decided_in_account_id, BAKERY);
    // Claire (the partner's account manager) and David act through the delegation.
    assert_eq!(fixers(c), [("lucie", ""), ("claire", "d-nuage-boulangerie"), ("david", "d-nuage-boulangerie")]);
    assert!(!c.more_fixers);
    assert!(!c.four_eyes);
    for s in &e.suggestions {
        for c in &s.changes {
            assert!(c.fixers.iter().all(|f| f.user_id != "marc"), "never the subject: {c:#?}");
        }
    }

    // Four-eyes on: the same change now says the access waits for a second approver.
    four_eyes(&s, true).await;
    let e = explain(&s, "marc", BAKERY, "folders:view", "bm-dossier-juridique").await;
    assert!(e.suggestions[0].changes[0].four_eyes);

    // Lucie makes the change as suggested, on her own authority: accepted, and Marc reads it.
    s.memberships()
        .set_resource_restriction(pb::SetResourceRestrictionRequest {
            actor_id: "lucie".into(),
            membership_id: "m-marc".into(),
            restriction: Some(pb::ResourceRestriction {
                restricted: true,
                resource_ids: vec!["bm-dossier-2025".into()],
                resource_levels: vec![pb::ResourceLevel {
                    resource_id: "bm-dossier-juridique".into(),
                    level: pb::Level::View.into(),
                }],
            }),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(allowed(&s, "marc", BAKERY, "folders:view", "bm-dossier-juridique").await);
    let e = explain(&s, "marc", BAKERY, "folders:view", "bm-dossier-juridique").await;
    assert!(e.suggestions.is_empty(), "allowed: nothing to suggest");
    assert!(s.stop().await.success());
}

/// David, a partner member without a delegation into the cheese shop: the suggestion is a
/// delegation from his partner, decided by the cheese shop, whose administrator (Odile) is named —
/// not the partner's or the sub-partner's staff. Odile makes it; David then reaches the shop.
async fn a_partner_member_without_delegation(backend: Backend) {
    let Some((_db, s)) = demo(backend).await else { return };
    let e = explain(&s, "david", "fromagerie-dupont", "users:view", "").await;
    assert_eq!(e.decision.as_ref().unwrap().reason_code, "no_access_path");
    assert!(!e.suggestions.is_empty());
    let mut roles = Vec::new();
    for suggestion in &e.suggestions {
        let [c] = &suggestion.changes[..] else { panic!("one change: {suggestion:#?}") };
        let Some(Change::CreateDelegation(d)) = &c.change else { panic!("a delegation: {c:#?}") };
        assert_eq!(d.from_account_id, "nuage-partenaires");
        assert_eq!(d.to_account_id, "fromagerie-dupont");
        assert_eq!(c.decided_in_account_id, "fromagerie-dupont");
        assert_eq!(fixers(c), [("odile", "")], "the customer's administrators decide");
        roles.push(d.role.clone());
    }
    // Odile enables it with the first (smallest) role suggested: accepted, and David reaches the shop.
    s.delegations()
        .create_delegation(pb::CreateDelegationRequest {
            actor_id: "odile".into(),
            from_account_id: "nuage-partenaires".into(),
            to_account_id: "fromagerie-dupont".into(),
            role: roles[0].clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(allowed(&s, "david", "fromagerie-dupont", "users:view", "").await);
    assert!(s.stop().await.success());
}

/// The telecom customer has not subscribed to 911 address management: the suggestion enables the
/// module, decided in the affiliate above it — whose staff are not named (they are not members of
/// the customer, and no delegation brings them in).
async fn a_disabled_module(backend: Backend) {
    let Some((_db, s)) = demo(backend).await else { return };
    let e = explain(&s, "paul", "cabinet-leclerc", "voip_911:view", "").await;
    assert_eq!(e.decision.as_ref().unwrap().reason_code, "module_disabled");
    assert!(!e.suggestions.is_empty());
    for suggestion in &e.suggestions {
        let c = &suggestion.changes[0];
        assert_eq!(
            c.change,
            Some(Change::EnableModule(pb::EnableModuleChange {
                account_id: "cabinet-leclerc".into(),
                feature: "voip_911".into(),
            }))
        );
        assert_eq!(c.rpc, "guichet.v1.AccountService/SetAccountModules");
        assert_eq!(c.decided_in_account_id, "reseau-affilie");
        assert!(c.fixers.is_empty(), "Karim (the affiliate) is not a member of the customer: {c:#?}");
    }
    assert!(s.stop().await.success());
}

/// Who may read suggestions: a service with the admin scope and no actor, or an actor holding
/// users:view in the account. A check-only service alone, an actor of another tenant, a
/// restricted member without users:view, an unknown actor: withheld, and the decision is the
/// same. An admin service naming an actor gets what the actor may see.
async fn nothing_leaks(backend: Backend) {
    let Some(db) = TestDatabase::new(backend).await else { return };
    let s = spawn_app(shop_and_backoffice(&db.url, true)).await;
    let ask = |token: &'static str, actor: &'static str| {
        let s = &s;
        async move { explain_as(s, Some(token), actor, "marc", BAKERY, "folders:view", "bm-dossier-juridique").await }
    };
    let given = ask(BACKOFFICE_TOKEN, "").await.unwrap();
    assert!(!given.suggestions_withheld);
    assert!(!given.suggestions.is_empty());

    let withheld = |e: &pb::ExplainAccessResponse, who: &str| {
        assert!(e.suggestions_withheld, "{who}: {e:#?}");
        assert!(e.suggestions.is_empty(), "{who}");
        assert!(!e.suggestions_withheld_reason.is_empty(), "{who}");
        // The decision and its explanation are the same.
        assert_eq!(e.paths, given.paths, "{who}");
        assert_eq!(e.decision.as_ref().unwrap().reason_code, given.decision.as_ref().unwrap().reason_code);
    };
    // The check-only service, on its own.
    let e = ask(SHOP_TOKEN, "").await.unwrap();
    withheld(&e, "check-only service");
    assert!(e.suggestions_withheld_reason.contains("check scope"), "{}", e.suggestions_withheld_reason);
    // An actor of another tenant (the cheese shop's administrator), through either service.
    withheld(&ask(SHOP_TOKEN, "odile").await.unwrap(), "odile via the shop");
    withheld(&ask(BACKOFFICE_TOKEN, "odile").await.unwrap(), "odile via the back office");
    // A restricted member of the bakery without users:view (Anne, the bookkeeper), Marc himself.
    withheld(&ask(SHOP_TOKEN, "anne").await.unwrap(), "anne");
    withheld(&ask(SHOP_TOKEN, "marc").await.unwrap(), "marc");
    // A partner member whose role does not act through the delegation (the billing clerk).
    withheld(&ask(SHOP_TOKEN, "bruno").await.unwrap(), "bruno");
    // An unknown actor.
    withheld(&ask(SHOP_TOKEN, "nobody").await.unwrap(), "an unknown actor");

    // Lucie (users:view in the bakery) and David (through the delegation) may read them.
    for actor in ["lucie", "david"] {
        let e = ask(SHOP_TOKEN, actor).await.unwrap();
        assert!(!e.suggestions_withheld, "{actor}");
        assert_eq!(e.suggestions, given.suggestions, "{actor}");
    }
    // A bad actor id is the client's error; no credentials is still UNAUTHENTICATED.
    let e = ask(SHOP_TOKEN, "bad/id").await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    let e = explain_as(&s, None, "", "marc", BAKERY, "folders:view", "").await.unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    assert!(s.stop().await.success());
}

both_backends! {
    marc_is_told_the_restriction_and_lucie => marc_and_the_legal_folder,
    a_partner_member_without_delegation_is_told_a_delegation => a_partner_member_without_delegation,
    a_disabled_module_is_enabled_in_the_parent => a_disabled_module,
    suggestions_are_given_only_to_who_may_read_the_members => nothing_leaks,
}
