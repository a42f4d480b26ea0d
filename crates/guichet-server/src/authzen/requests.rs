//! The AuthZEN **Access Request and Approval profile** (draft 1, `openid/authzen`
//! `profiles/authzen-access-request-approval/`) over guichet's access requests
//! (`guichet_domain::access_request`, `ApprovalService/RequestAccess`).
//!
//! # What is served
//!
//! - **Requestable denials.** A denied `POST /access/v1/evaluation` whose subject is an active
//!   member of the account, and which some member could grant (the same test RequestAccess makes:
//!   a suggestion with an approver), carries in its `context` the profile's members:
//!   `evaluation_id`, `evaluated_at` and `access_request` (`endpoint`, `template` — the
//!   permission asked, `guichet:<feature>:<level>` — and `expires_at`, [`DENIAL_LIFETIME_MS`]
//!   later). `context.reason` stays guichet's sentence; the machine-readable code is
//!   `context.reason_code`. Only the single evaluation endpoint does this (a batch would compute
//!   suggestions for every deny).
//! - **Denial binding** by `evaluation_id`, validated server-side (the profile's first pattern;
//!   no `binding_token`, no JWKS): the identifier spells the subject, resource, action and
//!   `expires_at` it was issued for; a submission must name the same ones and arrive before
//!   `expires_at` (30 s of clock skew tolerated), and the request is then decided again on the
//!   latest state by RequestAccess's rules — a forged identifier obtains nothing an authenticated
//!   caller could not ask RequestAccess for, and only for a subject who is an active member.
//! - **`POST /access/v1/requests`** (the access request endpoint): a submission becomes a
//!   RequestAccess of the subject (the actor) with the reason
//!   `context.business_justification` (or `context.reason`). `202 Accepted` with the task handle
//!   (`id`, `status`, `status_endpoint`, `expires_at`, `links.cancel`) and a `Location` header.
//!   `Idempotency-Key` is the request's `request_id` (per calling service): the same key with an
//!   equivalent body (canonical JSON) answers the same task; with another body,
//!   `duplicate_request`. `items` (bundles) are refused as `not_requestable`.
//! - **`GET /access/v1/requests/{id}`** (the task status endpoint): `pending`, `approved`,
//!   `denied` (REJECTED), `expired`, `cancelled`; an approved task carries
//!   `result: {mode: "reevaluate", approval: {id, approved_at, approved_until}}`.
//! - **`POST /access/v1/requests/{id}/cancel`** (or `DELETE`): CancelAccessRequest for the
//!   requester; a task no longer pending is `409 invalid_task_state`.
//! - **Re-evaluation.** The approval changed guichet's state (the change was applied): the PEP's
//!   next evaluation is decided on that state like any other, and `context.approval` is never a
//!   grant by itself (it is ignored). `approved_until` is [`APPROVAL_REUSE_MS`] after the approval.
//!
//! The endpoints need the `check` scope, as evaluation: a PEP acts for the subject of a denial it
//! was given; the rule book then decides for that subject (an active member, for themselves).
//! Errors of the profile are `application/problem+json` with the profile's problem types.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use guichet_domain::{
    AccessRequest, AccessRequestId, AccessRequestRecord, AccessRequestStatus, NewAccessRequest, Timestamp,
};
use serde_json::{Map, Value};

use super::{Answer, Failure};
use crate::app::{App, Call};
use crate::error::ServerError;

/// How long a requestable denial may be submitted: ten minutes.
pub(crate) const DENIAL_LIFETIME_MS: i64 = 10 * 60_000;
/// The clock skew tolerated on `denial.expires_at`.
const SKEW_MS: i64 = 30_000;
/// How long after an approval its Approval Result may be presented.
pub(crate) const APPROVAL_REUSE_MS: i64 = 24 * 3_600_000;
/// The reason recorded when a submission gives none.
const DEFAULT_REASON: &str = "requested through the AuthZEN access request endpoint";

