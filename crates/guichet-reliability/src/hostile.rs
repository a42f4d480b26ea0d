//! Hostile input against the running server (6) and a quick tenant-isolation and privilege sweep
//! (7; the exhaustive per-RPC matrix lives in the end-to-end tests).
//!
//! One file on purpose: the two scenarios share the generators of hostile requests and their
//! verdicts; each scenario is a function read on its own.

use std::collections::BTreeMap;

use guichet_proto::v1 as pb;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use prost::Message;
use tonic::{Code, Status};

use crate::world::{self, Api, code_name};
use crate::{BoxError, Env, Outcome, verdict};

/// The largest message the server decodes (tonic's default).
const MAX_DECODE: usize = 4 * 1024 * 1024;

fn hostile_string() -> BoxedStrategy<String> {
    prop_oneof![
        Just(String::new()),
        Just("h".to_owned()),
        Just("h-admin".to_owned()),
        Just("h-admin@exemple.fr".to_owned()),
        Just("users:full".to_owned()),
        Just("' OR 1=1; --".to_owned()),
        Just("\"; DROP TABLE accounts; --".to_owned()),
        Just("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n".to_owned()),
        Just("FLUSHALL\r\nPING\r\n".to_owned()),
        Just("\u{0}\u{1}\u{1b}[31m\u{7f}".to_owned()),
        Just("é🦀\u{202e}ü\u{200b}".to_owned()),
        Just("a".repeat(129)),
        Just("b".repeat(65)),
        Just("x".repeat(70_000)),
        Just("../../etc/passwd%00".to_owned()),
        Just("%s%n{}{{}}${jndi:x}".to_owned()),
        Just("r-1".to_owned()),
        Just("r99999999999999999999999".to_owned()),
        Just("users:".to_owned()),
        Just(":full".to_owned()),
        "\\PC{0,40}",
        any::<String>(),
        "[a-z0-9_-]{1,20}",
        "[a-z_]{1,12}:(view|full|none|VIEW|admin|)",
        "[A-Za-z0-9+/=_-]{0,80}",
    ]
    .boxed()
}

/// Mostly well-formed values of one kind (so that calls reach the store), sometimes hostile.
fn mostly(valid: BoxedStrategy<String>) -> BoxedStrategy<String> {
    prop_oneof![4 => valid, 1 => hostile_string()].boxed()
}

fn id() -> BoxedStrategy<String> {
    mostly(prop_oneof![Just("h".to_owned()), Just("h-admin".to_owned()), "[a-z][a-z0-9_-]{0,15}"].boxed())
}

fn optional() -> BoxedStrategy<String> {
    mostly(prop_oneof![3 => Just(String::new()), 1 => Just("h-admin".to_owned())].boxed())
}

fn email() -> BoxedStrategy<String> {
    mostly("[a-z][a-z0-9.+-]{0,10}@(exemple\\.fr|[a-z]{1,8}\\.(com|org))".boxed())
}

fn permission() -> BoxedStrategy<String> {
    mostly("(users|billing|event_logs|hosting|folders|access_approvals):(view|full)".boxed())
}

fn role() -> BoxedStrategy<String> {
    mostly(prop_oneof![Just("account_manager".to_owned()), Just("billing_manager".to_owned())].boxed())
}

fn roles() -> BoxedStrategy<Vec<String>> {
    prop::collection::vec(role(), 0..4).boxed()
}

fn hostile_i32() -> BoxedStrategy<i32> {
    prop_oneof![
        Just(i32::MIN),
        Just(-1),
        Just(0),
        Just(1),
        Just(50),
        Just(1000),
        Just(1001),
        Just(i32::MAX),
        any::<i32>()
    ]
    .boxed()
}

fn strings(max: usize) -> BoxedStrategy<Vec<String>> {
    prop::collection::vec(hostile_string(), 0..max).boxed()
}

fn consistency() -> BoxedStrategy<Option<pb::Consistency>> {
    use pb::consistency::Requirement;
    prop_oneof![
        Just(None),
        Just(Some(pb::Consistency { requirement: None })),
        any::<bool>().prop_map(|b| Some(pb::Consistency { requirement: Some(Requirement::MinimizeLatency(b)) })),
        any::<bool>().prop_map(|b| Some(pb::Consistency { requirement: Some(Requirement::FullyConsistent(b)) })),
        hostile_string().prop_map(|s| Some(pb::Consistency { requirement: Some(Requirement::AtLeastAsFresh(s)) })),
    ]
    .boxed()
}

