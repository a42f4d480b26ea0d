//! TLS with rustls (the `ring` provider, the only one in the tree), optional mTLS, and certificate
//! reload without a restart.
//!
//! The server certificate chain and key come from PEM files (`[tls] cert_file`, `key_file`). They
//! are re-read when either file's modification time or size changes (polled every
//! `reload_interval_secs`, 0: never) and on SIGHUP; a new pair that cannot be loaded (unreadable,
//! or a key that does not match the certificate — e.g. halfway through a rotation) is logged and
//! the previous pair kept. The certificate is chosen per handshake through a
//! [`ResolvesServerCert`] that reads the current pair, so the next new connection sees a reloaded
//! one and open connections are not disturbed.
//!
//! With `client_ca_file`, every client must present a certificate that chains to one of its CAs
//! and is valid now (rustls' `WebPkiClientVerifier`); the handshake fails otherwise. The client CA
//! file is read once at start. The certificate's identity is mapped to a service in [`crate::auth`].
//!
//! Handshakes run one task per connection, with a deadline, so a slow or silent client cannot hold
//! up the listener.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use serde::{Deserialize, Serialize};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::server::TlsStream;

/// How long a client has to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// `[tls]`: serve gRPC over TLS.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM file with the server certificate chain, leaf first.
    pub cert_file: PathBuf,
    /// PEM file with the server's private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
    /// PEM file with the CAs that sign client certificates; set: mTLS is required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ca_file: Option<PathBuf>,
    /// How often the certificate and key files are checked for changes, in seconds; 0: never (SIGHUP
    /// still reloads them).
    #[serde(default = "default_reload_interval")]
    pub reload_interval_secs: u64,
}

fn default_reload_interval() -> u64 {
    30
}

/// Why TLS cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file cannot be read or holds no usable PEM item.
    #[error("tls: {path}: {message}")]
    File {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// rustls refused the configuration.
    #[error("tls: {0}")]
    Rustls(String),
}

fn file_error(path: &Path, message: impl ToString) -> TlsError {
    TlsError::File { path: path.display().to_string(), message: message.to_string() }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Reads and checks a certificate chain and its key.
fn load_pair(cert_file: &Path, key_file: &Path) -> Result<CertifiedKey, TlsError> {
    let certs = CertificateDer::pem_file_iter(cert_file)
        .map_err(|e| file_error(cert_file, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(cert_file, e))?;
    if certs.is_empty() {
        return Err(file_error(cert_file, "no CERTIFICATE in the file"));
    }
    let key = PrivateKeyDer::from_pem_file(key_file).map_err(|e| file_error(key_file, e))?;
    CertifiedKey::from_der(certs, key, &provider())
        .map_err(|e| file_error(key_file, format!("does not fit the certificate in {}: {e}", cert_file.display())))
}

/// What the files looked like when last loaded: modification time and size of each.
type Stamp = [(Option<SystemTime>, u64); 2];

fn stamp(cert_file: &Path, key_file: &Path) -> Stamp {
    let one = |p: &Path| match std::fs::metadata(p) {
        Ok(m) => (m.modified().ok(), m.len()),
        Err(_) => (None, 0),
    };
    [one(cert_file), one(key_file)]
}

/// The current certificate, swapped on reload.
#[derive(Debug)]
struct ReloadingCert {
    cert_file: PathBuf,
    key_file: PathBuf,
    current: RwLock<(Arc<CertifiedKey>, Stamp)>,
}

impl ReloadingCert {
    fn new(config: &TlsConfig) -> Result<Self, TlsError> {
        let stamp = stamp(&config.cert_file, &config.key_file);
        let key = load_pair(&config.cert_file, &config.key_file)?;
        Ok(Self {
            cert_file: config.cert_file.clone(),
            key_file: config.key_file.clone(),
            current: RwLock::new((Arc::new(key), stamp)),
        })
    }

    /// Re-reads the files when they changed since the last load (or always, with `force`).
    fn reload(&self, force: bool, why: &str) {
        let now = stamp(&self.cert_file, &self.key_file);
        let unchanged = self.current.read().map(|c| c.1 == now).unwrap_or(false);
        if unchanged && !force {
            return;
        }
        match load_pair(&self.cert_file, &self.key_file) {
            Ok(key) => {
                if let Ok(mut c) = self.current.write() {
                    *c = (Arc::new(key), now);
                }
                tracing::info!(cert_file = %self.cert_file.display(), reason = why, "TLS certificate reloaded");
            }
            Err(e) => {
                tracing::warn!(error = %e, reason = why, "TLS certificate not reloaded; keeping the previous one");
            }
        }
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current.read().ok().map(|c| c.0.clone())
    }
}

/// Accepts TLS connections for the gRPC server.
pub struct TlsAcceptor {
    acceptor: tokio_rustls::TlsAcceptor,
    cert: Arc<ReloadingCert>,
    reload_interval: Option<Duration>,
    mtls: bool,
    #[cfg(unix)]
    hangup: Option<tokio::signal::unix::Signal>,
}

impl std::fmt::Debug for TlsAcceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsAcceptor")
            .field("cert_file", &self.cert.cert_file)
            .field("reload_interval", &self.reload_interval)
            .field("mtls", &self.mtls)
            .finish_non_exhaustive()
    }
}

