//! Conversions between the v1 messages and the domain, in one place.
//!
//! Inbound, each request is destructured field by field (a new proto field breaks the build until
//! it is handled here) and validated into domain types; every invalid field is reported at once as
//! a [`FieldViolation`] naming it, so a client fixes a request in one round trip. Outbound, domain
//! records become messages with `From`.
//!
//! **Layout.** One file per entity, named as its service and as the server's `app/` and
//! `services/` files (`accounts.rs`, `users.rs`, `roles.rs`, `memberships.rs`, …), each holding
//! its requests in and its records out; this file holds what they share: [`Authored`],
//! [`Invalid`], the limits and the field checks.

use std::fmt::Display;

use guichet_domain as d;
use guichet_domain::FieldViolation;

use crate::v1 as pb;

mod accounts;
mod approvals;
mod contacts;
mod delegations;
mod events;
mod invitations;
mod memberships;
mod resources;
mod roles;
mod users;
pub use accounts::*;
pub use approvals::*;
pub use contacts::*;
pub use delegations::*;
pub use events::*;
pub use invitations::*;
pub use memberships::*;
pub use resources::*;
pub use roles::*;
pub use users::*;

mod lookups;
pub use lookups::*;

/// The largest number of items in one CheckAccessBatch.
pub const MAX_BATCH_ITEMS: usize = 1000;
/// The longest display name (accounts, roles, resources), in characters.
pub const MAX_NAME_CHARS: usize = 256;
/// The longest person name, in characters.
pub const MAX_PERSON_NAME_CHARS: usize = 100;
/// The longest free text (descriptions, reasons), in characters.
pub const MAX_TEXT_CHARS: usize = 1024;
/// The longest idempotency key.
pub const MAX_REQUEST_ID_CHARS: usize = 128;
/// The most roles in one membership (or invitation): the rule book's limit.
pub const MAX_ROLES: usize = d::MAX_ROLES;
/// The most resources in one restriction.
pub const MAX_RESTRICTED_RESOURCES: usize = 1000;

/// A request that did not validate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid request: {}", .0.iter().map(|v| format!("{}: {}", v.field, v.description)).collect::<Vec<_>>().join("; "))]
pub struct Invalid(pub Vec<FieldViolation>);

/// A management request: the body, who it is for, and its idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authored<T> {
    /// The person the calling service acts for; `None`: the service's own authority.
    pub actor: Option<d::UserId>,
    /// The idempotency key, when given.
    pub request_id: Option<String>,
    /// The validated body.
    pub body: T,
}

/// Raw paging fields, validated by the server (which owns the token format).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PageParams {
    /// `page_size` as sent.
    pub size: i32,
    /// `page_token` as sent.
    pub token: String,
}

/// Collects violations while validating a request.
#[derive(Debug, Default)]
struct Check(Vec<FieldViolation>);

impl Check {
    fn push(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.0.push(FieldViolation::new(field, description));
    }

    fn ok<T, E: Display>(&mut self, field: &str, r: Result<T, E>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.push(field, e.to_string());
                None
            }
        }
    }

    /// A required value: empty is "is required".
    fn required<T, E: Display>(&mut self, field: &str, s: &str, parse: impl Fn(&str) -> Result<T, E>) -> Option<T> {
        if s.is_empty() {
            self.push(field, "is required");
            None
        } else {
            self.ok(field, parse(s))
        }
    }

    /// An optional value: empty is `None`. The outer `None` means invalid.
    fn optional<T, E: Display>(
        &mut self,
        field: &str,
        s: &str,
        parse: impl Fn(&str) -> Result<T, E>,
    ) -> Option<Option<T>> {
        if s.is_empty() { Some(None) } else { self.ok(field, parse(s)).map(Some) }
    }

    fn actor(&mut self, s: &str) -> Option<Option<d::UserId>> {
        self.optional("actor_id", s, d::UserId::parse)
    }

    fn request_id(&mut self, s: &str) -> Option<Option<String>> {
        if s.is_empty() {
            return Some(None);
        }
        let first_ok = s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
        let rest_ok = s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | '@'));
        if s.len() > MAX_REQUEST_ID_CHARS || !first_ok || !rest_ok {
            self.push(
                "request_id",
                format!(
                    "must be 1 to {MAX_REQUEST_ID_CHARS} characters: a letter or digit, then letters, digits, '_', '-', '.', ':' or '@'"
                ),
            );
            return None;
        }
        Some(Some(s.to_owned()))
    }

    /// Display text: trimmed, `min..=max` characters, no control characters.
    fn text(&mut self, field: &str, s: &str, min: usize, max: usize) -> Option<String> {
        let t = s.trim();
        let n = t.chars().count();
        if n < min {
            self.push(
                field,
                if min == 1 { "is required".to_owned() } else { format!("must be at least {min} characters") },
            );
            None
        } else if n > max {
            self.push(field, format!("must be at most {max} characters"));
            None
        } else if t.chars().any(char::is_control) {
            self.push(field, "must not contain control characters");
            None
        } else {
            Some(t.to_owned())
        }
    }

    fn finish<T>(self, build: impl FnOnce() -> Option<T>) -> Result<T, Invalid> {
        if !self.0.is_empty() {
            return Err(Invalid(self.0));
        }
        build().ok_or_else(|| Invalid(vec![FieldViolation::new("request", "could not be read")]))
    }
}

