//! Levels per resource, end to end over gRPC on SQLite and PostgreSQL: one membership that views
//! one folder and edits another (the client-access article: "a client can have access to several
//! folders… select the folders concerned"), in the decision, ExplainAccess, the lookups, the rule
//! book, invitations and the audit trail; and a world of the peers' benchmark shape checked against
//! a naive reference written here from the rules.

use std::collections::{BTreeMap, BTreeSet};

use guichet_proto::v1 as pb;
use guichet_testkit::requests;
use guichet_tests::Clients;
use guichet_tests::{Backend, TestApp, TestDatabase, both_backends, details, list_events, spawn_app, test_config};
use tonic::Code;

use crate::scenario::{check, explain};

fn capped(id: &str, level: pb::Level) -> pb::ResourceLevel {
    pb::ResourceLevel { resource_id: id.into(), level: level.into() }
}

fn restriction(full: &[&str], view: &[&str]) -> Option<pb::ResourceRestriction> {
    Some(pb::ResourceRestriction {
        restricted: true,
        resource_ids: full.iter().map(|r| (*r).to_owned()).collect(),
        resource_levels: view.iter().map(|r| capped(r, pb::Level::View)).collect(),
    })
}

/// The bookkeeper role (`comptable`) of `account`: folders in full, invoices read.
fn bookkeeper(account: String) -> pb::CreateRoleRequest {
    pb::CreateRoleRequest {
        account_id: account,
        name: "comptable".into(),
        display_name: "Comptable".into(),
        grants: vec![
            pb::FeatureGrant { feature: "folders".into(), level: pb::Level::Full.into() },
            pb::FeatureGrant { feature: "invoices".into(), level: pb::Level::View.into() },
        ],
        ..Default::default()
    }
}

