//! Invitations (seed 002); the approvals of the memberships they yield are `approvals.rs`.
//!
//! The lifecycle rules are the domain's ([`guichet_domain::Invitation`]); this module loads the
//! row, asks the domain, and writes the result with its audit event, one transaction per write.
//! Tokens are stored only as hashes (the server hashes them): `invitations.token_hash` is the
//! current one, `invitation_tokens` keeps every hash ever issued so that a token replaced by a
//! resend is refused as superseded, not as unknown.
//!
//! **Accepting** is one write transaction: find the invitation by token hash, check the lifecycle
//! at `audit.now`, link the user with the invitation's email or create it, create the membership
//! (`pending_approval` when the account requires approval; `created_by` is the inviter, who is
//! therefore the requester the four-eyes rule excludes), mark the invitation accepted. Writes are
//! serialised (see the crate docs), so of two concurrent accepts of one token the second sees the
//! first's result and is refused with `INVITATION_ALREADY_ACCEPTED`: one membership, never two.
//!
//! **Why one file** (near 700 lines): it is one lifecycle — create, resend, revoke, accept — over
//! the invitation rows and token hashes all four read and write; accepting alone is one
//! transaction of some 190 lines (user, membership, invitation, one audit event) that is read
//! whole, next to the rows it writes.

use std::collections::BTreeSet;

use guichet_domain::{
    AccountId, AccountKind, AccountSettings, AccountStatus, Email, Invitation, InvitationId, InvitationRefusal,
    InvitationStatus, Level, Membership, MembershipId, MembershipStatus, NewInvitation, Phone, ResourceId, Restriction,
    Revision, RoleName, Timestamp, TokenMatch, User, UserId, UserStatus, apply_email_policy,
};
use sea_orm::{ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, Set};

use crate::entities::{invitation, invitation_token, membership, membership_resource, membership_role, resource, user};
use crate::events::{self, Audit, Write};
use crate::memberships::{MembershipSnapshot, check_resources, load_details};
use crate::paging::{Direction, Keyset};
use crate::roles::{account_row, check_names};
use crate::rows;
use crate::users::{ensure_subject_free, user_write_error};
use crate::{Page, PageRequest, Store, StoreError, found, new_id};

/// Filters of [`Store::list_invitations`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvitationFilter {
    /// The account.
    pub account: AccountId,
    /// Only invitations in this status, as observed now (expired: pending past its expiry).
    pub status: Option<InvitationStatus>,
    /// Only invitations for this email.
    pub email: Option<Email>,
}

/// The profile given when accepting an invitation: that of the user created, or of an existing
/// user not yet claimed (whose profile it replaces whole). Ignored for a claimed user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AcceptProfile {
    /// Given name.
    pub given_name: String,
    /// Family name.
    pub family_name: String,
    /// Phone.
    pub phone: Option<Phone>,
    /// Identity-provider subject.
    pub idp_subject: Option<String>,
}

/// What accepting an invitation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The member (existing or created).
    pub user: User,
    /// Whether the user was created by the accept.
    pub user_created: bool,
    /// The membership created.
    pub membership: Membership,
    /// The invitation, now accepted.
    pub invitation: Invitation,
}

/// An invitation created, with the email policy's flag when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedInvitation {
    /// The invitation.
    pub invitation: Invitation,
    /// Why the email was flagged by the account's policy, when it was.
    pub email_flag: Option<String>,
}

fn refusal(id: &str, r: InvitationRefusal) -> StoreError {
    StoreError::Precondition {
        kind: r.kind(),
        subject: format!("invitations/{id}"),
        description: format!("invitation {id}: {r}"),
    }
}

fn suspended_account(account: &str) -> StoreError {
    StoreError::Precondition {
        kind: "ACCOUNT_SUSPENDED",
        subject: format!("accounts/{account}"),
        description: format!("account {account} is suspended: reactivate it first"),
    }
}

/// The resources of `restriction` whose cap is `cap`.
fn capped(restriction: Option<&Restriction>, cap: Level) -> impl Iterator<Item = &str> {
    restriction.into_iter().flat_map(Restriction::iter).filter(move |(_, c)| *c == cap).map(|(r, _)| r.as_str())
}