/// One hostile call.
#[derive(Debug, Clone)]
enum Call {
    Check(pb::CheckAccessRequest),
    Batch(pb::CheckAccessBatchRequest),
    CreateUser(pb::CreateUserRequest),
    CreateAccount(pb::CreateAccountRequest),
    ListEvents(pb::ListEventsRequest),
    ListMemberships(pb::ListMembershipsRequest),
    CreateMembership(pb::CreateMembershipRequest),
    CreateInvitation(pb::CreateInvitationRequest),
    Accept(pb::AcceptInvitationRequest),
    CreateRole(pb::CreateRoleRequest),
    Accessible(pb::ListAccessibleAccountsRequest),
}

fn call() -> BoxedStrategy<Call> {
    let s = hostile_string;
    let (o, i, e, p) = (optional, id, email, permission);
    prop_oneof![
        (i(), i(), p(), o(), consistency()).prop_map(
            |(subject_id, account_id, permission, resource_id, consistency)| {
                Call::Check(pb::CheckAccessRequest { subject_id, account_id, permission, resource_id, consistency })
            }
        ),
        (prop_oneof![Just(0usize), Just(1), Just(100), Just(1000), Just(1001), Just(5000)], p(), consistency())
            .prop_map(|(n, perm, consistency)| Call::Batch(pb::CheckAccessBatchRequest {
                items: (0..n)
                    .map(|i| pb::CheckAccessBatchItem {
                        subject_id: format!("h-admin{}", i % 3),
                        account_id: "h".into(),
                        permission: perm.clone(),
                        resource_id: String::new(),
                    })
                    .collect(),
                consistency,
            })),
        (o(), o(), i(), e(), s(), o(), o()).prop_map(
            |(request_id, actor_id, id, email, given_name, phone, account_id)| {
                Call::CreateUser(pb::CreateUserRequest {
                    request_id,
                    actor_id,
                    id,
                    email,
                    given_name,
                    phone,
                    account_id,
                    ..Default::default()
                })
            }
        ),
        (o(), i(), s(), mostly(Just("direct_client".to_owned()).boxed()), o(), strings(3)).prop_map(
            |(actor_id, id, name, kind, parent_id, modules)| {
                Call::CreateAccount(pb::CreateAccountRequest {
                    actor_id,
                    id,
                    name,
                    kind,
                    parent_id,
                    modules,
                    ..Default::default()
                })
            }
        ),
        (o(), i(), strings(3), o(), hostile_i32(), o()).prop_map(
            |(actor_id, account_id, types, by_actor_id, page_size, page_token)| {
                Call::ListEvents(pb::ListEventsRequest {
                    actor_id,
                    account_id,
                    types,
                    by_actor_id,
                    page_size,
                    page_token,
                    ..Default::default()
                })
            }
        ),
        (o(), i(), o(), hostile_i32(), o()).prop_map(|(actor_id, account_id, user_id, page_size, page_token)| {
            Call::ListMemberships(pb::ListMembershipsRequest {
                actor_id,
                account_id,
                user_id,
                page_size,
                page_token,
                ..Default::default()
            })
        }),
        (o(), i(), i(), i(), roles()).prop_map(|(actor_id, id, account_id, user_id, roles)| {
            Call::CreateMembership(pb::CreateMembershipRequest {
                actor_id,
                id,
                account_id,
                user_id,
                roles,
                ..Default::default()
            })
        }),
        (o(), i(), i(), e(), roles()).prop_map(|(actor_id, id, account_id, email, roles)| {
            Call::CreateInvitation(pb::CreateInvitationRequest {
                actor_id,
                id,
                account_id,
                email,
                roles,
                ..Default::default()
            })
        }),
        (o(), s(), o()).prop_map(|(request_id, token, phone)| {
            Call::Accept(pb::AcceptInvitationRequest { request_id, token, phone, ..Default::default() })
        }),
        (
            o(),
            i(),
            i(),
            prop::collection::vec(
                (mostly("(users|billing|hosting)".boxed()), prop_oneof![3 => 1..4i32, 1 => hostile_i32()]),
                0..5
            )
        )
            .prop_map(|(actor_id, account_id, name, grants)| {
                Call::CreateRole(pb::CreateRoleRequest {
                    actor_id,
                    account_id,
                    name,
                    grants: grants.into_iter().map(|(feature, level)| pb::FeatureGrant { feature, level }).collect(),
                    ..Default::default()
                })
            }),
        (i(), p(), hostile_i32(), o()).prop_map(|(subject_id, permission, page_size, page_token)| {
            Call::Accessible(pb::ListAccessibleAccountsRequest {
                subject_id,
                permission,
                page_size,
                page_token,
                ..Default::default()
            })
        }),
    ]
    .boxed()
}

