//! Reverse lookups: which resources a set of restricted memberships reaches, and the walk behind
//! ListAuthorizedSubjects and ListAccessibleAccounts — the candidates that might hold a permission,
//! in id order, with the facts of each, for the caller to evaluate with the decision engine.
//!
//! # The pre-filter
//!
//! A walk does not read every member of the account's chain (or every account of the subject's
//! trees) and evaluate each: one SQL statement per step returns, in id order after the cursor, only
//! the candidates that some path *could* give the permission — the same rules as
//! [`guichet_domain::evaluate`], written as SQL over the rows:
//!
//! - the subject active, every account of the target's chain active, the module enabled on the
//!   target (a module feature), the resource (if any) in the target;
//! - a live membership in the target whose role gives the level (its `grants`), reaching the
//!   resource at a cap of at least the level when it is restricted; or
//! - a live membership in an ancestor whose role's descendant levels give it (same reach); or
//! - a live delegation into the target (its role's levels) or an ancestor (descendant levels)
//!   from an active account where the subject holds a live membership with a role holding
//!   `delegated_administration:full`.
//!
//! Built-in roles are matched exactly (by account kind and name, from the catalog); a custom role
//! counts when its grants mention the feature (a `LIKE` on its JSON — an over-approximation, as is
//! SQLite's case-blind `LIKE`). The filter may therefore let through a candidate the decision
//! denies, never drop one it allows: the decision engine, pure and authoritative, still evaluates
//! every candidate returned, on facts read in the same snapshot.
//!
//! Whether a grant row is live is said in one place, [`live_grant`]: active (a membership) and not
//! expired at the lookup's instant — the instant the caller then evaluates at, so that a grant
//! whose `expires_at` has passed is not even a candidate.
//!
//! # ListAuthorizedSubjects: one index walk per granting account
//!
//! The members who might hold a permission in an account are few accounts' members: the account's
//! own, its ancestors', and those of the accounts delegating into one of them. A Subjects walk
//! first reads those accounts, how each might grant (`here`, `below`, `delegation`) and with which
//! of its roles — the built-in ones from the catalog, the custom ones from one `LIKE` each
//! ([`sources_statement`], once per page; none when the account is unreachable). Each step is then
//! one statement with one branch per such account: its live memberships after the cursor, in
//! user-id order through `idx_memberships_account_user`, holding one of the listed roles (a probe
//! of `membership_roles` by primary key), of an active user, reaching the resource; the first `n`
//! of each branch, then of them all ([`subject_candidates`]). A step reads about `n / share`
//! memberships per account, where `share` is the share of its members the filter keeps, whatever
//! the size of the account — where one statement over every membership in user order, with the
//! role tests as `EXISTS … OR EXISTS …`, let PostgreSQL hash the roles of every membership of the
//! database for each step (about 400 ms over 100,000 memberships).
//!
//! # The bound
//!
//! A page runs in one read transaction (one snapshot, one revision) and costs
//! `1 + k × (1 + F)` statements (`2 + k × (1 + F)` for ListAuthorizedSubjects, its sources read
//! once; one more on PostgreSQL, `SET LOCAL jit = off`: the filters' estimated costs would make it
//! compile each statement, 0.2–3 s, before running it in milliseconds): the revision, then per step
//! one candidate statement and the facts of the step's candidates, `F` ≤ 10 statements (see [`crate::facts`]). A step asks for the number still wanted
//! (at least [`MIN_CHUNK`], at most [`LOOKUP_CHUNK`]): when the filter is exact — no custom role
//! over-matched — `k` is `⌈want / LOOKUP_CHUNK⌉` (one step for a page of up to 499) whatever the
//! number of candidates, and each step the filter over-approximates adds one. The statement itself
//! walks the candidates in id order inside the database (index scans with the filter's probes, each
//! through an index), so its cost grows with the candidates it passes over, but not the number of
//! round trips.

use std::collections::{BTreeMap, BTreeSet};

use guichet_domain::{
    AccessRequest, AccountId, AccountKind, Catalog, DELEGATED_ADMINISTRATION_FEATURE, Facts, FeatureName, KindDef,
    Level, MembershipId, Permission, ResourceId, Revision, Timestamp, UserId,
};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Statement,
    Value,
};

use crate::entities::{membership_resource, resource};
use crate::facts::load_many;
use crate::{Page, PageRequest, Store, StoreError, read_revision};

/// The most candidates whose facts one step of a walk loads.
pub const LOOKUP_CHUNK: usize = 500;