fn json_list<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    serde_json::to_string(&items.into_iter().collect::<Vec<_>>()).unwrap_or_else(|_| "[]".to_owned())
}

fn to_invitation(row: &invitation::Model) -> Result<Invitation, StoreError> {
    let roles: Vec<String> = serde_json::from_str(&row.roles).map_err(|e| StoreError::corrupt("invitations", e))?;
    let resources: Vec<String> =
        serde_json::from_str(&row.resource_ids).map_err(|e| StoreError::corrupt("invitations", e))?;
    let view_only: Vec<String> =
        serde_json::from_str(&row.view_resource_ids).map_err(|e| StoreError::corrupt("invitations", e))?;
    Ok(Invitation {
        id: InvitationId::from_trusted(row.id.clone()),
        account: AccountId::from_trusted(row.account_id.clone()),
        email: Email::parse(&row.email).map_err(|e| StoreError::corrupt("invitations", e))?,
        roles: roles.into_iter().map(RoleName::from_trusted).collect(),
        restriction: row.restricted.then(|| {
            let full = resources.into_iter().map(|r| (ResourceId::from_trusted(r), Level::Full));
            full.chain(view_only.into_iter().map(|r| (ResourceId::from_trusted(r), Level::View))).collect()
        }),
        status: InvitationStatus::parse(&row.status).map_err(|e| StoreError::corrupt("invitations", e))?,
        invited_by: row.invited_by.clone().map(UserId::from_trusted),
        created_at: Timestamp::from_millis(row.created_at),
        expires_at: Timestamp::from_millis(row.expires_at),
        updated_at: Timestamp::from_millis(row.updated_at),
        resend_count: u32::try_from(row.resend_count).unwrap_or(0),
        accepted_user: row.accepted_user_id.clone().map(UserId::from_trusted),
        membership: row.membership_id.clone().map(MembershipId::from_trusted),
        revoked_by: row.revoked_by.clone().map(UserId::from_trusted),
        revocation_reason: row.revocation_reason.clone(),
    })
}

/// Writes the lifecycle fields of `inv` (and a new token hash, when given) on its row.
async fn save(
    conn: &impl ConnectionTrait,
    row: invitation::Model,
    inv: &Invitation,
    token_hash: Option<&str>,
) -> Result<invitation::Model, StoreError> {
    let mut active: invitation::ActiveModel = row.into();
    active.status = Set(inv.status.as_str().to_owned());
    active.invited_by = Set(inv.invited_by.as_ref().map(|u| u.as_str().to_owned()));
    active.expires_at = Set(inv.expires_at.as_millis());
    active.updated_at = Set(inv.updated_at.as_millis());
    active.resend_count = Set(i32::try_from(inv.resend_count).unwrap_or(i32::MAX));
    active.accepted_user_id = Set(inv.accepted_user.as_ref().map(|u| u.as_str().to_owned()));
    active.membership_id = Set(inv.membership.as_ref().map(|m| m.as_str().to_owned()));
    active.revoked_by = Set(inv.revoked_by.as_ref().map(|u| u.as_str().to_owned()));
    active.revocation_reason = Set(inv.revocation_reason.clone());
    if let Some(hash) = token_hash {
        active.token_hash = Set(hash.to_owned());
    }
    Ok(active.update(conn).await?)
}

async fn insert_token(
    conn: &impl ConnectionTrait,
    hash: &str,
    invitation_id: &str,
    now: Timestamp,
) -> Result<(), StoreError> {
    invitation_token::ActiveModel {
        token_hash: Set(hash.to_owned()),
        invitation_id: Set(invitation_id.to_owned()),
        created_at: Set(now.as_millis()),
    }
    .insert(conn)
    .await
    .map_err(|e| StoreError::from_db(e, "invitation token", "(token)"))?;
    Ok(())
}

async fn invitation_row(conn: &impl ConnectionTrait, id: &InvitationId) -> Result<invitation::Model, StoreError> {
    found::<invitation::Entity>(conn, id.as_str().to_owned(), "invitation", id.as_str()).await
}

