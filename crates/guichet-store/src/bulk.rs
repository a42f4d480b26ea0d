//! Bulk seeding of a large, realistic and **deterministic** dataset, for benchmarks.
//!
//! [`Store::bulk_seed`] writes a whole world in multi-row `INSERT` batches (sea-orm `insert_many`),
//! several batches per transaction, sized to stay under the bind-parameter limit of the backend
//! (65,535 on PostgreSQL, 32,766 on SQLite). It bypasses the one-write-one-revision path of the
//! store (no audit events, no per-row checks) and bumps the revision once at the end, so it is only
//! for an empty database that nothing else writes to while it runs.
//!
//! Every id is a function of an index ([`SeedPlan`]), so a load generator can build valid checks
//! without reading the database back.
//!
//! # The world
//!
//! Accounts come in trees of [`TREE_SIZE`] consecutive indexes; the account of index `a` is in tree
//! `a / 10` at slot `a % 10` (`b` is the tree's first index):
//! - four trees out of five are **partner** trees: slot 0 the partner `p{b}` (a root), slot 1 its
//!   sub-partner `s{b+1}`, slots 2–5 customers `c{a}` of the partner, slots 6–9 customers `c{a}` of
//!   the sub-partner (depth 3). The partner delegates the administration of `c{b+2}` and `c{b+6}`
//!   to itself (delegation `d{to}`, role `client_administrator`);
//! - every fifth tree is an **affiliate** tree: slot 0 the affiliate `f{b}` (a root), slots 1–9 its
//!   customers `c{a}`.
//!
//! Each customer has [`FOLDERS_PER_CUSTOMER`] folders `r{a}-{k}`.
//!
//! Membership `m{m}` (`m` in `0..memberships`) belongs to user `u{m}` (one user per membership) in
//! account `m % accounts`, at slot `j = m / accounts` of that account, so every account gets about
//! the same number of members. Its roles depend on the account's kind and `j` ([`SeedPlan::roles`]);
//! in a customer, slot `j ≡ 1 (mod 4)` is a `client_user` restricted to folder 0 (and folder 1 when
//! `j ≡ 5 (mod 8)`).

use guichet_domain::{AccountSettings, AccountStatus, MembershipStatus, Timestamp, UserStatus};
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, IntoActiveModel, Statement,
    TransactionTrait,
};

use crate::entities::{account, delegation, membership, membership_resource, membership_role, resource, user};
use crate::rows::{modules_to_json, settings_to_json};
use crate::{Store, StoreError};

/// How many consecutive account indexes form one tree.
pub const TREE_SIZE: u64 = 10;

/// How many folders each customer has.
pub const FOLDERS_PER_CUSTOMER: u64 = 3;

/// Batches per transaction.
const BATCHES_PER_TRANSACTION: usize = 16;

/// Rows per `INSERT` at most, whatever the parameter limit allows.
const MAX_ROWS_PER_INSERT: usize = 8_192;

/// The kind of an account of the seeded world.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SeedKind {
    /// A partner, root of a partner tree.
    Partner,
    /// The sub-partner of a partner tree.
    SubPartner,
    /// An affiliate, root of an affiliate tree.
    Affiliate,
    /// A customer, under a partner, a sub-partner or an affiliate.
    Customer,
}

impl SeedKind {
    /// The catalog's kind name.
    pub const fn as_str(self) -> &'static str {
        match self {
            SeedKind::Partner => "partner",
            SeedKind::SubPartner => "sub_partner",
            SeedKind::Affiliate => "affiliate",
            SeedKind::Customer => "customer",
        }
    }

    const fn prefix(self) -> &'static str {
        match self {
            SeedKind::Partner => "p",
            SeedKind::SubPartner => "s",
            SeedKind::Affiliate => "f",
            SeedKind::Customer => "c",
        }
    }
}

/// The shape of the seeded world: how many accounts and memberships, and every id as a function
/// of an index (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeedPlan {
    /// How many accounts (at least 1).
    pub accounts: u64,
    /// How many memberships (and users); at least `accounts`, so that every account has a member.
    pub memberships: u64,
}

impl SeedPlan {
    /// A plan for `accounts` accounts and `memberships` memberships.
    pub fn new(accounts: u64, memberships: u64) -> Result<Self, StoreError> {
        if accounts == 0 {
            return Err(StoreError::invalid("accounts", "must be at least 1"));
        }
        if memberships < accounts {
            return Err(StoreError::invalid("memberships", "must be at least the number of accounts"));
        }
        Ok(Self { accounts, memberships })
    }

