//! The OpenID **AuthZEN Authorization API 1.0** over HTTP/JSON: the policy enforcement points
//! that platform teams already run (API gateways, identity providers) ask guichet in the
//! standard's words. `docs/authzen.md` is the user's guide; this is the design.
//!
//! # Endpoints
//!
//! | endpoint | answers with | through |
//! |---|---|---|
//! | `POST /access/v1/evaluation` | one decision | [`App::check_access_batch`] (CheckAccess's function) |
//! | `POST /access/v1/evaluations` | decisions, with the three `evaluations_semantic` | [`App::check_access_batch`] |
//! | `POST /access/v1/search/subject` | users | [`App::authorized_subjects`] (ListAuthorizedSubjects) |
//! | `POST /access/v1/search/resource` | accounts or resources | [`App::accessible_accounts`], [`App::accessible_resources`] |
//! | `POST /access/v1/search/action` | action names | [`App::check_access_batch`] over the catalog's actions |
//! | `POST /access/v1/requests` | a task handle (the Access Request profile) | [`App::request_access`] (RequestAccess) |
//! | `GET /access/v1/requests/{id}`, `POST …/{id}/cancel` | the task's status | [`App::get_access_request`], [`App::cancel_access_request`] |
//! | `GET /.well-known/authzen-configuration` | the PDP metadata | `[authzen] public_url`, never the Host header |
//!
//! No decision is made here: every question becomes a guichet [`AccessRequest`](guichet_domain::AccessRequest) and goes through
//! the function the gRPC `CheckAccess` handler calls, so the caches, the fence and the consistency
//! requirements are the same, and so is the answer (a test compares them). The mapping onto
//! guichet's model is in [`api`].
//!
//! # One listener of its own
//!
//! `[authzen] listen` (default `127.0.0.1:8181`), an HTTP/1.1 server (axum, like the admin port)
//! rather than routes on the gRPC port:
//!
//! - the gRPC port speaks HTTP/2 only, and its connection handling is tuned for the check path
//!   (the benchmark's figures); the PEPs of the interop (Envoy's and Kong's plug-ins, Tyk, an IdP's
//!   `fetch`, curl) speak HTTP/1.1, which the gRPC port would have to accept for every caller;
//! - a platform exposes the AuthZEN port to its gateways (a NetworkPolicy, an Ingress) without
//!   exposing the management API, and sizes, probes and rate-limits it apart;
//! - its URL is what the discovery document publishes, and it is nothing else's.
//!
//! What it shares with the gRPC port is everything that matters to security: the same `[tls]`
//! certificate and client CA (rustls, `ring`, reloaded on change or SIGHUP), the same
//! `[[services]]` with the same bearer tokens and mTLS identities, decided by the same
//! [`Authenticator::authenticate`], and the scopes of the rule book's rows (`guichet_domain::Rpc`):
//! each endpoint needs what the RPC it stands for needs — `check` for all of them — so a
//! check-scoped service evaluates and searches, a management-only one gets 403, no credentials
//! (or a wrong token, or a certificate of no service) 401 with `WWW-Authenticate: Bearer`. The
//! discovery document needs no credentials (as health and reflection on the gRPC port). Plaintext
//! without authentication is only for loopback, as on the gRPC port.
//!
//! # Telemetry
//!
//! Each request is one server span named `POST /access/v1/evaluation` (`http.request.method`,
//! `http.route`, `http.response.status_code`, `decision.*`, `cache.tier`, `revision`,
//! `guichet.caller`), continuing the caller's W3C `traceparent`; like CheckAccess, evaluations get
//! a span only when spans are exported. Metrics: `guichet_authzen_requests_total{endpoint,status}`
//! and `guichet_authzen_request_duration_seconds{endpoint,status}`, with `endpoint` one of a fixed
//! set and `status` the HTTP status; decisions count in `guichet_decisions_total`. One log line
//! per request (target `guichet::authzen`): at debug for answered evaluations (unless
//! `log.check_calls`), at info otherwise. No body, header value or token is recorded.
//!
//! One file on purpose: the listener, its authentication, telemetry and error mapping form the
//! HTTP edge as one piece, beside `api.rs` (the specification's shapes and the mapping).

