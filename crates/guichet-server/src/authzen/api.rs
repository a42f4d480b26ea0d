//! The AuthZEN requests read, mapped onto guichet's model, answered, and written back.
//!
//! # The mapping (docs/authzen.md gives it with examples)
//!
//! - **Subject**: type `user`, id a guichet user id. Any other type, or an id that cannot be a
//!   user id, names no subject: a deny with `unknown_subject` (an evaluation), no result (a search).
//! - **Resource**: type `account` and an account id; or a resource kind (`folder`) and a resource
//!   id. A resource's account is `properties.account_id` when given, else the resource's own
//!   (one read of the resource row); a resource of another kind than the type is not the resource
//!   asked about (`unknown_resource`).
//! - **Action**: `feature:level` (`folders:view`), or a name the catalog's `[[actions]]` maps to a
//!   permission for that resource type (`read` on a `folder` is `folders:view`). An unknown name is
//!   a deny with `unknown_action`.
//! - **Context**: ignored, except `context.consistency`, the gRPC `Consistency` in JSON:
//!   `{"at_least_as_fresh": "r42"}`, `{"fully_consistent": true}`, `{"minimize_latency": true}`.
//! - **Decision**: `decision`, and `context` with `reason_code`, `reason`, `effective_level`,
//!   `required_level`, `revision`, `cache_tier` and `granted_by`, as CheckAccess answers them.
//!
//! A required member missing, or a member of the wrong JSON type, is a 400 (in an `evaluations`
//! item, that item's `{"decision": false, "context": {"error": {"status": 400, …}}}`); unknown
//! members are ignored. `properties` are accepted and ignored: guichet decides from its own
//! records, never from attributes a caller asserts.
//!
//! Searches page with opaque tokens that carry a fingerprint of the request: a token sent with
//! other entities (or another `page.limit`) is a 400, as the specification advises. `page.limit`
//! absent or 0 means 50; above 1,000 it is 1,000.
//!
//! One file on purpose: it is the specification's request and response shapes and their mapping
//! onto guichet's model, read side by side with the specification (evaluation, evaluations,
//! the three searches, their paging); splitting it by endpoint would scatter the one mapping they
//! share. A sixth of it is its unit tests.

use std::fmt::Write as _;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use guichet_domain::{
    ACCOUNT_RESOURCE_TYPE, AccessRequest, AccountId, Consistency, FeatureName, MAX_BATCH_ITEMS, Path, Permission,
    ResourceId, Revision, UserId,
};
use guichet_store::{PageRequest, StoreError};
use serde::Serialize;
use serde_json::{Map, Value};
use sha2::Digest;

use super::{Answer, Failure};
use crate::app::App;
use crate::error::ServerError;
use crate::telemetry::Decided;

/// The most evaluations one request carries (CheckAccessBatch's limit).
const MAX_EVALUATIONS: usize = MAX_BATCH_ITEMS;
/// The page size when `page.limit` is absent or 0.
const DEFAULT_LIMIT: u64 = 50;
/// The largest page.
const MAX_LIMIT: u64 = 1000;
/// The most accounts one resource search (of a kind, across accounts) walks before it answers
/// with what it found and a token.
const MAX_ACCOUNTS_WALKED: u64 = 200;

// ---------------------------------------------------------------------------------------------
// Reading the request

/// A malformed member: where, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Bad {
    path: String,
    what: String,
}

impl Bad {
    fn new(path: &str, what: &str) -> Self {
        Self { path: path.to_owned(), what: what.to_owned() }
    }

    fn message(&self) -> String {
        format!("{}: {}", self.path, self.what)
    }
}

impl From<Bad> for Failure {
    fn from(b: Bad) -> Self {
        Failure::bad_request(b.message())
    }
}

/// A subject or a resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entity {
    pub(crate) kind: String,
    pub(crate) id: Option<String>,
    properties: Option<Map<String, Value>>,
}

/// A required entity (with its id) at `path`, for the access request endpoint.
pub(crate) fn entity_in(v: Option<&Value>, path: &str) -> Result<Entity, Failure> {
    Ok(entity(v, path, true)?)
}

/// The action's name at `path`, for the access request endpoint.
pub(crate) fn action_in(v: Option<&Value>, path: &str) -> Result<String, Failure> {
    Ok(action(v, path)?)
}

/// The guichet question an evaluation's entities ask, when they ask one (`None`: an unknown
/// subject, action, account or resource).
pub(crate) async fn question_for(
    app: &App,
    subject: &Entity,
    action: &str,
    resource: &Entity,
) -> Result<Option<AccessRequest>, Failure> {
    Ok(match question(app, subject, action, resource, "").await? {
        Question::Ask(r) => Some(r),
        Question::Deny { .. } => None,
    })
}

/// Canonical JSON (keys sorted), for fingerprints.
pub(crate) fn canonical_json(v: &Value, out: &mut String) {
    canonical(v, out);
}

fn object<'a>(v: &'a Value, path: &str) -> Result<&'a Map<String, Value>, Bad> {
    v.as_object().ok_or_else(|| Bad::new(path, "must be an object"))
}

fn string(obj: &Map<String, Value>, path: &str, key: &str, required: bool) -> Result<Option<String>, Bad> {
    match obj.get(key) {
        None | Some(Value::Null) if required => Err(Bad::new(&format!("{path}.{key}"), "is required")),
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() && required => {
            Err(Bad::new(&format!("{path}.{key}"), "is required (empty)"))
        }
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(Bad::new(&format!("{path}.{key}"), "must be a string")),
    }
}

fn properties(obj: &Map<String, Value>, path: &str) -> Result<Option<Map<String, Value>>, Bad> {
    match obj.get("properties") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m.clone())),
        Some(_) => Err(Bad::new(&format!("{path}.properties"), "must be an object")),
    }
}

