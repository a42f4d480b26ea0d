//! `guichet.v1.DelegationService`.

use guichet_domain::{DelegationId, NewDelegation};
use guichet_proto::convert::{DelegationExpiry, ListDelegations};
use guichet_proto::v1 as pb;

use super::{admitted, handlers, page};
use crate::app::App;
use crate::paging::next_token;

#[derive(Debug)]
pub(crate) struct Delegations(pub(crate) App);

handlers! {
    impl pb::delegation_service_server::DelegationService for Delegations {
        write "CreateDelegation" fn create_delegation(pb::CreateDelegationRequest) -> pb::CreateDelegationResponse
            |app, c, r: NewDelegation| {
            let (d, revision) = admitted!(app, c, app.create_delegation(&c, &r.body).await)?;
            pb::CreateDelegationResponse { delegation: Some((&d).into()), revision: revision.token() }
        }

        read "GetDelegation" fn get_delegation(pb::GetDelegationRequest) -> pb::GetDelegationResponse
            |app, c, r: DelegationId| {
            let d = app.get_delegation(&c, &r.body).await?;
            pb::GetDelegationResponse { delegation: Some((&d).into()) }
        }

        read "ListDelegations" fn list_delegations(pb::ListDelegationsRequest) -> pb::ListDelegationsResponse
            |app, c, r: ListDelegations| {
            let p = page(&r.body.page)?;
            let found =
                app.list_delegations(&c, r.body.from.as_ref(), r.body.to.as_ref(), r.body.expiring_before, &p).await?;
            pb::ListDelegationsResponse {
                delegations: found.items.iter().map(Into::into).collect(),
                next_page_token: next_token(found.next_after.as_deref()),
            }
        }

        write "DeleteDelegation" fn delete_delegation(pb::DeleteDelegationRequest) -> pb::DeleteDelegationResponse
            |app, c, r: DelegationId| {
            let revision = admitted!(app, c, app.delete_delegation(&c, &r.body).await)?;
            pb::DeleteDelegationResponse { revision: revision.token() }
        }

        write "SetDelegationExpiry" fn set_delegation_expiry(pb::SetDelegationExpiryRequest)
            -> pb::SetDelegationExpiryResponse |app, c, r: DelegationExpiry| {
            let (d, revision) =
                admitted!(app, c, app.set_delegation_expiry(&c, &r.body.id, r.body.expires_at).await)?;
            pb::SetDelegationExpiryResponse { delegation: Some((&d).into()), revision: revision.token() }
        }
    }
}