/// The fewest candidates one step of a walk loads.
const MIN_CHUNK: usize = 16;

/// A reverse lookup: which candidates to walk, and the question asked about each.
#[derive(Debug, Clone, Copy)]
pub enum Lookup<'a> {
    /// The users who might hold `permission` in `account` (on `resource`, when given): the members
    /// of the account and of its ancestors, and of the accounts that delegate into one of them.
    Subjects {
        /// The account.
        account: &'a AccountId,
        /// The permission.
        permission: &'a Permission,
        /// The resource, for a resource check.
        resource: Option<&'a ResourceId>,
    },
    /// The accounts where `subject` might hold `permission`: those of its memberships, the targets
    /// of the delegations from them, and all their descendants.
    Accounts {
        /// The subject.
        subject: &'a UserId,
        /// The permission.
        permission: &'a Permission,
    },
}

impl Lookup<'_> {
    /// The question about the candidate `id`.
    fn request(&self, id: &str) -> AccessRequest {
        match *self {
            Lookup::Subjects { account, permission, resource } => AccessRequest {
                subject: UserId::from_trusted(id),
                account: account.clone(),
                permission: permission.clone(),
                resource: resource.cloned(),
            },
            Lookup::Accounts { subject, permission } => AccessRequest {
                subject: subject.clone(),
                account: AccountId::from_trusted(id),
                permission: permission.clone(),
                resource: None,
            },
        }
    }
}

/// A grant row: a membership or a delegation.
#[derive(Debug, Clone, Copy)]
enum Grant {
    Membership,
    Delegation,
}

/// The one SQL predicate saying that the grant row `alias` is live at the instant `now` (a bound
/// placeholder): it gives what its roles say. A membership is active and not expired; a delegation
/// is not expired — expired meaning `expires_at <= now`, as [`guichet_domain::expired`] says. Every
/// filter below uses it, for every grant it reads.
fn live_grant(alias: &str, grant: Grant, now: &str) -> String {
    let unexpired = format!("({alias}.expires_at IS NULL OR {alias}.expires_at > {now})");
    match grant {
        Grant::Membership => format!("{alias}.status = 'active' AND {unexpired}"),
        Grant::Delegation => unexpired,
    }
}

/// A SQL text with its bound values; `now`, the placeholder of the instant the grants are live at.
struct Sql {
    backend: DbBackend,
    text: String,
    values: Vec<Value>,
    now: String,
}

impl Sql {
    fn new(backend: DbBackend, now: Timestamp) -> Self {
        let mut sql = Self { backend, text: String::new(), values: Vec::new(), now: String::new() };
        sql.now = sql.bind(now.as_millis());
        sql
    }

    /// [`live_grant`] at this statement's instant.
    fn live(&self, alias: &str, grant: Grant) -> String {
        live_grant(alias, grant, &self.now)
    }

    /// Binds `value`; returns its placeholder, numbered (`$n`, which SQLite reads too), so that
    /// the text may use it anywhere, and more than once.
    fn bind(&mut self, value: impl Into<Value>) -> String {
        self.values.push(value.into());
        format!("${}", self.values.len())
    }

    /// `(p1, p2, …)` for `values` (never empty: `(NULL)` matches nothing).
    fn list<S: Into<Value>>(&mut self, values: impl IntoIterator<Item = S>) -> String {
        let parts: Vec<String> = values.into_iter().map(|v| self.bind(v)).collect();
        if parts.is_empty() { "(NULL)".to_owned() } else { format!("({})", parts.join(", ")) }
    }

    fn push(&mut self, s: &str) {
        self.text.push_str(s);
    }

    fn statement(self) -> Statement {
        Statement::from_sql_and_values(self.backend, self.text, self.values)
    }
}

/// A subquery of the ids on the materialised path `path` (an SQL expression): the account and its
/// ancestors.
fn path_ids(backend: DbBackend, path: &str) -> String {
    match backend {
        DbBackend::Postgres => format!("SELECT unnest(string_to_array({path}, '/'))"),
        // Ids hold no `"`, `\` nor `/` (guichet_domain::ids): the path is a JSON array once quoted.
        DbBackend::MySql | DbBackend::Sqlite | _ => {
            format!("SELECT value FROM json_each('[\"' || replace({path}, '/', '\",\"') || '\"]')")
        }
    }
}

