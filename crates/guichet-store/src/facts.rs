//! Loading what a decision needs, in a bounded number of queries whatever the depth of the tree:
//! the account and its ancestors (two queries, through the materialised path), the subject, the
//! delegations into the chain and their source accounts, the subject's memberships in all those
//! accounts with their roles, the custom roles they name, and — for a resource check — the
//! resource and the restricted memberships that reach it. Ten queries at most, in one snapshot; on
//! PostgreSQL a single request's facts are one statement (see [`read_rows_postgres`]).

use std::collections::{BTreeSet, HashMap};

use guichet_domain::{
    AccessRequest, AccountFacts, AccountId, AccountKind, Catalog, DelegationFacts, DelegationId, Facts, FeatureName,
    MembershipFacts, MembershipId, ResourceFacts, ResourceId, Restriction, Revision, RoleName, SubjectFacts, UserId,
    UserStatus,
};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder};

use crate::entities::{account, delegation, membership, membership_resource, membership_role, resource, role, user};
use crate::roles::{custom_accounts, resolve, resolve_rows};
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
    ordered_chain(chain_rows(conn, id).await?)
}

/// The rows of the account `id` and its ancestors (through the materialised path), in two queries;
/// none when the account does not exist.
async fn chain_rows(conn: &impl ConnectionTrait, id: &AccountId) -> Result<Vec<account::Model>, StoreError> {
    let Some(target) = account::Entity::find_by_id(id.as_str().to_owned()).one(conn).await? else {
        return Ok(Vec::new());
    };
    let ancestor_ids: Vec<String> = target.path.split('/').filter(|p| *p != target.id).map(str::to_owned).collect();
    let mut out = if ancestor_ids.is_empty() {
        Vec::new()
    } else {
        account::Entity::find().filter(account::Column::Id.is_in(ancestor_ids)).all(conn).await?
    };
    out.push(target);
    Ok(out)
}

/// The chain's facts, target first: the deepest account first, up to the root.
fn ordered_chain(mut rows: Vec<account::Model>) -> Result<Vec<AccountFacts>, StoreError> {
    rows.sort_by_key(|a| std::cmp::Reverse(a.depth));
    rows.iter().map(account_facts).collect()
}

/// The rows a decision on one request reads, however they were read.
#[derive(Debug, Default)]
struct Rows {
    /// The target account and its ancestors, in any order.
    chain: Vec<account::Model>,
    subject: Option<user::Model>,
    resource: Option<resource::Model>,
    /// The delegations into the chain.
    delegations: Vec<delegation::Model>,
    /// The accounts those delegations come from.
    sources: Vec<account::Model>,
    /// The subject's memberships in the chain and the sources.
    memberships: Vec<membership::Model>,
    /// The roles those memberships hold.
    membership_roles: Vec<membership_role::Model>,
    /// The custom roles of the accounts that name one (at least every one named and not built in).
    custom_roles: Vec<role::Model>,
    /// The restricted memberships that reach the resource.
    /// The restricted memberships that reach the resource asked about, with their cap there.
    reached: HashMap<String, String>,
}