/// What accepting an invitation did, as its one audit event records it.
#[derive(Debug, serde::Serialize)]
struct Acceptance<'a> {
    invitation: &'a invitation::Model,
    user_created: bool,
    /// The user row before the acceptance claimed it, when it existed unclaimed.
    #[serde(skip_serializing_if = "Option::is_none")]
    user_before: Option<&'a user::Model>,
    user: &'a user::Model,
    membership: &'a MembershipSnapshot,
}

impl Store {
    /// Creates an invitation whose current token has hash `token_hash`, expiring after the
    /// account's `invitation_ttl_days`. The account's email policy applies.
    pub async fn create_invitation(
        &self,
        cmd: &NewInvitation,
        token_hash: &str,
        audit: &Audit,
    ) -> Result<(CreatedInvitation, Revision), StoreError> {
        let (txn, revision) = self.begin_claimed(audit).await?;
        let acc = account_row(&txn, &cmd.account).await?;
        if rows::account_status(&acc.status)? == AccountStatus::Suspended {
            return Err(suspended_account(&acc.id));
        }
        let settings: AccountSettings =
            serde_json::from_str(&acc.settings).map_err(|e| StoreError::corrupt("accounts", e))?;
        let email_flag =
            apply_email_policy(&settings.email_policy, &cmd.email).map_err(|r| StoreError::Precondition {
                kind: r.kind,
                subject: format!("accounts/{}", acc.id),
                description: format!("{}: {}", cmd.email, r.reason),
            })?;
        let kind = AccountKind::from_trusted(acc.kind.clone());
        check_names(&txn, &self.catalog, &cmd.account, &kind, &cmd.roles, "roles").await?;
        if let Some(set) = &cmd.restriction {
            check_resources(&txn, &cmd.account, set).await?;
        }
        if let Some(u) = user::Entity::find().filter(user::Column::Email.eq(cmd.email.as_str())).one(&txn).await?
            && membership::Entity::find()
                .filter(membership::Column::UserId.eq(u.id.as_str()))
                .filter(membership::Column::AccountId.eq(cmd.account.as_str()))
                .one(&txn)
                .await?
                .is_some()
        {
            return Err(StoreError::AlreadyExists {
                entity: "membership",
                id: format!("of {} (user {}) in account {}", cmd.email, u.id, cmd.account),
            });
        }
        let pending = invitation::Entity::find()
            .filter(invitation::Column::AccountId.eq(cmd.account.as_str()))
            .filter(invitation::Column::Email.eq(cmd.email.as_str()))
            .filter(invitation::Column::Status.eq(InvitationStatus::Pending.as_str()))
            .filter(invitation::Column::ExpiresAt.gt(audit.now.as_millis()))
            .one(&txn)
            .await?;
        if let Some(p) = pending {
            return Err(StoreError::AlreadyExists {
                entity: "pending invitation",
                id: format!("{} (for {} in account {}): resend it instead", p.id, cmd.email, cmd.account),
            });
        }
        let id = cmd.id.as_ref().map_or_else(|| new_id("inv"), |i| i.as_str().to_owned());
        let mut roles: Vec<&str> = cmd.roles.iter().map(RoleName::as_str).collect();
        roles.sort_unstable();
        roles.dedup();
        let row = invitation::ActiveModel {
            id: Set(id.clone()),
            account_id: Set(cmd.account.as_str().to_owned()),
            email: Set(cmd.email.as_str().to_owned()),
            roles: Set(json_list(roles)),
            restricted: Set(cmd.restriction.is_some()),
            resource_ids: Set(json_list(capped(cmd.restriction.as_ref(), Level::Full))),
            view_resource_ids: Set(json_list(capped(cmd.restriction.as_ref(), Level::View))),
            status: Set(InvitationStatus::Pending.as_str().to_owned()),
            token_hash: Set(token_hash.to_owned()),
            invited_by: Set(audit.actor.as_ref().map(|a| a.as_str().to_owned())),
            created_at: Set(audit.now.as_millis()),
            expires_at: Set(audit.now.plus_days(settings.invitation_ttl_days).as_millis()),
            updated_at: Set(audit.now.as_millis()),
            resend_count: Set(0),
            accepted_user_id: Set(None),
            membership_id: Set(None),
            revoked_by: Set(None),
            revocation_reason: Set(None),
        }
        .insert(&txn)
        .await
        .map_err(|e| StoreError::from_db(e, "invitation", &id))?;
        insert_token(&txn, token_hash, &id, audit.now).await?;
        Write { store: self, conn: &txn, revision, audit }
            .created(&row.account_id, "invitation.created", &id, &row)
            .await?;
        txn.commit().await?;
        Ok((CreatedInvitation { invitation: to_invitation(&row)?, email_flag }, revision))
    }

