//! Access requests: a member asks for `feature:level` (optionally on a resource) in an account,
//! with a reason; the members who may grant it approve or reject it, the requester may cancel it,
//! and it expires by itself.
//!
//! # The life of a request
//!
//! ```text
//!            approve (the last approval)        reject            cancel (the requester)
//! PENDING ─────────────────────────────▶ APPROVED  ───▶ REJECTED   ───▶ CANCELLED
//!    │  approve (four-eyes: the first approval is recorded; PENDING still)
//!    └── expire_time passes ─────────────▶ EXPIRED
//! ```
//!
//! Only a PENDING request changes; the four other statuses are final.
//!
//! # The rules (see also `crate::rules`)
//!
//! - **Who may ask**: an active member of the account, for themselves
//!   ([`Operation::RequestAccess`]). A request is refused when the
//!   requester already has the access, or when nobody could grant it (no suggestion of
//!   [`suggest`](crate::suggest()) names an approver).
//! - **Its approvers** ([`approvers`]): the members who may make *every* change of at least one
//!   suggestion of [`suggest`](crate::suggest()) — the rule book's answer for each API call, no
//!   escalation and partner reach included — and who hold `access_approvals:full` in the account
//!   (an approval is an approval, DESIGN §2). Never the requester.
//! - **Approving** applies one suggestion through the same path as the management calls that make
//!   its changes, on the approver's rights: an approver never grants what it could not grant
//!   directly. **Four-eyes** ([`check_request_decider`], [`approval_step`]): nobody approves or
//!   rejects their own request; when the account requires approval, the first approval is only
//!   recorded, and a second approver, neither the requester nor the first, applies it.
//! - Every approval or rejection names the [`AccessRequestRecord::version`] it reviewed.

use std::collections::BTreeSet;

use crate::catalog::Catalog;
use crate::decision::{AccessRequest, Facts};
use crate::ids::{AccessRequestId, AccountId, ResourceId, UserId};
use crate::level::Permission;
use crate::model::Timestamp;
use crate::rules::{Operation, Violation};
use crate::suggest::{AccountView, Suggestion, may_make, requirement_met};

/// The longest a reason (of a request or of a decision) may be, in characters.
pub const MAX_REASON_CHARS: usize = 1024;

/// The default time a request waits before it expires: 7 days.
pub const DEFAULT_REQUEST_LIFETIME_SECS: u64 = 7 * 86_400;

/// Where an access request is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AccessRequestStatus {
    /// Waiting for its approvers.
    Pending,
    /// Granted: the change was applied.
    Approved,
    /// Refused by an approver.
    Rejected,
    /// Not decided before its expiry.
    Expired,
    /// Withdrawn by its requester.
    Cancelled,
}

impl AccessRequestStatus {
    /// Every status.
    pub const ALL: [AccessRequestStatus; 5] = [
        AccessRequestStatus::Pending,
        AccessRequestStatus::Approved,
        AccessRequestStatus::Rejected,
        AccessRequestStatus::Expired,
        AccessRequestStatus::Cancelled,
    ];

    /// As stored.
    pub const fn as_str(self) -> &'static str {
        match self {
            AccessRequestStatus::Pending => "pending",
            AccessRequestStatus::Approved => "approved",
            AccessRequestStatus::Rejected => "rejected",
            AccessRequestStatus::Expired => "expired",
            AccessRequestStatus::Cancelled => "cancelled",
        }
    }

    /// From its stored form.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

impl std::fmt::Display for AccessRequestStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A new access request, as the requester asks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAccessRequest {
    /// The account.
    pub account: AccountId,
    /// The permission asked, `feature:level`.
    pub permission: Permission,
    /// The resource it is asked on, when any.
    pub resource: Option<ResourceId>,
    /// Why (1..=[`MAX_REASON_CHARS`] characters).
    pub reason: String,
}