/// Reads the rows of one request in ten queries at most, on any backend.
async fn read_rows(
    conn: &impl ConnectionTrait,
    catalog: &Catalog,
    subject: &UserId,
    account: &AccountId,
    resource_id: Option<&ResourceId>,
) -> Result<Rows, StoreError> {
    let mut rows = Rows { chain: chain_rows(conn, account).await?, ..Rows::default() };
    rows.subject = user::Entity::find_by_id(subject.as_str().to_owned()).one(conn).await?;
    if let Some(r) = resource_id {
        rows.resource = resource::Entity::find_by_id(r.as_str().to_owned()).one(conn).await?;
    }
    if rows.chain.is_empty() || rows.subject.is_none() {
        return Ok(rows);
    }
    let chain_ids: Vec<String> = rows.chain.iter().map(|a| a.id.clone()).collect();
    rows.delegations = delegation::Entity::find()
        .filter(delegation::Column::ToAccountId.is_in(chain_ids.clone()))
        .order_by_asc(delegation::Column::Id)
        .all(conn)
        .await?;
    let source_ids: BTreeSet<String> = rows.delegations.iter().map(|d| d.from_account_id.clone()).collect();
    if !source_ids.is_empty() {
        rows.sources = account::Entity::find().filter(account::Column::Id.is_in(source_ids)).all(conn).await?;
    }
    let accounts: BTreeSet<String> = chain_ids.into_iter().chain(rows.sources.iter().map(|a| a.id.clone())).collect();
    rows.memberships = membership::Entity::find()
        .filter(membership::Column::UserId.eq(subject.as_str()))
        .filter(membership::Column::AccountId.is_in(accounts))
        .order_by_asc(membership::Column::AccountId)
        .all(conn)
        .await?;
    if !rows.memberships.is_empty() {
        rows.membership_roles = membership_role::Entity::find()
            .filter(membership_role::Column::MembershipId.is_in(rows.memberships.iter().map(|m| m.id.clone())))
            .all(conn)
            .await?;
    }
    let kinds = kinds(&rows);
    let custom = custom_accounts(catalog, &wanted(&rows, &kinds));
    rows.custom_roles = find_in::<role::Entity>(conn, role::Column::AccountId, custom, Condition::all()).await?;
    if let (Some(_), Some(r)) = (&rows.resource, resource_id) {
        let restricted: Vec<String> = rows.memberships.iter().filter(|m| m.restricted).map(|m| m.id.clone()).collect();
        if !restricted.is_empty() {
            rows.reached = membership_resource::Entity::find()
                .filter(membership_resource::Column::MembershipId.is_in(restricted))
                .filter(membership_resource::Column::ResourceId.eq(r.as_str()))
                .all(conn)
                .await?
                .into_iter()
                .map(|g| (g.membership_id, g.level))
                .collect();
        }
    }
    Ok(rows)
}

/// The rows of one request and the revision they were read at, in one PostgreSQL statement: a
/// statement sees one snapshot, so no transaction is needed and the request costs one round trip
/// instead of the dozen of [`read_rows`] in a read transaction. Each part of the answer is a JSON
/// array of whole rows, decoded into the same models the other path reads.
async fn read_rows_postgres(
    pool: &sea_orm::sqlx::PgPool,
    subject: &UserId,
    account: &AccountId,
    resource_id: Option<&ResourceId>,
) -> Result<(Rows, Revision), StoreError> {
    use sea_orm::sqlx::{self, Row as _};
    let query_error =
        |e: sqlx::Error| StoreError::from(sea_orm::DbErr::Query(sea_orm::RuntimeErr::SqlxError(e.into())));
    let row = sqlx::query(ONE_STATEMENT)
        .bind(account.as_str())
        .bind(subject.as_str())
        .bind(resource_id.map(ResourceId::as_str))
        .fetch_one(pool)
        .await
        .map_err(query_error)?;
    let revision: Option<i64> = row.try_get("revision").map_err(query_error)?;
    let revision = revision.ok_or_else(|| StoreError::corrupt("guichet_revision", "the revision row is missing"))?;
    let revision = Revision::new(u64::try_from(revision).map_err(|e| StoreError::corrupt("guichet_revision", e))?);
    // The JSON text is read in place from the row's buffer.
    let part = |column: &'static str| -> Result<Option<&str>, StoreError> { row.try_get(column).map_err(query_error) };
    fn json<T: serde::de::DeserializeOwned>(column: &'static str, text: Option<&str>) -> Result<T, StoreError> {
        serde_json::from_str(text.unwrap_or("null")).map_err(|e| StoreError::corrupt(column, e))
    }
    let rows = Rows {
        chain: json::<Option<Vec<account::Model>>>("chain", part("chain")?)?.unwrap_or_default(),
        subject: json("subject", part("subject")?)?,
        resource: json("resource", part("resource")?)?,
        delegations: json::<Option<Vec<delegation::Model>>>("delegations", part("delegations")?)?.unwrap_or_default(),
        sources: json::<Option<Vec<account::Model>>>("sources", part("sources")?)?.unwrap_or_default(),
        memberships: json::<Option<Vec<membership::Model>>>("memberships", part("memberships")?)?.unwrap_or_default(),
        membership_roles: json::<Option<Vec<membership_role::Model>>>("membership_roles", part("membership_roles")?)?
            .unwrap_or_default(),
        custom_roles: json::<Option<Vec<role::Model>>>("roles", part("roles")?)?.unwrap_or_default(),
        reached: json::<Option<Vec<(String, String)>>>("reached", part("reached")?)?
            .unwrap_or_default()
            .into_iter()
            .collect(),
    };
    Ok((rows, revision))
}

