//! Promises of the API kept end to end: the metrics' `rpc` label takes only the RPCs guichet
//! serves; a request body that is not protobuf is INVALID_ARGUMENT on `body`; a `check`-only
//! service lists a user's accounts and the catalog and still cannot manage; a SPIFFE id is
//! matched with its case; and the event types `events.proto` documents are exactly those the
//! store writes.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use guichet_proto::v1 as pb;
use guichet_tests::Clients;
use guichet_tests::{
    Backend, Config, TestApp, TestDatabase, config_from_toml, declared_rpcs, details, spawn_app, test_config,
    violated_fields,
};
use prost::Message as _;
use prost::bytes::{Buf as _, BufMut as _};
use rcgen::string::Ia5String;
use rcgen::{ExtendedKeyUsagePurpose, SanType};
use sha2::Digest;
use tonic::Code;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

use crate::tls::Ca;

/// A codec that puts bytes on the wire as they are and reads the answer's bytes back.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Raw;

impl Codec for Raw {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = Raw;
    type Decoder = Raw;

    fn encoder(&mut self) -> Raw {
        Raw
    }

    fn decoder(&mut self) -> Raw {
        Raw
    }
}

impl Encoder for Raw {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for Raw {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, tonic::Status> {
        Ok(Some(src.copy_to_bytes(src.remaining()).to_vec()))
    }
}

/// A unary call of `path` whose message is `body`, with a bearer token when given.
async fn raw_call(channel: &Channel, path: &str, body: &[u8], token: Option<&str>) -> Result<Vec<u8>, tonic::Status> {
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready().await.unwrap();
    grpc.unary(with_token(body.to_vec(), token), PathAndQuery::try_from(path).unwrap(), Raw)
        .await
        .map(tonic::Response::into_inner)
}

pub(crate) fn with_token<T>(message: T, token: Option<&str>) -> tonic::Request<T> {
    let mut r = tonic::Request::new(message);
    if let Some(t) = token {
        r.metadata_mut().insert("authorization", format!("Bearer {t}").parse().unwrap());
    }
    r
}

/// The value of one series in a Prometheus text exposition.
fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(series).and_then(|v| v.strip_prefix(' ')).and_then(|v| v.parse().ok()))
}

/// Every value of the `rpc` label of `guichet_rpc_requests_total`.
fn rpc_labels(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| l.starts_with("guichet_rpc_requests_total{"))
        .filter_map(|l| l.split("rpc=\"").nth(1)?.split('"').next().map(str::to_owned))
        .collect()
}

