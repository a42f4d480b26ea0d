//! ApprovalService's access requests: RequestAccess, GetAccessRequest, ListAccessRequests,
//! ApproveAccessRequest, RejectAccessRequest, CancelAccessRequest in, and the request out.

use guichet_domain as d;

use super::{Authored, Check, Invalid, MAX_TEXT_CHARS, PageParams, authored, ts};
use crate::v1 as pb;

/// GetAccessRequest: the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetAccessRequest {
    /// The access request.
    pub id: d::AccessRequestId,
}

/// ListAccessRequests: the filters and paging.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListAccessRequests {
    /// Only this account's.
    pub account: Option<d::AccountId>,
    /// Only this user's.
    pub requester: Option<d::UserId>,
    /// Only in this status.
    pub status: Option<d::AccessRequestStatus>,
    /// Paging.
    pub page: PageParams,
}

/// ApproveAccessRequest: the request, the version reviewed, the suggestion chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApproveAccessRequest {
    /// The access request.
    pub id: d::AccessRequestId,
    /// The version reviewed; `None` when not given.
    pub version: Option<String>,
    /// The index of the suggestion to apply; `None`: the first the approver may make.
    pub suggestion: Option<usize>,
}

/// RejectAccessRequest: the request, why, the version reviewed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectAccessRequest {
    /// The access request.
    pub id: d::AccessRequestId,
    /// Why.
    pub reason: String,
    /// The version reviewed; `None` when not given.
    pub version: Option<String>,
}

/// CancelAccessRequest: the request, and why (optional).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancelAccessRequest {
    /// The access request.
    pub id: d::AccessRequestId,
    /// Why, when said.
    pub reason: Option<String>,
}

/// A request version: 16 lower-case hexadecimal digits; empty is `None`.
fn version_in(c: &mut Check, version: &str) -> Option<Option<String>> {
    if version.is_empty() {
        return Some(None);
    }
    if version.len() == 16 && version.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return Some(Some(version.to_owned()));
    }
    c.push("version", "an access request version: 16 lower-case hexadecimal digits, as the request's `version`");
    None
}

/// The status filter: UNSPECIFIED is any.
fn status_filter(c: &mut Check, value: i32) -> Option<Option<d::AccessRequestStatus>> {
    use pb::AccessRequestStatus as S;
    match S::try_from(value) {
        Ok(S::Unspecified) => Some(None),
        Ok(S::Pending) => Some(Some(d::AccessRequestStatus::Pending)),
        Ok(S::Approved) => Some(Some(d::AccessRequestStatus::Approved)),
        Ok(S::Rejected) => Some(Some(d::AccessRequestStatus::Rejected)),
        Ok(S::Expired) => Some(Some(d::AccessRequestStatus::Expired)),
        Ok(S::Cancelled) => Some(Some(d::AccessRequestStatus::Cancelled)),
        Err(_) => {
            c.push("status", "must be an AccessRequestStatus");
            None
        }
    }
}

impl TryFrom<pb::RequestAccessRequest> for Authored<d::NewAccessRequest> {
    type Error = Invalid;
    fn try_from(r: pb::RequestAccessRequest) -> Result<Self, Invalid> {
        let pb::RequestAccessRequest { request_id, actor_id, account_id, permission, resource_id, reason } = r;
        if actor_id.is_empty() {
            // A request is a person's, for themselves: the actor is required (checked with the
            // other fields).
            let mut c = Check::default();
            c.push("actor_id", "is required: the member asking, for themselves");
            let _ = c.required("account_id", &account_id, d::AccountId::parse);
            let _ = c.required("permission", &permission, d::Permission::parse);
            let _ = c.optional("resource_id", &resource_id, d::ResourceId::parse);
            let _ = c.text("reason", &reason, 1, MAX_TEXT_CHARS);
            let _ = c.request_id(&request_id);
            return Err(Invalid(c.0));
        }
        authored(&request_id, &actor_id, |c| {
            let account = c.required("account_id", &account_id, d::AccountId::parse);
            let permission = c.required("permission", &permission, d::Permission::parse);
            let resource = c.optional("resource_id", &resource_id, d::ResourceId::parse);
            let reason = c.text("reason", &reason, 1, MAX_TEXT_CHARS);
            Some(d::NewAccessRequest {
                account: account?,
                permission: permission?,
                resource: resource?,
                reason: reason?,
            })
        })
    }
}