fn level_in(check: &mut Check, field: &str, value: i32) -> Option<d::Level> {
    match pb::Level::try_from(value) {
        Ok(pb::Level::None) => Some(d::Level::None),
        Ok(pb::Level::View) => Some(d::Level::View),
        Ok(pb::Level::Full) => Some(d::Level::Full),
        Ok(pb::Level::Unspecified) | Err(_) => {
            check.push(field, "must be LEVEL_NONE, LEVEL_VIEW or LEVEL_FULL");
            None
        }
    }
}

fn consistency_in(check: &mut Check, c: Option<pb::Consistency>) -> Option<d::Consistency> {
    use pb::consistency::Requirement;
    match c.and_then(|c| c.requirement) {
        None | Some(Requirement::MinimizeLatency(true)) => Some(d::Consistency::MinimizeLatency),
        Some(Requirement::FullyConsistent(true)) => Some(d::Consistency::FullyConsistent),
        Some(Requirement::MinimizeLatency(false)) => {
            check.push("consistency.minimize_latency", "must be true when set");
            None
        }
        Some(Requirement::FullyConsistent(false)) => {
            check.push("consistency.fully_consistent", "must be true when set");
            None
        }
        Some(Requirement::AtLeastAsFresh(token)) => check
            .ok("consistency.at_least_as_fresh", d::Revision::parse_token(&token))
            .map(d::Consistency::AtLeastAsFresh),
    }
}

