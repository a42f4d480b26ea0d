//! ApprovalService: four-eyes approvals of pending memberships, requests in and approvals out.

use guichet_domain as d;

use super::{Authored, Check, Invalid, MAX_TEXT_CHARS, PageParams, authored, ts};
use crate::v1 as pb;

/// ListPendingApprovals: the account and paging.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListApprovals {
    /// The account.
    pub account: d::AccountId,
    /// Paging.
    pub page: PageParams,
}

/// ApproveMembership: the membership and the version the approver reviewed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApproveMembership {
    /// The pending membership.
    pub id: d::MembershipId,
    /// The [`d::Membership::version`] reviewed; `None` when not given.
    pub version: Option<String>,
}

/// RejectMembership: the membership, why, and the version the approver reviewed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectMembership {
    /// The pending membership.
    pub id: d::MembershipId,
    /// Why (1..=1024 characters).
    pub reason: String,
    /// The [`d::Membership::version`] reviewed; `None` when not given.
    pub version: Option<String>,
}

/// A membership version as [`d::Membership::version`] writes it: 16 lower-case hexadecimal digits;
/// empty is `None`.
fn version_in(c: &mut Check, version: &str) -> Option<Option<String>> {
    if version.is_empty() {
        return Some(None);
    }
    if version.len() == 16 && version.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return Some(Some(version.to_owned()));
    }
    c.push("version", "a membership version: 16 lower-case hexadecimal digits, as the membership's `version`");
    None
}

impl TryFrom<pb::ListPendingApprovalsRequest> for Authored<ListApprovals> {
    type Error = Invalid;
    fn try_from(r: pb::ListPendingApprovalsRequest) -> Result<Self, Invalid> {
        let pb::ListPendingApprovalsRequest { actor_id, account_id, page_size, page_token } = r;
        authored("", &actor_id, |c| {
            let account = c.required("account_id", &account_id, d::AccountId::parse);
            Some(ListApprovals { account: account?, page: PageParams { size: page_size, token: page_token } })
        })
    }
}

impl TryFrom<pb::ApproveMembershipRequest> for Authored<ApproveMembership> {
    type Error = Invalid;
    fn try_from(r: pb::ApproveMembershipRequest) -> Result<Self, Invalid> {
        let pb::ApproveMembershipRequest { request_id, actor_id, membership_id, version } = r;
        authored(&request_id, &actor_id, |c| {
            let id = c.required("membership_id", &membership_id, d::MembershipId::parse);
            let version = version_in(c, &version);
            Some(ApproveMembership { id: id?, version: version? })
        })
    }
}

/// The membership alone (the version validated, then left out).
impl TryFrom<pb::ApproveMembershipRequest> for Authored<d::MembershipId> {
    type Error = Invalid;
    fn try_from(r: pb::ApproveMembershipRequest) -> Result<Self, Invalid> {
        let Authored { actor, request_id, body, unchanged_since } = Authored::<ApproveMembership>::try_from(r)?;
        Ok(Authored { actor, request_id, body: body.id, unchanged_since })
    }
}

impl TryFrom<pb::RejectMembershipRequest> for Authored<RejectMembership> {
    type Error = Invalid;
    fn try_from(r: pb::RejectMembershipRequest) -> Result<Self, Invalid> {
        let pb::RejectMembershipRequest { request_id, actor_id, membership_id, reason, version } = r;
        authored(&request_id, &actor_id, |c| {
            let id = c.required("membership_id", &membership_id, d::MembershipId::parse);
            let reason = c.text("reason", &reason, 1, MAX_TEXT_CHARS);
            let version = version_in(c, &version);
            Some(RejectMembership { id: id?, reason: reason?, version: version? })
        })
    }
}

/// One pending approval: the membership, its requester, its invitation and its user.
pub fn approval_out(membership: &d::Membership, invitation: Option<&d::InvitationId>, user: &d::User) -> pb::Approval {
    pb::Approval {
        membership: Some(membership.into()),
        requested_by: membership.created_by.as_ref().map(ToString::to_string).unwrap_or_default(),
        request_time: ts(membership.created_at),
        invitation_id: invitation.map(ToString::to_string).unwrap_or_default(),
        user: Some(user.into()),
        access_request: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_approval_carries_the_version_reviewed() {
        let approve = |version: &str| {
            Authored::<ApproveMembership>::try_from(pb::ApproveMembershipRequest {
                actor_id: "paul".into(),
                membership_id: "m1".into(),
                version: version.into(),
                ..Default::default()
            })
        };
        assert_eq!(approve("0123456789abcdef").unwrap().body.version.as_deref(), Some("0123456789abcdef"));
        assert_eq!(approve("").unwrap().body.version, None);
        for bad in ["0123456789ABCDEF", "0123456789abcde", "0123456789abcdef0", "0123456789abcdeg"] {
            let Invalid(v) = approve(bad).unwrap_err();
            assert_eq!(v[0].field, "version", "{bad}");
        }
        let reject = Authored::<RejectMembership>::try_from(pb::RejectMembershipRequest {
            actor_id: "paul".into(),
            membership_id: "m1".into(),
            reason: "non".into(),
            version: "fedcba9876543210".into(),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(reject.body.version.as_deref(), Some("fedcba9876543210"));
        // The id alone, for callers that only need it.
        let id = Authored::<d::MembershipId>::try_from(pb::ApproveMembershipRequest {
            membership_id: "m1".into(),
            version: "nope".into(),
            ..Default::default()
        });
        assert!(id.is_err(), "the version is validated there too");
    }
}
