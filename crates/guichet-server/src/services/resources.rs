//! `guichet.v1.ResourceService`.

use guichet_domain::{NewResource, ResourceId};
use guichet_proto::convert::ListResources;
use guichet_proto::v1 as pb;

use super::{admitted, handlers};
use crate::app::App;

#[derive(Debug)]
pub(crate) struct Resources(pub(crate) App);

handlers! {
    impl pb::resource_service_server::ResourceService for Resources {
        write "CreateResource" fn create_resource(pb::CreateResourceRequest) -> pb::CreateResourceResponse { resource }
            |app, c, r: NewResource| admitted!(app, c, app.create_resource(&c, &r.body).await);

        read "GetResource" fn get_resource(pb::GetResourceRequest) -> pb::GetResourceResponse { resource }
            |app, c, r: ResourceId| app.get_resource(&c, &r.body).await;

        read "ListResources" fn list_resources(pb::ListResourcesRequest)
            -> pb::ListResourcesResponse { resources, next_page_token }
            |app, c, r: ListResources, p| app.list_resources(&c, &r.body.account, r.body.kind.as_ref(), &p).await;

        write "DeleteResource" fn delete_resource(pb::DeleteResourceRequest) -> pb::DeleteResourceResponse {}
            |app, c, r: ResourceId| admitted!(app, c, app.delete_resource(&c, &r.body).await);
    }
}