fn ids_in<T, E: Display>(
    check: &mut Check,
    field: &str,
    values: &[String],
    max: usize,
    parse: impl Fn(&str) -> Result<T, E>,
) -> Option<Vec<T>> {
    if values.len() > max {
        check.push(field, format!("at most {max} values"));
        return None;
    }
    let mut out = Vec::with_capacity(values.len());
    let mut ok = true;
    for (i, v) in values.iter().enumerate() {
        match check.required(&format!("{field}[{i}]"), v, &parse) {
            Some(x) => out.push(x),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// The most event types one ListEvents may filter on.
const MAX_EVENT_TYPES: usize = 50;

// ---------------------------------------------------------------------------------------------
// Access

/// A CheckAccess or ExplainAccess request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessQuery {
    /// The question.
    pub request: d::AccessRequest,
    /// How fresh the answer must be.
    pub consistency: d::Consistency,
}

fn access_request(
    check: &mut Check,
    prefix: &str,
    subject_id: &str,
    account_id: &str,
    permission: &str,
    resource_id: &str,
) -> Option<d::AccessRequest> {
    let subject = prefixed(check, prefix, "subject_id", subject_id, true, d::UserId::parse);
    let account = prefixed(check, prefix, "account_id", account_id, true, d::AccountId::parse);
    let permission = prefixed(check, prefix, "permission", permission, true, d::Permission::parse);
    let resource = prefixed(check, prefix, "resource_id", resource_id, false, d::ResourceId::parse);
    Some(d::AccessRequest { subject: subject??, account: account??, permission: permission??, resource: resource? })
}

/// A field whose name takes a prefix (`items[3].` in a batch): the name is built only for a
/// violation, as this runs on every check. `None`: invalid (recorded); `Some(None)`: empty and not
/// `required`.
fn prefixed<T, E: Display>(
    check: &mut Check,
    prefix: &str,
    name: &str,
    s: &str,
    required: bool,
    parse: impl Fn(&str) -> Result<T, E>,
) -> Option<Option<T>> {
    let problem = if s.is_empty() {
        if !required {
            return Some(None);
        }
        "is required".to_owned()
    } else {
        match parse(s) {
            Ok(v) => return Some(Some(v)),
            Err(e) => e.to_string(),
        }
    };
    check.push(format!("{prefix}{name}"), problem);
    None
}

impl TryFrom<pb::CheckAccessRequest> for AccessQuery {
    type Error = Invalid;
    fn try_from(r: pb::CheckAccessRequest) -> Result<Self, Invalid> {
        let pb::CheckAccessRequest { subject_id, account_id, permission, resource_id, consistency } = r;
        let mut c = Check::default();
        let request = access_request(&mut c, "", &subject_id, &account_id, &permission, &resource_id);
        let consistency = consistency_in(&mut c, consistency);
        c.finish(|| Some(Self { request: request?, consistency: consistency? }))
    }
}

impl TryFrom<pb::ExplainAccessRequest> for AccessQuery {
    type Error = Invalid;
    fn try_from(r: pb::ExplainAccessRequest) -> Result<Self, Invalid> {
        let pb::ExplainAccessRequest { subject_id, account_id, permission, resource_id, consistency } = r;
        let mut c = Check::default();
        let request = access_request(&mut c, "", &subject_id, &account_id, &permission, &resource_id);
        let consistency = consistency_in(&mut c, consistency);
        c.finish(|| Some(Self { request: request?, consistency: consistency? }))
    }
}

/// A CheckAccessBatch request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchQuery {
    /// The questions, in order.
    pub requests: Vec<d::AccessRequest>,
    /// How fresh the answers must be.
    pub consistency: d::Consistency,
}

impl TryFrom<pb::CheckAccessBatchRequest> for BatchQuery {
    type Error = Invalid;
    fn try_from(r: pb::CheckAccessBatchRequest) -> Result<Self, Invalid> {
        let pb::CheckAccessBatchRequest { items, consistency } = r;
        let mut c = Check::default();
        if items.is_empty() {
            c.push("items", "at least one item is required");
        } else if items.len() > MAX_BATCH_ITEMS {
            c.push("items", format!("at most {MAX_BATCH_ITEMS} items per batch, got {}", items.len()));
        }
        let mut requests = Vec::with_capacity(items.len().min(MAX_BATCH_ITEMS));
        if items.len() <= MAX_BATCH_ITEMS {
            for (i, item) in items.into_iter().enumerate() {
                let pb::CheckAccessBatchItem { subject_id, account_id, permission, resource_id } = item;
                let prefix = format!("items[{i}].");
                if let Some(r) = access_request(&mut c, &prefix, &subject_id, &account_id, &permission, &resource_id) {
                    requests.push(r);
                }
            }
        }
        let consistency = consistency_in(&mut c, consistency);
        c.finish(|| Some(Self { requests, consistency: consistency? }))
    }
}

/// A ListAccessibleAccounts request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessibleAccountsQuery {
    /// The subject.
    pub subject: d::UserId,
    /// The permission.
    pub permission: d::Permission,
    /// Freshness.
    pub consistency: d::Consistency,
    /// Paging.
    pub page: PageParams,
}

impl TryFrom<pb::ListAccessibleAccountsRequest> for AccessibleAccountsQuery {
    type Error = Invalid;
    fn try_from(r: pb::ListAccessibleAccountsRequest) -> Result<Self, Invalid> {
        let pb::ListAccessibleAccountsRequest { subject_id, permission, consistency, page_size, page_token } = r;
        let mut c = Check::default();
        let subject = c.required("subject_id", &subject_id, d::UserId::parse);
        let permission = c.required("permission", &permission, d::Permission::parse);
        let consistency = consistency_in(&mut c, consistency);
        c.finish(|| {
            Some(Self {
                subject: subject?,
                permission: permission?,
                consistency: consistency?,
                page: PageParams { size: page_size, token: page_token },
            })
        })
    }
}

