//! Operations: traces exported over OTLP to an in-process collector (the caller's trace continues,
//! no token in any attribute), Prometheus metrics and health endpoints on the admin port, one log
//! line per RPC, and the graceful shutdown (in-flight calls finish, new connections are refused,
//! exit 0). What a process shows — its log, the exporter flushed at exit, SIGTERM, the exit code —
//! runs the `guichet` binary; the rest runs in-process, with a [`CallGate`] holding calls in flight.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use guichet_proto::v1 as pb;
use guichet_testkit::requests;
use guichet_tests::{
    Backend, CallGate, Clients, Config, TestApp, TestDatabase, TestServer, http_get, list_events, spawn_app,
    test_config,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, Span};
use tonic::transport::Channel;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::invitations::{accept, bakery, invite};
use crate::scenario::{build_world, check};

/// An OTLP/gRPC trace collector that keeps what it receives.
#[derive(Clone, Default)]
pub(crate) struct Collector(pub(crate) Arc<Mutex<Vec<ResourceSpans>>>);

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.0.lock().unwrap().extend(request.into_inner().resource_spans);
        Ok(tonic::Response::new(ExportTraceServiceResponse { partial_success: None }))
    }
}

pub(crate) async fn start_collector() -> (Collector, SocketAddr) {
    let collector = Collector::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = TraceServiceServer::new(collector.clone());
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
            .await
            .unwrap();
    });
    (collector, addr)
}