/// The hex SHA-256 of a bearer token, as a configuration names it.
pub(crate) fn sha256_hex(token: &str) -> String {
    sha2::Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// The `[[services]]` tables of a configuration: each `(name, scopes, identities, token)`, the
/// token (when not empty) known by its SHA-256.
pub(crate) fn services_toml(services: &[(&str, &[&str], &[&str], &str)]) -> String {
    let mut out = String::new();
    for (name, scopes, identities, token) in services {
        out.push_str(&format!("\n[[services]]\nname = {name:?}\nscopes = {scopes:?}\nidentities = {identities:?}\n"));
        if !token.is_empty() {
            out.push_str(&format!("token_sha256 = {:?}\n", sha256_hex(token)));
        }
    }
    out
}

/// A shop's token: a service with the `check` scope only (see [`shop_and_backoffice`]).
pub(crate) const SHOP_TOKEN: &str = "shop-token-5d83a1";

/// A configuration with two calling services known by bearer token, and the demo world when
/// `demo`: `boutique` ([`SHOP_TOKEN`], `check` only) and `backoffice` ([`BACKOFFICE_TOKEN`],
/// `check` and `admin`).
pub(crate) fn shop_and_backoffice(database_url: &str, demo: bool) -> Config {
    let services = services_toml(&[
        ("boutique", &["check"], &[], SHOP_TOKEN),
        ("backoffice", &["check", "admin"], &[], BACKOFFICE_TOKEN),
    ]);
    Config { demo, ..config_from_toml(database_url, &services) }
}

/// The read path's token: a service with the `check` scope only.
pub(crate) const PORTAL_TOKEN: &str = "portal-token-7c1e5a";
/// The management's token: a service with the `admin` scope only.
pub(crate) const BACKOFFICE_TOKEN: &str = "backoffice-token-2b9f4d";

/// A server on a plaintext loopback listener that authenticates its callers: `portal` (`check`)
/// and `backoffice` (`admin`), by bearer token; with the demo world when `demo`.
pub(crate) async fn authenticated(db: &TestDatabase, demo: bool) -> TestApp {
    let services =
        services_toml(&[("portal", &["check"], &[], PORTAL_TOKEN), ("backoffice", &["admin"], &[], BACKOFFICE_TOKEN)]);
    let config = config_from_toml(&db.url, &services);
    spawn_app(Config { demo, ..config }).await
}

/// A refusal for want of `scope` by the calling service `service`.
pub(crate) fn assert_missing_scope(status: &tonic::Status, service: &str, scope: &str) {
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    let info = details(status).error_info().cloned().expect("an ErrorInfo detail");
    assert_eq!(info.reason, "MISSING_SCOPE");
    assert_eq!(info.metadata["service"], service);
    assert_eq!(info.metadata["scope"], scope);
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_label_only_the_rpcs_guichet_serves_and_every_other_path_unknown() {
    let db = TestDatabase::new(Backend::Sqlite).await.unwrap();
    let s = authenticated(&db, false).await;

    // Calls without credentials to made-up paths, refused before any routing.
    for i in 0..5 {
        let e = raw_call(&s.channel, &format!("/x.Y/Random{i}"), b"", None).await.unwrap_err();
        assert_eq!(e.code(), Code::Unauthenticated, "{e:?}");
    }
    // Authenticated ones to RPCs that do not exist, in made-up and in real services.
    for path in ["/x.Y/Random123", "/guichet.v1.AccountService/Random456", "/grpc.health.v1.Health/Random789"] {
        let e = raw_call(&s.channel, path, b"", Some(BACKOFFICE_TOKEN)).await.unwrap_err();
        assert_eq!(e.code(), Code::Unimplemented, "{path}: {e:?}");
    }
    // And one RPC that exists.
    catalog(&s, BACKOFFICE_TOKEN).await.unwrap();

    let (code, text) = s.admin_get("/metrics").await;
    assert_eq!(code, 200);
    assert!(!text.contains("Random"), "a made-up path is a label:\n{text}");
    let unknown = |code: &str| metric(&text, &format!("guichet_rpc_requests_total{{code=\"{code}\",rpc=\"unknown\"}}"));
    assert_eq!(unknown("UNAUTHENTICATED"), Some(5.0), "{text}");
    assert_eq!(unknown("UNIMPLEMENTED"), Some(3.0), "{text}");
    assert_eq!(
        metric(&text, r#"guichet_rpc_duration_seconds_count{code="UNIMPLEMENTED",rpc="unknown"}"#),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        metric(&text, r#"guichet_rpc_requests_total{code="OK",rpc="guichet.v1.RoleService/ListCatalog"}"#),
        Some(1.0),
        "{text}"
    );
    // Every label is an RPC of the API, of health or reflection, or `unknown`.
    let declared: BTreeSet<String> = declared_rpcs(&[]).into_iter().map(|r| format!("guichet.v1.{r}")).collect();
    let labels = rpc_labels(&text);
    assert_eq!(
        labels,
        BTreeSet::from(["guichet.v1.RoleService/ListCatalog".to_owned(), "unknown".to_owned()]),
        "{text}"
    );
    assert!(labels.iter().all(|l| l == "unknown" || declared.contains(l)));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_that_is_not_protobuf_is_invalid_argument_on_body() {
    let db = TestDatabase::new(Backend::Sqlite).await.unwrap();
    let s = spawn_app(test_config(&db.url)).await;
    let get_account = "/guichet.v1.AccountService/GetAccount";

    let cases: [(&[u8], &str); 4] = [
        // Field 1 with wire type 7, which does not exist.
        (b"\x0f", "invalid wire type value: 7"),
        // A varint that never ends.
        (b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", "invalid varint"),
        // `id` (field 2) announcing five bytes and carrying two.
        (b"\x12\x05ab", "GetAccountRequest.id: buffer underflow"),
        // `id` that is not UTF-8.
        (b"\x12\x02\xff\xfe", "GetAccountRequest.id: invalid string value: data is not UTF-8 encoded"),
    ];
    for (body, reason) in cases {
        let e = raw_call(&s.channel, get_account, body, None).await.unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{body:?}: {e:?}");
        let description = format!("is not a protobuf encoding of the request message: {reason}");
        assert_eq!(e.message(), format!("invalid request: body: {description}"));
        assert_eq!(violated_fields(&e), ["body"]);
        let bad_request = details(&e).bad_request().cloned().expect("a BadRequest detail");
        assert_eq!(bad_request.field_violations[0].description, description);
    }
    // The same call, well encoded, reaches the handler: only the bytes were wrong.
    let body = pb::GetAccountRequest { id: "absent".into(), ..Default::default() }.encode_to_vec();
    let e = raw_call(&s.channel, get_account, &body, None).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound, "{e:?}");
    // Every service is covered, health's included.
    let e = raw_call(&s.channel, "/grpc.health.v1.Health/Check", b"\x0f", None).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert_eq!(violated_fields(&e), ["body"]);
    let e = raw_call(&s.channel, "/guichet.v1.AccessService/CheckAccess", b"\x0f", None).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");

    // The metrics count them as the client's errors, and no INTERNAL at all.
    let (_, text) = s.admin_get("/metrics").await;
    let series =
        |code: &str, rpc: &str| metric(&text, &format!("guichet_rpc_requests_total{{code=\"{code}\",rpc=\"{rpc}\"}}"));
    assert_eq!(series("INVALID_ARGUMENT", "guichet.v1.AccountService/GetAccount"), Some(4.0), "{text}");
    assert_eq!(series("INVALID_ARGUMENT", "grpc.health.v1.Health/Check"), Some(1.0), "{text}");
    assert!(!text.contains("code=\"INTERNAL\""), "{text}");
}

async fn catalog(s: &TestApp, token: &str) -> Result<pb::ListCatalogResponse, tonic::Status> {
    s.roles().list_catalog(with_token(pb::ListCatalogRequest {}, Some(token))).await.map(tonic::Response::into_inner)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_check_service_lists_a_users_accounts_and_the_catalog_and_still_cannot_manage() {
    let db = TestDatabase::new(Backend::Sqlite).await.unwrap();
    let s = authenticated(&db, true).await;

    // The portal (`check` only) reads the account switcher and the catalog.
    let mine = s
        .users()
        .list_my_accounts(with_token(
            pb::ListMyAccountsRequest { user_id: "marc".into(), ..Default::default() },
            Some(PORTAL_TOKEN),
        ))
        .await
        .unwrap()
        .into_inner();
    let entries: Vec<(&str, &str)> = mine
        .accounts
        .iter()
        .map(|a| (a.membership_id.as_str(), a.account.as_ref().map_or("", |a| a.id.as_str())))
        .collect();
    assert_eq!(entries, [("m-marc", "boulangerie-martin")]);
    assert_eq!(mine.default_account_id, "boulangerie-martin");
    let seen_by_portal = catalog(&s, PORTAL_TOKEN).await.unwrap();
    assert!(!seen_by_portal.features.is_empty());
    // The management service reads them too, the same.
    assert_eq!(catalog(&s, BACKOFFICE_TOKEN).await.unwrap(), seen_by_portal);
    let theirs = s
        .users()
        .list_my_accounts(with_token(
            pb::ListMyAccountsRequest { user_id: "marc".into(), ..Default::default() },
            Some(BACKOFFICE_TOKEN),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(theirs, mine);

    // The portal still cannot call the rest of those services, nor manage anything.
    let e = s
        .users()
        .get_user(with_token(pb::GetUserRequest { id: "marc".into(), ..Default::default() }, Some(PORTAL_TOKEN)))
        .await
        .unwrap_err();
    assert_missing_scope(&e, "portal", "admin");
    let e = s
        .roles()
        .list_roles(with_token(
            pb::ListRolesRequest { account_id: "boulangerie-martin".into(), ..Default::default() },
            Some(PORTAL_TOKEN),
        ))
        .await
        .unwrap_err();
    assert_missing_scope(&e, "portal", "admin");
    let e = s
        .users()
        .suspend_user(with_token(
            pb::SuspendUserRequest { id: "marc".into(), ..Default::default() },
            Some(PORTAL_TOKEN),
        ))
        .await
        .unwrap_err();
    assert_missing_scope(&e, "portal", "admin");
    // And without credentials, nobody reads them.
    let e = s.roles().list_catalog(pb::ListCatalogRequest {}).await.unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated, "{e:?}");
    let e = s
        .users()
        .list_my_accounts(pb::ListMyAccountsRequest { user_id: "marc".into(), ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated, "{e:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_spiffe_id_is_matched_with_its_case_and_a_dns_name_without() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| -> PathBuf { dir.path().join(name) };
    let server_ca = Ca::new("server CA");
    let client_ca = Ca::new("client CA");
    let server = server_ca.leaf(
        &[SanType::DnsName(Ia5String::try_from("localhost").unwrap())],
        ExtendedKeyUsagePurpose::ServerAuth,
        false,
    );
    std::fs::write(path("server.pem"), server.cert).unwrap();
    std::fs::write(path("server.key"), server.key).unwrap();
    std::fs::write(path("client-ca.pem"), &client_ca.pem).unwrap();
    std::fs::write(
        path("guichet.toml"),
        format!(
            "[tls]\ncert_file = {:?}\nkey_file = {:?}\nclient_ca_file = {:?}\n\n\
             [[services]]\nname = \"shop\"\nscopes = [\"check\", \"admin\"]\nidentities = [\"spiffe://cluster.local/ns/shop/sa/API\"]\n\n\
             [[services]]\nname = \"backoffice\"\nscopes = [\"check\", \"admin\"]\nidentities = [\"BackOffice.Internal\"]\n",
            path("server.pem"),
            path("server.key"),
            path("client-ca.pem"),
        ),
    )
    .unwrap();
    let db = TestDatabase::new(Backend::Sqlite).await.unwrap();
    let s = spawn_app(config_from_toml(&db.url, &std::fs::read_to_string(path("guichet.toml")).unwrap())).await;

    let catalog_as = |san: SanType| {
        let client = client_ca.leaf(&[san], ExtendedKeyUsagePurpose::ClientAuth, false);
        let tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&server_ca.pem))
            .domain_name("localhost")
            .identity(Identity::from_pem(client.cert, client.key));
        let endpoint = Channel::from_shared(format!("https://{}", s.addr)).unwrap().tls_config(tls).unwrap();
        async move {
            let channel = endpoint.connect().await.unwrap();
            pb::role_service_client::RoleServiceClient::new(channel).list_catalog(pb::ListCatalogRequest {}).await
        }
    };
    let uri = |u: &str| SanType::URI(Ia5String::try_from(u).unwrap());
    let dns = |d: &str| SanType::DnsName(Ia5String::try_from(d).unwrap());

    catalog_as(uri("spiffe://cluster.local/ns/shop/sa/API")).await.unwrap();
    for other in ["spiffe://cluster.local/ns/shop/sa/api", "spiffe://cluster.local/ns/shop/sa/Api"] {
        let e = catalog_as(uri(other)).await.unwrap_err();
        assert_eq!(e.code(), Code::Unauthenticated, "{other}: {e:?}");
        assert_eq!(details(&e).error_info().map(|i| i.reason.clone()).as_deref(), Some("UNKNOWN_IDENTITY"));
        assert!(e.message().contains(other), "{e:?}");
    }
    // DNS names are case-insensitive.
    catalog_as(dns("backoffice.internal")).await.unwrap();
    catalog_as(dns("BACKOFFICE.INTERNAL")).await.unwrap();
}

/// The event types listed under EVENT TYPES in `events.proto`.
fn documented_event_types(proto: &str) -> BTreeSet<String> {
    let block: Vec<&str> = proto
        .lines()
        .skip_while(|l| l.trim() != "// EVENT TYPES")
        .skip(1)
        .take_while(|l| l.starts_with("//"))
        .collect();
    assert!(!block.is_empty(), "events.proto has no EVENT TYPES section");
    block
        .iter()
        .flat_map(|l| {
            l.trim_start_matches('/').split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | '(' | ')'))
        })
        .map(|w| w.trim_end_matches('.'))
        .filter(|w| is_event_type(w))
        .map(str::to_owned)
        .collect()
}

/// `object.verb`, lower-case words: the shape of an event type.
fn is_event_type(word: &str) -> bool {
    let mut parts = word.split('.');
    let word_ok = |p: Option<&str>| {
        p.is_some_and(|p| {
            p.starts_with(|c: char| c.is_ascii_lowercase()) && p.chars().all(|c| c.is_ascii_lowercase() || c == '_')
        })
    };
    // The object is a noun (`account`, `membership`, …), never a one- or two-letter SQL table
    // alias such as the lookups' `m.user_id` or `mr.role_name`.
    let object = parts.next();
    object.is_some_and(|o| o.len() >= 3) && word_ok(object) && word_ok(parts.next()) && parts.next().is_none()
}

/// The string literals of Rust source, each with the code before it: comments, character
/// literals, lifetimes, escapes and raw strings are read as Rust reads them.
fn string_literals(code: &str) -> Vec<(&str, String)> {
    let bytes = code.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let rest = &code[i..];
        if rest.starts_with("//") {
            i += rest.find('\n').unwrap_or(rest.len());
        } else if rest.starts_with("/*") {
            i += rest.find("*/").map_or(rest.len(), |e| e + 2);
        } else if bytes[i] == b'\'' {
            // A character literal ('x', '\'', '"') or a lifetime ('a).
            match rest[1..].chars().next() {
                // An escape: the closing quote comes after the escaped character.
                Some('\\') => i += 3 + rest.get(3..).and_then(|r| r.find('\'')).map_or(rest.len(), |e| e + 1),
                Some(c) if rest[1 + c.len_utf8()..].starts_with('\'') => i += 2 + c.len_utf8(),
                _ => i += 1,
            }
        } else if rest.starts_with('r')
            && (i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_'))
            && rest[1..].trim_start_matches('#').starts_with('"')
        {
            let hashes = rest[1..].len() - rest[1..].trim_start_matches('#').len();
            let open = 1 + hashes + 1;
            let close = format!("\"{}", "#".repeat(hashes));
            let end = rest[open..].find(&close).map_or(rest.len(), |e| open + e);
            out.push((&code[..i], rest[open..end].to_owned()));
            i += (end + close.len()).min(rest.len());
        } else if bytes[i] == b'"' {
            let mut text = String::new();
            let mut chars = rest[1..].char_indices();
            let mut end = rest.len();
            while let Some((j, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, escaped)) = chars.next() {
                            text.push('\\');
                            text.push(escaped);
                        }
                    }
                    '"' => {
                        end = 1 + j + 1;
                        break;
                    }
                    c => text.push(c),
                }
            }
            out.push((&code[..i], text));
            i += end;
        } else {
            i += rest.chars().next().map_or(1, char::len_utf8);
        }
    }
    out
}

/// Every string literal shaped as an event type in the store's code (its unit tests left out),
/// with the file it is in; tracing span names (`name = "store.…"`) are not event types.
fn store_event_types(src: &Path) -> BTreeSet<(String, String)> {
    let mut files: Vec<PathBuf> = Vec::new();
    let mut dirs = vec![src.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|e| e == "rs") {
                files.push(p);
            }
        }
    }
    let mut found = BTreeSet::new();
    for file in files {
        let name = file.strip_prefix(src).unwrap().display().to_string();
        if name == "tests.rs" || name.ends_with("/tests.rs") || name.starts_with("tests/") {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        // Unit tests sit at the end of a file.
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        for (before, literal) in string_literals(code) {
            if is_event_type(&literal) && !before.trim_end().ends_with("name =") {
                found.insert((literal, name.clone()));
            }
        }
    }
    found
}

