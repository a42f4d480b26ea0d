//! ListAccessibleAccounts, ListAccessibleResources and ListAuthorizedSubjects requests.

use guichet_domain as d;

use super::{Check, Invalid, PageParams, consistency_in};
use crate::v1 as pb;

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

/// A ListAccessibleResources request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessibleResourcesQuery {
    /// The subject.
    pub subject: d::UserId,
    /// The account.
    pub account: d::AccountId,
    /// The permission.
    pub permission: d::Permission,
    /// Only resources of this kind.
    pub kind: Option<d::FeatureName>,
    /// Freshness.
    pub consistency: d::Consistency,
    /// Paging.
    pub page: PageParams,
}

impl TryFrom<pb::ListAccessibleResourcesRequest> for AccessibleResourcesQuery {
    type Error = Invalid;
    fn try_from(r: pb::ListAccessibleResourcesRequest) -> Result<Self, Invalid> {
        let pb::ListAccessibleResourcesRequest {
            subject_id,
            account_id,
            permission,
            kind,
            consistency,
            page_size,
            page_token,
        } = r;
        let mut c = Check::default();
        let subject = c.required("subject_id", &subject_id, d::UserId::parse);
        let account = c.required("account_id", &account_id, d::AccountId::parse);
        let permission = c.required("permission", &permission, d::Permission::parse);
        let kind = c.optional("kind", &kind, d::FeatureName::parse);
        let consistency = consistency_in(&mut c, consistency);
        c.finish(|| {
            Some(Self {
                subject: subject?,
                account: account?,
                permission: permission?,
                kind: kind?,
                consistency: consistency?,
                page: PageParams { size: page_size, token: page_token },
            })
        })
    }
}

/// A ListAuthorizedSubjects request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizedSubjectsQuery {
    /// The account.
    pub account: d::AccountId,
    /// The permission.
    pub permission: d::Permission,
    /// On this resource, when given.
    pub resource: Option<d::ResourceId>,
    /// Freshness.
    pub consistency: d::Consistency,
    /// Paging.
    pub page: PageParams,
}

impl TryFrom<pb::ListAuthorizedSubjectsRequest> for AuthorizedSubjectsQuery {
    type Error = Invalid;
    fn try_from(r: pb::ListAuthorizedSubjectsRequest) -> Result<Self, Invalid> {
        let pb::ListAuthorizedSubjectsRequest {
            account_id,
            permission,
            resource_id,
            consistency,
            page_size,
            page_token,
        } = r;
        let mut c = Check::default();
        let account = c.required("account_id", &account_id, d::AccountId::parse);
        let permission = c.required("permission", &permission, d::Permission::parse);
        let resource = c.optional("resource_id", &resource_id, d::ResourceId::parse);
        let consistency = consistency_in(&mut c, consistency);
        c.finish(|| {
            Some(Self {
                account: account?,
                permission: permission?,
                resource: resource?,
                consistency: consistency?,
                page: PageParams { size: page_size, token: page_token },
            })
        })
    }
}
