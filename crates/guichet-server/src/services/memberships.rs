//! `guichet.v1.MembershipService`.

use guichet_domain::{MembershipId, MembershipStatus, NewMembership};
use guichet_proto::convert::{
    ListMemberships, MembershipExpiry, MembershipRestriction, MembershipRole, MembershipRoles,
};
use guichet_proto::v1 as pb;
use guichet_store::MembershipFilter;
use tonic::{Request, Response, Status};

use super::{Called, admitted, authored, call, fingerprint, once, page};
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
        let fp = fingerprint("create_membership", request.get_ref());
        let r: Called<NewMembership> = authored(request)?;
        once(&self.0, call(&r), fp, async |c| {
            let (m, revision) = admitted!(self.0, c, self.0.create_membership(&c, &r.body).await)?;
            Ok(pb::CreateMembershipResponse { membership: Some((&m).into()), revision: revision.token() })
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(rpc = "GetMembership"))]
    async fn get_membership(
        &self,
        request: Request<pb::GetMembershipRequest>,
    ) -> Result<Response<pb::GetMembershipResponse>, Status> {
        let r: Called<MembershipId> = authored(request)?;
        let m = self.0.get_membership(&call(&r), &r.body).await?;
        Ok(Response::new(pb::GetMembershipResponse { membership: Some((&m).into()) }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "ListMemberships"))]
    async fn list_memberships(
        &self,
        request: Request<pb::ListMembershipsRequest>,
    ) -> Result<Response<pb::ListMembershipsResponse>, Status> {
        let r: Called<ListMemberships> = authored(request)?;
        let p = page(&r.body.page)?;
        let c = call(&r);
        let filter = MembershipFilter {
            account: r.body.account,
            user: r.body.user,
            status: r.body.status,
            expiring_before: r.body.expiring_before,
        };
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
        let fp = fingerprint("assign_role", request.get_ref());
        let r: Called<MembershipRole> = authored(request)?;
        once(&self.0, call(&r), fp, async |c| {
            let (m, revision) = admitted!(self.0, c, self.0.assign_role(&c, &r.body.id, &r.body.role).await)?;
            Ok(pb::AssignRoleResponse { membership: Some((&m).into()), revision: revision.token() })
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(rpc = "UnassignRole"))]
    async fn unassign_role(
        &self,
        request: Request<pb::UnassignRoleRequest>,
    ) -> Result<Response<pb::UnassignRoleResponse>, Status> {
        let fp = fingerprint("unassign_role", request.get_ref());
        let r: Called<MembershipRole> = authored(request)?;
        once(&self.0, call(&r), fp, async |c| {
            let (m, revision) = admitted!(self.0, c, self.0.unassign_role(&c, &r.body.id, &r.body.role).await)?;
            Ok(pb::UnassignRoleResponse { membership: Some((&m).into()), revision: revision.token() })
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(rpc = "SetMembershipRoles"))]
    async fn set_membership_roles(
        &self,
        request: Request<pb::SetMembershipRolesRequest>,
    ) -> Result<Response<pb::SetMembershipRolesResponse>, Status> {
        let fp = fingerprint("set_membership_roles", request.get_ref());
        let r: Called<MembershipRoles> = authored(request)?;
        once(&self.0, call(&r), fp, async |c| {
            let (m, revision) = admitted!(self.0, c, self.0.set_membership_roles(&c, &r.body.id, &r.body.roles).await)?;
            Ok(pb::SetMembershipRolesResponse { membership: Some((&m).into()), revision: revision.token() })
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(rpc = "SetResourceRestriction"))]
    async fn set_resource_restriction(
        &self,
        request: Request<pb::SetResourceRestrictionRequest>,
    ) -> Result<Response<pb::SetResourceRestrictionResponse>, Status> {
        let fp = fingerprint("set_resource_restriction", request.get_ref());
        let r: Called<MembershipRestriction> = authored(request)?;
        once(&self.0, call(&r), fp, async |c| {
            let (m, revision) = admitted!(
                self.0,
                c,
                self.0.set_resource_restriction(&c, &r.body.id, r.body.restriction.as_ref()).await
            )?;
            Ok(pb::SetResourceRestrictionResponse { membership: Some((&m).into()), revision: revision.token() })
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(rpc = "SuspendMembership"))]
    async fn suspend_membership(
        &self,
        request: Request<pb::SuspendMembershipRequest>,
    ) -> Result<Response<pb::SuspendMembershipResponse>, Status> {
        let fp = fingerprint("suspend_membership", request.get_ref());
        let r: Called<MembershipId> = authored(request)?;
        once(&self.0, call(&r), fp, async |c| {
            let (m, revision) =
                admitted!(self.0, c, self.0.set_membership_status(&c, &r.body, MembershipStatus::Suspended).await)?;
            Ok(pb::SuspendMembershipResponse { membership: Some((&m).into()), revision: revision.token() })
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(rpc = "ReactivateMembership"))]
    async fn reactivate_membership(
        &self,
        request: Request<pb::ReactivateMembershipRequest>,
    ) -> Result<Response<pb::ReactivateMembershipResponse>, Status> {
        let fp = fingerprint("reactivate_membership", request.get_ref());
        let r: Called<MembershipId> = authored(request)?;
        once(&self.0, call(&r), fp, async |c| {
            let (m, revision) =
                admitted!(self.0, c, self.0.set_membership_status(&c, &r.body, MembershipStatus::Active).await)?;
            Ok(pb::ReactivateMembershipResponse { membership: Some((&m).into()), revision: revision.token() })
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(rpc = "DeleteMembership"))]
    async fn delete_membership(
        &self,
        request: Request<pb::DeleteMembershipRequest>,
    ) -> Result<Response<pb::DeleteMembershipResponse>, Status> {
        let fp = fingerprint("delete_membership", request.get_ref());
        let r: Called<MembershipId> = authored(request)?;
        once(&self.0, call(&r), fp, async |c| {
            let revision = admitted!(self.0, c, self.0.delete_membership(&c, &r.body).await)?;
            Ok(pb::DeleteMembershipResponse { revision: revision.token() })
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(rpc = "SetMembershipExpiry"))]
    async fn set_membership_expiry(
        &self,
        request: Request<pb::SetMembershipExpiryRequest>,
    ) -> Result<Response<pb::SetMembershipExpiryResponse>, Status> {
        let fp = fingerprint("set_membership_expiry", request.get_ref());
        let r: Called<MembershipExpiry> = authored(request)?;
        once(&self.0, call(&r), fp, async |c| {
            let (m, revision) =
                admitted!(self.0, c, self.0.set_membership_expiry(&c, &r.body.id, r.body.expires_at).await)?;
            Ok(pb::SetMembershipExpiryResponse { membership: Some((&m).into()), revision: revision.token() })
        })
        .await
    }
}
