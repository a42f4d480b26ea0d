//! `guichet.v1.EventService`.

use guichet_proto::convert::{Authored, ListEvents};
use guichet_proto::v1 as pb;
use guichet_store::EventFilter;
use tonic::{Request, Response, Status};

use super::{call, page, parse};
use crate::app::App;
use crate::paging::next_token;

#[derive(Debug)]
pub(crate) struct Events(pub(crate) App);

#[tonic::async_trait]
impl pb::event_service_server::EventService for Events {
    #[tracing::instrument(skip_all, fields(rpc = "ListEvents"))]
    async fn list_events(
        &self,
        request: Request<pb::ListEventsRequest>,
    ) -> Result<Response<pb::ListEventsResponse>, Status> {
        let r: Authored<ListEvents> = parse(request)?;
        let p = page(&r.body.page)?;
        let c = call(&r);
        let ListEvents { account, by_actor, types, since, until, .. } = r.body;
        let filter = EventFilter { account: Some(account), actor: by_actor, types, since, until };
        let found = self.0.list_events(&c, &filter, &p).await?;
        Ok(Response::new(pb::ListEventsResponse {
            events: found.items.iter().map(Into::into).collect(),
            next_page_token: next_token(found.next_after.as_deref()),
        }))
    }
}