/// What a role must give.
#[derive(Debug, Clone, Copy)]
enum Gives<'a> {
    /// `permission` on the account holding it (its `grants`).
    Here(&'a FeatureName, Level),
    /// `permission` on the descendants of that account (its `descendant_grants`).
    Below(&'a FeatureName, Level),
    /// `delegated_administration:full` on that account.
    DelegationRight,
}

impl<'a> Gives<'a> {
    /// The feature a role must give, and the column of `roles` that says it for a custom role.
    fn feature_and_column(self) -> (&'a str, &'static str) {
        match self {
            Gives::Here(f, _) => (f.as_str(), "grants"),
            Gives::Below(f, _) => (f.as_str(), "descendant_grants"),
            Gives::DelegationRight => (DELEGATED_ADMINISTRATION_FEATURE, "grants"),
        }
    }
}

/// The built-in roles of `kind` that give what `gives` says (exact, from the catalog).
fn builtin_roles(kind: &KindDef, gives: Gives<'_>) -> Vec<String> {
    let (feature, level) = match gives {
        Gives::Here(f, l) | Gives::Below(f, l) => (f.clone(), l),
        Gives::DelegationRight => (FeatureName::from_trusted(DELEGATED_ADMINISTRATION_FEATURE), Level::Full),
    };
    kind.roles
        .iter()
        .filter(|r| {
            match gives {
                Gives::Below(..) => r.descendant_level(&feature),
                Gives::Here(..) | Gives::DelegationRight => r.level(&feature),
            }
            .satisfies(level)
        })
        .map(|r| r.name.as_str().to_owned())
        .collect()
}

/// SQL: the role named `role` (an SQL expression) of the account `account` (an alias of
/// `accounts`) gives what `gives` says: a built-in role of the account's kind that does (exact),
/// or a custom role of the account whose grants mention the feature (over-approximated).
fn role_gives(sql: &mut Sql, catalog: &Catalog, role: &str, account: &str, gives: Gives<'_>) -> String {
    let (feature, column) = gives.feature_and_column();
    let mut parts = Vec::new();
    for kind in catalog.kinds() {
        let names = builtin_roles(kind, gives);
        if !names.is_empty() {
            let k = sql.bind(kind.name.as_str());
            let list = sql.list(names);
            parts.push(format!("({account}.kind = {k} AND {role} IN {list})"));
        }
    }
    let pattern = sql.bind(format!("%\"{feature}\"%"));
    parts.push(format!(
        "EXISTS (SELECT 1 FROM roles cr WHERE cr.account_id = {account}.id AND cr.name = {role} AND cr.{column} LIKE {pattern})"
    ));
    format!("({})", parts.join(" OR "))
}

/// SQL: the membership `m` holds a role of its account that gives what `gives` says.
fn holds(sql: &mut Sql, catalog: &Catalog, m: &str, gives: Gives<'_>) -> String {
    let alias = format!("{m}_a");
    let cond = role_gives(sql, catalog, "mr.role_name", &alias, gives);
    format!(
        "EXISTS (SELECT 1 FROM membership_roles mr JOIN accounts {alias} ON {alias}.id = mr.account_id \
         WHERE mr.membership_id = {m}.id AND {cond})"
    )
}

/// SQL: the subject `subject` (an SQL expression) is an active user.
fn active_user(subject: &str) -> String {
    format!("EXISTS (SELECT 1 FROM users u WHERE u.id = {subject} AND u.status = 'active')")
}

/// SQL: every account on the path of `account` (an alias) is active, and the module is enabled on
/// it when the feature is a module (over-approximated by a `LIKE` on its JSON list).
fn reachable_account(sql: &mut Sql, catalog: &Catalog, account: &str, feature: &FeatureName) -> String {
    let ids = path_ids(sql.backend, &format!("{account}.path"));
    let mut out = format!("NOT EXISTS (SELECT 1 FROM accounts s WHERE s.id IN ({ids}) AND s.status <> 'active')");
    if catalog.feature(feature).is_some_and(|f| f.module) {
        let pattern = sql.bind(format!("%\"{}\"%", feature.as_str()));
        out.push_str(&format!(" AND {account}.modules LIKE {pattern}"));
    }
    out
}

/// SQL: an active source account `s` where `subject` holds a live membership with a role holding
/// `delegated_administration:full` (a subquery of their ids).
fn delegating_sources(sql: &mut Sql, catalog: &Catalog, subject: &str) -> String {
    let live = sql.live("sm", Grant::Membership);
    let right = holds(sql, catalog, "sm", Gives::DelegationRight);
    format!(
        "SELECT sm.account_id FROM memberships sm JOIN accounts sa ON sa.id = sm.account_id \
         WHERE sm.user_id = {subject} AND {live} AND sa.status = 'active' AND {right}"
    )
}

/// SQL: a live delegation into the account `target` (an alias) or one of its ancestors, whose role
/// gives `level` on `feature` there, and whose source satisfies `sources` (a subquery of ids).
fn delegated_into(
    sql: &mut Sql,
    catalog: &Catalog,
    target: &str,
    feature: &FeatureName,
    level: Level,
    sources: &str,
) -> String {
    let ids = path_ids(sql.backend, &format!("{target}.path"));
    let live = sql.live("d", Grant::Delegation);
    let here = role_gives(sql, catalog, "d.role", "t", Gives::Here(feature, level));
    let below = role_gives(sql, catalog, "d.role", "t", Gives::Below(feature, level));
    format!(
        "EXISTS (SELECT 1 FROM delegations d JOIN accounts t ON t.id = d.to_account_id \
         WHERE d.to_account_id IN ({ids}) AND {live} \
         AND ((t.id = {target}.id AND {here}) OR (t.id <> {target}.id AND {below})) \
         AND d.from_account_id IN ({sources}))"
    )
}

/// How the members of an account might hold the permission of a Subjects lookup in its account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Via {
    /// A membership in the account itself (its roles' `grants`; reaching the resource).
    Here,
    /// A membership in an ancestor (its roles' `descendant_grants`; reaching the resource).
    Below,
    /// A membership holding `delegated_administration:full` in an account that delegates, with a
    /// role that gives the permission, into the account or an ancestor.
    Delegation,
}

