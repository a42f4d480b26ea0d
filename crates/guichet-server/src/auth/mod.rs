//! Who is calling, and may they call this RPC at all.
//!
//! Callers are **services**, configured as `[[services]]` entries: a name, scopes, and how they
//! prove who they are — an mTLS client-certificate identity (a SAN URI such as a SPIFFE id, or a
//! DNS name) and/or a bearer token, configured as the hex SHA-256 of the token and compared in
//! constant time. A URI identity is compared exactly (a SPIFFE id's path is case-sensitive:
//! `…/sa/API` is not `…/sa/api`), a DNS name case-insensitively, as DNS compares names
//! (`Identity`). One tower layer ([`AuthLayer`]) runs before every RPC, with the scopes of
//! `required_scopes` (those `common.proto` documents):
//!
//! - `grpc.health.v1` and `grpc.reflection.*` need nothing;
//! - `guichet.v1.AccessService` (CheckAccess, CheckAccessBatch, ExplainAccess, ListAccessible*,
//!   ListAuthorizedSubjects) needs the `check` scope;
//! - `UserService.ListMyAccounts` (the portal's account switcher) and `RoleService.ListCatalog`
//!   need either scope;
//! - every other RPC (the management API) needs `admin`;
//! - no credentials, an unknown token, or a certificate whose identities match no service:
//!   `UNAUTHENTICATED`; a known service outside its scopes: `PERMISSION_DENIED` with an `ErrorInfo`
//!   (`MISSING_SCOPE`) naming the scope.
//!
//! With no `[[services]]` at all on a plaintext loopback listener (the development default),
//! calls are not authenticated. The identity of an authenticated caller is put in the request
//! extensions ([`Caller`]) and recorded on a `caller` span; the handlers read it from there
//! ([`Caller::of`]) so that audit events and idempotency keys record it.
//!
//! The parts: [`scopes`] (who may call what), [`config`] (the `[[services]]` entries and their
//! validation), [`mtls`] (client-certificate identities), [`layer`] (the tower layer), and here
//! the [`Authenticator`] that decides and the [`Refusal`] it answers with.

mod config;
mod layer;
mod mtls;
mod scopes;

use std::collections::HashMap;
use std::sync::Arc;

use sha2::Digest;
use subtle::ConstantTimeEq;
use tonic::Code;
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
use tonic_types::{ErrorDetails, StatusExt};

pub use config::ServiceConfig;
use config::decode_sha256;
pub(crate) use config::validate;
pub use layer::{AuthLayer, AuthService};
pub(crate) use mtls::{Identity, certificate_identities};
pub use scopes::Scope;
use scopes::required_scopes;
pub(crate) use scopes::scopes_of;

/// An authenticated calling service, in the request extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The service's configured name.
    pub service: Arc<str>,
    /// How it proved it: `mtls` or `token`.
    pub method: &'static str,
    /// Whether it holds the `admin` scope (it may read what the management API shows: ExplainAccess
    /// gives it suggestions naming roles and members).
    pub admin: bool,
}

impl Caller {
    /// The authenticated caller of a request, which [`AuthLayer`] put in its extensions; `None`
    /// when the call was not authenticated (health, reflection, or an open development listener).
    pub fn of<T>(request: &tonic::Request<T>) -> Option<&Caller> {
        request.extensions().get::<Caller>()
    }
}

#[derive(Debug)]
struct Service {
    name: Arc<str>,
    scopes: Vec<Scope>,
    token: Option<[u8; 32]>,
    identities: Vec<Identity>,
}

/// Decides who calls and whether they may.
#[derive(Debug)]
pub struct Authenticator {
    services: Vec<Service>,
    /// No services on a plaintext loopback listener: every call is let through unauthenticated.
    open: bool,
}

fn unauthenticated(reason: &str, message: String) -> tonic::Status {
    let details = ErrorDetails::with_error_info(reason, "guichet", HashMap::new());
    tonic::Status::with_error_details(Code::Unauthenticated, message, details)
}

impl Authenticator {
    /// From the validated configuration.
    pub fn new(services: &[ServiceConfig], open: bool) -> Self {
        let services = services
            .iter()
            .map(|s| Service {
                name: Arc::from(s.name.as_str()),
                scopes: s.scopes.clone(),
                token: s.token_sha256.as_deref().and_then(decode_sha256),
                identities: s.identities.iter().map(|i| Identity::configured(i)).collect(),
            })
            .collect();
        Self { services, open }
    }

