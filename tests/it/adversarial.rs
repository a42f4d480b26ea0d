//! The adversary's suite (issue 15): every attack found on guichet's administrative API, performed
//! as an adversary would — over gRPC, against the real binary, on SQLite and on PostgreSQL — and
//! asserted refused with the documented code and google.rpc detail, having written nothing (what
//! the service itself reads of the accounts and users concerned, and the store's revision, are the
//! same before and after each attempt), and without the access the adversary was after
//! (CheckAccess afterwards).
//!
//! What the rule book answers:
//! - any escalation: PERMISSION_DENIED, ErrorInfo `NO_ESCALATION`;
//! - a member of an ancestor turning delegated access into a direct membership: PERMISSION_DENIED,
//!   ErrorInfo `PARTNER_REACH`;
//! - an actor with no access path into the account named: NOT_FOUND, as for an unknown id;
//! - invariants of the state: FAILED_PRECONDITION with a PreconditionFailure (`FOUR_EYES`,
//!   `PENDING_FROZEN`, `STALE_VERSION`, `USER_SUSPENDED`, `ROLE_LIMIT`, `ROLE_IN_USE`, ...);
//! - descendant levels on a custom role of a kind whose built-in roles carry none: INVALID_ARGUMENT
//!   on `descendant_grants`.
//!
//! Each scenario collects every wrong answer and fails once, at its end, with the whole list: one
//! run shows every attack a server still lets through. Later steps of a scenario are still
//! meaningful when an earlier attack was let through: each attempt is judged on its own answer and
//! on what it wrote itself.

use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;

use guichet_proto::v1 as pb;
use guichet_testkit::requests;
use guichet_tests::Clients;
use guichet_tests::{
    Backend, Config, TestApp, TestDatabase, both_backends, config_from_toml, details, spawn_app, test_config,
    violated_fields,
};
use pb::Level::{Full, View};
use prost::Message;
use tonic::transport::Channel;
use tonic::{Code, Status};

use crate::contract::{services_toml, with_token};

// ---------------------------------------------------------------------------------------------
// Judging attempts
// ---------------------------------------------------------------------------------------------