impl Via {
    fn as_str(self) -> &'static str {
        match self {
            Via::Here => "here",
            Via::Below => "below",
            Via::Delegation => "delegation",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [Via::Here, Via::Below, Via::Delegation].into_iter().find(|v| v.as_str() == s)
    }

    fn gives<'a>(self, feature: &'a FeatureName, level: Level) -> Gives<'a> {
        match self {
            Via::Here => Gives::Here(feature, level),
            Via::Below => Gives::Below(feature, level),
            Via::Delegation => Gives::DelegationRight,
        }
    }
}

/// An account whose members might hold the permission of a Subjects lookup, how, and with which
/// of its roles (the built-in ones that do, exactly; its custom ones that mention the feature).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Source {
    account: String,
    via: Via,
    roles: Vec<String>,
}

/// The statement of the accounts whose members might hold `permission` in `account` (on
/// `resource`): nothing when the account is unreachable (a suspended account on its path, the
/// module off, the resource elsewhere); else the account (`here`), its ancestors (`below`), the
/// active accounts with a live delegation into one of them whose role gives the permission there
/// (`delegation`). One row per account and way with `role` null, one more per custom role of that
/// account that might give it that way (columns `id`, `kind`, `via`, `role`).
fn sources_statement(
    backend: DbBackend,
    catalog: &Catalog,
    account: &AccountId,
    permission: &Permission,
    resource: Option<&ResourceId>,
    now: Timestamp,
) -> Statement {
    let mut sql = Sql::new(backend, now);
    let level = permission.level.max(Level::View);
    let feature = &permission.feature;
    let x = sql.bind(account.as_str());
    let module = match catalog.feature(feature).is_some_and(|f| f.module) {
        true => format!(" AND x.modules LIKE {}", sql.bind(format!("%\"{}\"%", feature.as_str()))),
        false => String::new(),
    };
    let in_account = match resource {
        None => String::new(),
        Some(r) => {
            let r = sql.bind(r.as_str());
            format!(" AND EXISTS (SELECT 1 FROM resources rs WHERE rs.id = {r} AND rs.account_id = x.id)")
        }
    };
    // The chain as rows, joined to `accounts` by id (an index lookup each): written as `IN (…)`
    // of a subquery over the path, PostgreSQL scans every account and tests each.
    let chain = match backend {
        DbBackend::Postgres => "SELECT unnest(string_to_array(x.path, '/')) AS id FROM x0 x".to_owned(),
        DbBackend::MySql | DbBackend::Sqlite | _ => {
            "SELECT j.value AS id FROM x0 x, json_each('[\"' || replace(x.path, '/', '\",\"') || '\"]') j".to_owned()
        }
    };
    let live_d = sql.live("d", Grant::Delegation);
    let d_here = role_gives(&mut sql, catalog, "d.role", "t", Gives::Here(feature, level));
    let d_below = role_gives(&mut sql, catalog, "d.role", "t", Gives::Below(feature, level));
    let f = sql.bind(format!("%\"{}\"%", feature.as_str()));
    let da = sql.bind(format!("%\"{DELEGATED_ADMINISTRATION_FEATURE}\"%"));
    sql.push(&format!(
        "WITH x0 AS (SELECT x.id, x.path FROM accounts x WHERE x.id = {x}{module}{in_account}), \
         chain AS ({chain}), \
         x AS (SELECT x0.id FROM x0 WHERE NOT EXISTS (SELECT 1 FROM chain c JOIN accounts s ON s.id = c.id \
           WHERE s.status <> 'active')), \
         src AS (\
           SELECT a.id AS id, a.kind AS kind, CASE WHEN a.id = x.id THEN 'here' ELSE 'below' END AS via \
           FROM x, chain c JOIN accounts a ON a.id = c.id \
           UNION \
           SELECT sa.id AS id, sa.kind AS kind, 'delegation' AS via FROM x, chain c \
           JOIN delegations d ON d.to_account_id = c.id JOIN accounts t ON t.id = d.to_account_id \
           JOIN accounts sa ON sa.id = d.from_account_id \
           WHERE {live_d} AND sa.status = 'active' \
           AND ((t.id = x.id AND {d_here}) OR (t.id <> x.id AND {d_below}))) \
         SELECT s.id AS id, s.kind AS kind, s.via AS via, NULL AS role FROM src s \
         UNION ALL \
         SELECT s.id AS id, s.kind AS kind, s.via AS via, cr.name AS role FROM src s JOIN roles cr ON cr.account_id = s.id \
         WHERE (s.via = 'here' AND cr.grants LIKE {f}) OR (s.via = 'below' AND cr.descendant_grants LIKE {f}) \
         OR (s.via = 'delegation' AND cr.grants LIKE {da})"
    ));
    sql.statement()
}

