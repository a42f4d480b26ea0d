//! `guichet.v1.ContactService`.

use guichet_domain::{ContactId, ContactUpdate, NewCommunicationOrder, NewContact};
use guichet_proto::convert::{CommunicationOrderQuery, ListContacts};
use guichet_proto::v1 as pb;

use super::{admitted, handlers};
use crate::app::App;

#[derive(Debug)]
pub(crate) struct Contacts(pub(crate) App);

handlers! {
    impl pb::contact_service_server::ContactService for Contacts {
        write "CreateContact" fn create_contact(pb::CreateContactRequest) -> pb::CreateContactResponse { contact }
            |app, c, r: NewContact| admitted!(app, c, app.create_contact(&c, &r.body).await);

        read "GetContact" fn get_contact(pb::GetContactRequest) -> pb::GetContactResponse { contact }
            |app, c, r: ContactId| app.get_contact(&c, &r.body).await;

        read "ListContacts" fn list_contacts(pb::ListContactsRequest)
            -> pb::ListContactsResponse { contacts, next_page_token }
            |app, c, r: ListContacts, p| app.list_contacts(&c, &r.body.account, r.body.subscription, &p).await;

        write "UpdateContact" fn update_contact(pb::UpdateContactRequest) -> pb::UpdateContactResponse { contact }
            |app, c, r: ContactUpdate| admitted!(app, c, app.update_contact(&c, &r.body).await);

        write "DeleteContact" fn delete_contact(pb::DeleteContactRequest) -> pb::DeleteContactResponse {}
            |app, c, r: ContactId| admitted!(app, c, app.delete_contact(&c, &r.body).await);

        read "GetCommunicationOrder" fn get_communication_order(pb::GetCommunicationOrderRequest)
            -> pb::GetCommunicationOrderResponse |app, c, r: CommunicationOrderQuery| {
            let (order, contacts) = app.get_communication_order(&c, &r.body.account, r.body.kind).await?;
            pb::GetCommunicationOrderResponse {
                order: Some((&order).into()),
                contacts: contacts.iter().map(Into::into).collect(),
            }
        }

        write "SetCommunicationOrder" fn set_communication_order(pb::SetCommunicationOrderRequest)
            -> pb::SetCommunicationOrderResponse { order }
            |app, c, r: NewCommunicationOrder| admitted!(app, c, app.set_communication_order(&c, &r.body).await);
    }
}
