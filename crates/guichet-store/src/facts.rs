//! Loading what decisions need, in a bounded number of queries whatever the depth of the tree and
//! the number of requests: the accounts and their ancestors (two queries, through the materialised
//! path), the subjects, the delegations into the chains and their source accounts, the subjects'
//! memberships in all those accounts with their roles, the custom roles they name, and — for a
//! resource check — the resources and the restricted memberships that reach them.
//!
//! One loader, [`Store::load`], serves a single check and a batch alike: it reads the [`Rows`]
//! (with [`read_rows`] in one read transaction, about ten queries; on PostgreSQL a single
//! request's rows are one statement, see [`read_rows_postgres`]) and turns them into each request's
//! [`Facts`] with the one assembly, [`assemble`].

use std::collections::{BTreeSet, HashMap};

use guichet_domain::{
    AccessRequest, AccountFacts, AccountId, AccountKind, Catalog, DelegationFacts, DelegationId, Facts, FeatureName,
    MembershipFacts, MembershipId, ResourceFacts, ResourceId, Restriction, Revision, RoleName, SubjectFacts, Timestamp,
    UserId, UserStatus,
};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, DbBackend};

use crate::entities::{account, delegation, membership, membership_resource, membership_role, resource, role, user};
use crate::roles::{custom_accounts, resolve_rows};
use crate::rows::{account_status, cap_level, membership_status};
use crate::{MAX_IN_LIST, Store, StoreError, find_in, read_revision};

fn account_facts(row: &account::Model) -> Result<AccountFacts, StoreError> {
    let modules: BTreeSet<String> =
        serde_json::from_str(&row.modules).map_err(|e| StoreError::corrupt("accounts", e))?;
    Ok(AccountFacts {
        id: AccountId::from_trusted(row.id.clone()),
        kind: AccountKind::from_trusted(row.kind.clone()),
        status: account_status(&row.status)?,
        parent: row.parent_id.clone().map(AccountId::from_trusted),
        modules: modules.into_iter().map(FeatureName::from_trusted).collect(),
    })
}

/// The chain from `id` up to its root (target first), in two queries.
pub(crate) async fn chain(conn: &impl ConnectionTrait, id: &AccountId) -> Result<Vec<AccountFacts>, StoreError> {
    let accounts = read_chains(conn, [id.as_str().to_owned()]).await?;
    chain_of(&accounts, id.as_str()).into_iter().map(account_facts).collect()
}

/// The rows of the accounts `targets` and of their ancestors (through the materialised paths), by
/// id, in two queries while the lists fit one `IN`; none for a target that does not exist.
async fn read_chains(
    conn: &impl ConnectionTrait,
    targets: impl IntoIterator<Item = String>,
) -> Result<HashMap<String, account::Model>, StoreError> {
    let targets: BTreeSet<String> = targets.into_iter().collect();
    let mut accounts: HashMap<String, account::Model> = HashMap::new();
    for a in find_in::<account::Entity>(conn, account::Column::Id, targets, Condition::all()).await? {
        accounts.insert(a.id.clone(), a);
    }
    let ancestors: BTreeSet<String> = accounts
        .values()
        .flat_map(|t| t.path.split('/').filter(|p| *p != t.id).map(str::to_owned).collect::<Vec<_>>())
        .filter(|id| !accounts.contains_key(id))
        .collect();
    for a in find_in::<account::Entity>(conn, account::Column::Id, ancestors, Condition::all()).await? {
        accounts.insert(a.id.clone(), a);
    }
    Ok(accounts)
}

/// The chain of `target` among `accounts`: the target first, then its ancestors from the deepest up
/// to the root; empty when the target is not there.
fn chain_of<'a>(accounts: &'a HashMap<String, account::Model>, target: &str) -> Vec<&'a account::Model> {
    let Some(target) = accounts.get(target) else {
        return Vec::new();
    };
    let mut ancestors: Vec<&account::Model> =
        target.path.split('/').filter(|p| *p != target.id).filter_map(|p| accounts.get(p)).collect();
    ancestors.sort_by_key(|a| std::cmp::Reverse(a.depth));
    let mut out = Vec::with_capacity(ancestors.len() + 1);
    out.push(target);
    out.extend(ancestors);
    out
}