impl TryFrom<pb::GetAccessRequestRequest> for Authored<GetAccessRequest> {
    type Error = Invalid;
    fn try_from(r: pb::GetAccessRequestRequest) -> Result<Self, Invalid> {
        let pb::GetAccessRequestRequest { actor_id, access_request_id } = r;
        authored("", &actor_id, |c| {
            let id = c.required("access_request_id", &access_request_id, d::AccessRequestId::parse);
            Some(GetAccessRequest { id: id? })
        })
    }
}

impl TryFrom<pb::ListAccessRequestsRequest> for Authored<ListAccessRequests> {
    type Error = Invalid;
    fn try_from(r: pb::ListAccessRequestsRequest) -> Result<Self, Invalid> {
        let pb::ListAccessRequestsRequest { actor_id, account_id, requester_id, status, page_size, page_token } = r;
        authored("", &actor_id, |c| {
            let account = c.optional("account_id", &account_id, d::AccountId::parse);
            let requester = c.optional("requester_id", &requester_id, d::UserId::parse);
            let status = status_filter(c, status);
            if account_id.is_empty() && requester_id.is_empty() {
                c.push("account_id", "account_id or requester_id is required");
                return None;
            }
            Some(ListAccessRequests {
                account: account?,
                requester: requester?,
                status: status?,
                page: PageParams { size: page_size, token: page_token },
            })
        })
    }
}

impl TryFrom<pb::ApproveAccessRequestRequest> for Authored<ApproveAccessRequest> {
    type Error = Invalid;
    fn try_from(r: pb::ApproveAccessRequestRequest) -> Result<Self, Invalid> {
        let pb::ApproveAccessRequestRequest { request_id, actor_id, access_request_id, version, suggestion } = r;
        authored(&request_id, &actor_id, |c| {
            let id = c.required("access_request_id", &access_request_id, d::AccessRequestId::parse);
            let version = version_in(c, &version);
            let suggestion = match suggestion.map(usize::try_from) {
                None => Some(None),
                Some(Ok(i)) if i < d::MAX_SUGGESTIONS => Some(Some(i)),
                Some(_) => {
                    c.push(
                        "suggestion",
                        format!("must be below {}: an index in ExplainAccess's suggestions", d::MAX_SUGGESTIONS),
                    );
                    None
                }
            };
            Some(ApproveAccessRequest { id: id?, version: version?, suggestion: suggestion? })
        })
    }
}

impl TryFrom<pb::RejectAccessRequestRequest> for Authored<RejectAccessRequest> {
    type Error = Invalid;
    fn try_from(r: pb::RejectAccessRequestRequest) -> Result<Self, Invalid> {
        let pb::RejectAccessRequestRequest { request_id, actor_id, access_request_id, reason, version } = r;
        authored(&request_id, &actor_id, |c| {
            let id = c.required("access_request_id", &access_request_id, d::AccessRequestId::parse);
            let reason = c.text("reason", &reason, 1, MAX_TEXT_CHARS);
            let version = version_in(c, &version);
            Some(RejectAccessRequest { id: id?, reason: reason?, version: version? })
        })
    }
}

impl TryFrom<pb::CancelAccessRequestRequest> for Authored<CancelAccessRequest> {
    type Error = Invalid;
    fn try_from(r: pb::CancelAccessRequestRequest) -> Result<Self, Invalid> {
        let pb::CancelAccessRequestRequest { request_id, actor_id, access_request_id, reason } = r;
        authored(&request_id, &actor_id, |c| {
            let id = c.required("access_request_id", &access_request_id, d::AccessRequestId::parse);
            let reason = super::reason_in(c, &reason);
            Some(CancelAccessRequest { id: id?, reason: reason? })
        })
    }
}