/// A subject or resource at `path`: `type` required; `id` required when `with_id`, else ignored
/// (a search's searched-for entity, whose id "MUST be ignored").
fn entity(v: Option<&Value>, path: &str, with_id: bool) -> Result<Entity, Bad> {
    let v = match v {
        None | Some(Value::Null) => return Err(Bad::new(path, "is required")),
        Some(v) => v,
    };
    let obj = object(v, path)?;
    let kind = string(obj, path, "type", true)?.unwrap_or_default();
    let id = if with_id { string(obj, path, "id", true)? } else { None };
    Ok(Entity { kind, id, properties: properties(obj, path)? })
}

/// An action at `path`: `name` required.
fn action(v: Option<&Value>, path: &str) -> Result<String, Bad> {
    let v = match v {
        None | Some(Value::Null) => return Err(Bad::new(path, "is required")),
        Some(v) => v,
    };
    let obj = object(v, path)?;
    properties(obj, path)?;
    Ok(string(obj, path, "name", true)?.unwrap_or_default())
}

/// What the body of an evaluation or a search asks: who, doing what, on what, how fresh.
struct Body<'a> {
    obj: &'a Map<String, Value>,
    subject: Entity,
    action: String,
    resource: Entity,
    consistency: Consistency,
}

/// The body's subject, action, resource and context, read in that order; `subject_id` and
/// `resource_id`: whether that entity's id is required (see [`entity`]).
fn body_of(body: &Value, subject_id: bool, resource_id: bool) -> Result<Body<'_>, Bad> {
    let obj = object(body, "body")?;
    Ok(Body {
        subject: entity(obj.get("subject"), "subject", subject_id)?,
        action: action(obj.get("action"), "action")?,
        resource: entity(obj.get("resource"), "resource", resource_id)?,
        consistency: context(obj.get("context"), "context")?.unwrap_or_default(),
        obj,
    })
}

/// `context` at `path` (optional, an object) and the consistency it asks for.
fn context(v: Option<&Value>, path: &str) -> Result<Option<Consistency>, Bad> {
    let obj = match v {
        None | Some(Value::Null) => return Ok(None),
        Some(v) => object(v, path)?,
    };
    let c = match obj.get("consistency") {
        None | Some(Value::Null) => return Ok(None),
        Some(c) => c,
    };
    let path = format!("{path}.consistency");
    let c = object(c, &path)?;
    let hint = "must hold one of minimize_latency: true, at_least_as_fresh: \"<revision>\", fully_consistent: true";
    let set: Vec<(&String, &Value)> = c.iter().filter(|(k, v)| !v.is_null() && is_requirement(k)).collect();
    match set.as_slice() {
        [(k, Value::Bool(true))] if k.as_str() == "minimize_latency" => Ok(Some(Consistency::MinimizeLatency)),
        [(k, Value::Bool(true))] if k.as_str() == "fully_consistent" => Ok(Some(Consistency::FullyConsistent)),
        [(k, Value::String(token))] if k.as_str() == "at_least_as_fresh" => Revision::parse_token(token)
            .map(|r| Some(Consistency::AtLeastAsFresh(r)))
            .map_err(|e| Bad::new(&format!("{path}.at_least_as_fresh"), &e.to_string())),
        _ => Err(Bad::new(&path, hint)),
    }
}

fn is_requirement(key: &str) -> bool {
    matches!(key, "minimize_latency" | "fully_consistent" | "at_least_as_fresh")
}

/// The strongest of two consistency requirements (any answer fresh enough for the stronger one is
/// fresh enough for both).
fn stronger(a: Consistency, b: Consistency) -> Consistency {
    match (a, b) {
        (Consistency::FullyConsistent, _) | (_, Consistency::FullyConsistent) => Consistency::FullyConsistent,
        (Consistency::AtLeastAsFresh(x), Consistency::AtLeastAsFresh(y)) => Consistency::AtLeastAsFresh(x.max(y)),
        (Consistency::AtLeastAsFresh(x), Consistency::MinimizeLatency)
        | (Consistency::MinimizeLatency, Consistency::AtLeastAsFresh(x)) => Consistency::AtLeastAsFresh(x),
        (Consistency::MinimizeLatency, Consistency::MinimizeLatency) => Consistency::MinimizeLatency,
    }
}

// ---------------------------------------------------------------------------------------------
// Mapping onto guichet

/// A question guichet can ask, or why there is nothing to ask (a deny).
#[derive(Debug, Clone)]
enum Question {
    Ask(AccessRequest),
    Deny { reason_code: &'static str, reason: String },
}

fn deny(reason_code: &'static str, reason: String) -> Question {
    Question::Deny { reason_code, reason }
}

/// The subject's user id, when the subject can be a guichet user.
fn user_of(subject: &Entity) -> Option<UserId> {
    (subject.kind == "user").then(|| subject.id.as_deref().and_then(|id| UserId::parse(id).ok())).flatten()
}

/// The permission an action name stands for on `resource_type`.
fn permission_of(app: &App, resource_type: &str, name: &str) -> Option<Permission> {
    if name.contains(':') {
        return Permission::parse(name).ok();
    }
    app.catalog().action(resource_type, name).cloned()
}

/// `resource.properties.account_id`, when given.
fn given_account(resource: &Entity, path: &str) -> Result<Option<String>, Bad> {
    match resource.properties.as_ref().and_then(|p| p.get("account_id")) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(Bad::new(&format!("{path}.properties.account_id"), "must be a string")),
    }
}

