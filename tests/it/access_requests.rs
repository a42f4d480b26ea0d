//! Access requests end to end (issue 18, item 2), on SQLite and PostgreSQL, on the demo world:
//! Marc is denied the legal folder → ExplainAccess names the change and Lucie → Marc requests it →
//! Lucie's approval alone does not grant (the bakery requires four-eyes: the request waits) →
//! David approves → the next check allows; rejection, cancellation, expiry by moving the clock
//! (never slept); four-eyes (the requester never approves); an approver lacking the level cannot
//! grant more than it holds; who may ask, read and decide (another tenant, a restricted member, a
//! check-only service, no credentials); bad input; idempotent retries; an approval of two changes
//! applies both or neither.

use std::time::Duration;

use guichet_proto::v1 as pb;
use guichet_testkit::requests;
use guichet_tests::Clients;
use guichet_tests::{
    Backend, Config, ManualClock, TestApp, TestDatabase, both_backends, details, store_revision, test_config,
    violated_fields,
};
use tonic::Code;

use crate::contract::{BACKOFFICE_TOKEN, SHOP_TOKEN, shop_and_backoffice, with_token};
use crate::watch::read_until_type;

const BAKERY: &str = "boulangerie-martin";
const LEGAL: &str = "bm-dossier-juridique";

async fn demo(backend: Backend) -> Option<(TestDatabase, ManualClock, TestApp)> {
    let db = TestDatabase::new(backend).await?;
    let clock = ManualClock::new();
    let mut config = Config { demo: true, ..test_config(&db.url) };
    config.access_requests.expire_after_secs = 3_600;
    let s = TestApp::builder(config).clock(clock.clone()).start().await;
    Some((db, clock, s))
}

/// Turns the bakery's four-eyes rule (`requires_approval`) on or off.
pub async fn four_eyes(s: &TestApp, on: bool) {
    s.accounts()
        .update_account_settings(pb::UpdateAccountSettingsRequest {
            account_id: BAKERY.into(),
            settings: Some(pb::AccountSettings { requires_approval: on, ..Default::default() }),
            ..Default::default()
        })
        .await
        .unwrap();
}

fn ask(actor: &str, permission: &str, resource: &str) -> pb::RequestAccessRequest {
    pb::RequestAccessRequest {
        actor_id: actor.into(),
        account_id: BAKERY.into(),
        permission: permission.into(),
        resource_id: resource.into(),
        reason: "je prépare l'assemblée générale".into(),
        ..Default::default()
    }
}

async fn request(s: &TestApp, r: pb::RequestAccessRequest) -> Result<pb::AccessRequest, tonic::Status> {
    s.approvals().request_access(r).await.map(|r| r.into_inner().access_request.unwrap())
}

async fn marc_asks_for_the_legal_folder(s: &TestApp) -> pb::AccessRequest {
    request(s, ask("marc", "folders:view", LEGAL)).await.unwrap()
}

fn approve(actor: &str, r: &pb::AccessRequest) -> pb::ApproveAccessRequestRequest {
    pb::ApproveAccessRequestRequest {
        actor_id: actor.into(),
        access_request_id: r.id.clone(),
        version: r.version.clone(),
        ..Default::default()
    }
}

async fn approved(
    s: &TestApp,
    a: pb::ApproveAccessRequestRequest,
) -> Result<(pb::AccessRequest, String), tonic::Status> {
    s.approvals().approve_access_request(a).await.map(|r| {
        let r = r.into_inner();
        (r.access_request.unwrap(), r.revision)
    })
}

async fn get(s: &TestApp, actor: &str, id: &str) -> Result<pb::AccessRequest, tonic::Status> {
    s.approvals()
        .get_access_request(pb::GetAccessRequestRequest { actor_id: actor.into(), access_request_id: id.into() })
        .await
        .map(|r| r.into_inner().access_request.unwrap())
}

async fn allowed(s: &TestApp, subject: &str, permission: &str, resource: &str, revision: &str) -> bool {
    let consistency = (!revision.is_empty())
        .then(|| pb::Consistency { requirement: Some(pb::consistency::Requirement::AtLeastAsFresh(revision.into())) });
    s.access()
        .check_access(pb::CheckAccessRequest {
            subject_id: subject.into(),
            account_id: BAKERY.into(),
            permission: permission.into(),
            resource_id: resource.into(),
            consistency,
        })
        .await
        .unwrap()
        .into_inner()
        .allowed
}

fn status(r: &pb::AccessRequest) -> pb::AccessRequestStatus {
    pb::AccessRequestStatus::try_from(r.status).unwrap()
}

