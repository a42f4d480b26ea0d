//! Lookups: the resources a subject reaches in an account, the subjects that hold a permission in
//! an account, the accounts where a subject holds one.
//!
//! A page costs a bounded number of store statements whatever the number of candidates: the store
//! pre-filters them in SQL (an over-approximation of the decision's rules) and the decision engine
//! confirms each one returned; one step of the walk is one candidate statement and the facts of
//! its candidates (the bound is in `guichet_store`'s `lookups` module). The resources of an
//! account are one decision and one statement for the page.

use std::collections::BTreeSet;

use guichet_domain::{
    AccessRequest, AccountId, Consistency, Decision, FeatureName, Level, MembershipId, Path, PathOutcome, Permission,
    ResourceId, Revision, UserId, evaluate,
};
use guichet_store::{Lookup, Page, PageRequest};

use super::{Accessible, App};
use crate::error::ServerError;

impl App {
    /// The resources of `account` on which `subject` holds `permission`, by id.
    ///
    /// The account-level decision says which paths grant the level. A path through an
    /// unrestricted membership, an ancestor or a delegation reaches every resource of the account;
    /// otherwise only the resources the granting restricted memberships were given.
    pub async fn accessible_resources(
        &self,
        subject: &UserId,
        account: &AccountId,
        permission: &Permission,
        kind: Option<&FeatureName>,
        consistency: Consistency,
        page: &PageRequest,
    ) -> Result<(Page<ResourceId>, Revision), ServerError> {
        self.fail_fast()?;
        self.check_revision(consistency).await?;
        let request = AccessRequest {
            subject: subject.clone(),
            account: account.clone(),
            permission: permission.clone(),
            resource: None,
        };
        let (facts, revision) = self.store().load_facts(&request).await?;
        let decision = evaluate(self.catalog(), &request, &facts, self.clock.now());
        if !decision.allowed {
            return Ok((Page { items: Vec::new(), next_after: None }, revision));
        }
        let restricted: BTreeSet<&MembershipId> =
            facts.memberships.iter().filter(|m| m.resources.is_some()).map(|m| &m.id).collect();
        let granting: Vec<&Path> =
            decision.paths.iter().filter(|p| p.outcome == PathOutcome::Granted).map(|p| &p.path).collect();
        // An unrestricted membership (direct or inherited) or a delegation reaches every resource; a
        // restricted one only its own (an ancestor's restriction names the ancestor's folders, so
        // it reaches none of this account's).
        let everything = granting.iter().any(|p| match p {
            Path::Direct { membership, .. } | Path::Inherited { membership, .. } => !restricted.contains(membership),
            Path::Delegated { .. } => true,
        });
        let found = if everything {
            let all = self.store().list_resources(account, kind, page).await?;
            Page { items: all.items.into_iter().map(|r| r.id).collect(), next_after: all.next_after }
        } else {
            let memberships: Vec<MembershipId> = granting
                .iter()
                .filter_map(|p| match p {
                    Path::Direct { membership, .. } => Some(membership.clone()),
                    Path::Inherited { .. } | Path::Delegated { .. } => None,
                })
                .collect();
            // Each reached at a cap that keeps the level asked (see guichet_domain::restriction).
            let at_least = permission.level.max(Level::View);
            self.store().resources_of_memberships(account, &memberships, at_least, kind, page).await?
        };
        Ok((found, revision))
    }

    /// The users holding `permission` in `account` (on `resource` when given), by user id.
    ///
    /// The candidates (members of the account, of its ancestors and of the accounts delegating
    /// into them) are evaluated a chunk at a time in one store snapshot, which the returned
    /// revision is; see [`App::lookup`].
    pub async fn authorized_subjects(
        &self,
        account: &AccountId,
        permission: &Permission,
        resource: Option<&ResourceId>,
        consistency: Consistency,
        page: &PageRequest,
    ) -> Result<(Page<(UserId, Accessible)>, Revision), ServerError> {
        let lookup = Lookup::Subjects { account, permission, resource };
        let (page, revision) = self.lookup(lookup, consistency, page).await?;
        let items = page
            .items
            .into_iter()
            .map(|(request, decision)| (request.subject, Accessible { account: account.clone(), decision }))
            .collect();
        Ok((Page { items, next_after: page.next_after }, revision))
    }

