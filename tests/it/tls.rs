//! TLS, mTLS, bearer tokens and scopes, end to end: the real binary, certificates made in the test
//! with rcgen, tonic clients, a raw rustls client (to see which certificate is served) and grpcurl.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use guichet_proto::v1 as pb;
use std::net::SocketAddr;

use guichet_tests::{
    Backend, Config, TestApp, TestDatabase, TestServer, config_from_toml, details, grpcurl, guichet_bin, spawn_app,
};
use rcgen::string::Ia5String;
use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, SanType};
use tonic::Code;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

use crate::contract::{assert_missing_scope, services_toml};

const SHOP_SPIFFE: &str = "spiffe://cluster.local/ns/shop/sa/api";
const BACKOFFICE_DNS: &str = "backoffice.internal";
const SHOP_TOKEN: &str = "shop-token-4f1c2a";
const BACKOFFICE_TOKEN: &str = "backoffice-token-9d8e7b";

/// A certificate authority made for one test.
pub(crate) struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pub(crate) pem: String,
}

/// A certificate and its key, in PEM.
pub(crate) struct Leaf {
    pub(crate) cert: String,
    pub(crate) key: String,
    der: Vec<u8>,
}

impl Ca {
    pub(crate) fn new(name: &str) -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let cert = params.self_signed(&key).unwrap();
        Self { pem: cert.pem(), issuer: Issuer::new(params, key) }
    }

    pub(crate) fn leaf(&self, sans: &[SanType], purpose: ExtendedKeyUsagePurpose, expired: bool) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.subject_alt_names = sans.to_vec();
        params.extended_key_usages = vec![purpose];
        if expired {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf { cert: cert.pem(), key: key.serialize_pem(), der: cert.der().to_vec() }
    }

    pub(crate) fn server(&self) -> Leaf {
        let sans =
            [SanType::DnsName(Ia5String::try_from("localhost").unwrap()), SanType::IpAddress([127, 0, 0, 1].into())];
        self.leaf(&sans, ExtendedKeyUsagePurpose::ServerAuth, false)
    }

    pub(crate) fn client_uri(&self, uri: &str, expired: bool) -> Leaf {
        self.leaf(&[SanType::URI(Ia5String::try_from(uri).unwrap())], ExtendedKeyUsagePurpose::ClientAuth, expired)
    }

    fn client_dns(&self, name: &str) -> Leaf {
        self.leaf(&[SanType::DnsName(Ia5String::try_from(name).unwrap())], ExtendedKeyUsagePurpose::ClientAuth, false)
    }
}

/// A folder with the server's certificate files and configuration.
struct Setup {
    dir: tempfile::TempDir,
    server_ca: Ca,
}

impl Setup {
    /// Writes the server pair and a configuration: mTLS when `client_ca` is given.
    fn new(client_ca: Option<&Ca>, reload_interval_secs: u64) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let server_ca = Ca::new("server CA");
        let s = Self { dir, server_ca };
        s.write_server_pair(&s.server_ca.server());
        let mut config = format!(
            "[tls]\ncert_file = {:?}\nkey_file = {:?}\nreload_interval_secs = {reload_interval_secs}\n",
            s.path("server.pem"),
            s.path("server.key")
        );
        if let Some(ca) = client_ca {
            std::fs::write(s.path("client-ca.pem"), &ca.pem).unwrap();
            config.push_str(&format!("client_ca_file = {:?}\n", s.path("client-ca.pem")));
        }
        config.push_str(&services_toml(&[
            ("shop", &["check"], &[SHOP_SPIFFE], SHOP_TOKEN),
            ("backoffice", &["check", "admin"], &[BACKOFFICE_DNS], BACKOFFICE_TOKEN),
        ]));
        std::fs::write(s.path("guichet.toml"), config).unwrap();
        s
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn config(&self) -> String {
        self.path("guichet.toml").display().to_string()
    }

    fn write_server_pair(&self, leaf: &Leaf) {
        // Key first, then the certificate: a reload that sees a half-written pair keeps the old one.
        std::fs::write(self.path("server.key"), &leaf.key).unwrap();
        std::fs::write(self.path("server.pem"), &leaf.cert).unwrap();
    }

