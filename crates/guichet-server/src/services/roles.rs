//! `guichet.v1.RoleService`.

use guichet_domain::RoleDefinition;
use guichet_proto::convert::{self, ListRoles, RoleRef};
use guichet_proto::v1 as pb;
use tonic::{Request, Response, Status};

use super::{admitted, handlers, page};
use crate::app::App;
use crate::paging::next_token;

#[derive(Debug)]
pub(crate) struct Roles(pub(crate) App);

handlers! {
    impl pb::role_service_server::RoleService for Roles {
        read "ListRoles" fn list_roles(pb::ListRolesRequest) -> pb::ListRolesResponse |app, c, r: ListRoles| {
            let p = page(&r.body.page)?;
            let roles = app.list_roles(&c, &r.body.account).await?;
            // Built-in roles first, then custom ones: the sort key is (builtin?, name).
            let key =
                |role: &guichet_domain::AccountRole| format!("{}:{}", u8::from(!role.role.builtin), role.role.name);
            let mut rest: Vec<_> = roles.into_iter().filter(|x| p.after.as_ref().is_none_or(|a| key(x) > *a)).collect();
            rest.sort_by_key(|x| key(x));
            let limit = usize::try_from(p.limit).unwrap_or(usize::MAX);
            let next = (rest.len() > limit).then(|| rest.get(limit - 1).map(key)).flatten();
            rest.truncate(limit);
            pb::ListRolesResponse {
                roles: rest.iter().map(Into::into).collect(),
                next_page_token: next_token(next.as_deref()),
            }
        }

        read "GetRole" fn get_role(pb::GetRoleRequest) -> pb::GetRoleResponse { role }
            |app, c, r: RoleRef| app.get_role(&c, &r.body.account, &r.body.name).await;

        write "CreateRole" fn create_role(pb::CreateRoleRequest) -> pb::CreateRoleResponse { role }
            |app, c, r: RoleDefinition| admitted!(app, c, app.create_role(&c, &r.body).await);

        write "UpdateRole" fn update_role(pb::UpdateRoleRequest) -> pb::UpdateRoleResponse { role }
            |app, c, r: RoleDefinition| admitted!(app, c, app.update_role(&c, &r.body).await);

        write "DeleteRole" fn delete_role(pb::DeleteRoleRequest) -> pb::DeleteRoleResponse {}
            |app, c, r: RoleRef| admitted!(app, c, app.delete_role(&c, &r.body.account, &r.body.name).await);

        #[tracing::instrument(skip_all, fields(rpc = "ListCatalog"))]
        async fn list_catalog(
            &self,
            _request: Request<pb::ListCatalogRequest>,
        ) -> Result<Response<pb::ListCatalogResponse>, Status> {
            Ok(Response::new(convert::catalog_response(self.0.catalog())))
        }
    }
}
