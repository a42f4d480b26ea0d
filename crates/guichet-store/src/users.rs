//! Users: one per normalised email.

use guichet_domain::{AccountId, Email, NewUser, Phone, Revision, User, UserId, UserStatus};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};

use crate::entities::{membership, user};
use crate::events::{self, Audit};
use crate::memberships::AdminGuard;
use crate::rows;
use crate::{Store, StoreError, new_id};

/// Changes to a user's profile; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserChanges {
    /// New given name.
    pub given_name: Option<String>,
    /// New family name.
    pub family_name: Option<String>,
    /// New phone.
    pub phone: Option<Phone>,
    /// New identity-provider subject.
    pub idp_subject: Option<String>,
}

pub(crate) async fn user_row(conn: &impl ConnectionTrait, id: &UserId) -> Result<user::Model, StoreError> {
    user::Entity::find_by_id(id.as_str().to_owned())
        .one(conn)
        .await?
        .ok_or_else(|| StoreError::not_found("user", id.as_str()))
}

async fn user_account_ids(conn: &impl ConnectionTrait, id: &UserId) -> Result<Vec<AccountId>, StoreError> {
    Ok(membership::Entity::find()
        .filter(membership::Column::UserId.eq(id.as_str()))
        .all(conn)
        .await?
        .into_iter()
        .map(|m| AccountId::from_trusted(m.account_id))
        .collect())
}

impl Store {
    /// Creates a user; the email must not be taken.
    pub async fn create_user(&self, cmd: &NewUser, audit: &Audit) -> Result<(User, Revision), StoreError> {
        let (txn, revision) = self.begin_write().await?;
        crate::idempotency::claim(&txn, revision, audit).await?;
        let id = cmd.id.as_ref().map_or_else(|| new_id("usr"), |i| i.as_str().to_owned());
        if user::Entity::find().filter(user::Column::Email.eq(cmd.email.as_str())).one(&txn).await?.is_some() {
            return Err(StoreError::AlreadyExists { entity: "user with email", id: cmd.email.as_str().to_owned() });
        }
        let row = user::ActiveModel {
            id: Set(id.clone()),
            email: Set(cmd.email.as_str().to_owned()),
            given_name: Set(cmd.given_name.clone()),
            family_name: Set(cmd.family_name.clone()),
            phone: Set(cmd.phone.as_ref().map(|p| p.as_str().to_owned())),
            idp_subject: Set(cmd.idp_subject.clone()),
            status: Set(UserStatus::Active.as_str().to_owned()),
            created_at: Set(audit.now.as_millis()),
            updated_at: Set(audit.now.as_millis()),
        }
        .insert(&txn)
        .await
        .map_err(|e| StoreError::from_db(e, "user", &id))?;
        events::record(self, &txn, revision, audit, None, "user.created", &row.id, None::<&()>, Some(&row)).await?;
        txn.commit().await?;
        Ok((rows::user(&row)?, revision))
    }

    /// One user.
    pub async fn get_user(&self, id: &UserId) -> Result<User, StoreError> {
        rows::user(&user_row(&self.db, id).await?)
    }

    /// The user with this (normalised) email.
    pub async fn find_user_by_email(&self, email: &Email) -> Result<User, StoreError> {
        let row = user::Entity::find()
            .filter(user::Column::Email.eq(email.as_str()))
            .one(&self.db)
            .await?
            .ok_or_else(|| StoreError::not_found("user with email", email.as_str()))?;
        rows::user(&row)
    }

    /// Changes a user's profile.
    pub async fn update_user(
        &self,
        id: &UserId,
        changes: &UserChanges,
        audit: &Audit,
    ) -> Result<(User, Revision), StoreError> {
        self.change_user(id, audit, |u| {
            if let Some(v) = &changes.given_name {
                u.given_name = Set(v.clone());
            }
            if let Some(v) = &changes.family_name {
                u.family_name = Set(v.clone());
            }
            if let Some(v) = &changes.phone {
                u.phone = Set(Some(v.as_str().to_owned()));
            }
            if let Some(v) = &changes.idp_subject {
                u.idp_subject = Set(Some(v.clone()));
            }
        })
        .await
    }

    /// Suspends or reactivates a user everywhere. Suspending the last active administrator of any
    /// account is refused (`LAST_ADMINISTRATOR`), inside the write.
    pub async fn set_user_status(
        &self,
        id: &UserId,
        status: UserStatus,
        audit: &Audit,
    ) -> Result<(User, Revision), StoreError> {
        let (txn, revision) = self.begin_write().await?;
        crate::idempotency::claim(&txn, revision, audit).await?;
        let row = user_row(&txn, id).await?;
        if row.status == status.as_str() {
            return Err(StoreError::Precondition {
                kind: match status {
                    UserStatus::Suspended => "ALREADY_SUSPENDED",
                    UserStatus::Active => "NOT_SUSPENDED",
                },
                subject: format!("users/{id}"),
                description: format!("user {id} is already {status}"),
            });
        }
        let accounts = user_account_ids(&txn, id).await?;
        let mut guards = Vec::with_capacity(accounts.len());
        for account in &accounts {
            guards.push(AdminGuard::before(&txn, &self.catalog, account).await?);
        }
        let before = row.clone();
        let mut active: user::ActiveModel = row.into();
        active.status = Set(status.as_str().to_owned());
        active.updated_at = Set(audit.now.as_millis());
        let row = active.update(&txn).await?;
        let kind = match status {
            UserStatus::Suspended => "user.suspended",
            UserStatus::Active => "user.reactivated",
        };
        events::record(self, &txn, revision, audit, None, kind, &row.id, Some(&before), Some(&row)).await?;
        for guard in guards {
            guard.after(&txn, &self.catalog).await?;
        }
        txn.commit().await?;
        Ok((rows::user(&row)?, revision))
    }

    /// The accounts where the user has a membership, whatever its status.
    pub async fn user_accounts(&self, id: &UserId) -> Result<Vec<AccountId>, StoreError> {
        user_account_ids(&self.db, id).await
    }

    async fn change_user(
        &self,
        id: &UserId,
        audit: &Audit,
        change: impl Fn(&mut user::ActiveModel),
    ) -> Result<(User, Revision), StoreError> {
        let (txn, revision) = self.begin_write().await?;
        crate::idempotency::claim(&txn, revision, audit).await?;
        let before = user_row(&txn, id).await?;
        let mut active: user::ActiveModel = before.clone().into();
        change(&mut active);
        active.updated_at = Set(audit.now.as_millis());
        let row = active.update(&txn).await?;
        events::record(self, &txn, revision, audit, None, "user.updated", &row.id, Some(&before), Some(&row)).await?;
        txn.commit().await?;
        Ok((rows::user(&row)?, revision))
    }
}
