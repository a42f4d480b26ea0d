//! Lookups: the resources a subject reaches in an account, the subjects that hold a permission.

use std::collections::BTreeSet;

use guichet_domain::{
    AccessRequest, AccountId, Consistency, FeatureName, MembershipId, Path, PathOutcome, Permission, ResourceId,
    Revision, UserId, evaluate,
};
use guichet_store::{Page, PageRequest};

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
    pub async fn authorized_subjects(
        &self,
        account: &AccountId,
        permission: &Permission,
        resource: Option<&ResourceId>,
        consistency: Consistency,
        page: &PageRequest,
    ) -> Result<(Page<(UserId, Accessible)>, Revision), ServerError> {
        self.check_revision(consistency).await?;
        let revision = self.store().revision().await?;
        let limit = usize::try_from(page.limit).unwrap_or(usize::MAX);
        let mut items = Vec::new();
        let mut next_after = None;
        for subject in self.store().subject_candidates(account).await? {
            if page.after.as_deref().is_some_and(|a| subject.as_str() <= a) {
                continue;
            }
            let request = AccessRequest {
                subject: subject.clone(),
                account: account.clone(),
                permission: permission.clone(),
                resource: resource.cloned(),
            };
            let checked = self.check(&request, Consistency::MinimizeLatency).await?;
            if checked.decision.allowed {
                if items.len() == limit {
                    next_after = items.last().map(|(u, _): &(UserId, Accessible)| u.as_str().to_owned());
                    break;
                }
                items.push((subject, Accessible { account: account.clone(), decision: checked.decision }));
            }
        }
        Ok((Page { items, next_after }, revision))
    }
}