impl Call {
    fn name(&self) -> &'static str {
        match self {
            Call::Check(_) => "CheckAccess",
            Call::Batch(_) => "CheckAccessBatch",
            Call::CreateUser(_) => "CreateUser",
            Call::CreateAccount(_) => "CreateAccount",
            Call::ListEvents(_) => "ListEvents",
            Call::ListMemberships(_) => "ListMemberships",
            Call::CreateMembership(_) => "CreateMembership",
            Call::CreateInvitation(_) => "CreateInvitation",
            Call::Accept(_) => "AcceptInvitation",
            Call::CreateRole(_) => "CreateRole",
            Call::Accessible(_) => "ListAccessibleAccounts",
        }
    }

    fn encoded_len(&self) -> usize {
        match self {
            Call::Check(m) => m.encoded_len(),
            Call::Batch(m) => m.encoded_len(),
            Call::CreateUser(m) => m.encoded_len(),
            Call::CreateAccount(m) => m.encoded_len(),
            Call::ListEvents(m) => m.encoded_len(),
            Call::ListMemberships(m) => m.encoded_len(),
            Call::CreateMembership(m) => m.encoded_len(),
            Call::CreateInvitation(m) => m.encoded_len(),
            Call::Accept(m) => m.encoded_len(),
            Call::CreateRole(m) => m.encoded_len(),
            Call::Accessible(m) => m.encoded_len(),
        }
    }

    async fn send(self, api: &mut Api) -> Result<(), Status> {
        match self {
            Call::Check(m) => api.access.check_access(m).await.map(drop),
            Call::Batch(m) => api.access.check_access_batch(m).await.map(drop),
            Call::CreateUser(m) => api.users.create_user(m).await.map(drop),
            Call::CreateAccount(m) => api.accounts.create_account(m).await.map(drop),
            Call::ListEvents(m) => api.events.list_events(m).await.map(drop),
            Call::ListMemberships(m) => api.memberships.list_memberships(m).await.map(drop),
            Call::CreateMembership(m) => api.memberships.create_membership(m).await.map(drop),
            Call::CreateInvitation(m) => api.invitations.create_invitation(m).await.map(drop),
            Call::Accept(m) => api.invitations.accept_invitation(m).await.map(drop),
            Call::CreateRole(m) => api.roles.create_role(m).await.map(drop),
            Call::Accessible(m) => api.access.list_accessible_accounts(m).await.map(drop),
        }
    }
}

/// Codes every RPC may answer (common.proto's ERRORS), plus the transport's size refusal for a
/// message over the decode limit.
fn documented(code: Code, oversized: bool) -> bool {
    matches!(
        code,
        Code::Ok
            | Code::InvalidArgument
            | Code::NotFound
            | Code::AlreadyExists
            | Code::FailedPrecondition
            | Code::PermissionDenied
    ) || (oversized && matches!(code, Code::OutOfRange | Code::ResourceExhausted))
}