    /// The first index of the tree of account `a`.
    pub const fn tree_base(a: u64) -> u64 {
        a - a % TREE_SIZE
    }

    /// Whether account `a` is in an affiliate tree (every fifth tree).
    pub const fn is_affiliate_tree(a: u64) -> bool {
        (a / TREE_SIZE) % 5 == 4
    }

    /// The kind of account `a`.
    pub const fn kind(a: u64) -> SeedKind {
        match (Self::is_affiliate_tree(a), a % TREE_SIZE) {
            (true, 0) => SeedKind::Affiliate,
            (false, 0) => SeedKind::Partner,
            (false, 1) => SeedKind::SubPartner,
            _ => SeedKind::Customer,
        }
    }

    /// The id of account `a`: `p{a}`, `s{a}`, `f{a}` or `c{a}`.
    pub fn account_id(a: u64) -> String {
        format!("{}{a}", Self::kind(a).prefix())
    }

    /// The parent of account `a`, if any.
    pub const fn parent(a: u64) -> Option<u64> {
        let base = Self::tree_base(a);
        match (Self::is_affiliate_tree(a), a % TREE_SIZE) {
            (_, 0) => None,
            (false, 6..) => Some(base + 1),
            _ => Some(base),
        }
    }

    /// The accounts from the root of `a`'s tree down to `a`.
    pub fn lineage(a: u64) -> Vec<u64> {
        let mut chain = vec![a];
        let mut next = Self::parent(a);
        while let Some(p) = next {
            chain.push(p);
            next = Self::parent(p);
        }
        chain.reverse();
        chain
    }

    /// The customers a partner `a` delegated to itself (within the plan's accounts); empty for any
    /// other kind.
    pub fn delegated_customers(&self, a: u64) -> Vec<u64> {
        if Self::kind(a) != SeedKind::Partner {
            return Vec::new();
        }
        [a + 2, a + 6].into_iter().filter(|c| *c < self.accounts).collect()
    }

    /// The id of the delegation into customer `to`.
    pub fn delegation_id(to: u64) -> String {
        format!("d{to}")
    }

    /// The id of folder `k` of customer `a`.
    pub fn folder_id(a: u64, k: u64) -> String {
        format!("r{a}-{k}")
    }

    /// The account of membership `m`.
    pub const fn membership_account(&self, m: u64) -> u64 {
        m % self.accounts
    }

    /// The slot of membership `m` in its account (0 for the first member).
    pub const fn membership_slot(&self, m: u64) -> u64 {
        m / self.accounts
    }

    /// The membership at slot `j` of account `a`, if the plan has it.
    pub const fn membership_at(&self, a: u64, j: u64) -> Option<u64> {
        let m = j * self.accounts + a;
        if a < self.accounts && m < self.memberships { Some(m) } else { None }
    }

    /// The id of membership `m`.
    pub fn membership_id(m: u64) -> String {
        format!("m{m}")
    }

    /// The id of the user of membership `m`.
    pub fn user_id(m: u64) -> String {
        format!("u{m}")
    }

    /// The built-in roles of membership `m`, in position order.
    pub fn roles(&self, m: u64) -> &'static [&'static str] {
        let j = self.membership_slot(m);
        match Self::kind(self.membership_account(m)) {
            SeedKind::Partner => match j % 5 {
                0 => &["account_manager"],
                1 => &["delegated_account_administrator"],
                2 => &["billing_manager", "technical_manager"],
                3 => &["technical_manager"],
                _ => &["subscription_manager"],
            },
            SeedKind::SubPartner => match j % 3 {
                0 => &["account_manager"],
                1 => &["technical_manager"],
                _ => &["subscription_manager"],
            },
            SeedKind::Affiliate => match j % 2 {
                0 => &["account_manager"],
                _ => &["technical_manager"],
            },
            SeedKind::Customer => match (j, j % 4) {
                (0, _) => &["client_administrator"],
                (_, 1) | (_, 0) => &["client_user"],
                (_, 2) => &["user"],
                _ => &["administrator"],
            },
        }
    }

    /// The folders membership `m` is restricted to, or `None` when it is not restricted.
    pub fn restriction(&self, m: u64) -> Option<Vec<String>> {
        let a = self.membership_account(m);
        let j = self.membership_slot(m);
        if Self::kind(a) != SeedKind::Customer || j % 4 != 1 {
            return None;
        }
        let mut folders = vec![Self::folder_id(a, 0)];
        if j % 8 == 5 {
            folders.push(Self::folder_id(a, 1));
        }
        Some(folders)
    }
}

