//! `guichet.v1.DelegationService`.

use guichet_domain::{DelegationId, NewDelegation};
use guichet_proto::convert::{DelegationExpiry, ListDelegations};
use guichet_proto::v1 as pb;

use super::{admitted, handlers};
use crate::app::App;

#[derive(Debug)]
pub(crate) struct Delegations(pub(crate) App);

handlers! {
    impl pb::delegation_service_server::DelegationService for Delegations {
        write "CreateDelegation" fn create_delegation(pb::CreateDelegationRequest)
            -> pb::CreateDelegationResponse { delegation }
            |app, c, r: NewDelegation| admitted!(app, c, app.create_delegation(&c, &r.body).await);

        read "GetDelegation" fn get_delegation(pb::GetDelegationRequest) -> pb::GetDelegationResponse { delegation }
            |app, c, r: DelegationId| app.get_delegation(&c, &r.body).await;

        read "ListDelegations" fn list_delegations(pb::ListDelegationsRequest)
            -> pb::ListDelegationsResponse { delegations, next_page_token }
            |app, c, r: ListDelegations, p|
                app.list_delegations(&c, r.body.from.as_ref(), r.body.to.as_ref(), r.body.expiring_before, &p).await;

        write "DeleteDelegation" fn delete_delegation(pb::DeleteDelegationRequest) -> pb::DeleteDelegationResponse {}
            |app, c, r: DelegationId| admitted!(app, c, app.delete_delegation(&c, &r.body).await);

        write "SetDelegationExpiry" fn set_delegation_expiry(pb::SetDelegationExpiryRequest)
            -> pb::SetDelegationExpiryResponse { delegation }
            |app, c, r: DelegationExpiry|
                admitted!(app, c, app.set_delegation_expiry(&c, &r.body.id, r.body.expires_at).await);
    }
}
