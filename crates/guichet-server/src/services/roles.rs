//! `guichet.v1.RoleService`.

use guichet_domain::RoleDefinition;
use guichet_proto::convert::{self, ListRoles, RoleRef};
use guichet_proto::v1 as pb;
use tonic::{Request, Response, Status};

use super::{Called, admitted, authored, call, fingerprint, once, page};
use crate::app::App;
use crate::paging::next_token;

#[derive(Debug)]
pub(crate) struct Roles(pub(crate) App);

#[tonic::async_trait]
impl pb::role_service_server::RoleService for Roles {
    #[tracing::instrument(skip_all, fields(rpc = "ListRoles"))]
    async fn list_roles(
        &self,
        request: Request<pb::ListRolesRequest>,
    ) -> Result<Response<pb::ListRolesResponse>, Status> {
        let r: Called<ListRoles> = authored(request)?;
        let p = page(&r.body.page)?;
        let roles = self.0.list_roles(&call(&r), &r.body.account).await?;
        // Built-in roles first, then custom ones: the sort key is (builtin?, name).
        let key = |role: &guichet_domain::AccountRole| format!("{}:{}", u8::from(!role.role.builtin), role.role.name);
        let mut rest: Vec<_> = roles.into_iter().filter(|x| p.after.as_ref().is_none_or(|a| key(x) > *a)).collect();
        rest.sort_by_key(|x| key(x));
        let limit = usize::try_from(p.limit).unwrap_or(usize::MAX);
        let next = (rest.len() > limit).then(|| rest.get(limit - 1).map(key)).flatten();
        rest.truncate(limit);
        Ok(Response::new(pb::ListRolesResponse {
            roles: rest.iter().map(Into::into).collect(),
            next_page_token: next_token(next.as_deref()),
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "GetRole"))]
    async fn get_role(&self, request: Request<pb::GetRoleRequest>) -> Result<Response<pb::GetRoleResponse>, Status> {
        let r: Called<RoleRef> = authored(request)?;
        let role = self.0.get_role(&call(&r), &r.body.account, &r.body.name).await?;
        Ok(Response::new(pb::GetRoleResponse { role: Some((&role).into()) }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "CreateRole"))]
    async fn create_role(
        &self,
        request: Request<pb::CreateRoleRequest>,
    ) -> Result<Response<pb::CreateRoleResponse>, Status> {
        let fp = fingerprint("create_role", request.get_ref());
        let r: Called<RoleDefinition> = authored(request)?;
        once(&self.0, call(&r), fp, async |c| {
            let (role, revision) = admitted!(self.0, c, self.0.create_role(&c, &r.body).await)?;
            Ok(pb::CreateRoleResponse { role: Some((&role).into()), revision: revision.token() })
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(rpc = "UpdateRole"))]
    async fn update_role(
        &self,
        request: Request<pb::UpdateRoleRequest>,
    ) -> Result<Response<pb::UpdateRoleResponse>, Status> {
        let fp = fingerprint("update_role", request.get_ref());
        let r: Called<RoleDefinition> = authored(request)?;
        once(&self.0, call(&r), fp, async |c| {
            let (role, revision) = admitted!(self.0, c, self.0.update_role(&c, &r.body).await)?;
            Ok(pb::UpdateRoleResponse { role: Some((&role).into()), revision: revision.token() })
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(rpc = "DeleteRole"))]
    async fn delete_role(
        &self,
        request: Request<pb::DeleteRoleRequest>,
    ) -> Result<Response<pb::DeleteRoleResponse>, Status> {
        let fp = fingerprint("delete_role", request.get_ref());
        let r: Called<RoleRef> = authored(request)?;
        once(&self.0, call(&r), fp, async |c| {
            let revision = admitted!(self.0, c, self.0.delete_role(&c, &r.body.account, &r.body.name).await)?;
            Ok(pb::DeleteRoleResponse { revision: revision.token() })
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(rpc = "ListCatalog"))]
    async fn list_catalog(
        &self,
        _request: Request<pb::ListCatalogRequest>,
    ) -> Result<Response<pb::ListCatalogResponse>, Status> {
        Ok(Response::new(convert::catalog_response(self.0.catalog())))
    }
}
