//! Lookups: the resources a subject reaches in an account, the subjects that hold a permission in
//! an account, the accounts where a subject holds one.

use std::collections::BTreeSet;

use guichet_domain::{
    AccessRequest, AccountId, Consistency, Decision, FeatureName, MembershipId, Path, PathOutcome, Permission,
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
        self.check_revision(consistency).await?;
        let request = AccessRequest {
            subject: subject.clone(),
            account: account.clone(),
            permission: permission.clone(),
            resource: None,
        };
        let (facts, revision) = self.store().load_facts(&request).await?;
        let decision = evaluate(self.catalog(), &request, &facts);
        if !decision.allowed {
            return Ok((Page { items: Vec::new(), next_after: None }, revision));
        }
        let restricted: BTreeSet<&MembershipId> =
            facts.memberships.iter().filter(|m| m.resources.is_some()).map(|m| &m.id).collect();
        let granting: Vec<&Path> =
            decision.paths.iter().filter(|p| p.outcome == PathOutcome::Granted).map(|p| &p.path).collect();
        let everything = granting.iter().any(|p| match p {
            Path::Direct { membership, .. } => !restricted.contains(membership),
            Path::Inherited { .. } | Path::Delegated { .. } => true,
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
            self.store().resources_of_memberships(account, &memberships, kind, page).await?
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
        self.check_revision(consistency).await?;
        let limit = usize::try_from(page.limit).unwrap_or(usize::MAX);
        let catalog = self.catalog();
        let (mut items, revision) = self
            .store()
            .lookup(lookup, page.after.as_deref(), limit.saturating_add(1), |request, facts| {
                let decision = evaluate(catalog, request, facts);
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