    /// A new pair of the server CA, written in place of the one served.
    fn new_server_pair(&self) -> Leaf {
        let leaf = self.server_ca.server();
        self.write_server_pair(&leaf);
        leaf
    }

    /// The server in-process.
    async fn start(&self) -> (TestDatabase, TestApp) {
        let db = TestDatabase::new(Backend::Sqlite).await.unwrap();
        let text = std::fs::read_to_string(self.config()).unwrap();
        let s = spawn_app(Config { demo: true, ..config_from_toml(&db.url, &text) }).await;
        (db, s)
    }

    /// The `guichet` process, for what only a process shows (a signal, its log).
    async fn start_process(&self) -> (TestDatabase, TestServer) {
        let db = TestDatabase::new(Backend::Sqlite).await.unwrap();
        let s = TestServer::launch(&db.url, &["--demo", "--config", &self.config()]).await;
        (db, s)
    }
}

/// A TLS channel trusting `ca`, with a client certificate when given.
async fn connect(addr: SocketAddr, ca: &Ca, client: Option<&Leaf>) -> Result<Channel, tonic::transport::Error> {
    let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&ca.pem)).domain_name("localhost");
    if let Some(c) = client {
        tls = tls.identity(Identity::from_pem(&c.cert, &c.key));
    }
    Channel::from_shared(format!("https://{addr}")).unwrap().tls_config(tls)?.connect().await
}

fn check_request(token: Option<&str>) -> tonic::Request<pb::CheckAccessRequest> {
    let mut r = tonic::Request::new(pb::CheckAccessRequest {
        subject_id: "marc".into(),
        account_id: "boulangerie-martin".into(),
        permission: "folders:view".into(),
        resource_id: "bm-dossier-2025".into(),
        consistency: None,
    });
    if let Some(t) = token {
        r.metadata_mut().insert("authorization", format!("Bearer {t}").parse().unwrap());
    }
    r
}

async fn check(channel: &Channel, token: Option<&str>) -> Result<bool, tonic::Status> {
    pb::access_service_client::AccessServiceClient::new(channel.clone())
        .check_access(check_request(token))
        .await
        .map(|r| r.into_inner().allowed)
}

async fn create_account(channel: &Channel, id: &str, token: Option<&str>) -> Result<(), tonic::Status> {
    let mut r = tonic::Request::new(pb::CreateAccountRequest {
        id: id.into(),
        name: format!("Compte {id}"),
        kind: "partner".into(),
        ..Default::default()
    });
    if let Some(t) = token {
        r.metadata_mut().insert("authorization", format!("Bearer {t}").parse().unwrap());
    }
    pb::account_service_client::AccountServiceClient::new(channel.clone()).create_account(r).await.map(|_| ())
}

async fn events_of(channel: &Channel, account: &str, token: Option<&str>) -> Vec<pb::Event> {
    let mut r = tonic::Request::new(pb::ListEventsRequest { account_id: account.into(), ..Default::default() });
    if let Some(t) = token {
        r.metadata_mut().insert("authorization", format!("Bearer {t}").parse().unwrap());
    }
    pb::event_service_client::EventServiceClient::new(channel.clone()).list_events(r).await.unwrap().into_inner().events
}

/// Asserts that the account was never created.
async fn assert_no_account(channel: &Channel, id: &str, token: Option<&str>) {
    let mut r = tonic::Request::new(pb::GetAccountRequest { id: id.into(), ..Default::default() });
    if let Some(t) = token {
        r.metadata_mut().insert("authorization", format!("Bearer {t}").parse().unwrap());
    }
    let e = pb::account_service_client::AccountServiceClient::new(channel.clone()).get_account(r).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound, "{e:?}");
}

