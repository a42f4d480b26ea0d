//! DelegationService: requests in, delegations out.

use guichet_domain as d;

use super::{Authored, Invalid, PageParams, authored, ts};
use crate::v1 as pb;

/// ListDelegations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListDelegations {
    /// From this account.
    pub from: Option<d::AccountId>,
    /// To this account.
    pub to: Option<d::AccountId>,
    /// Paging.
    pub page: PageParams,
}

impl TryFrom<pb::CreateDelegationRequest> for Authored<d::NewDelegation> {
    type Error = Invalid;
    fn try_from(r: pb::CreateDelegationRequest) -> Result<Self, Invalid> {
        let pb::CreateDelegationRequest { request_id, actor_id, id, from_account_id, to_account_id, role } = r;
        authored(&request_id, &actor_id, |c| {
            let id = c.optional("id", &id, d::DelegationId::parse);
            let from = c.required("from_account_id", &from_account_id, d::AccountId::parse);
            let to = c.required("to_account_id", &to_account_id, d::AccountId::parse);
            let role = c.required("role", &role, d::RoleName::parse);
            Some(d::NewDelegation { id: id?, from_account: from?, to_account: to?, role: role? })
        })
    }
}

impl TryFrom<pb::GetDelegationRequest> for Authored<d::DelegationId> {
    type Error = Invalid;
    fn try_from(r: pb::GetDelegationRequest) -> Result<Self, Invalid> {
        let pb::GetDelegationRequest { actor_id, id } = r;
        authored("", &actor_id, |c| c.required("id", &id, d::DelegationId::parse))
    }
}

impl TryFrom<pb::ListDelegationsRequest> for Authored<ListDelegations> {
    type Error = Invalid;
    fn try_from(r: pb::ListDelegationsRequest) -> Result<Self, Invalid> {
        let pb::ListDelegationsRequest { actor_id, from_account_id, to_account_id, page_size, page_token } = r;
        authored("", &actor_id, |c| {
            let from = c.optional("from_account_id", &from_account_id, d::AccountId::parse);
            let to = c.optional("to_account_id", &to_account_id, d::AccountId::parse);
            if from_account_id.is_empty() && to_account_id.is_empty() {
                c.push("from_account_id", "from_account_id or to_account_id is required");
            }
            Some(ListDelegations { from: from?, to: to?, page: PageParams { size: page_size, token: page_token } })
        })
    }
}

impl TryFrom<pb::DeleteDelegationRequest> for Authored<d::DelegationId> {
    type Error = Invalid;
    fn try_from(r: pb::DeleteDelegationRequest) -> Result<Self, Invalid> {
        let pb::DeleteDelegationRequest { request_id, actor_id, id } = r;
        authored(&request_id, &actor_id, |c| c.required("id", &id, d::DelegationId::parse))
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
        }
    }
}