/// The sources of a Subjects lookup (see [`sources_statement`]), with the roles that might give
/// the permission through each; those no role could give it through are left out.
async fn subject_sources(
    txn: &impl ConnectionTrait,
    catalog: &Catalog,
    account: &AccountId,
    permission: &Permission,
    resource: Option<&ResourceId>,
    now: Timestamp,
) -> Result<Vec<Source>, StoreError> {
    let statement = sources_statement(txn.get_database_backend(), catalog, account, permission, resource, now);
    let level = permission.level.max(Level::View);
    let mut found: BTreeMap<(String, Via), BTreeSet<String>> = BTreeMap::new();
    for row in txn.query_all_raw(statement).await? {
        let id: String = row.try_get("", "id")?;
        let kind: String = row.try_get("", "kind")?;
        let via: String = row.try_get("", "via")?;
        let role: Option<String> = row.try_get("", "role")?;
        let Some(via) = Via::parse(&via) else { continue };
        let roles = found.entry((id, via)).or_insert_with(|| {
            catalog
                .kind(&AccountKind::from_trusted(kind.as_str()))
                .map(|k| builtin_roles(k, via.gives(&permission.feature, level)).into_iter().collect())
                .unwrap_or_default()
        });
        roles.extend(role);
    }
    Ok(found
        .into_iter()
        .filter(|(_, roles)| !roles.is_empty())
        .map(|((account, via), roles)| Source { account, via, roles: roles.into_iter().collect() })
        .collect())
}

