//! `guichet.v1.ApprovalService`.

use guichet_domain as d;
use guichet_proto::convert::{
    ApproveAccessRequest, ApproveMembership, CancelAccessRequest, GetAccessRequest, ListAccessRequests, ListApprovals,
    RejectAccessRequest, RejectMembership, access_request_approval_out, approval_out,
};
use guichet_proto::v1 as pb;
use guichet_store::{AccessRequestFilter, PendingItem};

use super::{admitted, handlers, page};
use crate::app::App;
use crate::paging::next_token;

#[derive(Debug)]
pub(crate) struct Approvals(pub(crate) App);

handlers! {
    impl pb::approval_service_server::ApprovalService for Approvals {
        read "ListPendingApprovals" fn list_pending_approvals(pb::ListPendingApprovalsRequest)
            -> pb::ListPendingApprovalsResponse |app, c, r: ListApprovals| {
            let p = page(&r.body.page)?;
            let found = app.list_pending_items(&c, &r.body.account, &p).await?;
            pb::ListPendingApprovalsResponse {
                approvals: found
                    .items
                    .iter()
                    .map(|item| match item {
                        PendingItem::Membership(a) => approval_out(&a.membership, a.invitation.as_ref(), &a.user),
                        PendingItem::Access(r, user) => access_request_approval_out(r, user),
                    })
                    .collect(),
                next_page_token: next_token(found.next_after.as_deref()),
            }
        }

        write "ApproveMembership" fn approve_membership(pb::ApproveMembershipRequest)
            -> pb::ApproveMembershipResponse { membership }
            |app, c, r: ApproveMembership|
                admitted!(app, c, app.approve_membership(&c, &r.body.id, r.body.version.as_deref()).await);

        write "RejectMembership" fn reject_membership(pb::RejectMembershipRequest)
            -> pb::RejectMembershipResponse { membership }
            |app, c, r: RejectMembership|
                admitted!(
                    app,
                    c,
                    app.reject_membership(&c, &r.body.id, &r.body.reason, r.body.version.as_deref()).await
                );

        write "RequestAccess" fn request_access(pb::RequestAccessRequest)
            -> pb::RequestAccessResponse { access_request }
            |app, c, r: d::NewAccessRequest| admitted!(app, c, app.request_access(&c, &r.body).await);

        read "GetAccessRequest" fn get_access_request(pb::GetAccessRequestRequest)
            -> pb::GetAccessRequestResponse { access_request }
            |app, c, r: GetAccessRequest| app.get_access_request(&c, &r.body.id).await;

        read "ListAccessRequests" fn list_access_requests(pb::ListAccessRequestsRequest)
            -> pb::ListAccessRequestsResponse { access_requests, next_page_token }
            |app, c, r: ListAccessRequests, p| {
                let filter = AccessRequestFilter {
                    account: r.body.account.clone(),
                    requester: r.body.requester.clone(),
                    status: r.body.status,
                };
                app.list_access_requests(&c, &filter, &p).await
            };

        // Each change an approval makes is admitted on its own (see `app/access_requests.rs`).
        write "ApproveAccessRequest" fn approve_access_request(pb::ApproveAccessRequestRequest)
            -> pb::ApproveAccessRequestResponse |app, c, r: ApproveAccessRequest| {
            let b = &r.body;
            let (a, revision) = app.approve_access_request(&c, &b.id, b.version.as_deref(), b.suggestion).await?;
            pb::ApproveAccessRequestResponse { access_request: Some((&a).into()), revision: revision.token() }
        }

        write "RejectAccessRequest" fn reject_access_request(pb::RejectAccessRequestRequest)
            -> pb::RejectAccessRequestResponse |app, c, r: RejectAccessRequest| {
            let b = &r.body;
            let (a, revision) =
                admitted!(app, c, app.reject_access_request(&c, &b.id, &b.reason, b.version.as_deref()).await)?;
            pb::RejectAccessRequestResponse { access_request: Some((&a).into()), revision: revision.token() }
        }

        write "CancelAccessRequest" fn cancel_access_request(pb::CancelAccessRequestRequest)
            -> pb::CancelAccessRequestResponse |app, c, r: CancelAccessRequest| {
            let b = &r.body;
            let (a, revision) =
                admitted!(app, c, app.cancel_access_request(&c, &b.id, b.reason.as_deref()).await)?;
            pb::CancelAccessRequestResponse { access_request: Some((&a).into()), revision: revision.token() }
        }
    }
}