/// How many rows the seeding wrote, per table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeedCounts {
    /// Accounts.
    pub accounts: u64,
    /// Users.
    pub users: u64,
    /// Memberships.
    pub memberships: u64,
    /// Roles held by memberships (`membership_roles`).
    pub membership_roles: u64,
    /// Folders (`resources`).
    pub resources: u64,
    /// Folders restricted memberships reach (`membership_resources`).
    pub membership_resources: u64,
    /// Delegations.
    pub delegations: u64,
}

impl Store {
    /// Seeds an **empty** database with the world of `plan` (see the [module docs](self)), all rows
    /// stamped `now`, then bumps the revision once. Fails with `NOT_EMPTY` when an account exists.
    pub async fn bulk_seed(&self, plan: &SeedPlan, now: Timestamp) -> Result<SeedCounts, StoreError> {
        if !self.is_empty().await? {
            return Err(StoreError::Precondition {
                kind: "NOT_EMPTY",
                subject: "accounts".to_owned(),
                description: "bulk seeding needs an empty database".to_owned(),
            });
        }
        let db = &self.db;
        let max_params = if db.get_database_backend() == DbBackend::Sqlite { 32_766 } else { 65_535 };
        let now = now.as_millis();
        let modules = modules_to_json(&self.catalog.default_modules());
        let settings = settings_to_json(&AccountSettings::default())?;
        let active = AccountStatus::Active.as_str();
        let accounts = insert_all(
            db,
            max_params,
            12,
            (0..plan.accounts).map(|a| {
                let kind = SeedPlan::kind(a);
                let lineage: Vec<String> = SeedPlan::lineage(a).into_iter().map(SeedPlan::account_id).collect();
                account::Model {
                    id: SeedPlan::account_id(a),
                    name: format!("{} {a}", kind.as_str()),
                    kind: kind.as_str().to_owned(),
                    parent_id: SeedPlan::parent(a).map(SeedPlan::account_id),
                    path: lineage.join("/"),
                    depth: i32::try_from(lineage.len()).unwrap_or(i32::MAX),
                    status: active.to_owned(),
                    suspension_reason: None,
                    modules: modules.clone(),
                    settings: settings.clone(),
                    created_at: now,
                    updated_at: now,
                }
                .into_active_model()
            }),
        )
        .await?;

        let users = insert_all(
            db,
            max_params,
            10,
            (0..plan.memberships).map(|m| {
                user::Model {
                    id: SeedPlan::user_id(m),
                    email: format!("u{m}@bench.example.com"),
                    given_name: "User".to_owned(),
                    family_name: format!("N{m}"),
                    phone: None,
                    idp_subject: None,
                    status: UserStatus::Active.as_str().to_owned(),
                    // A back-office import, as trusted as a user created on the service's authority.
                    claimed_at: Some(now),
                    created_at: now,
                    updated_at: now,
                }
                .into_active_model()
            }),
        )
        .await?;

        let memberships = insert_all(
            db,
            max_params,
            11,
            (0..plan.memberships).map(|m| {
                membership::Model {
                    id: SeedPlan::membership_id(m),
                    user_id: SeedPlan::user_id(m),
                    account_id: SeedPlan::account_id(plan.membership_account(m)),
                    status: MembershipStatus::Active.as_str().to_owned(),
                    restricted: plan.restriction(m).is_some(),
                    created_by: None,
                    approved_by: None,
                    created_at: now,
                    updated_at: now,
                    expires_at: None,
                    expiry_recorded: false,
                }
                .into_active_model()
            }),
        )
        .await?;

        let membership_roles = insert_all(
            db,
            max_params,
            4,
            (0..plan.memberships).flat_map(|m| {
                let account_id = SeedPlan::account_id(plan.membership_account(m));
                plan.roles(m).iter().zip(0i32..).map(move |(role, position)| {
                    membership_role::Model {
                        membership_id: SeedPlan::membership_id(m),
                        role_name: (*role).to_owned(),
                        account_id: account_id.clone(),
                        position,
                    }
                    .into_active_model()
                })
            }),
        )
        .await?;

        let resources = insert_all(
            db,
            max_params,
            5,
            (0..plan.accounts).filter(|a| SeedPlan::kind(*a) == SeedKind::Customer).flat_map(|a| {
                (0..FOLDERS_PER_CUSTOMER).map(move |k| {
                    resource::Model {
                        id: SeedPlan::folder_id(a, k),
                        account_id: SeedPlan::account_id(a),
                        kind: "folders".to_owned(),
                        name: format!("Dossier {k}"),
                        created_at: now,
                    }
                    .into_active_model()
                })
            }),
        )
        .await?;

        let membership_resources = insert_all(
            db,
            max_params,
            3,
            (0..plan.memberships).flat_map(|m| {
                plan.restriction(m).unwrap_or_default().into_iter().map(move |resource_id| {
                    membership_resource::Model {
                        membership_id: SeedPlan::membership_id(m),
                        resource_id,
                        level: guichet_domain::Level::Full.as_str().to_owned(),
                    }
                    .into_active_model()
                })
            }),
        )
        .await?;

        let delegations = insert_all(
            db,
            max_params,
            8,
            (0..plan.accounts).flat_map(|a| {
                plan.delegated_customers(a).into_iter().map(move |to| {
                    delegation::Model {
                        id: SeedPlan::delegation_id(to),
                        from_account_id: SeedPlan::account_id(a),
                        to_account_id: SeedPlan::account_id(to),
                        role: "client_administrator".to_owned(),
                        created_by: None,
                        created_at: now,
                        expires_at: None,
                        expiry_recorded: false,
                    }
                    .into_active_model()
                })
            }),
        )
        .await?;

        let backend = db.get_database_backend();
        db.execute_raw(Statement::from_string(backend, "UPDATE guichet_revision SET value = value + 1 WHERE id = 1"))
            .await?;
        // The seeded rows touch every scope: log it, so that decision caches start over.
        db.execute_raw(Statement::from_string(
            backend,
            "INSERT INTO guichet_changes (revision, scope) SELECT value, '*' FROM guichet_revision WHERE id = 1",
        ))
        .await?;
        // Fresh planner statistics, so that the first checks do not run on an empty-table plan.
        db.execute_raw(Statement::from_string(backend, "ANALYZE")).await?;
        Ok(SeedCounts { accounts, users, memberships, membership_roles, resources, membership_resources, delegations })
    }
}

