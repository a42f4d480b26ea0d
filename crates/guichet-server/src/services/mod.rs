//! The tonic services: thin handlers that convert, call the application, convert back, and the
//! [`DecodeErrorLayer`] that answers a request body that is not protobuf as the client's error.

mod access;
mod accounts;
mod approvals;
mod contacts;
mod delegations;
mod events;
mod invitations;
mod memberships;
pub(crate) mod reflection;
mod resources;
mod roles;
mod users;

use std::task::{Context, Poll};

use futures::TryFutureExt as _;
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

/// A management request as a handler sees it: the validated body, and the call context — who it is
/// for, its idempotency key, and the calling service the auth layer put in the request extensions.
#[derive(Debug)]
pub(crate) struct Called<T> {
    /// The validated body.
    pub(crate) body: T,
    call: crate::app::Call,
}

/// Validates a management request into its domain form, with its call context.
pub(crate) fn authored<T, R>(request: tonic::Request<R>) -> Result<Called<T>, Status>
where
    guichet_proto::convert::Authored<T>: TryFrom<R, Error = Invalid>,
{
    let service = crate::auth::Caller::of(&request).map(|c| c.service.to_string());
    let r: guichet_proto::convert::Authored<T> = parse(request)?;
    let call = crate::app::Call {
        actor: r.actor,
        request_id: r.request_id,
        service,
        trace_id: crate::telemetry::current_trace_id(),
        fingerprint: None,
        admitted_at: None,
        unchanged_since: r.unchanged_since,
        resolves: None,
    };
    Ok(Called { body: r.body, call })
}

/// The call context of a management request.
pub(crate) fn call<T>(r: &Called<T>) -> crate::app::Call {
    r.call.clone()
}

/// A fingerprint of a request body: the RPC and the SHA-256 of its encoding.
pub(crate) fn fingerprint<M: prost::Message>(rpc: &str, message: &M) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(message.encode_to_vec());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("{rpc}:{hex}")
}

/// The response recorded for an idempotency key, if the same request already ran.
async fn replay<Resp: prost::Message + Default>(
    app: &App,
    call: &crate::app::Call,
    request_id: &str,
    fingerprint: &str,
) -> Result<Option<Resp>, Status> {
    let Some(record) =
        app.store().idempotency_record(call.service.as_deref(), request_id).await.map_err(ServerError::from)?
    else {
        return Ok(None);
    };
    if record.fingerprint != fingerprint {
        let details = tonic_types::ErrorDetails::with_bad_request_violation(
            "request_id",
            "already used by a different request: choose a new request_id for a new request",
        );
        return Err(<Status as tonic_types::StatusExt>::with_error_details(
            tonic::Code::AlreadyExists,
            format!("request_id {request_id} was already used by a different request"),
            details,
        ));
    }
    let mut record = record;
    // The first request may have committed and not yet recorded its response: wait briefly.
    for _ in 0..40 {
        if record.response.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        match app.store().idempotency_record(call.service.as_deref(), request_id).await.map_err(ServerError::from)? {
            Some(r) => record = r,
            None => return Ok(None),
        }
    }
    match record.response {
        Some(bytes) => Resp::decode(bytes.as_slice())
            .map(Some)
            .map_err(|e| Status::from(ServerError::Internal(format!("stored response for {request_id}: {e}")))),
        None => Err(Status::aborted(format!(
            "the request with request_id {request_id} was written at {} but its response was not recorded: \
             read the current state instead of retrying",
            record.revision
        ))),
    }
}

/// The commit wait of a write (see [`crate::cache`]): no replica may answer from before it once
/// it has returned.
async fn commit_wait(app: &App) {
    if let Some(cache) = app.cache() {
        let began = std::time::Instant::now();
        cache.commit_wait().await;
        crate::metrics::commit_wait(began.elapsed().as_secs_f64());
    }
}

/// How many times a call made for an actor is admitted before it gives up with ABORTED.
pub(crate) const ADMISSIONS: usize = 8;