/// The bakery of the seeds: Lucie administers it, Gérard administers it too but may only view the
/// 2025 folder; the custom role *comptable* edits folders.
async fn bakery(s: &TestApp) {
    for (id, kind, parent) in [("nuage", "partner", ""), ("boulangerie", "customer", "nuage")] {
        s.accounts().create_account(requests::account(id, id, kind, parent)).await.unwrap();
    }
    for id in ["lucie", "gerard", "anne", "marc", "sophie"] {
        s.users()
            .create_user(pb::CreateUserRequest {
                id: id.into(),
                email: format!("{id}@boulangerie.example"),
                given_name: id.into(),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    for (id, name) in [("comptes-2025", "Comptes 2025"), ("paie", "Paie"), ("juridique", "Juridique")] {
        s.resources().create_resource(requests::folder("", id, "boulangerie", name)).await.unwrap();
    }
    s.roles().create_role(bookkeeper("boulangerie".into())).await.unwrap();
    for (user, restriction) in [("lucie", None), ("gerard", restriction(&["paie", "juridique"], &["comptes-2025"]))] {
        s.memberships()
            .create_membership(pb::CreateMembershipRequest {
                id: format!("m-{user}"),
                account_id: "boulangerie".into(),
                user_id: user.into(),
                roles: vec!["client_administrator".into()],
                restriction,
                ..Default::default()
            })
            .await
            .unwrap();
    }
}

async fn accessible(s: &TestApp, subject: &str, permission: &str) -> Vec<String> {
    let question = pb::ListAccessibleResourcesRequest {
        subject_id: subject.into(),
        account_id: "boulangerie".into(),
        permission: permission.into(),
        ..Default::default()
    };
    s.access().list_accessible_resources(question).await.unwrap().into_inner().resource_ids
}

async fn authorized(s: &TestApp, permission: &str, resource: &str) -> BTreeSet<String> {
    let question = requests::authorized_subjects("boulangerie", permission, resource);
    let answer = s.access().list_authorized_subjects(question).await.unwrap().into_inner();
    answer.subjects.into_iter().map(|s| s.subject_id).collect()
}

async fn folder_levels(backend: Backend) {
    let Some(db) = TestDatabase::new(backend).await else { return };
    let s = spawn_app(test_config(&db.url)).await;
    bakery(&s).await;

    // Lucie gives Anne the bookkeeper's role: view on the 2025 folder, edit on payroll.
    let bookkeeper = pb::CreateMembershipRequest {
        actor_id: "lucie".into(),
        id: "m-anne".into(),
        account_id: "boulangerie".into(),
        user_id: "anne".into(),
        roles: vec!["comptable".into()],
        restriction: Some(pb::ResourceRestriction {
            restricted: true,
            resource_ids: vec![],
            resource_levels: vec![capped("comptes-2025", pb::Level::View), capped("paie", pb::Level::Full)],
        }),
        ..Default::default()
    };
    let anne = s.memberships().create_membership(bookkeeper).await.unwrap().into_inner().membership.unwrap();
    // Shown back with full caps among resource_ids, the others as levels.
    let shown = anne.restriction.unwrap();
    assert_eq!(shown.resource_ids, ["paie"]);
    assert_eq!(shown.resource_levels, [capped("comptes-2025", pb::Level::View)]);

    // The decision: the best of the paths, each path's level on the folder.
    let r = check(&s, "anne", "boulangerie", "folders:view", "comptes-2025").await;
    assert!(r.allowed, "{r:?}");
    let r = check(&s, "anne", "boulangerie", "folders:full", "comptes-2025").await;
    assert_eq!((r.allowed, r.reason_code.as_str()), (false, "resource_level_capped"), "{r:?}");
    assert_eq!(r.effective_level, pb::Level::View as i32);
    assert!(check(&s, "anne", "boulangerie", "folders:full", "paie").await.allowed);
    let r = check(&s, "anne", "boulangerie", "folders:view", "juridique").await;
    assert_eq!(r.reason_code, "resource_not_granted");
    // A cap never raises: invoices stay at the role's view on payroll.
    let r = check(&s, "anne", "boulangerie", "invoices:full", "paie").await;
    assert_eq!(r.reason_code, "insufficient_level");

    // ExplainAccess names the per-resource grant on the path.
    let e = explain(&s, ["anne", "boulangerie", "folders:full", "comptes-2025"]).await;
    let path = &e.paths[0];
    assert_eq!(path.level, pb::Level::Full as i32);
    assert_eq!(path.resource_level, pb::Level::View as i32);
    assert_eq!(path.outcome, pb::PathOutcome::Insufficient as i32);
    assert!(path.detail.contains("at most view on this resource"), "{}", path.detail);

    // The lookups, filtered by the level asked.
    assert_eq!(accessible(&s, "anne", "folders:view").await, ["comptes-2025", "paie"]);
    assert_eq!(accessible(&s, "anne", "folders:full").await, ["paie"]);
    assert_eq!(accessible(&s, "gerard", "folders:full").await, ["juridique", "paie"]);
    assert_eq!(accessible(&s, "lucie", "folders:full").await, ["comptes-2025", "juridique", "paie"]);
    let who = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect::<BTreeSet<_>>();
    assert_eq!(authorized(&s, "folders:full", "comptes-2025").await, who(&["lucie"]));
    assert_eq!(authorized(&s, "folders:view", "comptes-2025").await, who(&["anne", "gerard", "lucie"]));
    assert_eq!(authorized(&s, "folders:full", "paie").await, who(&["anne", "gerard", "lucie"]));

    // The rule book: Gérard may only view the 2025 folder, so he grants nothing more there.
    let denied = s
        .memberships()
        .create_membership(pb::CreateMembershipRequest {
            actor_id: "gerard".into(),
            account_id: "boulangerie".into(),
            user_id: "marc".into(),
            roles: vec!["comptable".into()],
            restriction: restriction(&["comptes-2025"], &[]),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");
    assert_eq!(details(&denied).error_info().map(|i| i.reason.clone()).as_deref(), Some("NO_ESCALATION"));
    assert!(denied.message().contains("comptes-2025"), "{}", denied.message());
    // Nothing half-written.
    let r = check(&s, "marc", "boulangerie", "folders:view", "comptes-2025").await;
    assert_eq!(r.reason_code, "no_access_path");
    // The same grant capped at view is within his reach.
    s.memberships()
        .create_membership(pb::CreateMembershipRequest {
            actor_id: "gerard".into(),
            id: "m-marc".into(),
            account_id: "boulangerie".into(),
            user_id: "marc".into(),
            roles: vec!["comptable".into()],
            restriction: restriction(&["paie"], &["comptes-2025"]),
            ..Default::default()
        })
        .await
        .unwrap();
    // Lifting Anne's cap on the 2025 folder is beyond him; Lucie may.
    let lift = |actor: &str| pb::SetResourceRestrictionRequest {
        actor_id: actor.into(),
        membership_id: "m-anne".into(),
        restriction: restriction(&["comptes-2025", "paie"], &[]),
        ..Default::default()
    };
    let denied = s.memberships().set_resource_restriction(lift("gerard")).await.unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    assert!(!check(&s, "anne", "boulangerie", "folders:full", "comptes-2025").await.allowed);
    // Requests written before levels existed keep their meaning: resource_ids alone, roles' levels.
    s.memberships().set_resource_restriction(lift("lucie")).await.unwrap();
    assert!(check(&s, "anne", "boulangerie", "folders:full", "comptes-2025").await.allowed);

    // The audit trail records the caps.
    let types = ["membership.created", "membership.restriction_changed"];
    let events = list_events(&s, requests::events("", "boulangerie", &types)).await.unwrap();
    let created = events.iter().find(|e| e.target_id == "m-anne" && e.r#type == "membership.created").unwrap();
    assert!(created.after_json.contains(r#""view_only":["comptes-2025"]"#), "{}", created.after_json);
    let lifted = events.iter().find(|e| e.r#type == "membership.restriction_changed").unwrap();
    assert!(lifted.before_json.contains("view_only") && !lifted.after_json.contains("view_only"), "{lifted:?}");

    // Invitations carry levels, and the membership made on acceptance has them.
    let sent = s
        .invitations()
        .create_invitation(pb::CreateInvitationRequest {
            actor_id: "lucie".into(),
            account_id: "boulangerie".into(),
            email: "sophie.durand@exemple.fr".into(),
            roles: vec!["comptable".into()],
            restriction: restriction(&["paie"], &["comptes-2025", "juridique"]),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let shown = sent.invitation.unwrap().restriction.unwrap();
    assert_eq!(shown.resource_ids, ["paie"]);
    assert_eq!(shown.resource_levels, [capped("comptes-2025", pb::Level::View), capped("juridique", pb::Level::View)]);
    // Gérard cannot invite at a level he does not hold on a folder.
    let denied = s
        .invitations()
        .create_invitation(pb::CreateInvitationRequest {
            actor_id: "gerard".into(),
            account_id: "boulangerie".into(),
            email: "paul@exemple.fr".into(),
            roles: vec!["comptable".into()],
            restriction: restriction(&["comptes-2025"], &[]),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    let accepted = s
        .invitations()
        .accept_invitation(pb::AcceptInvitationRequest {
            token: sent.token,
            given_name: "Sophie".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let sophie = accepted.user.unwrap().id;
    let m = accepted.membership.unwrap().restriction.unwrap();
    assert_eq!(m.resource_levels.len(), 2);
    let r = check(&s, &sophie, "boulangerie", "folders:full", "juridique").await;
    assert_eq!(r.reason_code, "resource_level_capped");
    assert!(check(&s, &sophie, "boulangerie", "folders:full", "paie").await.allowed);

    // Bad input: a level of none, named by its field.
    let bad = s
        .memberships()
        .set_resource_restriction(pb::SetResourceRestrictionRequest {
            membership_id: "m-anne".into(),
            restriction: Some(pb::ResourceRestriction {
                restricted: true,
                resource_ids: vec![],
                resource_levels: vec![capped("paie", pb::Level::None)],
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert_eq!(guichet_tests::violated_fields(&bad), ["restriction.resource_levels[0].level"]);
    assert!(s.stop().await.success());
}

both_backends!(folder_levels => folder_levels);

// ---- The peers' benchmark shape against a naive reference ----

const CLIENTS: usize = 100;
const FOLDERS_PER_CLIENT: usize = 100;
const MEMBERS: usize = 1_000;
const MANAGERS: usize = 2;
const CHECKS: usize = 4_000;
/// How many writes run at once while the world is built.
const PARALLEL: usize = 4;

/// The roles a client member may hold, with their levels on `folders` and `invoices`.
const ROLES: [(&str, [Level; 2]); 3] = [
    ("client_user", [Level::View, Level::View]),
    ("comptable", [Level::Full, Level::View]),
    ("client_administrator", [Level::Full, Level::Full]),
];
const FEATURES: [&str; 2] = ["folders", "invoices"];

/// A small deterministic generator (xorshift64*), so that a failure replays.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d);
        usize::try_from(x >> 33).unwrap() % n
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Level {
    None,
    View,
    Full,
}

struct Member {
    client: usize,
    role: usize,
    /// Folder index → cap: 5 viewed, 2 edited.
    caps: BTreeMap<usize, Level>,
}

fn client(c: usize) -> String {
    format!("client-{c:03}")
}

fn folder(c: usize, f: usize) -> String {
    format!("c{c:03}-dossier-{f:03}")
}

/// The reference, from the rules alone: a member's level on a folder of their client is the role's
/// level capped by the folder's level (none when the folder is not theirs); a partner manager acts
/// through the delegation's role (client_administrator, uncapped) in every client.
fn reference(members: &[Member], user: usize, account: usize, folder_of: (usize, usize), feature: usize) -> Level {
    let (folder_client, f) = folder_of;
    if folder_client != account {
        return Level::None;
    }
    if user >= MEMBERS {
        return Level::Full;
    }
    let m = &members[user];
    if m.client != account {
        return Level::None;
    }
    m.caps.get(&f).map_or(Level::None, |cap| ROLES[m.role].1[feature].min(*cap))
}

/// Runs a write, again while the store answers UNAVAILABLE (its RetryInfo says to: a loaded
/// machine may queue writes past the pool's acquire timeout); a retry that finds its own earlier
/// attempt committed (ALREADY_EXISTS) is done.
async fn write<T, Fut>(mut call: impl FnMut() -> Fut)
where
    Fut: std::future::Future<Output = Result<T, tonic::Status>>,
{
    for attempt in 0..20 {
        match call().await {
            Ok(_) => return,
            Err(e) if e.code() == Code::Unavailable => {
                tokio::time::sleep(std::time::Duration::from_millis(100 * (attempt + 1))).await;
            }
            Err(e) if e.code() == Code::AlreadyExists && attempt > 0 => return,
            Err(e) => panic!("{e:?}"),
        }
    }
    panic!("the store stayed unavailable");
}

/// `write` of `client.method(request)`.
macro_rules! call {
    ($client:expr, $method:ident, $request:expr) => {
        write(|| {
            let (mut c, r) = ($client.clone(), $request.clone());
            async move { c.$method(r).await }
        })
        .await
    };
}

async fn run_all<F>(jobs: Vec<F>)
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let mut jobs = jobs.into_iter();
    loop {
        let chunk: Vec<_> = jobs.by_ref().take(PARALLEL * 16).map(tokio::spawn).collect();
        if chunk.is_empty() {
            break;
        }
        for j in chunk {
            j.await.unwrap();
        }
    }
}

async fn benchmark_shape(backend: Backend) {
    let Some(db) = TestDatabase::new(backend).await else { return };
    let s = spawn_app(test_config(&db.url)).await;
    let mut rng = Rng(20_261_207);

    // A partner with 100 client accounts, a bookkeeper role in each, 100 folders in each.
    s.accounts().create_account(requests::account("cabinet", "Cabinet", "partner", "")).await.unwrap();
    let mut jobs = Vec::new();
    for c in 0..CLIENTS {
        let (accounts, roles, delegations) = (s.accounts(), s.roles(), s.delegations());
        jobs.push(async move {
            let account = pb::CreateAccountRequest {
                id: client(c),
                name: format!("Client {c}"),
                kind: "customer".into(),
                parent_id: "cabinet".into(),
                ..Default::default()
            };
            call!(accounts, create_account, account);
            let role = bookkeeper(client(c));
            call!(roles, create_role, role);
            let delegation = pb::CreateDelegationRequest {
                id: format!("d-{c:03}"),
                from_account_id: "cabinet".into(),
                to_account_id: client(c),
                role: "client_administrator".into(),
                ..Default::default()
            };
            call!(delegations, create_delegation, delegation);
        });
    }
    run_all(jobs).await;
    let mut jobs = Vec::new();
    for c in 0..CLIENTS {
        for f in 0..FOLDERS_PER_CLIENT {
            let resources = s.resources();
            jobs.push(async move {
                let resource = pb::CreateResourceRequest {
                    id: folder(c, f),
                    account_id: client(c),
                    kind: "folder".into(),
                    name: format!("Dossier {f}"),
                    ..Default::default()
                };
                call!(resources, create_resource, resource);
            });
        }
    }
    run_all(jobs).await;

    // 1,000 client members, one role each, viewer of 5 and editor of 2 random folders; the
    // partner's managers.
    let mut members = Vec::with_capacity(MEMBERS);
    let mut jobs = Vec::new();
    for u in 0..MEMBERS + MANAGERS {
        let (account, roles, restriction) = if u < MEMBERS {
            let c = rng.below(CLIENTS);
            let role = rng.below(ROLES.len());
            let mut picked: Vec<usize> = (0..FOLDERS_PER_CLIENT).collect();
            rng.shuffle(&mut picked);
            let caps: BTreeMap<usize, Level> = picked[..7]
                .iter()
                .enumerate()
                .map(|(i, f)| (*f, if i < 5 { Level::View } else { Level::Full }))
                .collect();
            let restriction = pb::ResourceRestriction {
                restricted: true,
                resource_ids: caps.iter().filter(|(_, l)| **l == Level::Full).map(|(f, _)| folder(c, *f)).collect(),
                resource_levels: caps
                    .iter()
                    .filter(|(_, l)| **l == Level::View)
                    .map(|(f, _)| capped(&folder(c, *f), pb::Level::View))
                    .collect(),
            };
            members.push(Member { client: c, role, caps });
            (client(c), vec![ROLES[role].0.to_owned()], Some(restriction))
        } else {
            ("cabinet".to_owned(), vec!["delegated_account_administrator".to_owned()], None)
        };
        let (users, memberships) = (s.users(), s.memberships());
        jobs.push(async move {
            let user = pb::CreateUserRequest {
                id: format!("u{u:04}"),
                email: format!("u{u:04}@exemple.fr"),
                given_name: format!("U{u}"),
                ..Default::default()
            };
            call!(users, create_user, user);
            let membership = pb::CreateMembershipRequest {
                id: format!("m{u:04}"),
                account_id: account,
                user_id: format!("u{u:04}"),
                roles,
                restriction,
                ..Default::default()
            };
            call!(memberships, create_membership, membership);
        });
    }
    run_all(jobs).await;

    // Thousands of random checks, batched; half of them on the member's own client so that most
    // land on folders the member holds or nearly holds.
    let mut questions = Vec::with_capacity(CHECKS);
    for _ in 0..CHECKS {
        let user = rng.below(MEMBERS + MANAGERS);
        let own = (user < MEMBERS).then(|| members[user].client);
        let account = match own {
            Some(c) if rng.chance(80) => c,
            _ => rng.below(CLIENTS),
        };
        let folder_of = if user < MEMBERS && own == Some(account) && rng.chance(70) {
            let held: Vec<usize> = members[user].caps.keys().copied().collect();
            (account, held[rng.below(held.len())])
        } else if rng.chance(90) {
            (account, rng.below(FOLDERS_PER_CLIENT))
        } else {
            (rng.below(CLIENTS), rng.below(FOLDERS_PER_CLIENT))
        };
        let feature = rng.below(FEATURES.len());
        let level = if rng.chance(50) { Level::View } else { Level::Full };
        questions.push((user, account, folder_of, feature, level));
    }
    let mut access = s.access();
    let mut agreed = 0;
    let mut allowed = 0;
    let mut capped_denies = 0;
    for chunk in questions.chunks(100) {
        let items = chunk
            .iter()
            .map(|(user, account, (fc, f), feature, level)| pb::CheckAccessBatchItem {
                subject_id: format!("u{user:04}"),
                account_id: client(*account),
                permission: format!("{}:{}", FEATURES[*feature], if *level == Level::View { "view" } else { "full" }),
                resource_id: folder(*fc, *f),
            })
            .collect();
        let answers = access
            .check_access_batch(pb::CheckAccessBatchRequest { items, consistency: None })
            .await
            .unwrap()
            .into_inner()
            .results;
        assert_eq!(answers.len(), chunk.len());
        for (q, a) in chunk.iter().zip(answers) {
            let (user, account, folder_of, feature, level) = *q;
            let expected = reference(&members, user, account, folder_of, feature) >= level;
            assert_eq!(
                a.allowed,
                expected,
                "u{user:04} in {} on {folder_of:?} {feature} {level:?}: {a:?}",
                client(account)
            );
            agreed += 1;
            allowed += usize::from(a.allowed);
            capped_denies += usize::from(a.reason_code == "resource_level_capped");
        }
    }
    assert_eq!(agreed, CHECKS);
    // The sample exercises every kind of answer: allowed, capped, out of reach.
    assert!(allowed > CHECKS / 10 && allowed < CHECKS * 9 / 10, "{allowed} allowed of {CHECKS}");
    assert!(capped_denies > 50, "{capped_denies} capped denies");
    assert!(s.stop().await.success());
}

both_backends!(benchmark_shape_matches_the_reference => benchmark_shape);
