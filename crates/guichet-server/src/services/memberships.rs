//! `guichet.v1.MembershipService`.

use guichet_domain::{MembershipId, MembershipStatus, NewMembership};
use guichet_proto::convert::{
    ListMemberships, MembershipExpiry, MembershipRestriction, MembershipRole, MembershipRoles,
};
use guichet_proto::v1 as pb;
use guichet_store::MembershipFilter;

use super::{admitted, handlers};
use crate::app::App;

#[derive(Debug)]
pub(crate) struct Memberships(pub(crate) App);

handlers! {
    impl pb::membership_service_server::MembershipService for Memberships {
        write "CreateMembership" fn create_membership(pb::CreateMembershipRequest)
            -> pb::CreateMembershipResponse { membership }
            |app, c, r: NewMembership| admitted!(app, c, app.create_membership(&c, &r.body).await);

        read "GetMembership" fn get_membership(pb::GetMembershipRequest) -> pb::GetMembershipResponse { membership }
            |app, c, r: MembershipId| app.get_membership(&c, &r.body).await;

        read "ListMemberships" fn list_memberships(pb::ListMembershipsRequest)
            -> pb::ListMembershipsResponse { memberships, next_page_token }
            |app, c, r: ListMemberships, p| {
                let filter = MembershipFilter {
                    account: r.body.account,
                    user: r.body.user,
                    status: r.body.status,
                    expiring_before: r.body.expiring_before,
                };
                app.list_memberships(&c, &filter, &p).await
            };

        write "AssignRole" fn assign_role(pb::AssignRoleRequest) -> pb::AssignRoleResponse { membership }
            |app, c, r: MembershipRole| admitted!(app, c, app.assign_role(&c, &r.body.id, &r.body.role).await);

        write "UnassignRole" fn unassign_role(pb::UnassignRoleRequest) -> pb::UnassignRoleResponse { membership }
            |app, c, r: MembershipRole| admitted!(app, c, app.unassign_role(&c, &r.body.id, &r.body.role).await);

        write "SetMembershipRoles" fn set_membership_roles(pb::SetMembershipRolesRequest)
            -> pb::SetMembershipRolesResponse { membership }
            |app, c, r: MembershipRoles|
                admitted!(app, c, app.set_membership_roles(&c, &r.body.id, &r.body.roles).await);

        write "SetResourceRestriction" fn set_resource_restriction(pb::SetResourceRestrictionRequest)
            -> pb::SetResourceRestrictionResponse { membership }
            |app, c, r: MembershipRestriction|
                admitted!(app, c, app.set_resource_restriction(&c, &r.body.id, r.body.restriction.as_ref()).await);

        write "SuspendMembership" fn suspend_membership(pb::SuspendMembershipRequest)
            -> pb::SuspendMembershipResponse { membership }
            |app, c, r: MembershipId|
                admitted!(app, c, app.set_membership_status(&c, &r.body, MembershipStatus::Suspended).await);

        write "ReactivateMembership" fn reactivate_membership(pb::ReactivateMembershipRequest)
            -> pb::ReactivateMembershipResponse { membership }
            |app, c, r: MembershipId|
                admitted!(app, c, app.set_membership_status(&c, &r.body, MembershipStatus::Active).await);

        write "DeleteMembership" fn delete_membership(pb::DeleteMembershipRequest) -> pb::DeleteMembershipResponse {}
            |app, c, r: MembershipId| admitted!(app, c, app.delete_membership(&c, &r.body).await);

        write "SetMembershipExpiry" fn set_membership_expiry(pb::SetMembershipExpiryRequest)
            -> pb::SetMembershipExpiryResponse { membership }
            |app, c, r: MembershipExpiry|
                admitted!(app, c, app.set_membership_expiry(&c, &r.body.id, r.body.expires_at).await);
    }
}