pub(crate) mod api;
pub(crate) mod requests;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_stream::StreamExt as _;
use tracing::Instrument;
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::app::App;
use crate::auth::{Authenticator, Identity, Refusal};
use crate::config::Config;
use crate::telemetry::Decided;
use crate::{metrics, tls};

/// The well-known path of the PDP metadata.
pub const WELL_KNOWN: &str = "/.well-known/authzen-configuration";

/// An endpoint of the API, by path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// `POST /access/v1/evaluation`.
    Evaluation,
    /// `POST /access/v1/evaluations`.
    Evaluations,
    /// `POST /access/v1/search/subject`.
    SearchSubject,
    /// `POST /access/v1/search/resource`.
    SearchResource,
    /// `POST /access/v1/search/action`.
    SearchAction,
    /// `POST /access/v1/requests`: the Access Request profile's submission.
    Requests,
    /// `GET /access/v1/requests/{id}` and `POST /access/v1/requests/{id}/cancel`: a task.
    Task,
    /// `GET /.well-known/authzen-configuration`.
    Configuration,
    /// Anything else: 404.
    Unknown,
}

impl Endpoint {
    /// The API endpoints with their paths.
    const PATHS: [(Endpoint, &'static str); 6] = [
        (Endpoint::Evaluation, "/access/v1/evaluation"),
        (Endpoint::Evaluations, "/access/v1/evaluations"),
        (Endpoint::SearchSubject, "/access/v1/search/subject"),
        (Endpoint::SearchResource, "/access/v1/search/resource"),
        (Endpoint::SearchAction, "/access/v1/search/action"),
        (Endpoint::Requests, "/access/v1/requests"),
    ];

    /// The prefix of a task's paths.
    const TASKS: &'static str = "/access/v1/requests/";

    fn of(path: &str, well_known: &str) -> Self {
        if path == WELL_KNOWN || path == well_known {
            return Endpoint::Configuration;
        }
        if let Some(rest) = path.strip_prefix(Self::TASKS)
            && !rest.is_empty()
            && rest.split('/').count() <= 2
        {
            return Endpoint::Task;
        }
        Self::PATHS.iter().find(|(_, p)| *p == path).map_or(Endpoint::Unknown, |(e, _)| *e)
    }

    /// The metric label and the `http.route`.
    fn label(self) -> &'static str {
        match self {
            Endpoint::Evaluation => "evaluation",
            Endpoint::Evaluations => "evaluations",
            Endpoint::SearchSubject => "search_subject",
            Endpoint::SearchResource => "search_resource",
            Endpoint::SearchAction => "search_action",
            Endpoint::Requests => "requests",
            Endpoint::Task => "task",
            Endpoint::Configuration => "configuration",
            Endpoint::Unknown => "unknown",
        }
    }

    fn route(self) -> &'static str {
        match self {
            Endpoint::Configuration => WELL_KNOWN,
            Endpoint::Unknown => "unknown",
            Endpoint::Task => "/access/v1/requests/{id}",
            e @ (Endpoint::Evaluation
            | Endpoint::Evaluations
            | Endpoint::SearchSubject
            | Endpoint::SearchResource
            | Endpoint::SearchAction
            | Endpoint::Requests) => Self::PATHS.iter().find(|(x, _)| *x == e).map_or("unknown", |(_, p)| p),
        }
    }

    /// The RPC of the rule book each endpoint stands for: its scopes are the endpoint's.
    fn rpc(self) -> Option<guichet_domain::Rpc> {
        use guichet_domain::Rpc;
        match self {
            Endpoint::Evaluation => Some(Rpc::CheckAccess),
            Endpoint::Evaluations | Endpoint::SearchAction => Some(Rpc::CheckAccessBatch),
            Endpoint::SearchSubject => Some(Rpc::ListAuthorizedSubjects),
            // Accounts (ListAccessibleAccounts) and resources (ListAccessibleResources) need the
            // same scope; the rule book's test keeps them in one row each.
            Endpoint::SearchResource => Some(Rpc::ListAccessibleResources),
            // A PEP submits, polls and cancels for the subject of a denial it was given: the
            // evaluation's scope; the rule book then decides for that subject (`requests.rs`).
            Endpoint::Requests | Endpoint::Task => Some(Rpc::CheckAccess),
            Endpoint::Configuration | Endpoint::Unknown => None,
        }
    }

    /// The check path: evaluations, whose answered calls log at debug and get spans only when
    /// spans are exported.
    fn is_check_path(self) -> bool {
        matches!(self, Endpoint::Evaluation | Endpoint::Evaluations)
    }
}