    /// Whether calls go through unauthenticated (no services, plaintext loopback).
    pub fn is_open(&self) -> bool {
        self.open
    }

    fn by_token(&self, token: &str) -> Option<&Service> {
        let digest: [u8; 32] = sha2::Sha256::digest(token.as_bytes()).into();
        // Compare with every configured hash, in constant time, without stopping at a match.
        let mut found = None;
        for s in &self.services {
            if let Some(t) = &s.token
                && bool::from(t.ct_eq(&digest))
            {
                found = Some(s);
            }
        }
        found
    }

    fn by_certificate(&self, names: &[Identity]) -> Option<&Service> {
        self.services.iter().find(|s| s.identities.iter().any(|i| names.contains(i)))
    }

    /// Authenticates the request and checks its scope: the caller (if any) or the status to answer.
    fn authorize<B>(&self, request: &http::Request<B>) -> Result<Option<Caller>, tonic::Status> {
        let path = request.uri().path();
        let cert_names = request
            .extensions()
            .get::<TlsConnectInfo<TcpConnectInfo>>()
            .and_then(|info| info.peer_certs())
            .and_then(|certs| certs.first().map(|c| certificate_identities(c.as_ref())))
            .unwrap_or_default();
        self.authenticate(required_scopes(path), path, &cert_names, request.headers().get(http::header::AUTHORIZATION))
            .map_err(Refusal::into_status)
    }

    /// Who calls, from the identities of its client certificate and its `authorization` header,
    /// and whether it holds one of `scopes` for `method` (named in a refusal): the one decision
    /// behind both the gRPC port ([`AuthLayer`]) and the AuthZEN port ([`crate::authzen`]).
    pub(crate) fn authenticate(
        &self,
        scopes: &[Scope],
        method: &str,
        cert_names: &[Identity],
        authorization: Option<&http::HeaderValue>,
    ) -> Result<Option<Caller>, Refusal> {
        if scopes.is_empty() || self.open {
            return Ok(None);
        }
        let unauthenticated = |reason: &'static str, message: String| Refusal::Unauthenticated { reason, message };
        let (service, method_used) = match self.by_certificate(cert_names) {
            Some(s) => (s, "mtls"),
            None => match authorization {
                Some(value) => {
                    let token = value
                        .to_str()
                        .ok()
                        .and_then(|v| v.split_once(' '))
                        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                        .map(|(_, token)| token.trim())
                        .filter(|t| !t.is_empty());
                    let Some(token) = token else {
                        return Err(unauthenticated(
                            "MALFORMED_AUTHORIZATION",
                            "the authorization metadata must be `Bearer <token>`".to_owned(),
                        ));
                    };
                    match self.by_token(token) {
                        Some(s) => (s, "token"),
                        None => {
                            return Err(unauthenticated(
                                "INVALID_TOKEN",
                                "the bearer token matches no configured service".to_owned(),
                            ));
                        }
                    }
                }
                None if !cert_names.is_empty() => {
                    return Err(unauthenticated(
                        "UNKNOWN_IDENTITY",
                        format!(
                            "the client certificate's identities ({}) match no configured service",
                            cert_names.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
                        ),
                    ));
                }
                None => {
                    return Err(unauthenticated(
                        "NO_CREDENTIALS",
                        "no credentials: send `authorization: Bearer <token>` or a client certificate".to_owned(),
                    ));
                }
            },
        };
        if !scopes.iter().any(|s| service.scopes.contains(s)) {
            return Err(Refusal::MissingScope {
                service: service.name.to_string(),
                scopes: scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(","),
                method: method.to_owned(),
            });
        }
        Ok(Some(Caller {
            service: service.name.clone(),
            method: method_used,
            admin: service.scopes.contains(&Scope::Admin),
        }))
    }
}

/// Why a call is refused before it is handled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// No credentials, or credentials that match no service: `UNAUTHENTICATED`, HTTP 401.
    Unauthenticated {
        /// The ErrorInfo reason (`NO_CREDENTIALS`, `INVALID_TOKEN`, …).
        reason: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A known service outside its scopes: `PERMISSION_DENIED`, HTTP 403.
    MissingScope {
        /// The service.
        service: String,
        /// The scopes that would do, comma-separated.
        scopes: String,
        /// What it called.
        method: String,
    },
}

