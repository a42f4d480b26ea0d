//! `guichet.v1.ResourceService`.

use guichet_domain::{NewResource, ResourceId};
use guichet_proto::convert::ListResources;
use guichet_proto::v1 as pb;
use tonic::{Request, Response, Status};

use super::{Called, admitted, authored, call, fingerprint, once, page};
use crate::app::App;
use crate::paging::next_token;

#[derive(Debug)]
pub(crate) struct Resources(pub(crate) App);

#[tonic::async_trait]
impl pb::resource_service_server::ResourceService for Resources {
    #[tracing::instrument(skip_all, fields(rpc = "CreateResource"))]
    async fn create_resource(
        &self,
        request: Request<pb::CreateResourceRequest>,
    ) -> Result<Response<pb::CreateResourceResponse>, Status> {
        let fp = fingerprint("create_resource", request.get_ref());
        let r: Called<NewResource> = authored(request)?;
        once(&self.0, call(&r), fp, async |c| {
            let (res, revision) = admitted!(self.0, c, self.0.create_resource(&c, &r.body).await)?;
            Ok(pb::CreateResourceResponse { resource: Some((&res).into()), revision: revision.token() })
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(rpc = "GetResource"))]
    async fn get_resource(
        &self,
        request: Request<pb::GetResourceRequest>,
    ) -> Result<Response<pb::GetResourceResponse>, Status> {
        let r: Called<ResourceId> = authored(request)?;
        let res = self.0.get_resource(&call(&r), &r.body).await?;
        Ok(Response::new(pb::GetResourceResponse { resource: Some((&res).into()) }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "ListResources"))]
    async fn list_resources(
        &self,
        request: Request<pb::ListResourcesRequest>,
    ) -> Result<Response<pb::ListResourcesResponse>, Status> {
        let r: Called<ListResources> = authored(request)?;
        let p = page(&r.body.page)?;
        let found = self.0.list_resources(&call(&r), &r.body.account, r.body.kind.as_ref(), &p).await?;
        Ok(Response::new(pb::ListResourcesResponse {
            resources: found.items.iter().map(Into::into).collect(),
            next_page_token: next_token(found.next_after.as_deref()),
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "DeleteResource"))]
    async fn delete_resource(
        &self,
        request: Request<pb::DeleteResourceRequest>,
    ) -> Result<Response<pb::DeleteResourceResponse>, Status> {
        let fp = fingerprint("delete_resource", request.get_ref());
        let r: Called<ResourceId> = authored(request)?;
        once(&self.0, call(&r), fp, async |c| {
            let revision = admitted!(self.0, c, self.0.delete_resource(&c, &r.body).await)?;
            Ok(pb::DeleteResourceResponse { revision: revision.token() })
        })
        .await
    }
}
