//! Users: one per normalised email.

use guichet_domain::{Email, NewUser, Phone, Revision, Timestamp, User, UserId, UserStatus};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};

use crate::entities::user;
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

impl Store {
    /// Creates a user; the email must not be taken.
    pub async fn create_user(&self, cmd: &NewUser, now: Timestamp) -> Result<(User, Revision), StoreError> {
        let (txn, revision) = self.begin_write().await?;
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
            created_at: Set(now.as_millis()),
            updated_at: Set(now.as_millis()),
        }
        .insert(&txn)
        .await
        .map_err(|e| StoreError::from_db(e, "user", &id))?;
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
        now: Timestamp,
    ) -> Result<(User, Revision), StoreError> {
        self.change_user(id, now, |u| {
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

    /// Suspends or reactivates a user everywhere.
    pub async fn set_user_status(
        &self,
        id: &UserId,
        status: UserStatus,
        now: Timestamp,
    ) -> Result<(User, Revision), StoreError> {
        self.change_user(id, now, |u| u.status = Set(status.as_str().to_owned())).await
    }

    async fn change_user(
        &self,
        id: &UserId,
        now: Timestamp,
        change: impl Fn(&mut user::ActiveModel),
    ) -> Result<(User, Revision), StoreError> {
        let (txn, revision) = self.begin_write().await?;
        let mut active: user::ActiveModel = user_row(&txn, id).await?.into();
        change(&mut active);
        active.updated_at = Set(now.as_millis());
        let row = active.update(&txn).await?;
        txn.commit().await?;
        Ok((rows::user(&row)?, revision))
    }
}