/// The statement of the next `n` candidates of a Subjects lookup after `after`, in user-id order
/// (column `id`): for each source, its next `n` members holding one of its roles through a live
/// membership (reaching `resource` at a cap of at least `level` when the way needs it), active
/// users; then the first `n` of them all. Each branch walks the members of one account in user-id
/// order (`idx_memberships_account_user`) and stops at `n`, so a step reads about `n` rows per
/// source divided by the share allowed, not the whole account.
fn subject_candidates(
    backend: DbBackend,
    sources: &[Source],
    resource: Option<&ResourceId>,
    level: Level,
    now: Timestamp,
    after: Option<&str>,
    n: usize,
) -> Statement {
    let mut sql = Sql::new(backend, now);
    let limit = sql.bind(i64::try_from(n).unwrap_or(i64::MAX));
    let (after_m, after_u) = match after {
        Some(a) => {
            let a = sql.bind(a);
            // Repeated on the user: a bound the planner cannot infer from `u.id = m.user_id`.
            (format!(" AND m.user_id > {a}"), format!(" AND u.id > {a}"))
        }
        None => (String::new(), String::new()),
    };
    let reach = resource.map(|r| {
        let r = sql.bind(r.as_str());
        let caps = sql.list(Level::ALL.iter().filter(|l| **l >= level).map(|l| l.as_str()));
        format!(
            " AND (NOT m.restricted OR EXISTS (SELECT 1 FROM membership_resources g \
             WHERE g.membership_id = m.id AND g.resource_id = {r} AND g.level IN {caps}))"
        )
    });
    let live = sql.live("m", Grant::Membership);
    let mut branches = Vec::with_capacity(sources.len());
    for (i, source) in sources.iter().enumerate() {
        let a = sql.bind(source.account.as_str());
        let roles = sql.list(source.roles.iter().map(String::as_str));
        let reach = match source.via {
            Via::Here | Via::Below => reach.as_deref().unwrap_or(""),
            Via::Delegation => "",
        };
        branches.push(format!(
            "SELECT * FROM (SELECT m.user_id AS id FROM memberships m WHERE m.account_id = {a}{after_m} AND {live} \
             AND EXISTS (SELECT 1 FROM users u WHERE u.id = m.user_id{after_u} AND u.status = 'active') \
             AND EXISTS (SELECT 1 FROM membership_roles mr WHERE mr.membership_id = m.id AND mr.role_name IN {roles})\
             {reach} ORDER BY m.user_id LIMIT {limit}) b{i}"
        ));
    }
    sql.push(&format!(
        "SELECT DISTINCT c.id AS id FROM ({}) c ORDER BY c.id LIMIT {limit}",
        branches.join(" UNION ALL ")
    ));
    sql.statement()
}

/// The statement of the next `n` accounts of an Accounts lookup after `after`, in id order
/// (column `id`).
fn account_candidates(
    backend: DbBackend,
    catalog: &Catalog,
    subject: &UserId,
    permission: &Permission,
    now: Timestamp,
    after: Option<&str>,
    n: usize,
) -> Statement {
    let mut sql = Sql::new(backend, now);
    let limit = i64::try_from(n).unwrap_or(i64::MAX);
    let level = permission.level.max(Level::View);
    let feature = &permission.feature;
    let mut text = "SELECT c.id AS id FROM accounts c WHERE c.status = 'active'".to_owned();
    if let Some(a) = after {
        let a = sql.bind(a);
        text.push_str(&format!(" AND c.id > {a}"));
    }
    let u = sql.bind(subject.as_str());
    text.push_str(&format!(" AND {}", active_user(&u)));
    let reachable = reachable_account(&mut sql, catalog, "c", feature);
    text.push_str(&format!(" AND {reachable}"));
    let ancestors = path_ids(backend, "c.path");
    let u1 = sql.bind(subject.as_str());
    let here = holds(&mut sql, catalog, "m", Gives::Here(feature, level));
    let u2 = sql.bind(subject.as_str());
    let below = holds(&mut sql, catalog, "m", Gives::Below(feature, level));
    let u3 = sql.bind(subject.as_str());
    let sources = delegating_sources(&mut sql, catalog, &u3);
    let delegated = delegated_into(&mut sql, catalog, "c", feature, level, &sources);
    let live = sql.live("m", Grant::Membership);
    text.push_str(&format!(
        " AND (EXISTS (SELECT 1 FROM memberships m WHERE m.user_id = {u1} AND m.account_id = c.id AND {live} AND {here}) \
         OR EXISTS (SELECT 1 FROM memberships m WHERE m.user_id = {u2} AND m.account_id IN ({ancestors}) \
           AND m.account_id <> c.id AND {live} AND {below}) \
         OR {delegated})"
    ));
    let l = sql.bind(limit);
    text.push_str(&format!(" ORDER BY c.id LIMIT {l}"));
    sql.push(&text);
    sql.statement()
}