/// Who is on the other end of a connection.
#[derive(Debug, Clone)]
pub(crate) struct Peer {
    /// The identities (SAN URIs and DNS names) of its client certificate, under mTLS.
    identities: Arc<[Identity]>,
}

/// The transport under a connection.
enum Io {
    /// Plaintext (loopback development, or behind a mesh).
    Plain(TcpStream),
    /// TLS.
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

/// A connection, closed when it has carried no byte either way for `[authzen] idle_timeout_secs`:
/// a client that opens connections and sends nothing (or trickles a request) cannot hold them.
pub(crate) struct Conn {
    io: Io,
    idle: Duration,
    deadline: Pin<Box<tokio::time::Sleep>>,
}

impl Conn {
    fn new(io: Io, idle: Duration) -> Self {
        Self { io, idle, deadline: Box::pin(tokio::time::sleep(idle)) }
    }

    fn touch(&mut self) {
        let next = tokio::time::Instant::now() + self.idle;
        self.deadline.as_mut().reset(next);
    }

    /// After an I/O call that is pending: an error once the connection has been idle too long.
    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        self.deadline.as_mut().poll(cx).is_ready()
    }
}

fn idle_error() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::TimedOut, "AuthZEN connection idle for too long")
}

impl AsyncRead for Conn {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = match &mut this.io {
            Io::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        };
        match polled {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.touch();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending if this.expired(cx) => Poll::Ready(Err(idle_error())),
            other @ (Poll::Ready(_) | Poll::Pending) => other,
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let polled = match &mut this.io {
            Io::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        };
        match polled {
            Poll::Ready(Ok(n)) => {
                if n > 0 {
                    this.touch();
                }
                Poll::Ready(Ok(n))
            }
            Poll::Pending if this.expired(cx) => Poll::Ready(Err(idle_error())),
            other @ (Poll::Ready(_) | Poll::Pending) => other,
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_flush(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

type TlsIncoming =
    tokio_stream::wrappers::ReceiverStream<Result<tokio_rustls::server::TlsStream<TcpStream>, std::io::Error>>;

/// The listener axum serves: accepted TCP connections, or TLS connections whose handshake
/// succeeded (the handshakes run in [`tls::TlsAcceptor::incoming`], with its deadline).
pub(crate) enum Incoming {
    /// Plaintext, with the idle timeout.
    Plain(TcpListener, Duration),
    /// TLS, with the idle timeout.
    Tls(TlsIncoming, Duration),
}

impl axum::serve::Listener for Incoming {
    type Io = Conn;
    type Addr = Peer;

    async fn accept(&mut self) -> (Conn, Peer) {
        match self {
            Incoming::Plain(listener, idle) => loop {
                match TcpListener::accept(listener).await {
                    Ok((tcp, _)) => {
                        let _ = tcp.set_nodelay(true);
                        return (Conn::new(Io::Plain(tcp), *idle), Peer { identities: Arc::from(Vec::new()) });
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot accept an AuthZEN connection");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            },
            Incoming::Tls(stream, idle) => loop {
                match stream.next().await {
                    Some(Ok(tls)) => {
                        let identities = tls
                            .get_ref()
                            .1
                            .peer_certificates()
                            .and_then(|certs| certs.first().map(|c| crate::auth::certificate_identities(c.as_ref())))
                            .unwrap_or_default();
                        return (Conn::new(Io::Tls(Box::new(tls)), *idle), Peer { identities: Arc::from(identities) });
                    }
                    Some(Err(e)) => tracing::debug!(error = %e, "AuthZEN connection not accepted"),
                    None => std::future::pending::<()>().await,
                }
            },
        }
    }

    fn local_addr(&self) -> std::io::Result<Peer> {
        Ok(Peer { identities: Arc::from(Vec::new()) })
    }
}

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, Incoming>> for Peer {
    fn connect_info(stream: axum::serve::IncomingStream<'_, Incoming>) -> Self {
        stream.remote_addr().clone()
    }
}

/// What every request handler shares.
#[derive(Debug)]
pub(crate) struct Shared {
    app: App,
    auth: Arc<Authenticator>,
    /// The PDP identifier, without a trailing `/`.
    base_url: String,
    /// The well-known path for `base_url`'s path (RFC 8615 insertion), when it has one.
    well_known: String,
    max_body: usize,
    /// The warnings of `503`s for an unreachable store: once per endpoint and outage, as gRPC's.
    unavailable: crate::telemetry::UnavailableLog,
}

/// The bound AuthZEN server.
#[derive(Debug)]
pub struct AuthzenServer {
    listener: TcpListener,
    local_addr: SocketAddr,
    tls: Option<tls::TlsAcceptor>,
    shared: Arc<Shared>,
    idle: Duration,
}

impl AuthzenServer {
    /// Binds `[authzen] listen` (with `[tls]` when configured).
    pub async fn bind(config: &Config, app: App, auth: Arc<Authenticator>) -> Result<Self, crate::StartError> {
        let addr = config.authzen.listen;
        let listener =
            TcpListener::bind(addr).await.map_err(|source| crate::StartError::AuthzenBind { addr, source })?;
        let local_addr = listener.local_addr().map_err(|source| crate::StartError::AuthzenBind { addr, source })?;
        let tls =
            config.tls.as_ref().map(|t| tls::TlsAcceptor::with_alpn(t, vec![b"http/1.1".to_vec()])).transpose()?;
        let base_url = match &config.authzen.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("{}://{local_addr}", if tls.is_some() { "https" } else { "http" }),
        };
        let path = base_url.splitn(4, '/').nth(3).map(|p| format!("/{p}")).unwrap_or_default();
        let well_known = format!("{WELL_KNOWN}{path}");
        let outage = app.cache().map(|cache| {
            let cache = cache.clone();
            Arc::new(move || cache.breaker().outage()) as crate::telemetry::Outage
        });
        let shared = Arc::new(Shared {
            app,
            auth,
            base_url,
            well_known,
            max_body: config.limits.max_message_bytes,
            unavailable: crate::telemetry::UnavailableLog::new(outage),
        });
        let idle = Duration::from_secs(config.authzen.idle_timeout_secs);
        Ok(Self { listener, local_addr, tls, shared, idle })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The PDP identifier published in the discovery document.
    pub fn base_url(&self) -> &str {
        &self.shared.base_url
    }

    /// Serves until `shutdown` resolves, then lets open requests finish (the caller bounds that).
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send + 'static) {
        let incoming = match self.tls {
            Some(tls) => Incoming::Tls(tls.incoming(self.listener), self.idle),
            None => Incoming::Plain(self.listener, self.idle),
        };
        let router = axum::Router::new().fallback(handle).with_state(self.shared);
        let service = router.into_make_service_with_connect_info::<Peer>();
        if let Err(e) = axum::serve(incoming, service).with_graceful_shutdown(shutdown).await {
            tracing::error!(error = %e, "AuthZEN HTTP server stopped");
        }
    }
}

/// An answer that is not a 200: the status and the message (`{"error": {"status", "message"}}`,
/// the shape the specification gives per-item errors).
#[derive(Debug)]
pub(crate) struct Failure {
    status: StatusCode,
    message: String,
    refusal: Option<Refusal>,
    /// A problem type of the Access Request profile: the answer is `application/problem+json`.
    problem: Option<&'static str>,
    /// A `503` for an unreachable store: `message` is then the cause, logged by [`handle`], and the
    /// answer says [`UNAVAILABLE`] (a flag, not the cause: a `Failure` travels in every `Result`
    /// of the AuthZEN paths and stays small).
    unavailable: bool,
}

impl Failure {
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
            refusal: None,
            problem: None,
            unavailable: false,
        }
    }

    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self { status, message: message.into(), refusal: None, problem: None, unavailable: false }
    }

    /// An RFC 9457 problem of type `kind` (the Access Request profile's errors).
    pub(crate) fn problem(status: u16, kind: &'static str, detail: String) -> Self {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
        Self { status, message: detail, refusal: None, problem: Some(kind), unavailable: false }
    }
}

impl From<crate::error::ServerError> for Failure {
    fn from(e: crate::error::ServerError) -> Self {
        use crate::error::ServerError as E;
        match e {
            E::InvalidArgument(v) => Failure::bad_request(
                v.iter().map(|v| format!("{}: {}", v.field, v.description)).collect::<Vec<_>>().join("; "),
            ),
            E::Unavailable(m) => Failure { unavailable: true, ..Failure::new(StatusCode::SERVICE_UNAVAILABLE, m) },
            E::Aborted(m) => Failure::new(StatusCode::SERVICE_UNAVAILABLE, format!("aborted: {m}; try again")),
            e @ (E::NotFound { .. }
            | E::AlreadyExists { .. }
            | E::FailedPrecondition { .. }
            | E::PermissionDenied { .. }
            | E::Rule { .. }
            | E::RevisionTooOld { .. }
            | E::Unimplemented(_)
            | E::Internal(_)) => {
                tracing::error!(error = %e, "AuthZEN request failed");
                Failure::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
            }
        }
    }
}

/// What a `503` for an unreachable store says.
const UNAVAILABLE: &str = "the store is unavailable; try again";

impl IntoResponse for Failure {
    fn into_response(mut self) -> Response {
        if self.unavailable {
            UNAVAILABLE.clone_into(&mut self.message);
        }
        if let Some(kind) = self.problem {
            let body = serde_json::json!({
                "type": kind,
                "title": self.status.canonical_reason().unwrap_or("error"),
                "status": self.status.as_u16(),
                "detail": self.message,
            });
            let headers = [(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"))];
            return (self.status, headers, body.to_string()).into_response();
        }
        let body = serde_json::json!({ "error": { "status": self.status.as_u16(), "message": self.message } });
        let mut response = (self.status, json_headers(), body.to_string()).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            let challenge = match &self.refusal {
                Some(Refusal::Unauthenticated { reason: "INVALID_TOKEN", .. }) => {
                    "Bearer realm=\"guichet\", error=\"invalid_token\""
                }
                Some(Refusal::Unauthenticated { .. } | Refusal::MissingScope { .. }) | None => {
                    "Bearer realm=\"guichet\""
                }
            };
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
        }
        response
    }
}

fn json_headers() -> [(header::HeaderName, HeaderValue); 1] {
    [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))]
}

/// A 200 answer: the JSON body and, for evaluations, what was decided (for the span).
pub(crate) struct Answer {
    pub(crate) body: String,
    pub(crate) decided: Option<Decided>,
    /// The HTTP status (200, or 202 for an accepted access request).
    pub(crate) status: u16,
    /// The `Location` header, when any.
    pub(crate) location: Option<String>,
}

struct HeaderExtractor<'a>(&'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(header::HeaderName::as_str).collect()
    }
}

