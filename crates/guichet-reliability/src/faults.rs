//! Fault scenarios: the server killed mid-write (3), PostgreSQL restarted under load (2), Redis
//! killed under load (1).
//!
//! One file on purpose: the three fault scenarios share the load they run under and its
//! verdict, and each is one function read on its own.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use guichet_proto::v1 as pb;
use tokio::sync::Mutex;
use tonic::Code;

use crate::world::{self, Api, code_name};
use crate::{BoxError, Env, Outcome, histogram, ms, verdict};

/// What the client saw of one management call.
#[derive(Debug, Clone)]
enum Seen {
    /// OK with this revision.
    Acked(String),
    /// An error or a broken connection: it may or may not have happened.
    Unknown,
}

/// Scenario 3: SIGKILL in the middle of a stream of management calls; after a restart each call
/// either fully happened (state + audit event with its request_id + revision) or not at all.
pub(crate) async fn crash_safety(env: &mut Env) -> Result<Outcome, BoxError> {
    let url = env.database()?;
    let mut g = env.guichet(&url).await?;
    let api = Api::new(&g.channel);
    let account = "crash";
    let cap = env.sizes.kills * 60;
    let mut spec = world::team(account, [("crash-m-admin", "crash-admin", "account_manager")]);
    // Users for the membership calls, and a membership to edit for the role-edit calls.
    for i in 0..cap {
        if i % 3 != 2 {
            spec.users.push(world::user(&format!("cu-{i}")));
        }
        if i % 3 == 1 {
            let (m, u) = (format!("pm-{i}"), format!("cu-{i}"));
            spec.memberships.push(guichet_domain::MembershipSpec::new(&m, &u, account, &["billing_manager"]));
        }
    }
    api.load(&spec).await?;
    let next = Arc::new(AtomicUsize::new(0));
    let seen: Arc<Mutex<BTreeMap<usize, Seen>>> = Arc::default();
    let mut kills = 0;
    for round in 0..env.sizes.kills {
        if next.load(Ordering::SeqCst) >= cap {
            break;
        }
        let api = Api::new(&g.channel);
        let mut workers = Vec::new();
        for _ in 0..4 {
            let (mut api, next, seen) = (api.clone(), next.clone(), seen.clone());
            workers.push(tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= cap {
                        return;
                    }
                    seen.lock().await.insert(i, Seen::Unknown);
                    match management_call(&mut api, account, i).await {
                        Ok(rev) => {
                            seen.lock().await.insert(i, Seen::Acked(rev));
                        }
                        // The server is gone: this call stays undecided and the worker stops, so
                        // that no call is counted that never reached it.
                        Err(_) => return,
                    }
                }
            }));
        }
        // Kill at a different point of each round.
        tokio::time::sleep(Duration::from_millis(300 + (round as u64 * 397) % 1500)).await;
        g.kill().await?;
        kills += 1;
        for w in workers {
            w.abort();
            let _ = w.await;
        }
        g = g.restart(&env.bin).await?;
    }
    // Verify every call the stream started.
    let mut api = Api::new(&g.channel);
    let events = api.all_events(account).await?;
    let by_request: HashMap<&str, &pb::Event> = events.iter().map(|e| (e.request_id.as_str(), e)).collect();
    let seen = seen.lock().await.clone();
    let (mut acked, mut partial, mut lost, mut happened, mut not_happened, mut bad_revision) = (0, 0, 0, 0, 0, 0);
    for (&i, s) in &seen {
        let state = call_state(&mut api, account, i).await?;
        let event = by_request.get(format!("rq-{i}").as_str());
        match (state, event) {
            (true, Some(e)) => {
                happened += 1;
                if let Seen::Acked(rev) = s
                    && &e.revision != rev
                {
                    bad_revision += 1;
                }
            }
            (false, None) => {
                not_happened += 1;
                if matches!(s, Seen::Acked(_)) {
                    lost += 1;
                }
            }
            (true, None) | (false, Some(_)) => partial += 1,
        }
        if matches!(s, Seen::Acked(_)) {
            acked += 1;
        }
    }
    // Revisions: one distinct revision per write that happened.
    let mut revisions: Vec<&str> = events.iter().map(|e| e.revision.as_str()).collect();
    revisions.sort_unstable();
    revisions.dedup();
    let duplicate_revisions = events.len() - revisions.len();
    let ok = partial == 0 && lost == 0 && bad_revision == 0 && duplicate_revisions == 0 && kills > 0;
    Ok(Outcome {
        number: 3,
        line: format!(
            "3. crash safety [{}]: calls={} acked={} kills={} happened={} not_happened={} partial_writes={partial} \
             acked_lost={lost} revision_mismatches={bad_revision} duplicate_revisions={duplicate_revisions}",
            verdict(ok),
            seen.len(),
            acked,
            kills,
            happened,
            not_happened,
        ),
        ok,
    })
}

