//! `guichet.v1.ContactService`.

use guichet_domain::{ContactId, ContactUpdate, NewCommunicationOrder, NewContact};
use guichet_proto::convert::{CommunicationOrderQuery, ListContacts};
use guichet_proto::v1 as pb;

use super::{admitted, handlers, page};
use crate::app::App;
use crate::paging::next_token;

#[derive(Debug)]
pub(crate) struct Contacts(pub(crate) App);

handlers! {
    impl pb::contact_service_server::ContactService for Contacts {
        write "CreateContact" fn create_contact(pb::CreateContactRequest) -> pb::CreateContactResponse
            |app, c, r: NewContact| {
            let (contact, revision) = admitted!(app, c, app.create_contact(&c, &r.body).await)?;
            pb::CreateContactResponse { contact: Some((&contact).into()), revision: revision.token() }
        }

        read "GetContact" fn get_contact(pb::GetContactRequest) -> pb::GetContactResponse |app, c, r: ContactId| {
            let contact = app.get_contact(&c, &r.body).await?;
            pb::GetContactResponse { contact: Some((&contact).into()) }
        }

        read "ListContacts" fn list_contacts(pb::ListContactsRequest) -> pb::ListContactsResponse
            |app, c, r: ListContacts| {
            let p = page(&r.body.page)?;
            let found = app.list_contacts(&c, &r.body.account, r.body.subscription, &p).await?;
            pb::ListContactsResponse {
                contacts: found.items.iter().map(Into::into).collect(),
                next_page_token: next_token(found.next_after.as_deref()),
            }
        }

        write "UpdateContact" fn update_contact(pb::UpdateContactRequest) -> pb::UpdateContactResponse
            |app, c, r: ContactUpdate| {
            let (contact, revision) = admitted!(app, c, app.update_contact(&c, &r.body).await)?;
            pb::UpdateContactResponse { contact: Some((&contact).into()), revision: revision.token() }
        }

        write "DeleteContact" fn delete_contact(pb::DeleteContactRequest) -> pb::DeleteContactResponse
            |app, c, r: ContactId| {
            let revision = admitted!(app, c, app.delete_contact(&c, &r.body).await)?;
            pb::DeleteContactResponse { revision: revision.token() }
        }

        read "GetCommunicationOrder" fn get_communication_order(pb::GetCommunicationOrderRequest)
            -> pb::GetCommunicationOrderResponse |app, c, r: CommunicationOrderQuery| {
            let (order, contacts) = app.get_communication_order(&c, &r.body.account, r.body.kind).await?;
            pb::GetCommunicationOrderResponse {
                order: Some((&order).into()),
                contacts: contacts.iter().map(Into::into).collect(),
            }
        }

        write "SetCommunicationOrder" fn set_communication_order(pb::SetCommunicationOrderRequest)
            -> pb::SetCommunicationOrderResponse |app, c, r: NewCommunicationOrder| {
            let (order, revision) = admitted!(app, c, app.set_communication_order(&c, &r.body).await)?;
            pb::SetCommunicationOrderResponse { order: Some((&order).into()), revision: revision.token() }
        }
    }
}
