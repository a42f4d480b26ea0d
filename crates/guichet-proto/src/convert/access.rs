//! CheckAccess, CheckAccessBatch and ExplainAccess: the questions in, the answers out.
//!
//! A check's answer is a [`d::Answer`] everywhere inside guichet (the application, the decision
//! caches, telemetry, AuthZEN); it becomes a `CheckAccessResponse` here, at the gRPC edge, and only
//! here. The outbound conversion takes the answer by value: the ids of its path move into the message
//! (a cached check pays for no second copy of them).

use std::fmt::Display;

use guichet_domain as d;

use super::{Check, Invalid, consistency_in, level_in};
use crate::v1 as pb;

/// The largest number of items in one CheckAccessBatch.
pub const MAX_BATCH_ITEMS: usize = d::MAX_BATCH_ITEMS;

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

/// An ExplainAccess request: the check, and the actor its suggestions are given for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExplainQuery {
    /// The check.
    pub query: AccessQuery,
    /// The person the calling service asks for, when named.
    pub actor: Option<d::UserId>,
}

impl TryFrom<pb::ExplainAccessRequest> for ExplainQuery {
    type Error = Invalid;
    fn try_from(r: pb::ExplainAccessRequest) -> Result<Self, Invalid> {
        let pb::ExplainAccessRequest { subject_id, account_id, permission, resource_id, consistency, actor_id } = r;
        let mut c = Check::default();
        let request = access_request(&mut c, "", &subject_id, &account_id, &permission, &resource_id);
        let consistency = consistency_in(&mut c, consistency);
        let actor = prefixed(&mut c, "", "actor_id", &actor_id, false, d::UserId::parse);
        c.finish(|| Some(Self { query: AccessQuery { request: request?, consistency: consistency? }, actor: actor? }))
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

impl From<d::Path> for pb::AccessPath {
    fn from(p: d::Path) -> Self {
        use pb::access_path::Path as P;
        let path = match p {
            d::Path::Direct { membership, account, role } => P::Direct(pb::DirectPath {
                membership_id: membership.into_string(),
                account_id: account.into_string(),
                role: role.into_string(),
            }),
            d::Path::Inherited { membership, ancestor, role } => P::Inherited(pb::InheritedPath {
                membership_id: membership.into_string(),
                ancestor_account_id: ancestor.into_string(),
                role: role.into_string(),
            }),
            d::Path::Delegated { delegation, from_account, membership, into, role } => {
                P::Delegated(pb::DelegatedPath {
                    delegation_id: delegation.into_string(),
                    from_account_id: from_account.into_string(),
                    membership_id: membership.into_string(),
                    into_account_id: into.into_string(),
                    role: role.into_string(),
                })
            }
        };
        Self { path: Some(path) }
    }
}

impl TryFrom<pb::AccessPath> for d::Path {
    type Error = Invalid;
    fn try_from(p: pb::AccessPath) -> Result<Self, Invalid> {
        use pb::access_path::Path as P;
        let pb::AccessPath { path } = p;
        let mut c = Check::default();
        let path = match path {
            None => {
                c.push("granted_by.path", "is required");
                None
            }
            Some(P::Direct(pb::DirectPath { membership_id, account_id, role })) => {
                let membership = c.required("granted_by.direct.membership_id", &membership_id, d::MembershipId::parse);
                let account = c.required("granted_by.direct.account_id", &account_id, d::AccountId::parse);
                let role = c.required("granted_by.direct.role", &role, d::RoleName::parse);
                match (membership, account, role) {
                    (Some(membership), Some(account), Some(role)) => {
                        Some(d::Path::Direct { membership, account, role })
                    }
                    _ => None,
                }
            }
            Some(P::Inherited(pb::InheritedPath { membership_id, ancestor_account_id, role })) => {
                let membership =
                    c.required("granted_by.inherited.membership_id", &membership_id, d::MembershipId::parse);
                let ancestor =
                    c.required("granted_by.inherited.ancestor_account_id", &ancestor_account_id, d::AccountId::parse);
                let role = c.required("granted_by.inherited.role", &role, d::RoleName::parse);
                match (membership, ancestor, role) {
                    (Some(membership), Some(ancestor), Some(role)) => {
                        Some(d::Path::Inherited { membership, ancestor, role })
                    }
                    _ => None,
                }
            }
            Some(P::Delegated(pb::DelegatedPath {
                delegation_id,
                from_account_id,
                membership_id,
                into_account_id,
                role,
            })) => {
                let delegation =
                    c.required("granted_by.delegated.delegation_id", &delegation_id, d::DelegationId::parse);
                let from = c.required("granted_by.delegated.from_account_id", &from_account_id, d::AccountId::parse);
                let membership =
                    c.required("granted_by.delegated.membership_id", &membership_id, d::MembershipId::parse);
                let into = c.required("granted_by.delegated.into_account_id", &into_account_id, d::AccountId::parse);
                let role = c.required("granted_by.delegated.role", &role, d::RoleName::parse);
                match (delegation, from, membership, into, role) {
                    (Some(delegation), Some(from_account), Some(membership), Some(into), Some(role)) => {
                        Some(d::Path::Delegated { delegation, from_account, membership, into, role })
                    }
                    _ => None,
                }
            }
        };
        c.finish(|| path)
    }
}

impl From<d::CacheTier> for pb::CacheTier {
    fn from(t: d::CacheTier) -> Self {
        match t {
            d::CacheTier::None => pb::CacheTier::None,
            d::CacheTier::Local => pb::CacheTier::Local,
            d::CacheTier::Shared => pb::CacheTier::Shared,
        }
    }
}

/// A revision's token (`r42`), as [`d::Revision::token`] writes it, without the formatting
/// machinery: every answer carries one.
fn token(revision: d::Revision) -> String {
    let mut digits = [0_u8; 20];
    let mut n = revision.value();
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + u8::try_from(n % 10).unwrap_or(0);
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let mut out = String::with_capacity(1 + digits.len() - start);
    out.push('r');
    out.extend(digits[start..].iter().map(|b| char::from(*b)));
    out
}

impl From<d::Answer> for pb::CheckAccessResponse {
    fn from(a: d::Answer) -> Self {
        let d::Answer { allowed, required, effective, reason, granted_by, revision, tier, freshness } = a;
        let (consistency_given, staleness_ms) = match freshness {
            d::Freshness::AsRequested => (pb::ConsistencyGiven::AsRequested, 0),
            d::Freshness::Stale { staleness_ms } => (pb::ConsistencyGiven::Stale, staleness_ms),
        };
        pb::CheckAccessResponse {
            allowed,
            effective_level: pb::Level::from(effective) as i32,
            required_level: pb::Level::from(required) as i32,
            reason_code: reason.code().to_owned(),
            reason: reason.message().to_owned(),
            granted_by: granted_by.map(pb::AccessPath::from),
            revision: token(revision),
            cache_tier: pb::CacheTier::from(tier) as i32,
            consistency_given: consistency_given as i32,
            staleness_ms,
        }
    }
}

/// Reads an answer back (a client of guichet, a test): every field must be one guichet writes.
impl TryFrom<pb::CheckAccessResponse> for d::Answer {
    type Error = Invalid;
    fn try_from(r: pb::CheckAccessResponse) -> Result<Self, Invalid> {
        let pb::CheckAccessResponse {
            allowed,
            effective_level,
            required_level,
            reason_code,
            reason: _,
            granted_by,
            revision,
            cache_tier,
            consistency_given,
            staleness_ms,
        } = r;
        let mut c = Check::default();
        let effective = level_in(&mut c, "effective_level", effective_level);
        let required = level_in(&mut c, "required_level", required_level);
        let reason = d::Reason::ALL.into_iter().find(|r| r.code() == reason_code);
        if reason.is_none() {
            c.push("reason_code", format!("{reason_code} is not a reason guichet gives"));
        }
        let granted_by = match granted_by.map(d::Path::try_from).transpose() {
            Ok(p) => Some(p),
            Err(Invalid(v)) => {
                c.0.extend(v);
                None
            }
        };
        let revision = c.ok("revision", d::Revision::parse_token(&revision));
        let tier = match pb::CacheTier::try_from(cache_tier) {
            Ok(pb::CacheTier::None) => Some(d::CacheTier::None),
            Ok(pb::CacheTier::Local) => Some(d::CacheTier::Local),
            Ok(pb::CacheTier::Shared) => Some(d::CacheTier::Shared),
            Ok(pb::CacheTier::Unspecified) | Err(_) => {
                c.push("cache_tier", "must be CACHE_TIER_NONE, CACHE_TIER_LOCAL or CACHE_TIER_SHARED");
                None
            }
        };
        let freshness = match pb::ConsistencyGiven::try_from(consistency_given) {
            Ok(pb::ConsistencyGiven::AsRequested) => Some(d::Freshness::AsRequested),
            Ok(pb::ConsistencyGiven::Stale) => Some(d::Freshness::Stale { staleness_ms }),
            Ok(pb::ConsistencyGiven::Unspecified) | Err(_) => {
                c.push("consistency_given", "must be CONSISTENCY_GIVEN_AS_REQUESTED or CONSISTENCY_GIVEN_STALE");
                None
            }
        };
        c.finish(|| {
            Some(d::Answer {
                allowed,
                required: required?,
                effective: effective?,
                reason: reason?,
                granted_by: granted_by?,
                revision: revision?,
                tier: tier?,
                freshness: freshness?,
            })
        })
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
        d::PathOutcome::Expired(at) => (
            pb::PathOutcome::Expired,
            format!("the membership or the delegation expired at {at} ms since the epoch", at = at.as_millis()),
        ),
    }
}

/// What ExplainAccess says of the changes that would grant a deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suggested<'a> {
    /// The suggestions (empty: none).
    Given(&'a [d::Suggestion]),
    /// Withheld, for this reason.
    Withheld(&'a str),
}

/// A sentence for people about one change.
fn change_detail(step: &d::Step) -> String {
    let what = match &step.change {
        d::Change::ReactivateUser { user } => format!("reactivate user {user}"),
        d::Change::ReactivateAccount { account } => format!("reactivate account {account}"),
        d::Change::EnableModule { account, feature } => format!("enable module {feature} on account {account}"),
        d::Change::ApproveMembership { membership } => format!("approve the pending membership {membership}"),
        d::Change::ReactivateMembership { membership } => format!("reactivate the suspended membership {membership}"),
        d::Change::AssignRole { membership, role } => format!("give membership {membership} the role {role}"),
        d::Change::ExtendRestriction { membership, resource, level } => {
            format!("let membership {membership} reach resource {resource} at level {level}")
        }
        d::Change::CreateDelegation { from, to, role } => {
            format!("delegate the administration of {to} to {from} with the role {role}")
        }
    };
    let who = match (&step.decided_in, step.fixers.is_empty()) {
        (None, _) => " (only the calling service, on its own authority)".to_owned(),
        (Some(a), true) => format!(" (decided in {a}; no member of this account or its delegating partners may)"),
        (Some(a), false) => format!(" (decided in {a})"),
    };
    let wait = if step.four_eyes { "; the access then waits for a second approver" } else { "" };
    format!("{what}{who}{wait}")
}

impl From<&d::Step> for pb::SuggestedChange {
    fn from(step: &d::Step) -> Self {
        use pb::suggested_change::Change as C;
        let change = match &step.change {
            d::Change::ReactivateUser { user } => {
                C::ReactivateUser(pb::ReactivateUserChange { user_id: user.to_string() })
            }
            d::Change::ReactivateAccount { account } => {
                C::ReactivateAccount(pb::ReactivateAccountChange { account_id: account.to_string() })
            }
            d::Change::EnableModule { account, feature } => C::EnableModule(pb::EnableModuleChange {
                account_id: account.to_string(),
                feature: feature.to_string(),
            }),
            d::Change::ApproveMembership { membership } => {
                C::ApproveMembership(pb::MembershipChange { membership_id: membership.to_string() })
            }
            d::Change::ReactivateMembership { membership } => {
                C::ReactivateMembership(pb::MembershipChange { membership_id: membership.to_string() })
            }
            d::Change::AssignRole { membership, role } => {
                C::AssignRole(pb::AssignRoleChange { membership_id: membership.to_string(), role: role.to_string() })
            }
            d::Change::ExtendRestriction { membership, resource, level } => {
                C::ExtendRestriction(pb::ExtendRestrictionChange {
                    membership_id: membership.to_string(),
                    resource_id: resource.to_string(),
                    level: pb::Level::from(*level) as i32,
                })
            }
            d::Change::CreateDelegation { from, to, role } => C::CreateDelegation(pb::CreateDelegationChange {
                from_account_id: from.to_string(),
                to_account_id: to.to_string(),
                role: role.to_string(),
            }),
        };
        pb::SuggestedChange {
            change: Some(change),
            rpc: step.change.rpc().to_owned(),
            decided_in_account_id: step.decided_in.as_ref().map(ToString::to_string).unwrap_or_default(),
            fixers: step
                .fixers
                .iter()
                .map(|f| pb::Fixer {
                    user_id: f.user.to_string(),
                    via_delegation_id: match &f.via {
                        d::Via::Member => String::new(),
                        d::Via::Delegation(id) => id.to_string(),
                    },
                })
                .collect(),
            more_fixers: step.more_fixers,
            four_eyes: step.four_eyes,
            detail: change_detail(step),
        }
    }
}

/// The ExplainAccess answer.
pub fn explain_response(
    decision: &d::Decision,
    revision: d::Revision,
    chain: &[d::AccountId],
    suggested: Suggested<'_>,
) -> pb::ExplainAccessResponse {
    use pb::cap::Cap as C;
    let (suggestions, suggestions_withheld, suggestions_withheld_reason) = match suggested {
        Suggested::Given(s) => (
            s.iter()
                .map(|s| pb::Suggestion { changes: s.steps.iter().map(pb::SuggestedChange::from).collect() })
                .collect(),
            false,
            String::new(),
        ),
        Suggested::Withheld(why) => (Vec::new(), true, why.to_owned()),
    };
    pb::ExplainAccessResponse {
        suggestions,
        suggestions_withheld,
        suggestions_withheld_reason,
        decision: Some(d::Answer::new(decision, revision).into()),
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

    fn answer(granted_by: Option<d::Path>, revision: u64) -> d::Answer {
        d::Answer {
            allowed: granted_by.is_some(),
            required: d::Level::View,
            effective: if granted_by.is_some() { d::Level::Full } else { d::Level::None },
            reason: if granted_by.is_some() { d::Reason::Allowed } else { d::Reason::NoAccessPath },
            granted_by,
            revision: d::Revision::new(revision),
            tier: d::CacheTier::Shared,
            freshness: d::Freshness::Stale { staleness_ms: 1200 },
        }
    }

    #[test]
    fn an_answer_goes_out_and_comes_back_the_same() {
        let paths = [
            None,
            Some(d::Path::Direct {
                membership: d::MembershipId::parse("m1").unwrap(),
                account: d::AccountId::parse("c1566").unwrap(),
                role: d::RoleName::parse("account_manager").unwrap(),
            }),
            Some(d::Path::Inherited {
                membership: d::MembershipId::parse("m2").unwrap(),
                ancestor: d::AccountId::parse("p1").unwrap(),
                role: d::RoleName::parse("admin").unwrap(),
            }),
            Some(d::Path::Delegated {
                delegation: d::DelegationId::parse("dl1").unwrap(),
                from_account: d::AccountId::parse("p2").unwrap(),
                membership: d::MembershipId::parse("m3").unwrap(),
                into: d::AccountId::parse("c1566").unwrap(),
                role: d::RoleName::parse("admin").unwrap(),
            }),
        ];
        for (i, path) in paths.into_iter().enumerate() {
            for revision in [0, 7, 42, 1_000_000, u64::MAX] {
                let a = answer(path.clone(), revision);
                let out = pb::CheckAccessResponse::from(a.clone());
                assert_eq!(out.revision, d::Revision::new(revision).token(), "the token is the domain's");
                assert_eq!(out.consistency_given, pb::ConsistencyGiven::Stale as i32);
                assert_eq!(out.staleness_ms, 1200);
                assert_eq!(out.cache_tier, pb::CacheTier::Shared as i32);
                assert_eq!(out.reason, a.reason.to_string());
                assert_eq!(d::Answer::try_from(out).unwrap(), a, "path {i}, revision {revision}");
            }
        }
    }

    #[test]
    fn an_answer_guichet_did_not_write_is_refused_field_by_field() {
        let mut out = pb::CheckAccessResponse::from(answer(None, 3));
        out.reason_code = "because".into();
        out.revision = "42".into();
        out.cache_tier = 0;
        out.effective_level = 9;
        let Invalid(v) = d::Answer::try_from(out).unwrap_err();
        let fields: Vec<_> = v.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["effective_level", "reason_code", "revision", "cache_tier"]);
    }
}