impl From<d::Level> for pb::Level {
    fn from(l: d::Level) -> Self {
        match l {
            d::Level::None => pb::Level::None,
            d::Level::View => pb::Level::View,
            d::Level::Full => pb::Level::Full,
        }
    }
}

impl From<&d::Path> for pb::AccessPath {
    fn from(p: &d::Path) -> Self {
        use pb::access_path::Path as P;
        let path = match p {
            d::Path::Direct { membership, account, role } => P::Direct(pb::DirectPath {
                membership_id: membership.to_string(),
                account_id: account.to_string(),
                role: role.to_string(),
            }),
            d::Path::Inherited { membership, ancestor, role } => P::Inherited(pb::InheritedPath {
                membership_id: membership.to_string(),
                ancestor_account_id: ancestor.to_string(),
                role: role.to_string(),
            }),
            d::Path::Delegated { delegation, from_account, membership, into, role } => {
                P::Delegated(pb::DelegatedPath {
                    delegation_id: delegation.to_string(),
                    from_account_id: from_account.to_string(),
                    membership_id: membership.to_string(),
                    into_account_id: into.to_string(),
                    role: role.to_string(),
                })
            }
        };
        Self { path: Some(path) }
    }
}

/// The CheckAccess answer for a decision evaluated at `revision`, served from `tier`.
pub fn check_response(decision: &d::Decision, revision: d::Revision, tier: pb::CacheTier) -> pb::CheckAccessResponse {
    pb::CheckAccessResponse {
        allowed: decision.allowed,
        effective_level: pb::Level::from(decision.effective) as i32,
        required_level: pb::Level::from(decision.required) as i32,
        reason_code: decision.reason.code().to_owned(),
        reason: decision.reason.to_string(),
        granted_by: decision.granted_by.as_ref().map(pb::AccessPath::from),
        revision: revision.token(),
        cache_tier: tier as i32,
        consistency_given: pb::ConsistencyGiven::AsRequested as i32,
        staleness_ms: 0,
    }
}

fn outcome(o: &d::PathOutcome) -> (pb::PathOutcome, String) {
    match o {
        d::PathOutcome::Granted => (pb::PathOutcome::Granted, "grants the required level".to_owned()),
        d::PathOutcome::Insufficient => {
            (pb::PathOutcome::Insufficient, "grants less than the required level".to_owned())
        }
        d::PathOutcome::Inactive(status) => (pb::PathOutcome::Inactive, format!("the membership is {status}")),
        d::PathOutcome::ResourceNotReachable => {
            (pb::PathOutcome::ResourceNotReachable, "the membership is restricted to other resources".to_owned())
        }
        d::PathOutcome::SourceSuspended => {
            (pb::PathOutcome::SourceSuspended, "the account it comes from is suspended".to_owned())
        }
        d::PathOutcome::NoDelegationRight => (
            pb::PathOutcome::NoDelegationRight,
            "the member does not hold delegated_administration:full in the delegating account".to_owned(),
        ),
        d::PathOutcome::Capped => (pb::PathOutcome::Capped, "capped by a suspension or a disabled module".to_owned()),
    }
}

/// The ExplainAccess answer.
pub fn explain_response(
    decision: &d::Decision,
    revision: d::Revision,
    chain: &[d::AccountId],
) -> pb::ExplainAccessResponse {
    use pb::cap::Cap as C;
    pb::ExplainAccessResponse {
        decision: Some(check_response(decision, revision, pb::CacheTier::None)),
        paths: decision
            .paths
            .iter()
            .map(|p| {
                let (o, mut detail) = outcome(&p.outcome);
                if let Some(cap) = p.resource_cap {
                    // The path names the per-resource grant that lowered it.
                    detail = format!("{detail} (the membership may use at most {cap} on this resource)");
                }
                pb::PathEvaluation {
                    path: Some(pb::AccessPath::from(&p.path)),
                    level: pb::Level::from(p.level) as i32,
                    outcome: o as i32,
                    detail,
                    resource_level: p.resource_cap.map_or(pb::Level::Unspecified, pb::Level::from) as i32,
                }
            })
            .collect(),
        caps: decision
            .caps
            .iter()
            .map(|c| pb::Cap {
                cap: Some(match c {
                    d::Cap::SubjectSuspended => C::SubjectSuspended(true),
                    d::Cap::AccountSuspended(a) => C::AccountSuspended(a.to_string()),
                    d::Cap::ModuleDisabled(f) => C::ModuleDisabled(f.to_string()),
                }),
            })
            .collect(),
        account_chain: chain.iter().map(ToString::to_string).collect(),
    }
}

