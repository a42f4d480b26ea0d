//! ResourceService: requests in, resources out.

use guichet_domain as d;

use super::{Authored, Invalid, MAX_NAME_CHARS, PageParams, authored, ts};
use crate::v1 as pb;

/// ListResources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListResources {
    /// The account.
    pub account: d::AccountId,
    /// Only this kind.
    pub kind: Option<d::FeatureName>,
    /// Paging.
    pub page: PageParams,
}

impl TryFrom<pb::CreateResourceRequest> for Authored<d::NewResource> {
    type Error = Invalid;
    fn try_from(r: pb::CreateResourceRequest) -> Result<Self, Invalid> {
        let pb::CreateResourceRequest { request_id, actor_id, id, account_id, kind, name } = r;
        authored(&request_id, &actor_id, |c| {
            let id = c.optional("id", &id, d::ResourceId::parse);
            let account = c.required("account_id", &account_id, d::AccountId::parse);
            let kind = if kind.is_empty() {
                d::FeatureName::parse("folder").ok()
            } else {
                c.ok("kind", d::FeatureName::parse(&kind))
            };
            let name = c.text("name", &name, 1, MAX_NAME_CHARS);
            Some(d::NewResource { id: id?, account: account?, kind: kind?, name: name? })
        })
    }
}

by_id!(read GetResourceRequest => d::ResourceId);

impl TryFrom<pb::ListResourcesRequest> for Authored<ListResources> {
    type Error = Invalid;
    fn try_from(r: pb::ListResourcesRequest) -> Result<Self, Invalid> {
        let pb::ListResourcesRequest { actor_id, account_id, kind, page_size, page_token } = r;
        authored("", &actor_id, |c| {
            let account = c.required("account_id", &account_id, d::AccountId::parse);
            let kind = c.optional("kind", &kind, d::FeatureName::parse);
            Some(ListResources {
                account: account?,
                kind: kind?,
                page: PageParams { size: page_size, token: page_token },
            })
        })
    }
}

by_id!(write DeleteResourceRequest => d::ResourceId);

impl From<&d::Resource> for pb::Resource {
    fn from(r: &d::Resource) -> Self {
        pb::Resource {
            id: r.id.to_string(),
            account_id: r.account.to_string(),
            kind: r.kind.to_string(),
            name: r.name.clone(),
            create_time: ts(r.created_at),
        }
    }
}
