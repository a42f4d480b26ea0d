//! `guichet.v1.MembershipService`.

use guichet_domain::{MembershipId, MembershipStatus, NewMembership};
use guichet_proto::convert::{
    ListMemberships, MembershipExpiry, MembershipRestriction, MembershipRole, MembershipRoles,
};
use guichet_proto::v1 as pb;
use guichet_store::MembershipFilter;

use super::{admitted, handlers, page};
use crate::app::App;
use crate::paging::next_token;

#[derive(Debug)]
pub(crate) struct Memberships(pub(crate) App);

handlers! {
    impl pb::membership_service_server::MembershipService for Memberships {
        write "CreateMembership" fn create_membership(pb::CreateMembershipRequest) -> pb::CreateMembershipResponse
            |app, c, r: NewMembership| {
            let (m, revision) = admitted!(app, c, app.create_membership(&c, &r.body).await)?;
            pb::CreateMembershipResponse { membership: Some((&m).into()), revision: revision.token() }
        }

        read "GetMembership" fn get_membership(pb::GetMembershipRequest) -> pb::GetMembershipResponse
            |app, c, r: MembershipId| {
            let m = app.get_membership(&c, &r.body).await?;
            pb::GetMembershipResponse { membership: Some((&m).into()) }
        }

        read "ListMemberships" fn list_memberships(pb::ListMembershipsRequest) -> pb::ListMembershipsResponse
            |app, c, r: ListMemberships| {
            let p = page(&r.body.page)?;
            let filter = MembershipFilter {
                account: r.body.account,
                user: r.body.user,
                status: r.body.status,
                expiring_before: r.body.expiring_before,
            };
            let found = app.list_memberships(&c, &filter, &p).await?;
            pb::ListMembershipsResponse {
                memberships: found.items.iter().map(Into::into).collect(),
                next_page_token: next_token(found.next_after.as_deref()),
            }
        }

        write "AssignRole" fn assign_role(pb::AssignRoleRequest) -> pb::AssignRoleResponse |app, c, r: MembershipRole| {
            let (m, revision) = admitted!(app, c, app.assign_role(&c, &r.body.id, &r.body.role).await)?;
            pb::AssignRoleResponse { membership: Some((&m).into()), revision: revision.token() }
        }

        write "UnassignRole" fn unassign_role(pb::UnassignRoleRequest) -> pb::UnassignRoleResponse
            |app, c, r: MembershipRole| {
            let (m, revision) = admitted!(app, c, app.unassign_role(&c, &r.body.id, &r.body.role).await)?;
            pb::UnassignRoleResponse { membership: Some((&m).into()), revision: revision.token() }
        }

        write "SetMembershipRoles" fn set_membership_roles(pb::SetMembershipRolesRequest)
            -> pb::SetMembershipRolesResponse |app, c, r: MembershipRoles| {
            let (m, revision) = admitted!(app, c, app.set_membership_roles(&c, &r.body.id, &r.body.roles).await)?;
            pb::SetMembershipRolesResponse { membership: Some((&m).into()), revision: revision.token() }
        }

        write "SetResourceRestriction" fn set_resource_restriction(pb::SetResourceRestrictionRequest)
            -> pb::SetResourceRestrictionResponse |app, c, r: MembershipRestriction| {
            let (m, revision) = admitted!(
                app,
                c,
                app.set_resource_restriction(&c, &r.body.id, r.body.restriction.as_ref()).await
            )?;
            pb::SetResourceRestrictionResponse { membership: Some((&m).into()), revision: revision.token() }
        }

        write "SuspendMembership" fn suspend_membership(pb::SuspendMembershipRequest) -> pb::SuspendMembershipResponse
            |app, c, r: MembershipId| {
            let (m, revision) =
                admitted!(app, c, app.set_membership_status(&c, &r.body, MembershipStatus::Suspended).await)?;
            pb::SuspendMembershipResponse { membership: Some((&m).into()), revision: revision.token() }
        }

        write "ReactivateMembership" fn reactivate_membership(pb::ReactivateMembershipRequest)
            -> pb::ReactivateMembershipResponse |app, c, r: MembershipId| {
            let (m, revision) =
                admitted!(app, c, app.set_membership_status(&c, &r.body, MembershipStatus::Active).await)?;
            pb::ReactivateMembershipResponse { membership: Some((&m).into()), revision: revision.token() }
        }

        write "DeleteMembership" fn delete_membership(pb::DeleteMembershipRequest) -> pb::DeleteMembershipResponse
            |app, c, r: MembershipId| {
            let revision = admitted!(app, c, app.delete_membership(&c, &r.body).await)?;
            pb::DeleteMembershipResponse { revision: revision.token() }
        }

        write "SetMembershipExpiry" fn set_membership_expiry(pb::SetMembershipExpiryRequest)
            -> pb::SetMembershipExpiryResponse |app, c, r: MembershipExpiry| {
            let (m, revision) =
                admitted!(app, c, app.set_membership_expiry(&c, &r.body.id, r.body.expires_at).await)?;
            pb::SetMembershipExpiryResponse { membership: Some((&m).into()), revision: revision.token() }
        }
    }
}
