//! InvitationService: requests in, invitations out.

use guichet_domain as d;

use super::memberships::{restriction_in, restriction_out};
use super::{Authored, Check, Invalid, PageParams, authored, optional_text, reason_in, ts};
use crate::v1 as pb;

/// ListInvitations filters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListInvitations {
    /// The account.
    pub account: d::AccountId,
    /// Only this status.
    pub status: Option<d::InvitationStatus>,
    /// Only this email.
    pub email: Option<d::Email>,
    /// Paging.
    pub page: PageParams,
}

/// RevokeInvitation: the invitation and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokeInvitation {
    /// The invitation.
    pub id: d::InvitationId,
    /// Why.
    pub reason: Option<String>,
}

/// AcceptInvitation: the token and the profile of a user to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptInvitation {
    /// The secret.
    pub token: d::InvitationToken,
    /// Given name of a new user.
    pub given_name: String,
    /// Family name of a new user.
    pub family_name: String,
    /// Phone of a new user.
    pub phone: Option<d::Phone>,
    /// Identity-provider subject of a new user.
    pub idp_subject: Option<String>,
}

fn invitation_roles(c: &mut Check, values: &[String]) -> Option<Vec<d::RoleName>> {
    if values.is_empty() {
        c.push("roles", "at least one role is required");
        return None;
    }
    if values.len() > d::MAX_INVITATION_ROLES {
        c.push("roles", format!("at most {} roles", d::MAX_INVITATION_ROLES));
        return None;
    }
    let mut out: Vec<d::RoleName> = Vec::with_capacity(values.len());
    let mut ok = true;
    for (i, v) in values.iter().enumerate() {
        match c.required(&format!("roles[{i}]"), v, d::RoleName::parse) {
            Some(r) if out.contains(&r) => {
                c.push(format!("roles[{i}]"), format!("{r} is listed twice"));
                ok = false;
            }
            Some(r) => out.push(r),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

impl TryFrom<pb::CreateInvitationRequest> for Authored<d::NewInvitation> {
    type Error = Invalid;
    fn try_from(r: pb::CreateInvitationRequest) -> Result<Self, Invalid> {
        let pb::CreateInvitationRequest { request_id, actor_id, id, account_id, email, roles, restriction } = r;
        authored(&request_id, &actor_id, |c| {
            let id = c.optional("id", &id, d::InvitationId::parse);
            let account = c.required("account_id", &account_id, d::AccountId::parse);
            let email = c.required("email", &email, d::Email::parse);
            let roles = invitation_roles(c, &roles);
            let restriction = restriction_in(c, "restriction", restriction);
            Some(d::NewInvitation {
                id: id?,
                account: account?,
                email: email?,
                roles: roles?,
                restriction: restriction?,
            })
        })
    }
}

by_id!(read GetInvitationRequest => d::InvitationId);

impl TryFrom<pb::ListInvitationsRequest> for Authored<ListInvitations> {
    type Error = Invalid;
    fn try_from(r: pb::ListInvitationsRequest) -> Result<Self, Invalid> {
        let pb::ListInvitationsRequest { actor_id, account_id, status, email, page_size, page_token } = r;
        authored("", &actor_id, |c| {
            let account = c.required("account_id", &account_id, d::AccountId::parse);
            let status = match pb::InvitationStatus::try_from(status) {
                Ok(pb::InvitationStatus::Unspecified) => Some(None),
                Ok(pb::InvitationStatus::Pending) => Some(Some(d::InvitationStatus::Pending)),
                Ok(pb::InvitationStatus::Accepted) => Some(Some(d::InvitationStatus::Accepted)),
                Ok(pb::InvitationStatus::Revoked) => Some(Some(d::InvitationStatus::Revoked)),
                Ok(pb::InvitationStatus::Expired) => Some(Some(d::InvitationStatus::Expired)),
                Err(_) => {
                    c.push("status", "unknown invitation status");
                    None
                }
            };
            let email = c.optional("email", &email, d::Email::parse);
            Some(ListInvitations {
                account: account?,
                status: status?,
                email: email?,
                page: PageParams { size: page_size, token: page_token },
            })
        })
    }
}

by_id!(write ResendInvitationRequest => d::InvitationId);

impl TryFrom<pb::RevokeInvitationRequest> for Authored<RevokeInvitation> {
    type Error = Invalid;
    fn try_from(r: pb::RevokeInvitationRequest) -> Result<Self, Invalid> {
        let pb::RevokeInvitationRequest { request_id, actor_id, id, reason } = r;
        authored(&request_id, &actor_id, |c| {
            let id = c.required("id", &id, d::InvitationId::parse);
            let reason = reason_in(c, &reason);
            Some(RevokeInvitation { id: id?, reason: reason? })
        })
    }
}

impl TryFrom<pb::AcceptInvitationRequest> for Authored<AcceptInvitation> {
    type Error = Invalid;
    fn try_from(r: pb::AcceptInvitationRequest) -> Result<Self, Invalid> {
        let pb::AcceptInvitationRequest { request_id, token, given_name, family_name, phone, idp_subject } = r;
        // The token is the authority: there is no actor.
        authored(&request_id, "", |c| {
            let token = c.required("token", &token, d::InvitationToken::parse);
            let given = optional_text(c, "given_name", &given_name, 256);
            let family = optional_text(c, "family_name", &family_name, 256);
            let phone = c.optional("phone", &phone, d::Phone::parse);
            let idp = optional_text(c, "idp_subject", &idp_subject, 255);
            Some(AcceptInvitation {
                token: token?,
                given_name: given?.unwrap_or_default(),
                family_name: family?.unwrap_or_default(),
                phone: phone?,
                idp_subject: idp?,
            })
        })
    }
}

impl From<d::InvitationStatus> for pb::InvitationStatus {
    fn from(s: d::InvitationStatus) -> Self {
        match s {
            d::InvitationStatus::Pending => pb::InvitationStatus::Pending,
            d::InvitationStatus::Accepted => pb::InvitationStatus::Accepted,
            d::InvitationStatus::Revoked => pb::InvitationStatus::Revoked,
            d::InvitationStatus::Expired => pb::InvitationStatus::Expired,
        }
    }
}

/// An invitation as the API shows it; its status must already be observed at the time of the read
/// ([`d::Invitation::observed`]).
impl From<&d::Invitation> for pb::Invitation {
    fn from(i: &d::Invitation) -> Self {
        let mut roles: Vec<String> = i.roles.iter().map(ToString::to_string).collect();
        roles.sort();
        pb::Invitation {
            id: i.id.to_string(),
            account_id: i.account.to_string(),
            email: i.email.to_string(),
            roles,
            restriction: Some(restriction_out(i.restriction.as_ref())),
            status: pb::InvitationStatus::from(i.status) as i32,
            invited_by: i.invited_by.as_ref().map(ToString::to_string).unwrap_or_default(),
            create_time: ts(i.created_at),
            expire_time: ts(i.expires_at),
            update_time: ts(i.updated_at),
            resend_count: i.resend_count,
            accepted_user_id: i.accepted_user.as_ref().map(ToString::to_string).unwrap_or_default(),
            membership_id: i.membership.as_ref().map(ToString::to_string).unwrap_or_default(),
            revoked_by: i.revoked_by.as_ref().map(ToString::to_string).unwrap_or_default(),
            revocation_reason: i.revocation_reason.clone().unwrap_or_default(),
        }
    }
}