impl TlsAcceptor {
    /// Loads the certificate, the key and the client CAs, and registers for SIGHUP (which then no
    /// longer ends the process). Must run inside the Tokio runtime. Offers HTTP/2 only (gRPC).
    pub fn new(config: &TlsConfig) -> Result<Self, TlsError> {
        Self::with_alpn(config, vec![b"h2".to_vec()])
    }

    /// [`TlsAcceptor::new`] offering the ALPN protocols `alpn` (the AuthZEN port offers HTTP/1.1).
    pub fn with_alpn(config: &TlsConfig, alpn: Vec<Vec<u8>>) -> Result<Self, TlsError> {
        let cert = Arc::new(ReloadingCert::new(config)?);
        let provider = provider();
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Rustls(e.to_string()))?;
        let builder = match &config.client_ca_file {
            Some(path) => {
                let mut roots = rustls::RootCertStore::empty();
                for ca in CertificateDer::pem_file_iter(path).map_err(|e| file_error(path, e))? {
                    roots.add(ca.map_err(|e| file_error(path, e))?).map_err(|e| file_error(path, e))?;
                }
                if roots.is_empty() {
                    return Err(file_error(path, "no CERTIFICATE in the file"));
                }
                let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                    .build()
                    .map_err(|e| file_error(path, e))?;
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let mut server = builder.with_cert_resolver(cert.clone());
        server.alpn_protocols = alpn;
        #[cfg(unix)]
        let hangup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGHUP: certificates reload on change only");
                None
            }
        };
        Ok(Self {
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(server)),
            cert,
            reload_interval: (config.reload_interval_secs > 0)
                .then(|| Duration::from_secs(config.reload_interval_secs)),
            mtls: config.client_ca_file.is_some(),
            #[cfg(unix)]
            hangup,
        })
    }

    /// Whether clients must present a certificate.
    pub fn mtls(&self) -> bool {
        self.mtls
    }

    /// Accepts connections on `listener` and yields the ones whose handshake succeeded. The accept
    /// loop (and the certificate watcher) stop when the stream is dropped.
    pub fn incoming(
        self,
        listener: TcpListener,
    ) -> tokio_stream::wrappers::ReceiverStream<Result<TlsStream<TcpStream>, io::Error>> {
        #[cfg(unix)]
        let Self { acceptor, cert, reload_interval, mut hangup, .. } = self;
        #[cfg(not(unix))]
        let Self { acceptor, cert, reload_interval, .. } = self;
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(reload_interval.unwrap_or(Duration::from_secs(3600)));
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                #[cfg(unix)]
                let hangup = async {
                    match hangup.as_mut() {
                        Some(s) => s.recv().await,
                        None => std::future::pending().await,
                    }
                };
                #[cfg(not(unix))]
                let hangup = std::future::pending::<Option<()>>();
                tokio::select! {
                    () = tx.closed() => break,
                    Some(()) = hangup => {
                        let cert = cert.clone();
                        let _ = tokio::task::spawn_blocking(move || cert.reload(true, "SIGHUP")).await;
                    }
                    _ = ticker.tick(), if reload_interval.is_some() => {
                        let cert = cert.clone();
                        let _ = tokio::task::spawn_blocking(move || cert.reload(false, "files changed")).await;
                    }
                    accepted = listener.accept() => match accepted {
                        Ok((tcp, peer)) => {
                            let _ = tcp.set_nodelay(true);
                            let acceptor = acceptor.clone();
                            let tx = tx.clone();
                            tokio::spawn(async move {
                                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                                    Ok(Ok(stream)) => {
                                        let _ = tx.send(Ok(stream)).await;
                                    }
                                    // A refused client certificate is worth a warning; a probe
                                    // that connects and leaves is not.
                                    Ok(Err(e)) if e.get_ref().is_some_and(|i| i.is::<rustls::Error>()) => {
                                        tracing::warn!(%peer, error = %e, "TLS handshake failed");
                                    }
                                    Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                                    Err(_) => tracing::info!(%peer, "TLS handshake timed out"),
                                }
                            });
                        }
                        Err(e) => {
                            // Out of file descriptors and the like: wait a little, keep serving.
                            tracing::warn!(error = %e, "cannot accept a connection");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    },
                }
            }
        });
        tokio_stream::wrappers::ReceiverStream::new(rx)
    }
}

/// Checks the `[tls]` section: `(field, description)` when unusable.
pub(crate) fn validate(tls: &TlsConfig) -> Result<(), (&'static str, String)> {
    let files = [
        ("tls.cert_file", Some(&tls.cert_file)),
        ("tls.key_file", Some(&tls.key_file)),
        ("tls.client_ca_file", tls.client_ca_file.as_ref()),
    ];
    for (field, path) in files {
        if let Some(p) = path
            && !p.is_file()
        {
            return Err((field, format!("file {} does not exist", p.display())));
        }
    }
    Ok(())
}