/// Where a resource is: its account, and the resource itself for a resource kind.
#[derive(Debug, Clone)]
enum Place {
    Found { account: AccountId, resource: Option<ResourceId> },
    Missing { reason_code: &'static str, reason: String },
}

/// Finds the account (and resource) an AuthZEN resource names.
async fn place(app: &App, resource: &Entity, path: &str) -> Result<Place, Failure> {
    let id = resource.id.as_deref().unwrap_or_default();
    if resource.kind == ACCOUNT_RESOURCE_TYPE {
        return Ok(match AccountId::parse(id) {
            Ok(account) => Place::Found { account, resource: None },
            Err(_) => Place::Missing { reason_code: "unknown_account", reason: format!("no account {id}") },
        });
    }
    let given = given_account(resource, path)?;
    let missing = || Place::Missing {
        reason_code: "unknown_resource",
        reason: format!("no resource of type {} with id {id}", resource.kind),
    };
    let (Ok(_), Ok(rid)) = (FeatureName::parse(&resource.kind), ResourceId::parse(id)) else {
        return Ok(missing());
    };
    let found = match app.store().get_resource(&rid).await {
        Ok(r) => r,
        Err(StoreError::NotFound { .. }) => return Ok(missing()),
        Err(e) => return Err(ServerError::from(e).into()),
    };
    if found.kind.as_str() != resource.kind {
        return Ok(missing());
    }
    let account = match given {
        None => found.account,
        Some(a) => match AccountId::parse(&a) {
            Ok(a) => a,
            Err(_) => return Ok(Place::Missing { reason_code: "unknown_account", reason: format!("no account {a}") }),
        },
    };
    Ok(Place::Found { account, resource: Some(rid) })
}

/// One evaluation's entities mapped onto a guichet question.
async fn question(
    app: &App,
    subject: &Entity,
    action: &str,
    resource: &Entity,
    path: &str,
) -> Result<Question, Failure> {
    let Some(permission) = permission_of(app, &resource.kind, action) else {
        return Ok(deny(
            "unknown_action",
            format!(
                "action {action} is neither feature:level nor an action of the catalog for resources of type {}",
                resource.kind
            ),
        ));
    };
    let Some(user) = user_of(subject) else {
        return Ok(deny(
            "unknown_subject",
            format!("no subject of type {} with id {}", subject.kind, subject.id.as_deref().unwrap_or_default()),
        ));
    };
    Ok(match place(app, resource, &format!("{path}resource")).await? {
        Place::Found { account, resource } => {
            Question::Ask(AccessRequest { subject: user, account, permission, resource })
        }
        Place::Missing { reason_code, reason } => deny(reason_code, reason),
    })
}

// ---------------------------------------------------------------------------------------------
// Writing decisions

/// A decision, as the specification shapes it.
#[derive(Debug, Clone, Serialize)]
struct DecisionOut {
    decision: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    context: Option<Value>,
}

fn path_json(p: &Path) -> Value {
    match p {
        Path::Direct { membership, account, role } => serde_json::json!({
            "type": "direct", "membership_id": membership.as_str(), "account_id": account.as_str(),
            "role": role.as_str(),
        }),
        Path::Inherited { membership, ancestor, role } => serde_json::json!({
            "type": "inherited", "membership_id": membership.as_str(),
            "ancestor_account_id": ancestor.as_str(), "role": role.as_str(),
        }),
        Path::Delegated { delegation, from_account, membership, into, role } => serde_json::json!({
            "type": "delegated", "delegation_id": delegation.as_str(), "from_account_id": from_account.as_str(),
            "membership_id": membership.as_str(), "into_account_id": into.as_str(), "role": role.as_str(),
        }),
    }
}

/// CheckAccess's answer as an AuthZEN decision.
fn decided(a: &guichet_domain::Answer) -> DecisionOut {
    let mut c = Map::new();
    c.insert("reason_code".into(), a.reason.code().into());
    c.insert("reason".into(), a.reason.message().into());
    c.insert("effective_level".into(), a.effective.as_str().into());
    c.insert("required_level".into(), a.required.as_str().into());
    c.insert("revision".into(), a.revision.token().into());
    c.insert("cache_tier".into(), a.tier.as_str().into());
    if let Some(p) = &a.granted_by {
        c.insert("granted_by".into(), path_json(p));
    }
    DecisionOut { decision: a.allowed, context: Some(Value::Object(c)) }
}

fn denied(reason_code: &str, reason: &str) -> DecisionOut {
    let c = serde_json::json!({ "reason_code": reason_code, "reason": reason });
    DecisionOut { decision: false, context: Some(c) }
}

fn item_error(status: u16, message: &str) -> DecisionOut {
    DecisionOut {
        decision: false,
        context: Some(serde_json::json!({ "error": { "status": status, "message": message } })),
    }
}

/// Answers questions in one CheckAccessBatch call (the denies without a question as they are).
async fn answer_all(
    app: &App,
    questions: &[Question],
    consistency: Consistency,
) -> Result<(Vec<DecisionOut>, Option<(Revision, &'static str)>), Failure> {
    let asks: Vec<AccessRequest> = questions
        .iter()
        .filter_map(|q| match q {
            Question::Ask(r) => Some(r.clone()),
            Question::Deny { .. } => None,
        })
        .collect();
    let (answers, revision) = if asks.is_empty() {
        // Nothing to ask the store, but a token from the future is refused as CheckAccess does.
        if let Consistency::AtLeastAsFresh(wanted) = consistency {
            let current = app.store().revision().await.map_err(ServerError::from)?;
            if wanted > current {
                return Err(Bad::new(
                    "context.consistency.at_least_as_fresh",
                    &format!(
                        "revision {wanted} is newer than the store's latest ({current}): use a token guichet returned"
                    ),
                )
                .into());
            }
        }
        (Vec::new(), None)
    } else {
        let (answers, revision) = app.check_access_batch(&asks, consistency).await?;
        let tier = answers.first().map_or("none", |a| a.tier.as_str());
        (answers, Some((revision, tier)))
    };
    let mut answers = answers.into_iter();
    let mut out = Vec::with_capacity(questions.len());
    for q in questions {
        out.push(match q {
            Question::Ask(_) => {
                let a = answers.next().ok_or_else(|| ServerError::Internal("a batch answer is missing".into()))?;
                crate::metrics::decision(a.allowed);
                decided(&a)
            }
            Question::Deny { reason_code, reason } => {
                crate::metrics::decision(false);
                denied(reason_code, reason)
            }
        });
    }
    Ok((out, revision))
}

fn to_body<T: Serialize>(value: &T) -> Result<String, Failure> {
    serde_json::to_string(value).map_err(|e| ServerError::Internal(format!("cannot write JSON: {e}")).into())
}

// ---------------------------------------------------------------------------------------------
// The endpoints

/// `POST /access/v1/evaluation`. A deny the subject may request carries the Access Request
/// profile's members in its context (see `requests.rs`); `base` is the PDP identifier.
pub(crate) async fn evaluation(app: &App, body: &Value, base: &str) -> Result<Answer, Failure> {
    let Body { subject, action, resource, consistency, .. } = body_of(body, true, true)?;
    single(app, &subject, &action, &resource, consistency, Some(base)).await
}

async fn single(
    app: &App,
    subject: &Entity,
    action: &str,
    resource: &Entity,
    consistency: Consistency,
    requestable_at: Option<&str>,
) -> Result<Answer, Failure> {
    let q = question(app, subject, action, resource, "").await?;
    let (mut out, revision) = answer_all(app, std::slice::from_ref(&q), consistency).await?;
    let mut d = out.pop().ok_or_else(|| Failure::from(ServerError::Internal("no decision".into())))?;
    if let (false, Some(base), Question::Ask(request)) = (d.decision, requestable_at, &q)
        && app.requestable(request).await?
        && let Some(Value::Object(c)) = d.context.as_mut()
    {
        let extra = super::requests::requestable_context(
            base,
            subject.id.as_deref().unwrap_or_default(),
            &resource.kind,
            resource.id.as_deref().unwrap_or_default(),
            action,
            request,
            app.now(),
        );
        c.extend(extra);
    }
    let decided = Decided {
        allowed: Some(d.decision),
        counts: None,
        cache_tier: revision.map_or("none", |r| r.1),
        revision: revision.map(|r| r.0),
    };
    Ok(Answer { body: to_body(&d)?, decided: Some(decided), status: 200, location: None })
}

/// How an `evaluations` request stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Semantic {
    ExecuteAll,
    DenyOnFirstDeny,
    PermitOnFirstPermit,
}

/// `POST /access/v1/evaluations`.
pub(crate) async fn evaluations(app: &App, body: &Value) -> Result<Answer, Failure> {
    let obj = object(body, "body")?;
    // The defaults: each, when present, must be well formed.
    let subject = obj.get("subject").filter(|v| !v.is_null()).map(|v| entity(Some(v), "subject", true)).transpose()?;
    let action_default = obj.get("action").filter(|v| !v.is_null()).map(|v| action(Some(v), "action")).transpose()?;
    let resource =
        obj.get("resource").filter(|v| !v.is_null()).map(|v| entity(Some(v), "resource", true)).transpose()?;
    let top_consistency = context(obj.get("context"), "context")?;
    let semantic = match obj.get("options") {
        None | Some(Value::Null) => Semantic::ExecuteAll,
        Some(o) => match object(o, "options")?.get("evaluations_semantic") {
            None | Some(Value::Null) => Semantic::ExecuteAll,
            Some(Value::String(s)) if s == "execute_all" => Semantic::ExecuteAll,
            Some(Value::String(s)) if s == "deny_on_first_deny" => Semantic::DenyOnFirstDeny,
            Some(Value::String(s)) if s == "permit_on_first_permit" => Semantic::PermitOnFirstPermit,
            Some(_) => {
                return Err(Bad::new(
                    "options.evaluations_semantic",
                    "must be execute_all, deny_on_first_deny or permit_on_first_permit",
                )
                .into());
            }
        },
    };
    let items = match obj.get("evaluations") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.iter().collect(),
        Some(_) => return Err(Bad::new("evaluations", "must be an array").into()),
    };
    if items.is_empty() {
        // Backwards compatible with the single evaluation.
        let subject = subject.ok_or_else(|| Bad::new("subject", "is required"))?;
        let action = action_default.ok_or_else(|| Bad::new("action", "is required"))?;
        let resource = resource.ok_or_else(|| Bad::new("resource", "is required"))?;
        return single(app, &subject, &action, &resource, top_consistency.unwrap_or_default(), None).await;
    }
    if items.len() > MAX_EVALUATIONS {
        return Err(Bad::new("evaluations", &format!("at most {MAX_EVALUATIONS} items, got {}", items.len())).into());
    }
    // Each item: its own entity replaces the default whole; a malformed item is that item's error.
    let mut read: Vec<Result<(Entity, String, Entity), Bad>> = Vec::with_capacity(items.len());
    let mut consistency = top_consistency.unwrap_or_default();
    for (i, item) in items.iter().enumerate() {
        let path = format!("evaluations[{i}].");
        let one = || {
            let item = object(item, &format!("evaluations[{i}]"))?;
            let pick = |key: &str| item.get(key).filter(|v| !v.is_null());
            let s = match pick("subject") {
                Some(v) => entity(Some(v), &format!("{path}subject"), true)?,
                None => subject.clone().ok_or_else(|| Bad::new(&format!("{path}subject"), "is required"))?,
            };
            let a = match pick("action") {
                Some(v) => action(Some(v), &format!("{path}action"))?,
                None => action_default.clone().ok_or_else(|| Bad::new(&format!("{path}action"), "is required"))?,
            };
            let r = match pick("resource") {
                Some(v) => entity(Some(v), &format!("{path}resource"), true)?,
                None => resource.clone().ok_or_else(|| Bad::new(&format!("{path}resource"), "is required"))?,
            };
            let c = match pick("context") {
                Some(v) => context(Some(v), &format!("{path}context"))?,
                None => None,
            };
            Ok::<_, Bad>((s, a, r, c))
        };
        read.push(one().map(|(s, a, r, c)| {
            if let Some(c) = c {
                consistency = stronger(consistency, c);
            }
            (s, a, r)
        }));
    }
    // The question of an item (for a resource kind, its account is looked up in the store).
    let ask = |i: usize, item: &Result<(Entity, String, Entity), Bad>| {
        let item = item.clone();
        async move {
            match item {
                Err(bad) => Ok(Err(bad)),
                Ok((s, a, r)) => match question(app, &s, &a, &r, &format!("evaluations[{i}].")).await {
                    Ok(q) => Ok(Ok(q)),
                    Err(f) if f.status == axum::http::StatusCode::BAD_REQUEST => {
                        Ok(Err(Bad { path: format!("evaluations[{i}]"), what: f.message }))
                    }
                    Err(f) => Err(f),
                },
            }
        }
    };
    let mut out: Vec<DecisionOut> = Vec::with_capacity(read.len());
    let mut last: Option<(Revision, &'static str)> = None;
    match semantic {
        Semantic::ExecuteAll => {
            // Every item, in one CheckAccessBatch (one store snapshot for the misses).
            let mut questions = Vec::with_capacity(read.len());
            for (i, item) in read.iter().enumerate() {
                questions.push(ask(i, item).await?);
            }
            let asked: Vec<Question> =
                questions.iter().map(|q| q.clone().unwrap_or_else(|_| deny("", String::new()))).collect();
            let (decisions, revision) = answer_all(app, &asked, consistency).await?;
            last = revision;
            for (q, d) in questions.iter().zip(decisions) {
                out.push(match q {
                    Ok(_) => d,
                    Err(bad) => item_error(400, &bad.message()),
                });
            }
        }
        Semantic::DenyOnFirstDeny | Semantic::PermitOnFirstPermit => {
            // One at a time, in order; nothing after the first deny (or error) / permit is read
            // from the store or evaluated.
            for (i, item) in read.iter().enumerate() {
                let d = match ask(i, item).await? {
                    Ok(q) => {
                        let (mut d, revision) = answer_all(app, std::slice::from_ref(&q), consistency).await?;
                        if revision.is_some() {
                            last = revision;
                        }
                        d.pop().ok_or_else(|| Failure::from(ServerError::Internal("no decision".into())))?
                    }
                    Err(bad) => {
                        crate::metrics::decision(false);
                        item_error(400, &bad.message())
                    }
                };
                let stop = if semantic == Semantic::DenyOnFirstDeny { !d.decision } else { d.decision };
                out.push(d);
                if stop {
                    break;
                }
            }
        }
    }
    let allowed = out.iter().filter(|d| d.decision).count();
    let decided = Decided {
        allowed: None,
        counts: Some((allowed, out.len() - allowed)),
        cache_tier: last.map_or("none", |r| r.1),
        revision: last.map(|r| r.0),
    };
    #[derive(Serialize)]
    struct Out {
        evaluations: Vec<DecisionOut>,
    }
    Ok(Answer { body: to_body(&Out { evaluations: out })?, decided: Some(decided), status: 200, location: None })
}

// ---------------------------------------------------------------------------------------------
// Searches

/// A search's answer.
#[derive(Debug, Serialize)]
struct SearchOut {
    page: PageOut,
    #[serde(skip_serializing_if = "Option::is_none")]
    context: Option<Value>,
    results: Vec<Found>,
}

/// A search result: a subject or resource (`type` first, as the specification writes them: some
/// PEPs compare answers as text), or an action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
enum Found {
    Entity {
        #[serde(rename = "type")]
        kind: String,
        id: String,
    },
    Action {
        name: String,
    },
}

fn entity_out(kind: &str, id: &str) -> Found {
    Found::Entity { kind: kind.to_owned(), id: id.to_owned() }
}

#[derive(Debug, Serialize)]
struct PageOut {
    next_token: String,
    count: usize,
}

/// Where a page starts, from `page.token`, and how long it is.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PageIn {
    /// The position after which the page starts (endpoint-specific), `None` for the first.
    after: Option<String>,
    limit: u64,
    /// The request's fingerprint, carried by the tokens of its pages.
    fingerprint: String,
}

