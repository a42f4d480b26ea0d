//! The operators' kit: the Grafana dashboard and the Prometheus rules of `deploy/` query only
//! metrics a running guichet exports (in-process), and the commands `guichet serve --demo` prints
//! for a newcomer work as printed (the binary).

use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::Duration;

use guichet_proto::v1 as pb;
use guichet_tests::Clients;
use guichet_tests::{Backend, Config, TestDatabase, grpcurl, guichet_bin, spawn_app, test_config};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::scenario::check;

const DASHBOARD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/grafana/guichet.json");
const RULES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/prometheus/guichet-rules.yml");

/// The series names a Prometheus text exposition declares (`# TYPE` lines; a histogram's
/// `_bucket`, `_sum` and `_count` series included).
fn exported(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("# TYPE ") else { continue };
        let mut parts = rest.split_whitespace();
        let (Some(name), Some(kind)) = (parts.next(), parts.next()) else { continue };
        names.insert(name.to_owned());
        if kind == "histogram" || kind == "summary" {
            for suffix in ["_bucket", "_sum", "_count"] {
                names.insert(format!("{name}{suffix}"));
            }
        }
    }
    names
}

/// The metric names (`guichet_…`) and recorded series (`guichet:…`) a PromQL expression names,
/// outside string literals.
fn named(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = expr.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '"' || c == '\'' || c == '`' {
            // Skip the string literal (label values such as rpc="guichet.v1…").
            while let Some((_, d)) = chars.next() {
                if d == '\\' {
                    chars.next();
                } else if d == c {
                    break;
                }
            }
            continue;
        }
        if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let mut end = i + c.len_utf8();
            while let Some(&(j, d)) = chars.peek() {
                if d.is_ascii_alphanumeric() || d == '_' || d == ':' {
                    end = j + d.len_utf8();
                    chars.next();
                } else {
                    break;
                }
            }
            let word = &expr[i..end];
            if word.starts_with("guichet_") || word.starts_with("guichet:") {
                out.push(word.to_owned());
            }
        }
    }
    out
}

/// Every query of the dashboard: each `expr` of a panel target and each variable's query.
fn dashboard_queries(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("expr" | "definition", serde_json::Value::String(s)) => out.push(s.clone()),
                    ("query", serde_json::Value::String(s)) if s.contains('(') => out.push(s.clone()),
                    _ => dashboard_queries(v, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| dashboard_queries(v, out)),
        serde_json::Value::Null
        | serde_json::Value::Bool(_)
        | serde_json::Value::Number(_)
        | serde_json::Value::String(_) => {}
    }
}

/// The rules file's expressions and the series it records. The file writes every `expr` on one
/// line; the count of rules checks that none was missed.
fn rules_queries(yaml: &str) -> (Vec<String>, BTreeSet<String>) {
    let mut exprs = Vec::new();
    let mut recorded = BTreeSet::new();
    let mut rules = 0;
    for line in yaml.lines() {
        let t = line.trim_start();
        if let Some(name) = t.strip_prefix("- record:") {
            recorded.insert(name.trim().to_owned());
            rules += 1;
        } else if t.starts_with("- alert:") {
            rules += 1;
        } else if let Some(expr) = t.strip_prefix("expr:") {
            let expr = expr.trim();
            assert!(!expr.is_empty() && !expr.starts_with('|') && !expr.starts_with('>'), "write {line:?} on one line");
            exprs.push(expr.to_owned());
        }
    }
    assert_eq!(exprs.len(), rules, "one expr per rule");
    (exprs, recorded)
}