/// What [`read_rows`] reads, as one statement (`$1` account, `$2` subject, `$3` resource or null).
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

/// The kind of every account of the chain and of the delegations' sources.
fn kinds(rows: &Rows) -> HashMap<String, AccountKind> {
    rows.chain.iter().chain(&rows.sources).map(|a| (a.id.clone(), AccountKind::from_trusted(a.kind.clone()))).collect()
}

/// The roles the rows name, with the kind of the account that holds them.
fn wanted(rows: &Rows, kinds: &HashMap<String, AccountKind>) -> Vec<(AccountId, AccountKind, RoleName)> {
    let named = rows
        .membership_roles
        .iter()
        .map(|r| (&r.account_id, &r.role_name))
        .chain(rows.delegations.iter().map(|d| (&d.to_account_id, &d.role)));
    named
        .filter_map(|(account, name)| {
            let kind = kinds.get(account)?;
            Some((AccountId::from_trusted(account.clone()), kind.clone(), RoleName::from_trusted(name.clone())))
        })
        .collect()
}

/// The facts of one request out of its rows.
fn assemble(catalog: &Catalog, rows: Rows, resource_id: Option<&ResourceId>) -> Result<Facts, StoreError> {
    let kinds = kinds(&rows);
    let roles = resolve_rows(catalog, &wanted(&rows, &kinds), &rows.custom_roles)?;
    let Rows {
        chain: chain_rows, subject, resource, delegations, sources, memberships, membership_roles, reached, ..
    } = rows;
    let chain = ordered_chain(chain_rows)?;
    let subject = subject
        .map(|u| {
            Ok::<_, StoreError>(SubjectFacts {
                id: UserId::from_trusted(u.id),
                status: UserStatus::parse(&u.status).map_err(|e| StoreError::corrupt("users", e))?,
            })
        })
        .transpose()?;
    let resource = resource.map(|row| ResourceFacts {
        id: ResourceId::from_trusted(row.id),
        account: AccountId::from_trusted(row.account_id),
    });
    if chain.is_empty() || subject.is_none() {
        return Ok(Facts { subject, chain, memberships: Vec::new(), delegations: Vec::new(), resource });
    }
    let sources: HashMap<String, AccountFacts> =
        sources.iter().map(|a| Ok((a.id.clone(), account_facts(a)?))).collect::<Result<_, StoreError>>()?;
    let mut by_membership: HashMap<&str, Vec<(i32, &str)>> = HashMap::new();
    for r in &membership_roles {
        by_membership.entry(r.membership_id.as_str()).or_default().push((r.position, r.role_name.as_str()));
    }
    let mut out_memberships = Vec::with_capacity(memberships.len());
    for m in &memberships {
        let account = AccountId::from_trusted(m.account_id.clone());
        let mut names = by_membership.remove(m.id.as_str()).unwrap_or_default();
        names.sort();
        let held = names
            .iter()
            .filter_map(|(_, n)| roles.get(&(account.clone(), RoleName::from_trusted(*n))).cloned())
            .collect();
        let resources = match (m.restricted, resource_id.zip(reached.get(&m.id))) {
            (false, _) => None,
            (true, Some((r, cap))) => Some([(r.clone(), cap_level(cap)?)].into_iter().collect()),
            (true, None) => Some(Restriction::new()),
        };
        out_memberships.push(MembershipFacts {
            id: MembershipId::from_trusted(m.id.clone()),
            account,
            status: membership_status(&m.status)?,
            roles: held,
            resources,
        });
    }
    let mut out_delegations = Vec::with_capacity(delegations.len());
    for d in &delegations {
        let to = AccountId::from_trusted(d.to_account_id.clone());
        let (Some(from), Some(role)) =
            (sources.get(&d.from_account_id), roles.get(&(to.clone(), RoleName::from_trusted(d.role.clone()))))
        else {
            continue;
        };
        out_delegations.push(DelegationFacts {
            id: DelegationId::from_trusted(d.id.clone()),
            from_account: from.clone(),
            to_account: to,
            role: role.clone(),
        });
    }
    Ok(Facts { subject, chain, memberships: out_memberships, delegations: out_delegations, resource })
}