/// Scenario 6: a proptest-driven gRPC client sending random and boundary values.
pub(crate) async fn hostile_input(env: &mut Env) -> Result<Outcome, BoxError> {
    let url = env.database()?;
    let mut g = env.guichet(&url).await?;
    let mut api = Api::new(&g.channel);
    api.load(&world::team("h", [("h-m-admin", "h-admin", "account_manager")])).await?;
    let mut runner =
        TestRunner::new(Config { cases: env.sizes.hostile_cases, failure_persistence: None, ..Config::default() });
    let strategy = call();
    let total = env.sizes.hostile_cases as usize * 11;
    let mut tried = 0usize;
    let mut codes: BTreeMap<&str, usize> = BTreeMap::new();
    let mut undocumented: BTreeMap<String, usize> = BTreeMap::new();
    let mut deaths = 0;
    for _ in 0..total {
        let c = strategy.new_tree(&mut runner).map_err(|e| format!("proptest: {e}"))?.current();
        let (name, oversized) = (c.name(), c.encoded_len() > MAX_DECODE);
        let shown: String = format!("{c:?}").chars().take(400).collect();
        let (code, message) = match c.send(&mut api).await {
            Ok(()) => (Code::Ok, String::new()),
            Err(s) => (s.code(), s.message().to_owned()),
        };
        tried += 1;
        *codes.entry(code_name(code)).or_default() += 1;
        if !documented(code, oversized) {
            let seen = undocumented.entry(format!("{name}:{}", code_name(code))).or_default();
            if *seen < 2 {
                eprintln!("6. undocumented {}: {message} for {shown}", code_name(code));
            }
            *seen += 1;
        }
        if !g.alive() {
            deaths += 1;
            g = g.restart(&env.bin).await?;
            api = Api::new(&g.channel);
        }
    }
    // Oversized messages, explicitly: one just over the decode limit, and a huge batch.
    for c in [
        Call::CreateUser(pb::CreateUserRequest {
            id: "big".into(),
            email: "big@exemple.fr".into(),
            given_name: "g".repeat(MAX_DECODE + 10),
            ..Default::default()
        }),
        Call::Batch(pb::CheckAccessBatchRequest {
            items: (0..100_000)
                .map(|_| pb::CheckAccessBatchItem {
                    subject_id: "h-admin".into(),
                    account_id: "h".into(),
                    permission: "users:full".into(),
                    resource_id: String::new(),
                })
                .collect(),
            consistency: None,
        }),
    ] {
        let (name, oversized) = (c.name(), c.encoded_len() > MAX_DECODE);
        let code = match c.send(&mut api).await {
            Ok(()) => Code::Ok,
            Err(s) => s.code(),
        };
        tried += 1;
        *codes.entry(code_name(code)).or_default() += 1;
        if !documented(code, oversized) || code == Code::Ok {
            *undocumented.entry(format!("{name}(oversized):{}", code_name(code))).or_default() += 1;
        }
    }
    if !g.alive() {
        deaths += 1;
    }
    let panics = g.log().matches("panicked").count();
    let bad: usize = undocumented.values().sum();
    let ok = deaths == 0 && panics == 0 && bad == 0;
    let codes = codes.iter().map(|(k, v)| format!("{k}:{v}")).collect::<Vec<_>>().join(",");
    let undocumented = undocumented.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",");
    Ok(Outcome {
        number: 6,
        line: format!(
            "6. hostile input [{}]: inputs={tried} (proptest over 11 RPCs + oversized messages) process_deaths={deaths} \
             panics_logged={panics} undocumented_codes={bad} {{{undocumented}}} codes={{{codes}}}",
            verdict(ok),
        ),
        ok,
    })
}