impl Store {
    /// The resources of `account` (of `kind`, when given) that one of the restricted memberships
    /// reaches with a cap of at least `at_least`, by id: one statement (the reached resources are
    /// a subquery, however many they are).
    pub async fn resources_of_memberships(
        &self,
        account: &AccountId,
        memberships: &[MembershipId],
        at_least: Level,
        kind: Option<&FeatureName>,
        page: &PageRequest,
    ) -> Result<Page<ResourceId>, StoreError> {
        use sea_orm::sea_query::Query;
        if memberships.is_empty() {
            return Ok(Page { items: Vec::new(), next_after: None });
        }
        let caps: Vec<&str> = Level::ALL.iter().filter(|l| **l >= at_least).map(|l| l.as_str()).collect();
        let reached = Query::select()
            .column(membership_resource::Column::ResourceId)
            .from(membership_resource::Entity)
            .and_where(
                membership_resource::Column::MembershipId.is_in(memberships.iter().map(|m| m.as_str().to_owned())),
            )
            .and_where(membership_resource::Column::Level.is_in(caps))
            .to_owned();
        let mut cond = Condition::all()
            .add(resource::Column::AccountId.eq(account.as_str()))
            .add(resource::Column::Id.in_subquery(reached));
        if let Some(k) = kind {
            cond = cond.add(resource::Column::Kind.eq(k.as_str()));
        }
        if let Some(after) = &page.after {
            cond = cond.add(resource::Column::Id.gt(after.as_str()));
        }
        let rows = resource::Entity::find()
            .filter(cond)
            .order_by_asc(resource::Column::Id)
            .limit(page.limit + 1)
            .all(&self.conn())
            .await?;
        let items = rows.into_iter().map(|r| ResourceId::from_trusted(r.id)).collect();
        Ok(Page::from_overfetch(items, page.limit, |r: &ResourceId| r.as_str().to_owned()))
    }

    /// Walks the candidates of `lookup` that pass the pre-filter (see the module docs) in id
    /// order, after `after`, and keeps what `keep` makes of each (its question and its facts),
    /// until `want` are kept or the candidates run out. Returns them in candidate order with the
    /// revision of the walk's snapshot.
    ///
    /// One read transaction whatever the number of candidates; each step is one statement for the
    /// next candidates and a bounded number for their facts (the bound is in the module docs). The
    /// first step loads `want` candidates (at least a few), the next ones as many as the share kept
    /// so far says are needed, at most [`LOOKUP_CHUNK`].
    #[tracing::instrument(name = "store.lookup", skip_all, fields(otel.kind = "client", db.system.name = self.backend_name(), want = want))]
    pub async fn lookup<T, F>(
        &self,
        lookup: Lookup<'_>,
        after: Option<&str>,
        want: usize,
        now: Timestamp,
        mut keep: F,
    ) -> Result<(Vec<T>, Revision), StoreError>
    where
        T: Send,
        F: FnMut(&AccessRequest, &Facts) -> Option<T> + Send,
    {
        let txn = self.begin_read().await?;
        let revision = read_revision(&txn).await?;
        if txn.get_database_backend() == DbBackend::Postgres {
            // The filters' estimated costs are far above `jit_above_cost`: PostgreSQL would
            // compile each statement to machine code first, 0.2–3 s for statements that then run
            // in tens of milliseconds. A Subjects walk also runs without parallel plans: its
            // branches want an account's members in user order, which
            // `idx_memberships_account_user` gives at once, where PostgreSQL chose a parallel scan
            // of the `(user, account)` unique index that reads and filters every member before the
            // first row (p99 72 ms against 12 ms for a first page over 100,000 members, 1% kept).
            // The Accounts walk keeps them: without, its first pages were slower (p50 17 ms
            // against 2.5 ms). One statement either way (`set_config(…, true)` is `SET LOCAL`).
            let settings = match lookup {
                Lookup::Subjects { .. } => {
                    "SELECT set_config('jit', 'off', true), set_config('max_parallel_workers_per_gather', '0', true)"
                }
                Lookup::Accounts { .. } => "SELECT set_config('jit', 'off', true)",
            };
            txn.execute_unprepared(settings).await?;
        }
        let mut kept = Vec::new();
        let catalog = self.catalog();
        if want > 0 && catalog.feature(lookup_feature(&lookup)).is_some() {
            let backend = txn.get_database_backend();
            // A Subjects walk reads once which accounts' members might hold the permission.
            let sources = match lookup {
                Lookup::Subjects { account, permission, resource } => {
                    subject_sources(&txn, catalog, account, permission, resource, now).await?
                }
                Lookup::Accounts { .. } => Vec::new(),
            };
            let mut cursor = after.map(str::to_owned);
            let mut scanned = 0;
            let mut step = want.clamp(MIN_CHUNK, LOOKUP_CHUNK);
            loop {
                let statement = match lookup {
                    Lookup::Subjects { .. } if sources.is_empty() => break,
                    Lookup::Subjects { permission, resource, .. } => {
                        let level = permission.level.max(Level::View);
                        subject_candidates(backend, &sources, resource, level, now, cursor.as_deref(), step)
                    }
                    Lookup::Accounts { subject, permission } => {
                        account_candidates(backend, catalog, subject, permission, now, cursor.as_deref(), step)
                    }
                };
                let rows = txn.query_all_raw(statement).await?;
                let ids = rows.iter().map(|r| r.try_get::<String>("", "id")).collect::<Result<Vec<_>, _>>()?;
                let requests: Vec<AccessRequest> = ids.iter().map(|id| lookup.request(id)).collect();
                let refs: Vec<&AccessRequest> = requests.iter().collect();
                let facts = if refs.is_empty() { Vec::new() } else { load_many(&txn, self, &refs).await? };
                for (request, facts) in requests.iter().zip(&facts) {
                    if kept.len() == want {
                        break;
                    }
                    kept.extend(keep(request, facts));
                }
                scanned += ids.len();
                if kept.len() == want || ids.len() < step {
                    break;
                }
                cursor = ids.last().cloned();
                let missing = want - kept.len();
                step = if kept.is_empty() { LOOKUP_CHUNK } else { (missing * scanned).div_ceil(kept.len()) }
                    .clamp(MIN_CHUNK, LOOKUP_CHUNK);
            }
        }
        txn.commit().await?;
        Ok((kept, revision))
    }
}