/// The rows the decisions on some requests read, however they were read, indexed by key.
#[derive(Debug, Default)]
struct Rows {
    /// The target accounts, their ancestors and the accounts the delegations come from, by id.
    accounts: HashMap<String, account::Model>,
    /// The subjects that exist, by id.
    subjects: HashMap<String, user::Model>,
    /// The resources asked about that exist, by id.
    resources: HashMap<String, resource::Model>,
    /// The delegations into the chains of the live requests (a known account and a known subject).
    delegations: Vec<delegation::Model>,
    /// The memberships of the live requests' subjects in their chains and the delegations' sources.
    memberships: Vec<membership::Model>,
    /// The roles those memberships hold.
    membership_roles: Vec<membership_role::Model>,
    /// The custom roles of the accounts that name one (at least every one named and not built in).
    custom_roles: Vec<role::Model>,
    /// The cap of each restricted membership on each resource asked about that it reaches, by
    /// (membership, resource).
    reached: HashMap<(String, String), String>,
}

/// Whether `request` goes past its account and subject: both exist.
fn live(rows: &Rows, request: &AccessRequest) -> bool {
    rows.accounts.contains_key(request.account.as_str()) && rows.subjects.contains_key(request.subject.as_str())
}

/// Reads the rows of `requests` on any backend, in a bounded number of queries whatever their
/// number: ten at most while every `IN` list holds up to [`MAX_IN_LIST`] values (a batch of 1,000
/// requests into 16-deep trees stays under it); a longer list is split into several queries, so
/// that no statement passes the bound-parameter limit of the backend.
async fn read_rows(
    conn: &impl ConnectionTrait,
    catalog: &Catalog,
    requests: &[&AccessRequest],
) -> Result<Rows, StoreError> {
    let mut rows = Rows {
        accounts: read_chains(conn, requests.iter().map(|r| r.account.as_str().to_owned())).await?,
        ..Rows::default()
    };
    let subject_ids: BTreeSet<String> = requests.iter().map(|r| r.subject.as_str().to_owned()).collect();
    for u in find_in::<user::Entity>(conn, user::Column::Id, subject_ids, Condition::all()).await? {
        rows.subjects.insert(u.id.clone(), u);
    }
    let resource_ids: BTreeSet<String> =
        requests.iter().filter_map(|r| r.resource.as_ref().map(|x| x.as_str().to_owned())).collect();
    for r in find_in::<resource::Entity>(conn, resource::Column::Id, resource_ids, Condition::all()).await? {
        rows.resources.insert(r.id.clone(), r);
    }

    let live: Vec<&AccessRequest> = requests.iter().copied().filter(|r| live(&rows, r)).collect();
    let chain_ids: BTreeSet<String> =
        live.iter().flat_map(|r| chain_of(&rows.accounts, r.account.as_str())).map(|a| a.id.clone()).collect();
    rows.delegations = find_in::<delegation::Entity>(
        conn,
        delegation::Column::ToAccountId,
        chain_ids.iter().cloned(),
        Condition::all(),
    )
    .await?;
    rows.delegations.sort_by(|a, b| a.id.cmp(&b.id));
    let missing_sources: BTreeSet<String> = rows
        .delegations
        .iter()
        .map(|d| d.from_account_id.clone())
        .filter(|id| !rows.accounts.contains_key(id))
        .collect();
    for a in find_in::<account::Entity>(conn, account::Column::Id, missing_sources, Condition::all()).await? {
        rows.accounts.insert(a.id.clone(), a);
    }
    // The accounts where a membership counts: the live chains and the delegations' sources.
    let reach: BTreeSet<String> =
        chain_ids.into_iter().chain(rows.delegations.iter().map(|d| d.from_account_id.clone())).collect();
    let subjects: Vec<String> =
        live.iter().map(|r| r.subject.as_str().to_owned()).collect::<BTreeSet<_>>().into_iter().collect();
    for users in subjects.chunks(MAX_IN_LIST) {
        let of_users = Condition::all().add(membership::Column::UserId.is_in(users.iter().cloned()));
        rows.memberships.extend(
            find_in::<membership::Entity>(conn, membership::Column::AccountId, reach.iter().cloned(), of_users).await?,
        );
    }
    rows.membership_roles = find_in::<membership_role::Entity>(
        conn,
        membership_role::Column::MembershipId,
        rows.memberships.iter().map(|m| m.id.clone()),
        Condition::all(),
    )
    .await?;
    let custom = custom_accounts(catalog, &wanted(&rows));
    rows.custom_roles = find_in::<role::Entity>(conn, role::Column::AccountId, custom, Condition::all()).await?;
    if !rows.resources.is_empty() {
        let restricted: Vec<String> = rows.memberships.iter().filter(|m| m.restricted).map(|m| m.id.clone()).collect();
        for part in restricted.chunks(MAX_IN_LIST) {
            let of_memberships =
                Condition::all().add(membership_resource::Column::MembershipId.is_in(part.iter().cloned()));
            let grants = find_in::<membership_resource::Entity>(
                conn,
                membership_resource::Column::ResourceId,
                rows.resources.keys().cloned(),
                of_memberships,
            )
            .await?;
            rows.reached.extend(grants.into_iter().map(|g| ((g.membership_id, g.resource_id), g.level)));
        }
    }
    Ok(rows)
}