/// An access request as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AccessRequestRecord {
    /// Its id.
    pub id: AccessRequestId,
    /// The account.
    pub account: AccountId,
    /// Who asked (for themselves).
    pub requester: UserId,
    /// The permission asked.
    #[serde(serialize_with = "as_string")]
    pub permission: Permission,
    /// The resource, when any.
    pub resource: Option<ResourceId>,
    /// Why the requester asks.
    pub reason: String,
    /// Where it is.
    #[serde(serialize_with = "status_str")]
    pub status: AccessRequestStatus,
    /// The members who could grant it when it was made (see [`approvers`]).
    pub approvers: Vec<UserId>,
    /// When it was made.
    #[serde(serialize_with = "millis")]
    pub created_at: Timestamp,
    /// When it expires if still pending.
    #[serde(serialize_with = "millis")]
    pub expires_at: Timestamp,
    /// Four-eyes: the first approver, whose approval was recorded.
    pub first_approved_by: Option<UserId>,
    /// When the first approval was recorded.
    #[serde(serialize_with = "opt_millis")]
    pub first_approved_at: Option<Timestamp>,
    /// Who approved, rejected or cancelled it (`None`: the calling service, or its expiry).
    pub decided_by: Option<UserId>,
    /// The reason of a rejection or cancellation.
    pub decision_reason: Option<String>,
    /// When it left PENDING.
    #[serde(serialize_with = "opt_millis")]
    pub decided_at: Option<Timestamp>,
    /// The changes applied on approval, as the API calls that made them (`Service/Method: ...`).
    pub applied: Vec<String>,
}

fn as_string<S: serde::Serializer>(p: &Permission, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&p.to_string())
}

fn status_str<S: serde::Serializer>(st: &AccessRequestStatus, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(st.as_str())
}

fn millis<S: serde::Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_i64(t.as_millis())
}

fn opt_millis<S: serde::Serializer>(t: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_some(&t.as_millis()),
        None => s.serialize_none(),
    }
}

impl AccessRequestRecord {
    /// The decision request it asks about: the requester, the account, the permission, the
    /// resource.
    pub fn access(&self) -> AccessRequest {
        AccessRequest {
            subject: self.requester.clone(),
            account: self.account.clone(),
            permission: self.permission.clone(),
            resource: self.resource.clone(),
        }
    }

    /// Whether it is still waiting at `now` (pending, and not past its expiry).
    pub fn pending_at(&self, now: Timestamp) -> bool {
        self.status == AccessRequestStatus::Pending && now < self.expires_at
    }

    /// 16 lower-case hexadecimal digits that change whenever what an approver reviews changes:
    /// its status and its approvals (FNV-1a over them).
    pub fn version(&self) -> String {
        const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
        const PRIME: u64 = 0x0000_0100_0000_01b3;
        let mut text = String::new();
        let mut field = |name: &str, value: &str| {
            use std::fmt::Write as _;
            let _ = write!(text, "{name}:{}:{value};", value.len());
        };
        field("id", self.id.as_str());
        field("status", self.status.as_str());
        field("first", self.first_approved_by.as_ref().map_or("", UserId::as_str));
        field("decided", self.decided_by.as_ref().map_or("", UserId::as_str));
        let hash = text.bytes().fold(OFFSET, |h, b| (h ^ u64::from(b)).wrapping_mul(PRIME));
        format!("{hash:016x}")
    }
}

/// The members who may grant `request` (see the module docs): for each suggestion, the
/// candidates who may make every one of its changes and who hold `access_approvals:full` in the
/// account; in the order of the view's candidates (own members first), without repeats, never
/// the requester.
pub fn approvers(
    catalog: &Catalog,
    request: &AccessRequest,
    facts: &Facts,
    view: &AccountView,
    suggestions: &[Suggestion],
    now: Timestamp,
) -> Vec<UserId> {
    let decide = Operation::DecideApproval(request.account.clone()).requirement();
    let mut out: Vec<UserId> = Vec::new();
    let mut seen = BTreeSet::new();
    for candidate in &view.candidates {
        if candidate.user == request.subject || seen.contains(&candidate.user) {
            continue;
        }
        if !requirement_met(catalog, candidate, &decide, now) {
            continue;
        }
        let grants = suggestions
            .iter()
            .any(|s| s.steps.iter().all(|step| may_make(catalog, request, facts, view, candidate, &step.change, now)));
        if grants {
            seen.insert(candidate.user.clone());
            out.push(candidate.user.clone());
        }
    }
    out
}