#[test]
fn string_literals_are_read_as_rust_reads_them() {
    let code = r##"let a = "x.y"; // "not.me"
        let b = '"'; let c = '\''; fn f<'a>(s: &'a str) {} /* "nor.me" */
        let d = r#"raw.one"#; let e = "esc\"aped"; let f = b"by.tes"; tracing(name = "store.span");"##;
    let literals: Vec<String> = string_literals(code).into_iter().map(|(_, l)| l).collect();
    assert_eq!(literals, ["x.y", "raw.one", "esc\\\"aped", "by.tes", "store.span"]);
    assert!(string_literals(code).last().unwrap().0.trim_end().ends_with("name ="));
    assert!(is_event_type("communication_order.set"));
    for not in
        ["store", "a.b.c", "Account.created", "account.", ".created", "account.created2", "t.db ", "mr.role_name"]
    {
        assert!(!is_event_type(not), "{not}");
    }
}

#[test]
fn the_documented_event_types_are_exactly_those_the_store_writes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let proto = std::fs::read_to_string(root.join("proto/guichet/v1/events.proto")).unwrap();
    let documented = documented_event_types(&proto);
    let found = store_event_types(&root.join("crates/guichet-store/src"));
    let written: BTreeSet<String> = found.iter().map(|(t, _)| t.clone()).collect();

    let undocumented: Vec<&(String, String)> = found.iter().filter(|(t, _)| !documented.contains(t)).collect();
    let never_written: Vec<&String> = documented.difference(&written).collect();
    assert!(
        undocumented.is_empty() && never_written.is_empty(),
        "events.proto's EVENT TYPES and the store disagree:\n  written but not documented (type, file): \
         {undocumented:?}\n  documented but never written: {never_written:?}"
    );
    // The parse found the list, not a stray word.
    assert!(documented.len() >= 30 && documented.contains("membership.roles_changed"), "{documented:?}");
    assert!(documented.contains("communication_order.set"), "{documented:?}");
}
