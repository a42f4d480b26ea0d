//! `guichet.v1.ApprovalService`.

use guichet_proto::convert::{ApproveMembership, ListApprovals, RejectMembership, approval_out};
use guichet_proto::v1 as pb;
use tonic::{Request, Response, Status};

use super::{Called, admitted, authored, call, fingerprint, once, page};
use crate::app::App;
use crate::paging::next_token;

#[derive(Debug)]
pub(crate) struct Approvals(pub(crate) App);

#[tonic::async_trait]
impl pb::approval_service_server::ApprovalService for Approvals {
    #[tracing::instrument(skip_all, fields(rpc = "ListPendingApprovals"))]
    async fn list_pending_approvals(
        &self,
        request: Request<pb::ListPendingApprovalsRequest>,
    ) -> Result<Response<pb::ListPendingApprovalsResponse>, Status> {
        let r: Called<ListApprovals> = authored(request)?;
        let p = page(&r.body.page)?;
        let found = self.0.list_pending_approvals(&call(&r), &r.body.account, &p).await?;
        Ok(Response::new(pb::ListPendingApprovalsResponse {
            approvals: found
                .items
                .iter()
                .map(|a| approval_out(&a.membership, a.invitation.as_ref(), &a.user))
                .collect(),
            next_page_token: next_token(found.next_after.as_deref()),
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "ApproveMembership"))]
    async fn approve_membership(
        &self,
        request: Request<pb::ApproveMembershipRequest>,
    ) -> Result<Response<pb::ApproveMembershipResponse>, Status> {
        let fp = fingerprint("approve_membership", request.get_ref());
        let r: Called<ApproveMembership> = authored(request)?;
        once(&self.0, call(&r), fp, async |c| {
            let (m, revision) =
                admitted!(self.0, c, self.0.approve_membership(&c, &r.body.id, r.body.version.as_deref()).await)?;
            Ok(pb::ApproveMembershipResponse { membership: Some((&m).into()), revision: revision.token() })
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(rpc = "RejectMembership"))]
    async fn reject_membership(
        &self,
        request: Request<pb::RejectMembershipRequest>,
    ) -> Result<Response<pb::RejectMembershipResponse>, Status> {
        let fp = fingerprint("reject_membership", request.get_ref());
        let r: Called<RejectMembership> = authored(request)?;
        once(&self.0, call(&r), fp, async |c| {
            let (m, revision) = admitted!(
                self.0,
                c,
                self.0.reject_membership(&c, &r.body.id, &r.body.reason, r.body.version.as_deref()).await
            )?;
            Ok(pb::RejectMembershipResponse { membership: Some((&m).into()), revision: revision.token() })
        })
        .await
    }
}
