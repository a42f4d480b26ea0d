//! `guichet.v1.EventService`.

use std::time::Duration;

use guichet_proto::convert::{ListEvents, WatchEvents, WatchFrom};
use guichet_proto::v1 as pb;
use guichet_store::EventFilter;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::{Called, authored, call, handlers};
use crate::app::{App, Changes};

/// How long a change stream that has caught up waits before it reads the store's audit trail
/// again: the most a change waits before a replica streams it.
pub(crate) const WATCH_POLL: Duration = Duration::from_millis(200);

/// How many responses wait for a slow client before the stream stops reading the store.
const WATCH_BUFFER: usize = 16;

#[derive(Debug)]
pub(crate) struct Events(pub(crate) App, pub(crate) watch::Receiver<bool>);

handlers! {
    impl pb::event_service_server::EventService for Events {
        read "ListEvents" fn list_events(pb::ListEventsRequest) -> pb::ListEventsResponse { events, next_page_token }
            |app, c, r: ListEvents, p| {
                let ListEvents { account, by_actor, types, since, until, .. } = r.body;
                let filter = EventFilter { account: Some(account), actor: by_actor, types, since, until };
                app.list_events(&c, &filter, &p).await
            };

        type WatchEventsStream = ReceiverStream<Result<pb::WatchEventsResponse, Status>>;

        #[tracing::instrument(skip_all, fields(rpc = "WatchEvents"))]
        async fn watch_events(
            &self,
            request: Request<pb::WatchEventsRequest>,
        ) -> Result<Response<Self::WatchEventsStream>, Status> {
            let r: Called<WatchEvents> = authored(request)?;
            let c = call(&r);
            let WatchEvents { from, account } = r.body;
            let after = match from {
                WatchFrom::After(revision) => Some(revision),
                WatchFrom::Now => None,
            };
            let (mut watch, first) = self.0.watch_events(c, after, account.as_ref()).await?;
            let (tx, rx) = mpsc::channel(WATCH_BUFFER);
            let mut stopping = self.1.clone();
            tokio::spawn(async move {
                let _open = crate::metrics::watch_opened();
                // The revision of the last response handed to the client: where it resumes.
                let mut delivered: Option<String> = None;
                let mut pending = first;
                loop {
                    for changes in pending.drain(..) {
                        let response = watch_response(changes);
                        let revision = response.revision.clone();
                        tokio::select! {
                            biased;
                            sent = tx.send(Ok(response)) => {
                                if sent.is_err() {
                                    return;
                                }
                                delivered = Some(revision);
                            }
                            // A client that does not read must not hold the shutdown.
                            () = async { drop(stopping.wait_for(|s| *s).await) } => {
                                end_for_shutdown(&tx, delivered.as_deref()).await;
                                return;
                            }
                        }
                    }
                    let stop = if watch.caught_up() {
                        tokio::select! {
                            () = tokio::time::sleep(WATCH_POLL) => false,
                            () = tx.closed() => return,
                            _ = stopping.wait_for(|s| *s) => true,
                        }
                    } else {
                        *stopping.borrow()
                    };
                    if stop {
                        end_for_shutdown(&tx, delivered.as_deref()).await;
                        return;
                    }
                    match watch.poll().await {
                        Ok(next) => pending = next,
                        Err(e) => {
                            let _ = tx.send(Err(e.into())).await;
                            return;
                        }
                    }
                }
            });
            Ok(Response::new(ReceiverStream::new(rx)))
        }
    }
}

/// What a change stream sends, as the API's message.
fn watch_response(changes: Changes) -> pb::WatchEventsResponse {
    let Changes { revision, events } = changes;
    pb::WatchEventsResponse { revision: revision.token(), events: events.iter().map(pb::Event::from).collect() }
}

/// Ends a change stream because the replica is shutting down: UNAVAILABLE, naming the revision of
/// the last response the client was handed (it resumes there, on any replica). A client whose
/// buffer stays full for a second gets no status: its stream just ends.
async fn end_for_shutdown(tx: &mpsc::Sender<Result<pb::WatchEventsResponse, Status>>, delivered: Option<&str>) {
    let resume = delivered.map_or_else(|| "the last revision you received".to_owned(), ToOwned::to_owned);
    let status = Status::unavailable(format!(
        "this replica is shutting down: resume with after_revision {resume} (on any replica)"
    ));
    tracing::warn!(
        rpc = "guichet.v1.EventService/WatchEvents",
        cause = "this replica is shutting down",
        "answered UNAVAILABLE"
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), tx.send(Err(status))).await;
}