    /// The accounts where `subject` holds `permission`, by account id.
    ///
    /// The candidates (the accounts of the subject's memberships, the targets of delegations from
    /// them, and their descendants) are evaluated a chunk at a time in one store snapshot, which
    /// the returned revision is; see [`App::lookup`].
    pub async fn accessible_accounts(
        &self,
        subject: &UserId,
        permission: &Permission,
        consistency: Consistency,
        page: &PageRequest,
    ) -> Result<(Page<Accessible>, Revision), ServerError> {
        let (page, revision) = self.lookup(Lookup::Accounts { subject, permission }, consistency, page).await?;
        let items = page
            .items
            .into_iter()
            .map(|(request, decision)| Accessible { account: request.account, decision })
            .collect();
        Ok((Page { items, next_after: page.next_after }, revision))
    }

    /// One page of a reverse lookup: the allowed candidates after `page.after`, in id order, with
    /// their decisions. The store walks the candidates and stops at `page.limit + 1` allowed ones
    /// (the extra one says there is a next page); the page token is the id of the last one
    /// returned.
    async fn lookup(
        &self,
        lookup: Lookup<'_>,
        consistency: Consistency,
        page: &PageRequest,
    ) -> Result<(Page<(AccessRequest, Decision)>, Revision), ServerError> {
        self.fail_fast()?;
        self.check_revision(consistency).await?;
        let limit = usize::try_from(page.limit).unwrap_or(usize::MAX);
        let catalog = self.catalog();
        let now = self.clock.now();
        let (mut items, revision) = self
            .store()
            .lookup(lookup, page.after.as_deref(), limit.saturating_add(1), now, |request, facts| {
                let decision = evaluate(catalog, request, facts, now);
                decision.allowed.then(|| (request.clone(), decision))
            })
            .await?;
        let id = |(r, _): &(AccessRequest, Decision)| match lookup {
            Lookup::Subjects { .. } => r.subject.as_str().to_owned(),
            Lookup::Accounts { .. } => r.account.as_str().to_owned(),
        };
        let next_after = if items.len() > limit {
            items.truncate(limit);
            items.last().map(id)
        } else {
            None
        };
        Ok((Page { items, next_after }, revision))
    }
}

#[cfg(test)]
mod tests {
    //! The reverse lookups over worlds of thousands of candidates, on SQLite (a temporary file)
    //! and, when `GUICHET_TEST_DATABASE_URL` is set, on a fresh PostgreSQL database: every page
    //! put together gives exactly what one `check` per candidate gives, in id order, in a number of
    //! statements far below one per candidate.

    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    use guichet_domain::{
        AccountStatus, Catalog, Level, MembershipId, NewMembership, NewUser, Path, RoleName, Timestamp, UserStatus,
    };
    use guichet_store::bulk::SeedPlan;
    use guichet_store::{Audit, Store, StoreOptions};
    use sea_orm::{ConnectionTrait, Database};

    use super::*;
    use crate::app::Checked;
    use crate::clock::SystemClock;

    const NOW: Timestamp = Timestamp::from_millis(1_795_000_000_000);

    /// A test database, dropped (PostgreSQL) or removed (SQLite) at the end.
    enum Db {
        Sqlite(#[expect(dead_code, reason = "held to remove the directory when dropped")] tempfile::TempDir),
        Postgres { admin: String, name: String },
    }

    async fn open(url: String) -> Store {
        let store = Store::connect(&StoreOptions::new(url), Arc::new(Catalog::builtin().unwrap())).await.unwrap();
        store.migrate().await.unwrap();
        store
    }

    async fn sqlite() -> (Store, Db) {
        let dir = tempfile::tempdir().unwrap();
        let store = open(format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display())).await;
        (store, Db::Sqlite(dir))
    }

    async fn postgres() -> Option<(Store, Db)> {
        let Ok(admin) = std::env::var("GUICHET_TEST_DATABASE_URL") else {
            assert!(std::env::var("CI").is_err(), "GUICHET_TEST_DATABASE_URL must be set in CI");
            eprintln!("SKIPPED PostgreSQL lookup test: GUICHET_TEST_DATABASE_URL is not set");
            return None;
        };
        let name = format!("guichet_l_{:016x}", rand::TryRngCore::try_next_u64(&mut rand::rngs::OsRng).unwrap());
        let conn = Database::connect(admin.as_str()).await.unwrap();
        conn.execute_unprepared(&format!("CREATE DATABASE {name}")).await.unwrap();
        conn.close().await.unwrap();
        let (base, _) = admin.rsplit_once('/').unwrap();
        let store = open(format!("{base}/{name}")).await;
        Some((store, Db::Postgres { admin, name }))
    }

