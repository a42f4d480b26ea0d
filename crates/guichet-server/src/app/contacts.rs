//! Contacts and the communication order (seeds 002 and 004): reading and changing them is
//! decided by the rule book (`contacts:view` / `contacts:full` in the contact's account).
//!
//! A contact named by id is out of reach — NOT_FOUND, as if it did not exist — for an actor who
//! cannot even view the contacts of its account, so that one tenant cannot probe another's ids.

use guichet_domain::{
    AccountId, CommunicationOrder, CommunicationType, Contact, ContactId, ContactSubscription, ContactUpdate,
    NewCommunicationOrder, NewContact, Operation, Revision,
};
use guichet_store::{Page, PageRequest};

use super::{App, Call};
use crate::error::ServerError;

impl App {
    /// The contact, when the actor may at least view the contacts of its account; NOT_FOUND
    /// otherwise.
    async fn reach_contact(&self, call: &Call, id: &ContactId) -> Result<Contact, ServerError> {
        let c = self.store.get_contact(id).await?;
        match self.admit(call, &Operation::ViewContacts(c.account.clone())).await {
            Ok(()) => Ok(c),
            Err(ServerError::PermissionDenied { .. } | ServerError::NotFound { .. }) => {
                Err(ServerError::NotFound { entity: "contact", id: id.to_string() })
            }
            Err(e) => Err(e),
        }
    }

    /// Adds a contact to an account.
    pub async fn create_contact(&self, call: &Call, cmd: &NewContact) -> Result<(Contact, Revision), ServerError> {
        self.admit(call, &Operation::ManageContacts(cmd.account.clone())).await?;
        Ok(self.store.create_contact(cmd, &self.audit(call)).await?)
    }

    /// One contact.
    pub async fn get_contact(&self, call: &Call, id: &ContactId) -> Result<Contact, ServerError> {
        self.reach_contact(call, id).await
    }

    /// The contacts of an account.
    pub async fn list_contacts(
        &self,
        call: &Call,
        account: &AccountId,
        subscription: Option<ContactSubscription>,
        page: &PageRequest,
    ) -> Result<Page<Contact>, ServerError> {
        self.admit(call, &Operation::ViewContacts(account.clone())).await?;
        Ok(self.store.list_contacts(account, subscription, page).await?)
    }

    /// Replaces every editable field of a contact.
    pub async fn update_contact(&self, call: &Call, cmd: &ContactUpdate) -> Result<(Contact, Revision), ServerError> {
        let c = self.reach_contact(call, &cmd.id).await?;
        self.admit(call, &Operation::ManageContacts(c.account.clone())).await?;
        Ok(self.store.update_contact(cmd, &self.audit(call)).await?)
    }

    /// Deletes a contact and removes it from every communication order of its account.
    pub async fn delete_contact(&self, call: &Call, id: &ContactId) -> Result<Revision, ServerError> {
        let c = self.reach_contact(call, id).await?;
        self.admit(call, &Operation::ManageContacts(c.account.clone())).await?;
        Ok(self.store.delete_contact(id, &self.audit(call)).await?)
    }

    /// The ordered contacts of one communication type, with the contacts themselves.
    pub async fn get_communication_order(
        &self,
        call: &Call,
        account: &AccountId,
        kind: CommunicationType,
    ) -> Result<(CommunicationOrder, Vec<Contact>), ServerError> {
        self.admit(call, &Operation::ViewContacts(account.clone())).await?;
        Ok(self.store.get_communication_order(account, kind).await?)
    }

    /// Replaces the ordered contacts of one communication type.
    pub async fn set_communication_order(
        &self,
        call: &Call,
        cmd: &NewCommunicationOrder,
    ) -> Result<(CommunicationOrder, Revision), ServerError> {
        self.admit(call, &Operation::ManageContacts(cmd.account.clone())).await?;
        Ok(self.store.set_communication_order(cmd, &self.audit(call)).await?)
    }
}