/// Runs one application write (`$body`, which uses the call `$call`) atomically with the rules it
/// was admitted by: for an actor, the call notes the store's revision before its rules read
/// anything, and its write commits only if no other write committed since (`CONCURRENT_CHANGE`
/// otherwise, after which `$body` runs again on the new state, up to [`ADMISSIONS`] times, then
/// ABORTED). So a grant is never made on permissions the actor lost while it was being checked.
/// On a calling service's own authority there are no rules to keep and `$body` runs once.
macro_rules! admitted {
    ($app:expr, $call:ident, $body:expr) => {{
        if $call.actor.is_none() {
            $body
        } else {
            let mut outcome = None;
            for _ in 0..$crate::services::ADMISSIONS {
                let base = $app.store().revision().await.map_err($crate::error::ServerError::from)?;
                let $call = $crate::app::Call { admitted_at: Some(base), ..$call.clone() };
                match $body {
                    Err($crate::error::ServerError::FailedPrecondition {
                        kind: guichet_store::idempotency::CONCURRENT_CHANGE,
                        ..
                    }) => {}
                    other => {
                        outcome = Some(other);
                        break;
                    }
                }
            }
            outcome.unwrap_or_else(|| {
                Err($crate::error::ServerError::Aborted(format!(
                    "the store kept changing while the call was admitted, {} times: retry",
                    $crate::services::ADMISSIONS
                )))
            })
        }
    }};
}
pub(crate) use admitted;