/// The facts of many requests in a bounded number of queries whatever their number, in the order
/// of the requests. Each request's facts are those [`load`] would give.
///
/// Eleven queries at most while every `IN` list holds up to [`MAX_IN_LIST`] values (a batch of
/// 1,000 requests into 16-deep trees stays under it); a longer list is split into several
/// queries, so that no statement passes the bound-parameter limit of the backend. The work after
/// the queries is linear in the number of requests and of rows read: rows are indexed by key,
/// never searched once per request.
pub(crate) async fn load_many(
    conn: &impl ConnectionTrait,
    store: &Store,
    requests: &[&AccessRequest],
) -> Result<Vec<Facts>, StoreError> {
    // The accounts of every chain: the targets, then their ancestors through the paths.
    let target_ids: BTreeSet<String> = requests.iter().map(|r| r.account.as_str().to_owned()).collect();
    let mut rows: HashMap<String, account::Model> = HashMap::new();
    for a in find_in::<account::Entity>(conn, account::Column::Id, target_ids, Condition::all()).await? {
        rows.insert(a.id.clone(), a);
    }
    let ancestor_ids: BTreeSet<String> = rows
        .values()
        .flat_map(|t| t.path.split('/').filter(|p| *p != t.id).map(str::to_owned).collect::<Vec<_>>())
        .filter(|id| !rows.contains_key(id))
        .collect();
    for a in find_in::<account::Entity>(conn, account::Column::Id, ancestor_ids, Condition::all()).await? {
        rows.insert(a.id.clone(), a);
    }
    // One chain per distinct target, shared by the requests into it.
    let mut chains: HashMap<&str, Vec<AccountFacts>> = HashMap::new();
    for r in requests {
        let id = r.account.as_str();
        if chains.contains_key(id) {
            continue;
        }
        let chain = match rows.get(id) {
            None => Vec::new(),
            Some(target) => {
                let mut ancestors: Vec<&account::Model> =
                    target.path.split('/').filter(|p| *p != target.id).filter_map(|p| rows.get(p)).collect();
                ancestors.sort_by_key(|a| std::cmp::Reverse(a.depth));
                let mut out = Vec::with_capacity(ancestors.len() + 1);
                out.push(account_facts(target)?);
                for a in ancestors {
                    out.push(account_facts(a)?);
                }
                out
            }
        };
        chains.insert(id, chain);
    }
    let chain_of = |r: &AccessRequest| chains.get(r.account.as_str()).map_or(&[][..], Vec::as_slice);

    let subject_ids: BTreeSet<String> = requests.iter().map(|r| r.subject.as_str().to_owned()).collect();
    let mut subjects: HashMap<String, SubjectFacts> = HashMap::new();
    for u in find_in::<user::Entity>(conn, user::Column::Id, subject_ids, Condition::all()).await? {
        let status = UserStatus::parse(&u.status).map_err(|e| StoreError::corrupt("users", e))?;
        subjects.insert(u.id.clone(), SubjectFacts { id: UserId::from_trusted(u.id), status });
    }
    let resource_ids: BTreeSet<String> =
        requests.iter().filter_map(|r| r.resource.as_ref().map(|x| x.as_str().to_owned())).collect();
    let mut resources: HashMap<String, ResourceFacts> = HashMap::new();
    for row in find_in::<resource::Entity>(conn, resource::Column::Id, resource_ids, Condition::all()).await? {
        resources.insert(
            row.id.clone(),
            ResourceFacts { id: ResourceId::from_trusted(row.id), account: AccountId::from_trusted(row.account_id) },
        );
    }

    // The requests that go further: a known account and a known subject.
    let live: Vec<bool> =
        requests.iter().map(|r| !chain_of(r).is_empty() && subjects.contains_key(r.subject.as_str())).collect();
    let live_requests = || requests.iter().zip(&live).filter(|(_, l)| **l).map(|(r, _)| *r);
    let all_chain_ids: BTreeSet<String> =
        live_requests().flat_map(|r| chain_of(r).iter().map(|a| a.id.as_str().to_owned())).collect();
    let mut delegation_rows = find_in::<delegation::Entity>(
        conn,
        delegation::Column::ToAccountId,
        all_chain_ids.iter().cloned(),
        Condition::all(),
    )
    .await?;
    delegation_rows.sort_by(|a, b| a.id.cmp(&b.id));
    let mut delegations_into: HashMap<&str, Vec<&delegation::Model>> = HashMap::new();
    for d in &delegation_rows {
        delegations_into.entry(d.to_account_id.as_str()).or_default().push(d);
    }
    let missing_sources: BTreeSet<String> =
        delegation_rows.iter().map(|d| d.from_account_id.clone()).filter(|id| !rows.contains_key(id)).collect();
    let mut sources: HashMap<String, AccountFacts> = HashMap::new();
    for d in &delegation_rows {
        if let Some(a) = rows.get(&d.from_account_id) {
            sources.insert(a.id.clone(), account_facts(a)?);
        }
    }
    for a in find_in::<account::Entity>(conn, account::Column::Id, missing_sources, Condition::all()).await? {
        sources.insert(a.id.clone(), account_facts(&a)?);
    }
    let mut kinds: HashMap<String, AccountKind> = HashMap::new();
    for r in live_requests() {
        kinds.extend(chain_of(r).iter().map(|a| (a.id.as_str().to_owned(), a.kind.clone())));
    }
    kinds.extend(sources.iter().map(|(id, a)| (id.clone(), a.kind.clone())));
    let live_subjects: Vec<String> =
        live_requests().map(|r| r.subject.as_str().to_owned()).collect::<BTreeSet<_>>().into_iter().collect();
    let mut member_rows = Vec::new();
    for users in live_subjects.chunks(MAX_IN_LIST) {
        let of_users = Condition::all().add(membership::Column::UserId.is_in(users.iter().cloned()));
        member_rows.extend(
            find_in::<membership::Entity>(conn, membership::Column::AccountId, kinds.keys().cloned(), of_users).await?,
        );
    }
    // One membership per (user, account) at most.
    let membership_of: HashMap<(&str, &str), &membership::Model> =
        member_rows.iter().map(|m| ((m.user_id.as_str(), m.account_id.as_str()), m)).collect();
    let role_rows = find_in::<membership_role::Entity>(
        conn,
        membership_role::Column::MembershipId,
        member_rows.iter().map(|m| m.id.clone()),
        Condition::all(),
    )
    .await?;
    let mut wanted: Vec<(AccountId, AccountKind, RoleName)> = Vec::new();
    for r in &role_rows {
        if let Some(kind) = kinds.get(&r.account_id) {
            wanted.push((
                AccountId::from_trusted(r.account_id.clone()),
                kind.clone(),
                RoleName::from_trusted(r.role_name.clone()),
            ));
        }
    }
    for d in &delegation_rows {
        if let Some(kind) = kinds.get(&d.to_account_id) {
            wanted.push((
                AccountId::from_trusted(d.to_account_id.clone()),
                kind.clone(),
                RoleName::from_trusted(d.role.clone()),
            ));
        }
    }
    let roles = resolve(conn, store.catalog(), &wanted).await?;
    let restricted: Vec<String> = member_rows.iter().filter(|m| m.restricted).map(|m| m.id.clone()).collect();
    let mut grants: HashMap<(String, String), String> = HashMap::new();
    if !resources.is_empty() {
        for part in restricted.chunks(MAX_IN_LIST) {
            let of_memberships =
                Condition::all().add(membership_resource::Column::MembershipId.is_in(part.iter().cloned()));
            for g in find_in::<membership_resource::Entity>(
                conn,
                membership_resource::Column::ResourceId,
                resources.keys().cloned(),
                of_memberships,
            )
            .await?
            {
                grants.insert((g.membership_id, g.resource_id), g.level);
            }
        }
    }
    let mut by_membership: HashMap<&str, Vec<(i32, &str)>> = HashMap::new();
    for r in &role_rows {
        by_membership.entry(r.membership_id.as_str()).or_default().push((r.position, r.role_name.as_str()));
    }
    for names in by_membership.values_mut() {
        names.sort();
    }

    let mut out = Vec::with_capacity(requests.len());
    for (request, live) in requests.iter().zip(live) {
        let chain = chain_of(request).to_vec();
        let subject = subjects.get(request.subject.as_str()).cloned();
        let resource = request.resource.as_ref().and_then(|r| resources.get(r.as_str()).cloned());
        if !live {
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
                (Some(_), Some(r)) => grants.get(&(m.id.clone(), r.as_str().to_owned())).map(|cap| (r, cap)),
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
            });
        }
        let mut delegations = Vec::with_capacity(mine.len());
        for d in mine {
            let to = AccountId::from_trusted(d.to_account_id.clone());
            let (Some(from), Some(role)) =
                (sources.get(&d.from_account_id), roles.get(&(to.clone(), RoleName::from_trusted(d.role.clone()))))
            else {
                continue;
            };
            delegations.push(DelegationFacts {
                id: DelegationId::from_trusted(d.id.clone()),
                from_account: from.clone(),
                to_account: to,
                role: role.clone(),
            });
        }
        out.push(Facts { subject, chain, memberships, delegations, resource });
    }
    Ok(out)
}