fn text(v: &Option<AnyValue>) -> String {
    match v.as_ref().and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

pub(crate) fn attribute(attributes: &[KeyValue], key: &str) -> Option<String> {
    attributes.iter().find(|kv| kv.key == key).map(|kv| text(&kv.value))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Every attribute of every span and span event, as text.
fn all_attribute_values(spans: &[&Span]) -> Vec<String> {
    let mut out = Vec::new();
    for s in spans {
        out.push(s.name.clone());
        out.extend(s.attributes.iter().map(|kv| format!("{}={}", kv.key, text(&kv.value))));
        for e in &s.events {
            out.push(e.name.clone());
            out.extend(e.attributes.iter().map(|kv| format!("{}={}", kv.key, text(&kv.value))));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn a_checkaccess_with_traceparent_continues_the_callers_trace_and_no_span_carries_a_token() {
    let (collector, collector_addr) = start_collector().await;
    let db = TestDatabase::new(Backend::Sqlite).await.unwrap();
    let endpoint = format!("http://{collector_addr}");
    let s = TestServer::start_with_env(
        &db.url,
        &[],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_SERVICE_NAME", "guichet-under-test"),
            ("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=test"),
            ("RUST_LOG", "info"),
            ("GUICHET__LOG__FORMAT", "json"),
            ("GUICHET__LOG__CHECK_CALLS", "true"),
        ],
    )
    .await;
    bakery(&s, 7, false, pb::GenericAddressPolicy::Flag).await;
    let (_, token) = invite(&s, "lucie", "marc@exemple.fr", &["client_user"], None).await;
    assert!(token.len() >= 16, "a real token: {token}");
    accept(&s, &token).await.unwrap();

    let trace_id = uuid::Uuid::new_v4().simple().to_string();
    let parent_span_id = "b7ad6b7169203331";
    let mut request = tonic::Request::new(requests::check("lucie", "boulangerie", "billing:view", ""));
    request.metadata_mut().insert("traceparent", format!("00-{trace_id}-{parent_span_id}-01").parse().unwrap());
    let answer = s.access().check_access(request).await.unwrap().into_inner();
    assert!(answer.allowed, "{answer:?}");

    // A write records the caller's trace id on its audit event.
    let write_trace = uuid::Uuid::new_v4().simple().to_string();
    let mut create = tonic::Request::new(requests::account("fromagerie", "Fromagerie", "customer", "cabinet"));
    create.metadata_mut().insert("traceparent", format!("00-{write_trace}-{parent_span_id}-01").parse().unwrap());
    s.accounts().create_account(create).await.unwrap();
    let events = list_events(&s, requests::events("", "fromagerie", &[])).await.unwrap();
    assert!(!events.is_empty());
    assert!(events.iter().all(|e| e.trace_id == write_trace), "{events:?}");

    // SIGTERM flushes the exporter before the process exits.
    let stderr_before_stop = s.stderr();
    let status = s.stop().await;
    assert!(status.success(), "{status}");

    let exported = collector.0.lock().unwrap().clone();
    let resource = exported[0].resource.as_ref().unwrap();
    assert_eq!(attribute(&resource.attributes, "service.name").as_deref(), Some("guichet-under-test"));
    assert_eq!(attribute(&resource.attributes, "deployment.environment.name").as_deref(), Some("test"));
    let spans: Vec<&Span> = exported.iter().flat_map(|r| &r.scope_spans).flat_map(|s| &s.spans).collect::<Vec<_>>();

    let in_trace: Vec<&Span> = spans.iter().copied().filter(|s| hex(&s.trace_id) == trace_id).collect();
    let rpc = in_trace.iter().find(|s| s.name == "guichet.v1.AccessService/CheckAccess").unwrap_or_else(|| {
        panic!("no CheckAccess span in trace {trace_id}: {:?}", spans.iter().map(|s| &s.name).collect::<Vec<_>>())
    });
    assert_eq!(hex(&rpc.parent_span_id), parent_span_id, "the RPC span is a child of the caller's span");
    assert_eq!(rpc.kind, 2, "SPAN_KIND_SERVER");
    assert_eq!(attribute(&rpc.attributes, "rpc.system").as_deref(), Some("grpc"));
    assert_eq!(attribute(&rpc.attributes, "rpc.service").as_deref(), Some("guichet.v1.AccessService"));
    assert_eq!(attribute(&rpc.attributes, "rpc.method").as_deref(), Some("CheckAccess"));
    assert_eq!(attribute(&rpc.attributes, "rpc.grpc.status_code").as_deref(), Some("0"));
    assert_eq!(attribute(&rpc.attributes, "decision.allowed").as_deref(), Some("true"));
    assert_eq!(attribute(&rpc.attributes, "cache.tier").as_deref(), Some("none"));
    assert_eq!(attribute(&rpc.attributes, "revision"), Some(answer.revision.clone()));
    // The handler's span is a child of the RPC span, in the same trace.
    let rpc_span_id = hex(&rpc.span_id);
    assert!(
        in_trace.iter().any(|s| hex(&s.parent_span_id) == rpc_span_id),
        "a child span under the RPC span: {:?}",
        in_trace.iter().map(|s| &s.name).collect::<Vec<_>>()
    );

    let store = in_trace.iter().find(|s| s.name == "store.load_facts").expect("a store span in the trace");
    assert_eq!(attribute(&store.attributes, "db.system.name").as_deref(), Some("sqlite"));

    // The invitation calls were traced too, and nothing anywhere carries the token.
    for name in ["guichet.v1.InvitationService/CreateInvitation", "guichet.v1.InvitationService/AcceptInvitation"] {
        assert!(spans.iter().any(|s| s.name == name), "a {name} span");
    }
    for value in all_attribute_values(&spans) {
        assert!(!value.contains(&token), "a span attribute carries the invitation token: {value}");
    }

    // Exactly one JSON log line for that call, with its trace id.
    let lines: Vec<&str> =
        stderr_before_stop.lines().filter(|l| l.contains("\"rpc\":\"guichet.v1.AccessService/CheckAccess\"")).collect();
    assert_eq!(lines.len(), 1, "{stderr_before_stop}");
    let line: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["fields"]["code"], "OK");
    assert_eq!(line["fields"]["trace_id"], trace_id.as_str());
    assert!(!stderr_before_stop.contains(&token), "the token is in the logs");
}

fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(series).and_then(|v| v.strip_prefix(' ')).and_then(|v| v.parse().ok()))
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_count_calls_by_rpc_and_code_and_decisions_and_health_endpoints_answer() {
    let db = TestDatabase::new(Backend::Sqlite).await.unwrap();
    let s = TestServer::start_with_env(&db.url, &[], &[("RUST_LOG", "info")]).await;
    assert_eq!(s.admin_get("/livez").await.0, 200);
    assert_eq!(s.admin_get("/readyz").await, (200, "ok\n".to_owned()));

    build_world(&s).await;
    assert!(check(&s, "gerant", "partner", "billing:full", "").await.allowed);
    assert!(!check(&s, "factu", "partner", "users:full", "").await.allowed);
    assert!(!check(&s, "nobody", "partner", "users:full", "").await.allowed);
    let e = s.access().check_access(pb::CheckAccessRequest::default()).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    let batch = s
        .access()
        .check_access_batch(pb::CheckAccessBatchRequest {
            items: ["gerant", "factu"]
                .iter()
                .map(|u| pb::CheckAccessBatchItem {
                    subject_id: (*u).into(),
                    account_id: "partner".into(),
                    permission: "billing:full".into(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let batch_allowed = batch.results.iter().filter(|r| r.allowed).count();

    let (code, text) = s.admin_get("/metrics").await;
    assert_eq!(code, 200);
    let check_ok = r#"{code="OK",rpc="guichet.v1.AccessService/CheckAccess"}"#;
    let check_invalid = r#"{code="INVALID_ARGUMENT",rpc="guichet.v1.AccessService/CheckAccess"}"#;
    assert_eq!(metric(&text, &format!("guichet_rpc_requests_total{check_ok}")), Some(3.0), "{text}");
    assert_eq!(metric(&text, &format!("guichet_rpc_requests_total{check_invalid}")), Some(1.0), "{text}");
    assert_eq!(metric(&text, &format!("guichet_rpc_duration_seconds_count{check_ok}")), Some(3.0), "{text}");
    assert_eq!(
        metric(&text, r#"guichet_rpc_requests_total{code="OK",rpc="guichet.v1.AccessService/CheckAccessBatch"}"#),
        Some(1.0)
    );
    assert!(
        metric(&text, r#"guichet_rpc_requests_total{code="OK",rpc="guichet.v1.AccountService/CreateAccount"}"#)
            .is_some_and(|n| n >= 5.0),
        "{text}"
    );
    let allowed = 1 + batch_allowed;
    let denied = 2 + (2 - batch_allowed);
    assert_eq!(metric(&text, r#"guichet_decisions_total{allowed="true"}"#), Some(allowed as f64), "{text}");
    assert_eq!(metric(&text, r#"guichet_decisions_total{allowed="false"}"#), Some(denied as f64), "{text}");
    assert_eq!(metric(&text, "guichet_rpc_in_flight"), Some(0.0));
    assert_eq!(metric(&text, "guichet_store_errors_total"), Some(0.0));
    assert!(metric(&text, "guichet_db_pool_max_connections").is_some_and(|n| n >= 1.0), "{text}");
    assert!(metric(&text, "guichet_db_pool_connections").is_some_and(|n| n >= 1.0), "{text}");
    assert!(text.contains("# TYPE guichet_rpc_duration_seconds histogram"));
    assert!(text.contains("# TYPE guichet_cache_requests_total counter"));
    assert!(text.contains("# TYPE guichet_redis_errors_total counter"));

    // At info, by default, every call writes its line but the answered checks, which are counted
    // above instead (`log.check_calls` puts them back); a failed check still writes one. A call
    // after them all tells when every earlier line is written.
    let e = s
        .accounts()
        .get_account(pb::GetAccountRequest { id: "nulle-part".into(), ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::NotFound);
    let (found, log) = s.stderr_line(|l| l.contains("AccountService/GetAccount") && l.contains("NOT_FOUND")).await;
    assert!(found, "no line for the failed GetAccount in:\n{log}");
    let rpc_lines = |rpc: &str, code: &str| {
        log.lines()
            .filter(|l| l.contains(&format!("AccessService/{rpc} ")) && l.contains(&format!("code=\"{code}\"")))
            .count()
    };
    assert_eq!(rpc_lines("CheckAccess", "INVALID_ARGUMENT"), 1, "{log}");
    assert_eq!(rpc_lines("CheckAccess", "OK"), 0, "{log}");
    assert_eq!(rpc_lines("CheckAccessBatch", "OK"), 0, "{log}");
    assert!(log.lines().any(|l| l.contains("AccountService/CreateAccount") && l.contains("code=\"OK\"")), "{log}");
    assert!(s.stop().await.success());
}

async fn connect(addr: SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}")).unwrap().connect().await.unwrap()
}

fn batch_request(n: usize) -> pb::CheckAccessBatchRequest {
    pb::CheckAccessBatchRequest {
        items: (0..n)
            .map(|i| pb::CheckAccessBatchItem {
                subject_id: format!("user-{i}"),
                account_id: "nowhere".into(),
                permission: "billing:view".into(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

/// Waits until the server whose admin port is `admin` reports `n` calls in flight.
async fn wait_in_flight(admin: SocketAddr, n: u32) {
    for _ in 0..500 {
        let (_, text) = http_get(admin, "/metrics").await;
        if metric(&text, "guichet_rpc_in_flight") == Some(f64::from(n)) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{n} calls never were in flight together");
}

/// The process: on SIGTERM health says NOT_SERVING at once, readiness fails and new connections
/// are refused while a call is in flight (a health watch, which holds the drain until its client
/// leaves); the change streams in flight on two connections end at once with a cursor to resume
/// from; once the client leaves, the process exits 0 before the drain deadline. The unary calls a
/// drain waits for are the in-process test below.
#[tokio::test(flavor = "multi_thread")]
async fn sigterm_drains_in_flight_calls_refuses_new_connections_and_exits_zero() {
    let db = TestDatabase::new(Backend::Sqlite).await.unwrap();
    let mut s = TestServer::start_with_env(&db.url, &[], &[("GUICHET__SHUTDOWN_GRACE_MS", "20000")]).await;
    let mut health = HealthClient::new(connect(s.addr).await);
    let mut watch = health
        .watch(tonic_health::pb::HealthCheckRequest { service: "guichet.v1.AccessService".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(watch.message().await.unwrap().unwrap().status, ServingStatus::Serving as i32);

    let mut streams = Vec::new();
    for i in 0..2 {
        let channel = if i % 2 == 0 { s.channel.clone() } else { connect(s.addr).await };
        let stream = pb::event_service_client::EventServiceClient::new(channel)
            .watch_events(pb::WatchEventsRequest::default())
            .await
            .unwrap()
            .into_inner();
        streams.push(stream);
    }
    s.terminate();

    // Health says NOT_SERVING at once, readiness fails, and new connections are refused.
    assert_eq!(watch.message().await.unwrap().unwrap().status, ServingStatus::NotServing as i32);
    assert_eq!(s.admin_get("/readyz").await, (503, "shutting down\n".to_owned()));
    let mut refused = false;
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(s.addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(refused, "new connections are refused after SIGTERM");

    // Every change stream in flight ends with UNAVAILABLE and a cursor to resume from.
    for mut stream in streams {
        let ended = loop {
            match stream.message().await {
                Ok(Some(_)) => {}
                Ok(None) => panic!("the stream ended without a status"),
                Err(e) => break e,
            }
        };
        assert_eq!(ended.code(), tonic::Code::Unavailable, "{ended:?}");
        assert!(ended.message().contains("resume with after_revision r"), "{ended:?}");
    }
    assert!(s.child_running(), "the process waits for the call still in flight");
    drop(watch);
    drop(health);
    let status = s.wait().await;
    assert!(status.success(), "{status}");
    assert!(!s.stderr().contains("drain deadline passed"), "{}", s.stderr());
}

/// In-process: calls held in flight when the shutdown starts keep running while health says
/// NOT_SERVING, readiness fails and new connections are refused, then complete; the server stops
/// cleanly.
#[tokio::test(flavor = "multi_thread")]
async fn a_shutdown_drains_in_flight_calls_and_refuses_new_connections() {
    let db = TestDatabase::new(Backend::Sqlite).await.unwrap();
    // Every guichet call waits at the gate, so calls are in flight when the shutdown starts.
    let gate = CallGate::closed();
    let mut s =
        TestApp::builder(Config { shutdown_grace_ms: 20_000, ..test_config(&db.url) }).gate(gate.clone()).start().await;
    let mut health = HealthClient::new(connect(s.addr).await);
    let mut watch = health
        .watch(tonic_health::pb::HealthCheckRequest { service: "guichet.v1.AccessService".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(watch.message().await.unwrap().unwrap().status, ServingStatus::Serving as i32);

    let mut calls = Vec::new();
    for i in 0..4 {
        let channel = if i % 2 == 0 { s.channel.clone() } else { connect(s.addr).await };
        calls.push(tokio::spawn(async move {
            pb::access_service_client::AccessServiceClient::new(channel).check_access_batch(batch_request(200)).await
        }));
    }
    gate.wait_held(4).await;
    wait_in_flight(s.admin_addr, 4).await;
    s.begin_shutdown();

    // Health says NOT_SERVING at once, readiness fails, and new connections are refused.
    assert_eq!(watch.message().await.unwrap().unwrap().status, ServingStatus::NotServing as i32);
    drop(watch);
    assert_eq!(s.admin_get("/readyz").await, (503, "shutting down\n".to_owned()));
    let mut refused = false;
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(s.addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(refused, "new connections are refused once the shutdown started");
    assert!(calls.iter().all(|c| !c.is_finished()), "the calls were still in flight");
    assert_eq!(gate.held(), 4);

    // Every call that was in flight completes.
    gate.open();
    for call in calls {
        let answer = call.await.unwrap().expect("an in-flight call completes").into_inner();
        assert_eq!(answer.results.len(), 200);
        assert!(answer.results.iter().all(|r| !r.allowed), "{answer:?}");
    }
    let stopped = s.wait().await;
    assert!(stopped.success(), "{stopped}");
}

/// The process: a call still open when the grace period ends (a health watch, which never ends by
/// itself) is cut, the deadline is logged, and the process still exits 0.
#[tokio::test(flavor = "multi_thread")]
async fn a_call_longer_than_the_grace_period_is_cut_and_the_process_still_exits_zero() {
    let db = TestDatabase::new(Backend::Sqlite).await.unwrap();
    let mut s = TestServer::start_with_env(&db.url, &[], &[("GUICHET__SHUTDOWN_GRACE_MS", "300")]).await;
    let mut health = HealthClient::new(connect(s.addr).await);
    let mut watch =
        health.watch(tonic_health::pb::HealthCheckRequest { service: String::new() }).await.unwrap().into_inner();
    assert_eq!(watch.message().await.unwrap().unwrap().status, ServingStatus::Serving as i32);
    s.terminate();
    let status = s.wait().await;
    assert!(status.success(), "{status}");
    let cut = loop {
        match watch.message().await {
            Ok(Some(_)) => {}
            other => break other,
        }
    };
    assert!(cut.is_err(), "the call outliving the grace period is cut: {cut:?}");
    assert!(s.stderr().contains("drain deadline passed"), "{}", s.stderr());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_deadline_ends_the_call_and_is_counted() {
    let db = TestDatabase::new(Backend::Sqlite).await.unwrap();
    // The call waits at the gate until the client gives up.
    let s = TestApp::builder(test_config(&db.url)).gate(CallGate::closed()).start().await;
    let mut request = tonic::Request::new(batch_request(1));
    request.set_timeout(Duration::from_millis(200));
    let e = s.access().check_access_batch(request).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::Cancelled, "{e:?}");
    // The abandoned call is recorded when the server drops it, just after the answer went out.
    let series = r#"guichet_rpc_requests_total{code="CANCELLED",rpc="guichet.v1.AccessService/CheckAccessBatch"}"#;
    let mut text = String::new();
    for _ in 0..100 {
        text = s.admin_get("/metrics").await.1;
        if metric(&text, series).is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(metric(&text, series), Some(1.0), "{text}");
    assert_eq!(metric(&text, "guichet_rpc_in_flight"), Some(0.0));
    assert_eq!(s.gate().unwrap().held(), 0);
    assert!(s.stop().await.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_message_over_the_size_limit_is_refused() {
    let db = TestDatabase::new(Backend::Sqlite).await.unwrap();
    let mut config = test_config(&db.url);
    config.limits.max_message_bytes = 2048;
    let s = spawn_app(config).await;
    let e = s.access().check_access_batch(batch_request(200)).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::OutOfRange, "{e:?}");
    let ok = s.access().check_access_batch(batch_request(2)).await.unwrap().into_inner();
    assert_eq!(ok.results.len(), 2);
    assert!(s.stop().await.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_call_outliving_its_connections_age_and_grace_is_cut() {
    let db = TestDatabase::new(Backend::Sqlite).await.unwrap();
    let mut config = test_config(&db.url);
    config.limits.max_connection_age_secs = 1;
    config.limits.max_connection_age_grace_secs = 1;
    // The call waits at the gate for ever: only the connection's end can end it.
    let s = TestApp::builder(config).gate(CallGate::closed()).start().await;
    let e = s.access().check_access_batch(batch_request(2)).await.unwrap_err();
    assert!(matches!(e.code(), tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::Cancelled), "{e:?}");
    assert!(s.stop().await.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn readiness_follows_the_store_and_liveness_does_not() {
    use sea_orm::ConnectionTrait;
    let Some(db) = TestDatabase::new(Backend::Postgres).await else { return };
    let s = spawn_app(test_config(&db.url)).await;
    assert_eq!(s.admin_get("/readyz").await, (200, "ok\n".to_owned()));
    // The database goes away under the running server.
    let admin = std::env::var("GUICHET_TEST_DATABASE_URL").unwrap();
    let name = db.url.rsplit('/').next().unwrap();
    let conn = sea_orm::Database::connect(admin.as_str()).await.unwrap();
    conn.execute_unprepared(&format!("DROP DATABASE {name} WITH (FORCE)")).await.unwrap();
    conn.close().await.unwrap();
    let (code, body) = s.admin_get("/readyz").await;
    assert_eq!(code, 503, "{body}");
    assert!(body.starts_with("store unreachable") || body.starts_with("store did not answer"), "{body}");
    assert_eq!(s.admin_get("/livez").await, (200, "ok\n".to_owned()));
    let (_, text) = s.admin_get("/metrics").await;
    assert!(metric(&text, "guichet_store_errors_total").is_some_and(|n| n >= 1.0), "{text}");
    assert!(s.stop().await.success());
}
