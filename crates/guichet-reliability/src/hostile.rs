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

/// The RPCs the hostile client calls: a variant each, with the RPC's name and the client method
/// that sends it.
macro_rules! calls {
    ($($variant:ident($request:ident) => $name:literal, $client:ident.$method:ident;)+) => {
        /// One hostile call.
        #[derive(Debug, Clone)]
        enum Call {
            $($variant(pb::$request),)+
        }

        impl Call {
            fn name(&self) -> &'static str {
                match self {
                    $(Call::$variant(_) => $name,)+
                }
            }

            fn encoded_len(&self) -> usize {
                match self {
                    $(Call::$variant(m) => m.encoded_len(),)+
                }
            }

            async fn send(self, api: &mut Api) -> Result<(), Status> {
                match self {
                    $(Call::$variant(m) => api.$client.$method(m).await.map(drop),)+
                }
            }
        }
    };
}

calls! {
    Check(CheckAccessRequest) => "CheckAccess", access.check_access;
    Batch(CheckAccessBatchRequest) => "CheckAccessBatch", access.check_access_batch;
    CreateUser(CreateUserRequest) => "CreateUser", users.create_user;
    CreateAccount(CreateAccountRequest) => "CreateAccount", accounts.create_account;
    ListEvents(ListEventsRequest) => "ListEvents", events.list_events;
    ListMemberships(ListMembershipsRequest) => "ListMemberships", memberships.list_memberships;
    CreateMembership(CreateMembershipRequest) => "CreateMembership", memberships.create_membership;
    CreateInvitation(CreateInvitationRequest) => "CreateInvitation", invitations.create_invitation;
    Accept(AcceptInvitationRequest) => "AcceptInvitation", invitations.accept_invitation;
    CreateRole(CreateRoleRequest) => "CreateRole", roles.create_role;
    Accessible(ListAccessibleAccountsRequest) => "ListAccessibleAccounts", access.list_accessible_accounts;
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

/// `key{sep}count` for each entry, comma-separated.
fn tally<K: std::fmt::Display>(counts: &BTreeMap<K, usize>, sep: &str) -> String {
    counts.iter().map(|(k, v)| format!("{k}{sep}{v}")).collect::<Vec<_>>().join(",")
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
    let codes = tally(&codes, ":");
    let undocumented = tally(&undocumented, "=");
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
    let to_b = pb::CreateInvitationRequest {
        id: "iso-inv-b".into(),
        ..invite("", "iso-b", "someone-b@exemple.fr", "billing_manager")
    };
    api.invitations.create_invitation(to_b).await?;
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
        attempt!(format!("{actor} SuspendAccount(B)"), api.accounts.suspend_account(suspend_account(actor, "iso-b")));
        let rename =
            pb::UpdateAccountRequest { actor_id: a(), id: "iso-b".into(), name: "pwned".into(), ..Default::default() };
        attempt!(format!("{actor} UpdateAccount(B)"), api.accounts.update_account(rename));
        let list = pb::ListMembershipsRequest { actor_id: a(), account_id: "iso-b".into(), ..Default::default() };
        attempt!(format!("{actor} ListMemberships(B)"), api.memberships.list_memberships(list));
        attempt!(
            format!("{actor} GetMembership(B)"),
            api.memberships.get_membership(pb::GetMembershipRequest { actor_id: a(), id: "iso-mb".into() })
        );
        attempt!(
            format!("{actor} SetMembershipRoles(B)"),
            api.memberships.set_membership_roles(set_roles(actor, "iso-mb", "billing_manager"))
        );
        attempt!(
            format!("{actor} SuspendMembership(B)"),
            api.memberships.suspend_membership(suspend_membership(actor, "iso-mb"))
        );
        let join = pb::CreateMembershipRequest {
            actor_id: a(),
            account_id: "iso-b".into(),
            user_id: a(),
            roles: vec!["account_manager".into()],
            ..Default::default()
        };
        attempt!(format!("{actor} CreateMembership(B)"), api.memberships.create_membership(join));
        attempt!(
            format!("{actor} CreateInvitation(B)"),
            api.invitations.create_invitation(invite(actor, "iso-b", "spy@exemple.fr", "account_manager"))
        );
        attempt!(
            format!("{actor} GetInvitation(B)"),
            api.invitations.get_invitation(pb::GetInvitationRequest { actor_id: a(), id: "iso-inv-b".into() })
        );
        let revoke = pb::RevokeInvitationRequest { actor_id: a(), id: "iso-inv-b".into(), ..Default::default() };
        attempt!(format!("{actor} RevokeInvitation(B)"), api.invitations.revoke_invitation(revoke));
        let events = pb::ListEventsRequest { actor_id: a(), account_id: "iso-b".into(), ..Default::default() };
        attempt!(format!("{actor} ListEvents(B)"), api.events.list_events(events));
        attempt!(
            format!("{actor} CreateRole(B)"),
            api.roles.create_role(users_full_role(actor, "iso-b", "spy", "Spy"))
        );
    }
    // A client user against admin calls of its own account.
    let c = "a-client";
    attempt!(
        "a-client CreateInvitation(A)",
        api.invitations.create_invitation(invite(c, "iso-a", "friend@exemple.fr", "billing_manager"))
    );
    attempt!(
        "a-client SetMembershipRoles(self→admin)",
        api.memberships.set_membership_roles(set_roles(c, "iso-mc", "account_manager"))
    );
    attempt!(
        "a-client SetMembershipRoles(admin→client)",
        api.memberships.set_membership_roles(set_roles(c, "iso-ma", "billing_manager"))
    );
    attempt!("a-client SuspendMembership(admin)", api.memberships.suspend_membership(suspend_membership(c, "iso-ma")));
    attempt!("a-client SuspendAccount(A)", api.accounts.suspend_account(suspend_account(c, "iso-a")));
    attempt!("a-client CreateRole(A)", api.roles.create_role(users_full_role(c, "iso-a", "boss", "Boss")));
    // An inviter (users:full only) handing out more than it holds.
    let i = "a-inviter";
    attempt!(
        "a-inviter CreateInvitation(account_manager)",
        api.invitations.create_invitation(invite(i, "iso-a", "boss@exemple.fr", "account_manager"))
    );
    attempt!(
        "a-inviter SetMembershipRoles(self→account_manager)",
        api.memberships.set_membership_roles(set_roles(i, "iso-mi", "account_manager"))
    );
    let promote = pb::AssignRoleRequest {
        actor_id: i.into(),
        membership_id: "iso-mc".into(),
        role: "account_manager".into(),
        ..Default::default()
    };
    attempt!("a-inviter AssignRole(client→account_manager)", api.memberships.assign_role(promote));
    // Replayed tokens: accepted, then revoked.
    let once = invite("", "iso-a", "once@exemple.fr", "billing_manager");
    let accepted = api.invitations.create_invitation(once).await?.into_inner().token;
    api.invitations
        .accept_invitation(pb::AcceptInvitationRequest { token: accepted.clone(), ..Default::default() })
        .await?;
    attempt!(
        "replay accepted token",
        api.invitations.accept_invitation(pb::AcceptInvitationRequest { token: accepted, ..Default::default() })
    );
    let revoked = pb::CreateInvitationRequest {
        id: "iso-inv-r".into(),
        ..invite("", "iso-a", "revoked@exemple.fr", "billing_manager")
    };
    let revoked = api.invitations.create_invitation(revoked).await?.into_inner().token;
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
    let codes = tally(&codes, ":");
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

/// `actor` invites `email` into `account` with one role.
fn invite(actor: &str, account: &str, email: &str, role: &str) -> pb::CreateInvitationRequest {
    pb::CreateInvitationRequest {
        actor_id: actor.into(),
        account_id: account.into(),
        email: email.into(),
        roles: vec![role.into()],
        ..Default::default()
    }
}

/// `actor` replaces the roles of `membership` with one role.
fn set_roles(actor: &str, membership: &str, role: &str) -> pb::SetMembershipRolesRequest {
    pb::SetMembershipRolesRequest {
        actor_id: actor.into(),
        membership_id: membership.into(),
        roles: vec![role.into()],
        ..Default::default()
    }
}

/// `actor` suspends `membership`.
fn suspend_membership(actor: &str, membership: &str) -> pb::SuspendMembershipRequest {
    pb::SuspendMembershipRequest { actor_id: actor.into(), membership_id: membership.into(), ..Default::default() }
}

/// `actor` suspends `account`.
fn suspend_account(actor: &str, account: &str) -> pb::SuspendAccountRequest {
    pb::SuspendAccountRequest { actor_id: actor.into(), id: account.into(), reason: "x".into(), ..Default::default() }
}

/// `actor` creates in `account` a role granting `users:full`.
fn users_full_role(actor: &str, account: &str, name: &str, display_name: &str) -> pb::CreateRoleRequest {
    pb::CreateRoleRequest {
        actor_id: actor.into(),
        account_id: account.into(),
        name: name.into(),
        display_name: display_name.into(),
        grants: vec![pb::FeatureGrant { feature: "users".into(), level: pb::Level::Full as i32 }],
        ..Default::default()
    }
}