    /// The tests `$sqlite` and `$postgres`: `$body` (which takes a migrated store and its
    /// database) on a new database of each backend; on PostgreSQL when one is configured.
    macro_rules! on_both_backends {
        ($body:ident => $sqlite:ident, $postgres:ident) => {
            #[tokio::test]
            async fn $sqlite() {
                let (store, db) = sqlite().await;
                $body(store, db).await;
            }

            #[tokio::test(flavor = "multi_thread")]
            async fn $postgres() {
                if let Some((store, db)) = postgres().await {
                    $body(store, db).await;
                }
            }
        };
    }

    async fn finish(app: App, store: Store, db: Db) {
        drop(app);
        store.close().await.unwrap();
        if let Db::Postgres { admin, name } = db {
            let conn = Database::connect(admin.as_str()).await.unwrap();
            conn.execute_unprepared(&format!("DROP DATABASE {name} WITH (FORCE)")).await.unwrap();
            conn.close().await.unwrap();
        }
    }

    fn app(store: &Store) -> App {
        App::new(store.clone(), Arc::new(Catalog::builtin().unwrap()), Arc::new(SystemClock))
    }

    /// What a lookup says of one candidate: its id, its effective level, the path that granted.
    type Answer = (String, Level, Option<Path>);

    /// One `check` per candidate (a few at a time): the allowed ones, in id order.
    async fn reference(app: &App, requests: Vec<AccessRequest>, id: impl Fn(&AccessRequest) -> String) -> Vec<Answer> {
        use futures::StreamExt;
        let checked: Vec<(AccessRequest, Checked)> = futures::stream::iter(requests)
            .map(|r| async move {
                let c = app.check(&r, Consistency::MinimizeLatency).await.unwrap();
                (r, c)
            })
            .buffer_unordered(8)
            .collect()
            .await;
        let mut out: Vec<Answer> = checked
            .into_iter()
            .filter(|(_, c)| c.decision.allowed)
            .map(|(r, c)| (id(&r), c.decision.effective, c.decision.granted_by))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Walks through every page at 137 and at 1,000 items a page: the pages together give
    /// `expected` and no page takes more than 100 statements (a few chunks of about a dozen each,
    /// where one check per candidate took up to ten statements per candidate).
    async fn assert_pages<F, Fut>(counter: &AtomicU64, expected: &[Answer], mut page_of: F)
    where
        F: FnMut(PageRequest) -> Fut,
        Fut: std::future::Future<Output = (Vec<Answer>, Option<String>, Revision)>,
    {
        for limit in [137, 1000] {
            let (got, most) = walk(limit, counter, &mut page_of).await;
            assert_eq!(got, expected, "pages of {limit}");
            assert!(most <= 100, "{most} statements for one page of {limit}");
        }
    }

    /// Checks one walk through every page of `limit`: pages of at most `limit`, tokens that are
    /// the last id of their page, one revision, ids strictly increasing; returns the answers and
    /// the most statements one page took.
    async fn walk<F, Fut>(limit: u64, counter: &AtomicU64, mut page_of: F) -> (Vec<Answer>, u64)
    where
        F: FnMut(PageRequest) -> Fut,
        Fut: std::future::Future<Output = (Vec<Answer>, Option<String>, Revision)>,
    {
        let mut all: Vec<Answer> = Vec::new();
        let mut after = None;
        let mut revisions = std::collections::BTreeSet::new();
        let mut most = 0;
        loop {
            counter.store(0, Ordering::SeqCst);
            let (items, next, revision) = page_of(PageRequest { after: after.clone(), limit }).await;
            most = most.max(counter.load(Ordering::SeqCst));
            revisions.insert(revision);
            assert!(items.len() <= usize::try_from(limit).unwrap(), "{} items for a limit of {limit}", items.len());
            if let Some(next) = &next {
                assert_eq!(Some(next), items.last().map(|a| &a.0), "the token is the last id of its page");
            }
            all.extend(items);
            match next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        assert_eq!(revisions.len(), 1, "one revision while nothing is written: {revisions:?}");
        assert!(all.windows(2).all(|w| w[0].0 < w[1].0), "ids strictly increasing across pages");
        (all, most)
    }

    /// One page of ListAuthorizedSubjects as answers, with its token and its revision.
    async fn subjects_page(
        app: &App,
        account: &AccountId,
        permission: &Permission,
        resource: Option<&ResourceId>,
        page: PageRequest,
    ) -> (Vec<Answer>, Option<String>, Revision) {
        let (p, revision) =
            app.authorized_subjects(account, permission, resource, Consistency::MinimizeLatency, &page).await.unwrap();
        let items = p.items.into_iter().map(|(u, a)| (u.to_string(), a.decision.effective, a.decision.granted_by));
        (items.collect(), p.next_after, revision)
    }

    /// One page of ListAccessibleAccounts as answers, with its token and its revision.
    async fn accounts_page(
        app: &App,
        subject: &UserId,
        permission: &Permission,
        page: PageRequest,
    ) -> (Vec<Answer>, Option<String>, Revision) {
        let (p, revision) =
            app.accessible_accounts(subject, permission, Consistency::MinimizeLatency, &page).await.unwrap();
        let items = p.items.into_iter().map(|a| (a.account.to_string(), a.decision.effective, a.decision.granted_by));
        (items.collect(), p.next_after, revision)
    }

    fn perm(s: &str) -> Permission {
        Permission::parse(s).unwrap()
    }

    /// ListAuthorizedSubjects over an account whose chain holds 2,100 members (the bulk world's
    /// partner tree, 700 members per account: the customer c6, its sub-partner and its partner,
    /// which also delegates into it; restricted memberships; a few suspended users).
    async fn authorized_subjects_of_a_large_account(mut store: Store, db: Db) {
        let plan = SeedPlan::new(10, 7_000).unwrap();
        store.bulk_seed(&plan, NOW).await.unwrap();
        let audit = Audit::system(NOW);
        for (a, j) in [(6, 3), (0, 1), (1, 4)] {
            let u = SeedPlan::user_id(plan.membership_at(a, j).unwrap());
            store.set_user_status(&UserId::from_trusted(u), UserStatus::Suspended, &audit).await.unwrap();
        }
        let counter = store.count_statements();
        let app = app(&store);
        let account = AccountId::from_trusted("c6");
        // The members of c6, of its ancestors s1 and p0 (p0 also delegates into c6).
        let candidates: Vec<String> = (0..plan.memberships)
            .filter(|m| [0, 1, 6].contains(&plan.membership_account(*m)))
            .map(SeedPlan::user_id)
            .collect();
        assert_eq!(candidates.len(), 2_100);
        let permission = perm("users:view");
        let requests = candidates
            .iter()
            .map(|u| AccessRequest {
                subject: UserId::from_trusted(u.as_str()),
                account: account.clone(),
                permission: permission.clone(),
                resource: None,
            })
            .collect();
        let expected = reference(&app, requests, |r| r.subject.to_string()).await;
        assert!(expected.len() > 300 && expected.len() < 1_800, "{} of 2,100 allowed", expected.len());
        assert_pages(&counter, &expected, |page| subjects_page(&app, &account, &permission, None, page)).await;
        finish(app, store, db).await;
    }

    on_both_backends!(
        authorized_subjects_of_a_large_account => authorized_subjects_pages_through_a_large_account_on_sqlite,
        authorized_subjects_pages_through_a_large_account_on_postgres
    );

    /// ListAccessibleAccounts for a user who is account manager of 200 roots (160 partners, 40
    /// affiliates) of the bulk world: 2,000 candidate accounts, of which the partners, the
    /// customers they delegated to themselves and every account of the affiliate trees (but one
    /// suspended tree) are allowed.
    async fn accessible_accounts_of_a_wide_user(mut store: Store, db: Db) {
        let plan = SeedPlan::new(2_000, 2_000).unwrap();
        store.bulk_seed(&plan, NOW).await.unwrap();
        let audit = Audit::system(NOW);
        let wide = UserId::from_trusted("wide");
        let cmd = NewUser {
            id: Some(wide.clone()),
            email: guichet_domain::Email::parse("wide@exemple.fr").unwrap(),
            given_name: "Wide".to_owned(),
            family_name: String::new(),
            phone: None,
            idp_subject: None,
        };
        store.create_user(&cmd, &audit).await.unwrap();
        for root in (0..plan.accounts).step_by(10) {
            let cmd = NewMembership {
                id: Some(MembershipId::from_trusted(format!("mw{root}"))),
                account: AccountId::from_trusted(SeedPlan::account_id(root)),
                user: wide.clone(),
                roles: vec![RoleName::from_trusted("account_manager")],
                restriction: None,
                expires_at: None,
            };
            store.create_membership(&cmd, &audit).await.unwrap();
        }
        store
            .set_account_status(&AccountId::from_trusted("f40"), AccountStatus::Suspended, None, &audit)
            .await
            .unwrap();
        let counter = store.count_statements();
        let app = app(&store);
        let permission = perm("users:view");
        let requests = (0..plan.accounts)
            .map(|a| AccessRequest {
                subject: wide.clone(),
                account: AccountId::from_trusted(SeedPlan::account_id(a)),
                permission: permission.clone(),
                resource: None,
            })
            .collect();
        let expected = reference(&app, requests, |r| r.account.to_string()).await;
        // 160 partner trees (the partner and its two delegated customers), 39 live affiliate trees.
        assert_eq!(expected.len(), 160 * 3 + 39 * 10);
        assert_pages(&counter, &expected, |page| accounts_page(&app, &wide, &permission, page)).await;
        finish(app, store, db).await;
    }

    on_both_backends!(
        accessible_accounts_of_a_wide_user => accessible_accounts_pages_through_thousands_of_accounts_on_sqlite,
        accessible_accounts_pages_through_thousands_of_accounts_on_postgres
    );

    /// A SplitMix64 generator: deterministic worlds from a seed, no dependency.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }

        fn below(&mut self, n: usize) -> usize {
            usize::try_from(self.next() % u64::try_from(n.max(1)).unwrap()).unwrap()
        }

        fn one_in(&mut self, n: usize) -> bool {
            self.below(n) == 0
        }

        fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
            &items[self.below(items.len())]
        }
    }