/// Canonical JSON: keys sorted, whatever the map's order.
fn canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let _ = write!(out, "{}:", Value::String((*k).clone()));
                if let Some(v) = m.get(*k) {
                    canonical(v, out);
                }
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, v) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(v, out);
            }
            out.push(']');
        }
        other @ (Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_)) => {
            out.push_str(&other.to_string());
        }
    }
}

/// Reads `page`: the token must come from a page of the same request (same endpoint, entities,
/// context and limit).
fn page_in(endpoint: &str, obj: &Map<String, Value>) -> Result<PageIn, Bad> {
    let mut text = String::from(endpoint);
    for key in ["subject", "action", "resource", "context"] {
        text.push('|');
        canonical(obj.get(key).unwrap_or(&Value::Null), &mut text);
    }
    let fingerprint: String =
        sha2::Sha256::digest(text.as_bytes()).iter().take(12).map(|b| format!("{b:02x}")).collect();
    let page = match obj.get("page") {
        None | Some(Value::Null) => return Ok(PageIn { after: None, limit: DEFAULT_LIMIT, fingerprint }),
        Some(p) => object(p, "page")?,
    };
    let limit = match page.get("limit") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => match n.as_u64() {
            Some(0) => Some(DEFAULT_LIMIT),
            Some(n) => Some(n.min(MAX_LIMIT)),
            None => return Err(Bad::new("page.limit", "must be a non-negative integer")),
        },
        Some(_) => return Err(Bad::new("page.limit", "must be a non-negative integer")),
    };
    let token = match page.get("token") {
        None | Some(Value::Null) => None,
        Some(Value::String(t)) if t.is_empty() => None,
        Some(Value::String(t)) => Some(t.as_str()),
        Some(_) => return Err(Bad::new("page.token", "must be a string")),
    };
    let Some(token) = token else {
        return Ok(PageIn { after: None, limit: limit.unwrap_or(DEFAULT_LIMIT), fingerprint });
    };
    let not_ours = || {
        Bad::new("page.token", "not a next_token guichet returned: pass it unchanged, or omit it for the first page")
    };
    let decoded = (token.len() <= 1024)
        .then(|| URL_SAFE_NO_PAD.decode(token).ok())
        .flatten()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(not_ours)?;
    let mut parts = decoded.splitn(4, '|');
    let (Some("az1"), Some(fp), Some(token_limit), Some(after)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(not_ours());
    };
    let token_limit: u64 = token_limit.parse().map_err(|_| not_ours())?;
    if fp != fingerprint {
        return Err(Bad::new(
            "page.token",
            "belongs to another request: the subject, action, resource and context must stay the same from page to page",
        ));
    }
    if limit.is_some_and(|l| l != token_limit) {
        return Err(Bad::new("page.limit", "must stay the same from page to page (or be omitted)"));
    }
    Ok(PageIn { after: Some(after.to_owned()), limit: token_limit, fingerprint })
}

