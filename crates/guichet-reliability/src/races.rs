//! Concurrency scenarios: races on the invariants (5) and freshness across three replicas (4).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::StreamExt;
use guichet_proto::v1 as pb;

use crate::world::{self, Api};
use crate::{BoxError, Env, Outcome, verdict};

/// Runs `f(0..n)` with at most `width` at once; returns the results in any order.
async fn par<T, F, Fut>(n: usize, width: usize, f: F) -> Vec<T>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = T>,
{
    futures::stream::iter((0..n).map(f)).buffer_unordered(width).collect().await
}

/// Scenario 5: concurrent last-admin demotion pairs, concurrent double accepts of one invitation,
/// concurrent role edits with read-your-write checks.
pub(crate) async fn races(env: &mut Env) -> Result<Outcome, BoxError> {
    let url = env.database()?;
    let g = env.guichet(&url).await?;
    let api = Api::new(&g.channel);
    let n = env.sizes.races;
    // Setup: per pair an account with two administrators and a pending invitation.
    let setup = par(n, 16, |k| {
        let mut api = api.clone();
        async move {
            let account = format!("la-{k}");
            let admins = ["a", "b"].map(|who| (format!("la-{k}-m{who}"), format!("la-{k}-{who}"), "account_manager"));
            api.load(&world::team(&account, admins)).await?;
            let token = api
                .invitations
                .create_invitation(pb::CreateInvitationRequest {
                    id: format!("la-{k}-inv"),
                    account_id: account.clone(),
                    email: format!("la-{k}-invitee@exemple.fr"),
                    roles: vec!["billing_manager".into()],
                    ..Default::default()
                })
                .await?
                .into_inner()
                .token;
            Ok::<(usize, String), BoxError>((k, token))
        }
    })
    .await;
    let mut tokens = vec![String::new(); n];
    for t in setup {
        let (k, token) = t?;
        tokens[k] = token;
    }
    // Last-admin demotion pairs.
    let demotion = par(n, 16, |k| {
        let api = api.clone();
        async move {
            let (mut a, mut b) = (api.clone(), api.clone());
            let (ma, mb) = (format!("la-{k}-ma"), format!("la-{k}-mb"));
            let (ra, rb) = tokio::join!(a.set_role(&ma, "billing_manager"), b.set_role(&mb, "billing_manager"));
            let both = ra.is_ok() && rb.is_ok();
            let neither = ra.is_err() && rb.is_err();
            // The refused one must be LAST_ADMINISTRATOR, and an administrator must remain.
            let refused_right = [&ra, &rb].iter().all(|r| match r {
                Ok(_) => true,
                Err(s) => crate::world::precondition_kind(s).as_deref() == Some("LAST_ADMINISTRATOR"),
            });
            let mut c = api.clone();
            let admins = [format!("la-{k}-a"), format!("la-{k}-b")];
            let mut remaining = 0;
            for u in &admins {
                if c.check(u, &format!("la-{k}"), "users:full").await.is_ok_and(|r| r.allowed) {
                    remaining += 1;
                }
            }
            usize::from(both || neither || !refused_right || remaining != 1)
        }
    })
    .await
    .into_iter()
    .sum::<usize>();
    // Double accepts of one invitation.
    let tokens = Arc::new(tokens);
    let accept = par(n, 16, |k| {
        let (api, tokens) = (api.clone(), tokens.clone());
        async move {
            let (mut a, mut b) = (api.clone(), api.clone());
            let req = || pb::AcceptInvitationRequest { token: tokens[k].clone(), ..Default::default() };
            let (ra, rb) = tokio::join!(a.invitations.accept_invitation(req()), b.invitations.accept_invitation(req()));
            let oks = usize::from(ra.is_ok()) + usize::from(rb.is_ok());
            let mut c = api.clone();
            let members = c
                .memberships
                .list_memberships(pb::ListMembershipsRequest {
                    account_id: format!("la-{k}"),
                    page_size: 100,
                    ..Default::default()
                })
                .await
                .map(|r| r.into_inner().memberships.len())
                .unwrap_or(0);
            // Two administrators + exactly one new membership.
            let bad = oks != 1 || members != 3;
            if bad {
                eprintln!(
                    "5. double accept {k}: {:?} / {:?}; memberships={members}",
                    ra.as_ref().map(|_| "OK").map_err(|s| (s.code(), s.message().to_owned())),
                    rb.as_ref().map(|_| "OK").map_err(|s| (s.code(), s.message().to_owned()))
                );
            }
            usize::from(bad)
        }
    })
    .await
    .into_iter()
    .sum::<usize>();
    // Concurrent role edits, each followed by a check that must see it.
    let setup_api = api.clone();
    let editors = 8;
    let mut members = vec![("re-m-owner".to_owned(), "re-owner".to_owned(), "account_manager")];
    members.extend((0..editors).map(|e| (format!("re-m-{e}"), format!("re-{e}"), "billing_manager")));
    setup_api.load(&world::team("re", members)).await?;
    let edits_each = (n / 4).max(10);
    let edit_violations = Arc::new(AtomicUsize::new(0));
    let edits = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for e in 0..editors {
        let (mut api, violations, edits) = (api.clone(), edit_violations.clone(), edits.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..edits_each {
                let admin = i % 2 == 0;
                let role = if admin { "account_manager" } else { "billing_manager" };
                if api.set_role(&format!("re-m-{e}"), role).await.is_err() {
                    violations.fetch_add(1, Ordering::SeqCst);
                    continue;
                }
                edits.fetch_add(1, Ordering::SeqCst);
                match api.check(&format!("re-{e}"), "re", "users:full").await {
                    Ok(r) if r.allowed == admin => {}
                    Ok(_) | Err(_) => {
                        violations.fetch_add(1, Ordering::SeqCst);
                    }
                }
                // The owner stays an administrator throughout.
                if !api.check("re-owner", "re", "users:full").await.is_ok_and(|r| r.allowed) {
                    violations.fetch_add(1, Ordering::SeqCst);
                }
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    let edit_violations = edit_violations.load(Ordering::SeqCst);
    let total = demotion + accept + edit_violations;
    let ok = total == 0;
    Ok(Outcome {
        number: 5,
        line: format!(
            "5. races [{}]: last_admin_demotion_pairs={n} violations={demotion}; double_accepts={n} violations={accept}; \
             concurrent_role_edits={} (x{editors} members, each followed by a check) violations={edit_violations}; \
             invariant_violations={total}",
            verdict(ok),
            edits.load(Ordering::SeqCst),
        ),
        ok,
    })
}

/// Scenario 4: three replicas over one PostgreSQL and one Redis; revoke on A, check on B or C right
/// after the write returns.
pub(crate) async fn replicas(env: &mut Env) -> Result<Outcome, BoxError> {
    let url = env.database()?;
    let a = env.guichet(&url).await?;
    let b = env.guichet(&url).await?;
    let c = env.guichet(&url).await?;
    let (api_a, api_b, api_c) = (Api::new(&a.channel), Api::new(&b.channel), Api::new(&c.channel));
    let setup = api_a.clone();
    let lanes = 16;
    let mut members = vec![("fr-m-owner".to_owned(), "fr-owner".to_owned(), "account_manager")];
    members.extend((0..lanes).map(|l| (format!("fr-m-{l}"), format!("fr-{l}"), "billing_manager")));
    setup.load(&world::team("fr", members)).await?;
    let probes = env.sizes.probes;
    let per_lane = probes.div_ceil(lanes);
    let stale_allows = Arc::new(AtomicUsize::new(0));
    let stale_denies = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for l in 0..lanes {
        let (mut wa, mut rb, mut rc) = (api_a.clone(), api_b.clone(), api_c.clone());
        let (stale_allows, stale_denies, errors, done) =
            (stale_allows.clone(), stale_denies.clone(), errors.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            let (m, u) = (format!("fr-m-{l}"), format!("fr-{l}"));
            for p in 0..per_lane {
                // Grant on A, warm both readers (their caches now hold an allow), revoke on A.
                if wa.set_role(&m, "account_manager").await.is_err() {
                    errors.fetch_add(1, Ordering::SeqCst);
                    continue;
                }
                for r in [&mut rb, &mut rc] {
                    match r.check(&u, "fr", "users:full").await {
                        Ok(x) if x.allowed => {}
                        Ok(_) => {
                            stale_denies.fetch_add(1, Ordering::SeqCst);
                        }
                        Err(_) => {
                            errors.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                }
                if wa.set_role(&m, "billing_manager").await.is_err() {
                    errors.fetch_add(1, Ordering::SeqCst);
                    continue;
                }
                let reader = if p % 2 == 0 { &mut rb } else { &mut rc };
                match reader.check(&u, "fr", "users:full").await {
                    Ok(x) if x.allowed => {
                        stale_allows.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok(_) => {}
                    Err(_) => {
                        errors.fetch_add(1, Ordering::SeqCst);
                    }
                }
                done.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    let stale = stale_allows.load(Ordering::SeqCst);
    let errors = errors.load(Ordering::SeqCst);
    let ok = stale == 0 && errors == 0;
    Ok(Outcome {
        number: 4,
        line: format!(
            "4. three replicas [{}]: probes={} (revoke on A, check on B or C; B and C warmed with an allow first) \
             stale_allows={stale} stale_denies_after_grant={} errors={errors}",
            verdict(ok),
            done.load(Ordering::SeqCst),
            stale_denies.load(Ordering::SeqCst),
        ),
        ok,
    })
}
