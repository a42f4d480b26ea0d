//! `guichet.v1.AccessService`.

use guichet_proto::code_name;
use guichet_proto::convert::{
    self, AccessQuery, AccessibleAccountsQuery, AccessibleResourcesQuery, AuthorizedSubjectsQuery, BatchQuery,
    ExplainQuery, SimulateQuery, Suggested,
};
use guichet_proto::v1 as pb;
use tonic::{Request, Response, Status};
use tonic_types::StatusExt;

use super::{handlers, page, parse};
use crate::app::{App, Reader};
use crate::error::ServerError;
use crate::paging::next_token;

#[derive(Debug)]
pub(crate) struct Access(pub(crate) App);

handlers! {
    impl pb::access_service_server::AccessService for Access {
        // No handler span on the check path: the RPC layer's span covers it (see `crate::telemetry`).
        async fn check_access(
            &self,
            request: Request<pb::CheckAccessRequest>,
        ) -> Result<Response<pb::CheckAccessResponse>, Status> {
            let q: AccessQuery = parse(request)?;
            let answer = self.0.check_access(&q.request, q.consistency).await?;
            tracing::debug!(
                allowed = answer.allowed,
                reason = answer.reason.code(),
                revision = %answer.revision,
                "decided"
            );
            let decided = crate::telemetry::check_answered(&answer);
            let mut response = Response::new(pb::CheckAccessResponse::from(answer));
            response.extensions_mut().insert(decided);
            Ok(response)
        }

        async fn check_access_batch(
            &self,
            request: Request<pb::CheckAccessBatchRequest>,
        ) -> Result<Response<pb::CheckAccessBatchResponse>, Status> {
            let q: BatchQuery = parse(request)?;
            let (answers, revision) = self.0.check_access_batch(&q.requests, q.consistency).await?;
            let decided = crate::telemetry::batch_answered(&answers, revision);
            let mut response = Response::new(pb::CheckAccessBatchResponse {
                results: answers.into_iter().map(pb::CheckAccessResponse::from).collect(),
                revision: revision.token(),
            });
            response.extensions_mut().insert(decided);
            Ok(response)
        }

        #[tracing::instrument(skip_all, fields(rpc = "ExplainAccess"))]
        async fn explain_access(
            &self,
            request: Request<pb::ExplainAccessRequest>,
        ) -> Result<Response<pb::ExplainAccessResponse>, Status> {
            // Without authentication (the open development listener) every RPC may be called: the
            // caller may read what the management API shows.
            let service_admin = crate::auth::Caller::of(&request).is_none_or(|c| c.admin);
            let q: ExplainQuery = parse(request)?;
            let reader = Reader { actor: q.actor.as_ref(), service_admin };
            let e = self.0.explain(&q.query.request, q.query.consistency, reader).await?;
            let suggested = match &e.suggestions {
                Ok(s) => Suggested::Given(s),
                Err(why) => Suggested::Withheld(why),
            };
            let c = &e.checked;
            Ok(Response::new(convert::explain_response(&c.decision, c.revision, &c.chain, suggested)))
        }

        query "ListAccessibleAccounts" fn list_accessible_accounts(pb::ListAccessibleAccountsRequest)
            -> pb::ListAccessibleAccountsResponse |app, q: AccessibleAccountsQuery| {
            let p = page(&q.page)?;
            let (found, revision) = app.accessible_accounts(&q.subject, &q.permission, q.consistency, &p).await?;
            pb::ListAccessibleAccountsResponse {
                accounts: found
                    .items
                    .iter()
                    .map(|a| pb::AccessibleAccount {
                        account_id: a.account.to_string(),
                        effective_level: pb::Level::from(a.decision.effective) as i32,
                        granted_by: a.decision.granted_by.as_ref().map(pb::AccessPath::from),
                    })
                    .collect(),
                next_page_token: next_token(found.next_after.as_deref()),
                revision: revision.token(),
            }
        }

        query "ListAccessibleResources" fn list_accessible_resources(pb::ListAccessibleResourcesRequest)
            -> pb::ListAccessibleResourcesResponse |app, q: AccessibleResourcesQuery| {
            let p = page(&q.page)?;
            let (found, revision) = app
                .accessible_resources(&q.subject, &q.account, &q.permission, q.kind.as_ref(), q.consistency, &p)
                .await?;
            pb::ListAccessibleResourcesResponse {
                resource_ids: found.items.iter().map(ToString::to_string).collect(),
                next_page_token: next_token(found.next_after.as_deref()),
                revision: revision.token(),
            }
        }

        query "ListAuthorizedSubjects" fn list_authorized_subjects(pb::ListAuthorizedSubjectsRequest)
            -> pb::ListAuthorizedSubjectsResponse |app, q: AuthorizedSubjectsQuery| {
            let p = page(&q.page)?;
            let (found, revision) =
                app.authorized_subjects(&q.account, &q.permission, q.resource.as_ref(), q.consistency, &p).await?;
            pb::ListAuthorizedSubjectsResponse {
                subjects: found
                    .items
                    .iter()
                    .map(|(user, a)| pb::AuthorizedSubject {
                        subject_id: user.to_string(),
                        effective_level: pb::Level::from(a.decision.effective) as i32,
                        granted_by: a.decision.granted_by.as_ref().map(pb::AccessPath::from),
                    })
                    .collect(),
                next_page_token: next_token(found.next_after.as_deref()),
                revision: revision.token(),
            }
        }

        #[tracing::instrument(skip_all, fields(rpc = "SimulateChanges"))]
        async fn simulate_changes(
            &self,
            request: Request<pb::SimulateChangesRequest>,
        ) -> Result<Response<pb::SimulateChangesResponse>, Status> {
            let service = crate::auth::Caller::of(&request).map(|c| c.service.to_string());
            let q: SimulateQuery = parse(request)?;
            let call = crate::app::Call { actor: q.actor.clone(), service, ..crate::app::Call::default() };
            let p = self.0.simulate_changes(&call, &q.operations, convert::operation_name, q.max_effects).await?;
            let s = &p.simulation;
            Ok(Response::new(pb::SimulateChangesResponse {
                outcomes: p.outcomes.into_iter().map(outcome).collect(),
                effects: s.effects.iter().map(Into::into).collect(),
                affected_total: u32::try_from(s.total).unwrap_or(u32::MAX),
                truncated: s.truncated,
                revision: p.revision.token(),
            }))
        }
    }
}

/// An operation's answer as its RPC would give it: the code, the reason of its ErrorInfo (or the
/// type of its PreconditionFailure) and the message of the status the RPC would return.
fn outcome(result: Result<(), ServerError>) -> pb::OperationOutcome {
    let Err(e) = result else {
        return pb::OperationOutcome { allowed: true, ..pb::OperationOutcome::default() };
    };
    let status = Status::from(e);
    let details = status.get_error_details();
    let reason = details
        .error_info()
        .map(|i| i.reason.clone())
        .or_else(|| details.precondition_failure().and_then(|p| p.violations.first().map(|v| v.r#type.clone())))
        .unwrap_or_default();
    pb::OperationOutcome {
        allowed: false,
        code: code_name(status.code()).to_owned(),
        reason,
        message: status.message().to_owned(),
    }
}