fn assert_unauthenticated(status: &tonic::Status, reason: &str) {
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert_eq!(details(status).error_info().map(|i| i.reason.as_str()), Some(reason), "{status:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn mtls_serves_trusted_clients_by_identity_and_scope_and_audits_the_service() {
    let client_ca = Ca::new("client CA");
    let setup = Setup::new(Some(&client_ca), 30);
    let (_db, s) = setup.start().await;

    // The shop (a SPIFFE id, `check` only) is served CheckAccess, and refused management calls.
    let shop = connect(s.addr, &setup.server_ca, Some(&client_ca.client_uri(SHOP_SPIFFE, false))).await.unwrap();
    assert!(check(&shop, None).await.unwrap());
    let e = create_account(&shop, "par-la-boutique", None).await.unwrap_err();
    assert_missing_scope(&e, "shop", "admin");

    // The back office (a DNS name, both scopes) writes; its event records the service.
    let backoffice = connect(s.addr, &setup.server_ca, Some(&client_ca.client_dns(BACKOFFICE_DNS))).await.unwrap();
    assert!(check(&backoffice, None).await.unwrap());
    create_account(&backoffice, "par-le-back-office", None).await.unwrap();
    let events = events_of(&backoffice, "par-le-back-office", None).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!((events[0].r#type.as_str(), events[0].service.as_str()), ("account.created", "backoffice"));
    // The refused call wrote nothing.
    assert_no_account(&backoffice, "par-la-boutique", None).await;

    // A certificate from the trusted CA whose identity is no configured service.
    let stranger =
        connect(s.addr, &setup.server_ca, Some(&client_ca.client_uri("spiffe://cluster.local/ns/x/sa/y", false)))
            .await
            .unwrap();
    assert_unauthenticated(&check(&stranger, None).await.unwrap_err(), "UNKNOWN_IDENTITY");

    // Health and reflection need no scope.
    let health = tonic_health::pb::health_client::HealthClient::new(stranger.clone())
        .check(tonic_health::pb::HealthCheckRequest { service: String::new() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(health.status(), tonic_health::pb::health_check_response::ServingStatus::Serving);
}

/// What a client whose certificate the server refuses sees: the TLS 1.3 handshake completes on the
/// client's side before the server has checked the client's certificate, so the connection is
/// established, and the server's alert ends it at the first call: UNAVAILABLE or UNKNOWN with a
/// transport error, never an answer.
async fn refused(s: &TestServer, server_ca: &Ca, client: Option<&Leaf>) -> String {
    match connect(s.addr, server_ca, client).await {
        Err(e) => format!("connect: {e:?}"),
        Ok(channel) => {
            let status = check(&channel, None).await.expect_err("a refused client certificate must not be served");
            let mut chain = String::new();
            let mut source = std::error::Error::source(&status);
            while let Some(e) = source {
                chain.push_str(&format!(" <- {e}"));
                source = e.source();
            }
            format!("call: {:?}: {}{chain}", status.code(), status.message())
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn mtls_refuses_untrusted_missing_and_expired_client_certificates() {
    let client_ca = Ca::new("client CA");
    let setup = Setup::new(Some(&client_ca), 30);
    let (_db, s) = setup.start_process().await;

    let untrusted = Ca::new("another CA").client_uri(SHOP_SPIFFE, false);
    let expired = client_ca.client_uri(SHOP_SPIFFE, true);
    let cases = [
        ("untrusted", Some(&untrusted), "TLS handshake failed", "invalid peer certificate: UnknownIssuer"),
        ("missing", None, "TLS handshake failed", "peer sent no certificates"),
        ("expired", Some(&expired), "TLS handshake failed", "invalid peer certificate: certificate expired"),
    ];
    for (what, client, logged, reason) in cases {
        let outcome = refused(&s, &setup.server_ca, client).await;
        // Which of the two depends on whether the server's close arrives before or while the
        // request is written.
        assert!(
            outcome.starts_with("call: Cancelled: operation was canceled <- transport error")
                || outcome.starts_with("call: Unknown: transport error <- transport error"),
            "{what}: {outcome}"
        );
        // The server says why, as a warning (written after the client saw the refusal).
        let (found, log) = s.stderr_line(|l| l.contains(logged) && l.contains(reason)).await;
        assert!(found, "{what}: no {reason} in:\n{log}");
    }
    // And the trusted client is still served.
    let shop = connect(s.addr, &setup.server_ca, Some(&client_ca.client_uri(SHOP_SPIFFE, false))).await.unwrap();
    assert!(check(&shop, None).await.unwrap());
}

#[tokio::test(flavor = "multi_thread")]
async fn bearer_tokens_authenticate_services_over_tls() {
    let setup = Setup::new(None, 30);
    let (_db, s) = setup.start().await;
    let channel = connect(s.addr, &setup.server_ca, None).await.unwrap();

    assert!(check(&channel, Some(SHOP_TOKEN)).await.unwrap());
    assert_unauthenticated(&check(&channel, Some("not-a-token")).await.unwrap_err(), "INVALID_TOKEN");
    assert_unauthenticated(&check(&channel, None).await.unwrap_err(), "NO_CREDENTIALS");
    // A `check` service cannot manage.
    assert_missing_scope(&create_account(&channel, "refuse", Some(SHOP_TOKEN)).await.unwrap_err(), "shop", "admin");
    assert_unauthenticated(&create_account(&channel, "refuse", Some("x")).await.unwrap_err(), "INVALID_TOKEN");
    // An admin service can, and its name is on the audit event.
    create_account(&channel, "par-jeton", Some(BACKOFFICE_TOKEN)).await.unwrap();
    let events = events_of(&channel, "par-jeton", Some(BACKOFFICE_TOKEN)).await;
    assert_eq!(events.iter().map(|e| e.service.as_str()).collect::<Vec<_>>(), ["backoffice"]);
    assert_no_account(&channel, "refuse", Some(BACKOFFICE_TOKEN)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plaintext_client_cannot_talk_to_a_tls_server() {
    let setup = Setup::new(None, 30);
    let (_db, s) = setup.start().await;
    let plaintext = Channel::from_shared(format!("http://{}", s.addr)).unwrap().connect_lazy();
    let e = check(&plaintext, Some(SHOP_TOKEN)).await.unwrap_err();
    assert!(matches!(e.code(), Code::Unavailable | Code::Unknown | Code::Internal), "{e:?}");
}

/// The certificate a new TLS connection is served, read with a raw rustls client trusting `cas`.
async fn served_certificate(addr: std::net::SocketAddr, cas: &[&Ca]) -> Vec<u8> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for ca in cas {
        roots.add(rustls::pki_types::CertificateDer::from_pem_slice(ca.pem.as_bytes()).unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = connector.connect(name, tcp).await.unwrap();
    tls.get_ref().1.peer_certificates().unwrap()[0].as_ref().to_vec()
}

/// Polls new connections until `want` is served (the reload is asynchronous); returns what was seen.
async fn wait_for_certificate(addr: std::net::SocketAddr, cas: &[&Ca], want: &[u8]) -> Vec<u8> {
    let mut seen = Vec::new();
    for _ in 0..300 {
        seen = served_certificate(addr, cas).await;
        if seen == want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    seen
}

#[tokio::test(flavor = "multi_thread")]
async fn a_changed_certificate_is_served_to_new_connections_without_a_restart() {
    let setup = Setup::new(None, 1);
    let first = setup.new_server_pair();
    let (_db, s) = setup.start_process().await;
    let other_ca = Ca::new("next server CA");
    assert_eq!(served_certificate(s.addr, &[&setup.server_ca, &other_ca]).await, first.der);
    let old_channel = connect(s.addr, &setup.server_ca, None).await.unwrap();
    assert!(check(&old_channel, Some(SHOP_TOKEN)).await.unwrap());

    let next = other_ca.server();
    setup.write_server_pair(&next);
    assert_eq!(wait_for_certificate(s.addr, &[&setup.server_ca, &other_ca], &next.der).await, next.der);
    // New tonic connections need the new CA; the connection opened before still works.
    let new_channel = connect(s.addr, &other_ca, None).await.unwrap();
    assert!(check(&new_channel, Some(SHOP_TOKEN)).await.unwrap());
    assert!(check(&old_channel, Some(SHOP_TOKEN)).await.unwrap());

    // A broken pair (a key that is not the certificate's) is refused: the last good one stays.
    let broken = other_ca.server();
    std::fs::write(setup.path("server.pem"), &broken.cert).unwrap();
    let mut logged = false;
    for _ in 0..300 {
        if s.stderr().contains("TLS certificate not reloaded") {
            logged = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(logged, "{}", s.stderr());
    assert_eq!(served_certificate(s.addr, &[&setup.server_ca, &other_ca]).await, next.der);
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_reloads_the_certificate() {
    // No polling: only SIGHUP reloads.
    let setup = Setup::new(None, 0);
    let first = setup.new_server_pair();
    let (_db, s) = setup.start_process().await;
    let next = setup.new_server_pair();
    assert_eq!(served_certificate(s.addr, &[&setup.server_ca]).await, first.der);
    s.signal("HUP");
    assert_eq!(wait_for_certificate(s.addr, &[&setup.server_ca], &next.der).await, next.der);
    // SIGHUP did not end the process.
    let channel = connect(s.addr, &setup.server_ca, None).await.unwrap();
    assert!(check(&channel, Some(SHOP_TOKEN)).await.unwrap());
}

#[tokio::test(flavor = "multi_thread")]
async fn grpcurl_speaks_mtls_with_cacert_cert_and_key() {
    let Some(bin) = grpcurl() else { return };
    let client_ca = Ca::new("client CA");
    let setup = Setup::new(Some(&client_ca), 30);
    let (_db, s) = setup.start().await;
    let client = client_ca.client_uri(SHOP_SPIFFE, false);
    let write = |name: &str, text: &str| -> String {
        let p = setup.path(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    let (ca, cert, key) =
        (write("ca.pem", &setup.server_ca.pem), write("shop.pem", &client.cert), write("shop.key", &client.key));
    let addr = format!("localhost:{}", s.addr.port());
    let tls = ["-cacert", ca.as_str(), "-cert", cert.as_str(), "-key", key.as_str()];
    let run = |args: &[&str]| {
        let out = std::process::Command::new(&bin).args(tls).args(args).output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };

    let (ok, out, err) = run(&[&addr, "list"]);
    assert!(ok, "{err}");
    assert!(out.lines().any(|l| l.trim() == "guichet.v1.AccessService"), "{out}");

    let body = r#"{"subject_id":"marc","account_id":"boulangerie-martin","permission":"folders:view","resource_id":"bm-dossier-2025"}"#;
    let (ok, out, err) = run(&["-d", body, &addr, "guichet.v1.AccessService/CheckAccess"]);
    assert!(ok, "{err}");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["allowed"], true, "{out}");

    // The shop is `check` only: grpcurl shows the missing scope.
    let (ok, _, err) =
        run(&["-d", r#"{"name":"x","kind":"partner"}"#, &addr, "guichet.v1.AccountService/CreateAccount"]);
    assert!(!ok);
    assert!(err.contains("PermissionDenied") && err.contains("service shop lacks the admin scope"), "{err}");

    // Without a client certificate, grpcurl cannot get in.
    // (grpc-go retries the refused handshake until its dial deadline.)
    let out = std::process::Command::new(&bin)
        .args(["-connect-timeout", "3", "-cacert", &ca, &addr, "list"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("Failed to dial target host \"{addr}\"")), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn plaintext_on_a_public_address_needs_to_be_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("g.db").display());
    let run = |envs: &[(&str, &str)]| {
        std::process::Command::new(guichet_bin())
            .args(["serve", "--listen", "0.0.0.0:0", "--database-url", &url])
            .env_remove("GUICHET__LISTEN")
            .envs(envs.iter().copied())
            .stdout(std::process::Stdio::null())
            .output()
            .unwrap()
    };
    let out = run(&[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("configuration: tls: listen 0.0.0.0:0 is not a loopback address: configure [tls] cert_file and key_file, or set plaintext = true explicitly"),
        "{err}"
    );
    // Explicit plaintext without any service would refuse every call: refused at start too.
    let out = run(&[("GUICHET__PLAINTEXT", "true")]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("configuration: services: no [[services]] configured"));
}