async fn management_call(api: &mut Api, account: &str, i: usize) -> Result<String, tonic::Status> {
    let request_id = format!("rq-{i}");
    match i % 3 {
        0 => Ok(api
            .memberships
            .create_membership(pb::CreateMembershipRequest {
                request_id,
                id: format!("cm-{i}"),
                account_id: account.into(),
                user_id: format!("cu-{i}"),
                roles: vec!["billing_manager".into()],
                ..Default::default()
            })
            .await?
            .into_inner()
            .revision),
        1 => Ok(api
            .memberships
            .set_membership_roles(pb::SetMembershipRolesRequest {
                request_id,
                membership_id: format!("pm-{i}"),
                roles: vec!["technical_manager".into()],
                ..Default::default()
            })
            .await?
            .into_inner()
            .revision),
        _ => Ok(api
            .invitations
            .create_invitation(pb::CreateInvitationRequest {
                request_id,
                id: format!("ci-{i}"),
                account_id: account.into(),
                email: format!("invite-{i}@exemple.fr"),
                roles: vec!["billing_manager".into()],
                ..Default::default()
            })
            .await?
            .into_inner()
            .revision),
    }
}

/// Whether call `i`'s change is visible in the state.
async fn call_state(api: &mut Api, _account: &str, i: usize) -> Result<bool, BoxError> {
    let found = |r: Result<bool, tonic::Status>| -> Result<bool, BoxError> {
        match r {
            Ok(b) => Ok(b),
            Err(s) if s.code() == Code::NotFound => Ok(false),
            Err(s) => Err(s.into()),
        }
    };
    match i % 3 {
        0 => found(
            api.memberships
                .get_membership(pb::GetMembershipRequest { id: format!("cm-{i}"), ..Default::default() })
                .await
                .map(|_| true),
        ),
        1 => found(
            api.memberships
                .get_membership(pb::GetMembershipRequest { id: format!("pm-{i}"), ..Default::default() })
                .await
                .map(|r| r.into_inner().membership.is_some_and(|m| m.roles == vec!["technical_manager".to_owned()])),
        ),
        _ => found(
            api.invitations
                .get_invitation(pb::GetInvitationRequest { id: format!("ci-{i}"), ..Default::default() })
                .await
                .map(|_| true),
        ),
    }
}

/// One observation of the mixed load.
#[derive(Debug, Clone, Copy)]
struct Obs {
    at: Instant,
    write: bool,
    code: Code,
    wrong: bool,
}

