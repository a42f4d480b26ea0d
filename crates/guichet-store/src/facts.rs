//! Loading what a decision needs, in a bounded number of queries whatever the depth of the tree:
//! the account and its ancestors (two queries, through the materialised path), the subject, the
//! delegations into the chain and their source accounts, the subject's memberships in all those
//! accounts with their roles, the custom roles they name, and — for a resource check — the
//! resource and the restricted memberships that reach it. Ten queries at most, in one snapshot.

use std::collections::{BTreeSet, HashMap};

use guichet_domain::{
    AccessRequest, AccountFacts, AccountId, AccountKind, DelegationFacts, DelegationId, Facts, FeatureName,
    MembershipFacts, MembershipId, ResourceFacts, ResourceId, Revision, RoleName, SubjectFacts, UserId, UserStatus,
};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};

use crate::entities::{account, delegation, membership, membership_resource, membership_role, resource, user};
use crate::roles::resolve;
use crate::rows::{account_status, membership_status};
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
    let Some(target) = account::Entity::find_by_id(id.as_str().to_owned()).one(conn).await? else {
        return Ok(Vec::new());
    };
    let ancestor_ids: Vec<String> = target.path.split('/').filter(|p| *p != target.id).map(str::to_owned).collect();
    let mut ancestors = if ancestor_ids.is_empty() {
        Vec::new()
    } else {
        account::Entity::find().filter(account::Column::Id.is_in(ancestor_ids)).all(conn).await?
    };
    ancestors.sort_by_key(|a| std::cmp::Reverse(a.depth));
    let mut out = Vec::with_capacity(ancestors.len() + 1);
    out.push(account_facts(&target)?);
    for a in &ancestors {
        out.push(account_facts(a)?);
    }
    Ok(out)
}

