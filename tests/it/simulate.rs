//! SimulateChanges end to end, on SQLite and PostgreSQL, on the demo world: a profile edit
//! previewed shows exactly the members whose access it changes (rises and falls), then the write
//! with the preview's revision has exactly that effect (CheckAccess of every member in every
//! account, before and after); two dependent operations; each refusal is the one the real call
//! gives; a write after an intervening change in the tree fails its precondition; who may preview
//! what; bad input named by its field path. Every previewed write takes `unchanged_since`: a user's
//! suspension (its trees are those of its memberships), a delegation created and deleted, a
//! resource restriction and an account's modules each fail after a change in what their preview
//! read, write nothing then, and have exactly the previewed effect after a change elsewhere.

use std::collections::BTreeSet;

use guichet_proto::v1 as pb;
use guichet_testkit::requests;
use guichet_tests::Clients;
use guichet_tests::{
    Backend, Config, TestApp, TestDatabase, both_backends, details, spawn_app, store_revision, test_config,
    violated_fields,
};
use pb::management_operation::Operation as Op;
use tonic::{Code, Status};

use crate::contract::{BACKOFFICE_TOKEN, SHOP_TOKEN, shop_and_backoffice};
use crate::scenario::check;

const BAKERY: &str = "boulangerie-martin";

const USERS: [&str; 16] = [
    "claire", "bruno", "thomas", "sophie", "david", "amelie", "lucie", "marc", "anne", "odile", "helene", "julien",
    "karim", "nadia", "paul", "nobody",
];

async fn demo(backend: Backend) -> Option<(TestDatabase, TestApp)> {
    let db = TestDatabase::new(backend).await?;
    let s = spawn_app(Config { demo: true, ..test_config(&db.url) }).await;
    Some((db, s))
}

/// Every (user, account, feature) whose effective level is not `none`, with the level.
type Levels = BTreeSet<(String, String, String, i32)>;

async fn levels(s: &TestApp) -> Levels {
    let all = pb::ListAccountsRequest { page_size: 100, ..Default::default() };
    let accounts = s.accounts().list_accounts(all).await.unwrap().into_inner().accounts;
    let accounts: Vec<String> = accounts.into_iter().map(|a| a.id).collect();
    let catalog = s.roles().list_catalog(pb::ListCatalogRequest::default()).await.unwrap().into_inner();
    let features: Vec<String> = catalog.features.into_iter().map(|f| f.name).collect();
    let mut items = Vec::new();
    for u in USERS {
        for a in &accounts {
            for f in &features {
                items.push((u.to_owned(), a.clone(), f.clone()));
            }
        }
    }
    let mut out = Levels::new();
    for chunk in items.chunks(1000) {
        let r = s
            .access()
            .check_access_batch(pb::CheckAccessBatchRequest {
                items: chunk.iter().map(|(u, a, f)| requests::batch_item(u, a, &format!("{f}:view"))).collect(),
                consistency: Some(pb::Consistency {
                    requirement: Some(pb::consistency::Requirement::FullyConsistent(true)),
                }),
            })
            .await
            .unwrap()
            .into_inner();
        for ((u, a, f), result) in chunk.iter().zip(r.results) {
            if result.effective_level != pb::Level::None as i32 {
                out.insert((u.clone(), a.clone(), f.clone(), result.effective_level));
            }
        }
    }
    out
}

/// What changed between two level maps: (user, account, feature, from, to).
fn changes(before: &Levels, after: &Levels) -> BTreeSet<(String, String, String, i32, i32)> {
    let level = |m: &Levels, u: &str, a: &str, f: &str| {
        m.iter().find(|(x, y, z, _)| x == u && y == a && z == f).map_or(pb::Level::None as i32, |t| t.3)
    };
    let keys: BTreeSet<(String, String, String)> =
        before.iter().chain(after.iter()).map(|(u, a, f, _)| (u.clone(), a.clone(), f.clone())).collect();
    keys.into_iter()
        .filter_map(|(u, a, f)| {
            let (from, to) = (level(before, &u, &a, &f), level(after, &u, &a, &f));
            (from != to).then_some((u, a, f, from, to))
        })
        .collect()
}

/// The account-level changes a preview reports.
fn previewed(r: &pb::SimulateChangesResponse) -> BTreeSet<(String, String, String, i32, i32)> {
    r.effects
        .iter()
        .flat_map(|e| {
            e.changes
                .iter()
                .filter(|c| c.resource_id.is_empty())
                .map(|c| (e.user_id.clone(), e.account_id.clone(), c.feature.clone(), c.from, c.to))
        })
        .collect()
}

fn op(o: Op) -> pb::ManagementOperation {
    pb::ManagementOperation { operation: Some(o) }
}