    /// The permissions asked about: administrative and module features, both levels, an unknown
    /// feature.
    const PERMISSIONS: [&str; 10] = [
        "users:view",
        "users:full",
        "folders:view",
        "folders:full",
        "billing:view",
        "billing:full",
        "hosting:view",
        "delegated_administration:full",
        "roles:view",
        "nothing_here:view",
    ];

    /// The roles of the bulk world's account `a`: the built-in ones of its kind, then the custom
    /// ones created in it.
    fn role_names(catalog: &Catalog, custom: &[(String, String)], a: u64) -> Vec<String> {
        let kind = guichet_domain::AccountKind::from_trusted(SeedPlan::kind(a).as_str());
        let account = SeedPlan::account_id(a);
        let mut names: Vec<String> = catalog
            .kinds()
            .find(|k| k.name == kind)
            .map(|k| k.roles.iter().map(|r| r.name.as_str().to_owned()).collect())
            .unwrap_or_default();
        names.extend(custom.iter().filter(|(c, _)| *c == account).map(|(_, n)| n.clone()));
        names
    }

    /// A random small world: the bulk world of 50 accounts and 300 memberships, then, from `seed`,
    /// suspended accounts, users and memberships, disabled modules, custom roles with and without
    /// descendant levels, extra members holding random built-in and custom roles (some
    /// restricted, with `view` and `full` caps) in random accounts, delegations with random roles.
    /// Returns the plan, the users and the resources.
    async fn random_world(store: &Store, seed: u64) -> (SeedPlan, Vec<String>, Vec<(String, String)>) {
        use guichet_domain::{AccountStatus, Grants, MembershipStatus, NewDelegation, RoleDefinition};
        let mut rng = Rng(seed);
        let plan = SeedPlan::new(50, 300).unwrap();
        store.bulk_seed(&plan, NOW).await.unwrap();
        let audit = Audit::system(NOW);
        let catalog = Catalog::builtin().unwrap();
        let accounts: Vec<u64> = (0..plan.accounts).collect();
        let mut users: Vec<String> = (0..plan.memberships).map(SeedPlan::user_id).collect();
        let resources: Vec<(String, String)> = accounts
            .iter()
            .filter(|a| SeedPlan::kind(**a) == guichet_store::bulk::SeedKind::Customer)
            .flat_map(|a| {
                (0..guichet_store::bulk::FOLDERS_PER_CUSTOMER)
                    .map(move |k| (SeedPlan::account_id(*a), format!("r{a}-{k}")))
            })
            .collect();
        // Custom roles: some with descendant levels, some holding the delegation right.
        let features = ["users", "folders", "billing", "delegated_administration", "hosting"];
        let mut custom: Vec<(String, String)> = Vec::new();
        for i in 0..8 {
            let account = SeedPlan::account_id(rng.below(accounts.len()) as u64);
            let mut grants = Grants::new();
            let mut below = Grants::new();
            for f in features {
                let level = *rng.pick(&[Level::None, Level::View, Level::Full]);
                if level > Level::None {
                    grants.insert(FeatureName::from_trusted(f), level);
                }
                if rng.one_in(3) {
                    below.insert(FeatureName::from_trusted(f), *rng.pick(&[Level::View, Level::Full]));
                }
            }
            let def = RoleDefinition {
                account: AccountId::from_trusted(account.as_str()),
                name: RoleName::from_trusted(format!("custom_{i}")),
                display_name: format!("Custom {i}"),
                description: String::new(),
                grants,
                descendant_grants: below,
            };
            if store.create_role(&def, &audit).await.is_ok() {
                custom.push((account, format!("custom_{i}")));
            }
        }
        // Extra members with random roles of their account (built-in or custom), some restricted.
        for i in 0..40 {
            let user = format!("x{i}");
            let cmd = NewUser {
                id: Some(UserId::from_trusted(user.as_str())),
                email: guichet_domain::Email::parse(&format!("x{i}@exemple.fr")).unwrap(),
                given_name: "X".to_owned(),
                family_name: String::new(),
                phone: None,
                idp_subject: None,
            };
            store.create_user(&cmd, &audit).await.unwrap();
            users.push(user.clone());
            for _ in 0..1 + rng.below(3) {
                let a = *rng.pick(&accounts);
                let account = SeedPlan::account_id(a);
                let names = role_names(&catalog, &custom, a);
                let roles = (0..1 + rng.below(2)).map(|_| RoleName::from_trusted(rng.pick(&names).as_str())).collect();
                let mine: Vec<&(String, String)> = resources.iter().filter(|(c, _)| *c == account).collect();
                let restriction = (!mine.is_empty() && rng.one_in(2)).then(|| {
                    let mut r = guichet_domain::Restriction::new();
                    for (_, res) in mine {
                        if rng.one_in(2) {
                            r.insert(ResourceId::from_trusted(res.as_str()), *rng.pick(&[Level::View, Level::Full]));
                        }
                    }
                    r
                });
                let cmd = NewMembership {
                    id: Some(MembershipId::from_trusted(format!("mx{i}-{account}"))),
                    account: AccountId::from_trusted(account.as_str()),
                    user: UserId::from_trusted(user.as_str()),
                    roles,
                    restriction,
                    expires_at: None,
                };
                // A second membership in the same account is refused: one is enough.
                if let Ok((m, _)) = store.create_membership(&cmd, &audit).await
                    && rng.one_in(6)
                {
                    let _refused = store.set_membership_status(&m.id, MembershipStatus::Suspended, false, &audit).await;
                }
            }
        }
        // Delegations from an account into a descendant, with a role of the target.
        for _ in 0..20 {
            let to = *rng.pick(&accounts);
            let from = SeedPlan::tree_base(to) + if rng.one_in(2) { 0 } else { 1 };
            let (from_id, to_id) = (SeedPlan::account_id(from), SeedPlan::account_id(to));
            let names = role_names(&catalog, &custom, to);
            let cmd = NewDelegation {
                id: None,
                from_account: AccountId::from_trusted(from_id),
                to_account: AccountId::from_trusted(to_id),
                role: RoleName::from_trusted(rng.pick(&names).as_str()),
                expires_at: None,
            };
            let _refused_when_out_of_tree_or_twice = store.create_delegation(&cmd, &audit).await;
        }
        // Suspensions and modules.
        for a in &accounts {
            let id = AccountId::from_trusted(SeedPlan::account_id(*a));
            if rng.one_in(12) {
                store.set_account_status(&id, AccountStatus::Suspended, None, &audit).await.unwrap();
            }
            if rng.one_in(4) {
                let modules = catalog
                    .default_modules()
                    .into_iter()
                    .filter(|_| rng.one_in(2))
                    .collect::<std::collections::BTreeSet<_>>();
                store.set_account_modules(&id, &modules, &audit).await.unwrap();
            }
        }
        for u in &users {
            if rng.one_in(15) {
                let user = UserId::from_trusted(u.as_str());
                // Refused for the last administrator of an account: the world keeps it active.
                let _refused = store.set_user_status(&user, UserStatus::Suspended, &audit).await;
            }
        }
        for m in 0..plan.memberships {
            if rng.one_in(15) {
                let id = MembershipId::from_trusted(format!("m{m}"));
                let _refused = store.set_membership_status(&id, MembershipStatus::Suspended, false, &audit).await;
            }
        }
        (plan, users, resources)
    }

