//! `guichet.v1.InvitationService`.

use guichet_domain::{InvitationId, NewInvitation};
use guichet_proto::convert::{AcceptInvitation, ListInvitations, RevokeInvitation};
use guichet_proto::v1 as pb;
use guichet_store::{AcceptProfile, InvitationFilter};
use tonic::{Request, Response, Status};

use super::{Called, admitted, authored, call, fingerprint, handlers, once};
use crate::app::App;

#[derive(Debug)]
pub(crate) struct Invitations(pub(crate) App);

handlers! {
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

        read "GetInvitation" fn get_invitation(pb::GetInvitationRequest) -> pb::GetInvitationResponse { invitation }
            |app, c, r: InvitationId| app.get_invitation(&c, &r.body).await;

        read "ListInvitations" fn list_invitations(pb::ListInvitationsRequest)
            -> pb::ListInvitationsResponse { invitations, next_page_token }
            |app, c, r: ListInvitations, p| {
                let filter = InvitationFilter {
                    account: r.body.account.clone(),
                    status: r.body.status,
                    email: r.body.email.clone(),
                };
                app.list_invitations(&c, &filter, &p).await
            };

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

        write "RevokeInvitation" fn revoke_invitation(pb::RevokeInvitationRequest)
            -> pb::RevokeInvitationResponse { invitation }
            |app, c, r: RevokeInvitation|
                admitted!(app, c, app.revoke_invitation(&c, &r.body.id, r.body.reason.as_deref()).await);

        write "AcceptInvitation" fn accept_invitation(pb::AcceptInvitationRequest) -> pb::AcceptInvitationResponse
            |app, c, r: AcceptInvitation| {
            let profile = AcceptProfile {
                given_name: r.body.given_name.clone(),
                family_name: r.body.family_name.clone(),
                phone: r.body.phone.clone(),
                idp_subject: r.body.idp_subject.clone(),
            };
            let (a, revision) = app.accept_invitation(&c, &r.body.token, &profile).await?;
            pb::AcceptInvitationResponse {
                user: Some((&a.user).into()),
                membership: Some((&a.membership).into()),
                invitation: Some((&a.invitation).into()),
                revision: revision.token(),
                user_created: a.user_created,
            }
        }
    }
}