/// The names `queries` use that are neither exported nor recorded, and the queries that name no
/// guichet series at all (which this check would not cover).
fn unknown_names(queries: &[String], exported: &BTreeSet<String>, recorded: &BTreeSet<String>) -> Vec<String> {
    let mut problems = Vec::new();
    for q in queries {
        let names = named(q);
        if names.is_empty() {
            problems.push(format!("names no guichet metric: {q}"));
        }
        for n in names {
            if !exported.contains(&n) && !recorded.contains(&n) {
                problems.push(format!("{n} (in {q})"));
            }
        }
    }
    problems
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_and_the_rules_query_only_metrics_guichet_exports() {
    let db = TestDatabase::new(Backend::Sqlite).await.unwrap();
    let s = spawn_app(Config { demo: true, ..test_config(&db.url) }).await;
    // Some traffic: an answer, a client error, a change stream.
    let ok = check(&s, "marc", "boulangerie-martin", "folders:view", "bm-dossier-2025").await;
    assert!(ok.allowed);
    let bad = s.access().check_access(pb::CheckAccessRequest::default()).await.unwrap_err();
    assert_eq!(bad.code(), tonic::Code::InvalidArgument);
    let mut stream = s
        .events()
        .watch_events(pb::WatchEventsRequest { after_revision: String::new(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    stream.message().await.unwrap().unwrap();

    let (status, text) = s.admin_get("/metrics").await;
    assert_eq!(status, 200);
    let exported = exported(&text);
    assert!(text.contains("guichet_watch_streams 1"), "{text}");
    assert!(text.contains("guichet_store_up 1"), "{text}");
    assert!(text.contains("guichet_redis_degraded 0"), "{text}");

    let dashboard: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(DASHBOARD).unwrap()).unwrap();
    let mut panel_queries = Vec::new();
    dashboard_queries(&dashboard, &mut panel_queries);
    let (rule_queries, recorded) = rules_queries(&std::fs::read_to_string(RULES).unwrap());
    assert!(panel_queries.len() >= 20, "{panel_queries:?}");
    assert!(rule_queries.len() >= 20, "{rule_queries:?}");
    assert!(recorded.iter().all(|r| r.starts_with("guichet:")), "{recorded:?}");

    let mut problems = unknown_names(&panel_queries, &exported, &recorded);
    problems.extend(unknown_names(&rule_queries, &exported, &recorded));
    assert!(problems.is_empty(), "queries naming what guichet does not export:\n{}", problems.join("\n"));

    // The dashboard shows every metric guichet exports (a histogram through its buckets).
    let used: BTreeSet<String> = panel_queries.iter().flat_map(|q| named(q)).collect();
    let families: BTreeSet<&String> = exported.iter().filter(|n| n.starts_with("guichet_")).collect();
    let unused: Vec<&&String> = families
        .iter()
        .filter(|n| !n.ends_with("_sum") && !n.ends_with("_count"))
        .filter(|n| {
            let shown_as_buckets = n.ends_with("_seconds") && used.contains(&format!("{n}_bucket"));
            !used.contains(n.as_str()) && !shown_as_buckets
        })
        .collect();
    assert!(unused.is_empty(), "metrics no panel shows: {unused:?}");

    // And the check itself catches a name that does not exist.
    let typo = vec!["sum(rate(guichet_rpc_request_total{rpc=\"guichet_x\"}[5m]))".to_owned(), "up".to_owned()];
    assert_eq!(
        unknown_names(&typo, &exported, &recorded),
        [
            "guichet_rpc_request_total (in sum(rate(guichet_rpc_request_total{rpc=\"guichet_x\"}[5m])))".to_owned(),
            "names no guichet metric: up".to_owned()
        ]
    );
}

/// `guichet serve --demo` (what `make run` runs) prints, after `guichet listening on`, commands
/// that a newcomer pastes: they work against the demo data as printed.
#[tokio::test(flavor = "multi_thread")]
async fn make_run_prints_commands_that_work() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("guichet.db").display());
    let mut child = tokio::process::Command::new(guichet_bin())
        .args(["serve", "--demo", "--listen", "127.0.0.1:0", "--database-url", &url])
        .env("RUST_LOG", "warn")
        .env("GUICHET__ADMIN__LISTEN", "127.0.0.1:0")
        .env_remove("GUICHET__LISTEN")
        .env_remove("GUICHET__DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let printed = tokio::time::timeout(Duration::from_secs(60), async {
        let mut after = Vec::new();
        let mut listening = false;
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.starts_with("guichet listening on ") {
                listening = true;
            } else if listening {
                after.push(line);
                if after.iter().filter(|l| l.trim_start().starts_with("grpcurl ")).count() == 2 {
                    break;
                }
            }
        }
        after
    })
    .await
    .expect("the commands are printed after `guichet listening on`");
    let commands: Vec<&str> = printed.iter().map(|l| l.trim_start()).filter(|l| l.starts_with("grpcurl ")).collect();
    assert_eq!(commands.len(), 2, "{printed:?}");
    assert!(commands[0].ends_with("guichet.v1.AccessService/CheckAccess"), "{printed:?}");
    assert!(commands[1].ends_with("guichet.v1.AccessService/ExplainAccess"), "{printed:?}");
    let Some(bin) = grpcurl() else { return };
    let mut outputs = Vec::new();
    for command in &commands {
        let line = command.replacen("grpcurl", &bin.display().to_string(), 1);
        let out = std::process::Command::new("sh").args(["-c", &line]).output().unwrap();
        assert!(out.status.success(), "{command}\n{}", String::from_utf8_lossy(&out.stderr));
        outputs.push(serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap());
    }
    assert_eq!(outputs[0]["allowed"], true, "{}", outputs[0]);
    assert_eq!(outputs[0]["reasonCode"], "allowed", "{}", outputs[0]);
    // David manages the bakery through the partner's delegation, not the cheese shop.
    assert_eq!(outputs[1]["decision"]["reasonCode"], "no_access_path", "{}", outputs[1]);
    assert_eq!(outputs[1]["accountChain"][0], "fromagerie-dupont", "{}", outputs[1]);
    child.kill().await.unwrap();
}