// ---------------------------------------------------------------------------------------------
// Records out

fn ts(t: d::Timestamp) -> Option<prost_types::Timestamp> {
    let ms = t.as_millis();
    Some(prost_types::Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: i32::try_from(ms.rem_euclid(1000) * 1_000_000).unwrap_or(0),
    })
}

// ---------------------------------------------------------------------------------------------
// Management requests in

fn authored<T>(
    request_id: &str,
    actor_id: &str,
    build: impl FnOnce(&mut Check) -> Option<T>,
) -> Result<Authored<T>, Invalid> {
    let mut c = Check::default();
    let request_id = c.request_id(request_id);
    let actor = c.actor(actor_id);
    let body = build(&mut c);
    c.finish(|| Some(Authored { actor: actor?, request_id: request_id?, body: body? }))
}

fn reason_in(c: &mut Check, reason: &str) -> Option<Option<String>> {
    if reason.trim().is_empty() { Some(None) } else { c.text("reason", reason, 1, MAX_TEXT_CHARS).map(Some) }
}

fn optional_text(c: &mut Check, field: &str, s: &str, max: usize) -> Option<Option<String>> {
    if s.trim().is_empty() { Some(None) } else { c.text(field, s, 1, max).map(Some) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bad_field_is_reported_at_once() {
        let r = pb::CheckAccessRequest {
            subject_id: String::new(),
            account_id: "bad/id".into(),
            permission: "billing".into(),
            resource_id: String::new(),
            consistency: Some(pb::Consistency {
                requirement: Some(pb::consistency::Requirement::AtLeastAsFresh("x".into())),
            }),
        };
        let Invalid(v) = AccessQuery::try_from(r).unwrap_err();
        let fields: Vec<_> = v.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["subject_id", "account_id", "permission", "consistency.at_least_as_fresh"]);
        assert_eq!(v[0].description, "is required");
    }

    #[test]
    fn a_bad_batch_item_is_named_by_its_index() {
        let item = |subject: &str, resource: &str| pb::CheckAccessBatchItem {
            subject_id: subject.into(),
            account_id: "c1566".into(),
            permission: "billing:view".into(),
            resource_id: resource.into(),
        };
        let r = pb::CheckAccessBatchRequest {
            items: vec![item("u1566", ""), item("", "bad/id"), item("u1566", "f1")],
            consistency: None,
        };
        let Invalid(v) = BatchQuery::try_from(r).unwrap_err();
        let fields: Vec<_> = v.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["items[1].subject_id", "items[1].resource_id"]);
        assert_eq!(v[0].description, "is required");
    }

    #[test]
    fn oversized_batches_are_refused() {
        let item = pb::CheckAccessBatchItem {
            subject_id: "u".into(),
            account_id: "a".into(),
            permission: "billing:view".into(),
            resource_id: String::new(),
        };
        let r = pb::CheckAccessBatchRequest { items: vec![item; MAX_BATCH_ITEMS + 1], consistency: None };
        let Invalid(v) = BatchQuery::try_from(r).unwrap_err();
        assert_eq!(v[0].field, "items");
        assert_eq!(v[0].description, "at most 1000 items per batch, got 1001");
    }

    #[test]
    fn timestamps_keep_milliseconds() {
        let t = ts(d::Timestamp::from_millis(1_700_000_000_123)).unwrap();
        assert_eq!((t.seconds, t.nanos), (1_700_000_000, 123_000_000));
    }
}