fn next_token(page: &PageIn, after: Option<&str>) -> String {
    after.map(|a| URL_SAFE_NO_PAD.encode(format!("az1|{}|{}|{a}", page.fingerprint, page.limit))).unwrap_or_default()
}

fn search_answer(results: Vec<Found>, next: String, revision: Option<Revision>) -> Result<Answer, Failure> {
    let context = revision.map(|r| serde_json::json!({ "revision": r.token() }));
    let out = SearchOut { page: PageOut { next_token: next, count: results.len() }, context, results };
    Ok(Answer { body: to_body(&out)?, decided: None, status: 200, location: None })
}

fn empty() -> Result<Answer, Failure> {
    search_answer(Vec::new(), String::new(), None)
}

fn store_page(after: Option<String>, limit: u64) -> PageRequest {
    PageRequest { after, limit }
}

/// `POST /access/v1/search/subject`: the users who may do the action on the resource.
pub(crate) async fn search_subject(app: &App, body: &Value) -> Result<Answer, Failure> {
    let Body { obj, subject, action, resource, consistency } = body_of(body, false, true)?;
    let page = page_in("subject", obj)?;
    if subject.kind != "user" {
        return empty();
    }
    let Some(permission) = permission_of(app, &resource.kind, &action) else {
        return empty();
    };
    let Place::Found { account, resource } = place(app, &resource, "resource").await? else {
        return empty();
    };
    let (found, revision) = app
        .authorized_subjects(
            &account,
            &permission,
            resource.as_ref(),
            consistency,
            &store_page(page.after.clone(), page.limit),
        )
        .await?;
    let results = found.items.iter().map(|(u, _)| entity_out("user", u.as_str())).collect();
    search_answer(results, next_token(&page, found.next_after.as_deref()), Some(revision))
}

