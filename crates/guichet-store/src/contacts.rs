//! Contacts of an account and its communication orders (seeds 002 and 004).
//!
//! An order is one row per (account, communication type) holding the contact ids as a JSON list.
//! Every write checks, inside its transaction, that each ordered id is a contact of that very
//! account; deleting a contact rewrites the orders that named it in the same transaction, so an
//! order never names a contact that is gone.

use std::collections::BTreeSet;

use guichet_domain::{
    AccountId, AccountStatus, CommunicationOrder, CommunicationType, Contact, ContactDetails, ContactId,
    ContactPermission, ContactSubscription, ContactUpdate, Email, NewCommunicationOrder, NewContact, Phone, Revision,
    Timestamp, UserId,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect,
    Set,
};

use crate::entities::{communication_order, contact, membership};
use crate::events::{Audit, Write};
use crate::paging::Keyset;
use crate::roles::account_row;
use crate::{Page, PageRequest, Store, StoreError, found, new_id};

fn corrupt(e: impl ToString) -> StoreError {
    StoreError::corrupt("contacts", e)
}

fn list_to_json<T: Copy>(values: &BTreeSet<T>, text: impl Fn(T) -> &'static str) -> String {
    let list: Vec<&str> = values.iter().map(|v| text(*v)).collect();
    serde_json::to_string(&list).unwrap_or_else(|_| "[]".to_owned())
}

fn list_from_json<T: Ord>(
    s: &str,
    parse: impl Fn(&str) -> Result<T, guichet_domain::ParseError>,
) -> Result<BTreeSet<T>, StoreError> {
    let list: Vec<String> = serde_json::from_str(s).map_err(corrupt)?;
    list.iter().map(|v| parse(v).map_err(corrupt)).collect()
}

fn to_contact(row: &contact::Model) -> Result<Contact, StoreError> {
    Ok(Contact {
        id: ContactId::from_trusted(row.id.clone()),
        account: AccountId::from_trusted(row.account_id.clone()),
        details: ContactDetails {
            given_name: row.given_name.clone(),
            family_name: row.family_name.clone(),
            email: row.email.as_deref().map(Email::parse).transpose().map_err(corrupt)?,
            phone: row.phone.as_deref().map(Phone::parse).transpose().map_err(corrupt)?,
            title: row.title.clone(),
            subscriptions: list_from_json(&row.subscriptions, ContactSubscription::parse)?,
            permissions: list_from_json(&row.permissions, ContactPermission::parse)?,
            user: row.user_id.clone().map(UserId::from_trusted),
        },
        created_at: Timestamp::from_millis(row.created_at),
        updated_at: Timestamp::from_millis(row.updated_at),
    })
}

fn ids_to_json(ids: &[ContactId]) -> String {
    let list: Vec<&str> = ids.iter().map(ContactId::as_str).collect();
    serde_json::to_string(&list).unwrap_or_else(|_| "[]".to_owned())
}

fn ids_from_json(s: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::corrupt("communication_orders", e))
}

fn to_order(
    account: &AccountId,
    kind: CommunicationType,
    row: Option<&communication_order::Model>,
) -> Result<CommunicationOrder, StoreError> {
    let Some(row) = row else {
        return Ok(CommunicationOrder { account: account.clone(), kind, contacts: Vec::new(), updated_at: None });
    };
    Ok(CommunicationOrder {
        account: account.clone(),
        kind,
        contacts: ids_from_json(&row.contact_ids)?.into_iter().map(ContactId::from_trusted).collect(),
        updated_at: Some(Timestamp::from_millis(row.updated_at)),
    })
}

/// The sort key of a contact in a list, as the page token carries it.
fn order_key(account: &AccountId, kind: CommunicationType) -> (String, String) {
    (account.as_str().to_owned(), kind.as_str().to_owned())
}

/// A contact can be written in `account` only while it is active.
fn ensure_active(account: &crate::entities::account::Model) -> Result<(), StoreError> {
    if crate::rows::account_status(&account.status)? == AccountStatus::Suspended {
        return Err(StoreError::Precondition {
            kind: "ACCOUNT_SUSPENDED",
            subject: format!("accounts/{}", account.id),
            description: format!("account {} is suspended: reactivate it before changing its contacts", account.id),
        });
    }
    Ok(())
}

/// The linked user must exist and be a member of the contact's account.
async fn check_linked_user(
    conn: &impl ConnectionTrait,
    account: &AccountId,
    details: &ContactDetails,
) -> Result<(), StoreError> {
    let Some(u) = &details.user else { return Ok(()) };
    // An unknown user and a user of another account get the same answer, so that user ids cannot
    // be probed through a contact.
    let member = membership::Entity::find()
        .filter(membership::Column::UserId.eq(u.as_str()))
        .filter(membership::Column::AccountId.eq(account.as_str()))
        .count(conn)
        .await?;
    if member == 0 {
        return Err(StoreError::Precondition {
            kind: "USER_NOT_MEMBER",
            subject: format!("users/{u}"),
            description: format!(
                "user {u} is not a member of account {account}: add the membership first, or leave user_id empty"
            ),
        });
    }
    Ok(())
}