/// Scenario 7: an administrator of account A against account B's ids, a client user against admin
/// calls, an inviter granting more than it holds, invitation tokens replayed.
pub(crate) async fn isolation(env: &mut Env) -> Result<Outcome, BoxError> {
    let url = env.database()?;
    let g = env.guichet(&url).await?;
    let mut api = Api::new(&g.channel);
    let mut spec = world::team(
        "iso-a",
        [
            ("iso-ma", "a-admin", "account_manager"),
            ("iso-mc", "a-client", "billing_manager"),
            ("iso-mi", "a-inviter", "inviter"),
        ],
    );
    let b = world::team("iso-b", [("iso-mb", "b-admin", "account_manager")]);
    spec.accounts.extend(b.accounts);
    spec.users.extend(b.users);
    spec.memberships.extend(b.memberships);
    // A custom role that may invite (users:full) and nothing else.
    spec.roles.push(
        guichet_domain::RoleSpec::new("iso-a", "inviter")
            .described("Inviter", "")
            .grant("users", guichet_domain::Level::Full),
    );
    api.load(&spec).await?;
    api.invitations
        .create_invitation(pb::CreateInvitationRequest {
            id: "iso-inv-b".into(),
            account_id: "iso-b".into(),
            email: "someone-b@exemple.fr".into(),
            roles: vec!["billing_manager".into()],
            ..Default::default()
        })
        .await?;
    let mut attempts: Vec<(String, Result<(), Status>)> = Vec::new();
    macro_rules! attempt {
        ($label:expr, $call:expr) => {
            attempts.push(($label.to_string(), $call.await.map(drop)));
        };
    }
    // An administrator of A (and a client user of A) against B.
    for actor in ["a-admin", "a-client"] {
        let a = || actor.to_owned();
        attempt!(
            format!("{actor} GetAccount(B)"),
            api.accounts.get_account(pb::GetAccountRequest { actor_id: a(), id: "iso-b".into() })
        );
        attempt!(
            format!("{actor} SuspendAccount(B)"),
            api.accounts.suspend_account(pb::SuspendAccountRequest {
                actor_id: a(),
                id: "iso-b".into(),
                reason: "x".into(),
                ..Default::default()
            })
        );
        attempt!(
            format!("{actor} UpdateAccount(B)"),
            api.accounts.update_account(pb::UpdateAccountRequest {
                actor_id: a(),
                id: "iso-b".into(),
                name: "pwned".into(),
                ..Default::default()
            })
        );
        attempt!(
            format!("{actor} ListMemberships(B)"),
            api.memberships.list_memberships(pb::ListMembershipsRequest {
                actor_id: a(),
                account_id: "iso-b".into(),
                ..Default::default()
            })
        );
        attempt!(
            format!("{actor} GetMembership(B)"),
            api.memberships.get_membership(pb::GetMembershipRequest { actor_id: a(), id: "iso-mb".into() })
        );
        attempt!(
            format!("{actor} SetMembershipRoles(B)"),
            api.memberships.set_membership_roles(pb::SetMembershipRolesRequest {
                actor_id: a(),
                membership_id: "iso-mb".into(),
                roles: vec!["billing_manager".into()],
                ..Default::default()
            })
        );
        attempt!(
            format!("{actor} SuspendMembership(B)"),
            api.memberships.suspend_membership(pb::SuspendMembershipRequest {
                actor_id: a(),
                membership_id: "iso-mb".into(),
                ..Default::default()
            })
        );
        attempt!(
            format!("{actor} CreateMembership(B)"),
            api.memberships.create_membership(pb::CreateMembershipRequest {
                actor_id: a(),
                account_id: "iso-b".into(),
                user_id: actor.into(),
                roles: vec!["account_manager".into()],
                ..Default::default()
            })
        );
        attempt!(
            format!("{actor} CreateInvitation(B)"),
            api.invitations.create_invitation(pb::CreateInvitationRequest {
                actor_id: a(),
                account_id: "iso-b".into(),
                email: "spy@exemple.fr".into(),
                roles: vec!["account_manager".into()],
                ..Default::default()
            })
        );
        attempt!(
            format!("{actor} GetInvitation(B)"),
            api.invitations.get_invitation(pb::GetInvitationRequest { actor_id: a(), id: "iso-inv-b".into() })
        );
        attempt!(
            format!("{actor} RevokeInvitation(B)"),
            api.invitations.revoke_invitation(pb::RevokeInvitationRequest {
                actor_id: a(),
                id: "iso-inv-b".into(),
                ..Default::default()
            })
        );
        attempt!(
            format!("{actor} ListEvents(B)"),
            api.events.list_events(pb::ListEventsRequest {
                actor_id: a(),
                account_id: "iso-b".into(),
                ..Default::default()
            })
        );
        attempt!(
            format!("{actor} CreateRole(B)"),
            api.roles.create_role(pb::CreateRoleRequest {
                actor_id: a(),
                account_id: "iso-b".into(),
                name: "spy".into(),
                display_name: "Spy".into(),
                grants: vec![pb::FeatureGrant { feature: "users".into(), level: pb::Level::Full as i32 }],
                ..Default::default()
            })
        );
    }
    // A client user against admin calls of its own account.
    let c = || "a-client".to_owned();
    attempt!(
        "a-client CreateInvitation(A)",
        api.invitations.create_invitation(pb::CreateInvitationRequest {
            actor_id: c(),
            account_id: "iso-a".into(),
            email: "friend@exemple.fr".into(),
            roles: vec!["billing_manager".into()],
            ..Default::default()
        })
    );
    attempt!(
        "a-client SetMembershipRoles(self→admin)",
        api.memberships.set_membership_roles(pb::SetMembershipRolesRequest {
            actor_id: c(),
            membership_id: "iso-mc".into(),
            roles: vec!["account_manager".into()],
            ..Default::default()
        })
    );
    attempt!(
        "a-client SetMembershipRoles(admin→client)",
        api.memberships.set_membership_roles(pb::SetMembershipRolesRequest {
            actor_id: c(),
            membership_id: "iso-ma".into(),
            roles: vec!["billing_manager".into()],
            ..Default::default()
        })
    );
    attempt!(
        "a-client SuspendMembership(admin)",
        api.memberships.suspend_membership(pb::SuspendMembershipRequest {
            actor_id: c(),
            membership_id: "iso-ma".into(),
            ..Default::default()
        })
    );
    attempt!(
        "a-client SuspendAccount(A)",
        api.accounts.suspend_account(pb::SuspendAccountRequest {
            actor_id: c(),
            id: "iso-a".into(),
            reason: "x".into(),
            ..Default::default()
        })
    );
    attempt!(
        "a-client CreateRole(A)",
        api.roles.create_role(pb::CreateRoleRequest {
            actor_id: c(),
            account_id: "iso-a".into(),
            name: "boss".into(),
            display_name: "Boss".into(),
            grants: vec![pb::FeatureGrant { feature: "users".into(), level: pb::Level::Full as i32 }],
            ..Default::default()
        })
    );
    // An inviter (users:full only) handing out more than it holds.
    let i = || "a-inviter".to_owned();
    attempt!(
        "a-inviter CreateInvitation(account_manager)",
        api.invitations.create_invitation(pb::CreateInvitationRequest {
            actor_id: i(),
            account_id: "iso-a".into(),
            email: "boss@exemple.fr".into(),
            roles: vec!["account_manager".into()],
            ..Default::default()
        })
    );
    attempt!(
        "a-inviter SetMembershipRoles(self→account_manager)",
        api.memberships.set_membership_roles(pb::SetMembershipRolesRequest {
            actor_id: i(),
            membership_id: "iso-mi".into(),
            roles: vec!["account_manager".into()],
            ..Default::default()
        })
    );
    attempt!(
        "a-inviter AssignRole(client→account_manager)",
        api.memberships.assign_role(pb::AssignRoleRequest {
            actor_id: i(),
            membership_id: "iso-mc".into(),
            role: "account_manager".into(),
            ..Default::default()
        })
    );
    // Replayed tokens: accepted, then revoked.
    let accepted = api
        .invitations
        .create_invitation(pb::CreateInvitationRequest {
            account_id: "iso-a".into(),
            email: "once@exemple.fr".into(),
            roles: vec!["billing_manager".into()],
            ..Default::default()
        })
        .await?
        .into_inner()
        .token;
    api.invitations
        .accept_invitation(pb::AcceptInvitationRequest { token: accepted.clone(), ..Default::default() })
        .await?;
    attempt!(
        "replay accepted token",
        api.invitations.accept_invitation(pb::AcceptInvitationRequest { token: accepted, ..Default::default() })
    );
    let revoked = api
        .invitations
        .create_invitation(pb::CreateInvitationRequest {
            id: "iso-inv-r".into(),
            account_id: "iso-a".into(),
            email: "revoked@exemple.fr".into(),
            roles: vec!["billing_manager".into()],
            ..Default::default()
        })
        .await?
        .into_inner()
        .token;
    api.invitations
        .revoke_invitation(pb::RevokeInvitationRequest { id: "iso-inv-r".into(), ..Default::default() })
        .await?;
    attempt!(
        "replay revoked token",
        api.invitations.accept_invitation(pb::AcceptInvitationRequest { token: revoked, ..Default::default() })
    );
    // Nothing about B changed.
    let b_intact = api.check("b-admin", "iso-b", "users:full").await.is_ok_and(|r| r.allowed)
        && !api.check("a-admin", "iso-b", "users:view").await.is_ok_and(|r| r.allowed)
        && !api.check("a-client", "iso-a", "users:full").await.is_ok_and(|r| r.allowed);
    let escalations: Vec<&str> = attempts.iter().filter(|(_, r)| r.is_ok()).map(|(l, _)| l.as_str()).collect();
    let odd: Vec<String> = attempts
        .iter()
        .filter_map(|(l, r)| match r {
            Err(s) if matches!(s.code(), Code::Internal | Code::Unknown | Code::Unavailable) => {
                Some(format!("{l}:{}", code_name(s.code())))
            }
            _ => None,
        })
        .collect();
    let ok = escalations.is_empty() && odd.is_empty() && b_intact;
    let mut codes: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, r) in &attempts {
        *codes.entry(code_name(r.as_ref().err().map_or(Code::Ok, Status::code))).or_default() += 1;
    }
    let codes = codes.iter().map(|(k, v)| format!("{k}:{v}")).collect::<Vec<_>>().join(",");
    Ok(Outcome {
        number: 7,
        line: format!(
            "7. tenant isolation and privilege [{}]: attempts={} escalations={} {:?} internal_errors={} state_intact={b_intact} codes={{{codes}}}",
            verdict(ok),
            attempts.len(),
            escalations.len(),
            escalations,
            odd.len(),
        ),
        ok,
    })
}