/// `POST /access/v1/search/resource`: the accounts, or the resources of a kind, where the subject
/// may do the action.
pub(crate) async fn search_resource(app: &App, body: &Value) -> Result<Answer, Failure> {
    let Body { obj, subject, action, resource, consistency } = body_of(body, true, false)?;
    let given = given_account(&resource, "resource")?;
    let page = page_in("resource", obj)?;
    let Some(user) = user_of(&subject) else {
        return empty();
    };
    let Some(permission) = permission_of(app, &resource.kind, &action) else {
        return empty();
    };
    if resource.kind == ACCOUNT_RESOURCE_TYPE {
        let (found, revision) = app
            .accessible_accounts(&user, &permission, consistency, &store_page(page.after.clone(), page.limit))
            .await?;
        let results = found.items.iter().map(|a| entity_out(ACCOUNT_RESOURCE_TYPE, a.account.as_str())).collect();
        return search_answer(results, next_token(&page, found.next_after.as_deref()), Some(revision));
    }
    let Ok(kind) = FeatureName::parse(&resource.kind) else {
        return empty();
    };
    let result =
        |ids: &[ResourceId]| -> Vec<Found> { ids.iter().map(|id| entity_out(&resource.kind, id.as_str())).collect() };
    // One page of the resources of the kind the subject reaches in one account.
    let resources_in = async |account: &AccountId, after: Option<String>, limit: u64| {
        app.accessible_resources(&user, account, &permission, Some(&kind), consistency, &store_page(after, limit)).await
    };
    if let Some(account) = given {
        let Ok(account) = AccountId::parse(&account) else {
            return empty();
        };
        let (found, revision) = resources_in(&account, page.after.clone(), page.limit).await?;
        return search_answer(result(&found.items), next_token(&page, found.next_after.as_deref()), Some(revision));
    }
    // Across accounts: the accounts where the subject holds the permission, in id order, and in
    // each the resources of the kind it reaches. The position is `account/resource` (the account
    // in progress and the last resource returned there) or `account/` (that account is done);
    // `/` never occurs in an id.
    let (mut in_progress, mut accounts_after) = match page.after.as_deref().and_then(|a| a.split_once('/')) {
        Some((account, "")) => (None, Some(account.to_owned())),
        Some((account, resource)) => (Some((account.to_owned(), resource.to_owned())), Some(account.to_owned())),
        None if page.after.is_some() => return Err(Bad::new("page.token", "not a next_token guichet returned").into()),
        None => (None, None),
    };
    let limit = page.limit;
    let mut ids: Vec<ResourceId> = Vec::new();
    let mut revision = Revision::ZERO;
    let mut position: Option<String> = None;
    let mut walked = 0u64;
    if let Some((account, after)) = in_progress.take() {
        let account =
            AccountId::parse(&account).map_err(|_| Bad::new("page.token", "not a next_token guichet returned"))?;
        let (found, r) = resources_in(&account, Some(after), limit).await?;
        revision = revision.max(r);
        ids.extend(found.items);
        if found.next_after.is_some() {
            position = ids.last().map(|id| format!("{account}/{id}"));
        } else if ids.len() as u64 >= limit {
            // The page is full and that account is done: the next page starts after it.
            position = Some(format!("{account}/"));
        }
    }
    'walk: while position.is_none() && (ids.len() as u64) < limit {
        let (accounts, r) =
            app.accessible_accounts(&user, &permission, consistency, &store_page(accounts_after.clone(), 100)).await?;
        revision = revision.max(r);
        for a in &accounts.items {
            let room = limit - ids.len() as u64;
            let (found, r) = resources_in(&a.account, None, room).await?;
            revision = revision.max(r);
            let more = found.next_after.is_some();
            ids.extend(found.items);
            walked += 1;
            accounts_after = Some(a.account.to_string());
            if more || ids.len() as u64 >= limit {
                position = ids.last().map(|id| format!("{}/{id}", a.account));
                break 'walk;
            }
            if walked >= MAX_ACCOUNTS_WALKED {
                position = Some(format!("{}/", a.account));
                break 'walk;
            }
        }
        if accounts.next_after.is_none() {
            break;
        }
    }
    search_answer(result(&ids), next_token(&page, position.as_deref()), Some(revision))
}