/// Runs a mutating call at most once per `request_id`: a replay with the same body returns the
/// first response and writes nothing; the same key with another body is ALREADY_EXISTS.
pub(crate) async fn once<Resp, F>(
    app: &App,
    mut call: crate::app::Call,
    fingerprint: String,
    run: F,
) -> Result<tonic::Response<Resp>, Status>
where
    Resp: prost::Message + Default,
    F: AsyncFnOnce(crate::app::Call) -> Result<Resp, ServerError>,
{
    let Some(request_id) = call.request_id.clone() else {
        let response = run(call).await.map_err(Status::from)?;
        commit_wait(app).await;
        return Ok(tonic::Response::new(response));
    };
    if let Some(previous) = replay(app, &call, &request_id, &fingerprint).await? {
        return Ok(tonic::Response::new(previous));
    }
    call.fingerprint = Some(fingerprint.clone());
    let service = call.service.clone();
    match run(call.clone()).await {
        Ok(response) => {
            commit_wait(app).await;
            if let Err(e) =
                app.store().save_idempotent_response(service.as_deref(), &request_id, response.encode_to_vec()).await
            {
                tracing::warn!(error = %e, "could not record the response of an idempotent request");
            }
            Ok(tonic::Response::new(response))
        }
        Err(ServerError::AlreadyExists { entity: "request_id", .. }) => {
            match replay(app, &call, &request_id, &fingerprint).await? {
                Some(previous) => Ok(tonic::Response::new(previous)),
                None => Err(Status::aborted("a concurrent request with the same request_id is in progress: retry")),
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// Writes a service's `impl` (for tonic's `async_trait`) from its handlers, one entry per RPC,
/// each traced in a span with the RPC's name (`rpc`). `app` names the service's [`App`], `r` the
/// [`Called`] request (body `Body`) and `c` its call context; the block gives the response message,
/// and `?` in it answers the error.
///
/// - `read "Rpc" fn name(Req) -> Resp |app, c, r: Body| { .. }`: a management read.
/// - `write "Rpc" fn name(Req) -> Resp |app, c, r: Body| { .. }`: a management write: run [`once`]
///   per `request_id` (with the request's [`fingerprint`]); the block admits its write with
///   [`admitted!`] where the rules it was checked by must still hold when it commits.
/// - `query "Rpc" fn name(Req) -> Resp |app, q: Query| { .. }`: a request without an actor's
///   context, validated with [`parse`].
/// - `async fn ..` (and `type ..`): a handler (an associated type) written out, kept as it is.
///
/// Where the response is the usual one, the entry names its field and gives the call instead of
/// the block (`expr;`):
///
/// - `read .. -> Resp { field } |app, c, r: Body| expr;`: the entity `expr` reads, in `field`.
/// - `read .. -> Resp { field, next_page_token } |app, c, r: Body, p| expr;`: a page of entities
///   (`p`: the page asked for), in `field`, and the token of the next page.
/// - `write .. -> Resp { field } |app, c, r: Body| expr;`: the entity `expr` writes, in `field`,
///   and the revision of the write.
/// - `write .. -> Resp {} |app, c, r: Body| expr;`: the revision of the write (a deletion).
macro_rules! handlers {
    (impl $($service:ident)::+ for $ty:ident { $($entries:tt)* }) => {
        $crate::services::handlers!(@ [$($service)::+ for $ty] [] $($entries)*);
    };
    (@ $head:tt $done:tt
        read $rpc:literal fn $name:ident($req:ty) -> $resp:path { $field:ident }
        |$app:ident, $c:ident, $r:ident: $body:ty| $run:expr; $($rest:tt)*
    ) => {
        $crate::services::handlers!(@ $head $done read $rpc fn $name($req) -> $resp |$app, $c, $r: $body| {
            let read = $run?;
            $resp { $field: Some((&read).into()) }
        } $($rest)*);
    };
    (@ $head:tt $done:tt
        read $rpc:literal fn $name:ident($req:ty) -> $resp:path { $field:ident, next_page_token }
        |$app:ident, $c:ident, $r:ident: $body:ty, $p:ident| $run:expr; $($rest:tt)*
    ) => {
        $crate::services::handlers!(@ $head $done read $rpc fn $name($req) -> $resp |$app, $c, $r: $body| {
            let $p = $crate::services::page(&$r.body.page)?;
            let found = $run?;
            $resp {
                $field: found.items.iter().map(Into::into).collect(),
                next_page_token: $crate::paging::next_token(found.next_after.as_deref()),
            }
        } $($rest)*);
    };
    (@ $head:tt $done:tt
        write $rpc:literal fn $name:ident($req:ty) -> $resp:path { $field:ident }
        |$app:ident, $c:ident, $r:ident: $body:ty| $run:expr; $($rest:tt)*
    ) => {
        $crate::services::handlers!(@ $head $done write $rpc fn $name($req) -> $resp |$app, $c, $r: $body| {
            let (written, revision) = $run?;
            $resp { $field: Some((&written).into()), revision: revision.token() }
        } $($rest)*);
    };
    (@ $head:tt $done:tt
        write $rpc:literal fn $name:ident($req:ty) -> $resp:path {}
        |$app:ident, $c:ident, $r:ident: $body:ty| $run:expr; $($rest:tt)*
    ) => {
        $crate::services::handlers!(@ $head $done write $rpc fn $name($req) -> $resp |$app, $c, $r: $body| {
            let revision = $run?;
            $resp { revision: revision.token() }
        } $($rest)*);
    };
    (@ [$($head:tt)*] [$($done:tt)*]) => {
        #[tonic::async_trait]
        impl $($head)* { $($done)* }
    };
    (@ $head:tt $done:tt
        read $rpc:literal fn $name:ident($req:ty) -> $resp:ty |$app:ident, $c:ident, $r:ident: $body:ty| $run:block
        $($rest:tt)*
    ) => {
        $crate::services::handlers!(@ $head $done @traced $rpc fn $name($req) -> $resp |$app, request| {
            let $r: $crate::services::Called<$body> = $crate::services::authored(request)?;
            let $c = $crate::services::call(&$r);
            Ok(tonic::Response::new($run))
        } $($rest)*);
    };
    (@ $head:tt $done:tt
        write $rpc:literal fn $name:ident($req:ty) -> $resp:ty |$app:ident, $c:ident, $r:ident: $body:ty| $run:block
        $($rest:tt)*
    ) => {
        $crate::services::handlers!(@ $head $done @traced $rpc fn $name($req) -> $resp |$app, request| {
            let fp = $crate::services::fingerprint(stringify!($name), request.get_ref());
            let $r: $crate::services::Called<$body> = $crate::services::authored(request)?;
            $crate::services::once($app, $crate::services::call(&$r), fp, async |$c| Ok($run)).await
        } $($rest)*);
    };
    (@ $head:tt $done:tt
        query $rpc:literal fn $name:ident($req:ty) -> $resp:ty |$app:ident, $q:ident: $query:ty| $run:block
        $($rest:tt)*
    ) => {
        $crate::services::handlers!(@ $head $done @traced $rpc fn $name($req) -> $resp |$app, request| {
            let $q: $query = $crate::services::parse(request)?;
            Ok(tonic::Response::new($run))
        } $($rest)*);
    };
    // The handler of every kind above: its span, its signature, the service's `App`.
    (@ $head:tt [$($done:tt)*]
        @traced $rpc:literal fn $name:ident($req:ty) -> $resp:ty |$app:ident, $request:ident| $run:block
        $($rest:tt)*
    ) => {
        $crate::services::handlers!(@ $head [$($done)*
            #[tracing::instrument(skip_all, fields(rpc = $rpc))]
            async fn $name(&self, $request: tonic::Request<$req>) -> Result<tonic::Response<$resp>, tonic::Status> {
                let $app = &self.0;
                $run
            }
        ] $($rest)*);
    };
    (@ $head:tt [$($done:tt)*]
        $(#[$meta:meta])* async fn $name:ident($($args:tt)*) -> $ret:ty $run:block
        $($rest:tt)*
    ) => {
        $crate::services::handlers!(@ $head [$($done)* $(#[$meta])* async fn $name($($args)*) -> $ret $run] $($rest)*);
    };
    (@ $head:tt [$($done:tt)*] type $name:ident = $ty:ty; $($rest:tt)*) => {
        $crate::services::handlers!(@ $head [$($done)* type $name = $ty;] $($rest)*);
    };
}
pub(crate) use handlers;

/// Validates paging fields.
pub(crate) fn page(p: &guichet_proto::convert::PageParams) -> Result<guichet_store::PageRequest, Status> {
    paging::page_request(p.size, &p.token).map_err(Status::from)
}

/// Adds every guichet service to the router, each limited to `max_message_bytes` per message.
/// `stopping` turns true when the server begins to shut down: open change streams then end.
pub(crate) fn router<L>(
    router: Router<L>,
    app: &App,
    max_message_bytes: usize,
    stopping: tokio::sync::watch::Receiver<bool>,
) -> Router<L> {
    macro_rules! limited {
        ($server:expr) => {
            $server.max_decoding_message_size(max_message_bytes).max_encoding_message_size(max_message_bytes)
        };
    }
    router
        .add_service(limited!(v1::access_service_server::AccessServiceServer::new(access::Access(app.clone()))))
        .add_service(limited!(v1::account_service_server::AccountServiceServer::new(accounts::Accounts(app.clone()))))
        .add_service(limited!(v1::user_service_server::UserServiceServer::new(users::Users(app.clone()))))
        .add_service(limited!(v1::role_service_server::RoleServiceServer::new(roles::Roles(app.clone()))))
        .add_service(limited!(v1::membership_service_server::MembershipServiceServer::new(memberships::Memberships(
            app.clone()
        ))))
        .add_service(limited!(v1::resource_service_server::ResourceServiceServer::new(resources::Resources(
            app.clone()
        ))))
        .add_service(limited!(v1::delegation_service_server::DelegationServiceServer::new(delegations::Delegations(
            app.clone()
        ))))
        .add_service(limited!(v1::invitation_service_server::InvitationServiceServer::new(invitations::Invitations(
            app.clone()
        ))))
        .add_service(limited!(v1::approval_service_server::ApprovalServiceServer::new(approvals::Approvals(
            app.clone()
        ))))
        .add_service(limited!(v1::contact_service_server::ContactServiceServer::new(contacts::Contacts(app.clone()))))
        .add_service(limited!(v1::event_service_server::EventServiceServer::new(events::Events(app.clone(), stopping))))
}

/// How tonic's prost codec starts the message of the status it answers when a request body does
/// not decode (prost's `DecodeError` display, sent as `INTERNAL`).
const DECODE_ERROR_PREFIX: &str = "failed to decode Protobuf message: ";

/// Answers a request body that does not decode as the RPC's request message with
/// `INVALID_ARGUMENT` and a `google.rpc.BadRequest` violation of `body`, where tonic's prost codec
/// answers `INTERNAL`: the bytes are the client's mistake, not a bug of guichet. It rewrites only
/// the trailers-only answer tonic gives before any handler runs (every RPC with a unary request:
/// all of guichet's and health's), so no handler's status is ever touched.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct DecodeErrorLayer;

impl<S> tower::Layer<S> for DecodeErrorLayer {
    type Service = DecodeErrors<S>;

    fn layer(&self, inner: S) -> Self::Service {
        DecodeErrors { inner }
    }
}

/// See [`DecodeErrorLayer`].
#[derive(Debug, Clone)]
pub(crate) struct DecodeErrors<S> {
    inner: S,
}

type HttpResponse = http::Response<tonic::body::Body>;

impl<S, B> tower::Service<http::Request<B>> for DecodeErrors<S>
where
    S: tower::Service<http::Request<B>, Response = HttpResponse>,
{
    type Response = HttpResponse;
    type Error = S::Error;
    type Future = futures::future::MapOk<S::Future, fn(HttpResponse) -> HttpResponse>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        self.inner.call(request).map_ok(invalid_body as fn(HttpResponse) -> HttpResponse)
    }
}

/// The answer, with a decoding failure of the request body turned into `INVALID_ARGUMENT`.
fn invalid_body(response: HttpResponse) -> HttpResponse {
    // Cheap for every other answer: one header compared.
    if response.headers().get("grpc-status").map(http::HeaderValue::as_bytes) != Some(b"13") {
        return response;
    }
    let Some(status) = Status::from_header_map(response.headers()) else {
        return response;
    };
    let Some(reason) = status.message().strip_prefix(DECODE_ERROR_PREFIX) else {
        return response;
    };
    let description = format!("is not a protobuf encoding of the request message: {reason}");
    Status::from(ServerError::invalid("body", description)).into_http()
}

#[cfg(test)]
mod tests {
    use tonic::Code;
    use tonic_types::StatusExt;

    use super::*;

    #[test]
    fn only_a_body_that_does_not_decode_becomes_invalid_argument() {
        // Field 1 with wire type 7, which does not exist; answered as tonic-prost answers it.
        let error = <() as prost::Message>::decode(&b"\x0f"[..]).unwrap_err();
        let answer = invalid_body(Status::internal(error.to_string()).into_http());
        let status = Status::from_header_map(answer.headers()).unwrap();
        assert_eq!(status.code(), Code::InvalidArgument);
        let violations = status.get_error_details().bad_request().unwrap().field_violations.clone();
        assert_eq!(violations.len(), 1);
        assert_eq!(violations[0].field, "body");
        assert_eq!(
            violations[0].description,
            "is not a protobuf encoding of the request message: invalid wire type value: 7"
        );

        // Any other INTERNAL answer, and every other code, is left as it is.
        for other in [Status::internal("internal error"), Status::not_found("account acme not found")] {
            let answer = invalid_body(other.clone().into_http());
            let status = Status::from_header_map(answer.headers()).unwrap();
            assert_eq!((status.code(), status.message()), (other.code(), other.message()));
        }
        let ok = invalid_body(http::Response::new(tonic::body::Body::empty()));
        assert!(ok.headers().get("grpc-status").is_none());
    }

    mod admission {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};

        use guichet_domain::{
            AccountId, AccountKind, Catalog, Email, FeatureName, MembershipId, NewAccount, NewMembership, NewResource,
            NewUser, ResourceId, RoleName, UserId,
        };
        use guichet_store::{Store, StoreOptions};

        use crate::app::{App, Call};
        use crate::clock::SystemClock;
        use crate::error::ServerError;

        /// The hotel, administered by Hélène; a temp SQLite file.
        async fn hotel() -> (App, tempfile::TempDir) {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
            let catalog = Arc::new(Catalog::builtin().unwrap());
            let store = Store::connect(&StoreOptions::new(url), catalog.clone()).await.unwrap();
            store.migrate().await.unwrap();
            let app = App::new(store, catalog, Arc::new(SystemClock));
            let service = Call::service();
            let account = NewAccount {
                id: Some(AccountId::parse("hotel-lumiere").unwrap()),
                name: "Hôtel Lumière".to_owned(),
                kind: AccountKind::parse("direct_client").unwrap(),
                parent: None,
                modules: None,
                settings: None,
            };
            app.create_account(&service, &account).await.unwrap();
            let lucie = NewUser {
                id: Some(UserId::parse("helene").unwrap()),
                email: Email::parse("helene@hotel-lumiere.fr").unwrap(),
                given_name: "Hélène".to_owned(),
                family_name: "Durand".to_owned(),
                phone: None,
                idp_subject: None,
            };
            app.create_user(&service, None, &lucie).await.unwrap();
            let membership = NewMembership {
                id: Some(MembershipId::parse("m-helene").unwrap()),
                account: AccountId::parse("hotel-lumiere").unwrap(),
                user: UserId::parse("helene").unwrap(),
                roles: vec![RoleName::parse("account_manager").unwrap()],
                restriction: None,
                expires_at: None,
            };
            app.create_membership(&service, &membership).await.unwrap();
            (app, dir)
        }

        fn folder(id: &str) -> NewResource {
            NewResource {
                id: Some(ResourceId::parse(id).unwrap()),
                account: AccountId::parse("hotel-lumiere").unwrap(),
                kind: FeatureName::parse("folder").unwrap(),
                name: format!("Dossier {id}"),
            }
        }

        fn helene() -> Call {
            Call { actor: Some(UserId::parse("helene").unwrap()), ..Call::default() }
        }

        #[tokio::test]
        async fn a_write_admitted_before_another_commits_is_admitted_again() {
            let (app, _dir) = hotel().await;
            let attempts = AtomicUsize::new(0);
            let c = helene();
            let outcome: Result<_, ServerError> = async {
                admitted!(app, c, {
                    // Another write commits between this call's admission and its write, once.
                    if attempts.fetch_add(1, Ordering::SeqCst) == 0 {
                        app.create_resource(&Call::service(), &folder("autre-dossier")).await.unwrap();
                    }
                    app.create_resource(&c, &folder("dossier-2026")).await
                })
            }
            .await;
            outcome.unwrap();
            assert_eq!(attempts.load(Ordering::SeqCst), 2);
            assert!(app.store().get_resource(&ResourceId::parse("dossier-2026").unwrap()).await.is_ok());
        }

        #[tokio::test]
        async fn a_write_that_never_gets_a_quiet_store_is_aborted_and_writes_nothing() {
            let (app, _dir) = hotel().await;
            let attempts = AtomicUsize::new(0);
            let c = helene();
            let outcome: Result<_, ServerError> = async {
                admitted!(app, c, {
                    let n = attempts.fetch_add(1, Ordering::SeqCst);
                    app.create_resource(&Call::service(), &folder(&format!("autre-{n}"))).await.unwrap();
                    app.create_resource(&c, &folder("dossier-2026")).await
                })
            }
            .await;
            assert!(matches!(outcome, Err(ServerError::Aborted(_))), "{outcome:?}");
            assert_eq!(attempts.load(Ordering::SeqCst), super::super::ADMISSIONS);
            assert!(app.store().get_resource(&ResourceId::parse("dossier-2026").unwrap()).await.is_err());
        }

        #[tokio::test]
        async fn on_the_service_authority_a_write_runs_once() {
            let (app, _dir) = hotel().await;
            let attempts = AtomicUsize::new(0);
            let c = Call::service();
            let outcome: Result<_, ServerError> = async {
                admitted!(app, c, {
                    attempts.fetch_add(1, Ordering::SeqCst);
                    app.create_resource(&c, &folder("dossier-2026")).await
                })
            }
            .await;
            outcome.unwrap();
            assert_eq!(attempts.load(Ordering::SeqCst), 1);
        }
    }
}