/// The rows of one request and the revision they were read at, in one PostgreSQL statement: a
/// statement sees one snapshot, so no transaction is needed and the request costs one round trip
/// instead of the ten queries of [`read_rows`] in a read transaction. Each part of the answer is a
/// JSON array of whole rows, decoded into the same models the other path reads.
async fn read_rows_postgres(
    pool: &sea_orm::sqlx::PgPool,
    request: &AccessRequest,
) -> Result<(Rows, Revision), StoreError> {
    use sea_orm::sqlx::{self, Row as _};
    let query_error =
        |e: sqlx::Error| StoreError::from(sea_orm::DbErr::Query(sea_orm::RuntimeErr::SqlxError(e.into())));
    let row = sqlx::query(ONE_STATEMENT)
        .bind(request.account.as_str())
        .bind(request.subject.as_str())
        .bind(request.resource.as_ref().map(ResourceId::as_str))
        .fetch_one(pool)
        .await
        .map_err(query_error)?;
    let revision: Option<i64> = row.try_get("revision").map_err(query_error)?;
    let revision = revision.ok_or_else(|| StoreError::corrupt("guichet_revision", "the revision row is missing"))?;
    let revision = Revision::new(u64::try_from(revision).map_err(|e| StoreError::corrupt("guichet_revision", e))?);
    // The JSON text is read in place from the row's buffer.
    let part = |column: &'static str| -> Result<Option<&str>, StoreError> { row.try_get(column).map_err(query_error) };
    fn json<T: serde::de::DeserializeOwned>(column: &'static str, text: Option<&str>) -> Result<Vec<T>, StoreError> {
        let rows: Option<Vec<T>> =
            serde_json::from_str(text.unwrap_or("null")).map_err(|e| StoreError::corrupt(column, e))?;
        Ok(rows.unwrap_or_default())
    }
    fn one<T: serde::de::DeserializeOwned>(column: &'static str, text: Option<&str>) -> Result<Option<T>, StoreError> {
        serde_json::from_str(text.unwrap_or("null")).map_err(|e| StoreError::corrupt(column, e))
    }
    let accounts = json::<account::Model>("chain", part("chain")?)?
        .into_iter()
        .chain(json::<account::Model>("sources", part("sources")?)?)
        .map(|a| (a.id.clone(), a))
        .collect();
    let subjects = one::<user::Model>("subject", part("subject")?)?.into_iter().map(|u| (u.id.clone(), u)).collect();
    let resources =
        one::<resource::Model>("resource", part("resource")?)?.into_iter().map(|r| (r.id.clone(), r)).collect();
    let reached = match &request.resource {
        None => HashMap::new(),
        Some(r) => json::<(String, String)>("reached", part("reached")?)?
            .into_iter()
            .map(|(membership, level)| ((membership, r.as_str().to_owned()), level))
            .collect(),
    };
    let rows = Rows {
        accounts,
        subjects,
        resources,
        delegations: json("delegations", part("delegations")?)?,
        memberships: json("memberships", part("memberships")?)?,
        membership_roles: json("membership_roles", part("membership_roles")?)?,
        custom_roles: json("roles", part("roles")?)?,
        reached,
    };
    Ok((rows, revision))
}