    /// The allowed answers among `requests`, by evaluating every one on facts read in one batch.
    async fn evaluated(
        store: &Store,
        requests: &[AccessRequest],
        id: impl Fn(&AccessRequest) -> String,
    ) -> Vec<Answer> {
        let catalog = Catalog::builtin().unwrap();
        let refs: Vec<&AccessRequest> = requests.iter().collect();
        let (facts, _) = store.load_facts_many(&refs).await.unwrap();
        let mut out: Vec<Answer> = requests
            .iter()
            .zip(&facts)
            .map(|(r, f)| (r, evaluate(&catalog, r, f, NOW)))
            .filter(|(_, d)| d.allowed)
            .map(|(r, d)| (id(r), d.effective, d.granted_by))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Over random worlds, the filtered lookups give exactly what evaluating every candidate gives:
    /// the pre-filter never drops an allowed candidate (and the decision drops the others).
    async fn filtered_lookups_match_every_candidate(store: &Store, seed: u64) {
        let (plan, users, resources) = random_world(store, seed).await;
        let app = app(store);
        let counter = std::sync::atomic::AtomicU64::new(0);
        let mut rng = Rng(seed ^ 0xA5A5);
        let all_accounts: Vec<String> = (0..plan.accounts).map(SeedPlan::account_id).collect();
        let mut nonempty = 0;
        for round in 0..24 {
            let permission = perm(PERMISSIONS[rng.below(PERMISSIONS.len())]);
            let limit = *rng.pick(&[1_u64, 3, 7, 1000]);
            if round % 2 == 0 {
                let subject = UserId::from_trusted(rng.pick(&users).as_str());
                let requests: Vec<AccessRequest> = all_accounts
                    .iter()
                    .map(|a| AccessRequest {
                        subject: subject.clone(),
                        account: AccountId::from_trusted(a.as_str()),
                        permission: permission.clone(),
                        resource: None,
                    })
                    .collect();
                let expected = evaluated(store, &requests, |r| r.account.to_string()).await;
                nonempty += usize::from(!expected.is_empty());
                let (got, _) = walk(limit, &counter, |page| accounts_page(&app, &subject, &permission, page)).await;
                assert_eq!(got, expected, "seed {seed} round {round}: {subject} {permission}");
            } else {
                let account = AccountId::from_trusted(rng.pick(&all_accounts).as_str());
                // A resource of the account, of another account, or none.
                let resource = match rng.below(3) {
                    0 => None,
                    1 => resources.iter().find(|(a, _)| *a == account.as_str()).map(|(_, r)| r.clone()),
                    _ => Some(rng.pick(&resources).1.clone()),
                }
                .map(ResourceId::from_trusted);
                let requests: Vec<AccessRequest> = users
                    .iter()
                    .map(|u| AccessRequest {
                        subject: UserId::from_trusted(u.as_str()),
                        account: account.clone(),
                        permission: permission.clone(),
                        resource: resource.clone(),
                    })
                    .collect();
                let expected = evaluated(store, &requests, |r| r.subject.to_string()).await;
                nonempty += usize::from(!expected.is_empty());
                let (got, _) =
                    walk(limit, &counter, |page| subjects_page(&app, &account, &permission, resource.as_ref(), page))
                        .await;
                assert_eq!(got, expected, "seed {seed} round {round}: {account} {permission} on {resource:?}");
            }
        }
        assert!(nonempty >= 4, "seed {seed}: only {nonempty} lookups allowed anything");
    }

    #[tokio::test]
    async fn filtered_lookups_match_every_candidate_on_sqlite() {
        for seed in 1..=6 {
            let (store, db) = sqlite().await;
            filtered_lookups_match_every_candidate(&store, seed).await;
            finish(app(&store), store, db).await;
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn filtered_lookups_match_every_candidate_on_postgres() {
        for seed in 1..=4 {
            let Some((store, db)) = postgres().await else { return };
            filtered_lookups_match_every_candidate(&store, seed).await;
            finish(app(&store), store, db).await;
        }
    }
}