/// Scenario 2: writes and checks while the harness's PostgreSQL is stopped (`pg_ctl stop -m fast`)
/// and started again.
pub(crate) async fn postgres_restart(env: &mut Env) -> Result<Outcome, BoxError> {
    let url = env.database()?;
    let g = env.guichet(&url).await?;
    let mut api = Api::new(&g.channel);
    api.load(&world::team(
        "pgr",
        [("pgr-m-admin", "pgr-admin", "account_manager"), ("pgr-m-billing", "pgr-billing", "billing_manager")],
    ))
    .await?;
    let stop = Arc::new(AtomicBool::new(false));
    let obs: Arc<Mutex<Vec<Obs>>> = Arc::default();
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut tasks = Vec::new();
    for w in 0..2 {
        let (mut api, stop, obs, acked) = (api.clone(), stop.clone(), obs.clone(), acked.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                n += 1;
                let id = format!("w{w}-{n}");
                let r = api
                    .users
                    .create_user(pb::CreateUserRequest {
                        id: id.clone(),
                        email: format!("{id}@exemple.fr"),
                        ..Default::default()
                    })
                    .await;
                let code = match r {
                    Ok(_) => {
                        acked.lock().await.push(id);
                        Code::Ok
                    }
                    Err(s) => s.code(),
                };
                obs.lock().await.push(Obs { at: Instant::now(), write: true, code, wrong: false });
                if code != Code::Ok {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }));
    }
    for c in 0..2 {
        let (mut api, stop, obs) = (api.clone(), stop.clone(), obs.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(Ordering::SeqCst) {
                n += 1;
                let (subject, expected) =
                    if (n + c).is_multiple_of(2) { ("pgr-admin", true) } else { ("pgr-billing", false) };
                let (code, wrong) = match api.check(subject, "pgr", "users:full").await {
                    Ok(r) => (Code::Ok, r.allowed != expected),
                    Err(s) => (s.code(), false),
                };
                obs.lock().await.push(Obs { at: Instant::now(), write: false, code, wrong });
                if code != Code::Ok {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }));
    }
    tokio::time::sleep(env.sizes.steady).await;
    let t_stop = Instant::now();
    env.pg.stop_fast().await?;
    tokio::time::sleep(env.sizes.outage).await;
    let t_start = Instant::now();
    env.pg.start_again().await?;
    let t_started = Instant::now();
    tokio::time::sleep(env.sizes.steady).await;
    stop.store(true, Ordering::SeqCst);
    for t in tasks {
        let _ = t.await;
    }
    let obs = obs.lock().await.clone();
    // Recovery: from `pg_ctl start` returning to the first OK write and the first OK check after it.
    let first_ok =
        |write: bool| obs.iter().find(|o| o.write == write && o.code == Code::Ok && o.at > t_started).map(|o| o.at);
    let recover = match (first_ok(true), first_ok(false)) {
        (Some(a), Some(b)) => format!("{:.2}s", a.max(b).duration_since(t_started).as_secs_f64()),
        _ => "never".to_owned(),
    };
    let mut codes: BTreeMap<&str, usize> = BTreeMap::new();
    let mut bad_codes = 0;
    for o in obs.iter().filter(|o| o.code != Code::Ok) {
        *codes.entry(code_name(o.code)).or_default() += 1;
        if o.code != Code::Unavailable {
            bad_codes += 1;
        }
    }
    let wrong = obs.iter().filter(|o| o.wrong).count();
    let during = obs.iter().filter(|o| o.at > t_stop && o.at < t_started).count();
    // Read back every acknowledged write.
    let acked = acked.lock().await.clone();
    let mut lost = 0;
    for id in &acked {
        match api.users.get_user(pb::GetUserRequest { id: id.clone(), ..Default::default() }).await {
            Ok(_) => {}
            Err(s) if s.code() == Code::NotFound => lost += 1,
            Err(s) => return Err(format!("reading back user {id}: {s}").into()),
        }
    }
    let ok = lost == 0 && bad_codes == 0 && wrong == 0 && recover != "never";
    let codes = codes.iter().map(|(k, v)| format!("{k}:{v}")).collect::<Vec<_>>().join(",");
    Ok(Outcome {
        number: 2,
        line: format!(
            "2. postgres restart [{}]: calls={} acked_writes={} acked_writes_lost={lost} calls_during_outage={during} \
             error_codes={{{codes}}} non_unavailable_errors={bad_codes} wrong_decisions={wrong} outage={:.1}s \
             recovery_after_start={recover}",
            verdict(ok),
            obs.len(),
            acked.len(),
            t_start.duration_since(t_stop).as_secs_f64(),
        ),
        ok,
    })
}