/// The action names that may apply to `resource_type`: the catalog's named actions for it (a name
/// given for the type hides the same name given for every type), in the catalog's order; when the
/// catalog names none, `feature:view` and `feature:full` of every feature, in the catalog's order.
/// A PEP that speaks its own verbs gets its verbs back, not guichet's permission strings.
fn candidate_actions(app: &App, resource_type: &str) -> Vec<(String, Permission)> {
    let mut out: Vec<(String, Permission)> = Vec::new();
    for a in app.catalog().actions() {
        let applies = a.resource_type.as_deref().is_none_or(|t| t == resource_type);
        if applies
            && !out.iter().any(|(n, _)| *n == a.name)
            && let Some(p) = app.catalog().action(resource_type, &a.name)
        {
            out.push((a.name.clone(), p.clone()));
        }
    }
    if !out.is_empty() {
        return out;
    }
    for f in app.catalog().features() {
        for level in [guichet_domain::Level::View, guichet_domain::Level::Full] {
            if let Ok(p) = Permission::new(f.name.clone(), level) {
                out.push((p.to_string(), p));
            }
        }
    }
    out
}

/// `POST /access/v1/search/action`: the actions the subject may do on the resource.
pub(crate) async fn search_action(app: &App, body: &Value) -> Result<Answer, Failure> {
    let obj = object(body, "body")?;
    let subject = entity(obj.get("subject"), "subject", true)?;
    let resource = entity(obj.get("resource"), "resource", true)?;
    let consistency = context(obj.get("context"), "context")?.unwrap_or_default();
    let page = page_in("action", obj)?;
    let Some(user) = user_of(&subject) else {
        return empty();
    };
    let Place::Found { account, resource: rid } = place(app, &resource, "resource").await? else {
        return empty();
    };
    let start = match page.after.as_deref() {
        None => 0,
        Some(a) => a.parse::<usize>().map_err(|_| Bad::new("page.token", "not a next_token guichet returned"))? + 1,
    };
    let candidates = candidate_actions(app, &resource.kind);
    let requests: Vec<AccessRequest> = candidates
        .iter()
        .map(|(_, p)| AccessRequest {
            subject: user.clone(),
            account: account.clone(),
            permission: p.clone(),
            resource: rid.clone(),
        })
        .collect();
    let (answers, revision) = app.check_access_batch(&requests, consistency).await?;
    let limit = usize::try_from(page.limit).unwrap_or(usize::MAX);
    let mut results = Vec::new();
    let mut last = None;
    let mut more = false;
    for (i, ((name, _), a)) in candidates.iter().zip(&answers).enumerate().skip(start) {
        if !a.allowed {
            continue;
        }
        if results.len() == limit {
            more = true;
            break;
        }
        results.push(Found::Action { name: name.clone() });
        last = Some(i);
    }
    let after = if more { last.map(|i| i.to_string()) } else { None };
    search_answer(results, next_token(&page, after.as_deref()), Some(revision))
}

