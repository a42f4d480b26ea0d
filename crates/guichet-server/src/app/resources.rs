//! Resources: the objects of an account a membership may be restricted to.

use guichet_domain::{AccountId, FeatureName, NewResource, Operation, Resource, ResourceId, Revision};
use guichet_store::{Page, PageRequest};

use super::{App, Call, Hidden};
use crate::error::ServerError;

impl App {
    /// Creates a resource.
    pub async fn create_resource(&self, call: &Call, cmd: &NewResource) -> Result<(Resource, Revision), ServerError> {
        self.admit(call, &Operation::ManageResources(cmd.account.clone())).await?;
        Ok(self.store.create_resource(cmd, &self.audit(call)).await?)
    }

    /// One resource.
    pub async fn get_resource(&self, call: &Call, id: &ResourceId) -> Result<Resource, ServerError> {
        let r = self.store.get_resource(id).await?;
        let op = Operation::ViewResources(r.account.clone());
        self.admit_object(call, &op, Hidden { entity: "resource", id: id.as_str() }).await?;
        Ok(r)
    }

    /// Resources of an account.
    pub async fn list_resources(
        &self,
        call: &Call,
        account: &AccountId,
        kind: Option<&FeatureName>,
        page: &PageRequest,
    ) -> Result<Page<Resource>, ServerError> {
        self.admit(call, &Operation::ViewResources(account.clone())).await?;
        Ok(self.store.list_resources(account, kind, page).await?)
    }

    /// Deletes a resource.
    pub async fn delete_resource(&self, call: &Call, id: &ResourceId) -> Result<Revision, ServerError> {
        let r = self.store.get_resource(id).await?;
        let op = Operation::ManageResources(r.account.clone());
        self.admit_object(call, &op, Hidden { entity: "resource", id: id.as_str() }).await?;
        Ok(self.store.delete_resource(id, &self.audit(call)).await?)
    }
}