/// The refusal an attempt must get.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// PERMISSION_DENIED with ErrorInfo `NO_ESCALATION`.
    Escalation,
    /// This code with an ErrorInfo of this reason.
    Info(Code, &'static str),
    /// FAILED_PRECONDITION whose violations are all of this type.
    Precondition(&'static str),
    /// INVALID_ARGUMENT on exactly this field.
    Invalid(&'static str),
    /// INVALID_ARGUMENT on fields all under this path.
    InvalidUnder(&'static str),
    /// This code.
    Code(Code),
    /// One of these codes.
    OneOf(&'static [Code]),
}

impl Expect {
    fn matches(self, e: &Status) -> bool {
        match self {
            Expect::Escalation => Expect::Info(Code::PermissionDenied, "NO_ESCALATION").matches(e),
            Expect::Info(code, reason) => {
                e.code() == code && details(e).error_info().is_some_and(|i| i.reason == reason)
            }
            Expect::Precondition(kind) => {
                e.code() == Code::FailedPrecondition
                    && details(e)
                        .precondition_failure()
                        .is_some_and(|p| !p.violations.is_empty() && p.violations.iter().all(|v| v.r#type == kind))
            }
            Expect::Invalid(field) => e.code() == Code::InvalidArgument && violated_fields(e) == [field],
            Expect::InvalidUnder(prefix) => {
                let fields = violated_fields(e);
                e.code() == Code::InvalidArgument && !fields.is_empty() && fields.iter().all(|f| f.starts_with(prefix))
            }
            Expect::Code(code) => e.code() == code,
            Expect::OneOf(codes) => codes.contains(&e.code()),
        }
    }
}

/// A status, with the details a reader needs to see what the server answered.
fn describe(e: &Status) -> String {
    let d = details(e);
    format!(
        "{:?} {:?} (error_info {:?}, preconditions {:?}, fields {:?})",
        e.code(),
        e.message(),
        d.error_info().map(|i| i.reason.clone()),
        d.precondition_failure().map(|p| p.violations.iter().map(|v| v.r#type.clone()).collect::<Vec<_>>()),
        violated_fields(e)
    )
}

fn clip(text: String) -> String {
    if text.chars().count() > 400 { format!("{}…", text.chars().take(400).collect::<String>()) } else { text }
}

/// A bearer token on every call, when the server authenticates its callers.
#[derive(Debug, Clone, Default)]
struct Bearer(Option<String>);

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
        if let Some(token) = &self.0 {
            request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
        }
        Ok(request)
    }
}

/// The accounts and users whose state an attempt must leave unchanged.
#[derive(Debug, Default)]
struct Watch {
    accounts: Vec<String>,
    users: Vec<String>,
    token: Option<String>,
}

fn show<T: Debug>(r: Result<tonic::Response<T>, Status>) -> String {
    match r {
        Ok(r) => format!("{:?}", r.into_inner()),
        Err(e) => format!("error {:?} {}", e.code(), e.message()),
    }
}

/// Everything the service reads, on its own authority, of the watched accounts and users, and the
/// store's revision (a fully consistent check: its revision moves with every write).
async fn state(s: &TestApp, w: &Watch) -> Vec<String> {
    use pb::account_service_client::AccountServiceClient;
    use pb::approval_service_client::ApprovalServiceClient;
    use pb::delegation_service_client::DelegationServiceClient;
    use pb::event_service_client::EventServiceClient;
    use pb::invitation_service_client::InvitationServiceClient;
    use pb::membership_service_client::MembershipServiceClient;
    use pb::resource_service_client::ResourceServiceClient;
    use pb::role_service_client::RoleServiceClient;
    use pb::user_service_client::UserServiceClient;
    let b = Bearer(w.token.clone());
    let ch = s.channel.clone();
    let mut accounts = AccountServiceClient::with_interceptor(ch.clone(), b.clone());
    let mut roles = RoleServiceClient::with_interceptor(ch.clone(), b.clone());
    let mut memberships = MembershipServiceClient::with_interceptor(ch.clone(), b.clone());
    let mut delegations = DelegationServiceClient::with_interceptor(ch.clone(), b.clone());
    let mut invitations = InvitationServiceClient::with_interceptor(ch.clone(), b.clone());
    let mut approvals = ApprovalServiceClient::with_interceptor(ch.clone(), b.clone());
    let mut resources = ResourceServiceClient::with_interceptor(ch.clone(), b.clone());
    let mut events = EventServiceClient::with_interceptor(ch.clone(), b.clone());
    let mut users = UserServiceClient::with_interceptor(ch.clone(), b.clone());
    let mut access = pb::access_service_client::AccessServiceClient::with_interceptor(ch, b);
    let mut out = Vec::new();
    for id in &w.accounts {
        let a = || id.clone();
        let r = accounts.get_account(pb::GetAccountRequest { id: a(), ..Default::default() }).await;
        out.push(format!("account {id}: {}", show(r)));
        let r = roles.list_roles(pb::ListRolesRequest { account_id: a(), page_size: 1000, ..Default::default() }).await;
        out.push(format!("roles of {id}: {}", show(r)));
        let r = memberships
            .list_memberships(pb::ListMembershipsRequest { account_id: a(), page_size: 1000, ..Default::default() })
            .await;
        out.push(format!("memberships of {id}: {}", show(r)));
        let r = delegations
            .list_delegations(pb::ListDelegationsRequest { to_account_id: a(), page_size: 1000, ..Default::default() })
            .await;
        out.push(format!("delegations into {id}: {}", show(r)));
        let r = delegations
            .list_delegations(pb::ListDelegationsRequest {
                from_account_id: a(),
                page_size: 1000,
                ..Default::default()
            })
            .await;
        out.push(format!("delegations from {id}: {}", show(r)));
        let r = invitations
            .list_invitations(pb::ListInvitationsRequest { account_id: a(), page_size: 1000, ..Default::default() })
            .await;
        out.push(format!("invitations of {id}: {}", show(r)));
        let r = approvals
            .list_pending_approvals(pb::ListPendingApprovalsRequest {
                account_id: a(),
                page_size: 1000,
                ..Default::default()
            })
            .await;
        out.push(format!("pending approvals of {id}: {}", show(r)));
        let r = resources
            .list_resources(pb::ListResourcesRequest { account_id: a(), page_size: 1000, ..Default::default() })
            .await;
        out.push(format!("resources of {id}: {}", show(r)));
        let r =
            events.list_events(pb::ListEventsRequest { account_id: a(), page_size: 1000, ..Default::default() }).await;
        out.push(format!("events of {id}: {}", show(r)));
    }
    for id in &w.users {
        let r = users.get_user(pb::GetUserRequest { id: id.clone(), ..Default::default() }).await;
        out.push(format!("user {id}: {}", show(r)));
        let r = memberships
            .list_memberships(pb::ListMembershipsRequest { user_id: id.clone(), page_size: 1000, ..Default::default() })
            .await;
        out.push(format!("memberships of user {id}: {}", show(r)));
    }
    // An unknown subject is a deny, not an error: the answer carries the store's latest revision.
    let r = access
        .check_access(pb::CheckAccessRequest {
            subject_id: "sonde-de-revision".into(),
            account_id: w.accounts.first().cloned().unwrap_or_else(|| "sonde".into()),
            permission: "users:view".into(),
            resource_id: String::new(),
            consistency: Some(pb::Consistency {
                requirement: Some(pb::consistency::Requirement::FullyConsistent(true)),
            }),
        })
        .await;
    out.push(format!("store revision: {}", r.map(|r| r.into_inner().revision).unwrap_or_else(|e| describe(&e))));
    out
}

/// The lines that differ between two states.
fn diff(before: &[String], after: &[String]) -> Option<String> {
    let lines: Vec<String> = before
        .iter()
        .zip(after)
        .filter(|(b, a)| b != a)
        .map(|(b, a)| format!("\n      before: {}\n      after:  {}", clip(b.clone()), clip(a.clone())))
        .collect();
    (!lines.is_empty()).then(|| lines.concat())
}

/// The findings of one scenario.
struct Log<'a> {
    s: &'a TestApp,
    watch: Watch,
    failures: Vec<String>,
    attempts: usize,
}

impl<'a> Log<'a> {
    fn new(s: &'a TestApp, accounts: &[&str], users: &[&str]) -> Self {
        let watch = Watch {
            accounts: accounts.iter().map(|a| (*a).to_owned()).collect(),
            users: users.iter().map(|u| (*u).to_owned()).collect(),
            token: None,
        };
        Self { s, watch, failures: Vec::new(), attempts: 0 }
    }

    fn watch_user(&mut self, user: &str) {
        self.watch.users.push(user.to_owned());
    }

    /// An attack: it must be refused as `expect` and write nothing. Returns the refusal.
    async fn refused<R: Debug>(
        &mut self,
        what: &str,
        expect: Expect,
        attempt: impl Future<Output = Result<tonic::Response<R>, Status>>,
    ) -> Option<Status> {
        self.attempts += 1;
        let before = state(self.s, &self.watch).await;
        let outcome = attempt.await;
        let after = state(self.s, &self.watch).await;
        let wrote = diff(&before, &after);
        match outcome {
            Ok(r) => {
                self.failures.push(format!(
                    "{what}: ACCEPTED, expected {expect:?}; answered {}{}",
                    clip(format!("{:?}", r.into_inner())),
                    wrote.map(|d| format!("; wrote:{d}")).unwrap_or_default()
                ));
                None
            }
            Err(e) => {
                if !expect.matches(&e) {
                    self.failures.push(format!("{what}: expected {expect:?}, got {}", describe(&e)));
                }
                if let Some(d) = wrote {
                    self.failures.push(format!("{what}: refused, yet it wrote:{d}"));
                }
                Some(e)
            }
        }
    }

    /// A legitimate call: it must succeed.
    fn accepted<R>(&mut self, what: &str, r: Result<R, Status>) -> Option<R> {
        self.attempts += 1;
        match r {
            Ok(r) => Some(r),
            Err(e) => {
                self.failures.push(format!("{what}: refused, expected to succeed: {}", describe(&e)));
                None
            }
        }
    }

    /// A fact about the state that must hold.
    fn ensure(&mut self, what: &str, holds: bool, seen: impl Debug) {
        self.attempts += 1;
        if !holds {
            self.failures.push(format!("{what}: does not hold; seen {}", clip(format!("{seen:?}"))));
        }
    }

    fn finish(self, scenario: &str) {
        assert!(
            self.failures.is_empty(),
            "{scenario}: {} of {} checks wrong:\n  - {}",
            self.failures.len(),
            self.attempts,
            self.failures.join("\n  - ")
        );
        eprintln!("{scenario}: {} checks, all right", self.attempts);
    }
}

// ---------------------------------------------------------------------------------------------
// Worlds, on the service's own authority
// ---------------------------------------------------------------------------------------------

fn grants(list: &[(&str, pb::Level)]) -> Vec<pb::FeatureGrant> {
    list.iter().map(|(f, l)| pb::FeatureGrant { feature: (*f).to_owned(), level: *l as i32 }).collect()
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

async fn account(s: &TestApp, id: &str, kind: &str, parent: &str) {
    let request = requests::account(id, &format!("Compte {id}"), kind, parent);
    s.accounts().create_account(request).await.unwrap_or_else(|e| panic!("account {id}: {e:?}"));
}

async fn user(s: &TestApp, id: &str) {
    user_with(s, pb::CreateUserRequest { id: id.into(), email: format!("{id}@exemple.fr"), ..Default::default() })
        .await;
}

async fn user_with(s: &TestApp, mut request: pb::CreateUserRequest) {
    if request.given_name.is_empty() {
        request.given_name = request.id.clone();
    }
    let id = request.id.clone();
    s.users().create_user(request).await.unwrap_or_else(|e| panic!("user {id}: {e:?}"));
}

async fn member(
    s: &TestApp,
    id: &str,
    user: &str,
    account: &str,
    roles: &[&str],
    restriction: Option<pb::ResourceRestriction>,
) -> pb::Membership {
    let request =
        pb::CreateMembershipRequest { id: id.into(), ..create_membership("", account, user, roles, restriction) };
    let created = s.memberships().create_membership(request).await;
    created.unwrap_or_else(|e| panic!("membership {id}: {e:?}")).into_inner().membership.unwrap()
}

async fn role(s: &TestApp, account: &str, name: &str, own: &[(&str, pb::Level)]) {
    let request = create_role("", account, name, own);
    s.roles().create_role(request).await.unwrap_or_else(|e| panic!("role {name} in {account}: {e:?}"));
}

async fn folder(s: &TestApp, id: &str, account: &str) {
    let request = requests::folder("", id, account, &format!("Dossier {id}"));
    s.resources().create_resource(request).await.unwrap_or_else(|e| panic!("folder {id}: {e:?}"));
}

async fn delegation(s: &TestApp, id: &str, from: &str, to: &str, role: &str) {
    let request = requests::delegation("", id, from, to, role);
    s.delegations().create_delegation(request).await.unwrap_or_else(|e| panic!("delegation {id}: {e:?}"));
}

/// A fully consistent access check.
async fn check(s: &TestApp, subject: &str, account: &str, permission: &str, resource: &str) -> pb::CheckAccessResponse {
    let fully = pb::Consistency { requirement: Some(pb::consistency::Requirement::FullyConsistent(true)) };
    let request =
        pb::CheckAccessRequest { consistency: Some(fully), ..requests::check(subject, account, permission, resource) };
    s.access().check_access(request).await.unwrap().into_inner()
}

/// A membership as the service reads it.
async fn membership(s: &TestApp, id: &str) -> Result<pb::Membership, Status> {
    s.memberships()
        .get_membership(pb::GetMembershipRequest { id: id.into(), ..Default::default() })
        .await
        .map(|r| r.into_inner().membership.unwrap_or_default())
}

/// A role as the service reads it.
async fn role_of(s: &TestApp, account: &str, name: &str) -> Result<pb::Role, Status> {
    s.roles()
        .get_role(pb::GetRoleRequest { account_id: account.into(), name: name.into(), ..Default::default() })
        .await
        .map(|r| r.into_inner().role.unwrap_or_default())
}

/// The delegations into an account, as the service reads them.
async fn delegations_into(s: &TestApp, account: &str) -> Vec<pb::Delegation> {
    s.delegations()
        .list_delegations(pb::ListDelegationsRequest { to_account_id: account.into(), ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .delegations
}

fn create_role(actor: &str, account: &str, name: &str, own: &[(&str, pb::Level)]) -> pb::CreateRoleRequest {
    pb::CreateRoleRequest {
        actor_id: actor.into(),
        account_id: account.into(),
        name: name.into(),
        display_name: format!("Rôle {name}"),
        grants: grants(own),
        ..Default::default()
    }
}

fn update_role(actor: &str, account: &str, name: &str, own: &[(&str, pb::Level)]) -> pb::UpdateRoleRequest {
    pb::UpdateRoleRequest {
        actor_id: actor.into(),
        account_id: account.into(),
        name: name.into(),
        display_name: format!("Rôle {name}"),
        grants: grants(own),
        ..Default::default()
    }
}

fn create_membership(
    actor: &str,
    account: &str,
    user: &str,
    roles: &[&str],
    restriction: Option<pb::ResourceRestriction>,
) -> pb::CreateMembershipRequest {
    pb::CreateMembershipRequest { restriction, ..requests::membership(actor, account, user, roles) }
}

// ---------------------------------------------------------------------------------------------
// Fields of the API that may not be generated yet: raw protobuf, numbered from the descriptors
// ---------------------------------------------------------------------------------------------

/// `Membership.version` and `ApproveMembershipRequest.version` are being added to the API: this
/// suite reads and sends them by their number in the API's own descriptors, so that it compiles
/// before and after they exist, and says so when they are missing.
mod raw {
    use prost::Message;
    use prost::bytes::Buf;
    use prost::encoding::{WireType, decode_key, decode_varint, encode_key, encode_varint};
    use tonic::Status;
    use tonic::codegen::http::uri::PathAndQuery;
    use tonic::transport::Channel;

    /// One unary call with a raw body, to any path.
    pub(super) async fn unary(
        channel: &Channel,
        path: &str,
        body: Vec<u8>,
        token: Option<&str>,
    ) -> Result<Vec<u8>, Status> {
        let mut grpc = tonic::client::Grpc::new(channel.clone());
        grpc.ready().await.map_err(|e| Status::unavailable(e.to_string()))?;
        let path = PathAndQuery::try_from(path.to_owned()).map_err(|e| Status::internal(e.to_string()))?;
        let mut request = tonic::Request::new(body);
        if let Some(t) = token {
            request.metadata_mut().insert("authorization", format!("Bearer {t}").parse().unwrap());
        }
        grpc.unary(request, path, crate::contract::Raw).await.map(tonic::Response::into_inner)
    }

    /// The number and wire type of a field of `guichet.v1.<message>`; `None` while the API has no
    /// such field.
    pub(super) fn field(message: &str, name: &str) -> Option<(u32, WireType)> {
        use prost_types::field_descriptor_proto::Type;
        let set = prost_types::FileDescriptorSet::decode(guichet_proto::FILE_DESCRIPTOR_SET).ok()?;
        let f = set
            .file
            .iter()
            .filter(|f| f.package() == "guichet.v1")
            .flat_map(|f| f.message_type.iter())
            .find(|m| m.name() == message)?
            .field
            .iter()
            .find(|f| f.name() == name)?;
        let wire = match f.r#type() {
            Type::String | Type::Bytes | Type::Message | Type::Group => WireType::LengthDelimited,
            Type::Fixed64 | Type::Sfixed64 | Type::Double => WireType::SixtyFourBit,
            Type::Fixed32 | Type::Sfixed32 | Type::Float => WireType::ThirtyTwoBit,
            Type::Int64
            | Type::Uint64
            | Type::Int32
            | Type::Uint32
            | Type::Bool
            | Type::Enum
            | Type::Sint32
            | Type::Sint64 => WireType::Varint,
        };
        Some((u32::try_from(f.number()).ok()?, wire))
    }

    /// The raw value of field `number` in an encoded message (the last occurrence): a varint's
    /// encoding, or a length-delimited or fixed field's bytes. `None` when absent (proto3 omits a
    /// zero or an empty string).
    pub(super) fn value_of(mut buf: &[u8], number: u32) -> Option<Vec<u8>> {
        let mut found = None;
        while buf.has_remaining() {
            let (n, wire) = decode_key(&mut buf).ok()?;
            let value = match wire {
                WireType::Varint => {
                    let v = decode_varint(&mut buf).ok()?;
                    let mut out = Vec::new();
                    encode_varint(v, &mut out);
                    out
                }
                WireType::LengthDelimited => {
                    let len = usize::try_from(decode_varint(&mut buf).ok()?).ok()?;
                    let out = buf.get(..len)?.to_vec();
                    buf.advance(len);
                    out
                }
                WireType::SixtyFourBit => {
                    let out = buf.get(..8)?.to_vec();
                    buf.advance(8);
                    out
                }
                WireType::ThirtyTwoBit => {
                    let out = buf.get(..4)?.to_vec();
                    buf.advance(4);
                    out
                }
                WireType::StartGroup | WireType::EndGroup => return None,
            };
            if n == number {
                found = Some(value);
            }
        }
        found
    }

    /// Appends field `number` with a raw value taken by [`value_of`] (or the zero value when none).
    pub(super) fn append(buf: &mut Vec<u8>, number: u32, wire: WireType, value: Option<&[u8]>) {
        encode_key(number, wire, buf);
        match (wire, value) {
            (WireType::LengthDelimited, v) => {
                let v = v.unwrap_or_default();
                encode_varint(v.len() as u64, buf);
                buf.extend_from_slice(v);
            }
            (WireType::Varint, None) => encode_varint(0, buf),
            (WireType::SixtyFourBit, None) => buf.extend_from_slice(&[0; 8]),
            (WireType::ThirtyTwoBit, None) => buf.extend_from_slice(&[0; 4]),
            (WireType::Varint | WireType::SixtyFourBit | WireType::ThirtyTwoBit, Some(v)) => {
                buf.extend_from_slice(v);
            }
            (WireType::StartGroup | WireType::EndGroup, _) => {}
        }
    }
}

/// The version fields the API does not declare yet (empty when it declares them all).
fn missing_version_fields() -> Vec<&'static str> {
    [
        ("Membership", "Membership.version"),
        ("ApproveMembershipRequest", "ApproveMembershipRequest.version"),
        ("RejectMembershipRequest", "RejectMembershipRequest.version"),
    ]
    .into_iter()
    .filter(|(message, _)| raw::field(message, "version").is_none())
    .map(|(_, name)| name)
    .collect()
}

/// The raw `version` of a membership, read on the service's own authority; `None` while the API
/// has no such field (or the membership none).
async fn version_of(s: &TestApp, id: &str) -> Option<Vec<u8>> {
    let (number, _) = raw::field("Membership", "version")?;
    let body = pb::GetMembershipRequest { id: id.into(), ..Default::default() }.encode_to_vec();
    let response = raw::unary(&s.channel, "/guichet.v1.MembershipService/GetMembership", body, None).await.ok()?;
    raw::value_of(&raw::value_of(&response, 1).unwrap_or_default(), number)
}

/// What an approver decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
    Approve,
    Reject,
}

/// ApproveMembership or RejectMembership by `actor`, naming the version reviewed (none sent when
/// `version` is `None` or the API has no such field). Answers the membership.
async fn decide(
    s: &TestApp,
    decision: Decision,
    actor: &str,
    id: &str,
    version: Option<&[u8]>,
) -> Result<tonic::Response<pb::Membership>, Status> {
    let (path, message, mut body) = match decision {
        Decision::Approve => (
            "/guichet.v1.ApprovalService/ApproveMembership",
            "ApproveMembershipRequest",
            pb::ApproveMembershipRequest { actor_id: actor.into(), membership_id: id.into(), ..Default::default() }
                .encode_to_vec(),
        ),
        Decision::Reject => (
            "/guichet.v1.ApprovalService/RejectMembership",
            "RejectMembershipRequest",
            pb::RejectMembershipRequest {
                actor_id: actor.into(),
                membership_id: id.into(),
                reason: "revue".into(),
                ..Default::default()
            }
            .encode_to_vec(),
        ),
    };
    if let (Some(v), Some((number, wire))) = (version, raw::field(message, "version")) {
        raw::append(&mut body, number, wire, Some(v));
    }
    let response = raw::unary(&s.channel, path, body, None).await?;
    // Both responses carry the membership as field 1.
    pb::Membership::decode(raw::value_of(&response, 1).unwrap_or_default().as_slice())
        .map(tonic::Response::new)
        .map_err(|e| Status::internal(e.to_string()))
}

// ---------------------------------------------------------------------------------------------
// 1. Partner reach without a delegation
// ---------------------------------------------------------------------------------------------

/// The partner's account manager gives herself descendant levels through a custom role of the
/// partner, and so reaches every customer of the tree without a delegation row the customer could
/// see or end. The partner and sub-partner kinds' built-in roles carry no descendant levels, so no
/// custom role of theirs may (INVALID_ARGUMENT, even on the service's own authority); the
/// affiliate kind's do, so its custom roles may.
async fn partner_reach_without_delegation(backend: Backend) {
    let Some(db) = TestDatabase::new(backend).await else { return };
    let s = spawn_app(Config { demo: true, ..test_config(&db.url) }).await;
    let mut log = Log::new(&s, &["nuage-partenaires", "alpes-revente", "fromagerie-dupont"], &["claire", "amelie"]);
    let c = check(&s, "claire", "fromagerie-dupont", "users:full", "").await;
    assert!(!c.allowed && c.reason_code == "no_access_path", "before any attack: {c:?}");

    let reach = |actor: &str, account: &str, name: &str| pb::CreateRoleRequest {
        descendant_grants: grants(&[("users", Full), ("folders", Full), ("billing", Full)]),
        ..create_role(actor, account, name, &[("users", Full)])
    };
    for (actor, account, membership, name, who) in [
        ("claire", "nuage-partenaires", "m-claire", "portee_claire", "claire (account manager of the partner)"),
        ("", "nuage-partenaires", "", "portee_partenaire", "the service's own authority"),
        ("amelie", "alpes-revente", "m-amelie", "portee_amelie", "amelie (account manager of the sub-partner)"),
        ("", "alpes-revente", "", "portee_sous_partenaire", "the service's own authority"),
    ] {
        log.refused(
            &format!("{who}: CreateRole in {account} with descendant grants"),
            Expect::Invalid("descendant_grants"),
            s.roles().create_role(reach(actor, account, name)),
        )
        .await;
        if !membership.is_empty() {
            // The adversary's next step: hold the role. Refused or not, judged by the checks below.
            let _ = s.memberships().assign_role(requests::assign_role(actor, membership, name)).await;
        }
    }
    for (subject, account) in
        [("claire", "fromagerie-dupont"), ("claire", "alpes-revente"), ("amelie", "fromagerie-dupont")]
    {
        for permission in ["users:full", "folders:full", "billing:full"] {
            let c = check(&s, subject, account, permission, "").await;
            log.ensure(
                &format!("{subject} has no access path into {account} ({permission})"),
                !c.allowed && c.reason_code == "no_access_path",
                (c.allowed, &c.reason_code, &c.granted_by),
            );
        }
    }
    // The rule is the kind's: an affiliate's built-in roles act on its clients, so may its own.
    let r = s
        .roles()
        .create_role(pb::CreateRoleRequest {
            descendant_grants: grants(&[("offers", Full), ("notifications", View)]),
            ..create_role("", "reseau-affilie", "support_clients", &[("notifications", View)])
        })
        .await;
    log.accepted("the service: CreateRole with descendant grants in an affiliate", r);
    log.finish("partner reach without a delegation");
}

// ---------------------------------------------------------------------------------------------
// 2. CreateRole / UpdateRole escalation
// ---------------------------------------------------------------------------------------------

/// An administrator holding `payment_methods:view` (and nothing on billing) creates a role above
/// her own levels, or creates a harmless role, takes it, and rewrites it.
async fn role_escalation(backend: Backend) {
    let Some(db) = TestDatabase::new(backend).await else { return };
    let s = spawn_app(test_config(&db.url)).await;
    account(&s, "hotel-essai", "direct_client", "").await;
    for u in ["patron", "alice"] {
        user(&s, u).await;
    }
    role(&s, "hotel-essai", "gestion_utilisateurs", &[("users", Full), ("payment_methods", View)]).await;
    member(&s, "m-patron", "patron", "hotel-essai", &["account_manager"], None).await;
    member(&s, "m-alice", "alice", "hotel-essai", &["gestion_utilisateurs"], None).await;
    assert!(check(&s, "alice", "hotel-essai", "payment_methods:view", "").await.allowed);
    assert!(!check(&s, "alice", "hotel-essai", "payment_methods:full", "").await.allowed);
    let mut log = Log::new(&s, &["hotel-essai"], &["alice", "patron"]);

    let e = log
        .refused(
            "alice: CreateRole payment_methods:full (she holds view)",
            Expect::Escalation,
            s.roles().create_role(create_role("alice", "hotel-essai", "paiements", &[("payment_methods", Full)])),
        )
        .await;
    if let Some(e) = e {
        log.ensure("the refusal names payment_methods:full", e.message().contains("payment_methods:full"), e.message());
    }
    log.refused(
        "alice: CreateRole billing:view (she holds none)",
        Expect::Escalation,
        s.roles().create_role(create_role("alice", "hotel-essai", "facturation", &[("billing", View)])),
    )
    .await;

    // A harmless role at her own level, which she takes…
    let r = s
        .roles()
        .create_role(create_role("alice", "hotel-essai", "lecture_paiements", &[("payment_methods", View)]))
        .await;
    log.accepted("alice: CreateRole at her own level", r);
    let r = s.memberships().assign_role(requests::assign_role("alice", "m-alice", "lecture_paiements")).await;
    log.accepted("alice: AssignRole of that role to herself", r);
    // …then rewrites.
    log.refused(
        "alice: UpdateRole lecture_paiements to payment_methods:full",
        Expect::Escalation,
        s.roles().update_role(update_role("alice", "hotel-essai", "lecture_paiements", &[("payment_methods", Full)])),
    )
    .await;
    let kept = role_of(&s, "hotel-essai", "lecture_paiements").await.map(|r| r.grants);
    log.ensure(
        "lecture_paiements still gives payment_methods:view only",
        kept.as_ref().is_ok_and(|g| *g == grants(&[("payment_methods", View)])),
        &kept,
    );
    let c = check(&s, "alice", "hotel-essai", "payment_methods:full", "").await;
    log.ensure("alice still lacks payment_methods:full", !c.allowed, (c.allowed, &c.reason_code));
    log.finish("CreateRole/UpdateRole escalation");
}

// ---------------------------------------------------------------------------------------------
// 3. A delegated partner rewrites the role that limits its delegation
// ---------------------------------------------------------------------------------------------

/// The cheese shop delegates to the partner with a custom role giving billing:view only; david,
/// acting through that delegation, rewrites (or replaces, or deletes) the role.
async fn delegate_rewrites_its_role(backend: Backend) {
    let Some(db) = TestDatabase::new(backend).await else { return };
    let s = spawn_app(Config { demo: true, ..test_config(&db.url) }).await;
    role(&s, "fromagerie-dupont", "gestion_limitee", &[("users", Full), ("billing", View)]).await;
    delegation(&s, "d-nuage-fromagerie", "nuage-partenaires", "fromagerie-dupont", "gestion_limitee").await;
    assert!(check(&s, "david", "fromagerie-dupont", "users:full", "").await.allowed);
    assert!(check(&s, "david", "fromagerie-dupont", "billing:view", "").await.allowed);
    assert!(!check(&s, "david", "fromagerie-dupont", "billing:full", "").await.allowed);
    let mut log = Log::new(&s, &["fromagerie-dupont", "nuage-partenaires"], &["david"]);

    log.refused(
        "david (delegated): UpdateRole gestion_limitee to billing:full",
        Expect::Escalation,
        s.roles().update_role(update_role(
            "david",
            "fromagerie-dupont",
            "gestion_limitee",
            &[("users", Full), ("billing", Full)],
        )),
    )
    .await;
    log.refused(
        "david (delegated): CreateRole billing:full",
        Expect::Escalation,
        s.roles().create_role(create_role("david", "fromagerie-dupont", "facturation_complete", &[("billing", Full)])),
    )
    .await;
    log.refused(
        "david (delegated): DeleteRole of the delegation's role",
        Expect::Precondition("ROLE_IN_USE"),
        s.roles().delete_role(pb::DeleteRoleRequest {
            actor_id: "david".into(),
            account_id: "fromagerie-dupont".into(),
            name: "gestion_limitee".into(),
            ..Default::default()
        }),
    )
    .await;
    let kept = role_of(&s, "fromagerie-dupont", "gestion_limitee").await.map(|r| r.grants);
    log.ensure(
        "gestion_limitee is unchanged",
        kept.as_ref().is_ok_and(|g| *g == grants(&[("billing", View), ("users", Full)])),
        &kept,
    );
    let c = check(&s, "david", "fromagerie-dupont", "billing:full", "").await;
    log.ensure("david still lacks billing:full in the cheese shop", !c.allowed, (c.allowed, &c.reason_code));
    log.finish("a delegate rewrites its own role");
}

// ---------------------------------------------------------------------------------------------
// 4. CreateDelegation
// ---------------------------------------------------------------------------------------------

/// A delegation is given by the customer: `users:full` in the *to* account, and no escalation of
/// its role there. The partner alone cannot open one; a customer administrator cannot hand out
/// more than she holds; the customer's own administrator opens one, sees it and ends it.
async fn create_delegation_rules(backend: Backend) {
    let Some(db) = TestDatabase::new(backend).await else { return };
    let s = spawn_app(Config { demo: true, ..test_config(&db.url) }).await;
    role(&s, "fromagerie-dupont", "admin_sans_facturation", &[("users", Full), ("billing", View)]).await;
    user(&s, "oscar").await;
    member(&s, "m-oscar", "oscar", "fromagerie-dupont", &["admin_sans_facturation"], None).await;
    let mut log = Log::new(
        &s,
        &["fromagerie-dupont", "nuage-partenaires", "alpes-revente"],
        &["claire", "oscar", "odile", "david"],
    );
    let delegate = |actor: &str, id: &str| {
        requests::delegation(actor, id, "nuage-partenaires", "fromagerie-dupont", "client_administrator")
    };

    // (a) The partner's account manager, without any path into the customer.
    log.refused(
        "claire (partner, no path into the customer): CreateDelegation into fromagerie-dupont",
        Expect::OneOf(&[Code::NotFound, Code::PermissionDenied]),
        s.delegations().create_delegation(delegate("claire", "d-claire")),
    )
    .await;
    let rows = delegations_into(&s, "fromagerie-dupont").await;
    log.ensure("no delegation into fromagerie-dupont", rows.is_empty(), &rows);
    let c = check(&s, "claire", "fromagerie-dupont", "users:full", "").await;
    log.ensure("claire still has no access to fromagerie-dupont", !c.allowed, (c.allowed, &c.reason_code));

    // (b) A customer administrator holding billing:view hands out client_administrator.
    log.refused(
        "oscar (users:full, billing:view): CreateDelegation with client_administrator",
        Expect::Escalation,
        s.delegations().create_delegation(delegate("oscar", "d-oscar")),
    )
    .await;
    let rows = delegations_into(&s, "fromagerie-dupont").await;
    log.ensure("still no delegation into fromagerie-dupont", rows.is_empty(), &rows);

    // (c) The customer's own administrator: it is hers to give, to see and to end.
    let r = s.delegations().create_delegation(delegate("odile", "d-odile")).await;
    if let Some(r) = log.accepted("odile (client administrator): CreateDelegation", r) {
        let d = r.into_inner().delegation.unwrap_or_default();
        log.ensure("the delegation records odile", d.created_by == "odile", &d);
    }
    let listed = s
        .delegations()
        .list_delegations(pb::ListDelegationsRequest {
            actor_id: "odile".into(),
            to_account_id: "fromagerie-dupont".into(),
            ..Default::default()
        })
        .await
        .map(|r| r.into_inner().delegations.into_iter().map(|d| d.id).collect::<Vec<_>>());
    log.ensure(
        "odile sees it in ListDelegations(to_account)",
        listed.as_ref().is_ok_and(|ids| ids == &["d-odile"]),
        &listed,
    );
    let c = check(&s, "david", "fromagerie-dupont", "users:full", "").await;
    log.ensure(
        "david acts in fromagerie-dupont through it",
        c.allowed
            && matches!(c.granted_by.as_ref().and_then(|p| p.path.as_ref()), Some(pb::access_path::Path::Delegated(_))),
        (c.allowed, &c.granted_by),
    );
    let r = s
        .delegations()
        .delete_delegation(pb::DeleteDelegationRequest {
            actor_id: "odile".into(),
            id: "d-odile".into(),
            ..Default::default()
        })
        .await;
    log.accepted("odile: DeleteDelegation", r);
    let c = check(&s, "david", "fromagerie-dupont", "users:full", "").await;
    log.ensure("david's access ends with the delegation", !c.allowed, (c.allowed, &c.reason_code));
    log.finish("CreateDelegation");
}

// ---------------------------------------------------------------------------------------------
// 5. A delegation into a sub-partner
// ---------------------------------------------------------------------------------------------

/// A delegation into a sub-partner reaches the sub-partner's customers only through the
/// descendant grants of its role: the sub-partner's account manager role has none.
async fn delegation_into_sub_partner(backend: Backend) {
    let Some(db) = TestDatabase::new(backend).await else { return };
    let s = spawn_app(Config { demo: true, ..test_config(&db.url) }).await;
    delegation(&s, "d-nuage-alpes", "nuage-partenaires", "alpes-revente", "account_manager").await;
    let mut log = Log::new(&s, &["alpes-revente"], &["david"]);
    let c = check(&s, "david", "alpes-revente", "users:full", "").await;
    log.ensure("david acts in the sub-partner itself", c.allowed, (c.allowed, &c.reason_code));
    for permission in ["users:full", "offers:view", "folders:view"] {
        let c = check(&s, "david", "fromagerie-dupont", permission, "").await;
        log.ensure(
            &format!("david does not reach the sub-partner's customer ({permission})"),
            !c.allowed && c.effective_level == pb::Level::None as i32,
            (c.allowed, &c.reason_code, &c.granted_by),
        );
    }
    log.finish("a delegation into a sub-partner");
}

// ---------------------------------------------------------------------------------------------
// 6. Delegated access turned into a direct membership
// ---------------------------------------------------------------------------------------------

/// david administers the bakery only through the partner's delegation; he makes himself (or a
/// colleague of the partner) a direct member, which would survive DeleteDelegation.
async fn delegated_access_into_membership(backend: Backend) {
    let Some(db) = TestDatabase::new(backend).await else { return };
    let s = spawn_app(Config { demo: true, ..test_config(&db.url) }).await;
    // bruno (the partner's billing manager) is within david's reach: a member of the cheese shop,
    // which delegates to the partner too. Refused for partner reach, not for being out of reach.
    delegation(&s, "d-nuage-fromagerie", "nuage-partenaires", "fromagerie-dupont", "client_administrator").await;
    member(&s, "m-bruno-fromagerie", "bruno", "fromagerie-dupont", &["client_user"], None).await;
    let c = check(&s, "david", "boulangerie-martin", "users:full", "").await;
    assert!(c.allowed, "david administers the bakery through d-nuage-boulangerie: {c:?}");
    let mut log = Log::new(&s, &["boulangerie-martin", "nuage-partenaires"], &["david", "bruno", "thomas"]);
    for (target, roles, expect) in [
        ("david", ["client_administrator"], Expect::Info(Code::PermissionDenied, "PARTNER_REACH")),
        ("bruno", ["client_user"], Expect::Info(Code::PermissionDenied, "PARTNER_REACH")),
        // thomas is out of david's reach: answered as an unknown user.
        ("thomas", ["client_user"], Expect::Code(Code::NotFound)),
    ] {
        log.refused(
            &format!("david (delegated): CreateMembership of {target} in the bakery"),
            expect,
            s.memberships().create_membership(create_membership("david", "boulangerie-martin", target, &roles, None)),
        )
        .await;
    }
    // The customer ends the delegation: the partner's access ends with it.
    let r = s
        .delegations()
        .delete_delegation(pb::DeleteDelegationRequest {
            actor_id: "lucie".into(),
            id: "d-nuage-boulangerie".into(),
            ..Default::default()
        })
        .await;
    log.accepted("lucie (client administrator): DeleteDelegation", r);
    for subject in ["david", "bruno", "thomas"] {
        for permission in ["users:view", "users:full"] {
            let c = check(&s, subject, "boulangerie-martin", permission, "").await;
            log.ensure(
                &format!("{subject} has no access to the bakery after the delegation ({permission})"),
                !c.allowed,
                (c.allowed, &c.reason_code, &c.granted_by),
            );
        }
    }
    log.finish("delegated access turned into a membership");
}

// ---------------------------------------------------------------------------------------------
// 7. Resource restrictions
// ---------------------------------------------------------------------------------------------

/// rose administers the firm's client restricted to folder A: she lifts her own restriction,
/// grants folder B, or hands out unrestricted access. She may hand out folder A.
async fn restriction_escalation(backend: Backend) {
    let Some(db) = TestDatabase::new(backend).await else { return };
    let s = spawn_app(test_config(&db.url)).await;
    account(&s, "cabinet", "partner", "").await;
    account(&s, "client-compta", "customer", "cabinet").await;
    account(&s, "autre-client", "customer", "cabinet").await;
    folder(&s, "dossier-a", "client-compta").await;
    folder(&s, "dossier-b", "client-compta").await;
    for u in ["gerante", "rose", "tiers", "tiers-1", "tiers-2"] {
        user(&s, u).await;
    }
    member(&s, "m-gerante", "gerante", "client-compta", &["client_administrator"], None).await;
    member(&s, "m-rose", "rose", "client-compta", &["client_administrator"], requests::restricted(&["dossier-a"]))
        .await;
    // tiers is within rose's reach: a member of another customer she administers.
    member(&s, "m-rose-autre", "rose", "autre-client", &["client_administrator"], None).await;
    for u in ["tiers", "tiers-1", "tiers-2"] {
        member(&s, &format!("m-{u}-autre"), u, "autre-client", &["client_user"], None).await;
    }
    assert!(check(&s, "rose", "client-compta", "folders:full", "dossier-a").await.allowed);
    assert!(!check(&s, "rose", "client-compta", "folders:view", "dossier-b").await.allowed);
    let mut log = Log::new(&s, &["client-compta", "autre-client"], &["rose", "tiers", "tiers-1", "tiers-2"]);
    let restrict = |ids: Option<pb::ResourceRestriction>| pb::SetResourceRestrictionRequest {
        actor_id: "rose".into(),
        membership_id: "m-rose".into(),
        restriction: Some(ids.unwrap_or_default()),
        ..Default::default()
    };

    log.refused(
        "rose: lifts her own restriction",
        Expect::Escalation,
        s.memberships().set_resource_restriction(restrict(None)),
    )
    .await;
    log.refused(
        "rose: adds folder B to her own restriction",
        Expect::Escalation,
        s.memberships().set_resource_restriction(restrict(requests::restricted(&["dossier-a", "dossier-b"]))),
    )
    .await;
    log.refused(
        "rose: CreateMembership unrestricted",
        Expect::Escalation,
        s.memberships().create_membership(create_membership(
            "rose",
            "client-compta",
            "tiers-1",
            &["client_user"],
            None,
        )),
    )
    .await;
    log.refused(
        "rose: CreateMembership restricted to folder B",
        Expect::Escalation,
        s.memberships().create_membership(create_membership(
            "rose",
            "client-compta",
            "tiers-2",
            &["client_user"],
            requests::restricted(&["dossier-b"]),
        )),
    )
    .await;
    log.refused(
        "rose: CreateInvitation unrestricted",
        Expect::Escalation,
        s.invitations().create_invitation(pb::CreateInvitationRequest {
            actor_id: "rose".into(),
            account_id: "client-compta".into(),
            email: "nouvelle-recrue@exemple.fr".into(),
            roles: strings(&["client_user"]),
            ..Default::default()
        }),
    )
    .await;
    let r = s
        .memberships()
        .create_membership(create_membership(
            "rose",
            "client-compta",
            "tiers",
            &["client_user"],
            requests::restricted(&["dossier-a"]),
        ))
        .await;
    log.accepted("rose: CreateMembership restricted to folder A", r);

    for (subject, resource, allowed) in
        [("rose", "dossier-b", false), ("tiers", "dossier-b", false), ("tiers", "dossier-a", true)]
    {
        let c = check(&s, subject, "client-compta", "folders:view", resource).await;
        log.ensure(
            &format!("{subject} {} {resource}", if allowed { "reaches" } else { "does not reach" }),
            c.allowed == allowed,
            (c.allowed, &c.reason_code),
        );
    }
    let m = membership(&s, "m-rose").await.map(|m| m.restriction);
    log.ensure(
        "rose's own restriction is still {dossier-a}",
        m.as_ref().is_ok_and(|r| *r == requests::restricted(&["dossier-a"])),
        &m,
    );
    log.finish("resource restrictions");
}

// ---------------------------------------------------------------------------------------------
// 8. Four-eyes
// ---------------------------------------------------------------------------------------------

/// ines invites; resends (by the service, by another administrator, by herself) keep her the
/// requester; she can neither decide nor change her own pending request; an approval names the
/// version it approves.
async fn four_eyes(backend: Backend) {
    let Some(db) = TestDatabase::new(backend).await else { return };
    let s = spawn_app(test_config(&db.url)).await;
    account(&s, "quatre-yeux", "partner", "").await;
    account(&s, "societe", "customer", "quatre-yeux").await;
    for u in ["ines", "jules", "kim"] {
        user(&s, u).await;
        member(&s, &format!("m-{u}"), u, "societe", &["client_administrator"], None).await;
    }
    s.accounts()
        .update_account_settings(pb::UpdateAccountSettingsRequest {
            account_id: "societe".into(),
            settings: Some(pb::AccountSettings { requires_approval: true, ..Default::default() }),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut log = Log::new(&s, &["societe"], &["ines", "jules", "kim"]);
    // ines holds access_approvals:full herself (client_administrator: everything).
    assert!(check(&s, "ines", "societe", "access_approvals:full", "").await.allowed);

    let created = s
        .invitations()
        .create_invitation(pb::CreateInvitationRequest {
            actor_id: "ines".into(),
            id: "inv-nina".into(),
            account_id: "societe".into(),
            email: "nina@exemple.fr".into(),
            roles: strings(&["client_user"]),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut token = created.token;
    // The service's resend last: on the current code it erased the requester, and the inviter
    // then approved her own request.
    for (actor, who) in [("ines", "ines"), ("jules", "jules"), ("", "the service")] {
        let r = s
            .invitations()
            .resend_invitation(pb::ResendInvitationRequest {
                actor_id: actor.into(),
                id: "inv-nina".into(),
                ..Default::default()
            })
            .await;
        if let Some(r) = log.accepted(&format!("ResendInvitation by {who}"), r) {
            token = r.into_inner().token;
        }
        let inv = s
            .invitations()
            .get_invitation(pb::GetInvitationRequest { id: "inv-nina".into(), ..Default::default() })
            .await
            .unwrap()
            .into_inner()
            .invitation
            .unwrap_or_default();
        log.ensure(
            &format!("after a resend by {who}, the invitation's requester is still ines"),
            inv.invited_by == "ines",
            &inv.invited_by,
        );
    }
    let accepted = s
        .invitations()
        .accept_invitation(pb::AcceptInvitationRequest {
            token,
            given_name: "Nina".into(),
            family_name: "Nouvelle".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let pending = accepted.membership.unwrap_or_default();
    let nina = accepted.user.unwrap_or_default().id;
    let id = pending.id.clone();
    assert_eq!(pending.status, pb::MembershipStatus::PendingApproval as i32, "{pending:?}");
    log.watch_user(&nina);
    log.ensure("the pending membership's requester is ines", pending.created_by == "ines", &pending.created_by);
    let approvals = s
        .approvals()
        .list_pending_approvals(pb::ListPendingApprovalsRequest { account_id: "societe".into(), ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .approvals;
    log.ensure(
        "ListPendingApprovals names ines as the requester",
        approvals.len() == 1 && approvals[0].requested_by == "ines",
        approvals.iter().map(|a| &a.requested_by).collect::<Vec<_>>(),
    );

    // The requester decides her own request, naming the version she sees.
    let missing = missing_version_fields();
    log.ensure("the API declares the versions an approval names", missing.is_empty(), &missing);
    for decision in [Decision::Approve, Decision::Reject] {
        let seen = version_of(&s, &id).await;
        log.refused(
            &format!("ines: {decision:?} her own request"),
            Expect::Precondition("FOUR_EYES"),
            decide(&s, decision, "ines", &id, seen.as_deref()),
        )
        .await;
    }
    // The requester changes her request while it waits.
    log.refused(
        "ines: SetMembershipRoles on her own pending request",
        Expect::Precondition("PENDING_FROZEN"),
        s.memberships().set_membership_roles(pb::SetMembershipRolesRequest {
            actor_id: "ines".into(),
            membership_id: id.clone(),
            roles: strings(&["client_administrator"]),
            ..Default::default()
        }),
    )
    .await;
    log.refused(
        "ines: AssignRole on her own pending request",
        Expect::Precondition("PENDING_FROZEN"),
        s.memberships().assign_role(pb::AssignRoleRequest {
            actor_id: "ines".into(),
            membership_id: id.clone(),
            role: "client_administrator".into(),
            ..Default::default()
        }),
    )
    .await;

    // jules reviews; kim changes the request meanwhile; jules's decision names what he reviewed.
    let reviewed = version_of(&s, &id).await;
    let r = s
        .memberships()
        .set_membership_roles(pb::SetMembershipRolesRequest {
            actor_id: "kim".into(),
            membership_id: id.clone(),
            roles: strings(&["client_user", "user"]),
            ..Default::default()
        })
        .await;
    log.accepted("kim: SetMembershipRoles on the pending request", r);
    let current = version_of(&s, &id).await;
    log.ensure(
        "the change gives the pending membership another version",
        reviewed.is_some() && current != reviewed,
        (&reviewed, &current),
    );
    for decision in [Decision::Approve, Decision::Reject] {
        log.refused(
            &format!("jules: {decision:?} the version he reviewed, since changed"),
            Expect::Precondition("STALE_VERSION"),
            decide(&s, decision, "jules", &id, reviewed.as_deref()),
        )
        .await;
    }
    let r = decide(&s, Decision::Approve, "jules", &id, current.as_deref()).await;
    if let Some(r) = log.accepted("jules: Approve the current version", r) {
        let m = r.into_inner();
        log.ensure(
            "approved by jules, with kim's roles",
            m.approved_by == "jules"
                && m.status == pb::MembershipStatus::Active as i32
                && m.roles == ["client_user", "user"],
            &m,
        );
    }
    log.finish("four-eyes");
}

// ---------------------------------------------------------------------------------------------
// 9. Lost updates
// ---------------------------------------------------------------------------------------------

/// Runs two calls at once, each on its own task (and connection), released together.
async fn race<A, B>(
    a: impl Future<Output = Result<A, Status>> + Send + 'static,
    b: impl Future<Output = Result<B, Status>> + Send + 'static,
) -> (Result<A, Status>, Result<B, Status>)
where
    A: Send + 'static,
    B: Send + 'static,
{
    let start = Arc::new(tokio::sync::Barrier::new(2));
    let (sa, sb) = (start.clone(), start);
    let ha = tokio::spawn(async move {
        sa.wait().await;
        a.await
    });
    let hb = tokio::spawn(async move {
        sb.wait().await;
        b.await
    });
    (ha.await.unwrap(), hb.await.unwrap())
}

/// The outcomes of one concurrent pair over the rounds.
#[derive(Debug, Default)]
struct Tally {
    both_ok: usize,
    one_refused: usize,
    /// Rounds where both answered OK and an effect is missing.
    lost: Vec<String>,
    /// Refusals that are not a conflict the pair may lose on.
    wrong: Vec<String>,
}

impl Tally {
    /// True when both answered OK; a refusal must be one of `acceptable`.
    fn both_ok<A, B>(
        &mut self,
        round: usize,
        a: &Result<A, Status>,
        b: &Result<B, Status>,
        acceptable: &[Code],
    ) -> bool {
        for r in [a.as_ref().err(), b.as_ref().err()].into_iter().flatten() {
            if !acceptable.contains(&r.code()) {
                self.wrong.push(format!("round {round}: {}", describe(r)));
            }
        }
        let ok = a.is_ok() && b.is_ok();
        if ok {
            self.both_ok += 1;
        } else {
            self.one_refused += 1;
        }
        ok
    }

    fn lost(&mut self, round: usize, what: String) {
        self.lost.push(format!("round {round}: {what}"));
    }

    /// What is wrong with this pair, if anything. `must_both_succeed`: a pair that never both
    /// answered OK proved nothing.
    fn verdict(&self, name: &str, must_both_succeed: bool) -> Option<String> {
        let mut out = Vec::new();
        if !self.lost.is_empty() {
            out.push(format!(
                "an effect is lost in {} of the {} rounds where both answered OK, e.g. {}",
                self.lost.len(),
                self.both_ok,
                self.lost.iter().take(2).cloned().collect::<Vec<_>>().join("; ")
            ));
        }
        if !self.wrong.is_empty() {
            out.push(format!(
                "unexpected refusals: {}",
                self.wrong.iter().take(3).cloned().collect::<Vec<_>>().join("; ")
            ));
        }
        if must_both_succeed && self.both_ok == 0 {
            out.push(format!("never both OK in {ROUNDS} rounds: nothing proven"));
        }
        (!out.is_empty()).then(|| format!("{name}: {}", out.join("; ")))
    }
}

const ROUNDS: usize = 20;
/// What a write may answer when it loses a race: a conflict to retry.
const CONFLICT: &[Code] = &[Code::Aborted, Code::Unavailable];

/// One write on membership `m-cible`.
#[derive(Debug, Clone, Copy)]
enum Op {
    Assign(&'static str),
    Unassign(&'static str),
    Restrict,
    Suspend,
}

impl Op {
    async fn run(self, channel: Channel) -> Result<(), Status> {
        let mut c = pb::membership_service_client::MembershipServiceClient::new(channel);
        let id = || "m-cible".to_owned();
        match self {
            Op::Assign(role) => c
                .assign_role(pb::AssignRoleRequest { membership_id: id(), role: role.into(), ..Default::default() })
                .await
                .map(|_| ()),
            Op::Unassign(role) => c
                .unassign_role(pb::UnassignRoleRequest { membership_id: id(), role: role.into(), ..Default::default() })
                .await
                .map(|_| ()),
            Op::Restrict => c
                .set_resource_restriction(pb::SetResourceRestrictionRequest {
                    membership_id: id(),
                    restriction: requests::restricted(&["dossier-course"]),
                    ..Default::default()
                })
                .await
                .map(|_| ()),
            Op::Suspend => c
                .suspend_membership(pb::SuspendMembershipRequest { membership_id: id(), ..Default::default() })
                .await
                .map(|_| ()),
        }
    }
}

/// Concurrent pairs of every read-modify-write RPC: whenever both answer OK, both effects are
/// present (the store reads inside its write transaction).
async fn lost_updates(backend: Backend) {
    use pb::account_service_client::AccountServiceClient as Accounts;
    use pb::approval_service_client::ApprovalServiceClient as Approvals;
    use pb::contact_service_client::ContactServiceClient as Contacts;
    use pb::invitation_service_client::InvitationServiceClient as Invitations;
    use pb::user_service_client::UserServiceClient as Users;
    let Some(db) = TestDatabase::new(backend).await else { return };
    let s = spawn_app(test_config(&db.url)).await;
    account(&s, "concurrence", "partner", "").await;
    account(&s, "c-course", "customer", "concurrence").await;
    account(&s, "c-approbation", "customer", "concurrence").await;
    folder(&s, "dossier-course", "c-course").await;
    for r in ["role_a", "role_b"] {
        role(&s, "c-course", r, &[("notifications", View)]).await;
    }
    for u in ["admin-course", "cible", "profil", "admin-approbation"] {
        user(&s, u).await;
    }
    member(&s, "m-admin-course", "admin-course", "c-course", &["client_administrator"], None).await;
    member(&s, "m-cible", "cible", "c-course", &["client_user"], None).await;
    member(&s, "m-admin-approbation", "admin-approbation", "c-approbation", &["client_administrator"], None).await;
    s.accounts()
        .update_account_settings(pb::UpdateAccountSettingsRequest {
            account_id: "c-approbation".into(),
            settings: Some(pb::AccountSettings { requires_approval: true, ..Default::default() }),
            ..Default::default()
        })
        .await
        .unwrap();
    s.contacts()
        .create_contact(requests::contact("", "contact-fixe", "c-course", "Fixe", "Contact", "fixe@exemple.fr"))
        .await
        .unwrap();
    let modules: Vec<String> = s
        .roles()
        .list_catalog(pb::ListCatalogRequest {})
        .await
        .unwrap()
        .into_inner()
        .features
        .into_iter()
        .filter(|f| f.module)
        .map(|f| f.name)
        .collect();
    // A second connection: the two calls of a pair travel apart.
    let one = s.channel.clone();
    let two = Channel::from_shared(format!("http://{}", s.addr)).unwrap().connect().await.unwrap();
    let mut tallies: Vec<(String, Tally, bool)> = Vec::new();

    // Membership m-cible: AssignRole, UnassignRole, SetResourceRestriction, SuspendMembership.
    type Pair = (&'static str, &'static [&'static str], Op, Op, &'static [&'static str]);
    let pairs: [Pair; 5] = [
        (
            "AssignRole ‖ AssignRole",
            &["client_user"],
            Op::Assign("role_a"),
            Op::Assign("role_b"),
            &["client_user", "role_a", "role_b"],
        ),
        (
            "AssignRole ‖ UnassignRole",
            &["client_user", "role_b"],
            Op::Assign("role_a"),
            Op::Unassign("role_b"),
            &["client_user", "role_a"],
        ),
        (
            "UnassignRole ‖ UnassignRole",
            &["client_user", "role_a", "role_b"],
            Op::Unassign("role_a"),
            Op::Unassign("role_b"),
            &["client_user"],
        ),
        (
            "AssignRole ‖ SetResourceRestriction",
            &["client_user"],
            Op::Assign("role_a"),
            Op::Restrict,
            &["client_user", "role_a"],
        ),
        (
            "AssignRole ‖ SuspendMembership",
            &["client_user"],
            Op::Assign("role_a"),
            Op::Suspend,
            &["client_user", "role_a"],
        ),
    ];
    for (name, start, a, b, end) in pairs {
        let mut tally = Tally::default();
        for round in 0..ROUNDS {
            let m = membership(&s, "m-cible").await.unwrap();
            if m.status == pb::MembershipStatus::Suspended as i32 {
                s.memberships()
                    .reactivate_membership(pb::ReactivateMembershipRequest {
                        membership_id: "m-cible".into(),
                        ..Default::default()
                    })
                    .await
                    .unwrap();
            }
            s.memberships()
                .set_membership_roles(pb::SetMembershipRolesRequest {
                    membership_id: "m-cible".into(),
                    roles: strings(start),
                    ..Default::default()
                })
                .await
                .unwrap();
            s.memberships()
                .set_resource_restriction(pb::SetResourceRestrictionRequest {
                    membership_id: "m-cible".into(),
                    restriction: Some(pb::ResourceRestriction::default()),
                    ..Default::default()
                })
                .await
                .unwrap();
            let (ra, rb) = race(a.run(one.clone()), b.run(two.clone())).await;
            if !tally.both_ok(round, &ra, &rb, CONFLICT) {
                continue;
            }
            let m = membership(&s, "m-cible").await.unwrap_or_default();
            let mut roles = m.roles.clone();
            roles.sort();
            if roles != *end {
                tally.lost(round, format!("the roles are {roles:?}, not {end:?}"));
            }
            let lifted = m.restriction.as_ref().is_none_or(|r| !r.restricted);
            let (restriction_right, status_right) = match b {
                Op::Restrict => (m.restriction == requests::restricted(&["dossier-course"]), true),
                Op::Suspend => (lifted, m.status == pb::MembershipStatus::Suspended as i32),
                Op::Assign(_) | Op::Unassign(_) => (lifted, true),
            };
            if !restriction_right {
                tally.lost(round, format!("the restriction is {:?}", m.restriction));
            }
            if !status_right {
                tally.lost(round, format!("the status is {:?}", m.status));
            }
        }
        tallies.push((name.to_owned(), tally, true));
    }

    // UpdateUser keeps the fields it is not given: two partial updates.
    let mut tally = Tally::default();
    for round in 0..ROUNDS {
        s.users()
            .update_user(pb::UpdateUserRequest {
                id: "profil".into(),
                given_name: format!("Avant{round}"),
                phone: "+33600000000".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        let given = format!("Nouveau{round}");
        let phone = format!("+336111111{round:02}");
        let (mut c1, mut c2) = (Users::new(one.clone()), Users::new(two.clone()));
        let (r1, r2) = (
            pb::UpdateUserRequest { id: "profil".into(), given_name: given.clone(), ..Default::default() },
            pb::UpdateUserRequest { id: "profil".into(), phone: phone.clone(), ..Default::default() },
        );
        let (ra, rb) = race(async move { c1.update_user(r1).await }, async move { c2.update_user(r2).await }).await;
        if tally.both_ok(round, &ra, &rb, CONFLICT) {
            let u = s.users().get_user(pb::GetUserRequest { id: "profil".into(), ..Default::default() }).await;
            let u = u.map(|u| u.into_inner().user.unwrap_or_default()).unwrap_or_default();
            if u.given_name != given || u.phone != phone {
                tally.lost(
                    round,
                    format!("the user is ({:?}, {:?}), not ({given:?}, {phone:?})", u.given_name, u.phone),
                );
            }
        }
    }
    tallies.push(("UpdateUser ‖ UpdateUser".to_owned(), tally, true));

    // The account: UpdateAccountSettings keeps the lifetime (0) and the email policy (absent) it
    // is not given; UpdateAccount, SetAccountModules and UpdateAccountSettings change one row.
    let get_account = async |s: &TestApp| {
        s.accounts()
            .get_account(pb::GetAccountRequest { id: "c-course".into(), ..Default::default() })
            .await
            .map(|a| a.into_inner().account.unwrap_or_default())
            .unwrap_or_default()
    };
    let settings = |ttl: u32, forbidden: Option<&str>| pb::UpdateAccountSettingsRequest {
        account_id: "c-course".into(),
        settings: Some(pb::AccountSettings {
            invitation_ttl_days: ttl,
            email_policy: forbidden.map(|d| pb::EmailPolicy {
                forbidden_domains: if d.is_empty() { Vec::new() } else { vec![d.to_owned()] },
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let forbidden_of =
        |a: &pb::Account| a.settings.clone().unwrap_or_default().email_policy.unwrap_or_default().forbidden_domains;
    let ttl_of = |a: &pb::Account| a.settings.clone().unwrap_or_default().invitation_ttl_days;
    for name in [
        "UpdateAccountSettings ‖ UpdateAccountSettings",
        "UpdateAccount ‖ UpdateAccountSettings",
        "SetAccountModules ‖ UpdateAccount",
    ] {
        let mut tally = Tally::default();
        for round in 0..ROUNDS {
            s.accounts().update_account_settings(settings(7, Some(""))).await.unwrap();
            s.accounts()
                .set_account_modules(pb::SetAccountModulesRequest {
                    account_id: "c-course".into(),
                    modules: modules.clone(),
                    ..Default::default()
                })
                .await
                .unwrap();
            let ttl = 10 + u32::try_from(round).unwrap();
            let domain = format!("interdit{round}.example");
            let new_name = format!("Course {round}");
            let (mut c1, mut c2) = (Accounts::new(one.clone()), Accounts::new(two.clone()));
            let rename =
                pb::UpdateAccountRequest { id: "c-course".into(), name: new_name.clone(), ..Default::default() };
            let (ra, rb) = match name {
                "UpdateAccountSettings ‖ UpdateAccountSettings" => {
                    let (r1, r2) = (settings(ttl, None), settings(0, Some(&domain)));
                    race(async move { c1.update_account_settings(r1).await.map(|_| ()) }, async move {
                        c2.update_account_settings(r2).await.map(|_| ())
                    })
                    .await
                }
                "UpdateAccount ‖ UpdateAccountSettings" => {
                    let r2 = settings(ttl, None);
                    race(async move { c1.update_account(rename).await.map(|_| ()) }, async move {
                        c2.update_account_settings(r2).await.map(|_| ())
                    })
                    .await
                }
                _ => {
                    let r1 = pb::SetAccountModulesRequest {
                        account_id: "c-course".into(),
                        modules: strings(&["billing"]),
                        ..Default::default()
                    };
                    race(async move { c1.set_account_modules(r1).await.map(|_| ()) }, async move {
                        c2.update_account(rename).await.map(|_| ())
                    })
                    .await
                }
            };
            if !tally.both_ok(round, &ra, &rb, CONFLICT) {
                continue;
            }
            let a = get_account(&s).await;
            let (ttl_now, forbidden_now) = (ttl_of(&a), forbidden_of(&a));
            let missing = match name {
                "UpdateAccountSettings ‖ UpdateAccountSettings" => (ttl_now != ttl
                    || forbidden_now != [domain.clone()])
                .then(|| format!("ttl {ttl_now} forbidden {forbidden_now:?}, not ttl {ttl} forbidden [{domain}]")),
                "UpdateAccount ‖ UpdateAccountSettings" => (a.name != new_name || ttl_now != ttl)
                    .then(|| format!("name {:?} ttl {ttl_now}, not {new_name:?} ttl {ttl}", a.name)),
                _ => (a.name != new_name || a.modules != ["billing"])
                    .then(|| format!("name {:?} modules {:?}, not {new_name:?} [billing]", a.name, a.modules)),
            };
            if let Some(m) = missing {
                tally.lost(round, format!("the account has {m}"));
            }
        }
        tallies.push((name.to_owned(), tally, true));
    }

    // SetCommunicationOrder ‖ DeleteContact: the order never keeps a deleted contact.
    let mut tally = Tally::default();
    for round in 0..ROUNDS {
        let doomed = format!("contact-{round}");
        s.contacts()
            .create_contact(pb::CreateContactRequest {
                id: doomed.clone(),
                account_id: "c-course".into(),
                given_name: "Passager".into(),
                family_name: format!("N{round}"),
                email: format!("passager{round}@exemple.fr"),
                ..Default::default()
            })
            .await
            .unwrap();
        let (mut c1, mut c2) = (Contacts::new(one.clone()), Contacts::new(two.clone()));
        let r1 = pb::SetCommunicationOrderRequest {
            account_id: "c-course".into(),
            r#type: pb::CommunicationType::Technical as i32,
            contact_ids: vec!["contact-fixe".into(), doomed.clone()],
            ..Default::default()
        };
        let r2 = pb::DeleteContactRequest { id: doomed.clone(), ..Default::default() };
        let (ra, rb) =
            race(async move { c1.set_communication_order(r1).await }, async move { c2.delete_contact(r2).await }).await;
        // Losing to the deletion is CONTACT_NOT_ON_ACCOUNT.
        let acceptable: Vec<Code> = CONFLICT.iter().copied().chain([Code::FailedPrecondition]).collect();
        if tally.both_ok(round, &ra, &rb, &acceptable) {
            let order = s
                .contacts()
                .get_communication_order(pb::GetCommunicationOrderRequest {
                    account_id: "c-course".into(),
                    r#type: pb::CommunicationType::Technical as i32,
                    ..Default::default()
                })
                .await
                .map(|r| r.into_inner().order.unwrap_or_default().contact_ids)
                .unwrap_or_default();
            if order.contains(&doomed) {
                tally.lost(round, format!("the order {order:?} keeps the deleted {doomed}"));
            }
        }
    }
    tallies.push(("SetCommunicationOrder ‖ DeleteContact".to_owned(), tally, true));

    // ResendInvitation ‖ RevokeInvitation: a revocation that answered OK stays.
    let mut tally = Tally::default();
    for round in 0..ROUNDS {
        let id = format!("inv-course-{round}");
        s.invitations()
            .create_invitation(pb::CreateInvitationRequest {
                id: id.clone(),
                account_id: "c-course".into(),
                email: format!("invite{round}@exemple.fr"),
                roles: strings(&["client_user"]),
                ..Default::default()
            })
            .await
            .unwrap();
        let (mut c1, mut c2) = (Invitations::new(one.clone()), Invitations::new(two.clone()));
        let (r1, r2) = (
            pb::ResendInvitationRequest { id: id.clone(), ..Default::default() },
            pb::RevokeInvitationRequest { id: id.clone(), reason: "course".into(), ..Default::default() },
        );
        let (ra, rb) =
            race(async move { c1.resend_invitation(r1).await }, async move { c2.revoke_invitation(r2).await }).await;
        let acceptable: Vec<Code> = CONFLICT.iter().copied().chain([Code::FailedPrecondition]).collect();
        if tally.both_ok(round, &ra, &rb, &acceptable) {
            let inv = s
                .invitations()
                .get_invitation(pb::GetInvitationRequest { id: id.clone(), ..Default::default() })
                .await
                .map(|r| r.into_inner().invitation.unwrap_or_default().status);
            if inv.as_ref().ok() != Some(&(pb::InvitationStatus::Revoked as i32)) {
                tally.lost(round, format!("the invitation's status is {inv:?}, not revoked"));
            }
        }
    }
    tallies.push(("ResendInvitation ‖ RevokeInvitation".to_owned(), tally, true));

    // ApproveMembership ‖ RejectMembership: exactly one decides.
    let mut tally = Tally::default();
    for round in 0..ROUNDS {
        let candidate = format!("candidat-{round}");
        user(&s, &candidate).await;
        let m = member(&s, &format!("m-{candidate}"), &candidate, "c-approbation", &["client_user"], None).await;
        assert_eq!(m.status, pb::MembershipStatus::PendingApproval as i32, "{m:?}");
        let (mut c1, mut c2) = (Approvals::new(one.clone()), Approvals::new(two.clone()));
        let (r1, r2) = (
            pb::ApproveMembershipRequest { membership_id: m.id.clone(), ..Default::default() },
            pb::RejectMembershipRequest { membership_id: m.id.clone(), reason: "course".into(), ..Default::default() },
        );
        let (ra, rb) =
            race(async move { c1.approve_membership(r1).await }, async move { c2.reject_membership(r2).await }).await;
        let acceptable: Vec<Code> =
            CONFLICT.iter().copied().chain([Code::FailedPrecondition, Code::NotFound]).collect();
        if tally.both_ok(round, &ra, &rb, &acceptable) {
            let now = membership(&s, &m.id).await.map(|m| m.status);
            tally
                .lost(round, format!("both the approval and the rejection answered OK; the membership is now {now:?}"));
        } else if [&ra.as_ref().err(), &rb.as_ref().err()]
            .iter()
            .all(|e| e.is_some_and(|e| !CONFLICT.contains(&e.code())))
        {
            tally.wrong.push(format!("round {round}: neither the approval nor the rejection took effect"));
        }
    }
    tallies.push(("ApproveMembership ‖ RejectMembership".to_owned(), tally, false));

    for (name, t, _) in &tallies {
        eprintln!(
            "lost updates ({backend:?}) {name}: {ROUNDS} rounds, both OK {}, one refused {}, lost {}",
            t.both_ok,
            t.one_refused,
            t.lost.len()
        );
    }
    let wrong: Vec<String> = tallies.iter().filter_map(|(name, t, must)| t.verdict(name, *must)).collect();
    assert!(wrong.is_empty(), "lost updates ({backend:?}):\n  - {}", wrong.join("\n  - "));
}

// ---------------------------------------------------------------------------------------------
// 10. Identity
// ---------------------------------------------------------------------------------------------

/// Users join an account by invitation or are already within the actor's reach; the account's
/// email policy applies to every way in; `idp_subject` is unique; a suspended user changes
/// nothing; a profile belongs to its owner once claimed.
async fn identity(backend: Backend) {
    let Some(db) = TestDatabase::new(backend).await else { return };
    let s = spawn_app(test_config(&db.url)).await;
    account(&s, "tenant-a", "partner", "").await;
    account(&s, "client-a", "customer", "tenant-a").await;
    account(&s, "client-a2", "customer", "tenant-a").await;
    account(&s, "tenant-b", "partner", "").await;
    account(&s, "client-b", "customer", "tenant-b").await;
    for u in ["adele", "sam", "bertrand"] {
        user(&s, u).await;
    }
    user_with(
        &s,
        pb::CreateUserRequest {
            idp_subject: "oidc|beatrice".into(),
            ..requests::user("beatrice-b", "beatrice@b-corp.example")
        },
    )
    .await;
    user_with(&s, requests::user("fred", "fred@interdit.example")).await;
    user_with(&s, requests::user("fanny", "fanny@interdit.example")).await;
    member(&s, "m-adele", "adele", "client-a", &["client_administrator"], None).await;
    member(&s, "m-adele-2", "adele", "client-a2", &["client_administrator"], None).await;
    member(&s, "m-sam", "sam", "client-a", &["client_user"], None).await;
    member(&s, "m-fred", "fred", "client-a2", &["client_user"], None).await;
    member(&s, "m-fanny", "fanny", "client-a2", &["client_user"], None).await;
    member(&s, "m-bertrand", "bertrand", "client-b", &["client_administrator"], None).await;
    member(&s, "m-beatrice", "beatrice-b", "client-b", &["client_user"], None).await;
    s.accounts()
        .update_account_settings(pb::UpdateAccountSettingsRequest {
            account_id: "client-a".into(),
            settings: Some(pb::AccountSettings {
                email_policy: Some(pb::EmailPolicy {
                    forbidden_domains: strings(&["interdit.example"]),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut log = Log::new(
        &s,
        &["client-a", "client-a2", "client-b"],
        &["beatrice-b", "fred", "fanny", "sam", "adele", "bertrand"],
    );

    // Another tenant's user, and an unknown one: the same answer but for the id.
    let mut messages = Vec::new();
    for target in ["beatrice-b", "inconnue-x"] {
        let e = log
            .refused(
                &format!("adele: CreateMembership of {target} in client-a"),
                Expect::Code(Code::NotFound),
                s.memberships().create_membership(create_membership(
                    "adele",
                    "client-a",
                    target,
                    &["client_user"],
                    None,
                )),
            )
            .await;
        messages.push(e.map(|e| (e.code(), e.message().replace(target, "ID"))));
    }
    log.ensure("a foreign user is answered as an unknown one", messages[0] == messages[1], &messages);
    let c = check(&s, "beatrice-b", "client-a", "offers:view", "").await;
    log.ensure("beatrice is not in client-a", !c.allowed, (c.allowed, &c.reason_code));

    // The forbidden domain, by the account's administrator and by the service.
    for (actor, who, target) in [("adele", "adele", "fred"), ("", "the service", "fanny")] {
        log.refused(
            &format!("{who}: CreateMembership of {target}@interdit.example in client-a (domain forbidden)"),
            Expect::Precondition("EMAIL_DOMAIN_FORBIDDEN"),
            s.memberships().create_membership(create_membership(actor, "client-a", target, &["client_user"], None)),
        )
        .await;
    }

    // idp_subject is unique.
    log.refused(
        "the service: CreateUser with beatrice's idp_subject",
        Expect::Code(Code::AlreadyExists),
        s.users().create_user(pb::CreateUserRequest {
            id: "doublon".into(),
            email: "doublon@exemple.fr".into(),
            given_name: "Doublon".into(),
            idp_subject: "oidc|beatrice".into(),
            ..Default::default()
        }),
    )
    .await;
    for (actor, who) in [("", "the service"), ("fred", "fred himself")] {
        log.refused(
            &format!("{who}: UpdateUser fred with beatrice's idp_subject"),
            Expect::Code(Code::AlreadyExists),
            s.users().update_user(pb::UpdateUserRequest {
                actor_id: actor.into(),
                id: "fred".into(),
                idp_subject: "oidc|beatrice".into(),
                ..Default::default()
            }),
        )
        .await;
    }

    // fred's profile is his (created on the service's own authority, a trusted import): an
    // administrator of his account does not rewrite it.
    log.refused(
        "adele: UpdateUser of fred's phone",
        Expect::Info(Code::PermissionDenied, "PROFILE_OWNED"),
        s.users().update_user(pb::UpdateUserRequest {
            actor_id: "adele".into(),
            id: "fred".into(),
            phone: "+33699999999".into(),
            ..Default::default()
        }),
    )
    .await;

    // A suspended user changes their own profile.
    s.users().suspend_user(pb::SuspendUserRequest { id: "sam".into(), ..Default::default() }).await.unwrap();
    log.refused(
        "sam (suspended): UpdateUser of himself",
        Expect::Code(Code::PermissionDenied),
        s.users().update_user(pb::UpdateUserRequest {
            actor_id: "sam".into(),
            id: "sam".into(),
            given_name: "Samuel".into(),
            phone: "+33612345678".into(),
            ..Default::default()
        }),
    )
    .await;

    // adele pre-creates a user for someone else's email with her own phone and idp_subject; the
    // owner then accepts an invitation of tenant B with her own profile, and owns it.
    let pre = s
        .users()
        .create_user(pb::CreateUserRequest {
            actor_id: "adele".into(),
            email: "victoire@perso.example".into(),
            given_name: "Piège".into(),
            phone: "+33600000001".into(),
            idp_subject: "oidc|adele-piege".into(),
            account_id: "client-a".into(),
            ..Default::default()
        })
        .await;
    eprintln!("adele pre-creating victoire@perso.example: {:?}", pre.as_ref().map(|_| ()).map_err(describe));
    let invited = s
        .invitations()
        .create_invitation(pb::CreateInvitationRequest {
            actor_id: "bertrand".into(),
            account_id: "client-b".into(),
            email: "victoire@perso.example".into(),
            roles: strings(&["client_user"]),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let r = s
        .invitations()
        .accept_invitation(pb::AcceptInvitationRequest {
            token: invited.token,
            given_name: "Victoire".into(),
            family_name: "Vraie".into(),
            phone: "+33722222222".into(),
            idp_subject: "oidc|victoire".into(),
            ..Default::default()
        })
        .await;
    if let Some(r) = log.accepted("victoire accepts tenant B's invitation with her own profile", r) {
        let id = r.into_inner().user.unwrap_or_default().id;
        let u = s
            .users()
            .get_user(pb::GetUserRequest { id: id.clone(), ..Default::default() })
            .await
            .map(|u| u.into_inner().user.unwrap_or_default());
        log.ensure(
            "the profile is victoire's own (phone, idp_subject, name), not adele's",
            u.as_ref().is_ok_and(|u| {
                u.phone == "+33722222222" && u.idp_subject == "oidc|victoire" && u.given_name == "Victoire"
            }),
            &u,
        );
    }
    log.finish("identity");
}

// ---------------------------------------------------------------------------------------------
// 11. Smaller rules
// ---------------------------------------------------------------------------------------------

/// Suspended users and accounts, the 16-role limit, roles named by a pending invitation or a
/// delegation, duplicate restriction ids, and escalation on a module the account has disabled.
async fn smaller_rules(backend: Backend) {
    let Some(db) = TestDatabase::new(backend).await else { return };
    let s = spawn_app(test_config(&db.url)).await;
    let catalog = s.roles().list_catalog(pb::ListCatalogRequest {}).await.unwrap().into_inner();
    let without_911: Vec<String> =
        catalog.features.iter().filter(|f| f.module && f.name != "voip_911").map(|f| f.name.clone()).collect();
    account(&s, "limites", "partner", "").await;
    account(&s, "c-petit", "customer", "limites").await;
    account(&s, "c-suspendu", "customer", "limites").await;
    s.accounts()
        .create_account(pb::CreateAccountRequest {
            id: "c-module".into(),
            name: "Sans 911".into(),
            kind: "customer".into(),
            parent_id: "limites".into(),
            modules: without_911,
            ..Default::default()
        })
        .await
        .unwrap();
    for u in ["admin-petit", "suspendu", "plein", "libre", "admin-suspendu", "admin-module", "victor"] {
        user(&s, u).await;
    }
    member(&s, "m-admin-petit", "admin-petit", "c-petit", &["client_administrator"], None).await;
    member(&s, "m-plein", "plein", "c-petit", &["client_user"], None).await;
    member(&s, "m-admin-suspendu", "admin-suspendu", "c-suspendu", &["client_administrator"], None).await;
    member(&s, "m-admin-module", "admin-module", "c-module", &["client_administrator"], None).await;
    // victor administers c-module without any level on voip_911.
    role(&s, "c-module", "gestion_sans_911", &[("users", Full), ("roles", Full), ("billing", Full)]).await;
    role(&s, "c-module", "urgences", &[("voip_911", Full)]).await;
    member(&s, "m-victor", "victor", "c-module", &["gestion_sans_911"], None).await;
    s.users().suspend_user(pb::SuspendUserRequest { id: "suspendu".into(), ..Default::default() }).await.unwrap();
    s.accounts()
        .suspend_account(pb::SuspendAccountRequest { id: "c-suspendu".into(), ..Default::default() })
        .await
        .unwrap();
    let custom: Vec<String> = (1..=16).map(|i| format!("r{i:02}")).collect();
    for r in &custom {
        role(&s, "c-petit", r, &[("notifications", View)]).await;
    }
    role(&s, "c-petit", "invitation_seule", &[("notifications", View)]).await;
    role(&s, "c-petit", "delegation_seule", &[("users", View)]).await;
    folder(&s, "dossier-x", "c-petit").await;
    s.invitations()
        .create_invitation(pb::CreateInvitationRequest {
            account_id: "c-petit".into(),
            email: "futur@exemple.fr".into(),
            roles: strings(&["invitation_seule"]),
            ..Default::default()
        })
        .await
        .unwrap();
    delegation(&s, "d-limites-petit", "limites", "c-petit", "delegation_seule").await;
    let roles: Vec<String> = ["client_user".to_owned()].into_iter().chain(custom[..15].iter().cloned()).collect();
    let sixteen = pb::SetMembershipRolesRequest { membership_id: "m-plein".into(), roles, ..Default::default() };
    s.memberships().set_membership_roles(sixteen).await.unwrap();
    let mut log =
        Log::new(&s, &["c-petit", "c-suspendu", "c-module"], &["suspendu", "plein", "libre", "victor", "admin-petit"]);

    log.refused(
        "the service: CreateMembership of a suspended user",
        Expect::Precondition("USER_SUSPENDED"),
        s.memberships().create_membership(create_membership("", "c-petit", "suspendu", &["client_user"], None)),
    )
    .await;
    log.refused(
        "the service: CreateMembership in a suspended account",
        Expect::Precondition("ACCOUNT_SUSPENDED"),
        s.memberships().create_membership(create_membership("", "c-suspendu", "libre", &["client_user"], None)),
    )
    .await;
    for actor in ["", "admin-petit"] {
        log.refused(
            &format!("{}: AssignRole of a 17th role", if actor.is_empty() { "the service" } else { actor }),
            Expect::Precondition("ROLE_LIMIT"),
            s.memberships().assign_role(requests::assign_role(actor, "m-plein", "r16")),
        )
        .await;
    }
    for (name, by) in [("invitation_seule", "a pending invitation"), ("delegation_seule", "a delegation")] {
        log.refused(
            &format!("the service: DeleteRole of a role named by {by}"),
            Expect::Precondition("ROLE_IN_USE"),
            s.roles().delete_role(pb::DeleteRoleRequest {
                account_id: "c-petit".into(),
                name: name.into(),
                ..Default::default()
            }),
        )
        .await;
    }
    let twice = || requests::restricted(&["dossier-x", "dossier-x"]);
    log.refused(
        "SetResourceRestriction with a duplicate id",
        Expect::InvalidUnder("restriction.resource_ids"),
        s.memberships().set_resource_restriction(pb::SetResourceRestrictionRequest {
            membership_id: "m-plein".into(),
            restriction: twice(),
            ..Default::default()
        }),
    )
    .await;
    log.refused(
        "CreateMembership with a duplicate restriction id",
        Expect::InvalidUnder("restriction.resource_ids"),
        s.memberships().create_membership(create_membership("", "c-petit", "libre", &["client_user"], twice())),
    )
    .await;
    log.refused(
        "CreateInvitation with a duplicate restriction id",
        Expect::InvalidUnder("restriction.resource_ids"),
        s.invitations().create_invitation(pb::CreateInvitationRequest {
            account_id: "c-petit".into(),
            email: "double@exemple.fr".into(),
            roles: strings(&["client_user"]),
            restriction: twice(),
            ..Default::default()
        }),
    )
    .await;

    // voip_911 is disabled in c-module: victor's level there is none, and would be none even if
    // it were enabled. What he hands out must not become real when the module is switched on.
    let c = check(&s, "victor", "c-module", "voip_911:view", "").await;
    assert!(!c.allowed, "{c:?}");
    log.refused(
        "victor: CreateRole voip_911:full in an account where voip_911 is disabled",
        Expect::Escalation,
        s.roles().create_role(create_role("victor", "c-module", "urgences_victor", &[("voip_911", Full)])),
    )
    .await;
    log.refused(
        "victor: CreateInvitation with a role giving voip_911:full (module disabled)",
        Expect::Escalation,
        s.invitations().create_invitation(pb::CreateInvitationRequest {
            actor_id: "victor".into(),
            account_id: "c-module".into(),
            email: "noemie@exemple.fr".into(),
            roles: strings(&["urgences"]),
            ..Default::default()
        }),
    )
    .await;
    log.finish("smaller rules");
}

// ---------------------------------------------------------------------------------------------
// 12. Calling services: scopes and credentials
// ---------------------------------------------------------------------------------------------

const SHOP_TOKEN: &str = "boutique-jeton-7c1e5d";
const BACKOFFICE_TOKEN: &str = "backoffice-jeton-2b9f4a";

/// A `check`-only service and callers without (valid) credentials try management calls; refused
/// paths must not grow the metrics either.
async fn calling_services(backend: Backend) {
    let Some(db) = TestDatabase::new(backend).await else { return };
    let services = services_toml(&[
        ("boutique", &["check"], &[], SHOP_TOKEN),
        ("backoffice", &["check", "admin"], &[], BACKOFFICE_TOKEN),
    ]);
    let config = config_from_toml(&db.url, &services);
    let s = spawn_app(Config { demo: true, ..config }).await;
    let mut log = Log::new(&s, &["nuage-partenaires"], &["claire"]);
    log.watch.token = Some(BACKOFFICE_TOKEN.to_owned());
    let shop_role = |actor: &str| create_role(actor, "nuage-partenaires", "par_la_boutique", &[("users", View)]);

    // The shop may check…
    let r = s
        .access()
        .check_access(with_token(requests::check("claire", "nuage-partenaires", "users:full", ""), Some(SHOP_TOKEN)))
        .await;
    log.accepted("the check-only service: CheckAccess", r);
    // …not manage, on its own authority or an actor's.
    for actor in ["", "claire"] {
        log.refused(
            &format!("the check-only service: CreateRole (actor {actor:?})"),
            Expect::Info(Code::PermissionDenied, "MISSING_SCOPE"),
            s.roles().create_role(with_token(shop_role(actor), Some(SHOP_TOKEN))),
        )
        .await;
    }
    log.refused(
        "no credentials: CreateRole",
        Expect::Info(Code::Unauthenticated, "NO_CREDENTIALS"),
        s.roles().create_role(with_token(shop_role(""), None)),
    )
    .await;
    log.refused(
        "an unknown token: CreateRole",
        Expect::Info(Code::Unauthenticated, "INVALID_TOKEN"),
        s.roles().create_role(with_token(shop_role(""), Some("jeton-devine"))),
    )
    .await;
    log.refused(
        "no credentials: CheckAccess",
        Expect::Code(Code::Unauthenticated),
        s.access().check_access(with_token(requests::check("claire", "nuage-partenaires", "users:full", ""), None)),
    )
    .await;
    // The back office is served (the refusals above were about the callers, not the call).
    let r = s.roles().create_role(with_token(shop_role(""), Some(BACKOFFICE_TOKEN))).await;
    log.accepted("the back office: CreateRole", r);

    // Paths guichet does not serve, without credentials: refused, and not a metric label each.
    let mut answered = Vec::new();
    for i in 0..40 {
        let path = if i % 2 == 0 { format!("/guichet.v1.Sonde{i}/Appel{i}") } else { format!("/ailleurs.Sonde{i}/X") };
        let r = raw::unary(&s.channel, &path, Vec::new(), None).await;
        answered.push(r.map(|_| ()).map_err(|e| e.code()));
    }
    log.ensure("unserved paths are refused", answered.iter().all(Result::is_err), &answered);
    let (code, metrics) = s.admin_get("/metrics").await;
    let leaked: Vec<&str> = metrics.lines().filter(|l| l.contains("Sonde")).take(3).collect();
    log.ensure("/metrics is served", code == 200, code);
    log.ensure("unserved paths are not metric labels", leaked.is_empty(), &leaked);
    log.finish("calling services");
}

// ---------------------------------------------------------------------------------------------
// 13. Accounts out of reach answer like unknown ones
// ---------------------------------------------------------------------------------------------

/// helene (the hotel, a direct client) has no path into the bakery: whatever she names there is
/// NOT_FOUND, with the very message an unknown account gets, but for the id.
async fn out_of_reach_is_unknown(backend: Backend) {
    let Some(db) = TestDatabase::new(backend).await else { return };
    let s = spawn_app(Config { demo: true, ..test_config(&db.url) }).await;
    let c = check(&s, "helene", "boulangerie-martin", "users:view", "").await;
    assert!(!c.allowed && c.reason_code == "no_access_path", "{c:?}");
    let mut log = Log::new(&s, &["boulangerie-martin"], &["helene"]);
    for rpc in ["GetAccount", "ListRoles", "ListMemberships", "ListEvents"] {
        let mut answers = Vec::new();
        for id in ["boulangerie-martin", "compte-inexistant"] {
            let h = || "helene".to_owned();
            let a = || id.to_owned();
            let what = format!("helene: {rpc} of {id}");
            let e = match rpc {
                "GetAccount" => {
                    log.refused(
                        &what,
                        Expect::Code(Code::NotFound),
                        s.accounts().get_account(pb::GetAccountRequest { actor_id: h(), id: a() }),
                    )
                    .await
                }
                "ListRoles" => {
                    log.refused(
                        &what,
                        Expect::Code(Code::NotFound),
                        s.roles().list_roles(pb::ListRolesRequest {
                            actor_id: h(),
                            account_id: a(),
                            ..Default::default()
                        }),
                    )
                    .await
                }
                "ListMemberships" => {
                    log.refused(
                        &what,
                        Expect::Code(Code::NotFound),
                        s.memberships().list_memberships(pb::ListMembershipsRequest {
                            actor_id: h(),
                            account_id: a(),
                            ..Default::default()
                        }),
                    )
                    .await
                }
                _ => {
                    log.refused(
                        &what,
                        Expect::Code(Code::NotFound),
                        s.events().list_events(pb::ListEventsRequest {
                            actor_id: h(),
                            account_id: a(),
                            ..Default::default()
                        }),
                    )
                    .await
                }
            };
            answers.push(e.map(|e| (e.code(), e.message().replace(id, "ID"))));
        }
        log.ensure(
            &format!("{rpc}: an account out of reach is answered as an unknown one"),
            answers[0] == answers[1],
            &answers,
        );
    }
    log.finish("accounts out of reach");
}

// ---------------------------------------------------------------------------------------------
// 14. Ids that differ only by case
// ---------------------------------------------------------------------------------------------

/// Two trees whose roots differ only by case are two tenants: listing one tree's descendants
/// never shows the other's (on SQLite the descendants were found by a case-insensitive match).
async fn ids_differing_by_case(backend: Backend) {
    let Some(db) = TestDatabase::new(backend).await else { return };
    let s = spawn_app(test_config(&db.url)).await;
    account(&s, "Vallee", "partner", "").await;
    account(&s, "client-de-majuscule", "customer", "Vallee").await;
    account(&s, "vallee", "partner", "").await;
    account(&s, "client-de-minuscule", "customer", "vallee").await;
    user(&s, "gardien").await;
    member(&s, "m-gardien", "gardien", "vallee", &["account_manager"], None).await;
    let mut log = Log::new(&s, &["vallee", "Vallee"], &["gardien"]);
    for (actor, who) in [("gardien", "gardien (account manager of vallee)"), ("", "the service")] {
        let r = s
            .accounts()
            .list_child_accounts(pb::ListChildAccountsRequest {
                actor_id: actor.into(),
                id: "vallee".into(),
                recursive: true,
                page_size: 1000,
                ..Default::default()
            })
            .await
            .map(|r| r.into_inner().accounts.into_iter().map(|a| a.id).collect::<Vec<_>>());
        log.ensure(
            &format!("{who}: ListChildAccounts(vallee, recursive) lists vallee's tree only"),
            r.as_ref().is_ok_and(|ids| ids == &["client-de-minuscule"]),
            &r,
        );
    }
    let c = check(&s, "gardien", "client-de-majuscule", "organizations:view", "").await;
    log.ensure("gardien has no path into the other tree", !c.allowed, (c.allowed, &c.reason_code));
    log.finish("ids that differ only by case");
}

// ---------------------------------------------------------------------------------------------
// Each scenario on both backends
// ---------------------------------------------------------------------------------------------

both_backends! {
    partner_reach_needs_a_delegation => partner_reach_without_delegation,
    roles_cannot_be_created_or_rewritten_above_the_actor => role_escalation,
    a_delegate_cannot_rewrite_its_own_role => delegate_rewrites_its_role,
    delegations_are_given_by_the_customer => create_delegation_rules,
    a_sub_partner_delegation_reaches_customers_only_by_descendant_grants => delegation_into_sub_partner,
    delegated_access_cannot_become_a_membership => delegated_access_into_membership,
    a_restricted_administrator_cannot_widen_restrictions => restriction_escalation,
    four_eyes_cannot_be_bypassed => four_eyes,
    concurrent_writes_that_both_succeed_both_take_effect => lost_updates,
    users_join_by_invitation_or_reach => identity,
    limits_and_suspensions_are_enforced => smaller_rules,
    callers_need_credentials_and_scope => calling_services,
    accounts_out_of_reach_answer_as_unknown => out_of_reach_is_unknown,
    trees_differing_only_by_case_stay_apart => ids_differing_by_case,
}