    /// One invitation, its status observed at `now`.
    pub async fn get_invitation(&self, id: &InvitationId, now: Timestamp) -> Result<Invitation, StoreError> {
        Ok(to_invitation(&invitation_row(&self.conn(), id).await?)?.observed(now))
    }

    /// Invitations of an account, newest first (by creation time, then id), statuses observed at
    /// `now`.
    pub async fn list_invitations(
        &self,
        filter: &InvitationFilter,
        now: Timestamp,
        page: &PageRequest,
    ) -> Result<Page<Invitation>, StoreError> {
        account_row(&self.conn(), &filter.account).await?;
        let mut cond = Condition::all().add(invitation::Column::AccountId.eq(filter.account.as_str()));
        if let Some(e) = &filter.email {
            cond = cond.add(invitation::Column::Email.eq(e.as_str()));
        }
        let pending = InvitationStatus::Pending.as_str();
        cond = match filter.status {
            None => cond,
            Some(InvitationStatus::Pending) => {
                cond.add(invitation::Column::Status.eq(pending)).add(invitation::Column::ExpiresAt.gt(now.as_millis()))
            }
            Some(InvitationStatus::Expired) => {
                cond.add(invitation::Column::Status.eq(pending)).add(invitation::Column::ExpiresAt.lte(now.as_millis()))
            }
            Some(s @ (InvitationStatus::Accepted | InvitationStatus::Revoked)) => {
                cond.add(invitation::Column::Status.eq(s.as_str()))
            }
        };
        let newest_first =
            Keyset::time_then_id(invitation::Column::CreatedAt, invitation::Column::Id, Direction::Descending);
        newest_first.page(&self.conn(), cond, page).await?.try_map(|row| Ok(to_invitation(&row)?.observed(now)))
    }

    /// Issues a new token (hash `token_hash`) and expiry; the previous token becomes superseded.
    pub async fn resend_invitation(
        &self,
        id: &InvitationId,
        token_hash: &str,
        audit: &Audit,
    ) -> Result<(Invitation, Revision), StoreError> {
        let (txn, revision) = self.begin_claimed(audit).await?;
        let row = invitation_row(&txn, id).await?;
        let acc = account_row(&txn, &AccountId::from_trusted(row.account_id.clone())).await?;
        let current = to_invitation(&row)?;
        let settings: AccountSettings =
            serde_json::from_str(&acc.settings).map_err(|e| StoreError::corrupt("accounts", e))?;
        // The requester is fixed at creation: whoever resends (recorded on the event), the
        // invitation keeps its inviter, whom the four-eyes rule keeps from approving it.
        let next = current
            .resend(audit.now, settings.invitation_ttl_days, current.invited_by.clone())
            .map_err(|r| refusal(&row.id, r))?;
        if rows::account_status(&acc.status)? == AccountStatus::Suspended {
            return Err(suspended_account(&acc.id));
        }
        let before = row.clone();
        let row = save(&txn, row, &next, Some(token_hash)).await?;
        insert_token(&txn, token_hash, &row.id, audit.now).await?;
        Write { store: self, conn: &txn, revision, audit }
            .event(&row.account_id, "invitation.resent", &row.id, Some(&before), Some(&row))
            .await?;
        txn.commit().await?;
        Ok((to_invitation(&row)?.observed(audit.now), revision))
    }

