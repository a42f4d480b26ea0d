//! The reverse lookups at scale: ListAccessibleAccounts, ListAuthorizedSubjects and
//! ListAccessibleResources over 100,000 candidates of which 1% and 50% are allowed.
//!
//! `lookups-seed` writes the world into an empty PostgreSQL database with a few set-based
//! `INSERT … SELECT generate_series` statements (seconds, where the store's one-write-one-revision
//! path would take an hour):
//!
//! - the partner `lk_p`, and 100,000 customers `lk_c000001…` below it, each delegated to `lk_p`
//!   with the role `client_administrator`; the `hosting` module is enabled on the even ones (50%),
//!   `voip_911` on every hundredth (1%). `lk_admin` is `delegated_account_administrator` of `lk_p`:
//!   ListAccessibleAccounts `lk_admin hosting:view` gives 50,000 accounts, `voip_911:view` 1,000;
//! - the customer `lk_big` with 100,000 members `lu000001…`: every hundredth `administrator`, the
//!   other even ones `client_user`, the odd ones `user`. ListAuthorizedSubjects `lk_big users:full`
//!   gives 1,000 users, `billing:view` 50,000;
//! - the customer `lk_res` with 100,000 folders `lr000001…`; `lk_r1` and `lk_r50` are
//!   `client_user`s restricted to every hundredth folder and every even one:
//!   ListAccessibleResources `folders:view` gives 1,000 and 50,000 folders.
//!
//! `lookups` asks each question over gRPC: the first page (50 items) several times, then the full
//! listing in pages of 1,000; and, with `--database-url`, the statements the store sends for a
//! first page and for a page of 1,000 of the account and subject lookups (the store's walk, run in
//! this process with a statement counter).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use guichet_domain::{AccessRequest, AccountId, Catalog, Permission, UserId, evaluate};
use guichet_proto::v1::access_service_client::AccessServiceClient;
use guichet_proto::v1::{ListAccessibleAccountsRequest, ListAccessibleResourcesRequest, ListAuthorizedSubjectsRequest};
use guichet_store::{Lookup, Store, StoreOptions};
use sea_orm::{ConnectionTrait, Database};
use tonic::transport::{Channel, Endpoint};

use crate::BoxError;

/// How many candidates each question walks.
pub(crate) const CANDIDATES: u64 = 100_000;

/// The seeding statements (PostgreSQL), `{n}` the number of candidates.
const SEED: [&str; 14] = [
    "INSERT INTO accounts (id, name, kind, parent_id, path, depth, status, suspension_reason, modules, settings, created_at, updated_at) VALUES ('lk_p', 'Lookup partner', 'partner', NULL, 'lk_p', 1, 'active', NULL, '[]', '{}', 0, 0)",
    "INSERT INTO accounts (id, name, kind, parent_id, path, depth, status, suspension_reason, modules, settings, created_at, updated_at) SELECT 'lk_c' || lpad(i::text, 6, '0'), 'Customer ' || i, 'customer', 'lk_p', \
     'lk_p/lk_c' || lpad(i::text, 6, '0'), 2, 'active', NULL, \
     CASE WHEN i % 100 = 0 THEN '[\"hosting\",\"voip_911\"]' WHEN i % 2 = 0 THEN '[\"hosting\"]' ELSE '[]' END, \
     '{}', 0, 0 FROM generate_series(1, {n}) i",
    "INSERT INTO accounts (id, name, kind, parent_id, path, depth, status, suspension_reason, modules, settings, created_at, updated_at) VALUES ('lk_big', 'Big customer', 'customer', 'lk_p', 'lk_p/lk_big', 2, 'active', NULL, \
     '[\"billing\",\"folders\"]', '{}', 0, 0), \
     ('lk_res', 'Customer with folders', 'customer', 'lk_p', 'lk_p/lk_res', 2, 'active', NULL, '[\"folders\"]', '{}', 0, 0)",
    "INSERT INTO delegations (id, from_account_id, to_account_id, role, created_by, created_at) SELECT 'lk_d' || lpad(i::text, 6, '0'), 'lk_p', 'lk_c' || lpad(i::text, 6, '0'), \
     'client_administrator', NULL, 0 FROM generate_series(1, {n}) i",
    "INSERT INTO users (id, email, given_name, family_name, phone, idp_subject, status, claimed_at, created_at, updated_at) \
     SELECT id, id || '@lookups.example.com', 'User', id, NULL, NULL, 'active', 0, 0, 0 FROM \
     (SELECT 'lu' || lpad(i::text, 6, '0') AS id FROM generate_series(1, {n}) i \
      UNION ALL VALUES ('lk_admin'), ('lk_r1'), ('lk_r50')) u",
    "INSERT INTO memberships (id, user_id, account_id, status, restricted, created_by, approved_by, created_at, updated_at) \
     VALUES ('lk_m_admin', 'lk_admin', 'lk_p', 'active', false, NULL, NULL, 0, 0), \
     ('lk_m_r1', 'lk_r1', 'lk_res', 'active', true, NULL, NULL, 0, 0), \
     ('lk_m_r50', 'lk_r50', 'lk_res', 'active', true, NULL, NULL, 0, 0)",
    "INSERT INTO membership_roles (membership_id, role_name, account_id, position) VALUES \
     ('lk_m_admin', 'delegated_account_administrator', 'lk_p', 0), ('lk_m_r1', 'client_user', 'lk_res', 0), \
     ('lk_m_r50', 'client_user', 'lk_res', 0)",
    "INSERT INTO memberships (id, user_id, account_id, status, restricted, created_by, approved_by, created_at, updated_at) \
     SELECT 'lm' || lpad(i::text, 6, '0'), 'lu' || lpad(i::text, 6, '0'), 'lk_big', 'active', false, NULL, NULL, 0, 0 \
     FROM generate_series(1, {n}) i",
    "INSERT INTO membership_roles (membership_id, role_name, account_id, position) \
     SELECT 'lm' || lpad(i::text, 6, '0'), \
     CASE WHEN i % 100 = 0 THEN 'administrator' WHEN i % 2 = 0 THEN 'client_user' ELSE 'user' END, 'lk_big', 0 \
     FROM generate_series(1, {n}) i",
    "INSERT INTO resources (id, account_id, kind, name, created_at) \
     SELECT 'lr' || lpad(i::text, 6, '0'), 'lk_res', 'folders', 'Dossier ' || i, 0 FROM generate_series(1, {n}) i",
    "INSERT INTO membership_resources (membership_id, resource_id, level) \
     SELECT 'lk_m_r1', 'lr' || lpad(i::text, 6, '0'), 'full' FROM generate_series(100, {n}, 100) i",
    "INSERT INTO membership_resources (membership_id, resource_id, level) \
     SELECT 'lk_m_r50', 'lr' || lpad(i::text, 6, '0'), 'full' FROM generate_series(2, {n}, 2) i",
    "UPDATE guichet_revision SET value = value + 1 WHERE id = 1",
    "ANALYZE",
];

