//! `guichet.v1.ApprovalService`.

use guichet_domain as d;
use guichet_proto::convert::{
    ApproveAccessRequest, ApproveMembership, CancelAccessRequest, GetAccessRequest, ListAccessRequests, ListApprovals,
    RejectAccessRequest, RejectMembership, access_request_approval_out, approval_out,
};
use guichet_proto::v1 as pb;
use guichet_store::{AccessRequestFilter, PendingItem};
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
        let found = self.0.list_pending_items(&call(&r), &r.body.account, &p).await?;
        Ok(Response::new(pb::ListPendingApprovalsResponse {
            approvals: found
                .items
                .iter()
                .map(|item| match item {
                    PendingItem::Membership(a) => approval_out(&a.membership, a.invitation.as_ref(), &a.user),
                    PendingItem::Access(r, user) => access_request_approval_out(r, user),
                })
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

    #[tracing::instrument(skip_all, fields(rpc = "RequestAccess"))]
    async fn request_access(
        &self,
        request: Request<pb::RequestAccessRequest>,
    ) -> Result<Response<pb::RequestAccessResponse>, Status> {
        let fp = fingerprint("request_access", request.get_ref());
        let r: Called<d::NewAccessRequest> = authored(request)?;
        once(&self.0, call(&r), fp, async |c| {
            let (a, revision) = admitted!(self.0, c, self.0.request_access(&c, &r.body).await)?;
            Ok(pb::RequestAccessResponse { access_request: Some((&a).into()), revision: revision.token() })
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(rpc = "GetAccessRequest"))]
    async fn get_access_request(
        &self,
        request: Request<pb::GetAccessRequestRequest>,
    ) -> Result<Response<pb::GetAccessRequestResponse>, Status> {
        let r: Called<GetAccessRequest> = authored(request)?;
        let a = self.0.get_access_request(&call(&r), &r.body.id).await?;
        Ok(Response::new(pb::GetAccessRequestResponse { access_request: Some((&a).into()) }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "ListAccessRequests"))]
    async fn list_access_requests(
        &self,
        request: Request<pb::ListAccessRequestsRequest>,
    ) -> Result<Response<pb::ListAccessRequestsResponse>, Status> {
        let r: Called<ListAccessRequests> = authored(request)?;
        let p = page(&r.body.page)?;
        let filter = AccessRequestFilter {
            account: r.body.account.clone(),
            requester: r.body.requester.clone(),
            status: r.body.status,
        };
        let found = self.0.list_access_requests(&call(&r), &filter, &p).await?;
        Ok(Response::new(pb::ListAccessRequestsResponse {
            access_requests: found.items.iter().map(Into::into).collect(),
            next_page_token: next_token(found.next_after.as_deref()),
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "ApproveAccessRequest"))]
    async fn approve_access_request(
        &self,
        request: Request<pb::ApproveAccessRequestRequest>,
    ) -> Result<Response<pb::ApproveAccessRequestResponse>, Status> {
        let fp = fingerprint("approve_access_request", request.get_ref());
        let r: Called<ApproveAccessRequest> = authored(request)?;
        // Each change an approval makes is admitted on its own (see `app/access_requests.rs`).
        once(&self.0, call(&r), fp, async |c| {
            let b = &r.body;
            let (a, revision) = self.0.approve_access_request(&c, &b.id, b.version.as_deref(), b.suggestion).await?;
            Ok(pb::ApproveAccessRequestResponse { access_request: Some((&a).into()), revision: revision.token() })
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(rpc = "RejectAccessRequest"))]
    async fn reject_access_request(
        &self,
        request: Request<pb::RejectAccessRequestRequest>,
    ) -> Result<Response<pb::RejectAccessRequestResponse>, Status> {
        let fp = fingerprint("reject_access_request", request.get_ref());
        let r: Called<RejectAccessRequest> = authored(request)?;
        once(&self.0, call(&r), fp, async |c| {
            let b = &r.body;
            let (a, revision) =
                admitted!(self.0, c, self.0.reject_access_request(&c, &b.id, &b.reason, b.version.as_deref()).await)?;
            Ok(pb::RejectAccessRequestResponse { access_request: Some((&a).into()), revision: revision.token() })
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(rpc = "CancelAccessRequest"))]
    async fn cancel_access_request(
        &self,
        request: Request<pb::CancelAccessRequestRequest>,
    ) -> Result<Response<pb::CancelAccessRequestResponse>, Status> {
        let fp = fingerprint("cancel_access_request", request.get_ref());
        let r: Called<CancelAccessRequest> = authored(request)?;
        once(&self.0, call(&r), fp, async |c| {
            let b = &r.body;
            let (a, revision) =
                admitted!(self.0, c, self.0.cancel_access_request(&c, &b.id, b.reason.as_deref()).await)?;
            Ok(pb::CancelAccessRequestResponse { access_request: Some((&a).into()), revision: revision.token() })
        })
        .await
    }
}