/// The index of the first suggestion `approver` may make every change of, if any.
pub fn first_suggestion_for(
    catalog: &Catalog,
    request: &AccessRequest,
    facts: &Facts,
    view: &AccountView,
    suggestions: &[Suggestion],
    approver: &UserId,
    now: Timestamp,
) -> Option<usize> {
    let candidate = view.candidates.iter().find(|c| c.user == *approver)?;
    suggestions
        .iter()
        .position(|s| s.steps.iter().all(|step| may_make(catalog, request, facts, view, candidate, &step.change, now)))
}

/// What an approval does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApprovalStep {
    /// Four-eyes: record this first approval; the request waits for a second approver.
    Record,
    /// Apply the change: the request is approved.
    Apply,
}

/// **Four-eyes** for access requests: an actor never decides (approves or rejects) a request it
/// made, and never approves twice the same request.
pub fn check_request_decider(actor: &UserId, request: &AccessRequestRecord) -> Result<(), Violation> {
    let relation = if request.requester == *actor {
        "requested"
    } else if request.first_approved_by.as_ref() == Some(actor) {
        "already approved"
    } else {
        return Ok(());
    };
    Err(Violation::SelfDecision { actor: actor.clone(), relation, request: request.id.clone() })
}

/// **Four-eyes** for access requests: on an actor's authority, when the account requires approval
/// of new access, the first approval is recorded and a second one applies; otherwise one applies.
/// On the calling service's own authority (`actor` is `None`), one approval applies.
pub fn approval_step(requires_approval: bool, actor: Option<&UserId>, request: &AccessRequestRecord) -> ApprovalStep {
    if actor.is_some() && requires_approval && request.first_approved_by.is_none() {
        ApprovalStep::Record
    } else {
        ApprovalStep::Apply
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> AccessRequestRecord {
        AccessRequestRecord {
            id: AccessRequestId::from_trusted("ar1"),
            account: AccountId::from_trusted("a"),
            requester: UserId::from_trusted("marc"),
            permission: Permission::parse("folders:view").unwrap(),
            resource: None,
            reason: "r".into(),
            status: AccessRequestStatus::Pending,
            approvers: vec![],
            created_at: Timestamp::from_millis(0),
            expires_at: Timestamp::from_millis(10),
            first_approved_by: None,
            first_approved_at: None,
            decided_by: None,
            decision_reason: None,
            decided_at: None,
            applied: vec![],
        }
    }

    #[test]
    fn nobody_decides_their_own_request_nor_approves_twice() {
        let mut r = record();
        let marc = UserId::from_trusted("marc");
        let lucie = UserId::from_trusted("lucie");
        let david = UserId::from_trusted("david");
        assert_eq!(check_request_decider(&marc, &r).unwrap_err().code(), "FOUR_EYES");
        assert!(check_request_decider(&lucie, &r).is_ok());
        assert_eq!(approval_step(true, Some(&lucie), &r), ApprovalStep::Record);
        assert_eq!(approval_step(false, Some(&lucie), &r), ApprovalStep::Apply);
        assert_eq!(approval_step(true, None, &r), ApprovalStep::Apply);
        let before = r.version();
        r.first_approved_by = Some(lucie.clone());
        assert_ne!(r.version(), before, "an approval changes the version");
        assert_eq!(check_request_decider(&lucie, &r).unwrap_err().code(), "FOUR_EYES");
        assert!(check_request_decider(&david, &r).is_ok());
        assert_eq!(approval_step(true, Some(&david), &r), ApprovalStep::Apply);
    }

    #[test]
    fn statuses_round_trip_and_only_pending_waits() {
        for s in AccessRequestStatus::ALL {
            assert_eq!(AccessRequestStatus::parse(s.as_str()), Some(s));
        }
        let mut r = record();
        assert!(r.pending_at(Timestamp::from_millis(9)));
        assert!(!r.pending_at(Timestamp::from_millis(10)), "expired at its instant");
        r.status = AccessRequestStatus::Cancelled;
        assert!(!r.pending_at(Timestamp::from_millis(1)));
        assert_eq!(r.version().len(), 16);
    }
}
