//! Users: one per normalised email.

use guichet_domain::{AccountId, Email, NewUser, Phone, Revision, User, UserId, UserStatus, check_suspension_change};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};

use crate::administrators::AdminGuard;
use crate::entities::{membership, user};
use crate::events::{self, Audit};
use crate::rows;
use crate::{Store, StoreError, found, new_id};

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

/// Refuses a subject another user already has (`AlreadyExists`, entity `user with idp_subject`),
/// inside the write; `except` is the user being changed.
pub(crate) async fn ensure_subject_free(
    conn: &impl ConnectionTrait,
    subject: Option<&str>,
    except: Option<&str>,
) -> Result<(), StoreError> {
    let Some(subject) = subject else { return Ok(()) };
    let mut query = user::Entity::find().filter(user::Column::IdpSubject.eq(subject));
    if let Some(id) = except {
        query = query.filter(user::Column::Id.ne(id));
    }
    if query.one(conn).await?.is_some() {
        return Err(subject_taken(subject));
    }
    Ok(())
}

fn subject_taken(subject: &str) -> StoreError {
    StoreError::AlreadyExists { entity: "user with idp_subject", id: subject.to_owned() }
}

/// Maps an error writing a user row: the unique index on `idp_subject` (the last guard, behind
/// [`ensure_subject_free`]) is reported as that subject being taken.
pub(crate) fn user_write_error(err: sea_orm::DbErr, id: &str, subject: Option<&str>) -> StoreError {
    if let (Some(subject), Some(sea_orm::SqlErr::UniqueConstraintViolation(detail))) = (subject, err.sql_err())
        && detail.contains("idp_subject")
    {
        return subject_taken(subject);
    }
    StoreError::from_db(err, "user", id)
}

pub(crate) async fn user_row(conn: &impl ConnectionTrait, id: &UserId) -> Result<user::Model, StoreError> {
    found::<user::Entity>(conn, id.as_str().to_owned(), "user", id.as_str()).await
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
    /// Creates a user; the email and the identity-provider subject must not be taken.
    ///
    /// A user created on the calling service's own authority (`audit.actor` is `None`: a
    /// back-office import, trusted) is claimed at once; one created by an actor for someone else
    /// stays unclaimed until its owner proves the email by accepting an invitation.
    pub async fn create_user(&self, cmd: &NewUser, audit: &Audit) -> Result<(User, Revision), StoreError> {
        let (txn, revision) = self.begin_claimed(audit).await?;
        let id = cmd.id.as_ref().map_or_else(|| new_id("usr"), |i| i.as_str().to_owned());
        if user::Entity::find().filter(user::Column::Email.eq(cmd.email.as_str())).one(&txn).await?.is_some() {
            return Err(StoreError::AlreadyExists { entity: "user with email", id: cmd.email.as_str().to_owned() });
        }
        ensure_subject_free(&txn, cmd.idp_subject.as_deref(), None).await?;
        let row = user::ActiveModel {
            id: Set(id.clone()),
            email: Set(cmd.email.as_str().to_owned()),
            given_name: Set(cmd.given_name.clone()),
            family_name: Set(cmd.family_name.clone()),
            phone: Set(cmd.phone.as_ref().map(|p| p.as_str().to_owned())),
            idp_subject: Set(cmd.idp_subject.clone()),
            status: Set(UserStatus::Active.as_str().to_owned()),
            claimed_at: Set(audit.actor.is_none().then_some(audit.now.as_millis())),
            created_at: Set(audit.now.as_millis()),
            updated_at: Set(audit.now.as_millis()),
        }
        .insert(&txn)
        .await
        .map_err(|e| user_write_error(e, &id, cmd.idp_subject.as_deref()))?;
        events::record(self, &txn, revision, audit, None, "user.created", &row.id, None::<&()>, Some(&row)).await?;
        txn.commit().await?;
        Ok((rows::user(&row)?, revision))
    }

    /// One user.
    pub async fn get_user(&self, id: &UserId) -> Result<User, StoreError> {
        rows::user(&user_row(&self.conn(), id).await?)
    }

    /// The user with this (normalised) email.
    pub async fn find_user_by_email(&self, email: &Email) -> Result<User, StoreError> {
        let row = user::Entity::find()
            .filter(user::Column::Email.eq(email.as_str()))
            .one(&self.conn())
            .await?
            .ok_or_else(|| StoreError::not_found("user with email", email.as_str()))?;
        rows::user(&row)
    }

    /// Changes a user's profile; a new identity-provider subject must not be another user's.
    pub async fn update_user(
        &self,
        id: &UserId,
        changes: &UserChanges,
        audit: &Audit,
    ) -> Result<(User, Revision), StoreError> {
        self.change_user(id, audit, changes.idp_subject.as_deref(), |u| {
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
        let (txn, revision) = self.begin_claimed(audit).await?;
        let row = user_row(&txn, id).await?;
        let suspend = status == UserStatus::Suspended;
        check_suspension_change("user", id.as_str(), row.status != UserStatus::Active.as_str(), suspend)
            .map_err(|p| StoreError::precondition(p, format!("users/{id}")))?;
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
        user_account_ids(&self.conn(), id).await
    }

    /// One read-modify-write of a user row, inside the write; `subject` is the new
    /// identity-provider subject, when it changes.
    async fn change_user(
        &self,
        id: &UserId,
        audit: &Audit,
        subject: Option<&str>,
        change: impl Fn(&mut user::ActiveModel),
    ) -> Result<(User, Revision), StoreError> {
        let (txn, revision) = self.begin_claimed(audit).await?;
        let before = user_row(&txn, id).await?;
        ensure_subject_free(&txn, subject, Some(id.as_str())).await?;
        let mut active: user::ActiveModel = before.clone().into();
        change(&mut active);
        active.updated_at = Set(audit.now.as_millis());
        let row = active.update(&txn).await.map_err(|e| user_write_error(e, id.as_str(), subject))?;
        events::record(self, &txn, revision, audit, None, "user.updated", &row.id, Some(&before), Some(&row)).await?;
        txn.commit().await?;
        Ok((rows::user(&row)?, revision))
    }
}
