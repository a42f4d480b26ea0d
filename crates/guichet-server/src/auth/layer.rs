//! The tower layer that authenticates every call before it is routed, enforces its scopes, and
//! puts the [`Caller`](super::Caller) in the request extensions.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tracing::Instrument;

use super::Authenticator;

/// The tower layer that authenticates every call and enforces scopes.
#[derive(Debug, Clone)]
pub struct AuthLayer {
    auth: Arc<Authenticator>,
}

impl AuthLayer {
    /// A layer over an authenticator.
    pub fn new(auth: Arc<Authenticator>) -> Self {
        Self { auth }
    }
}

impl<S> tower::Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService { inner, auth: self.auth.clone() }
    }
}

/// The service [`AuthLayer`] wraps around the routes.
#[derive(Debug, Clone)]
pub struct AuthService<S> {
    inner: S,
    auth: Arc<Authenticator>,
}

impl<S, B> tower::Service<http::Request<B>> for AuthService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        // The clone is not ready; the one that was polled ready handles this call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        match self.auth.authorize(&request) {
            Err(status) => {
                tracing::info!(method = request.uri().path(), code = ?status.code(), "call refused: {}", status.message());
                Box::pin(async move { Ok(status.into_http()) })
            }
            Ok(caller) => {
                // Like the RPC span, none on the check path unless spans are exported.
                let span = if crate::telemetry::spans_for(request.uri().path()) {
                    tracing::info_span!(
                        "caller",
                        service = caller.as_ref().map(|c| &*c.service),
                        auth = caller.as_ref().map(|c| c.method)
                    )
                } else {
                    tracing::Span::none()
                };
                if let Some(c) = &caller {
                    // The RPC span (the telemetry layer, outside this one) names the calling service.
                    tracing::Span::current().record("guichet.caller", &*c.service);
                    request.extensions_mut().insert(c.clone());
                }
                Box::pin(async move { inner.call(request).await }.instrument(span))
            }
        }
    }
}
