//! Four-eyes approvals (seed 001): the pending memberships of an account, and rejecting one.
//! Approving is a status change of the membership (`Store::set_membership_status_if_version`);
//! the rule of who may approve is the domain's (`guichet_domain::check_four_eyes`).

use std::collections::HashMap;

use guichet_domain::{AccountId, InvitationId, Membership, MembershipId, MembershipStatus, Revision, User};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter};

use crate::entities::{invitation, membership, user};
use crate::events::{Audit, Write};
use crate::memberships::{MembershipSnapshot, load_details};
use crate::paging::{Direction, Keyset};
use crate::roles::account_row;
use crate::rows;
use crate::{Page, PageRequest, Store, StoreError};

/// A membership waiting for approval, with what an approver needs to decide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    /// The pending membership.
    pub membership: Membership,
    /// The invitation it came from, if any.
    pub invitation: Option<InvitationId>,
    /// The person who would get access.
    pub user: User,
}

/// Why a membership was rejected, as its audit event records it.
#[derive(Debug, serde::Serialize)]
struct Rejection<'a> {
    rejected: &'a MembershipSnapshot,
    reason: &'a str,
}

impl Store {
    /// The pending memberships of an account, oldest request first (by creation time, then id).
    pub async fn list_pending_approvals(
        &self,
        account: &AccountId,
        page: &PageRequest,
    ) -> Result<Page<Approval>, StoreError> {
        account_row(&self.conn(), account).await?;
        let cond = Condition::all()
            .add(membership::Column::AccountId.eq(account.as_str()))
            .add(membership::Column::Status.eq(MembershipStatus::PendingApproval.as_str()));
        let oldest_first =
            Keyset::time_then_id(membership::Column::CreatedAt, membership::Column::Id, Direction::Ascending);
        let page = oldest_first.page(&self.conn(), cond, page).await?;
        let found = &page.items;
        let memberships = load_details(&self.conn(), found).await?;
        let users: HashMap<String, user::Model> = user::Entity::find()
            .filter(user::Column::Id.is_in(found.iter().map(|m| m.user_id.clone())))
            .all(&self.conn())
            .await?
            .into_iter()
            .map(|u| (u.id.clone(), u))
            .collect();
        let invitations: HashMap<String, String> = invitation::Entity::find()
            .filter(invitation::Column::MembershipId.is_in(found.iter().map(|m| m.id.clone())))
            .all(&self.conn())
            .await?
            .into_iter()
            .filter_map(|i| i.membership_id.map(|m| (m, i.id)))
            .collect();
        let items = memberships
            .into_iter()
            .map(|m| {
                let u = users.get(m.user.as_str()).ok_or_else(|| StoreError::corrupt("memberships", "no user"))?;
                Ok(Approval {
                    invitation: invitations.get(m.id.as_str()).cloned().map(InvitationId::from_trusted),
                    user: rows::user(u)?,
                    membership: m,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(page.with_items(items))
    }

    /// Rejects a pending membership: it is deleted, the reason recorded on the audit event.
    pub async fn reject_membership(
        &self,
        id: &MembershipId,
        reason: &str,
        audit: &Audit,
    ) -> Result<(Membership, Revision), StoreError> {
        self.reject_membership_if_version(id, reason, None, audit).await
    }

    /// [`Store::reject_membership`], refused with `STALE_VERSION` when `expected_version` is given
    /// and the membership read inside the write has another [`Membership::version`].
    pub async fn reject_membership_if_version(
        &self,
        id: &MembershipId,
        reason: &str,
        expected_version: Option<&str>,
        audit: &Audit,
    ) -> Result<(Membership, Revision), StoreError> {
        let (txn, revision) = self.begin_claimed(audit).await?;
        let row = crate::memberships::membership_row(&txn, id).await?;
        if row.status != MembershipStatus::PendingApproval.as_str() {
            return Err(StoreError::Precondition {
                kind: "MEMBERSHIP_NOT_PENDING",
                subject: format!("memberships/{id}"),
                description: format!("membership {id} is not waiting for approval"),
            });
        }
        let m = load_details(&txn, std::slice::from_ref(&row))
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| StoreError::corrupt("memberships", "vanished"))?;
        crate::memberships::check_version(&m, expected_version)?;
        crate::memberships::delete_rows(&txn, id).await?;
        let snapshot = MembershipSnapshot::from(&m);
        Write { store: self, conn: &txn, revision, audit }
            .event(
                &row.account_id,
                "membership.rejected",
                id.as_str(),
                Some(&snapshot),
                Some(&Rejection { rejected: &snapshot, reason }),
            )
            .await?;
        txn.commit().await?;
        Ok((m, revision))
    }
}