/// What [`read_rows`] reads for one request, as one statement (`$1` account, `$2` subject, `$3`
/// resource or null).
/// The custom roles are exactly those named (a superset of what the other path needs is fine: roles
/// are looked up by account and name).
const ONE_STATEMENT: &str = r#"
WITH target AS (SELECT path FROM accounts WHERE id = $1),
chain AS (
  SELECT a.* FROM accounts a
  WHERE a.id = ANY (array_append(ARRAY(SELECT unnest(string_to_array(t.path, '/')) FROM target t), $1))
    AND EXISTS (SELECT 1 FROM target)
),
subject AS (SELECT u.* FROM users u WHERE u.id = $2),
live AS (SELECT 1 WHERE EXISTS (SELECT 1 FROM chain) AND EXISTS (SELECT 1 FROM subject)),
dels AS (
  SELECT d.* FROM delegations d
  WHERE EXISTS (SELECT 1 FROM live) AND d.to_account_id IN (SELECT id FROM chain)
),
srcs AS (SELECT a.* FROM accounts a WHERE a.id IN (SELECT from_account_id FROM dels)),
mems AS (
  SELECT m.* FROM memberships m
  WHERE EXISTS (SELECT 1 FROM live) AND m.user_id = $2
    AND m.account_id IN (SELECT id FROM chain UNION SELECT id FROM srcs)
),
mroles AS (SELECT r.* FROM membership_roles r WHERE r.membership_id IN (SELECT id FROM mems)),
croles AS (
  SELECT ro.* FROM roles ro
  WHERE (ro.account_id, ro.name) IN (
    SELECT account_id, role_name FROM mroles UNION SELECT to_account_id, role FROM dels
  )
),
res AS (SELECT r.* FROM resources r WHERE $3::text IS NOT NULL AND r.id = $3::text),
reached AS (
  SELECT g.membership_id, g.level FROM membership_resources g
  WHERE EXISTS (SELECT 1 FROM res) AND g.resource_id = $3::text
    AND g.membership_id IN (SELECT id FROM mems WHERE restricted)
)
SELECT
  (SELECT value FROM guichet_revision WHERE id = 1) AS revision,
  (SELECT json_agg(c) FROM chain c)::text AS chain,
  (SELECT row_to_json(u) FROM subject u)::text AS subject,
  (SELECT row_to_json(r) FROM res r)::text AS resource,
  (SELECT json_agg(d ORDER BY d.id) FROM dels d)::text AS delegations,
  (SELECT json_agg(s) FROM srcs s)::text AS sources,
  (SELECT json_agg(m ORDER BY m.account_id) FROM mems m)::text AS memberships,
  (SELECT json_agg(r) FROM mroles r)::text AS membership_roles,
  (SELECT json_agg(r) FROM croles r)::text AS roles,
  (SELECT json_agg(json_build_array(g.membership_id, g.level)) FROM reached g)::text AS reached
"#;

/// The roles the rows name (by the memberships' roles and the delegations), with the kind of the
/// account that holds them.
fn wanted(rows: &Rows) -> Vec<(AccountId, AccountKind, RoleName)> {
    let named = rows
        .membership_roles
        .iter()
        .map(|r| (&r.account_id, &r.role_name))
        .chain(rows.delegations.iter().map(|d| (&d.to_account_id, &d.role)));
    named
        .filter_map(|(account, name)| {
            let kind = AccountKind::from_trusted(rows.accounts.get(account)?.kind.clone());
            Some((AccountId::from_trusted(account.clone()), kind, RoleName::from_trusted(name.clone())))
        })
        .collect()
}