fn write_details(row: &mut contact::ActiveModel, d: &ContactDetails) {
    row.given_name = Set(d.given_name.clone());
    row.family_name = Set(d.family_name.clone());
    row.email = Set(d.email.as_ref().map(|e| e.as_str().to_owned()));
    row.phone = Set(d.phone.as_ref().map(|p| p.as_str().to_owned()));
    row.title = Set(d.title.clone());
    row.subscriptions = Set(list_to_json(&d.subscriptions, ContactSubscription::as_str));
    row.permissions = Set(list_to_json(&d.permissions, ContactPermission::as_str));
    row.user_id = Set(d.user.as_ref().map(|u| u.as_str().to_owned()));
}

async fn contact_row(conn: &impl ConnectionTrait, id: &ContactId) -> Result<contact::Model, StoreError> {
    found::<contact::Entity>(conn, id.as_str().to_owned(), "contact", id.as_str()).await
}

impl Store {
    /// Adds a contact to an account.
    pub async fn create_contact(&self, cmd: &NewContact, audit: &Audit) -> Result<(Contact, Revision), StoreError> {
        cmd.details.validate().map_err(StoreError::Invalid)?;
        let (txn, revision) = self.begin_write().await?;
        let account = account_row(&txn, &cmd.account).await?;
        ensure_active(&account)?;
        check_linked_user(&txn, &cmd.account, &cmd.details).await?;
        let id = cmd.id.as_ref().map_or_else(|| new_id("con"), |i| i.as_str().to_owned());
        let mut row = contact::ActiveModel {
            id: Set(id.clone()),
            account_id: Set(cmd.account.as_str().to_owned()),
            created_at: Set(audit.now.as_millis()),
            updated_at: Set(audit.now.as_millis()),
            ..Default::default()
        };
        write_details(&mut row, &cmd.details);
        let row = row.insert(&txn).await.map_err(|e| StoreError::from_db(e, "contact", &id))?;
        Write { store: self, conn: &txn, revision, audit }
            .created(&row.account_id, "contact.created", &row.id, &row)
            .await?;
        txn.commit().await?;
        Ok((to_contact(&row)?, revision))
    }

    /// One contact.
    pub async fn get_contact(&self, id: &ContactId) -> Result<Contact, StoreError> {
        to_contact(&contact_row(&self.conn(), id).await?)
    }

    /// The contacts of an account, by family name, given name, then id; only those subscribed to
    /// `subscription` when given.
    pub async fn list_contacts(
        &self,
        account: &AccountId,
        subscription: Option<ContactSubscription>,
        page: &PageRequest,
    ) -> Result<Page<Contact>, StoreError> {
        account_row(&self.conn(), account).await?;
        let mut cond = Condition::all().add(contact::Column::AccountId.eq(account.as_str()));
        if let Some(s) = subscription {
            // The list is JSON text of snake-case names: a quoted name matches exactly one entry
            // (its `_` escaped, so that it matches only itself).
            let pattern = format!("%\"{}\"%", crate::accounts::escape_like(s.as_str()));
            cond =
                cond.add(contact::Column::Subscriptions.like(sea_orm::sea_query::LikeExpr::new(pattern).escape('\\')));
        }
        let by_name = Keyset::texts(vec![contact::Column::FamilyName, contact::Column::GivenName, contact::Column::Id]);
        by_name.page(&self.conn(), cond, page).await?.try_map(|row| to_contact(&row))
    }

    /// Replaces every editable field of a contact.
    pub async fn update_contact(&self, cmd: &ContactUpdate, audit: &Audit) -> Result<(Contact, Revision), StoreError> {
        cmd.details.validate().map_err(StoreError::Invalid)?;
        let (txn, revision) = self.begin_write().await?;
        let before = contact_row(&txn, &cmd.id).await?;
        let account_id = AccountId::from_trusted(before.account_id.clone());
        ensure_active(&account_row(&txn, &account_id).await?)?;
        check_linked_user(&txn, &account_id, &cmd.details).await?;
        let mut row: contact::ActiveModel = before.clone().into();
        write_details(&mut row, &cmd.details);
        row.updated_at = Set(audit.now.as_millis());
        let after = row.update(&txn).await?;
        Write { store: self, conn: &txn, revision, audit }
            .event(&after.account_id, "contact.updated", &after.id, Some(&before), Some(&after))
            .await?;
        txn.commit().await?;
        Ok((to_contact(&after)?, revision))
    }