/// Scenario 1: steady checks while the harness's Redis is killed and restarted.
pub(crate) async fn redis_loss(env: &mut Env) -> Result<Outcome, BoxError> {
    let url = env.database()?;
    // No in-process tier: every cached answer comes from Redis, so its loss and return show.
    let g = env.guichet_with(&url, &[("GUICHET__CACHE__IN_PROCESS_CAPACITY", "0")]).await?;
    let api = Api::new(&g.channel);
    api.load(&world::team(
        "rl",
        [("rl-m-admin", "rl-admin", "account_manager"), ("rl-m-billing", "rl-billing", "billing_manager")],
    ))
    .await?;
    let reference: [(&str, &str, bool); 4] = [
        ("rl-admin", "users:full", true),
        ("rl-billing", "users:full", false),
        ("rl-billing", "users:view", true),
        ("rl-admin", "users:view", true),
    ];
    #[derive(Debug, Clone, Copy)]
    struct Check {
        at: Instant,
        micros: u64,
        failed: Option<Code>,
        wrong: bool,
        shared: bool,
    }
    let checks: Arc<Mutex<Vec<Check>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let rate = env.sizes.check_rate;
    let driver = {
        let (api, checks, stop) = (api.clone(), checks.clone(), stop.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate));
            let mut n = 0usize;
            let mut inflight = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                tick.tick().await;
                n += 1;
                let (subject, permission, expected) = reference[n % reference.len()];
                let (mut api, checks) = (api.clone(), checks.clone());
                inflight.push(tokio::spawn(async move {
                    let t = Instant::now();
                    let r = api.check(subject, "rl", permission).await;
                    let micros = t.elapsed().as_micros() as u64;
                    let c = match r {
                        Ok(r) => Check {
                            at: t,
                            micros,
                            failed: None,
                            wrong: r.allowed != expected,
                            shared: r.cache_tier == pb::CacheTier::Shared as i32,
                        },
                        Err(e) => Check { at: t, micros, failed: Some(e.code()), wrong: false, shared: false },
                    };
                    checks.lock().await.push(c);
                }));
                if inflight.len() > 1000 {
                    for h in inflight.drain(..) {
                        let _ = h.await;
                    }
                }
            }
            for h in inflight {
                let _ = h.await;
            }
        })
    };
    tokio::time::sleep(env.sizes.steady).await;
    let t_kill = Instant::now();
    env.redis.kill().await?;
    tokio::time::sleep(env.sizes.outage).await;
    let t_back = Instant::now();
    env.redis.start_again().await?;
    tokio::time::sleep(env.sizes.steady).await;
    stop.store(true, Ordering::SeqCst);
    driver.await?;
    let checks = checks.lock().await.clone();
    let failed = checks.iter().filter(|c| c.failed.is_some()).count();
    let mut failed_codes: BTreeMap<&str, usize> = BTreeMap::new();
    for c in checks.iter().filter_map(|c| c.failed) {
        *failed_codes.entry(code_name(c)).or_default() += 1;
    }
    let failed_codes = failed_codes.iter().map(|(k, v)| format!("{k}:{v}")).collect::<Vec<_>>().join(",");
    let wrong = checks.iter().filter(|c| c.wrong).count();
    let mut during = histogram()?;
    let mut before = histogram()?;
    for c in &checks {
        if c.at >= t_kill && c.at < t_back {
            during.record(c.micros.max(1))?;
        } else if c.at < t_kill {
            before.record(c.micros.max(1))?;
        }
    }
    let shared_before = checks.iter().filter(|c| c.at < t_kill && c.shared).count();
    let back = checks.iter().filter(|c| c.at >= t_back && c.shared).map(|c| c.at).min();
    let recovery = match (back, shared_before) {
        (Some(t), _) => format!("{:.2}s", t.duration_since(t_back).as_secs_f64()),
        (None, 0) => "n/a (no SHARED-tier answer before the outage either)".to_owned(),
        (None, _) => "never".to_owned(),
    };
    let ok = failed == 0 && wrong == 0 && !recovery.starts_with("never");
    Ok(Outcome {
        number: 1,
        line: format!(
            "1. redis loss [{}]: checks={} rate={rate}/s failed_checks={failed} {{{failed_codes}}} wrong_decisions={wrong} \
             p99_before={:.2}ms p99_during_outage={:.2}ms outage={:.1}s shared_hits_before={shared_before} \
             shared_hits_recovered_after={recovery}",
            verdict(ok),
            checks.len(),
            ms(&before, 0.99),
            ms(&during, 0.99),
            t_back.duration_since(t_kill).as_secs_f64(),
        ),
        ok,
    })
}