impl Refusal {
    /// The message people read.
    pub(crate) fn message(&self) -> String {
        match self {
            Refusal::Unauthenticated { message, .. } => message.clone(),
            Refusal::MissingScope { service, scopes, method } => {
                format!("service {service} lacks the {} scope needed by {method}", scopes.replace(',', " or "))
            }
        }
    }

    /// The gRPC status, with its ErrorInfo.
    fn into_status(self) -> tonic::Status {
        let message = self.message();
        match self {
            Refusal::Unauthenticated { reason, .. } => unauthenticated(reason, message),
            Refusal::MissingScope { service, scopes, method } => {
                let metadata = HashMap::from([
                    ("service".to_owned(), service),
                    ("scope".to_owned(), scopes),
                    ("method".to_owned(), method),
                ]);
                let details = ErrorDetails::with_error_info("MISSING_SCOPE", "guichet", metadata);
                tonic::Status::with_error_details(Code::PermissionDenied, message, details)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::mtls::identities_of;
    use super::*;

    fn service(name: &str, scopes: &[Scope], token: Option<&str>) -> ServiceConfig {
        ServiceConfig {
            name: name.to_owned(),
            scopes: scopes.to_vec(),
            token_sha256: token
                .map(|t| sha2::Sha256::digest(t.as_bytes()).iter().map(|b| format!("{b:02x}")).collect::<String>()),
            identities: Vec::new(),
        }
    }

    fn request(path: &str, token: Option<&str>) -> http::Request<()> {
        let mut r = http::Request::builder().uri(format!("http://localhost{path}"));
        if let Some(t) = token {
            r = r.header("authorization", format!("Bearer {t}"));
        }
        r.body(()).unwrap()
    }

    #[test]
    fn scopes_follow_the_service_and_the_switcher_and_catalog_take_either() {
        assert_eq!(required_scopes("/guichet.v1.AccessService/CheckAccess"), [Scope::Check]);
        assert_eq!(required_scopes("/guichet.v1.AccountService/CreateAccount"), [Scope::Admin]);
        assert_eq!(required_scopes("/guichet.v1.UserService/ListMyAccounts"), [Scope::Check, Scope::Admin]);
        assert_eq!(required_scopes("/guichet.v1.RoleService/ListCatalog"), [Scope::Check, Scope::Admin]);
        // Only those two methods of their services.
        assert_eq!(required_scopes("/guichet.v1.UserService/GetUser"), [Scope::Admin]);
        assert_eq!(required_scopes("/guichet.v1.RoleService/ListRoles"), [Scope::Admin]);
        assert_eq!(required_scopes("/guichet.v1.UserService/ListMyAccounts/x"), [Scope::Admin]);
        assert_eq!(required_scopes("/guichet.v1.AccountService/ListCatalog"), [Scope::Admin]);
        assert_eq!(required_scopes("/x.Y/Random123"), [Scope::Admin]);
        assert_eq!(required_scopes("/grpc.health.v1.Health/Check"), []);
        assert_eq!(required_scopes("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"), []);
    }

    #[test]
    fn a_check_service_lists_accounts_and_the_catalog_and_still_cannot_manage() {
        let services = [service("portal", &[Scope::Check], Some("p0rtal")), service("bo", &[Scope::Admin], Some("b0"))];
        let auth = Authenticator::new(&services, false);
        for path in ["/guichet.v1.UserService/ListMyAccounts", "/guichet.v1.RoleService/ListCatalog"] {
            for (token, name) in [("p0rtal", "portal"), ("b0", "bo")] {
                let caller = auth.authorize(&request(path, Some(token))).unwrap().unwrap();
                assert_eq!(&*caller.service, name, "{path}");
            }
        }
        let e = auth.authorize(&request("/guichet.v1.UserService/GetUser", Some("p0rtal"))).unwrap_err();
        assert_eq!(e.code(), Code::PermissionDenied);
        assert_eq!(e.get_error_details().error_info().unwrap().metadata["scope"], "admin");
        assert_eq!(e.message(), "service portal lacks the admin scope needed by /guichet.v1.UserService/GetUser");
        let e = auth.authorize(&request("/guichet.v1.AccessService/CheckAccess", Some("b0"))).unwrap_err();
        assert_eq!(e.get_error_details().error_info().unwrap().metadata["scope"], "check");
    }

    fn with_identities(name: &str, identities: &[&str]) -> ServiceConfig {
        ServiceConfig {
            name: name.to_owned(),
            scopes: vec![Scope::Check],
            token_sha256: None,
            identities: identities.iter().map(|i| (*i).to_owned()).collect(),
        }
    }

    #[test]
    fn uri_identities_are_compared_exactly_and_dns_names_case_insensitively() {
        use x509_parser::extensions::GeneralName;
        let services = [
            with_identities("shop", &["spiffe://cluster.local/ns/shop/sa/api"]),
            with_identities("shop-admin", &["spiffe://cluster.local/ns/shop/sa/API"]),
            with_identities("backoffice", &["BackOffice.Internal"]),
        ];
        // Two SPIFFE ids that differ only by case are two identities.
        validate(&services).unwrap();
        let auth = Authenticator::new(&services, false);
        let who = |names: &[GeneralName<'_>]| auth.by_certificate(&identities_of(names)).map(|s| s.name.to_string());

        assert_eq!(who(&[GeneralName::URI("spiffe://cluster.local/ns/shop/sa/api")]).as_deref(), Some("shop"));
        assert_eq!(who(&[GeneralName::URI("spiffe://cluster.local/ns/shop/sa/API")]).as_deref(), Some("shop-admin"));
        assert_eq!(who(&[GeneralName::URI("spiffe://cluster.local/ns/shop/sa/Api")]), None);
        assert_eq!(who(&[GeneralName::URI("spiffe://cluster.local/NS/shop/sa/api")]), None);
        assert_eq!(who(&[GeneralName::URI("SPIFFE://CLUSTER.LOCAL/ns/shop/sa/api")]), None);
        // DNS names are case-insensitive, on either side.
        assert_eq!(who(&[GeneralName::DNSName("backoffice.internal")]).as_deref(), Some("backoffice"));
        assert_eq!(who(&[GeneralName::DNSName("BACKOFFICE.internal")]).as_deref(), Some("backoffice"));
        // A DNS name never matches a URI identity, nor a URI a DNS name.
        assert_eq!(who(&[GeneralName::DNSName("spiffe://cluster.local/ns/shop/sa/api")]), None);
        assert_eq!(who(&[GeneralName::URI("backoffice.internal")]), None);
        assert_eq!(
            identities_of(&[
                GeneralName::RFC822Name("shop@cluster.local"),
                GeneralName::URI("spiffe://x/A"),
                GeneralName::DNSName("A.example")
            ]),
            [Identity::Uri("spiffe://x/A".to_owned()), Identity::Dns("a.example".to_owned())]
        );

        // The same DNS name in two cases is one identity, given twice.
        let twice = [with_identities("a", &["api.example"]), with_identities("b", &["API.example"])];
        assert_eq!(validate(&twice).unwrap_err().0, "services.identities");
    }

    #[test]
    fn tokens_are_matched_by_hash_and_scopes_enforced() {
        let services = [service("shop", &[Scope::Check], Some("s3cret")), service("bo", &[Scope::Admin], Some("b0"))];
        validate(&services).unwrap();
        let auth = Authenticator::new(&services, false);
        let c = auth.authorize(&request("/guichet.v1.AccessService/CheckAccess", Some("s3cret"))).unwrap().unwrap();
        assert_eq!(&*c.service, "shop");
        let e = auth.authorize(&request("/guichet.v1.UserService/CreateUser", Some("s3cret"))).unwrap_err();
        assert_eq!(e.code(), Code::PermissionDenied);
        assert_eq!(e.get_error_details().error_info().unwrap().metadata["scope"], "admin");
        let e = auth.authorize(&request("/guichet.v1.AccessService/CheckAccess", Some("nope"))).unwrap_err();
        assert_eq!(e.code(), Code::Unauthenticated);
        let e = auth.authorize(&request("/guichet.v1.AccessService/CheckAccess", None)).unwrap_err();
        assert_eq!(e.code(), Code::Unauthenticated);
        assert_eq!(auth.authorize(&request("/grpc.health.v1.Health/Check", None)).unwrap(), None);
    }

    #[test]
    fn bad_service_entries_are_refused() {
        let mut s = service("shop", &[Scope::Check], Some("x"));
        s.token_sha256 = Some("abc".to_owned());
        assert_eq!(validate(&[s]).unwrap_err().0, "services.token_sha256");
        let s = service("shop", &[Scope::Check], None);
        assert_eq!(validate(&[s]).unwrap_err().0, "services");
        let twice = [service("a", &[Scope::Check], Some("t")), service("b", &[Scope::Check], Some("t"))];
        assert_eq!(validate(&twice).unwrap_err().0, "services.token_sha256");
    }
}
