//! `guichet.v1.InvitationService`.

use guichet_domain::{InvitationId, NewInvitation};
use guichet_proto::convert::{AcceptInvitation, ListInvitations, RevokeInvitation};
use guichet_proto::v1 as pb;
use guichet_store::{AcceptProfile, InvitationFilter};
use tonic::{Request, Response, Status};

use super::{Called, admitted, authored, call, fingerprint, once, page};
use crate::app::App;
use crate::paging::next_token;

#[derive(Debug)]
pub(crate) struct Invitations(pub(crate) App);

#[tonic::async_trait]
impl pb::invitation_service_server::InvitationService for Invitations {
    #[tracing::instrument(skip_all, fields(rpc = "CreateInvitation"))]
    async fn create_invitation(
        &self,
        request: Request<pb::CreateInvitationRequest>,
    ) -> Result<Response<pb::CreateInvitationResponse>, Status> {
        let fp = fingerprint("create_invitation", request.get_ref());
        let r: Called<NewInvitation> = authored(request)?;
        // The token is returned by the first call only; a replay of the request_id gets it empty
        // (the stored response never holds it).
        let mut token = None;
        let mut response = once(&self.0, call(&r), fp, async |c| {
            let (created, t, revision) = admitted!(self.0, c, self.0.create_invitation(&c, &r.body).await)?;
            token = Some(t);
            Ok(pb::CreateInvitationResponse {
                invitation: Some((&created.invitation).into()),
                token: String::new(),
                revision: revision.token(),
                email_flagged: created.email_flag.is_some(),
                email_flag_reason: created.email_flag.unwrap_or_default(),
            })
        })
        .await?;
        if let Some(t) = token {
            response.get_mut().token = t.expose().to_owned();
        }
        Ok(response)
    }

    #[tracing::instrument(skip_all, fields(rpc = "GetInvitation"))]
    async fn get_invitation(
        &self,
        request: Request<pb::GetInvitationRequest>,
    ) -> Result<Response<pb::GetInvitationResponse>, Status> {
        let r: Called<InvitationId> = authored(request)?;
        let inv = self.0.get_invitation(&call(&r), &r.body).await?;
        Ok(Response::new(pb::GetInvitationResponse { invitation: Some((&inv).into()) }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "ListInvitations"))]
    async fn list_invitations(
        &self,
        request: Request<pb::ListInvitationsRequest>,
    ) -> Result<Response<pb::ListInvitationsResponse>, Status> {
        let r: Called<ListInvitations> = authored(request)?;
        let p = page(&r.body.page)?;
        let filter =
            InvitationFilter { account: r.body.account.clone(), status: r.body.status, email: r.body.email.clone() };
        let found = self.0.list_invitations(&call(&r), &filter, &p).await?;
        Ok(Response::new(pb::ListInvitationsResponse {
            invitations: found.items.iter().map(Into::into).collect(),
            next_page_token: next_token(found.next_after.as_deref()),
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "ResendInvitation"))]
    async fn resend_invitation(
        &self,
        request: Request<pb::ResendInvitationRequest>,
    ) -> Result<Response<pb::ResendInvitationResponse>, Status> {
        let fp = fingerprint("resend_invitation", request.get_ref());
        let r: Called<InvitationId> = authored(request)?;
        let mut token = None;
        let mut response = once(&self.0, call(&r), fp, async |c| {
            let (inv, t, revision) = admitted!(self.0, c, self.0.resend_invitation(&c, &r.body).await)?;
            token = Some(t);
            Ok(pb::ResendInvitationResponse {
                invitation: Some((&inv).into()),
                token: String::new(),
                revision: revision.token(),
            })
        })
        .await?;
        if let Some(t) = token {
            response.get_mut().token = t.expose().to_owned();
        }
        Ok(response)
    }

    #[tracing::instrument(skip_all, fields(rpc = "RevokeInvitation"))]
    async fn revoke_invitation(
        &self,
        request: Request<pb::RevokeInvitationRequest>,
    ) -> Result<Response<pb::RevokeInvitationResponse>, Status> {
        let fp = fingerprint("revoke_invitation", request.get_ref());
        let r: Called<RevokeInvitation> = authored(request)?;
        once(&self.0, call(&r), fp, async |c| {
            let (inv, revision) =
                admitted!(self.0, c, self.0.revoke_invitation(&c, &r.body.id, r.body.reason.as_deref()).await)?;
            Ok(pb::RevokeInvitationResponse { invitation: Some((&inv).into()), revision: revision.token() })
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(rpc = "AcceptInvitation"))]
    async fn accept_invitation(
        &self,
        request: Request<pb::AcceptInvitationRequest>,
    ) -> Result<Response<pb::AcceptInvitationResponse>, Status> {
        let fp = fingerprint("accept_invitation", request.get_ref());
        let r: Called<AcceptInvitation> = authored(request)?;
        let profile = AcceptProfile {
            given_name: r.body.given_name.clone(),
            family_name: r.body.family_name.clone(),
            phone: r.body.phone.clone(),
            idp_subject: r.body.idp_subject.clone(),
        };
        once(&self.0, call(&r), fp, async |c| {
            let (a, revision) = self.0.accept_invitation(&c, &r.body.token, &profile).await?;
            Ok(pb::AcceptInvitationResponse {
                user: Some((&a.user).into()),
                membership: Some((&a.membership).into()),
                invitation: Some((&a.invitation).into()),
                revision: revision.token(),
                user_created: a.user_created,
            })
        })
        .await
    }
}
