//! DelegationService: requests in, delegations out.

use guichet_domain as d;

use super::events::time_in;
use super::{Authored, Expiry, Invalid, PageParams, authored, authored_since, expiry_in, ts};
use crate::v1 as pb;

/// ListDelegations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListDelegations {
    /// From this account.
    pub from: Option<d::AccountId>,
    /// To this account.
    pub to: Option<d::AccountId>,
    /// Only those with an expiry strictly before this instant.
    pub expiring_before: Option<d::Timestamp>,
    /// Paging.
    pub page: PageParams,
}

/// SetDelegationExpiry: the delegation and its new expiry (`None`: never).
pub type DelegationExpiry = Expiry<d::DelegationId>;

impl TryFrom<pb::CreateDelegationRequest> for Authored<d::NewDelegation> {
    type Error = Invalid;
    fn try_from(r: pb::CreateDelegationRequest) -> Result<Self, Invalid> {
        let pb::CreateDelegationRequest {
            request_id,
            actor_id,
            id,
            from_account_id,
            to_account_id,
            role,
            expire_time,
            unchanged_since,
        } = r;
        authored_since(&request_id, &actor_id, &unchanged_since, |c| {
            let id = c.optional("id", &id, d::DelegationId::parse);
            let from = c.required("from_account_id", &from_account_id, d::AccountId::parse);
            let to = c.required("to_account_id", &to_account_id, d::AccountId::parse);
            let role = c.required("role", &role, d::RoleName::parse);
            let expires_at = time_in(c, "expire_time", expire_time);
            Some(d::NewDelegation {
                id: id?,
                from_account: from?,
                to_account: to?,
                role: role?,
                expires_at: expires_at?,
            })
        })
    }
}

by_id!(read GetDelegationRequest => d::DelegationId);

impl TryFrom<pb::ListDelegationsRequest> for Authored<ListDelegations> {
    type Error = Invalid;
    fn try_from(r: pb::ListDelegationsRequest) -> Result<Self, Invalid> {
        let pb::ListDelegationsRequest {
            actor_id,
            from_account_id,
            to_account_id,
            page_size,
            page_token,
            expiring_before,
        } = r;
        authored("", &actor_id, |c| {
            let from = c.optional("from_account_id", &from_account_id, d::AccountId::parse);
            let to = c.optional("to_account_id", &to_account_id, d::AccountId::parse);
            if from_account_id.is_empty() && to_account_id.is_empty() {
                c.push("from_account_id", "from_account_id or to_account_id is required");
            }
            let expiring_before = time_in(c, "expiring_before", expiring_before);
            Some(ListDelegations {
                from: from?,
                to: to?,
                expiring_before: expiring_before?,
                page: PageParams { size: page_size, token: page_token },
            })
        })
    }
}

by_id!(previewed DeleteDelegationRequest => d::DelegationId);

impl TryFrom<pb::SetDelegationExpiryRequest> for Authored<DelegationExpiry> {
    type Error = Invalid;
    fn try_from(r: pb::SetDelegationExpiryRequest) -> Result<Self, Invalid> {
        let pb::SetDelegationExpiryRequest { request_id, actor_id, id, expire_time } = r;
        expiry_in(&request_id, &actor_id, "id", &id, d::DelegationId::parse, expire_time)
    }
}

impl From<&d::Delegation> for pb::Delegation {
    fn from(x: &d::Delegation) -> Self {
        pb::Delegation {
            id: x.id.to_string(),
            from_account_id: x.from_account.to_string(),
            to_account_id: x.to_account.to_string(),
            role: x.role.to_string(),
            created_by: x.created_by.as_ref().map(ToString::to_string).unwrap_or_default(),
            create_time: ts(x.created_at),
            expire_time: x.expires_at.and_then(ts),
        }
    }
}