/// The PDP metadata, every URL under `base`.
pub(crate) fn configuration(base: &str) -> Value {
    serde_json::json!({
        "policy_decision_point": base,
        "access_request_endpoint": format!("{base}/access/v1/requests"),
        "capabilities": ["urn:openid:authzen:capability:access-request"],
        "access_evaluation_endpoint": format!("{base}/access/v1/evaluation"),
        "access_evaluations_endpoint": format!("{base}/access/v1/evaluations"),
        "search_subject_endpoint": format!("{base}/access/v1/search/subject"),
        "search_resource_endpoint": format!("{base}/access/v1/search/resource"),
        "search_action_endpoint": format!("{base}/access/v1/search/action"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entities_are_read_with_the_path_of_what_is_wrong() {
        let v = serde_json::json!({ "type": "user", "id": "alice", "properties": { "x": 1 } });
        assert_eq!(entity(Some(&v), "subject", true).unwrap().id.as_deref(), Some("alice"));
        for (v, with_id, message) in [
            (serde_json::json!("alice"), true, "subject: must be an object"),
            (serde_json::json!({ "id": "alice" }), true, "subject.type: is required"),
            (serde_json::json!({ "type": "user" }), true, "subject.id: is required"),
            (serde_json::json!({ "type": "user", "id": "" }), true, "subject.id: is required (empty)"),
            (serde_json::json!({ "type": 1, "id": "a" }), true, "subject.type: must be a string"),
            (serde_json::json!({ "type": "user", "properties": [] }), false, "subject.properties: must be an object"),
        ] {
            assert_eq!(entity(Some(&v), "subject", with_id).unwrap_err().message(), message);
        }
        // A searched-for entity's id is ignored, whatever it is.
        let v = serde_json::json!({ "type": "user", "id": 12 });
        assert_eq!(entity(Some(&v), "subject", false).unwrap().id, None);
        assert_eq!(
            action(Some(&serde_json::json!({ "name": 123 })), "action").unwrap_err().message(),
            "action.name: must be a string"
        );
        assert_eq!(action(None, "action").unwrap_err().message(), "action: is required");
    }

    #[test]
    fn consistency_is_read_from_the_context() {
        let c = |v: Value| context(Some(&serde_json::json!({ "time": "x", "consistency": v })), "context");
        assert_eq!(c(serde_json::json!({ "fully_consistent": true })).unwrap(), Some(Consistency::FullyConsistent));
        assert_eq!(
            c(serde_json::json!({ "at_least_as_fresh": "r42" })).unwrap(),
            Some(Consistency::AtLeastAsFresh(Revision::parse_token("r42").unwrap()))
        );
        assert_eq!(c(serde_json::json!({ "minimize_latency": true })).unwrap(), Some(Consistency::MinimizeLatency));
        assert!(c(serde_json::json!({ "fully_consistent": false })).is_err());
        assert!(c(serde_json::json!({ "fully_consistent": true, "minimize_latency": true })).is_err());
        assert!(c(serde_json::json!("eventual")).is_err());
        assert_eq!(
            c(serde_json::json!({ "at_least_as_fresh": "42" })).unwrap_err().path,
            "context.consistency.at_least_as_fresh"
        );
        assert_eq!(context(Some(&serde_json::json!({ "time": "x" })), "context").unwrap(), None);
        let r = |n: &str| Consistency::AtLeastAsFresh(Revision::parse_token(n).unwrap());
        assert_eq!(stronger(r("r3"), r("r5")), r("r5"));
        assert_eq!(stronger(Consistency::MinimizeLatency, r("r5")), r("r5"));
        assert_eq!(stronger(r("r5"), Consistency::FullyConsistent), Consistency::FullyConsistent);
    }

    #[test]
    fn page_tokens_belong_to_their_request() {
        let req = |limit: Option<u64>, token: Option<&str>, id: &str| {
            let mut v = serde_json::json!({
                "subject": { "type": "user" },
                "action": { "name": "read" },
                "resource": { "type": "account", "id": id, "properties": { "b": 1, "a": 2 } },
            });
            let mut page = Map::new();
            if let Some(l) = limit {
                page.insert("limit".into(), l.into());
            }
            if let Some(t) = token {
                page.insert("token".into(), t.into());
            }
            v.as_object_mut().unwrap().insert("page".into(), Value::Object(page));
            v
        };
        let first = page_in("subject", req(Some(2), None, "a1").as_object().unwrap()).unwrap();
        assert_eq!((first.after.as_deref(), first.limit), (None, 2));
        let token = next_token(&first, Some("bob"));
        // The same request (limit repeated or omitted) continues after bob.
        for limit in [Some(2), None] {
            let next = page_in("subject", req(limit, Some(&token), "a1").as_object().unwrap()).unwrap();
            assert_eq!((next.after.as_deref(), next.limit), (Some("bob"), 2));
        }
        // Another resource, another endpoint, another limit: refused.
        assert_eq!(
            page_in("subject", req(None, Some(&token), "a2").as_object().unwrap()).unwrap_err().path,
            "page.token"
        );
        assert_eq!(
            page_in("resource", req(None, Some(&token), "a1").as_object().unwrap()).unwrap_err().path,
            "page.token"
        );
        assert_eq!(
            page_in("subject", req(Some(3), Some(&token), "a1").as_object().unwrap()).unwrap_err().path,
            "page.limit"
        );
        assert!(page_in("subject", req(None, Some("garbage"), "a1").as_object().unwrap()).is_err());
        assert_eq!(next_token(&first, None), "");
        // Limits: 0 is the default, large ones are capped.
        assert_eq!(page_in("subject", req(Some(0), None, "a1").as_object().unwrap()).unwrap().limit, 50);
        assert_eq!(page_in("subject", req(Some(5000), None, "a1").as_object().unwrap()).unwrap().limit, 1000);
        // Key order does not change the fingerprint.
        let mut reordered = String::new();
        canonical(&serde_json::json!({ "a": 2, "b": 1 }), &mut reordered);
        assert_eq!(reordered, "{\"a\":2,\"b\":1}");
    }
}