/// Every request: the span, the metrics, the log line and `X-Request-ID` around [`dispatch`].
async fn handle(State(shared): State<Arc<Shared>>, ConnectInfo(peer): ConnectInfo<Peer>, request: Request) -> Response {
    let start = Instant::now();
    let endpoint = Endpoint::of(request.uri().path(), &shared.well_known);
    let request_id = request.headers().get("x-request-id").cloned();
    let method = request.method().clone();
    let span = if endpoint.is_check_path() && !crate::telemetry::exporting_spans() {
        tracing::Span::none()
    } else {
        let span = tracing::info_span!(
            target: "guichet::authzen",
            "authzen",
            otel.name = %format!("{method} {}", endpoint.route()),
            otel.kind = "server",
            otel.status_code = Empty,
            http.request.method = %method,
            http.route = endpoint.route(),
            http.response.status_code = Empty,
            decision.allowed = Empty,
            decision.allowed_count = Empty,
            decision.denied_count = Empty,
            cache.tier = Empty,
            revision = Empty,
            guichet.caller = Empty,
        );
        let parent = TraceContextPropagator::new().extract(&HeaderExtractor(request.headers()));
        if parent.span().span_context().is_valid() {
            let _ = span.set_parent(parent);
        }
        span
    };
    let result = dispatch(&shared, endpoint, &peer, request).instrument(span.clone()).await;
    let mut response = match result {
        Ok(answer) => {
            if let Some(d) = &answer.decided {
                d.record(&span);
            }
            let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
            let mut r = (status, json_headers(), answer.body).into_response();
            if let Some(location) = answer.location.as_deref().and_then(|l| HeaderValue::from_str(l).ok()) {
                r.headers_mut().insert(header::LOCATION, location);
            }
            if endpoint == Endpoint::Configuration {
                r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("max-age=300"));
            }
            r
        }
        Err(failure) => {
            if failure.unavailable {
                shared.unavailable.answered(endpoint.route(), &failure.message);
            }
            if failure.status == StatusCode::METHOD_NOT_ALLOWED {
                let allow = match endpoint {
                    Endpoint::Configuration => "GET, HEAD",
                    Endpoint::Task => "GET, POST, DELETE",
                    Endpoint::Evaluation
                    | Endpoint::Evaluations
                    | Endpoint::SearchSubject
                    | Endpoint::SearchResource
                    | Endpoint::SearchAction
                    | Endpoint::Requests
                    | Endpoint::Unknown => "POST",
                };
                let mut r = failure.into_response();
                r.headers_mut().insert(header::ALLOW, HeaderValue::from_static(allow));
                r
            } else {
                failure.into_response()
            }
        }
    };
    if let Some(id) = request_id {
        response.headers_mut().insert("x-request-id", id);
    }
    let status = response.status().as_u16();
    span.record("http.response.status_code", status);
    if status >= 500 {
        span.record("otel.status_code", "error");
    }
    let elapsed = start.elapsed();
    metrics::authzen_finished(endpoint.label(), status, elapsed.as_secs_f64());
    let duration_ms = elapsed.as_secs_f64() * 1_000.0;
    let trace_id = {
        let context = span.context();
        let s = context.span();
        let sc = s.span_context();
        if sc.is_valid() { sc.trace_id().to_string() } else { String::new() }
    };
    let quiet = endpoint.is_check_path() && status == 200 && !crate::telemetry::log_check_calls();
    if quiet {
        tracing::debug!(target: "guichet::authzen", endpoint = endpoint.label(), status, duration_ms, trace_id = %trace_id, "authzen");
    } else {
        tracing::info!(target: "guichet::authzen", endpoint = endpoint.label(), status, duration_ms, trace_id = %trace_id, "authzen");
    }
    response
}