impl Store {
    /// The facts a decision on `request` needs, and the revision they were read at.
    #[tracing::instrument(name = "store.load_facts", skip_all, fields(otel.kind = "client", db.system.name = self.backend_name()))]
    pub async fn load_facts(&self, request: &AccessRequest) -> Result<(Facts, Revision), StoreError> {
        self.load_one(request).await
    }

    async fn load_one(&self, request: &AccessRequest) -> Result<(Facts, Revision), StoreError> {
        let (subject, account, resource) = (&request.subject, &request.account, request.resource.as_ref());
        let (rows, revision) = if self.db.get_database_backend() == DbBackend::Postgres {
            // Through sqlx itself: sea-orm's `query_one_raw` future is large enough that moving it
            // cost about a seventh of an uncached check's instructions (callgrind).
            if let Some(counter) = &self.statements {
                counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            read_rows_postgres(self.db.get_postgres_connection_pool(), subject, account, resource).await?
        } else {
            let txn = self.begin_read().await?;
            let revision = read_revision(&txn).await?;
            let rows = read_rows(&txn, self.catalog(), subject, account, resource).await?;
            txn.commit().await?;
            (rows, revision)
        };
        Ok((assemble(self.catalog(), rows, resource)?, revision))
    }

    /// [`Store::load_facts`] through the queries every backend runs, to compare with PostgreSQL's
    /// one statement.
    #[cfg(test)]
    pub(crate) async fn load_facts_generic(&self, request: &AccessRequest) -> Result<Facts, StoreError> {
        let txn = self.begin_read().await?;
        let rows =
            read_rows(&txn, self.catalog(), &request.subject, &request.account, request.resource.as_ref()).await?;
        txn.commit().await?;
        assemble(self.catalog(), rows, request.resource.as_ref())
    }

    /// The facts of many requests, read in one transaction (one snapshot, one revision) with a
    /// bounded number of queries whatever their number, in the order of the requests.
    /// A single request is read as [`Store::load_facts`] reads it: on PostgreSQL one statement.
    #[tracing::instrument(name = "store.load_facts", skip_all, fields(otel.kind = "client", db.system.name = self.backend_name(), requests = requests.len()))]
    pub async fn load_facts_many(&self, requests: &[&AccessRequest]) -> Result<(Vec<Facts>, Revision), StoreError> {
        if let [one] = requests {
            let (facts, revision) = self.load_one(one).await?;
            return Ok((vec![facts], revision));
        }
        let txn = self.begin_read().await?;
        let revision = read_revision(&txn).await?;
        let out = load_many(&txn, self, requests).await?;
        txn.commit().await?;
        Ok((out, revision))
    }
}
