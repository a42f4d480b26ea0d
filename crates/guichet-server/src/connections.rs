//! Accepted connections and their maximum age.
//!
//! `max_connection_age` spreads load over new replicas: past that age a connection is asked to go
//! away (HTTP/2 GOAWAY, by tonic's `max_connection_age`), its in-flight calls finish and the client
//! reconnects, possibly to another replica. tonic 0.14.9 does not combine the graceful GOAWAY with
//! a forced close — with `max_connection_age_grace` set it only closes abruptly, without a GOAWAY
//! first — so guichet sets tonic's age alone and enforces the grace here: [`AgedIo`] fails every
//! read and write once age + grace have passed, which makes hyper drop the connection.

use std::future::Future as _;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Sleep;
use tonic::transport::server::Connected;

/// A connection (plain TCP or TLS over TCP) that is closed once its deadline passes.
#[derive(Debug)]
pub(crate) struct AgedIo<T> {
    inner: T,
    deadline: Option<Pin<Box<Sleep>>>,
}

impl AgedIo<TcpStream> {
    /// Wraps a plain TCP connection (with `TCP_NODELAY`); `lifetime` `None`: no deadline.
    pub(crate) fn tcp(inner: TcpStream, lifetime: Option<Duration>) -> Self {
        let _ = inner.set_nodelay(true);
        Self::new(inner, lifetime)
    }
}

impl<T> AgedIo<T> {
    /// Wraps `inner`; `lifetime` `None`: no deadline.
    pub(crate) fn new(inner: T, lifetime: Option<Duration>) -> Self {
        Self { inner, deadline: lifetime.map(|d| Box::pin(tokio::time::sleep(d))) }
    }

    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        self.deadline.as_mut().is_some_and(|d| d.as_mut().poll(cx).is_ready())
    }
}

fn too_old() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "the connection passed its maximum age and grace period")
}

impl<T: AsyncRead + Unpin> AsyncRead for AgedIo<T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.expired(cx) {
            return Poll::Ready(Err(too_old()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for AgedIo<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.expired(cx) {
            return Poll::Ready(Err(too_old()));
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

impl<T: Connected> Connected for AgedIo<T> {
    type ConnectInfo = T::ConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.inner.connect_info()
    }
}