/// The facts of each of `requests` out of their rows, in the order of the requests. The work is
/// linear in the number of requests and of rows: rows are indexed by key, never searched once per
/// request.
fn assemble(catalog: &Catalog, rows: &Rows, requests: &[&AccessRequest]) -> Result<Vec<Facts>, StoreError> {
    let roles = resolve_rows(catalog, &wanted(rows), &rows.custom_roles)?;
    // One chain per distinct target, shared by the requests into it.
    let mut chains: HashMap<&str, Vec<AccountFacts>> = HashMap::new();
    for r in requests {
        let id = r.account.as_str();
        if !chains.contains_key(id) {
            let chain = chain_of(&rows.accounts, id).into_iter().map(account_facts).collect::<Result<_, _>>()?;
            chains.insert(id, chain);
        }
    }
    let mut delegations_into: HashMap<&str, Vec<&delegation::Model>> = HashMap::new();
    for d in &rows.delegations {
        delegations_into.entry(d.to_account_id.as_str()).or_default().push(d);
    }
    let mut sources: HashMap<&str, AccountFacts> = HashMap::new();
    for d in &rows.delegations {
        if let Some(a) = rows.accounts.get(&d.from_account_id) {
            sources.insert(a.id.as_str(), account_facts(a)?);
        }
    }
    // One membership per (user, account) at most.
    let membership_of: HashMap<(&str, &str), &membership::Model> =
        rows.memberships.iter().map(|m| ((m.user_id.as_str(), m.account_id.as_str()), m)).collect();
    let mut by_membership: HashMap<&str, Vec<(i32, &str)>> = HashMap::new();
    for r in &rows.membership_roles {
        by_membership.entry(r.membership_id.as_str()).or_default().push((r.position, r.role_name.as_str()));
    }
    for names in by_membership.values_mut() {
        names.sort();
    }

    let mut out = Vec::with_capacity(requests.len());
    for request in requests {
        let chain = chains.get(request.account.as_str()).cloned().unwrap_or_default();
        let subject = rows
            .subjects
            .get(request.subject.as_str())
            .map(|u| {
                Ok::<_, StoreError>(SubjectFacts {
                    id: UserId::from_trusted(u.id.clone()),
                    status: UserStatus::parse(&u.status).map_err(|e| StoreError::corrupt("users", e))?,
                })
            })
            .transpose()?;
        let resource =
            request.resource.as_ref().and_then(|r| rows.resources.get(r.as_str())).map(|row| ResourceFacts {
                id: ResourceId::from_trusted(row.id.clone()),
                account: AccountId::from_trusted(row.account_id.clone()),
            });
        if !live(rows, request) {
            out.push(Facts { subject, chain, memberships: Vec::new(), delegations: Vec::new(), resource });
            continue;
        }
        let mut mine: Vec<&delegation::Model> =
            chain.iter().flat_map(|a| delegations_into.get(a.id.as_str()).into_iter().flatten().copied()).collect();
        mine.sort_by(|a, b| a.id.cmp(&b.id));
        // The accounts where a membership of the subject counts: the chain and the sources of the
        // delegations into it, each once.
        let mut reach: Vec<&str> = chain.iter().map(|a| a.id.as_str()).collect();
        reach.extend(mine.iter().map(|d| d.from_account_id.as_str()));
        reach.sort_unstable();
        reach.dedup();
        let mut memberships = Vec::new();
        for m in reach.iter().filter_map(|a| membership_of.get(&(request.subject.as_str(), *a))) {
            let account = AccountId::from_trusted(m.account_id.clone());
            let held = by_membership
                .get(m.id.as_str())
                .map(|names| {
                    names
                        .iter()
                        .filter_map(|(_, n)| roles.get(&(account.clone(), RoleName::from_trusted(*n))).cloned())
                        .collect()
                })
                .unwrap_or_default();
            let cap = match (&resource, &request.resource) {
                (Some(_), Some(r)) => rows.reached.get(&(m.id.clone(), r.as_str().to_owned())).map(|cap| (r, cap)),
                _ => None,
            };
            let resources_reached = match (m.restricted, cap) {
                (false, _) => None,
                (true, Some((r, cap))) => Some([(r.clone(), cap_level(cap)?)].into_iter().collect()),
                (true, None) => Some(Restriction::new()),
            };
            memberships.push(MembershipFacts {
                id: MembershipId::from_trusted(m.id.clone()),
                account,
                status: membership_status(&m.status)?,
                roles: held,
                resources: resources_reached,
                expires_at: m.expires_at.map(Timestamp::from_millis),
            });
        }
        let mut delegations = Vec::with_capacity(mine.len());
        for d in mine {
            let to = AccountId::from_trusted(d.to_account_id.clone());
            let (Some(from), Some(role)) = (
                sources.get(d.from_account_id.as_str()),
                roles.get(&(to.clone(), RoleName::from_trusted(d.role.clone()))),
            ) else {
                continue;
            };
            delegations.push(DelegationFacts {
                id: DelegationId::from_trusted(d.id.clone()),
                from_account: from.clone(),
                to_account: to,
                role: role.clone(),
                expires_at: d.expires_at.map(Timestamp::from_millis),
            });
        }
        out.push(Facts { subject, chain, memberships, delegations, resource });
    }
    Ok(out)
}