/// The precondition type of a FAILED_PRECONDITION, or the ErrorInfo reason of another code.
fn reason(e: &tonic::Status) -> String {
    let d = details(e);
    if let Some(p) = d.precondition_failure() {
        return p.violations.first().map(|v| v.r#type.clone()).unwrap_or_default();
    }
    d.error_info().map(|i| i.reason.clone()).unwrap_or_default()
}

async fn pending(s: &TestApp, actor: &str) -> Vec<pb::Approval> {
    s.approvals()
        .list_pending_approvals(pb::ListPendingApprovalsRequest {
            actor_id: actor.into(),
            account_id: BAKERY.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .approvals
}

async fn event_types(s: &TestApp) -> Vec<(String, String, String)> {
    s.events()
        .list_events(pb::ListEventsRequest { account_id: BAKERY.into(), page_size: 200, ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .events
        .into_iter()
        .map(|e| (e.r#type, e.target_id, e.revision))
        .collect()
}

/// The seed story, four-eyes on: deny → ExplainAccess names the change and Lucie → Marc asks →
/// Lucie's approval is recorded, not applied → neither Marc nor Lucie again may approve → David
/// applies it, through SetResourceRestriction in the same write → the next check allows.
async fn the_story_of_marc_and_the_legal_folder(backend: Backend) {
    let Some((_db, _clock, s)) = demo(backend).await else { return };
    four_eyes(&s, true).await;
    assert!(!allowed(&s, "marc", "folders:view", LEGAL, "").await);
    let e =
        s.access().explain_access(requests::explain("marc", BAKERY, "folders:view", LEGAL)).await.unwrap().into_inner();
    let first = &e.suggestions[0].changes[0];
    assert_eq!(first.rpc, "guichet.v1.MembershipService/SetResourceRestriction");
    assert_eq!(first.fixers[0].user_id, "lucie");
    assert!(first.four_eyes);

    let r = marc_asks_for_the_legal_folder(&s).await;
    assert_eq!(status(&r), pb::AccessRequestStatus::Pending);
    assert_eq!(
        (r.requester_id.as_str(), r.permission.as_str(), r.resource_id.as_str()),
        ("marc", "folders:view", LEGAL)
    );
    assert_eq!(r.approver_ids.first().map(String::as_str), Some("lucie"), "own members first: {r:?}");
    assert!(r.approver_ids.iter().any(|a| a == "david"), "{r:?}");
    assert!(!r.approver_ids.iter().any(|a| a == "marc"), "never the requester");
    let expiry = r.expire_time.unwrap().seconds - r.create_time.unwrap().seconds;
    assert_eq!(expiry, 3_600, "[access_requests] expire_after_secs");

    // It lists beside pending memberships, for Lucie (access_approvals:view).
    let list = pending(&s, "lucie").await;
    let listed: Vec<&pb::AccessRequest> = list.iter().filter_map(|a| a.access_request.as_ref()).collect();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, r.id);
    assert_eq!(list[0].requested_by, "marc");
    assert!(list[0].membership.is_none());

    // Marc never approves his own request.
    let e = approved(&s, approve("marc", &r)).await.unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");

    // Lucie approves: under four-eyes it is recorded, and the request waits.
    let (after_lucie, _) = approved(&s, approve("lucie", &r)).await.unwrap();
    assert_eq!(status(&after_lucie), pb::AccessRequestStatus::Pending);
    assert_eq!(after_lucie.first_approved_by, "lucie");
    assert_ne!(after_lucie.version, r.version);
    assert!(!allowed(&s, "marc", "folders:view", LEGAL, "").await, "one approval is not enough");
    // Not twice, and not at the old version.
    let e = approved(&s, approve("lucie", &after_lucie)).await.unwrap_err();
    assert_eq!((e.code(), reason(&e).as_str()), (Code::FailedPrecondition, "FOUR_EYES"), "{e:?}");
    let e = approved(&s, approve("david", &r)).await.unwrap_err();
    assert_eq!((e.code(), reason(&e).as_str()), (Code::FailedPrecondition, "STALE_VERSION"), "{e:?}");

    // David (through the partner's delegation) approves: applied, and the next check allows.
    let (done, revision) = approved(&s, approve("david", &after_lucie)).await.unwrap();
    assert_eq!(status(&done), pb::AccessRequestStatus::Approved);
    assert_eq!(done.decided_by, "david");
    assert_eq!(done.first_approved_by, "lucie");
    assert_eq!(done.applied_changes.len(), 1);
    assert!(done.applied_changes[0].starts_with("guichet.v1.MembershipService/SetResourceRestriction"), "{done:?}");
    assert!(allowed(&s, "marc", "folders:view", LEGAL, &revision).await);
    assert!(allowed(&s, "marc", "folders:view", LEGAL, "").await);
    // Still only the legal folder added: the payroll folder stays out of reach.
    assert!(!allowed(&s, "marc", "folders:view", "bm-dossier-paie", "").await);

    // Every step is an audit event; the approval is in the change's own write.
    let events = event_types(&s).await;
    let of = |t: &str| events.iter().filter(|(k, id, _)| k == t && *id == r.id).count();
    assert_eq!(
        (of("access_request.created"), of("access_request.first_approved"), of("access_request.approved")),
        (1, 1, 1)
    );
    let approved_at = events.iter().find(|(k, _, _)| k == "access_request.approved").unwrap().2.clone();
    assert!(
        events
            .iter()
            .any(|(k, id, rev)| k == "membership.restriction_changed" && id == "m-marc" && *rev == approved_at),
        "{events:?}"
    );
    // Polled by Marc; no longer pending; his own list.
    assert_eq!(status(&get(&s, "marc", &r.id).await.unwrap()), pb::AccessRequestStatus::Approved);
    assert!(pending(&s, "lucie").await.iter().all(|a| a.access_request.is_none()));
    let mine = s
        .approvals()
        .list_access_requests(pb::ListAccessRequestsRequest {
            actor_id: "marc".into(),
            requester_id: "marc".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(mine.access_requests.len(), 1);
    // Asking again for what he now has is refused.
    let e = request(&s, ask("marc", "folders:view", LEGAL)).await.unwrap_err();
    assert_eq!((e.code(), reason(&e).as_str()), (Code::FailedPrecondition, "ALREADY_GRANTED"), "{e:?}");
    assert!(s.stop().await.success());
}

/// Without four-eyes one approval applies; a request is rejected with a reason, or cancelled by
/// its requester — and nothing changes after that.
async fn rejected_and_cancelled(backend: Backend) {
    let Some((_db, _clock, s)) = demo(backend).await else { return };
    let r = marc_asks_for_the_legal_folder(&s).await;
    let e = s
        .approvals()
        .reject_access_request(pb::RejectAccessRequestRequest {
            actor_id: "lucie".into(),
            access_request_id: r.id.clone(),
            reason: "pas avant la fin du mois".into(),
            version: r.version.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .access_request
        .unwrap();
    assert_eq!(status(&e), pb::AccessRequestStatus::Rejected);
    assert_eq!((e.decided_by.as_str(), e.decision_reason.as_str()), ("lucie", "pas avant la fin du mois"));
    let err = approved(&s, approve("david", &e)).await.unwrap_err();
    assert_eq!((err.code(), reason(&err).as_str()), (Code::FailedPrecondition, "REQUEST_NOT_PENDING"));
    assert!(!allowed(&s, "marc", "folders:view", LEGAL, "").await);

    // Asked again, then cancelled by Marc; Lucie may not cancel it, Odile does not see it.
    let r = marc_asks_for_the_legal_folder(&s).await;
    let cancel = |actor: &str| pb::CancelAccessRequestRequest {
        actor_id: actor.into(),
        access_request_id: r.id.clone(),
        ..Default::default()
    };
    let e = s.approvals().cancel_access_request(cancel("lucie")).await.unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    let e = s.approvals().cancel_access_request(cancel("odile")).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound, "{e:?}");
    let c = s.approvals().cancel_access_request(cancel("marc")).await.unwrap().into_inner().access_request.unwrap();
    assert_eq!(status(&c), pb::AccessRequestStatus::Cancelled);
    let e = approved(&s, approve("lucie", &c)).await.unwrap_err();
    assert_eq!(reason(&e), "REQUEST_NOT_PENDING");

    // A third time, Lucie alone approves (no four-eyes): applied.
    let r = marc_asks_for_the_legal_folder(&s).await;
    let (done, revision) = approved(&s, approve("lucie", &r)).await.unwrap();
    assert_eq!(status(&done), pb::AccessRequestStatus::Approved);
    assert!(allowed(&s, "marc", "folders:view", LEGAL, &revision).await);
    let types: Vec<String> = event_types(&s).await.into_iter().map(|(t, _, _)| t).collect();
    for t in ["access_request.rejected", "access_request.cancelled", "access_request.approved"] {
        assert!(types.iter().any(|x| x == t), "{t}: {types:?}");
    }
    assert!(s.stop().await.success());
}

/// A request not decided within `expire_after_secs` expires: the clock is moved (never slept); it
/// is no longer pending at once, and the sweeper records it EXPIRED with its event.
async fn a_request_expires(backend: Backend) {
    let Some((_db, clock, s)) = demo(backend).await else { return };
    let r = marc_asks_for_the_legal_folder(&s).await;
    let mut watch =
        s.events().watch_events(pb::WatchEventsRequest { ..Default::default() }).await.unwrap().into_inner();
    clock.advance(Duration::from_secs(3_599));
    assert_eq!(pending(&s, "lucie").await.len(), 1, "one second before: still pending");
    clock.advance(Duration::from_secs(1));
    assert!(pending(&s, "lucie").await.is_empty(), "at its instant: no longer pending");
    let e = approved(&s, approve("lucie", &r)).await.unwrap_err();
    assert_eq!((e.code(), reason(&e).as_str()), (Code::FailedPrecondition, "REQUEST_NOT_PENDING"));
    read_until_type(&mut watch, "access_request.expired").await;
    let after = get(&s, "marc", &r.id).await.unwrap();
    assert_eq!(status(&after), pb::AccessRequestStatus::Expired);
    assert!(!allowed(&s, "marc", "folders:view", LEGAL, "").await);
    let of = |t: &str, events: &[(String, String, String)]| events.iter().filter(|(k, _, _)| k == t).count();
    assert_eq!(of("access_request.expired", &event_types(&s).await), 1);
    assert!(s.stop().await.success());
}

/// An approver who holds `access_approvals:full` but not the level asked cannot grant it: it is
/// not named, its approval is refused by the rule book (no escalation), and nothing changes.
async fn an_approver_cannot_grant_more_than_it_holds(backend: Backend) {
    let Some((_db, _clock, s)) = demo(backend).await else { return };
    let grants = [("access_approvals", pb::Level::Full), ("users", pb::Level::Full), ("folders", pb::Level::View)];
    add_victor(&s, &grants, None).await;
    // Marc asks to edit the 2025 folder (folders:full): a role carrying folders:full.
    let r = request(&s, ask("marc", "folders:full", "bm-dossier-2025")).await.unwrap();
    assert!(r.approver_ids.iter().any(|a| a == "lucie"), "{r:?}");
    assert!(!r.approver_ids.iter().any(|a| a == "victor"), "victor holds folders:view only: {r:?}");
    for suggestion in [None, Some(0)] {
        let e =
            approved(&s, pb::ApproveAccessRequestRequest { suggestion, ..approve("victor", &r) }).await.unwrap_err();
        assert_eq!((e.code(), reason(&e).as_str()), (Code::PermissionDenied, "NO_ESCALATION"), "{e:?}");
    }
    assert_eq!(status(&get(&s, "marc", &r.id).await.unwrap()), pb::AccessRequestStatus::Pending);
    assert!(!allowed(&s, "marc", "folders:full", "bm-dossier-2025", "").await);
    // A suggestion that does not exist is the client's error.
    let e = approved(&s, pb::ApproveAccessRequestRequest { suggestion: Some(4), ..approve("lucie", &r) }).await;
    if let Err(e) = e {
        assert_eq!(violated_fields(&e), ["suggestion"]);
    }
    assert!(s.stop().await.success());
}

/// Victor, a member of the bakery who approves access requests: his role `valideur` carries
/// `grants`; his membership is restricted to `restriction` when given.
async fn add_victor(s: &TestApp, grants: &[(&str, pb::Level)], restriction: Option<pb::ResourceRestriction>) {
    s.roles()
        .create_role(pb::CreateRoleRequest {
            account_id: BAKERY.into(),
            name: "valideur".into(),
            display_name: "Valideur".into(),
            grants: grants
                .iter()
                .map(|(feature, level)| pb::FeatureGrant { feature: (*feature).into(), level: *level as i32 })
                .collect(),
            ..Default::default()
        })
        .await
        .unwrap();
    let victor = pb::CreateUserRequest {
        given_name: "Victor".into(),
        family_name: "Hugo".into(),
        ..requests::user("victor", "victor@boulangerie-martin.example")
    };
    s.users().create_user(victor).await.unwrap();
    let member = pb::CreateMembershipRequest {
        id: "m-victor".into(),
        restriction,
        ..requests::membership("", BAKERY, "victor", &["valideur"])
    };
    s.memberships().create_membership(member).await.unwrap();
}

/// Victor approves access requests (`access_approvals:full`, `users:full`) and holds what the
/// bookkeeper role gives — invoices and billing read, folders in full — but only on the 2025
/// folder (his membership is restricted to it).
async fn with_victor(s: &TestApp) {
    let grants = [
        ("access_approvals", pb::Level::Full),
        ("users", pb::Level::Full),
        ("folders", pb::Level::Full),
        ("invoices", pb::Level::View),
        ("billing", pb::Level::View),
    ];
    add_victor(s, &grants, requests::restricted(&["bm-dossier-2025"])).await;
}

/// What an approval may have written: Marc's membership, the bakery's events, the request.
async fn marcs_state(s: &TestApp, id: &str) -> (pb::Membership, Vec<(String, String, String)>, i32) {
    let m = s
        .memberships()
        .get_membership(pb::GetMembershipRequest { id: "m-marc".into(), ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .membership
        .unwrap();
    (m, event_types(s).await, get(s, "", id).await.unwrap().status)
}

/// An approval applies every change of its suggestion or none. Marc asks to edit the legal folder:
/// the suggestion takes two changes, a path (the bookkeeper role) then the folder in his
/// restriction. Victor may make the first (he holds what the role gives on the 2025 folder, the
/// only one Marc reaches), not the second (he does not reach the legal folder: NO_ESCALATION): the
/// approval is refused and nothing is written — Marc's membership, the events, the store's
/// revision, the request PENDING. Lucie may make both: they are made, with the request APPROVED,
/// and Marc then edits the folder.
async fn an_approval_applies_all_of_its_changes_or_none(backend: Backend) {
    let Some((_db, _clock, s)) = demo(backend).await else { return };
    with_victor(&s).await;
    let r = request(&s, ask("marc", "folders:full", LEGAL)).await.unwrap();
    let explained = s
        .access()
        .explain_access(pb::ExplainAccessRequest {
            subject_id: "marc".into(),
            account_id: BAKERY.into(),
            permission: "folders:full".into(),
            resource_id: LEGAL.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let index = explained.suggestions.iter().position(|x| x.changes.len() == 2).unwrap();
    let suggestion = Some(u32::try_from(index).unwrap());
    let before = marcs_state(&s, &r.id).await;
    let revision = store_revision(&s, "lucie", BAKERY).await;
    let e = approved(&s, pb::ApproveAccessRequestRequest { suggestion, ..approve("victor", &r) }).await.unwrap_err();
    assert_eq!((e.code(), reason(&e).as_str()), (Code::PermissionDenied, "NO_ESCALATION"), "{e:?}");
    assert!(e.message().contains(LEGAL), "the second change is the one refused: {e:?}");
    assert_eq!(marcs_state(&s, &r.id).await, before, "nothing written: {:#?}", explained.suggestions[index]);
    assert_eq!(before.2, pb::AccessRequestStatus::Pending as i32);
    assert_eq!(store_revision(&s, "lucie", BAKERY).await, revision, "no write committed");
    assert!(!allowed(&s, "marc", "folders:full", LEGAL, "").await);

    let (done, at) =
        approved(&s, pb::ApproveAccessRequestRequest { suggestion, ..approve("lucie", &r) }).await.unwrap();
    assert_eq!(status(&done), pb::AccessRequestStatus::Approved);
    assert_eq!(done.applied_changes.len(), 2, "{done:?}");
    assert!(allowed(&s, "marc", "folders:full", LEGAL, &at).await);
    let (after, events, _) = marcs_state(&s, &r.id).await;
    assert_ne!(after, before.0);
    let new: Vec<&str> = events.iter().skip(before.1.len()).map(|(t, ..)| t.as_str()).collect();
    assert!(events.len() >= before.1.len() + 2, "two changes recorded: {new:?}");
    assert!(s.stop().await.success());
}

/// Who may ask, read and decide: another tenant, a restricted member, an unknown actor, a
/// check-only service, no credentials; nobody may ask for someone else, and nobody asks for what
/// nobody could grant.
async fn who_may_ask_read_and_decide(backend: Backend) {
    let Some(db) = TestDatabase::new(backend).await else { return };
    let s = TestApp::builder(shop_and_backoffice(&db.url, true)).start().await;
    let bo = Some(BACKOFFICE_TOKEN);
    let client = s.approvals();
    let r = client
        .clone()
        .request_access(with_token(ask("marc", "folders:view", LEGAL), bo))
        .await
        .unwrap()
        .into_inner()
        .access_request
        .unwrap();
    let get_as = |token: Option<&'static str>, actor: &'static str| {
        let mut c = client.clone();
        let id = r.id.clone();
        async move {
            c.get_access_request(with_token(
                pb::GetAccessRequestRequest { actor_id: actor.into(), access_request_id: id },
                token,
            ))
            .await
        }
    };
    // The requester, an approver, the back office on its own: yes.
    for actor in ["marc", "lucie", "david", ""] {
        assert!(get_as(bo, actor).await.is_ok(), "{actor}");
    }
    // Another tenant, a restricted member without access_approvals:view, an unknown actor: not found.
    for actor in ["odile", "anne", "nobody"] {
        assert_eq!(get_as(bo, actor).await.unwrap_err().code(), Code::NotFound, "{actor}");
    }
    // A check-only service; no credentials.
    assert_eq!(get_as(Some(SHOP_TOKEN), "marc").await.unwrap_err().code(), Code::PermissionDenied);
    assert_eq!(get_as(None, "marc").await.unwrap_err().code(), Code::Unauthenticated);
    let e = client
        .clone()
        .request_access(with_token(ask("marc", "folders:view", LEGAL), Some(SHOP_TOKEN)))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    let e = client.clone().request_access(with_token(ask("marc", "folders:view", LEGAL), None)).await.unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);

    // Approve: another tenant does not see it; a restricted member lacks access_approvals:full.
    let e = client.clone().approve_access_request(with_token(approve("odile", &r), bo)).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound, "{e:?}");
    let e = client.clone().approve_access_request(with_token(approve("anne", &r), bo)).await.unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    let e =
        client.clone().approve_access_request(with_token(approve("lucie", &r), Some(SHOP_TOKEN))).await.unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    // Lists: another tenant's account is not found; Anne may not list the bakery's; Odile may not
    // list Marc's.
    let list = |actor: &'static str, account: &'static str, requester: &'static str| {
        let mut c = client.clone();
        async move {
            c.list_access_requests(with_token(
                pb::ListAccessRequestsRequest {
                    actor_id: actor.into(),
                    account_id: account.into(),
                    requester_id: requester.into(),
                    ..Default::default()
                },
                bo,
            ))
            .await
        }
    };
    assert_eq!(list("odile", BAKERY, "").await.unwrap_err().code(), Code::NotFound);
    assert_eq!(list("anne", BAKERY, "").await.unwrap_err().code(), Code::PermissionDenied);
    assert_eq!(list("odile", "", "marc").await.unwrap_err().code(), Code::InvalidArgument);
    assert_eq!(list("lucie", BAKERY, "").await.unwrap().into_inner().access_requests.len(), 1);
    assert_eq!(list("marc", BAKERY, "marc").await.unwrap().into_inner().access_requests.len(), 1);

    // Asking: Odile is no member of the bakery; nobody may grant the telecom customer's 911 module.
    let e = client.clone().request_access(with_token(ask("odile", "folders:view", LEGAL), bo)).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound, "{e:?}");
    let telecom = pb::RequestAccessRequest { account_id: "cabinet-leclerc".into(), ..ask("paul", "voip_911:view", "") };
    let e = client.clone().request_access(with_token(telecom, bo)).await.unwrap_err();
    assert_eq!((e.code(), reason(&e).as_str()), (Code::FailedPrecondition, "NO_APPROVER"), "{e:?}");
    assert!(s.stop().await.success());
}

/// Bad input names its fields; a retry with the same request_id replays the first answer and
/// writes nothing; the same key with another body is ALREADY_EXISTS.
async fn bad_input_and_idempotent_retries(backend: Backend) {
    let Some((_db, _clock, s)) = demo(backend).await else { return };
    let e = request(
        &s,
        pb::RequestAccessRequest { permission: "folders".into(), resource_id: "bad/id".into(), ..Default::default() },
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&e), ["actor_id", "account_id", "permission", "resource_id", "reason"]);
    let e = request(&s, ask("marc", "teleportation:view", "")).await.unwrap_err();
    assert_eq!(violated_fields(&e), ["permission"], "{e:?}");
    let e = request(&s, ask("marc", "folders:view", "no-such-folder")).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound, "{e:?}");

    let once = pb::RequestAccessRequest { request_id: "demande-1".into(), ..ask("marc", "folders:view", LEGAL) };
    let a = request(&s, once.clone()).await.unwrap();
    let b = request(&s, once.clone()).await.unwrap();
    assert_eq!(a, b, "replayed");
    let e = request(&s, pb::RequestAccessRequest { reason: "autre".into(), ..once }).await.unwrap_err();
    assert_eq!(e.code(), Code::AlreadyExists);
    let approve_once = pb::ApproveAccessRequestRequest { request_id: "ok-1".into(), ..approve("lucie", &a) };
    let first = approved(&s, approve_once.clone()).await.unwrap();
    let again = approved(&s, approve_once).await.unwrap();
    assert_eq!(first, again, "replayed, not applied twice");
    let created = event_types(&s).await.into_iter().filter(|(t, _, _)| t == "access_request.created").count();
    assert_eq!(created, 1);
    let e = approved(&s, pb::ApproveAccessRequestRequest { version: String::new(), ..approve("lucie", &a) })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&e), ["version"]);
    assert!(s.stop().await.success());
}

// ---------------------------------------------------------------------------------------------
// The AuthZEN Access Request and Approval profile, over real HTTP

async fn post(
    s: &TestApp,
    path: &str,
    body: &serde_json::Value,
    headers: &[(&str, &str)],
) -> guichet_tests::HttpAnswer {
    guichet_tests::post_json(s.authzen_addr.unwrap(), path, body, headers).await
}

async fn http_get(s: &TestApp, path: &str) -> guichet_tests::HttpAnswer {
    guichet_tests::http_plain(s.authzen_addr.unwrap(), "GET", path, &[], b"").await
}

fn task_path(a: &guichet_tests::HttpAnswer) -> String {
    let endpoint = a.json()["task"]["status_endpoint"].as_str().unwrap().to_owned();
    endpoint.split_once("/access/v1/").map(|(_, p)| format!("/access/v1/{p}")).unwrap()
}

/// The profile end to end: a requestable denial → the submission (idempotent, bound to the
/// denial) → polling → an approver approves over gRPC → the task is approved with a
/// re-evaluation result → the PEP re-evaluates and is allowed; the profile's problems (binding,
/// expiry, duplicate, unknown task, invalid state); a denial that is not requestable says nothing.
async fn the_authzen_profile(backend: Backend) {
    use serde_json::json;
    let Some((_db, clock, s)) = demo(backend).await else { return };
    let meta = http_get(&s, "/.well-known/authzen-configuration").await.json();
    assert!(meta["access_request_endpoint"].as_str().unwrap().ends_with("/access/v1/requests"), "{meta}");
    assert_eq!(meta["capabilities"], json!(["urn:openid:authzen:capability:access-request"]));

    let question = json!({
        "subject": { "type": "user", "id": "marc" },
        "action": { "name": "folders:view" },
        "resource": { "type": "folder", "id": LEGAL },
    });
    let denied = post(&s, "/access/v1/evaluation", &question, &[]).await;
    assert_eq!(denied.status, 200, "{}", denied.body);
    let d = denied.json();
    assert_eq!(d["decision"], json!(false));
    let c = &d["context"];
    let ar = &c["access_request"];
    assert!(ar["endpoint"].as_str().unwrap().ends_with("/access/v1/requests"), "{d}");
    assert_eq!(ar["template"], json!("guichet:folders:view"));
    let (evaluation_id, expires_at) = (c["evaluation_id"].as_str().unwrap(), ar["expires_at"].as_str().unwrap());
    // Odile is no member of the bakery: her denial is not requestable.
    let other = json!({ "subject": { "type": "user", "id": "odile" }, "action": { "name": "folders:view" },
        "resource": { "type": "folder", "id": LEGAL } });
    let o = post(&s, "/access/v1/evaluation", &other, &[]).await.json();
    assert_eq!(o["decision"], json!(false));
    assert!(o["context"].get("access_request").is_none(), "{o}");

    let submission = json!({
        "subject": question["subject"], "action": question["action"], "resource": question["resource"],
        "context": { "business_justification": "assemblée générale" },
        "denial": { "evaluation_id": evaluation_id, "expires_at": expires_at },
    });
    let key = [("Idempotency-Key", "pep-1")];
    let a = post(&s, "/access/v1/requests", &submission, &key).await;
    assert_eq!(a.status, 202, "{}", a.body);
    let t = a.json();
    assert_eq!(t["task"]["status"], json!("pending"));
    assert_eq!(a.header("location"), t["task"]["status_endpoint"].as_str());
    assert!(t["task"]["links"]["cancel"].as_str().unwrap().ends_with("/cancel"));
    let id = t["task"]["id"].as_str().unwrap().to_owned();
    // The same key and body: the same task. Another body: duplicate_request.
    let again = post(&s, "/access/v1/requests", &submission, &key).await;
    assert_eq!((again.status, again.json()["task"]["id"].as_str()), (202, Some(id.as_str())));
    let mut changed = submission.clone();
    changed["context"]["business_justification"] = json!("autre chose");
    let dup = post(&s, "/access/v1/requests", &changed, &key).await;
    assert_eq!(dup.status, 409, "{}", dup.body);
    assert_eq!(dup.header("content-type"), Some("application/problem+json"));
    assert_eq!(dup.json()["type"], json!("urn:openid:authzen:access-request:error:duplicate_request"));
    // A binding that does not cover the submission.
    let mut other_folder = submission.clone();
    other_folder["resource"]["id"] = json!("bm-dossier-paie");
    let bad = post(&s, "/access/v1/requests", &other_folder, &[]).await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert_eq!(bad.json()["type"], json!("urn:openid:authzen:access-request:error:invalid_denial_binding"));
    let mut unbound = submission.clone();
    unbound.as_object_mut().unwrap().remove("denial");
    assert_eq!(post(&s, "/access/v1/requests", &unbound, &[]).await.status, 400);

    // Polling: pending; the gRPC request is the same one, named for its approvers.
    let path = task_path(&a);
    assert_eq!(http_get(&s, &path).await.json()["task"]["status"], json!("pending"));
    let r = get(&s, "lucie", &id).await.unwrap();
    assert_eq!((r.requester_id.as_str(), r.reason.as_str()), ("marc", "assemblée générale"));
    let (_, revision) = approved(&s, approve("lucie", &r)).await.unwrap();
    let done = http_get(&s, &path).await;
    assert_eq!(done.status, 200);
    let done = done.json();
    assert_eq!(done["task"]["status"], json!("approved"), "{done}");
    assert_eq!(done["result"]["mode"], json!("reevaluate"));
    let approval = done["result"]["approval"].clone();
    assert!(approval["approved_until"].is_string() && approval["id"].is_string(), "{done}");

    // The PEP re-evaluates with the approval: allowed, decided on guichet's state.
    let mut again = question.clone();
    again["context"] = json!({ "approval": approval, "consistency": { "at_least_as_fresh": revision } });
    let allowed = post(&s, "/access/v1/evaluation", &again, &[]).await.json();
    assert_eq!(allowed["decision"], json!(true), "{allowed}");

    // A finished task cannot be cancelled; an unknown one is unknown.
    let c = post(&s, &format!("{path}/cancel"), &json!({}), &[]).await;
    assert_eq!(c.status, 409, "{}", c.body);
    assert_eq!(c.json()["type"], json!("urn:openid:authzen:access-request:error:invalid_task_state"));
    let unknown = http_get(&s, "/access/v1/requests/ar_nope").await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.json()["type"], json!("urn:openid:authzen:access-request:error:unknown_task"));

    // Another denial, requested, then cancelled by the PEP; a denial submitted too late is gone.
    let paie = json!({ "subject": { "type": "user", "id": "marc" }, "action": { "name": "folders:view" },
        "resource": { "type": "folder", "id": "bm-dossier-paie" } });
    let d = post(&s, "/access/v1/evaluation", &paie, &[]).await.json();
    let sub = json!({ "subject": paie["subject"], "action": paie["action"], "resource": paie["resource"],
        "denial": { "evaluation_id": d["context"]["evaluation_id"], "expires_at": d["context"]["access_request"]["expires_at"] } });
    let a = post(&s, "/access/v1/requests", &sub, &[]).await;
    assert_eq!(a.status, 202, "{}", a.body);
    let cancelled = post(&s, &format!("{}/cancel", task_path(&a)), &json!({ "comment": "plus besoin" }), &[]).await;
    assert_eq!(cancelled.status, 200, "{}", cancelled.body);
    assert_eq!(cancelled.json()["task"]["status"], json!("cancelled"));
    clock.advance(Duration::from_secs(11 * 60));
    let late = post(&s, "/access/v1/requests", &sub, &[]).await;
    assert_eq!(late.status, 410, "{}", late.body);
    assert_eq!(late.json()["type"], json!("urn:openid:authzen:access-request:error:expired_denial"));
    assert!(s.stop().await.success());
}

both_backends! {
    the_authzen_access_request_profile_from_denial_to_reevaluation => the_authzen_profile,
    marc_requests_the_legal_folder_and_two_approvers_grant_it => the_story_of_marc_and_the_legal_folder,
    a_request_is_rejected_cancelled_or_approved_once => rejected_and_cancelled,
    a_request_expires_when_the_clock_passes_its_expiry => a_request_expires,
    an_approver_cannot_grant_more_than_it_holds => an_approver_cannot_grant_more_than_it_holds,
    only_the_right_people_ask_read_and_decide => who_may_ask_read_and_decide,
    requests_refuse_bad_input_and_replay_retries => bad_input_and_idempotent_retries,
    an_approval_applies_all_of_its_changes_or_none => an_approval_applies_all_of_its_changes_or_none,
}