    /// Deletes a contact and removes it from every communication order of its account, in one
    /// transaction.
    pub async fn delete_contact(&self, id: &ContactId, audit: &Audit) -> Result<Revision, StoreError> {
        let (txn, revision) = self.begin_write().await?;
        let before = contact_row(&txn, id).await?;
        let orders = communication_order::Entity::find()
            .filter(communication_order::Column::AccountId.eq(before.account_id.as_str()))
            .all(&txn)
            .await?;
        for order in orders {
            let ids = ids_from_json(&order.contact_ids)?;
            if !ids.iter().any(|c| c == id.as_str()) {
                continue;
            }
            let kept: Vec<ContactId> =
                ids.into_iter().filter(|c| c != id.as_str()).map(ContactId::from_trusted).collect();
            let mut row: communication_order::ActiveModel = order.into();
            row.contact_ids = Set(ids_to_json(&kept));
            row.updated_at = Set(audit.now.as_millis());
            row.update(&txn).await?;
        }
        contact::Entity::delete_by_id(id.as_str().to_owned()).exec(&txn).await?;
        self.commit_deletion((txn, revision), audit, &before.account_id, "contact.deleted", &before.id, &before).await
    }

    /// The ordered contacts of one communication type (empty when never set), with the contacts.
    pub async fn get_communication_order(
        &self,
        account: &AccountId,
        kind: CommunicationType,
    ) -> Result<(CommunicationOrder, Vec<Contact>), StoreError> {
        let txn = self.begin_read().await?;
        account_row(&txn, account).await?;
        let row = communication_order::Entity::find_by_id(order_key(account, kind)).one(&txn).await?;
        let order = to_order(account, kind, row.as_ref())?;
        let rows = contact::Entity::find()
            .filter(contact::Column::AccountId.eq(account.as_str()))
            .filter(contact::Column::Id.is_in(order.contacts.iter().map(|c| c.as_str().to_owned())))
            .all(&txn)
            .await?;
        txn.commit().await?;
        let mut contacts = Vec::with_capacity(order.contacts.len());
        for id in &order.contacts {
            let row = rows
                .iter()
                .find(|r| r.id == id.as_str())
                .ok_or_else(|| StoreError::corrupt("communication_orders", format!("contact {id} is gone")))?;
            contacts.push(to_contact(row)?);
        }
        Ok((order, contacts))
    }

    /// Replaces the ordered contacts of one communication type. Every id must be a contact of the
    /// account: the first that is not is refused as `CONTACT_NOT_ON_ACCOUNT`.
    pub async fn set_communication_order(
        &self,
        cmd: &NewCommunicationOrder,
        audit: &Audit,
    ) -> Result<(CommunicationOrder, Revision), StoreError> {
        let (txn, revision) = self.begin_write().await?;
        account_row(&txn, &cmd.account).await?;
        let mut seen = BTreeSet::new();
        for (i, id) in cmd.contacts.iter().enumerate() {
            if !seen.insert(id) {
                return Err(StoreError::invalid(format!("contact_ids[{i}]"), format!("{id} is listed twice")));
            }
        }
        let on_account: BTreeSet<String> = contact::Entity::find()
            .select_only()
            .column(contact::Column::Id)
            .filter(contact::Column::AccountId.eq(cmd.account.as_str()))
            .filter(contact::Column::Id.is_in(cmd.contacts.iter().map(|c| c.as_str().to_owned())))
            .into_tuple::<String>()
            .all(&txn)
            .await?
            .into_iter()
            .collect();
        if let Some(missing) = cmd.contacts.iter().find(|c| !on_account.contains(c.as_str())) {
            return Err(StoreError::Precondition {
                kind: "CONTACT_NOT_ON_ACCOUNT",
                subject: format!("contacts/{missing}"),
                description: format!(
                    "{missing} is not a contact of account {}: add it to the account's contacts before ordering it",
                    cmd.account
                ),
            });
        }
        let before = communication_order::Entity::find_by_id(order_key(&cmd.account, cmd.kind)).one(&txn).await?;
        let row = communication_order::ActiveModel {
            account_id: Set(cmd.account.as_str().to_owned()),
            kind: Set(cmd.kind.as_str().to_owned()),
            contact_ids: Set(ids_to_json(&cmd.contacts)),
            updated_at: Set(audit.now.as_millis()),
        };
        let after = if before.is_some() { row.update(&txn).await? } else { row.insert(&txn).await? };
        Write { store: self, conn: &txn, revision, audit }
            .event(
                &after.account_id,
                "communication_order.set",
                &format!("{}/{}", after.account_id, after.kind),
                before.as_ref(),
                Some(&after),
            )
            .await?;
        txn.commit().await?;
        Ok((to_order(&cmd.account, cmd.kind, Some(&after))?, revision))
    }
}
