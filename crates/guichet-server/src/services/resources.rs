//! `guichet.v1.ResourceService`.

use guichet_domain::{NewResource, ResourceId};
use guichet_proto::convert::ListResources;
use guichet_proto::v1 as pb;

use super::{admitted, handlers, page};
use crate::app::App;
use crate::paging::next_token;

#[derive(Debug)]
pub(crate) struct Resources(pub(crate) App);

handlers! {
    impl pb::resource_service_server::ResourceService for Resources {
        write "CreateResource" fn create_resource(pb::CreateResourceRequest) -> pb::CreateResourceResponse
            |app, c, r: NewResource| {
            let (res, revision) = admitted!(app, c, app.create_resource(&c, &r.body).await)?;
            pb::CreateResourceResponse { resource: Some((&res).into()), revision: revision.token() }
        }

        read "GetResource" fn get_resource(pb::GetResourceRequest) -> pb::GetResourceResponse |app, c, r: ResourceId| {
            let res = app.get_resource(&c, &r.body).await?;
            pb::GetResourceResponse { resource: Some((&res).into()) }
        }

        read "ListResources" fn list_resources(pb::ListResourcesRequest) -> pb::ListResourcesResponse
            |app, c, r: ListResources| {
            let p = page(&r.body.page)?;
            let found = app.list_resources(&c, &r.body.account, r.body.kind.as_ref(), &p).await?;
            pb::ListResourcesResponse {
                resources: found.items.iter().map(Into::into).collect(),
                next_page_token: next_token(found.next_after.as_deref()),
            }
        }

        write "DeleteResource" fn delete_resource(pb::DeleteResourceRequest) -> pb::DeleteResourceResponse
            |app, c, r: ResourceId| {
            let revision = admitted!(app, c, app.delete_resource(&c, &r.body).await)?;
            pb::DeleteResourceResponse { revision: revision.token() }
        }
    }
}