pub(crate) async fn load(
    conn: &impl ConnectionTrait,
    store: &Store,
    subject: &UserId,
    account: &AccountId,
    resource_id: Option<&ResourceId>,
) -> Result<Facts, StoreError> {
    let chain = chain(conn, account).await?;
    let subject_row = user::Entity::find_by_id(subject.as_str().to_owned()).one(conn).await?;
    let subject_facts = subject_row
        .map(|u| {
            Ok::<_, StoreError>(SubjectFacts {
                id: UserId::from_trusted(u.id),
                status: UserStatus::parse(&u.status).map_err(|e| StoreError::corrupt("users", e))?,
            })
        })
        .transpose()?;
    let resource = match resource_id {
        Some(r) => resource::Entity::find_by_id(r.as_str().to_owned()).one(conn).await?.map(|row| ResourceFacts {
            id: ResourceId::from_trusted(row.id),
            account: AccountId::from_trusted(row.account_id),
        }),
        None => None,
    };
    if chain.is_empty() || subject_facts.is_none() {
        return Ok(Facts { subject: subject_facts, chain, memberships: Vec::new(), delegations: Vec::new(), resource });
    }
    let chain_ids: Vec<String> = chain.iter().map(|a| a.id.as_str().to_owned()).collect();
    let delegation_rows = delegation::Entity::find()
        .filter(delegation::Column::ToAccountId.is_in(chain_ids.clone()))
        .order_by_asc(delegation::Column::Id)
        .all(conn)
        .await?;
    let source_ids: BTreeSet<String> = delegation_rows.iter().map(|d| d.from_account_id.clone()).collect();
    let sources: HashMap<String, AccountFacts> = if source_ids.is_empty() {
        HashMap::new()
    } else {
        account::Entity::find()
            .filter(account::Column::Id.is_in(source_ids.iter().cloned()))
            .all(conn)
            .await?
            .iter()
            .map(|a| Ok((a.id.clone(), account_facts(a)?)))
            .collect::<Result<_, StoreError>>()?
    };
    let mut kinds: HashMap<String, AccountKind> =
        chain.iter().map(|a| (a.id.as_str().to_owned(), a.kind.clone())).collect();
    kinds.extend(sources.iter().map(|(id, a)| (id.clone(), a.kind.clone())));

    let member_rows = membership::Entity::find()
        .filter(membership::Column::UserId.eq(subject.as_str()))
        .filter(membership::Column::AccountId.is_in(kinds.keys().cloned()))
        .order_by_asc(membership::Column::AccountId)
        .all(conn)
        .await?;
    let role_rows = if member_rows.is_empty() {
        Vec::new()
    } else {
        membership_role::Entity::find()
            .filter(membership_role::Column::MembershipId.is_in(member_rows.iter().map(|m| m.id.clone())))
            .all(conn)
            .await?
    };
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

    let reached: BTreeSet<String> = match (&resource, resource_id) {
        (Some(_), Some(r)) => {
            let restricted: Vec<String> = member_rows.iter().filter(|m| m.restricted).map(|m| m.id.clone()).collect();
            if restricted.is_empty() {
                BTreeSet::new()
            } else {
                membership_resource::Entity::find()
                    .filter(membership_resource::Column::MembershipId.is_in(restricted))
                    .filter(membership_resource::Column::ResourceId.eq(r.as_str()))
                    .all(conn)
                    .await?
                    .into_iter()
                    .map(|g| g.membership_id)
                    .collect()
            }
        }
        _ => BTreeSet::new(),
    };

    let mut by_membership: HashMap<&str, Vec<(i32, &str)>> = HashMap::new();
    for r in &role_rows {
        by_membership.entry(r.membership_id.as_str()).or_default().push((r.position, r.role_name.as_str()));
    }
    let mut memberships = Vec::with_capacity(member_rows.len());
    for m in &member_rows {
        let account = AccountId::from_trusted(m.account_id.clone());
        let mut names = by_membership.remove(m.id.as_str()).unwrap_or_default();
        names.sort();
        let held = names
            .iter()
            .filter_map(|(_, n)| roles.get(&(account.clone(), RoleName::from_trusted(*n))).cloned())
            .collect();
        let resources = m.restricted.then(|| match resource_id {
            Some(r) if reached.contains(&m.id) => BTreeSet::from([r.clone()]),
            _ => BTreeSet::new(),
        });
        memberships.push(MembershipFacts {
            id: MembershipId::from_trusted(m.id.clone()),
            account,
            status: membership_status(&m.status)?,
            roles: held,
            resources,
        });
    }
    let mut delegations = Vec::with_capacity(delegation_rows.len());
    for d in &delegation_rows {
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
    Ok(Facts { subject: subject_facts, chain, memberships, delegations, resource })
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
    let mut grants: BTreeSet<(String, String)> = BTreeSet::new();
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
                grants.insert((g.membership_id, g.resource_id));
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
            let resources_reached = m.restricted.then(|| match (&resource, &request.resource) {
                (Some(_), Some(r)) if grants.contains(&(m.id.clone(), r.as_str().to_owned())) => {
                    BTreeSet::from([r.clone()])
                }
                _ => BTreeSet::new(),
            });
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
        let txn = self.begin_read().await?;
        let revision = read_revision(&txn).await?;
        let facts = load(&txn, self, &request.subject, &request.account, request.resource.as_ref()).await?;
        txn.commit().await?;
        Ok((facts, revision))
    }

    /// The facts of many requests, read in one transaction (one snapshot, one revision) with a
    /// bounded number of queries whatever their number, in the order of the requests.
    #[tracing::instrument(name = "store.load_facts", skip_all, fields(otel.kind = "client", db.system.name = self.backend_name(), requests = requests.len()))]
    pub async fn load_facts_many(&self, requests: &[&AccessRequest]) -> Result<(Vec<Facts>, Revision), StoreError> {
        let txn = self.begin_read().await?;
        let revision = read_revision(&txn).await?;
        let out = load_many(&txn, self, requests).await?;
        txn.commit().await?;
        Ok((out, revision))
    }
}
