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

/// The inbound `TryFrom` of requests that name one thing by `id`: `read` ones carry
/// `{ actor_id, id }`, `write` ones `{ request_id, actor_id, id }` (destructured by name, like every
/// other request, so that a new field breaks the build).
macro_rules! by_id {
    (read $request:ident => $id:ty) => {
        impl TryFrom<pb::$request> for Authored<$id> {
            type Error = Invalid;
            fn try_from(r: pb::$request) -> Result<Self, Invalid> {
                let pb::$request { actor_id, id } = r;
                authored("", &actor_id, |c| c.required("id", &id, <$id>::parse))
            }
        }
    };
    (write $request:ident => $id:ty) => {
        impl TryFrom<pb::$request> for Authored<$id> {
            type Error = Invalid;
            fn try_from(r: pb::$request) -> Result<Self, Invalid> {
                let pb::$request { request_id, actor_id, id } = r;
                authored(&request_id, &actor_id, |c| c.required("id", &id, <$id>::parse))
            }
        }
    };
    (previewed $request:ident => $id:ty) => {
        impl TryFrom<pb::$request> for Authored<$id> {
            type Error = Invalid;
            fn try_from(r: pb::$request) -> Result<Self, Invalid> {
                let pb::$request { request_id, actor_id, id, unchanged_since } = r;
                authored_since(&request_id, &actor_id, &unchanged_since, |c| c.required("id", &id, <$id>::parse))
            }
        }
    };
}

mod access_requests;
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
pub use access_requests::*;
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

mod access;
pub use access::*;

mod lookups;
pub use lookups::*;

mod simulate;
pub use simulate::*;

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
    /// The write must fail unless nothing it depends on changed after this revision (a preview's,
    /// see SimulateChanges); only the writes a preview covers take it.
    pub unchanged_since: Option<d::Revision>,
}

/// SetMembershipExpiry, SetDelegationExpiry: the grant and its new expiry (`None`: never).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expiry<Id> {
    /// The membership or the delegation.
    pub id: Id,
    /// When it stops granting; `None`: never.
    pub expires_at: Option<d::Timestamp>,
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
// Levels

impl From<d::Level> for pb::Level {
    fn from(l: d::Level) -> Self {
        match l {
            d::Level::None => pb::Level::None,
            d::Level::View => pb::Level::View,
            d::Level::Full => pb::Level::Full,
        }
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
    c.finish(|| Some(Authored { actor: actor?, request_id: request_id?, body: body?, unchanged_since: None }))
}

/// [`authored`] for a write a preview covers: `unchanged_since` (a revision token, or empty)
/// validated with the other fields.
fn authored_since<T>(
    request_id: &str,
    actor_id: &str,
    unchanged_since: &str,
    build: impl FnOnce(&mut Check) -> Option<T>,
) -> Result<Authored<T>, Invalid> {
    let since = if unchanged_since.is_empty() {
        Ok(None)
    } else {
        d::Revision::parse_token(unchanged_since).map(Some).map_err(|_| {
            FieldViolation::new("unchanged_since", "not a revision token: use the revision SimulateChanges returned")
        })
    };
    match (authored(request_id, actor_id, build), since) {
        (Ok(a), Ok(since)) => Ok(Authored { unchanged_since: since, ..a }),
        (Ok(_), Err(v)) => Err(Invalid(vec![v])),
        (Err(e), Ok(_)) => Err(e),
        (Err(mut e), Err(v)) => {
            e.0.push(v);
            Err(e)
        }
    }
}

/// The body of a Set…Expiry request: the grant's id (required, in `field`) and `expire_time`.
fn expiry_in<Id, E: Display>(
    request_id: &str,
    actor_id: &str,
    field: &str,
    id: &str,
    parse: impl Fn(&str) -> Result<Id, E>,
    expire_time: Option<prost_types::Timestamp>,
) -> Result<Authored<Expiry<Id>>, Invalid> {
    authored(request_id, actor_id, |c| {
        let id = c.required(field, id, parse);
        let expires_at = events::time_in(c, "expire_time", expire_time);
        Some(Expiry { id: id?, expires_at: expires_at? })
    })
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
    fn timestamps_keep_milliseconds() {
        let t = ts(d::Timestamp::from_millis(1_700_000_000_123)).unwrap();
        assert_eq!((t.seconds, t.nanos), (1_700_000_000, 123_000_000));
    }
}