impl From<d::AccessRequestStatus> for pb::AccessRequestStatus {
    fn from(s: d::AccessRequestStatus) -> Self {
        match s {
            d::AccessRequestStatus::Pending => pb::AccessRequestStatus::Pending,
            d::AccessRequestStatus::Approved => pb::AccessRequestStatus::Approved,
            d::AccessRequestStatus::Rejected => pb::AccessRequestStatus::Rejected,
            d::AccessRequestStatus::Expired => pb::AccessRequestStatus::Expired,
            d::AccessRequestStatus::Cancelled => pb::AccessRequestStatus::Cancelled,
        }
    }
}

impl From<&d::AccessRequestRecord> for pb::AccessRequest {
    fn from(r: &d::AccessRequestRecord) -> Self {
        let s = |v: Option<&d::UserId>| v.map(ToString::to_string).unwrap_or_default();
        pb::AccessRequest {
            id: r.id.to_string(),
            account_id: r.account.to_string(),
            requester_id: r.requester.to_string(),
            permission: r.permission.to_string(),
            resource_id: r.resource.as_ref().map(ToString::to_string).unwrap_or_default(),
            reason: r.reason.clone(),
            status: pb::AccessRequestStatus::from(r.status).into(),
            approver_ids: r.approvers.iter().map(ToString::to_string).collect(),
            create_time: ts(r.created_at),
            expire_time: ts(r.expires_at),
            first_approved_by: s(r.first_approved_by.as_ref()),
            first_approve_time: r.first_approved_at.and_then(ts),
            decided_by: s(r.decided_by.as_ref()),
            decision_reason: r.decision_reason.clone().unwrap_or_default(),
            decide_time: r.decided_at.and_then(ts),
            applied_changes: r.applied.clone(),
            version: r.version(),
        }
    }
}

/// A pending access request as one of ListPendingApprovals' approvals.
pub fn access_request_approval_out(r: &d::AccessRequestRecord, requester: &d::User) -> pb::Approval {
    pb::Approval {
        membership: None,
        requested_by: r.requester.to_string(),
        request_time: ts(r.created_at),
        invitation_id: String::new(),
        user: Some(requester.into()),
        access_request: Some(r.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_needs_its_actor_and_reports_every_field_at_once() {
        let Invalid(v) = Authored::<d::NewAccessRequest>::try_from(pb::RequestAccessRequest {
            permission: "folders".into(),
            ..Default::default()
        })
        .unwrap_err();
        let fields: Vec<&str> = v.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["actor_id", "account_id", "permission", "reason"]);
        let ok = Authored::<d::NewAccessRequest>::try_from(pb::RequestAccessRequest {
            actor_id: "marc".into(),
            account_id: "a".into(),
            permission: "folders:view".into(),
            resource_id: "f1".into(),
            reason: " besoin ".into(),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(ok.body.reason, "besoin");
        assert_eq!(ok.body.resource.unwrap().as_str(), "f1");
    }

    #[test]
    fn an_approval_names_a_version_and_a_suggestion_in_range() {
        let approve = |version: &str, suggestion: Option<u32>| {
            Authored::<ApproveAccessRequest>::try_from(pb::ApproveAccessRequestRequest {
                actor_id: "lucie".into(),
                access_request_id: "ar1".into(),
                version: version.into(),
                suggestion,
                ..Default::default()
            })
        };
        assert_eq!(approve("0123456789abcdef", Some(1)).unwrap().body.suggestion, Some(1));
        assert_eq!(approve("", None).unwrap().body.version, None);
        assert_eq!(approve("nope", None).unwrap_err().0[0].field, "version");
        assert_eq!(approve("", Some(99)).unwrap_err().0[0].field, "suggestion");
    }
}
