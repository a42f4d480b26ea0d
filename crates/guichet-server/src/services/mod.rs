//! The tonic services: thin handlers that convert, call the application, convert back.

mod access;
mod accounts;
mod delegations;
mod events;
mod later;
mod memberships;
mod resources;
mod roles;
mod users;

use guichet_proto::convert::Invalid;
use guichet_proto::v1;
use tonic::Status;
use tonic::transport::server::Router;

use crate::app::App;
use crate::error::ServerError;
use crate::paging;

/// Every guichet service, by its full name (for the health service).
pub(crate) const SERVICE_NAMES: &[&str] = &[
    v1::access_service_server::SERVICE_NAME,
    v1::account_service_server::SERVICE_NAME,
    v1::user_service_server::SERVICE_NAME,
    v1::role_service_server::SERVICE_NAME,
    v1::membership_service_server::SERVICE_NAME,
    v1::resource_service_server::SERVICE_NAME,
    v1::delegation_service_server::SERVICE_NAME,
    v1::invitation_service_server::SERVICE_NAME,
    v1::approval_service_server::SERVICE_NAME,
    v1::contact_service_server::SERVICE_NAME,
    v1::event_service_server::SERVICE_NAME,
];

/// Validates a request into its domain form.
pub(crate) fn parse<T, R>(request: tonic::Request<R>) -> Result<T, Status>
where
    T: TryFrom<R, Error = Invalid>,
{
    T::try_from(request.into_inner()).map_err(|Invalid(v)| Status::from(ServerError::InvalidArgument(v)))
}

/// The call context of a management request.
pub(crate) fn call<T>(r: &guichet_proto::convert::Authored<T>) -> crate::app::Call {
    crate::app::Call { actor: r.actor.clone(), request_id: r.request_id.clone(), service: None, trace_id: None }
}

/// Validates paging fields.
pub(crate) fn page(p: &guichet_proto::convert::PageParams) -> Result<guichet_store::PageRequest, Status> {
    paging::page_request(p.size, &p.token).map_err(Status::from)
}

/// Adds every guichet service to the router.
pub(crate) fn router(router: Router, app: &App) -> Router {
    router
        .add_service(v1::access_service_server::AccessServiceServer::new(access::Access(app.clone())))
        .add_service(v1::account_service_server::AccountServiceServer::new(accounts::Accounts(app.clone())))
        .add_service(v1::user_service_server::UserServiceServer::new(users::Users(app.clone())))
        .add_service(v1::role_service_server::RoleServiceServer::new(roles::Roles(app.clone())))
        .add_service(v1::membership_service_server::MembershipServiceServer::new(memberships::Memberships(app.clone())))
        .add_service(v1::resource_service_server::ResourceServiceServer::new(resources::Resources(app.clone())))
        .add_service(v1::delegation_service_server::DelegationServiceServer::new(delegations::Delegations(app.clone())))
        .add_service(v1::invitation_service_server::InvitationServiceServer::new(later::Invitations))
        .add_service(v1::approval_service_server::ApprovalServiceServer::new(later::Approvals))
        .add_service(v1::contact_service_server::ContactServiceServer::new(later::Contacts))
        .add_service(v1::event_service_server::EventServiceServer::new(events::Events(app.clone())))
}