/// What one cached check saw during scenario 9.
#[derive(Debug, Clone, Copy)]
struct Seen9 {
    at: Instant,
    micros: u64,
    code: Code,
    stale: bool,
    staleness_ms: u64,
    wrong: bool,
}

/// Scenario 9: PostgreSQL stopped (`pg_ctl stop -m immediate`) under a load of cached checks, once
/// with `cache.serve_stale_when_store_down_ms = 0` (the default: UNAVAILABLE at once) and once with
/// 60000 (cached decisions served marked stale), then started again. It passes with no wrong
/// decision, no stale answer beyond the bound, every check during the outage UNAVAILABLE (bound 0)
/// or answered (bound 60000), a fresh answer after the restart, and no stale answer to a check sent
/// a second or more after it.
pub(crate) async fn postgres_down(env: &mut Env) -> Result<Outcome, BoxError> {
    let mut parts = Vec::new();
    let mut ok = true;
    for bound in [0_u64, 60_000] {
        let (line, good) = postgres_down_with(env, bound).await?;
        parts.push(line);
        ok &= good;
    }
    Ok(Outcome { number: 9, line: format!("9. postgres down [{}]: {}", verdict(ok), parts.join(" | ")), ok })
}

async fn postgres_down_with(env: &mut Env, bound: u64) -> Result<(String, bool), BoxError> {
    let url = env.database()?;
    let bound_s = bound.to_string();
    let g = env.guichet_with(&url, &[("GUICHET__CACHE__SERVE_STALE_WHEN_STORE_DOWN_MS", bound_s.as_str())]).await?;
    let mut api = Api::new(&g.channel);
    // One account, 20 members (half administrators): 40 distinct cached checks.
    let mut checks = Vec::new();
    let mut members = Vec::new();
    for i in 0..20 {
        let user = format!("pgd-u{i}");
        let role = if i % 2 == 0 { "account_manager" } else { "billing_manager" };
        members.push((format!("pgd-m{i}"), user.clone(), role));
        checks.push((user.clone(), "users:full", i % 2 == 0));
        checks.push((user, "billing:view", true));
    }
    api.load(&world::team("pgd", members)).await?;
    for (user, permission, expected) in &checks {
        let r = api.check(user, "pgd", permission).await?;
        if r.allowed != *expected {
            return Err(format!("{user} {permission}: {r:?}").into());
        }
    }
    let checks = Arc::new(checks);
    let stop = Arc::new(AtomicBool::new(false));
    let seen: Arc<Mutex<Vec<Seen9>>> = Arc::default();
    let mut tasks = Vec::new();
    for w in 0..4_usize {
        let (mut api, stop, seen, checks) = (api.clone(), stop.clone(), seen.clone(), checks.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = w;
            let mut local = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                n = (n + 7) % checks.len();
                let (user, permission, expected) = &checks[n];
                let t = Instant::now();
                let r = api.check(user, "pgd", permission).await;
                let micros = u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX);
                local.push(match r {
                    Ok(r) => Seen9 {
                        at: t,
                        micros,
                        code: Code::Ok,
                        stale: r.consistency_given == pb::ConsistencyGiven::Stale as i32,
                        staleness_ms: r.staleness_ms,
                        wrong: r.allowed != *expected,
                    },
                    Err(s) => Seen9 { at: t, micros, code: s.code(), stale: false, staleness_ms: 0, wrong: false },
                });
                if local.len() >= 1_000 {
                    seen.lock().await.append(&mut local);
                }
                // About 1,000 checks a second per client: a steady cached load, not a saturation test.
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            seen.lock().await.append(&mut local);
        }));
    }
    tokio::time::sleep(env.sizes.steady).await;
    let t_stop = Instant::now();
    env.pg.stop_immediate().await?;
    let t_stopped = Instant::now();
    tokio::time::sleep(env.sizes.db_down).await;
    let t_start = Instant::now();
    env.pg.start_again().await?;
    let t_started = Instant::now();
    tokio::time::sleep(env.sizes.steady).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    let seen = seen.lock().await.clone();
    let during: Vec<&Seen9> = seen.iter().filter(|s| s.at > t_stopped && s.at < t_start).collect();
    let mut h = histogram()?;
    for s in &during {
        h.record(s.micros.max(1))?;
    }
    let failed = during.iter().filter(|s| s.code != Code::Ok).count();
    let unavailable = during.iter().filter(|s| s.code == Code::Unavailable).count();
    let stale = seen.iter().filter(|s| s.stale).count();
    let beyond = seen.iter().filter(|s| s.stale && s.staleness_ms > bound).count();
    let wrong = seen.iter().filter(|s| s.wrong).count();
    let other = seen.iter().filter(|s| s.code != Code::Ok && s.code != Code::Unavailable).count();
    let fresh_after = seen
        .iter()
        .find(|s| s.at > t_started && s.code == Code::Ok && !s.stale)
        .map(|s| s.at.duration_since(t_started).as_secs_f64());
    let stale_after_fresh = fresh_after
        .map_or(0, |f| seen.iter().filter(|s| s.stale && s.at > t_started + Duration::from_secs_f64(f)).count());
    // The target: fresh answers within 1 s of the restart. Just after it, a check may still meet a
    // pooled connection the restart broke and be answered stale (within the bound, and marked), in
    // any order with the first fresh answers of other clients; a check sent a second after the
    // restart must not be.
    let settle = Duration::from_secs(1);
    let stale_after_settle = seen.iter().filter(|s| s.stale && s.at > t_started + settle).count();
    let good = wrong == 0
        && other == 0
        && beyond == 0
        && stale_after_settle == 0
        && fresh_after.is_some()
        && if bound == 0 { stale == 0 && unavailable == during.len() } else { failed == 0 };
    let line = format!(
        "serve_stale_when_store_down_ms={bound}: checks={} during_outage={} ok_stale={stale} unavailable={unavailable} \
         failed_during={failed} other_errors={other} wrong_decisions={wrong} stale_beyond_bound={beyond} \
         outage_p50={:.2}ms outage_p99={:.2}ms outage_max={:.2}ms outage={:.1}s stop_took={:.2}s \
         first_fresh_after_start={} stale_after_fresh={stale_after_fresh} \
         stale_1s_after_start={stale_after_settle}",
        seen.len(),
        during.len(),
        ms(&h, 0.5),
        ms(&h, 0.99),
        ms(&h, 1.0),
        t_start.duration_since(t_stopped).as_secs_f64(),
        t_stopped.duration_since(t_stop).as_secs_f64(),
        fresh_after.map_or_else(|| "never".to_owned(), |f| format!("{f:.2}s")),
    );
    Ok((line, good))
}
