//! A one-off measurement, not a test: the time to list 100,000 authorized subjects and 100,000
//! accessible accounts on PostgreSQL, page by page (pages of 1,000), and the statements it takes.
//! Ignored by `make test`; run it in release against a PostgreSQL server where databases may be
//! created (it seeds its own, and drops it at the end):
//!
//! ```sh
//! GUICHET_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
//!   cargo nextest run --release -p guichet-server --run-ignored only --no-capture -E 'test(measure_lookups)'
//! ```
#![expect(clippy::print_stderr, reason = "a measurement prints its figures")]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use guichet_domain::{
    AccountId, Catalog, Consistency, Email, NewMembership, NewUser, Permission, RoleName, Timestamp, UserId,
};
use guichet_store::bulk::SeedPlan;
use guichet_store::entities::account;
use guichet_store::{Audit, PageRequest, Store, StoreOptions};
use sea_orm::{ConnectionTrait, Database, EntityTrait, IntoActiveModel};

use super::App;
use super::invalidation_tests::new_account;
use crate::clock::SystemClock;

const NOW: Timestamp = Timestamp::from_millis(1_795_000_000_000);
const CANDIDATES: u64 = 100_000;

/// Walks every page of `limit`; returns (items, pages, time, time of page 1, time of page 51,
/// statements).
async fn walk<F, Fut>(counter: &AtomicU64, mut page_of: F) -> (usize, usize, Duration, Duration, Duration, u64)
where
    F: FnMut(PageRequest) -> Fut,
    Fut: std::future::Future<Output = (usize, Option<String>)>,
{
    counter.store(0, Ordering::SeqCst);
    let start = Instant::now();
    let (mut items, mut pages, mut first, mut fifty_first) = (0, 0, Duration::ZERO, Duration::ZERO);
    let mut after = None;
    loop {
        let t = Instant::now();
        let (n, next) = page_of(PageRequest { after: after.clone(), limit: 1000 }).await;
        pages += 1;
        match pages {
            1 => first = t.elapsed(),
            51 => fifty_first = t.elapsed(),
            _ => {}
        }
        items += n;
        match next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    (items, pages, start.elapsed(), first, fifty_first, counter.load(Ordering::SeqCst))
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "a measurement on PostgreSQL (minutes before the chunked lookups): run it by hand in release"]
async fn measure_lookups() {
    let admin = std::env::var("GUICHET_TEST_DATABASE_URL").expect("GUICHET_TEST_DATABASE_URL");
    let name = format!("guichet_m_{:016x}", rand::TryRngCore::try_next_u64(&mut rand::rngs::OsRng).unwrap());
    let conn = Database::connect(admin.as_str()).await.unwrap();
    conn.execute_unprepared(&format!("CREATE DATABASE {name}")).await.unwrap();
    let (base, _) = admin.rsplit_once('/').unwrap();
    let url = format!("{base}/{name}");
    let catalog = Arc::new(Catalog::builtin().unwrap());
    let mut store = Store::connect(&StoreOptions::new(url.clone()), catalog.clone()).await.unwrap();
    store.migrate().await.unwrap();

    // 100,000 members of the partner p0 (the bulk world's rotating partner roles)...
    let seeding = Instant::now();
    store.bulk_seed(&SeedPlan::new(1, CANDIDATES).unwrap(), NOW).await.unwrap();
    // ...and an affiliate with 100,000 customers, whose account manager reaches them all.
    let audit = Audit::system(NOW);
    store.create_account(&new_account("fbig", "affiliate", None), &audit).await.unwrap();
    store.create_account(&new_account("fbig-c0", "customer", Some("fbig")), &audit).await.unwrap();
    let db = Database::connect(url.as_str()).await.unwrap();
    let model = account::Entity::find_by_id("fbig-c0".to_owned()).one(&db).await.unwrap().unwrap();
    for batch in (1..CANDIDATES).collect::<Vec<_>>().chunks(2_000) {
        let rows = batch.iter().map(|i| {
            let id = format!("fbig-c{i}");
            account::Model { path: format!("fbig/{id}"), name: id.clone(), id, ..model.clone() }.into_active_model()
        });
        account::Entity::insert_many(rows).exec_without_returning(&db).await.unwrap();
    }
    db.execute_unprepared("ANALYZE").await.unwrap();
    let boss = UserId::parse("boss").unwrap();
    let user = NewUser {
        id: Some(boss.clone()),
        email: Email::parse("boss@exemple.fr").unwrap(),
        given_name: "Boss".to_owned(),
        family_name: String::new(),
        phone: None,
        idp_subject: None,
    };
    store.create_user(&user, &audit).await.unwrap();
    let membership = NewMembership {
        id: None,
        account: AccountId::parse("fbig").unwrap(),
        user: boss.clone(),
        roles: vec![RoleName::parse("account_manager").unwrap()],
        restriction: None,
        expires_at: None,
    };
    store.create_membership(&membership, &audit).await.unwrap();
    eprintln!("MEASURE seeded in {:.1?}", seeding.elapsed());

    let counter = store.count_statements();
    let app = App::new(store.clone(), catalog, Arc::new(SystemClock));
    let permission = Permission::parse("users:view").unwrap();
    let p0 = AccountId::parse("p0").unwrap();
    let (items, pages, total, first, fifty_first, statements) = walk(&counter, |page| {
        let (app, p0, permission) = (&app, &p0, &permission);
        async move {
            let (p, _) =
                app.authorized_subjects(p0, permission, None, Consistency::MinimizeLatency, &page).await.unwrap();
            (p.items.len(), p.next_after)
        }
    })
    .await;
    eprintln!(
        "MEASURE ListAuthorizedSubjects(p0, users:view), {CANDIDATES} candidates: {items} subjects in {pages} pages \
         of 1000, {total:.2?} ({statements} statements); page 1 {first:.1?}, page 51 {fifty_first:.1?}"
    );
    let (items, pages, total, first, fifty_first, statements) = walk(&counter, |page| {
        let (app, boss, permission) = (&app, &boss, &permission);
        async move {
            let (p, _) = app.accessible_accounts(boss, permission, Consistency::MinimizeLatency, &page).await.unwrap();
            (p.items.len(), p.next_after)
        }
    })
    .await;
    eprintln!(
        "MEASURE ListAccessibleAccounts(boss, users:view), {} candidates: {items} accounts in {pages} pages of 1000, \
         {total:.2?} ({statements} statements); page 1 {first:.1?}, page 51 {fifty_first:.1?}",
        CANDIDATES + 1
    );

    drop(app);
    db.close().await.unwrap();
    store.close().await.unwrap();
    conn.execute_unprepared(&format!("DROP DATABASE {name} WITH (FORCE)")).await.unwrap();
}
