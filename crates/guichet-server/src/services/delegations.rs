//! `guichet.v1.DelegationService`.

use guichet_domain::{DelegationId, NewDelegation};
use guichet_proto::convert::{DelegationExpiry, ListDelegations};
use guichet_proto::v1 as pb;
use tonic::{Request, Response, Status};

use super::{Called, admitted, authored, call, fingerprint, once, page};
use crate::app::App;
use crate::paging::next_token;

#[derive(Debug)]
pub(crate) struct Delegations(pub(crate) App);

#[tonic::async_trait]
impl pb::delegation_service_server::DelegationService for Delegations {
    #[tracing::instrument(skip_all, fields(rpc = "CreateDelegation"))]
    async fn create_delegation(
        &self,
        request: Request<pb::CreateDelegationRequest>,
    ) -> Result<Response<pb::CreateDelegationResponse>, Status> {
        let fp = fingerprint("create_delegation", request.get_ref());
        let r: Called<NewDelegation> = authored(request)?;
        once(&self.0, call(&r), fp, async |c| {
            let (d, revision) = admitted!(self.0, c, self.0.create_delegation(&c, &r.body).await)?;
            Ok(pb::CreateDelegationResponse { delegation: Some((&d).into()), revision: revision.token() })
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(rpc = "GetDelegation"))]
    async fn get_delegation(
        &self,
        request: Request<pb::GetDelegationRequest>,
    ) -> Result<Response<pb::GetDelegationResponse>, Status> {
        let r: Called<DelegationId> = authored(request)?;
        let d = self.0.get_delegation(&call(&r), &r.body).await?;
        Ok(Response::new(pb::GetDelegationResponse { delegation: Some((&d).into()) }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "ListDelegations"))]
    async fn list_delegations(
        &self,
        request: Request<pb::ListDelegationsRequest>,
    ) -> Result<Response<pb::ListDelegationsResponse>, Status> {
        let r: Called<ListDelegations> = authored(request)?;
        let p = page(&r.body.page)?;
        let found = self
            .0
            .list_delegations(&call(&r), r.body.from.as_ref(), r.body.to.as_ref(), r.body.expiring_before, &p)
            .await?;
        Ok(Response::new(pb::ListDelegationsResponse {
            delegations: found.items.iter().map(Into::into).collect(),
            next_page_token: next_token(found.next_after.as_deref()),
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "DeleteDelegation"))]
    async fn delete_delegation(
        &self,
        request: Request<pb::DeleteDelegationRequest>,
    ) -> Result<Response<pb::DeleteDelegationResponse>, Status> {
        let fp = fingerprint("delete_delegation", request.get_ref());
        let r: Called<DelegationId> = authored(request)?;
        once(&self.0, call(&r), fp, async |c| {
            let revision = admitted!(self.0, c, self.0.delete_delegation(&c, &r.body).await)?;
            Ok(pb::DeleteDelegationResponse { revision: revision.token() })
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(rpc = "SetDelegationExpiry"))]
    async fn set_delegation_expiry(
        &self,
        request: Request<pb::SetDelegationExpiryRequest>,
    ) -> Result<Response<pb::SetDelegationExpiryResponse>, Status> {
        let fp = fingerprint("set_delegation_expiry", request.get_ref());
        let r: Called<DelegationExpiry> = authored(request)?;
        once(&self.0, call(&r), fp, async |c| {
            let (d, revision) =
                admitted!(self.0, c, self.0.set_delegation_expiry(&c, &r.body.id, r.body.expires_at).await)?;
            Ok(pb::SetDelegationExpiryResponse { delegation: Some((&d).into()), revision: revision.token() })
        })
        .await
    }
}