/// Routes, authenticates, reads the body and calls the endpoint.
async fn dispatch(shared: &Shared, endpoint: Endpoint, peer: &Peer, request: Request) -> Result<Answer, Failure> {
    let method = request.method().clone();
    let Some(rpc) = endpoint.rpc() else {
        return match endpoint {
            Endpoint::Configuration if method == Method::GET || method == Method::HEAD => Ok(Answer {
                body: api::configuration(&shared.base_url).to_string(),
                decided: None,
                status: 200,
                location: None,
            }),
            Endpoint::Configuration => Err(Failure::new(StatusCode::METHOD_NOT_ALLOWED, "use GET")),
            Endpoint::Evaluation
            | Endpoint::Evaluations
            | Endpoint::SearchSubject
            | Endpoint::SearchResource
            | Endpoint::SearchAction
            | Endpoint::Requests
            | Endpoint::Task
            | Endpoint::Unknown => Err(Failure::new(
                StatusCode::NOT_FOUND,
                format!("no such endpoint: the AuthZEN endpoints are listed at {WELL_KNOWN}"),
            )),
        };
    };
    let path = request.uri().path().to_owned();
    let caller = shared
        .auth
        .authenticate(
            crate::auth::scopes_of(rpc),
            &path,
            &peer.identities,
            request.headers().get(header::AUTHORIZATION),
        )
        .map_err(|refusal| {
            let status = match refusal {
                Refusal::Unauthenticated { .. } => StatusCode::UNAUTHORIZED,
                Refusal::MissingScope { .. } => StatusCode::FORBIDDEN,
            };
            tracing::info!(path = %path, status = status.as_u16(), "AuthZEN call refused: {}", refusal.message());
            Failure { status, message: refusal.message(), refusal: Some(refusal), problem: None, unavailable: false }
        })?;
    if let Some(c) = &caller {
        tracing::Span::current().record("guichet.caller", &*c.service);
    }
    let service = caller.as_ref().map(|c| c.service.to_string());
    if endpoint == Endpoint::Task {
        let rest = path.strip_prefix(Endpoint::TASKS).unwrap_or_default();
        return match (rest.split_once('/'), &method) {
            (None, m) if *m == Method::GET => requests::status(&shared.app, &shared.base_url, rest).await,
            (Some((id, "cancel")), m) if *m == Method::POST || *m == Method::DELETE => {
                let bytes = axum::body::to_bytes(request.into_body(), shared.max_body)
                    .await
                    .map_err(|_| Failure::bad_request("the body is too large"))?;
                let body = if bytes.iter().all(u8::is_ascii_whitespace) {
                    serde_json::Value::Object(serde_json::Map::new())
                } else {
                    serde_json::from_slice(&bytes)
                        .map_err(|e| Failure::bad_request(format!("the body is not valid JSON: {e}")))?
                };
                requests::cancel(&shared.app, &shared.base_url, service, id, &body).await
            }
            (None | Some((_, "cancel")), _) => {
                Err(Failure::new(StatusCode::METHOD_NOT_ALLOWED, "use GET, or POST to cancel"))
            }
            (Some(_), _) => Err(Failure::new(StatusCode::NOT_FOUND, "no such endpoint")),
        };
    }
    let idempotency_key = request
        .headers()
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().trim_matches('"').to_owned())
        .filter(|v| !v.is_empty() && v.len() <= 128);
    if method != Method::POST {
        return Err(Failure::new(StatusCode::METHOD_NOT_ALLOWED, "use POST"));
    }
    let json = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return Err(Failure::bad_request("the request's Content-Type must be application/json"));
    }
    let body = axum::body::to_bytes(request.into_body(), shared.max_body).await.map_err(|_| {
        Failure::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is larger than {} bytes (limits.max_message_bytes)", shared.max_body),
        )
    })?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(Failure::bad_request("the body is empty: send a JSON object"));
    }
    let value: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| Failure::bad_request(format!("the body is not valid JSON: {e}")))?;
    if !value.is_object() {
        return Err(Failure::bad_request("the body must be a JSON object"));
    }
    let app = &shared.app;
    match endpoint {
        Endpoint::Evaluation => api::evaluation(app, &value, &shared.base_url).await,
        Endpoint::Requests => requests::submit(app, &shared.base_url, service, idempotency_key, &value).await,
        Endpoint::Evaluations => api::evaluations(app, &value).await,
        Endpoint::SearchSubject => api::search_subject(app, &value).await,
        Endpoint::SearchResource => api::search_resource(app, &value).await,
        Endpoint::SearchAction => api::search_action(app, &value).await,
        Endpoint::Configuration | Endpoint::Task | Endpoint::Unknown => {
            Err(Failure::new(StatusCode::NOT_FOUND, "no such endpoint"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_found_by_exact_path_and_stand_for_check_scoped_rpcs() {
        assert_eq!(Endpoint::of("/access/v1/evaluation", WELL_KNOWN), Endpoint::Evaluation);
        assert_eq!(Endpoint::of("/access/v1/evaluations", WELL_KNOWN), Endpoint::Evaluations);
        assert_eq!(Endpoint::of("/access/v1/search/action", WELL_KNOWN), Endpoint::SearchAction);
        assert_eq!(Endpoint::of(WELL_KNOWN, WELL_KNOWN), Endpoint::Configuration);
        assert_eq!(
            Endpoint::of("/.well-known/authzen-configuration/t1", "/.well-known/authzen-configuration/t1"),
            Endpoint::Configuration
        );
        for other in ["/access/v1/evaluation/", "/access/v1/Evaluation", "/", "/access/v1/search"] {
            assert_eq!(Endpoint::of(other, WELL_KNOWN), Endpoint::Unknown, "{other}");
        }
        for (e, _) in Endpoint::PATHS {
            let rpc = e.rpc().unwrap();
            assert_eq!(rpc.scope(), guichet_domain::Scope::Check, "{e:?}");
            assert_eq!(crate::auth::scopes_of(rpc), [crate::auth::Scope::Check]);
        }
        assert_eq!(Endpoint::Configuration.rpc(), None);
    }
}