async fn preview(s: &TestApp, actor: &str, ops: Vec<Op>) -> Result<pb::SimulateChangesResponse, Status> {
    s.access()
        .simulate_changes(pb::SimulateChangesRequest {
            actor_id: actor.into(),
            operations: ops.into_iter().map(op).collect(),
            max_effects: 0,
        })
        .await
        .map(tonic::Response::into_inner)
}

fn grant(feature: &str, level: pb::Level) -> pb::FeatureGrant {
    pb::FeatureGrant { feature: feature.into(), level: level.into() }
}

fn cashier_edit(actor: &str, since: &str) -> pb::UpdateRoleRequest {
    pb::UpdateRoleRequest {
        actor_id: actor.into(),
        account_id: BAKERY.into(),
        name: "caissier".into(),
        display_name: "Caissier".into(),
        grants: vec![grant("billing", pb::Level::Full), grant("payment_methods", pb::Level::View)],
        unchanged_since: since.into(),
        ..Default::default()
    }
}

/// The demo world with a custom role of the bakery, `caissier` (billing, event_logs and
/// price_lists: view), held by Marc and Lucie.
async fn with_cashiers(s: &TestApp) {
    s.roles()
        .create_role(pb::CreateRoleRequest {
            account_id: BAKERY.into(),
            name: "caissier".into(),
            display_name: "Caissier".into(),
            grants: ["billing", "event_logs", "price_lists"].map(|f| grant(f, pb::Level::View)).into(),
            ..Default::default()
        })
        .await
        .unwrap();
    for m in ["m-marc", "m-lucie"] {
        s.memberships().assign_role(requests::assign_role("", m, "caissier")).await.unwrap();
    }
}

