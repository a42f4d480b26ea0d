//! Services declared by the v1 API whose RPCs are not implemented yet: each answers UNIMPLEMENTED
//! naming the RPC, so nothing pretends to work.

use guichet_proto::v1 as pb;
use tonic::{Request, Response, Status};

use crate::error::ServerError;

fn todo_rpc<T>(name: &'static str) -> Result<Response<T>, Status> {
    Err(ServerError::Unimplemented(name).into())
}

#[derive(Debug)]
pub(crate) struct Invitations;
#[derive(Debug)]
pub(crate) struct Approvals;
#[derive(Debug)]
pub(crate) struct Contacts;

#[tonic::async_trait]
impl pb::invitation_service_server::InvitationService for Invitations {
    async fn create_invitation(
        &self,
        _r: Request<pb::CreateInvitationRequest>,
    ) -> Result<Response<pb::CreateInvitationResponse>, Status> {
        todo_rpc("guichet.v1.InvitationService/CreateInvitation")
    }
    async fn get_invitation(
        &self,
        _r: Request<pb::GetInvitationRequest>,
    ) -> Result<Response<pb::GetInvitationResponse>, Status> {
        todo_rpc("guichet.v1.InvitationService/GetInvitation")
    }
    async fn list_invitations(
        &self,
        _r: Request<pb::ListInvitationsRequest>,
    ) -> Result<Response<pb::ListInvitationsResponse>, Status> {
        todo_rpc("guichet.v1.InvitationService/ListInvitations")
    }
    async fn resend_invitation(
        &self,
        _r: Request<pb::ResendInvitationRequest>,
    ) -> Result<Response<pb::ResendInvitationResponse>, Status> {
        todo_rpc("guichet.v1.InvitationService/ResendInvitation")
    }
    async fn revoke_invitation(
        &self,
        _r: Request<pb::RevokeInvitationRequest>,
    ) -> Result<Response<pb::RevokeInvitationResponse>, Status> {
        todo_rpc("guichet.v1.InvitationService/RevokeInvitation")
    }
    async fn accept_invitation(
        &self,
        _r: Request<pb::AcceptInvitationRequest>,
    ) -> Result<Response<pb::AcceptInvitationResponse>, Status> {
        todo_rpc("guichet.v1.InvitationService/AcceptInvitation")
    }
}

#[tonic::async_trait]
impl pb::approval_service_server::ApprovalService for Approvals {
    async fn list_pending_approvals(
        &self,
        _r: Request<pb::ListPendingApprovalsRequest>,
    ) -> Result<Response<pb::ListPendingApprovalsResponse>, Status> {
        todo_rpc("guichet.v1.ApprovalService/ListPendingApprovals")
    }
    async fn approve_membership(
        &self,
        _r: Request<pb::ApproveMembershipRequest>,
    ) -> Result<Response<pb::ApproveMembershipResponse>, Status> {
        todo_rpc("guichet.v1.ApprovalService/ApproveMembership")
    }
    async fn reject_membership(
        &self,
        _r: Request<pb::RejectMembershipRequest>,
    ) -> Result<Response<pb::RejectMembershipResponse>, Status> {
        todo_rpc("guichet.v1.ApprovalService/RejectMembership")
    }
}

#[tonic::async_trait]
impl pb::contact_service_server::ContactService for Contacts {
    async fn create_contact(
        &self,
        _r: Request<pb::CreateContactRequest>,
    ) -> Result<Response<pb::CreateContactResponse>, Status> {
        todo_rpc("guichet.v1.ContactService/CreateContact")
    }
    async fn get_contact(
        &self,
        _r: Request<pb::GetContactRequest>,
    ) -> Result<Response<pb::GetContactResponse>, Status> {
        todo_rpc("guichet.v1.ContactService/GetContact")
    }
    async fn list_contacts(
        &self,
        _r: Request<pb::ListContactsRequest>,
    ) -> Result<Response<pb::ListContactsResponse>, Status> {
        todo_rpc("guichet.v1.ContactService/ListContacts")
    }
    async fn update_contact(
        &self,
        _r: Request<pb::UpdateContactRequest>,
    ) -> Result<Response<pb::UpdateContactResponse>, Status> {
        todo_rpc("guichet.v1.ContactService/UpdateContact")
    }
    async fn delete_contact(
        &self,
        _r: Request<pb::DeleteContactRequest>,
    ) -> Result<Response<pb::DeleteContactResponse>, Status> {
        todo_rpc("guichet.v1.ContactService/DeleteContact")
    }
    async fn get_communication_order(
        &self,
        _r: Request<pb::GetCommunicationOrderRequest>,
    ) -> Result<Response<pb::GetCommunicationOrderResponse>, Status> {
        todo_rpc("guichet.v1.ContactService/GetCommunicationOrder")
    }
    async fn set_communication_order(
        &self,
        _r: Request<pb::SetCommunicationOrderRequest>,
    ) -> Result<Response<pb::SetCommunicationOrderResponse>, Status> {
        todo_rpc("guichet.v1.ContactService/SetCommunicationOrder")
    }
}