/// The feature a lookup asks about (an unknown one is allowed nowhere: no candidate at all).
fn lookup_feature<'a>(lookup: &Lookup<'a>) -> &'a FeatureName {
    match *lookup {
        Lookup::Subjects { permission, .. } | Lookup::Accounts { permission, .. } => &permission.feature,
    }
}

#[cfg(test)]
mod tests {
    //! The bound of the module docs, counted: a page costs the same statements whatever the number
    //! of candidates, on SQLite and PostgreSQL.

    use std::sync::atomic::Ordering;

    use guichet_domain::{Catalog, Timestamp, evaluate};

    use super::*;
    use crate::bulk::SeedPlan;

    /// The statements of a first page (51 wanted) of the members of `c6` holding `users:full`, and
    /// of the accounts where a delegated administrator of `p0` holds it, in the bulk world of 10
    /// accounts and `memberships` memberships; with what the pages kept.
    async fn first_pages(mut store: Store, memberships: u64) -> Vec<(u64, usize)> {
        let plan = SeedPlan::new(10, memberships).unwrap();
        store.bulk_seed(&plan, Timestamp::from_millis(1_795_000_000_000)).await.unwrap();
        let counter = store.count_statements();
        let catalog = Catalog::builtin().unwrap();
        let permission = Permission::parse("users:full").unwrap();
        let account = AccountId::parse("c6").unwrap();
        let admin = UserId::parse(&SeedPlan::user_id(plan.membership_at(0, 1).unwrap())).unwrap();
        let lookups = [
            Lookup::Subjects { account: &account, permission: &permission, resource: None },
            Lookup::Accounts { subject: &admin, permission: &permission },
        ];
        let mut out = Vec::new();
        for lookup in lookups {
            counter.store(0, Ordering::SeqCst);
            let (kept, _) = store
                .lookup(lookup, None, 51, crate::tests::NOW, |r, f| {
                    evaluate(&catalog, r, f, crate::tests::NOW).allowed.then_some(())
                })
                .await
                .unwrap();
            out.push((counter.load(Ordering::SeqCst), kept.len()));
        }
        store.close().await.unwrap();
        out
    }

    async fn bounded(small: Store, large: Store) {
        let small = first_pages(small, 2_000).await;
        let large = first_pages(large, 20_000).await;
        // 200 and 2,000 members in c6: a full page either way; the two accounts delegated to p0.
        assert_eq!(small.iter().map(|(_, k)| *k).collect::<Vec<_>>(), [51, 2]);
        assert_eq!(large.iter().map(|(_, k)| *k).collect::<Vec<_>>(), [51, 2]);
        // The revision, (the subjects' sources,) one candidate statement, the facts of one step.
        for (statements, _) in small.iter().chain(&large) {
            assert!(*statements <= 12, "{statements} statements for a first page: {small:?} {large:?}");
        }
        assert_eq!(
            small.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
            large.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
            "the same statements whatever the number of candidates"
        );
    }

    #[tokio::test]
    async fn a_page_costs_the_same_statements_whatever_the_candidates_on_sqlite() {
        let ((small, _a), (large, _b)) = (crate::tests::sqlite().await, crate::tests::sqlite().await);
        bounded(small, large).await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_page_costs_the_same_statements_whatever_the_candidates_on_postgres() {
        if let (Some(small), Some(large)) = (crate::tests::postgres().await, crate::tests::postgres().await) {
            bounded(small, large).await;
        }
    }
}