/// The outcome a call gets, as a preview reports it: (allowed, code, reason, message).
fn outcome_of<T>(r: &Result<T, Status>) -> (bool, String, String, String) {
    match r {
        Ok(_) => (true, String::new(), String::new(), String::new()),
        Err(e) => {
            let d = details(e);
            let reason = d
                .error_info()
                .map(|i| i.reason.clone())
                .or_else(|| d.precondition_failure().and_then(|p| p.violations.first().map(|v| v.r#type.clone())))
                .unwrap_or_default();
            let code = format!("{:?}", e.code());
            (false, code, reason, e.message().to_owned())
        }
    }
}

fn previewed_outcome(o: &pb::OperationOutcome) -> (bool, String, String, String) {
    // tonic's Debug of a code is CamelCase: compare in that form.
    let code = o
        .code
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next().map_or_else(String::new, |f| f.to_string() + &c.as_str().to_lowercase())
        })
        .collect::<String>();
    (o.allowed, code, o.reason.clone(), o.message.clone())
}

/// A profile edit (the bakery's custom role `caissier`: billing view → full, event_logs and
/// price_lists view → none, payment_methods none → view) previewed shows exactly the members whose access it changes, in
/// both directions; the write with the preview's revision then has exactly that effect, member by
/// member, account by account, feature by feature; nobody else changes.
async fn a_profile_edit_previewed_then_written(backend: Backend) {
    let Some((_db, s)) = demo(backend).await else { return };
    with_cashiers(&s).await;
    let before = levels(&s).await;
    let r = preview(&s, "", vec![Op::UpdateRole(cashier_edit("", ""))]).await.unwrap();
    assert_eq!(r.outcomes.len(), 1);
    assert!(r.outcomes[0].allowed, "{:?}", r.outcomes[0]);
    let effect = previewed(&r);
    assert!(!effect.is_empty());
    let full = pb::Level::Full as i32;
    let none = pb::Level::None as i32;
    assert!(effect.iter().any(|(u, _, f, _, to)| u == "marc" && f == "billing" && *to == full), "{effect:#?}");
    assert!(effect.iter().any(|(u, _, _, _, to)| u == "marc" && *to == none), "a fall: {effect:#?}");
    assert!(effect.iter().all(|(u, a, ..)| ["marc", "lucie"].contains(&u.as_str()) && a == BAKERY), "{effect:#?}");
    assert_eq!(r.affected_total as usize, r.effects.len());
    assert!(!r.truncated);
    // Nothing was written.
    assert_eq!(levels(&s).await, before);

    let written = s.roles().update_role(cashier_edit("", &r.revision)).await;
    assert!(written.is_ok(), "{written:?}");
    let after = levels(&s).await;
    assert_eq!(changes(&before, &after), effect, "the write has exactly the previewed effect");

    // The same edit as Lucie, the bakery's administrator: the preview's answer is the real one.
    let back = pb::UpdateRoleRequest {
        grants: vec![grant("billing", pb::Level::View), grant("event_logs", pb::Level::View)],
        ..cashier_edit("lucie", "")
    };
    let r = preview(&s, "lucie", vec![Op::UpdateRole(back.clone())]).await.unwrap();
    let real = s.roles().update_role(back).await;
    assert_eq!(previewed_outcome(&r.outcomes[0]), outcome_of(&real));
    assert!(s.stop().await.success());
}

/// Two dependent operations: demoting Lucie, the bakery's only administrator, alone is refused
/// (LAST_ADMINISTRATOR, as the real call); after making Marc administrator in the same list it is
/// allowed, and the list's effect is what the two writes then do.
async fn two_dependent_operations(backend: Backend) {
    let Some((_db, s)) = demo(backend).await else { return };
    let demote = pb::SetMembershipRolesRequest {
        membership_id: "m-lucie".into(),
        roles: vec!["client_user".into()],
        ..Default::default()
    };
    let promote = requests::assign_role("", "m-marc", "client_administrator");
    let alone = preview(&s, "", vec![Op::SetMembershipRoles(demote.clone())]).await.unwrap();
    assert!(!alone.outcomes[0].allowed);
    assert_eq!(alone.outcomes[0].code, "FAILED_PRECONDITION");
    assert_eq!(alone.outcomes[0].reason, "LAST_ADMINISTRATOR");
    assert!(alone.effects.is_empty(), "a refused operation changes nothing");
    let real = s.memberships().set_membership_roles(demote.clone()).await;
    assert_eq!(previewed_outcome(&alone.outcomes[0]), outcome_of(&real));

    let before = levels(&s).await;
    let both =
        preview(&s, "", vec![Op::AssignRole(promote.clone()), Op::SetMembershipRoles(demote.clone())]).await.unwrap();
    assert!(both.outcomes.iter().all(|o| o.allowed), "{:?}", both.outcomes);
    let effect = previewed(&both);
    assert!(effect.iter().any(|(u, ..)| u == "marc") && effect.iter().any(|(u, ..)| u == "lucie"), "{effect:#?}");
    s.memberships().assign_role(promote).await.unwrap();
    s.memberships().set_membership_roles(demote).await.unwrap();
    assert_eq!(changes(&before, &levels(&s).await), effect);
    assert!(s.stop().await.success());
}

/// Each operation previewed alone gives what the real call then gives — code, reason and message —
/// for allowed and refused calls alike, by actors of every kind; the calls are then made, in order.
async fn refusals_are_the_real_calls(backend: Backend) {
    let Some((_db, s)) = demo(backend).await else { return };
    with_cashiers(&s).await;
    let ops: Vec<(&str, Op)> = vec![
        // A client user may not manage memberships.
        ("marc", Op::SetMembershipRoles(requests::membership_roles("marc", "m-anne", &["client_user"]))),
        // Another tenant's administrator: the membership is out of reach.
        ("odile", Op::AssignRole(requests::assign_role("odile", "m-marc", "caissier"))),
        // The bookkeeper (restricted, no users:full).
        ("anne", Op::UpdateRole(cashier_edit("anne", ""))),
        // An actor never suspends themselves.
        (
            "lucie",
            Op::SuspendUser(pb::SuspendUserRequest {
                actor_id: "lucie".into(),
                id: "lucie".into(),
                ..Default::default()
            }),
        ),
        // Lucie may not hand out delegated administration she does not hold.
        (
            "lucie",
            Op::UpdateRole(pb::UpdateRoleRequest {
                grants: vec![grant("delegated_administration", pb::Level::Full)],
                ..cashier_edit("lucie", "")
            }),
        ),
        // Lucie suspends Marc's membership, then reactivates it.
        (
            "lucie",
            Op::SuspendMembership(pb::SuspendMembershipRequest {
                actor_id: "lucie".into(),
                membership_id: "m-marc".into(),
                ..Default::default()
            }),
        ),
        (
            "lucie",
            Op::ReactivateMembership(pb::ReactivateMembershipRequest {
                actor_id: "lucie".into(),
                membership_id: "m-marc".into(),
                ..Default::default()
            }),
        ),
        // Reactivating it again: the store refuses the transition (NOT_SUSPENDED).
        (
            "lucie",
            Op::ReactivateMembership(pb::ReactivateMembershipRequest {
                actor_id: "lucie".into(),
                membership_id: "m-marc".into(),
                ..Default::default()
            }),
        ),
        // Anne's only role: the store keeps it (LAST_ROLE).
        (
            "lucie",
            Op::UnassignRole(pb::UnassignRoleRequest {
                actor_id: "lucie".into(),
                membership_id: "m-anne".into(),
                role: "comptable".into(),
                ..Default::default()
            }),
        ),
        // The bakery's modules are decided by its partner: Lucie is told what she lacks there.
        (
            "lucie",
            Op::SetAccountModules(pb::SetAccountModulesRequest {
                actor_id: "lucie".into(),
                account_id: BAKERY.into(),
                modules: vec!["billing".into()],
                ..Default::default()
            }),
        ),
        // David (the partner's delegated administrator) ends the delegation into the bakery.
        (
            "david",
            Op::DeleteDelegation(pb::DeleteDelegationRequest {
                actor_id: "david".into(),
                id: "d-nuage-boulangerie".into(),
                ..Default::default()
            }),
        ),
        // An unknown membership.
        (
            "lucie",
            Op::UnassignRole(pb::UnassignRoleRequest {
                actor_id: "lucie".into(),
                membership_id: "m-personne".into(),
                role: "caissier".into(),
                ..Default::default()
            }),
        ),
    ];
    for (actor, o) in ops {
        let r = preview(&s, actor, vec![o.clone()]).await.unwrap();
        let real = perform(&s, o.clone()).await;
        assert_eq!(previewed_outcome(&r.outcomes[0]), real, "{actor}: {o:?}");
    }
    assert!(s.stop().await.success());
}

/// Marc's restriction moved from the 2025 folder to the legal folder: at large nothing changes,
/// and the preview reports the folder he loses and the one he gains, level by level, as the write
/// then has it.
async fn a_restriction_moved_between_folders(backend: Backend) {
    let Some((_db, s)) = demo(backend).await else { return };
    let moved = pb::SetResourceRestrictionRequest {
        actor_id: "lucie".into(),
        membership_id: "m-marc".into(),
        restriction: Some(pb::ResourceRestriction {
            restricted: true,
            resource_ids: vec!["bm-dossier-juridique".into()],
            ..Default::default()
        }),
        ..Default::default()
    };
    let r = preview(&s, "lucie", vec![Op::SetResourceRestriction(moved.clone())]).await.unwrap();
    assert!(r.outcomes[0].allowed, "{:?}", r.outcomes);
    assert!(previewed(&r).is_empty(), "nothing changes at large: {r:?}");
    let on_folders: BTreeSet<(String, String, String, i32, i32)> = r
        .effects
        .iter()
        .flat_map(|e| {
            e.changes.iter().map(|c| (e.user_id.clone(), c.resource_id.clone(), c.feature.clone(), c.from, c.to))
        })
        .collect();
    let folders: BTreeSet<&str> = on_folders.iter().map(|c| c.1.as_str()).collect();
    assert_eq!(folders, BTreeSet::from(["bm-dossier-2025", "bm-dossier-juridique"]), "{on_folders:?}");
    assert!(on_folders.iter().all(|c| c.0 == "marc"), "{on_folders:?}");
    // The 2025 folder falls, the legal folder rises: what CheckAccess says once written.
    let folder_view = async |folder: &str| check(&s, "marc", BAKERY, "folders:view", folder).await.allowed;
    assert!(folder_view("bm-dossier-2025").await && !folder_view("bm-dossier-juridique").await);
    for (_, folder, feature, from, to) in &on_folders {
        let rises = folder == "bm-dossier-juridique";
        assert_eq!(to > from, rises, "{folder} {feature}: {from} -> {to}");
    }
    s.memberships().set_resource_restriction(moved).await.unwrap();
    assert!(!folder_view("bm-dossier-2025").await && folder_view("bm-dossier-juridique").await);
    assert!(s.stop().await.success());
}

/// Makes the call an operation is, as its own RPC.
async fn perform(s: &TestApp, o: Op) -> (bool, String, String, String) {
    match o {
        Op::UpdateRole(r) => outcome_of(&s.roles().update_role(r).await),
        Op::SetMembershipRoles(r) => outcome_of(&s.memberships().set_membership_roles(r).await),
        Op::AssignRole(r) => outcome_of(&s.memberships().assign_role(r).await),
        Op::UnassignRole(r) => outcome_of(&s.memberships().unassign_role(r).await),
        Op::SetResourceRestriction(r) => outcome_of(&s.memberships().set_resource_restriction(r).await),
        Op::SuspendMembership(r) => outcome_of(&s.memberships().suspend_membership(r).await),
        Op::ReactivateMembership(r) => outcome_of(&s.memberships().reactivate_membership(r).await),
        Op::SetAccountModules(r) => outcome_of(&s.accounts().set_account_modules(r).await),
        Op::SuspendAccount(r) => outcome_of(&s.accounts().suspend_account(r).await),
        Op::ReactivateAccount(r) => outcome_of(&s.accounts().reactivate_account(r).await),
        Op::SuspendUser(r) => outcome_of(&s.users().suspend_user(r).await),
        Op::ReactivateUser(r) => outcome_of(&s.users().reactivate_user(r).await),
        Op::CreateDelegation(r) => outcome_of(&s.delegations().create_delegation(r).await),
        Op::DeleteDelegation(r) => outcome_of(&s.delegations().delete_delegation(r).await),
    }
}

/// A write sent with the preview's revision fails with CHANGED_SINCE_PREVIEW once something in the
/// bakery's tree changed after it (and writes nothing); a change in another tree does not stop it.
async fn a_change_since_the_preview_fails_the_write(backend: Backend) {
    let Some((_db, s)) = demo(backend).await else { return };
    with_cashiers(&s).await;
    let r = preview(&s, "", vec![Op::UpdateRole(cashier_edit("", ""))]).await.unwrap();
    // An intervening write in the tree: Anne's role.
    s.memberships().assign_role(requests::assign_role("", "m-anne", "caissier")).await.unwrap();
    let before = levels(&s).await;
    let e = s.roles().update_role(cashier_edit("", &r.revision)).await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    let p = details(&e).precondition_failure().cloned().unwrap();
    assert_eq!(p.violations[0].r#type, "CHANGED_SINCE_PREVIEW");
    assert_eq!(levels(&s).await, before, "nothing written");
    let demote = |since: &str| pb::SetMembershipRolesRequest {
        membership_id: "m-marc".into(),
        roles: vec!["client_user".into()],
        unchanged_since: since.into(),
        ..Default::default()
    };
    let e = s.memberships().set_membership_roles(demote(&r.revision)).await.unwrap_err();
    assert_eq!(details(&e).precondition_failure().unwrap().violations[0].r#type, "CHANGED_SINCE_PREVIEW");

    // Previewed again; a write in another tree (the hotel's) does not stop it.
    let r = preview(&s, "", vec![Op::SetMembershipRoles(demote(""))]).await.unwrap();
    s.memberships().assign_role(requests::assign_role("", "m-julien", "account_manager")).await.unwrap();
    s.memberships().set_membership_roles(demote(&r.revision)).await.unwrap();
    // A malformed token is the client's error.
    let e = s.roles().update_role(cashier_edit("", "r-x")).await.unwrap_err();
    assert_eq!(violated_fields(&e), ["unchanged_since"]);
    assert!(s.stop().await.success());
}

/// `o` sent with `unchanged_since: since`.
fn with_since(o: Op, since: &str) -> Op {
    let unchanged_since = since.to_owned();
    match o {
        Op::UpdateRole(r) => Op::UpdateRole(pb::UpdateRoleRequest { unchanged_since, ..r }),
        Op::SetMembershipRoles(r) => Op::SetMembershipRoles(pb::SetMembershipRolesRequest { unchanged_since, ..r }),
        Op::AssignRole(r) => Op::AssignRole(pb::AssignRoleRequest { unchanged_since, ..r }),
        Op::UnassignRole(r) => Op::UnassignRole(pb::UnassignRoleRequest { unchanged_since, ..r }),
        Op::SetResourceRestriction(r) => {
            Op::SetResourceRestriction(pb::SetResourceRestrictionRequest { unchanged_since, ..r })
        }
        Op::SuspendMembership(r) => Op::SuspendMembership(pb::SuspendMembershipRequest { unchanged_since, ..r }),
        Op::ReactivateMembership(r) => {
            Op::ReactivateMembership(pb::ReactivateMembershipRequest { unchanged_since, ..r })
        }
        Op::SetAccountModules(r) => Op::SetAccountModules(pb::SetAccountModulesRequest { unchanged_since, ..r }),
        Op::SuspendAccount(r) => Op::SuspendAccount(pb::SuspendAccountRequest { unchanged_since, ..r }),
        Op::ReactivateAccount(r) => Op::ReactivateAccount(pb::ReactivateAccountRequest { unchanged_since, ..r }),
        Op::SuspendUser(r) => Op::SuspendUser(pb::SuspendUserRequest { unchanged_since, ..r }),
        Op::ReactivateUser(r) => Op::ReactivateUser(pb::ReactivateUserRequest { unchanged_since, ..r }),
        Op::CreateDelegation(r) => Op::CreateDelegation(pb::CreateDelegationRequest { unchanged_since, ..r }),
        Op::DeleteDelegation(r) => Op::DeleteDelegation(pb::DeleteDelegationRequest { unchanged_since, ..r }),
    }
}

/// The bakery's folders, each member's level on each (CheckAccess on the resource).
async fn folder_levels(s: &TestApp) -> Levels {
    let folders = ["bm-dossier-2025", "bm-dossier-juridique", "bm-dossier-paie"];
    let mut items = Vec::new();
    for u in USERS {
        for f in folders {
            let mut item = requests::batch_item(u, BAKERY, "folders:view");
            item.resource_id = f.into();
            items.push(((u, f), item));
        }
    }
    let r = s
        .access()
        .check_access_batch(pb::CheckAccessBatchRequest {
            items: items.iter().map(|(_, i)| i.clone()).collect(),
            consistency: Some(pb::Consistency {
                requirement: Some(pb::consistency::Requirement::FullyConsistent(true)),
            }),
        })
        .await
        .unwrap()
        .into_inner();
    items
        .iter()
        .zip(r.results)
        .filter(|(_, r)| r.effective_level != pb::Level::None as i32)
        .map(|(((u, f), _), r)| (u.to_string(), f.to_string(), "folders".to_owned(), r.effective_level))
        .collect()
}

/// Everything a write could change that the tests read: every account-level access, and each
/// bakery folder's.
async fn world_state(s: &TestApp) -> (Levels, Levels, String) {
    (levels(s).await, folder_levels(s).await, store_revision(s, "lucie", BAKERY).await)
}

/// `write` previewed, then sent with the preview's revision after `same_tree` (a write in what the
/// preview read): refused FAILED_PRECONDITION CHANGED_SINCE_PREVIEW, and nothing written (every
/// level and the store's revision unchanged). Previewed again, then sent with that revision after
/// `elsewhere` (a write in an unrelated tree): accepted, with exactly the previewed effect —
/// account by account, and on each folder of the bakery.
async fn a_previewed_write_holds(s: &TestApp, write: Op, same_tree: Op, elsewhere: Op) {
    let r = preview(s, "", vec![write.clone()]).await.unwrap();
    assert!(r.outcomes[0].allowed, "{:?}", r.outcomes[0]);
    let made = perform(s, same_tree.clone()).await;
    assert!(made.0, "{same_tree:?}: {made:?}");
    let before = world_state(s).await;
    let (ok, code, reason, message) = perform(s, with_since(write.clone(), &r.revision)).await;
    assert_eq!(
        (ok, code.as_str(), reason.as_str()),
        (false, "FailedPrecondition", "CHANGED_SINCE_PREVIEW"),
        "{message}"
    );
    assert_eq!(world_state(s).await, before, "a refused write writes nothing");

    let r = preview(s, "", vec![write.clone()]).await.unwrap();
    assert!(r.outcomes[0].allowed, "{:?}", r.outcomes[0]);
    let effect = previewed(&r);
    let on_folders: BTreeSet<_> = r
        .effects
        .iter()
        .filter(|e| e.account_id == BAKERY)
        .flat_map(|e| {
            e.changes
                .iter()
                .filter(|c| !c.resource_id.is_empty() && c.feature == "folders")
                .map(|c| (e.user_id.clone(), c.resource_id.clone(), c.feature.clone(), c.from, c.to))
        })
        .collect();
    assert!(!effect.is_empty() || !on_folders.is_empty(), "the write changes something: {r:#?}");
    let made = perform(s, elsewhere.clone()).await;
    assert!(made.0, "{elsewhere:?}: {made:?}");
    let (accounts, folders, _) = world_state(s).await;
    let written = perform(s, with_since(write.clone(), &r.revision)).await;
    assert!(written.0, "{write:?}: {written:?}");
    let (accounts_after, folders_after, _) = world_state(s).await;
    assert_eq!(changes(&accounts, &accounts_after), effect, "the previewed effect, account by account");
    assert_eq!(changes(&folders, &folders_after), on_folders, "the previewed effect, folder by folder");
}

/// A write in the hotel's tree (unrelated to the partner's and the affiliate's).
fn in_the_hotel() -> Op {
    Op::AssignRole(requests::assign_role("", "m-julien", "account_manager"))
}

/// A write in the partner's tree, away from the bakery: the sub-partner's account manager.
fn in_the_sub_partner() -> Op {
    Op::AssignRole(requests::assign_role("", "m-amelie", "technical_manager"))
}

/// SuspendUser has no account: its preview reads the trees of all the user's memberships (Marc's,
/// in the bakery and, given here, in the hotel) and the user. A write in the hotel's tree fails it;
/// one in the affiliate's tree does not.
async fn a_previewed_user_suspension_holds(backend: Backend) {
    let Some((_db, s)) = demo(backend).await else { return };
    s.memberships()
        .create_membership(requests::membership("", "hotel-lumiere", "marc", &["billing_manager"]))
        .await
        .unwrap();
    let suspend = Op::SuspendUser(pb::SuspendUserRequest { id: "marc".into(), ..Default::default() });
    let in_the_affiliate = Op::AssignRole(requests::assign_role("", "m-karim", "account_manager"));
    a_previewed_write_holds(&s, suspend.clone(), in_the_hotel(), in_the_affiliate).await;
    // The user's own row is read too: reactivating Marc, previewed, then his profile edited.
    let reactivate = Op::ReactivateUser(pb::ReactivateUserRequest { id: "marc".into(), ..Default::default() });
    let r = preview(&s, "", vec![reactivate.clone()]).await.unwrap();
    s.users()
        .update_user(pb::UpdateUserRequest { id: "marc".into(), phone: "+33612345678".into(), ..Default::default() })
        .await
        .unwrap();
    let refused = perform(&s, with_since(reactivate, &r.revision)).await;
    assert_eq!(refused.2, "CHANGED_SINCE_PREVIEW", "{refused:?}");
    assert!(s.stop().await.success());
}

/// CreateDelegation (the partner into the cheese shop): a change on the partner's side of the tree
/// fails it; one in the hotel does not.
async fn a_previewed_delegation_holds(backend: Backend) {
    let Some((_db, s)) = demo(backend).await else { return };
    let create = Op::CreateDelegation(pb::CreateDelegationRequest {
        from_account_id: "nuage-partenaires".into(),
        to_account_id: "fromagerie-dupont".into(),
        role: "client_administrator".into(),
        ..Default::default()
    });
    let partner_side = Op::AssignRole(requests::assign_role("", "m-claire", "billing_manager"));
    a_previewed_write_holds(&s, create, partner_side, in_the_hotel()).await;
    // DeleteDelegation, the same way.
    let delete =
        Op::DeleteDelegation(pb::DeleteDelegationRequest { id: "d-nuage-boulangerie".into(), ..Default::default() });
    let partner_side = Op::AssignRole(requests::assign_role("", "m-bruno", "technical_manager"));
    a_previewed_write_holds(&s, delete, partner_side, in_the_hotel()).await;
    assert!(s.stop().await.success());
}

/// SetResourceRestriction (Anne's folders lifted): a change elsewhere in the bakery's tree fails
/// it; one in the hotel does not.
async fn a_previewed_restriction_holds(backend: Backend) {
    let Some((_db, s)) = demo(backend).await else { return };
    let restrict = Op::SetResourceRestriction(pb::SetResourceRestrictionRequest {
        membership_id: "m-anne".into(),
        restriction: requests::restricted(&["bm-dossier-2025"]),
        ..Default::default()
    });
    a_previewed_write_holds(&s, restrict, in_the_sub_partner(), in_the_hotel()).await;
    assert!(s.stop().await.success());
}

/// SetAccountModules (the telecom customer subscribes to 911 address management): a change in the
/// affiliate's tree fails it; one in the hotel does not.
async fn a_previewed_module_change_holds(backend: Backend) {
    let Some((_db, s)) = demo(backend).await else { return };
    let get = pb::GetAccountRequest { id: "cabinet-leclerc".into(), ..Default::default() };
    let account = s.accounts().get_account(get).await.unwrap().into_inner().account.unwrap();
    assert!(!account.modules.contains(&"voip_911".to_owned()));
    let mut modules = account.modules;
    modules.push("voip_911".into());
    let set = Op::SetAccountModules(pb::SetAccountModulesRequest {
        account_id: "cabinet-leclerc".into(),
        modules,
        ..Default::default()
    });
    let in_the_garage = Op::AssignRole(requests::assign_role("", "m-nadia", "client_user"));
    a_previewed_write_holds(&s, set, in_the_garage, in_the_hotel()).await;
    assert!(s.stop().await.success());
}

/// Who may preview what: a check-only service is refused the RPC, a caller without credentials
/// too; an actor of another tenant is answered NOT_FOUND for the bakery's objects and sees no
/// effect; a restricted member without users:view is refused as the real call and sees no effect;
/// an actor sees effects only in accounts where it holds users:view.
async fn who_may_preview(backend: Backend) {
    let Some(db) = TestDatabase::new(backend).await else { return };
    let s = spawn_app(shop_and_backoffice(&db.url, true)).await;
    let ask = |token: Option<&'static str>, actor: &'static str, ops: Vec<Op>| {
        let s = &s;
        async move {
            let mut r = tonic::Request::new(pb::SimulateChangesRequest {
                actor_id: actor.into(),
                operations: ops.into_iter().map(op).collect(),
                max_effects: 0,
            });
            if let Some(t) = token {
                r.metadata_mut().insert("authorization", format!("Bearer {t}").parse().unwrap());
            }
            s.access().simulate_changes(r).await.map(tonic::Response::into_inner)
        }
    };
    let suspend_marc =
        || Op::SuspendMembership(pb::SuspendMembershipRequest { membership_id: "m-marc".into(), ..Default::default() });
    let e = ask(Some(SHOP_TOKEN), "", vec![suspend_marc()]).await.unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    let e = ask(None, "", vec![suspend_marc()]).await.unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);

    // The service's own authority sees Marc's loss.
    let r = ask(Some(BACKOFFICE_TOKEN), "", vec![suspend_marc()]).await.unwrap();
    assert!(r.outcomes[0].allowed);
    assert!(r.effects.iter().any(|e| e.user_id == "marc"), "{r:#?}");
    // Lucie too.
    let r = ask(Some(BACKOFFICE_TOKEN), "lucie", vec![suspend_marc()]).await.unwrap();
    assert!(r.outcomes[0].allowed);
    assert!(r.effects.iter().any(|e| e.user_id == "marc"));
    // Odile, the cheese shop's administrator: the membership is out of reach, nothing seen.
    let r = ask(Some(BACKOFFICE_TOKEN), "odile", vec![suspend_marc()]).await.unwrap();
    assert_eq!((r.outcomes[0].allowed, r.outcomes[0].code.as_str()), (false, "NOT_FOUND"));
    assert!(r.effects.is_empty() && r.affected_total == 0);
    // Anne, restricted, without users:view.
    let r = ask(Some(BACKOFFICE_TOKEN), "anne", vec![suspend_marc()]).await.unwrap();
    assert!(!r.outcomes[0].allowed);
    assert!(r.effects.is_empty());
    // Odile previews a change in her own shop: effects only there, never in another tenant.
    let suspend_odile_shop =
        Op::SuspendMembership(pb::SuspendMembershipRequest { membership_id: "m-odile".into(), ..Default::default() });
    let r = ask(Some(BACKOFFICE_TOKEN), "odile", vec![suspend_odile_shop]).await.unwrap();
    assert!(r.effects.iter().all(|e| e.account_id == "fromagerie-dupont"), "{r:#?}");
    assert!(s.stop().await.success());
}

/// Bad input fails the whole preview with INVALID_ARGUMENT naming each field by its path, and
/// nothing is previewed.
async fn bad_input_is_named_by_its_path(backend: Backend) {
    let Some((_db, s)) = demo(backend).await else { return };
    let fields = |e: Status| {
        assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
        violated_fields(&e)
    };
    assert_eq!(fields(preview(&s, "", vec![]).await.unwrap_err()), ["operations"]);
    let e = s
        .access()
        .simulate_changes(pb::SimulateChangesRequest {
            actor_id: "lucie".into(),
            operations: vec![
                op(Op::SuspendUser(pb::SuspendUserRequest { id: "marc".into(), ..Default::default() })),
                pb::ManagementOperation { operation: None },
                op(Op::UpdateRole(pb::UpdateRoleRequest { name: "Pas un nom".into(), ..cashier_edit("", "") })),
                op(Op::AssignRole(requests::assign_role("marc", "m-anne", "client_user"))),
            ],
            max_effects: -1,
        })
        .await
        .unwrap_err();
    assert_eq!(
        fields(e),
        ["max_effects", "operations[1]", "operations[2].update_role.name", "operations[3].assign_role.actor_id"]
    );
    // A role the account does not have: the store's check, placed on the operation.
    let e = preview(
        &s,
        "",
        vec![
            Op::SuspendUser(pb::SuspendUserRequest { id: "marc".into(), ..Default::default() }),
            Op::SetMembershipRoles(requests::membership_roles("", "m-marc", &["client_user", "inconnu"])),
        ],
    )
    .await
    .unwrap_err();
    assert_eq!(fields(e), ["operations[1].set_membership_roles.roles[1]"]);
    assert!(s.stop().await.success());
}

both_backends! {
    a_profile_edit_previewed_shows_its_effect_then_the_write_has_it => a_profile_edit_previewed_then_written,
    a_preview_of_two_dependent_operations => two_dependent_operations,
    a_previewed_answer_is_the_real_calls => refusals_are_the_real_calls,
    a_write_after_a_change_since_the_preview_fails => a_change_since_the_preview_fails_the_write,
    who_may_preview_what => who_may_preview,
    bad_input_in_a_preview_is_named_by_its_path => bad_input_is_named_by_its_path,
    a_restriction_moved_between_folders => a_restriction_moved_between_folders,
    a_previewed_user_suspension_holds_or_fails => a_previewed_user_suspension_holds,
    a_previewed_delegation_holds_or_fails => a_previewed_delegation_holds,
    a_previewed_restriction_holds_or_fails => a_previewed_restriction_holds,
    a_previewed_module_change_holds_or_fails => a_previewed_module_change_holds,
}