/// The profile's problem types.
pub(crate) mod problem {
    pub(crate) const NOT_REQUESTABLE: &str = "urn:openid:authzen:access-request:error:not_requestable";
    pub(crate) const EXPIRED_DENIAL: &str = "urn:openid:authzen:access-request:error:expired_denial";
    pub(crate) const INVALID_DENIAL_BINDING: &str = "urn:openid:authzen:access-request:error:invalid_denial_binding";
    pub(crate) const DUPLICATE_REQUEST: &str = "urn:openid:authzen:access-request:error:duplicate_request";
    pub(crate) const UNKNOWN_TASK: &str = "urn:openid:authzen:access-request:error:unknown_task";
    pub(crate) const INVALID_TASK_STATE: &str = "urn:openid:authzen:access-request:error:invalid_task_state";
}

/// RFC 3339, UTC, to the second.
pub(crate) fn rfc3339(t: Timestamp) -> String {
    chrono::DateTime::from_timestamp_millis(t.as_millis())
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

fn parse_rfc3339(s: &str) -> Option<Timestamp> {
    chrono::DateTime::parse_from_rfc3339(s).ok().map(|d| Timestamp::from_millis(d.timestamp_millis()))
}

/// What an `evaluation_id` binds: the subject, the resource, the action, the expiry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Binding {
    s: String,
    t: String,
    r: String,
    a: String,
    x: i64,
}

fn encode(b: &Binding) -> String {
    format!("ev1.{}", URL_SAFE_NO_PAD.encode(serde_json::to_vec(b).unwrap_or_default()))
}

fn decode(id: &str) -> Option<Binding> {
    let rest = id.strip_prefix("ev1.")?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(rest).ok()?).ok()
}

/// The members a requestable denial adds to its `context`.
pub(crate) fn requestable_context(
    base: &str,
    subject: &str,
    resource_type: &str,
    resource: &str,
    action: &str,
    request: &AccessRequest,
    now: Timestamp,
) -> Map<String, Value> {
    // Whole seconds: `expires_at` is written to the second, and the binding compares it exactly.
    let expires = Timestamp::from_millis(now.as_millis().saturating_add(DENIAL_LIFETIME_MS).div_euclid(1000) * 1000);
    let binding = Binding {
        s: subject.to_owned(),
        t: resource_type.to_owned(),
        r: resource.to_owned(),
        a: action.to_owned(),
        x: expires.as_millis(),
    };
    let mut c = Map::new();
    c.insert("evaluation_id".into(), encode(&binding).into());
    c.insert("evaluated_at".into(), rfc3339(now).into());
    c.insert(
        "access_request".into(),
        serde_json::json!({
            "endpoint": format!("{base}/access/v1/requests"),
            "template": format!("guichet:{}:{}", request.permission.feature, request.permission.level),
            "expires_at": rfc3339(expires),
        }),
    );
    c
}

/// A failure with the profile's problem type.
fn problem(status: u16, kind: &'static str, detail: impl Into<String>) -> Failure {
    Failure::problem(status, kind, detail.into())
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(*k)).and_then(Value::as_str)
}

/// The task handle of a request.
fn task(base: &str, r: &AccessRequestRecord, now: Timestamp) -> Value {
    let status_endpoint = format!("{base}/access/v1/requests/{}", r.id);
    let status = match r.status {
        AccessRequestStatus::Pending if r.pending_at(now) => "pending",
        AccessRequestStatus::Pending | AccessRequestStatus::Expired => "expired",
        AccessRequestStatus::Approved => "approved",
        AccessRequestStatus::Rejected => "denied",
        AccessRequestStatus::Cancelled => "cancelled",
    };
    let mut t = serde_json::json!({
        "id": r.id.as_str(),
        "status": status,
        "status_endpoint": status_endpoint,
        "expires_at": rfc3339(r.expires_at),
    });
    if status == "pending" {
        t["links"] = serde_json::json!({ "cancel": format!("{status_endpoint}/cancel") });
        let (current, total) = if r.first_approved_by.is_some() { (2, 2) } else { (1, 1) };
        t["progress"] = serde_json::json!({ "current_step": current, "total_steps": total });
    }
    let mut out = serde_json::json!({ "task": t });
    if r.status == AccessRequestStatus::Approved
        && let Some(at) = r.decided_at
    {
        out["result"] = serde_json::json!({
            "mode": "reevaluate",
            "approval": {
                "id": format!("apr.{}", r.id),
                "approved_at": rfc3339(at),
                "approved_until": rfc3339(Timestamp::from_millis(at.as_millis().saturating_add(APPROVAL_REUSE_MS))),
            },
        });
    }
    out
}

