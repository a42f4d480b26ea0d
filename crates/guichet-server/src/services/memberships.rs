//! `guichet.v1.MembershipService`.

use guichet_domain::{MembershipId, MembershipStatus, NewMembership};
use guichet_proto::convert::{Authored, ListMemberships, MembershipRestriction, MembershipRole, MembershipRoles};
use guichet_proto::v1 as pb;
use guichet_store::MembershipFilter;
use tonic::{Request, Response, Status};

use super::{call, page, parse};
use crate::app::App;
use crate::paging::next_token;

#[derive(Debug)]
pub(crate) struct Memberships(pub(crate) App);

#[tonic::async_trait]
impl pb::membership_service_server::MembershipService for Memberships {
    #[tracing::instrument(skip_all, fields(rpc = "CreateMembership"))]
    async fn create_membership(
        &self,
        request: Request<pb::CreateMembershipRequest>,
    ) -> Result<Response<pb::CreateMembershipResponse>, Status> {
        let r: Authored<NewMembership> = parse(request)?;
        let (m, revision) = self.0.create_membership(&call(&r), &r.body).await?;
        Ok(Response::new(pb::CreateMembershipResponse { membership: Some((&m).into()), revision: revision.token() }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "GetMembership"))]
    async fn get_membership(
        &self,
        request: Request<pb::GetMembershipRequest>,
    ) -> Result<Response<pb::GetMembershipResponse>, Status> {
        let r: Authored<MembershipId> = parse(request)?;
        let m = self.0.get_membership(&call(&r), &r.body).await?;
        Ok(Response::new(pb::GetMembershipResponse { membership: Some((&m).into()) }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "ListMemberships"))]
    async fn list_memberships(
        &self,
        request: Request<pb::ListMembershipsRequest>,
    ) -> Result<Response<pb::ListMembershipsResponse>, Status> {
        let r: Authored<ListMemberships> = parse(request)?;
        let p = page(&r.body.page)?;
        let c = call(&r);
        let filter = MembershipFilter { account: r.body.account, user: r.body.user, status: r.body.status };
        let found = self.0.list_memberships(&c, &filter, &p).await?;
        Ok(Response::new(pb::ListMembershipsResponse {
            memberships: found.items.iter().map(Into::into).collect(),
            next_page_token: next_token(found.next_after.as_deref()),
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "AssignRole"))]
    async fn assign_role(
        &self,
        request: Request<pb::AssignRoleRequest>,
    ) -> Result<Response<pb::AssignRoleResponse>, Status> {
        let r: Authored<MembershipRole> = parse(request)?;
        let (m, revision) = self.0.assign_role(&call(&r), &r.body.id, &r.body.role).await?;
        Ok(Response::new(pb::AssignRoleResponse { membership: Some((&m).into()), revision: revision.token() }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "UnassignRole"))]
    async fn unassign_role(
        &self,
        request: Request<pb::UnassignRoleRequest>,
    ) -> Result<Response<pb::UnassignRoleResponse>, Status> {
        let r: Authored<MembershipRole> = parse(request)?;
        let (m, revision) = self.0.unassign_role(&call(&r), &r.body.id, &r.body.role).await?;
        Ok(Response::new(pb::UnassignRoleResponse { membership: Some((&m).into()), revision: revision.token() }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "SetMembershipRoles"))]
    async fn set_membership_roles(
        &self,
        request: Request<pb::SetMembershipRolesRequest>,
    ) -> Result<Response<pb::SetMembershipRolesResponse>, Status> {
        let r: Authored<MembershipRoles> = parse(request)?;
        let (m, revision) = self.0.set_membership_roles(&call(&r), &r.body.id, &r.body.roles).await?;
        Ok(Response::new(pb::SetMembershipRolesResponse { membership: Some((&m).into()), revision: revision.token() }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "SetResourceRestriction"))]
    async fn set_resource_restriction(
        &self,
        request: Request<pb::SetResourceRestrictionRequest>,
    ) -> Result<Response<pb::SetResourceRestrictionResponse>, Status> {
        let r: Authored<MembershipRestriction> = parse(request)?;
        let (m, revision) = self.0.set_resource_restriction(&call(&r), &r.body.id, r.body.restriction.as_ref()).await?;
        Ok(Response::new(pb::SetResourceRestrictionResponse {
            membership: Some((&m).into()),
            revision: revision.token(),
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "SuspendMembership"))]
    async fn suspend_membership(
        &self,
        request: Request<pb::SuspendMembershipRequest>,
    ) -> Result<Response<pb::SuspendMembershipResponse>, Status> {
        let r: Authored<MembershipId> = parse(request)?;
        let (m, revision) = self.0.set_membership_status(&call(&r), &r.body, MembershipStatus::Suspended).await?;
        Ok(Response::new(pb::SuspendMembershipResponse { membership: Some((&m).into()), revision: revision.token() }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "ReactivateMembership"))]
    async fn reactivate_membership(
        &self,
        request: Request<pb::ReactivateMembershipRequest>,
    ) -> Result<Response<pb::ReactivateMembershipResponse>, Status> {
        let r: Authored<MembershipId> = parse(request)?;
        let (m, revision) = self.0.set_membership_status(&call(&r), &r.body, MembershipStatus::Active).await?;
        Ok(Response::new(pb::ReactivateMembershipResponse {
            membership: Some((&m).into()),
            revision: revision.token(),
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "DeleteMembership"))]
    async fn delete_membership(
        &self,
        request: Request<pb::DeleteMembershipRequest>,
    ) -> Result<Response<pb::DeleteMembershipResponse>, Status> {
        let r: Authored<MembershipId> = parse(request)?;
        let revision = self.0.delete_membership(&call(&r), &r.body).await?;
        Ok(Response::new(pb::DeleteMembershipResponse { revision: revision.token() }))
    }
}