/// The facts of `requests` read through `conn` (a read transaction the caller holds), in the order
/// of the requests: [`read_rows`] then [`assemble`].
pub(crate) async fn load_many(
    conn: &impl ConnectionTrait,
    store: &Store,
    requests: &[&AccessRequest],
) -> Result<Vec<Facts>, StoreError> {
    let rows = read_rows(conn, store.catalog(), requests).await?;
    assemble(store.catalog(), &rows, requests)
}

impl Store {
    /// The facts a decision on `request` needs, and the revision they were read at.
    #[tracing::instrument(name = "store.load_facts", skip_all, fields(otel.kind = "client", db.system.name = self.backend_name()))]
    pub async fn load_facts(&self, request: &AccessRequest) -> Result<(Facts, Revision), StoreError> {
        let (mut facts, revision) = self.load(&[request]).await?;
        let facts = facts.pop().ok_or_else(|| StoreError::corrupt("facts", "no facts for the request"))?;
        Ok((facts, revision))
    }

    /// The facts of many requests, read in one snapshot (one revision) with a bounded number of
    /// queries whatever their number, in the order of the requests. A single request is read as
    /// [`Store::load_facts`] reads it: on PostgreSQL one statement.
    #[tracing::instrument(name = "store.load_facts", skip_all, fields(otel.kind = "client", db.system.name = self.backend_name(), requests = requests.len()))]
    pub async fn load_facts_many(&self, requests: &[&AccessRequest]) -> Result<(Vec<Facts>, Revision), StoreError> {
        self.load(requests).await
    }

    /// The one loader: the rows of `requests` in one snapshot — a single request on PostgreSQL in
    /// one statement, anything else in a read transaction — assembled into each request's facts.
    async fn load(&self, requests: &[&AccessRequest]) -> Result<(Vec<Facts>, Revision), StoreError> {
        let (rows, revision) = match requests {
            [one] if self.db.get_database_backend() == DbBackend::Postgres => {
                // Through sqlx itself: sea-orm's `query_one_raw` future is large enough that moving
                // it cost about a seventh of an uncached check's instructions (callgrind).
                if let Some(counter) = &self.statements {
                    counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                read_rows_postgres(self.db.get_postgres_connection_pool(), one).await?
            }
            _ => {
                let txn = self.begin_read().await?;
                let revision = read_revision(&txn).await?;
                let rows = read_rows(&txn, self.catalog(), requests).await?;
                txn.commit().await?;
                (rows, revision)
            }
        };
        Ok((assemble(self.catalog(), &rows, requests)?, revision))
    }

    /// [`Store::load_facts`] through the queries every backend runs, to compare with PostgreSQL's
    /// one statement.
    #[cfg(test)]
    pub(crate) async fn load_facts_generic(&self, request: &AccessRequest) -> Result<Facts, StoreError> {
        let txn = self.begin_read().await?;
        let mut facts = load_many(&txn, self, &[request]).await?;
        txn.commit().await?;
        facts.pop().ok_or_else(|| StoreError::corrupt("facts", "no facts for the request"))
    }
}