/// Maps a refusal of the application onto the profile's problems.
fn refused(e: ServerError) -> Failure {
    match e {
        ServerError::FailedPrecondition { kind: "ALREADY_GRANTED" | "NO_APPROVER", description, .. } => {
            problem(400, problem::NOT_REQUESTABLE, description)
        }
        ServerError::NotFound { entity, id } => {
            problem(400, problem::NOT_REQUESTABLE, format!("{entity} {id} not found for this subject"))
        }
        ServerError::PermissionDenied { reason, .. } => problem(403, problem::NOT_REQUESTABLE, reason),
        ServerError::InvalidArgument(v) => problem(
            400,
            problem::NOT_REQUESTABLE,
            v.iter().map(|v| format!("{}: {}", v.field, v.description)).collect::<Vec<_>>().join("; "),
        ),
        other @ (ServerError::AlreadyExists { .. }
        | ServerError::FailedPrecondition { .. }
        | ServerError::Rule { .. }
        | ServerError::RevisionTooOld { .. }
        | ServerError::Aborted(_)
        | ServerError::Unavailable(_)
        | ServerError::Unimplemented(_)
        | ServerError::Internal(_)) => other.into(),
    }
}

/// `POST /access/v1/requests`.
pub(crate) async fn submit(
    app: &App,
    base: &str,
    service: Option<String>,
    idempotency_key: Option<String>,
    body: &Value,
) -> Result<Answer, Failure> {
    if body.get("items").is_some() {
        return Err(problem(400, problem::NOT_REQUESTABLE, "items: bundled access requests are not supported"));
    }
    let subject = super::api::entity_in(body.get("subject"), "subject")?;
    let resource = super::api::entity_in(body.get("resource"), "resource")?;
    let action = super::api::action_in(body.get("action"), "action")?;
    let Some(denial) = body.get("denial").and_then(Value::as_object) else {
        return Err(problem(
            400,
            problem::INVALID_DENIAL_BINDING,
            "denial: required, with evaluation_id and expires_at",
        ));
    };
    let denial = Value::Object(denial.clone());
    let (Some(evaluation_id), Some(expires_at)) =
        (str_at(&denial, &["evaluation_id"]), str_at(&denial, &["expires_at"]))
    else {
        return Err(problem(400, problem::INVALID_DENIAL_BINDING, "denial: evaluation_id and expires_at are required"));
    };
    let bound = decode(evaluation_id).filter(|b| {
        b.s == subject.id.as_deref().unwrap_or_default()
            && b.t == resource.kind
            && b.r == resource.id.as_deref().unwrap_or_default()
            && b.a == action
            && parse_rfc3339(expires_at).is_some_and(|t| t.as_millis() == b.x)
    });
    let Some(bound) = bound else {
        return Err(problem(
            400,
            problem::INVALID_DENIAL_BINDING,
            "denial.evaluation_id does not bind this subject, resource, action and expires_at",
        ));
    };
    let now = app.now();
    if now.as_millis() > bound.x.saturating_add(SKEW_MS) {
        return Err(problem(410, problem::EXPIRED_DENIAL, format!("the requestable denial expired at {expires_at}")));
    }
    let request = match super::api::question_for(app, &subject, &action, &resource).await? {
        Some(r) => r,
        None => return Err(problem(400, problem::NOT_REQUESTABLE, "the subject, resource or action is unknown")),
    };
    let reason = str_at(body, &["context", "business_justification"])
        .or_else(|| str_at(body, &["context", "reason"]))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or(DEFAULT_REASON);
    let reason: String = reason.chars().take(guichet_domain::MAX_REASON_CHARS).collect();
    let new = NewAccessRequest {
        account: request.account.clone(),
        permission: request.permission.clone(),
        resource: request.resource.clone(),
        reason,
    };
    let fingerprint = {
        use sha2::Digest;
        let mut text = String::new();
        super::api::canonical_json(body, &mut text);
        let digest = sha2::Sha256::digest(text.as_bytes());
        format!("authzen_request:{}", digest.iter().map(|b| format!("{b:02x}")).collect::<String>())
    };
    if let Some(key) = &idempotency_key
        && let Some(record) =
            app.store().idempotency_record(service.as_deref(), key).await.map_err(ServerError::from)?
    {
        if record.fingerprint != fingerprint {
            return Err(problem(
                409,
                problem::DUPLICATE_REQUEST,
                "Idempotency-Key was already used with another submission body",
            ));
        }
        if let Some(bytes) = record.response {
            let id = String::from_utf8_lossy(&bytes).into_owned();
            let r =
                app.store().get_access_request(&AccessRequestId::from_trusted(id)).await.map_err(ServerError::from)?;
            return Ok(accepted(base, &r, now));
        }
    }
    let call = Call {
        actor: Some(request.subject.clone()),
        service: service.clone(),
        request_id: idempotency_key.clone(),
        fingerprint: idempotency_key.as_ref().map(|_| fingerprint),
        trace_id: crate::telemetry::current_trace_id(),
        ..Call::default()
    };
    let (r, _) = app.request_access(&call, &new).await.map_err(refused)?;
    if let Some(key) = &idempotency_key {
        let saved =
            app.store().save_idempotent_response(service.as_deref(), key, r.id.as_str().as_bytes().to_vec()).await;
        if let Err(e) = saved {
            tracing::warn!(error = %e, "could not record the task of an idempotent access request");
        }
    }
    Ok(accepted(base, &r, now))
}

