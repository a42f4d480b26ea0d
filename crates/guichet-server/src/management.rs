//! Management calls on a thread of their own.
//!
//! A replica's checks and its management calls share one runtime, and on a busy replica every
//! `.await` of a call puts it back at the end of a run queue that holds a task per check in flight:
//! a write, which sends a dozen statements or more while it holds the store's revision lock, paid
//! one trip through that queue per statement (at 16 × 8 on one core, milliseconds each), and every
//! other write of every replica waited for the lock meanwhile. [`ManagementLayer`] runs each
//! management RPC (scope `admin`, the change stream aside) on a runtime of its own, one thread:
//! the operating system's scheduler wakes that thread when the database answers, whatever the checks
//! queue on the main runtime, and the statements of a write follow one another at the database's
//! pace. The writer pool's connections are opened there too (they are opened by the first write
//! that needs one), so the readiness of their sockets is that thread's to see.
//!
//! A call stays the same call: its request extensions (the caller), its span, and its
//! cancellation — when the client goes away the task is aborted, as the call's future would have
//! been dropped.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use guichet_domain::{Rpc, Scope};
use tracing::Instrument as _;

/// The runtime management calls run on, and the thread that drives it. Dropping the last handle
/// stops the thread (calls still on it are cancelled).
struct ManagementRuntime {
    handle: tokio::runtime::Handle,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl ManagementRuntime {
    fn start() -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new().name("guichet-management".to_owned()).spawn(move || {
            runtime.block_on(async move {
                let _ = stopped.await;
            });
        })?;
        Ok(Self { handle, _stop: stop })
    }
}

/// Whether the call to `path` runs on the management runtime: the management RPCs, unary ones.
pub(crate) fn runs_apart(path: &str) -> bool {
    Rpc::from_path(path).is_some_and(|rpc| rpc.scope() == Scope::Admin && rpc != Rpc::WatchEvents)
}

/// The layer (see the module docs). Without a runtime (it could not be started) every call runs
/// where it arrives.
#[derive(Clone)]
pub(crate) struct ManagementLayer {
    runtime: Option<Arc<ManagementRuntime>>,
}

impl ManagementLayer {
    /// Starts the management thread; on failure, logs it and runs management calls inline.
    pub(crate) fn start() -> Self {
        match ManagementRuntime::start() {
            Ok(runtime) => Self { runtime: Some(Arc::new(runtime)) },
            Err(error) => {
                tracing::warn!(%error, "cannot start the management thread: management calls share the checks' runtime");
                Self { runtime: None }
            }
        }
    }
}

impl<S> tower::Layer<S> for ManagementLayer {
    type Service = Management<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Management { inner, runtime: self.runtime.clone() }
    }
}

/// See [`ManagementLayer`].
#[derive(Clone)]
pub(crate) struct Management<S> {
    inner: S,
    runtime: Option<Arc<ManagementRuntime>>,
}

type HttpResponse = http::Response<tonic::body::Body>;

/// Aborts the task when the call is dropped (the client went away).
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<S, B> tower::Service<http::Request<B>> for Management<S>
where
    S: tower::Service<http::Request<B>, Response = HttpResponse>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = HttpResponse;
    type Error = S::Error;
    type Future =
        futures::future::Either<S::Future, Pin<Box<dyn Future<Output = Result<HttpResponse, S::Error>> + Send>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let runtime = match &self.runtime {
            Some(runtime) if runs_apart(request.uri().path()) => runtime.handle.clone(),
            Some(_) | None => return futures::future::Either::Left(self.inner.call(request)),
        };
        let call = self.inner.call(request).instrument(tracing::Span::current());
        let task = runtime.spawn(call);
        let guard = AbortOnDrop(task.abort_handle());
        futures::future::Either::Right(Box::pin(async move {
            let outcome = task.await;
            drop(guard);
            match outcome {
                Ok(answer) => answer,
                Err(error) => {
                    Ok(tonic::Status::unavailable(format!("the management call did not finish: {error}")).into_http())
                }
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn management_calls_run_apart_and_checks_do_not() {
        for rpc in Rpc::ALL {
            let apart = runs_apart(rpc.path());
            match rpc.scope() {
                Scope::Admin => assert_eq!(apart, *rpc != Rpc::WatchEvents, "{rpc:?}"),
                Scope::Check | Scope::CheckOrAdmin => assert!(!apart, "{rpc:?}"),
            }
        }
        assert!(runs_apart("/guichet.v1.MembershipService/SetMembershipRoles"));
        assert!(!runs_apart("/guichet.v1.AccessService/CheckAccess"));
        assert!(!runs_apart("/grpc.health.v1.Health/Check"));
        assert!(!runs_apart("/x.Y/Z"));
    }

    /// What answers the test calls: the name of the thread that ran the call, in a header.
    #[derive(Clone)]
    struct ThreadName;

    impl tower::Service<http::Request<()>> for ThreadName {
        type Response = HttpResponse;
        type Error = std::convert::Infallible;
        type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, std::convert::Infallible>> + Send>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }

        /// The name is read when the call's future runs, as a handler's work is done.
        fn call(&mut self, _: http::Request<()>) -> Self::Future {
            Box::pin(async {
                let name = std::thread::current().name().unwrap_or_default().to_owned();
                let mut response = http::Response::new(tonic::body::Body::empty());
                response.headers_mut().insert("x-thread", http::HeaderValue::from_str(&name).unwrap());
                Ok(response)
            })
        }
    }

    /// A management call runs on the management thread, a check where it arrived.
    #[tokio::test]
    async fn a_management_call_runs_on_the_management_thread() {
        use tower::{Layer as _, Service as _};
        let mut service = ManagementLayer::start().layer(ThreadName);
        let mut thread = async |path: &str| {
            let request = http::Request::builder().uri(path).body(()).unwrap();
            let response = service.call(request).await.unwrap();
            response.headers()["x-thread"].to_str().unwrap().to_owned()
        };
        assert_eq!(thread("/guichet.v1.MembershipService/SetMembershipRoles").await, "guichet-management");
        assert_ne!(thread("/guichet.v1.AccessService/CheckAccess").await, "guichet-management");
    }
}