/// Inserts every row of `rows` (of a table with `columns` columns) in multi-row `INSERT`s that stay
/// under `max_params` bind parameters, [`BATCHES_PER_TRANSACTION`] of them per transaction.
async fn insert_all<A>(
    db: &DatabaseConnection,
    max_params: usize,
    columns: usize,
    rows: impl Iterator<Item = A>,
) -> Result<u64, StoreError>
where
    A: ActiveModelTrait + Send,
{
    let per_insert = (max_params / columns).clamp(1, MAX_ROWS_PER_INSERT);
    let mut rows = rows.peekable();
    let mut total = 0;
    while rows.peek().is_some() {
        let txn = db.begin().await?;
        for _ in 0..BATCHES_PER_TRANSACTION {
            let batch: Vec<A> = rows.by_ref().take(per_insert).collect();
            if batch.is_empty() {
                break;
            }
            total += <A::Entity as EntityTrait>::insert_many(batch).exec_without_returning(&txn).await?;
        }
        txn.commit().await?;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_trees_follow_the_catalog() {
        assert_eq!(SeedPlan::account_id(0), "p0");
        assert_eq!(SeedPlan::account_id(1), "s1");
        assert_eq!(SeedPlan::account_id(7), "c7");
        assert_eq!(SeedPlan::account_id(40), "f40");
        assert_eq!(SeedPlan::lineage(7), vec![0, 1, 7]);
        assert_eq!(SeedPlan::lineage(3), vec![0, 3]);
        assert_eq!(SeedPlan::lineage(45), vec![40, 45]);
        let plan = SeedPlan::new(100, 1000).unwrap();
        assert_eq!(plan.delegated_customers(10), vec![12, 16]);
        assert_eq!(plan.delegated_customers(40), Vec::<u64>::new());
        assert_eq!(plan.membership_at(12, 3), Some(312));
        assert_eq!(plan.restriction(plan.membership_at(12, 5).unwrap()), Some(vec!["r12-0".into(), "r12-1".into()]));
        assert_eq!(plan.restriction(plan.membership_at(12, 2).unwrap()), None);
    }
}