fn accepted(base: &str, r: &AccessRequestRecord, now: Timestamp) -> Answer {
    let location = format!("{base}/access/v1/requests/{}", r.id);
    Answer { body: task(base, r, now).to_string(), decided: None, status: 202, location: Some(location) }
}

fn task_id(id: &str) -> Result<AccessRequestId, Failure> {
    AccessRequestId::parse(id).map_err(|_| problem(404, problem::UNKNOWN_TASK, format!("no task {id}")))
}

/// `GET /access/v1/requests/{id}`.
pub(crate) async fn status(app: &App, base: &str, id: &str) -> Result<Answer, Failure> {
    let id = task_id(id)?;
    let r = match app.get_access_request(&Call::service(), &id).await {
        Ok(r) => r,
        Err(ServerError::NotFound { .. }) => return Err(problem(404, problem::UNKNOWN_TASK, format!("no task {id}"))),
        Err(e) => return Err(e.into()),
    };
    Ok(Answer { body: task(base, &r, app.now()).to_string(), decided: None, status: 200, location: None })
}

/// `POST /access/v1/requests/{id}/cancel`.
pub(crate) async fn cancel(
    app: &App,
    base: &str,
    service: Option<String>,
    id: &str,
    body: &Value,
) -> Result<Answer, Failure> {
    let id = task_id(id)?;
    let r = match app.store().get_access_request(&id).await {
        Ok(r) => r,
        Err(guichet_store::StoreError::NotFound { .. }) => {
            return Err(problem(404, problem::UNKNOWN_TASK, format!("no task {id}")));
        }
        Err(e) => return Err(ServerError::from(e).into()),
    };
    let comment = str_at(body, &["comment"]).or_else(|| str_at(body, &["reason"]));
    let comment: Option<String> = comment.map(|c| c.chars().take(guichet_domain::MAX_REASON_CHARS).collect());
    let call = Call { actor: Some(r.requester.clone()), service, ..Call::default() };
    match app.cancel_access_request(&call, &id, comment.as_deref()).await {
        Ok((r, _)) => {
            Ok(Answer { body: task(base, &r, app.now()).to_string(), decided: None, status: 200, location: None })
        }
        Err(ServerError::FailedPrecondition { kind: "REQUEST_NOT_PENDING", description, .. }) => {
            Err(problem(409, problem::INVALID_TASK_STATE, description))
        }
        Err(e) => Err(refused(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_evaluation_id_reads_back_as_what_it_binds() {
        let b =
            Binding { s: "marc".into(), t: "folder".into(), r: "f1".into(), a: "read".into(), x: 1_700_000_000_000 };
        let id = encode(&b);
        assert!(id.starts_with("ev1."));
        assert_eq!(decode(&id), Some(b));
        assert_eq!(decode("ev1.!!"), None);
        assert_eq!(decode("eval_01"), None);
        assert_eq!(rfc3339(Timestamp::from_millis(1_700_000_000_000)), "2023-11-14T22:13:20Z");
        assert_eq!(parse_rfc3339("2023-11-14T22:13:20Z"), Some(Timestamp::from_millis(1_700_000_000_000)));
    }
}
