//! `guichet.v1.ContactService`.

use guichet_domain::{ContactId, ContactUpdate, NewCommunicationOrder, NewContact};
use guichet_proto::convert::{CommunicationOrderQuery, ListContacts};
use guichet_proto::v1 as pb;
use tonic::{Request, Response, Status};

use super::{Called, admitted, authored, call, fingerprint, once, page};
use crate::app::App;
use crate::paging::next_token;

#[derive(Debug)]
pub(crate) struct Contacts(pub(crate) App);

#[tonic::async_trait]
impl pb::contact_service_server::ContactService for Contacts {
    #[tracing::instrument(skip_all, fields(rpc = "CreateContact"))]
    async fn create_contact(
        &self,
        request: Request<pb::CreateContactRequest>,
    ) -> Result<Response<pb::CreateContactResponse>, Status> {
        let fp = fingerprint("create_contact", request.get_ref());
        let r: Called<NewContact> = authored(request)?;
        once(&self.0, call(&r), fp, async |c| {
            let (contact, revision) = admitted!(self.0, c, self.0.create_contact(&c, &r.body).await)?;
            Ok(pb::CreateContactResponse { contact: Some((&contact).into()), revision: revision.token() })
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(rpc = "GetContact"))]
    async fn get_contact(
        &self,
        request: Request<pb::GetContactRequest>,
    ) -> Result<Response<pb::GetContactResponse>, Status> {
        let r: Called<ContactId> = authored(request)?;
        let contact = self.0.get_contact(&call(&r), &r.body).await?;
        Ok(Response::new(pb::GetContactResponse { contact: Some((&contact).into()) }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "ListContacts"))]
    async fn list_contacts(
        &self,
        request: Request<pb::ListContactsRequest>,
    ) -> Result<Response<pb::ListContactsResponse>, Status> {
        let r: Called<ListContacts> = authored(request)?;
        let p = page(&r.body.page)?;
        let found = self.0.list_contacts(&call(&r), &r.body.account, r.body.subscription, &p).await?;
        Ok(Response::new(pb::ListContactsResponse {
            contacts: found.items.iter().map(Into::into).collect(),
            next_page_token: next_token(found.next_after.as_deref()),
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "UpdateContact"))]
    async fn update_contact(
        &self,
        request: Request<pb::UpdateContactRequest>,
    ) -> Result<Response<pb::UpdateContactResponse>, Status> {
        let fp = fingerprint("update_contact", request.get_ref());
        let r: Called<ContactUpdate> = authored(request)?;
        once(&self.0, call(&r), fp, async |c| {
            let (contact, revision) = admitted!(self.0, c, self.0.update_contact(&c, &r.body).await)?;
            Ok(pb::UpdateContactResponse { contact: Some((&contact).into()), revision: revision.token() })
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(rpc = "DeleteContact"))]
    async fn delete_contact(
        &self,
        request: Request<pb::DeleteContactRequest>,
    ) -> Result<Response<pb::DeleteContactResponse>, Status> {
        let fp = fingerprint("delete_contact", request.get_ref());
        let r: Called<ContactId> = authored(request)?;
        once(&self.0, call(&r), fp, async |c| {
            let revision = admitted!(self.0, c, self.0.delete_contact(&c, &r.body).await)?;
            Ok(pb::DeleteContactResponse { revision: revision.token() })
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(rpc = "GetCommunicationOrder"))]
    async fn get_communication_order(
        &self,
        request: Request<pb::GetCommunicationOrderRequest>,
    ) -> Result<Response<pb::GetCommunicationOrderResponse>, Status> {
        let r: Called<CommunicationOrderQuery> = authored(request)?;
        let (order, contacts) = self.0.get_communication_order(&call(&r), &r.body.account, r.body.kind).await?;
        Ok(Response::new(pb::GetCommunicationOrderResponse {
            order: Some((&order).into()),
            contacts: contacts.iter().map(Into::into).collect(),
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "SetCommunicationOrder"))]
    async fn set_communication_order(
        &self,
        request: Request<pb::SetCommunicationOrderRequest>,
    ) -> Result<Response<pb::SetCommunicationOrderResponse>, Status> {
        let fp = fingerprint("set_communication_order", request.get_ref());
        let r: Called<NewCommunicationOrder> = authored(request)?;
        once(&self.0, call(&r), fp, async |c| {
            let (order, revision) = admitted!(self.0, c, self.0.set_communication_order(&c, &r.body).await)?;
            Ok(pb::SetCommunicationOrderResponse { order: Some((&order).into()), revision: revision.token() })
        })
        .await
    }
}