/// Migrates the empty database at `url` and writes the lookup world (see the module docs).
pub(crate) async fn seed(url: &str) -> Result<(), BoxError> {
    let store = Store::connect(&StoreOptions::new(url), Arc::new(Catalog::builtin()?)).await?;
    store.migrate().await?;
    if !store.is_empty().await? {
        return Err("lookups-seed needs an empty database".into());
    }
    store.close().await?;
    if !url.starts_with("postgres") {
        return Err("lookups-seed writes PostgreSQL (generate_series)".into());
    }
    let db = Database::connect(url).await?;
    let started = Instant::now();
    for statement in SEED {
        db.execute_unprepared(&statement.replace("{n}", &CANDIDATES.to_string())).await?;
    }
    println!(
        "seeded the lookup world ({CANDIDATES} candidates per question) in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    db.close().await?;
    Ok(())
}

/// One question of the bench.
#[derive(Debug, Clone, Copy)]
enum Question {
    Accounts { subject: &'static str, permission: &'static str },
    Subjects { account: &'static str, permission: &'static str },
    Resources { subject: &'static str, account: &'static str, permission: &'static str },
}

/// The questions, with the share of candidates allowed.
const QUESTIONS: [(&str, Question); 6] = [
    ("ListAccessibleAccounts 1%", Question::Accounts { subject: "lk_admin", permission: "voip_911:view" }),
    ("ListAccessibleAccounts 50%", Question::Accounts { subject: "lk_admin", permission: "hosting:view" }),
    ("ListAuthorizedSubjects 1%", Question::Subjects { account: "lk_big", permission: "users:full" }),
    ("ListAuthorizedSubjects 50%", Question::Subjects { account: "lk_big", permission: "billing:view" }),
    (
        "ListAccessibleResources 1%",
        Question::Resources { subject: "lk_r1", account: "lk_res", permission: "folders:view" },
    ),
    (
        "ListAccessibleResources 50%",
        Question::Resources { subject: "lk_r50", account: "lk_res", permission: "folders:view" },
    ),
];

/// Sends one lookup request, `$request` of its own fields then the permission and the page, and
/// counts what came back in `$items`: (items, next page token).
macro_rules! lookup_page {
    ($client:ident.$rpc:ident($request:ident { $($field:ident: $value:expr),+ }, $permission:expr, $size:expr, $token:expr) -> $items:ident) => {{
        let request = $request {
            $($field: $value.to_owned(),)+
            permission: $permission.to_owned(),
            page_size: $size,
            page_token: $token,
            ..Default::default()
        };
        let r = $client.$rpc(request).await?.into_inner();
        (r.$items.len(), r.next_page_token)
    }};
}

/// One page: (items, next page token).
async fn page(
    client: &mut AccessServiceClient<Channel>,
    question: Question,
    size: i32,
    token: String,
) -> Result<(usize, String), BoxError> {
    Ok(match question {
        Question::Accounts { subject, permission } => lookup_page!(
            client.list_accessible_accounts(ListAccessibleAccountsRequest { subject_id: subject }, permission, size, token) -> accounts
        ),
        Question::Subjects { account, permission } => lookup_page!(
            client.list_authorized_subjects(ListAuthorizedSubjectsRequest { account_id: account }, permission, size, token) -> subjects
        ),
        Question::Resources { subject, account, permission } => lookup_page!(
            client.list_accessible_resources(
                ListAccessibleResourcesRequest { subject_id: subject, account_id: account }, permission, size, token
            ) -> resource_ids
        ),
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1_000.0
}

/// Asks every question of the lookup world to the server at `addr` (see the module docs); with
/// `database_url`, also counts the store's statements per page.
/// `only`: the questions whose name contains it; `server_pid`: the server, for the `host` line
/// over the questions asked over gRPC.
pub(crate) async fn run(
    addr: &str,
    repeat: usize,
    database_url: Option<&str>,
    only: Option<&str>,
    server_pid: Option<u32>,
) -> Result<(), BoxError> {
    let started = Instant::now();
    let before = crate::host::sample(server_pid);
    let channel = Endpoint::from_shared(format!("http://{addr}"))?.connect().await?;
    let mut client = AccessServiceClient::new(channel).max_decoding_message_size(64 << 20);
    let asked = |name: &str| only.is_none_or(|o| name.contains(o));
    for (name, question) in QUESTIONS.into_iter().filter(|(name, _)| asked(name)) {
        // The first page of 50, `repeat` times: the fastest, the median, the 99th percentile
        // (nearest rank) and the slowest.
        let mut firsts = Vec::with_capacity(repeat);
        let mut first_items = 0;
        for _ in 0..repeat.max(1) {
            let started = Instant::now();
            let (items, _) = page(&mut client, question, 50, String::new()).await?;
            firsts.push(started.elapsed());
            first_items = items;
        }
        firsts.sort();
        // The whole listing, in pages of 1,000.
        let started = Instant::now();
        let (mut total, mut pages, mut token) = (0, 0, String::new());
        loop {
            let (items, next) = page(&mut client, question, 1_000, token).await?;
            total += items;
            pages += 1;
            if next.is_empty() {
                break;
            }
            token = next;
        }
        let full = started.elapsed();
        println!(
            "{name:<28} first page ({first_items} items, {} asks): min {:>6.1} ms, p50 {:>6.1} ms, p99 {:>6.1} ms, max {:>6.1} ms; full listing: {total} items in {pages} pages, {:>7.1} ms",
            firsts.len(),
            ms(firsts[0]),
            ms(firsts[firsts.len() / 2]),
            ms(firsts[(firsts.len() * 99).div_ceil(100).saturating_sub(1)]),
            ms(firsts[firsts.len() - 1]),
            ms(full),
        );
    }
    if let (Some(before), Some(after)) = (before, crate::host::sample(server_pid)) {
        println!("  host     {}", crate::host::describe(&before, &after, started.elapsed().as_secs_f64()));
    }
    if let Some(url) = database_url {
        statements(url, &asked).await?;
    }
    Ok(())
}

/// The statements the store's walk sends for a first page (51 wanted: a page of 50 and the one
/// that says there is a next page) and for a page of 1,000, for the account and subject questions.
async fn statements(url: &str, asked: &dyn Fn(&str) -> bool) -> Result<(), BoxError> {
    let catalog = Arc::new(Catalog::builtin()?);
    let mut store = Store::connect(&StoreOptions::new(url), catalog.clone()).await?;
    let counter = store.count_statements();
    for (name, question) in QUESTIONS.into_iter().filter(|(name, _)| asked(name)) {
        let (subject, account, permission) = match question {
            Question::Accounts { subject, permission } => (Some(UserId::parse(subject)?), None, permission),
            Question::Subjects { account, permission } => (None, Some(AccountId::parse(account)?), permission),
            Question::Resources { .. } => continue,
        };
        let permission = Permission::parse(permission)?;
        let lookup = match (&subject, &account) {
            (Some(subject), _) => Lookup::Accounts { subject, permission: &permission },
            (None, Some(account)) => Lookup::Subjects { account, permission: &permission, resource: None },
            (None, None) => continue,
        };
        // The lookup world holds no expiry: any instant evaluates it the same.
        let now = crate::SEED_TIME;
        let mut counts = Vec::new();
        for want in [51, 1_001] {
            counter.store(0, Ordering::SeqCst);
            let (kept, _) = store
                .lookup(lookup, None, want, now, |r: &AccessRequest, f| {
                    evaluate(&catalog, r, f, now).allowed.then_some(())
                })
                .await?;
            counts.push((want, kept.len(), counter.load(Ordering::SeqCst)));
        }
        let line: Vec<String> =
            counts.iter().map(|(want, kept, n)| format!("{n} statements for {want} wanted ({kept} kept)")).collect();
        println!("{name:<28} store walk: {}", line.join("; "));
    }
    store.close().await?;
    Ok(())
}