    /// Revokes a pending invitation.
    pub async fn revoke_invitation(
        &self,
        id: &InvitationId,
        reason: Option<&str>,
        audit: &Audit,
    ) -> Result<(Invitation, Revision), StoreError> {
        let (txn, revision) = self.begin_claimed(audit).await?;
        let row = invitation_row(&txn, id).await?;
        let next = to_invitation(&row)?
            .revoke(audit.now, audit.actor.clone(), reason.map(str::to_owned))
            .map_err(|r| refusal(&row.id, r))?;
        let before = row.clone();
        let row = save(&txn, row, &next, None).await?;
        Write { store: self, conn: &txn, revision, audit }
            .event(&row.account_id, "invitation.revoked", &row.id, Some(&before), Some(&row))
            .await?;
        txn.commit().await?;
        Ok((to_invitation(&row)?.observed(audit.now), revision))
    }

    /// Accepts the invitation whose token has hash `token_hash` (see the module docs).
    pub async fn accept_invitation(
        &self,
        token_hash: &str,
        profile: &AcceptProfile,
        audit: &Audit,
    ) -> Result<(Accepted, Revision), StoreError> {
        let (txn, revision) = self.begin_claimed(audit).await?;
        let token = found::<invitation_token::Entity>(
            &txn,
            token_hash.to_owned(),
            "invitation with token",
            "(the token given)",
        )
        .await?;
        let row = invitation_row(&txn, &InvitationId::from_trusted(token.invitation_id)).await?;
        let inv = to_invitation(&row)?;
        let matched = if row.token_hash == token_hash { TokenMatch::Current } else { TokenMatch::Superseded };
        inv.check_accept(audit.now, matched).map_err(|r| refusal(&row.id, r))?;
        let acc = account_row(&txn, &inv.account).await?;
        if rows::account_status(&acc.status)? == AccountStatus::Suspended {
            return Err(suspended_account(&acc.id));
        }
        let settings: AccountSettings =
            serde_json::from_str(&acc.settings).map_err(|e| StoreError::corrupt("accounts", e))?;

        // The user: the one with this email, or a new one. Accepting proves the email: the user is
        // claimed from now on. An unclaimed user (created by an administrator for someone else)
        // takes the profile given here, whole: what the accepter left empty is cleared, not
        // inherited from whoever created it.
        let existing = user::Entity::find().filter(user::Column::Email.eq(inv.email.as_str())).one(&txn).await?;
        let phone = profile.phone.as_ref().map(|p| p.as_str().to_owned());
        let (user_before, user_row, user_created) = match existing {
            Some(u) => {
                if u.status == UserStatus::Suspended.as_str() {
                    return Err(StoreError::Precondition {
                        kind: "USER_SUSPENDED",
                        subject: format!("invitations/{}", row.id),
                        description: format!("user {} ({}) is suspended", u.id, u.email),
                    });
                }
                if u.claimed_at.is_some() {
                    (None, u, false)
                } else {
                    ensure_subject_free(&txn, profile.idp_subject.as_deref(), Some(&u.id)).await?;
                    let before = u.clone();
                    let mut active: user::ActiveModel = u.into();
                    active.given_name = Set(profile.given_name.clone());
                    active.family_name = Set(profile.family_name.clone());
                    active.phone = Set(phone);
                    active.idp_subject = Set(profile.idp_subject.clone());
                    active.claimed_at = Set(Some(audit.now.as_millis()));
                    active.updated_at = Set(audit.now.as_millis());
                    let after = active
                        .update(&txn)
                        .await
                        .map_err(|e| user_write_error(e, &before.id, profile.idp_subject.as_deref()))?;
                    (Some(before), after, false)
                }
            }
            None => {
                ensure_subject_free(&txn, profile.idp_subject.as_deref(), None).await?;
                let uid = new_id("usr");
                let u = user::ActiveModel {
                    id: Set(uid.clone()),
                    email: Set(inv.email.as_str().to_owned()),
                    given_name: Set(profile.given_name.clone()),
                    family_name: Set(profile.family_name.clone()),
                    phone: Set(phone),
                    idp_subject: Set(profile.idp_subject.clone()),
                    status: Set(UserStatus::Active.as_str().to_owned()),
                    claimed_at: Set(Some(audit.now.as_millis())),
                    created_at: Set(audit.now.as_millis()),
                    updated_at: Set(audit.now.as_millis()),
                }
                .insert(&txn)
                .await
                .map_err(|e| user_write_error(e, &uid, profile.idp_subject.as_deref()))?;
                (None, u, true)
            }
        };
        if membership::Entity::find()
            .filter(membership::Column::UserId.eq(user_row.id.as_str()))
            .filter(membership::Column::AccountId.eq(inv.account.as_str()))
            .one(&txn)
            .await?
            .is_some()
        {
            return Err(StoreError::AlreadyExists {
                entity: "membership",
                id: format!("of user {} in account {}", user_row.id, inv.account),
            });
        }

        // The membership, requested by the inviter.
        let status =
            if settings.requires_approval { MembershipStatus::PendingApproval } else { MembershipStatus::Active };
        let mid = new_id("mem");
        let mrow = membership::ActiveModel {
            id: Set(mid.clone()),
            user_id: Set(user_row.id.clone()),
            account_id: Set(inv.account.as_str().to_owned()),
            status: Set(status.as_str().to_owned()),
            restricted: Set(inv.restriction.is_some()),
            created_by: Set(inv.invited_by.as_ref().map(|u| u.as_str().to_owned())),
            approved_by: Set(None),
            created_at: Set(audit.now.as_millis()),
            updated_at: Set(audit.now.as_millis()),
            expires_at: Set(None),
            expiry_recorded: Set(false),
        }
        .insert(&txn)
        .await
        .map_err(|e| StoreError::from_db(e, "membership", &mid))?;
        let role_rows: Vec<_> = inv
            .roles
            .iter()
            .enumerate()
            .map(|(i, r)| membership_role::ActiveModel {
                membership_id: Set(mid.clone()),
                role_name: Set(r.as_str().to_owned()),
                account_id: Set(inv.account.as_str().to_owned()),
                position: Set(i32::try_from(i).unwrap_or(i32::MAX)),
            })
            .collect();
        if !role_rows.is_empty() {
            membership_role::Entity::insert_many(role_rows).exec(&txn).await?;
        }
        if let Some(set) = inv.restriction.as_ref().filter(|s| !s.is_empty()) {
            // Resources deleted since the invitation was sent are left out.
            let alive: BTreeSet<String> = resource::Entity::find()
                .filter(resource::Column::Id.is_in(set.ids().map(|r| r.as_str().to_owned())))
                .filter(resource::Column::AccountId.eq(inv.account.as_str()))
                .all(&txn)
                .await?
                .into_iter()
                .map(|r| r.id)
                .collect();
            let models: Vec<_> = alive
                .into_iter()
                .map(|r| membership_resource::ActiveModel {
                    membership_id: Set(mid.clone()),
                    level: Set(set
                        .cap(&ResourceId::from_trusted(r.clone()))
                        .unwrap_or(Level::Full)
                        .as_str()
                        .to_owned()),
                    resource_id: Set(r),
                })
                .collect();
            if !models.is_empty() {
                membership_resource::Entity::insert_many(models).exec(&txn).await?;
            }
        }
        let m = load_details(&txn, std::slice::from_ref(&mrow))
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| StoreError::corrupt("memberships", "vanished"))?;
        // The invitation, accepted.
        let next = inv
            .accept(audit.now, matched, UserId::from_trusted(user_row.id.clone()), m.id.clone())
            .map_err(|r| refusal(&row.id, r))?;
        let before = row.clone();
        let row = save(&txn, row, &next, None).await?;
        // One event for the whole acceptance, made by the accepting user; it also touches the
        // user's own row (created, or claimed and given its profile).
        let by_accepter = Audit { actor: Some(UserId::from_trusted(user_row.id.clone())), ..audit.clone() };
        let snapshot = MembershipSnapshot::from(&m);
        let after = Acceptance {
            invitation: &row,
            user_created,
            user_before: user_before.as_ref(),
            user: &user_row,
            membership: &snapshot,
        };
        events::record_scoped(
            self,
            &txn,
            revision,
            &by_accepter,
            Some(&row.account_id),
            "invitation.accepted",
            &row.id,
            Some(&before),
            Some(&after),
            events::Also { scopes: &[crate::changes::user_scope(&user_row.id)], root: None, writes: &[] },
        )
        .await?;
        txn.commit().await?;
        let accepted =
            Accepted { user: rows::user(&user_row)?, user_created, membership: m, invitation: to_invitation(&row)? };
        Ok((accepted, revision))
    }
}
