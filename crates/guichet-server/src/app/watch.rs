//! The change stream (`EventService/WatchEvents`): the audit trail after a cursor, in revision
//! order, filtered by the rule book, polled from the store so that every replica streams every
//! write, whichever replica made it.
//!
//! **No gap.** Every write bumps the revision row in its first statement and holds that row's
//! lock until it commits (`guichet_store`'s crate docs), so writes commit in revision order: once a
//! snapshot sees revision `r`, every revision below `r` committed before `r` was even allocated,
//! and is in that snapshot too. Each read of the trail is one snapshot
//! ([`guichet_store::Store::events_after`]); it returns the events after the cursor up to some
//! revision, whole revisions only, with the latest revision `L`. The cursor then moves to the last
//! revision read, or to `L` when everything up to `L` was read: no revision at or below the new
//! cursor can still commit, so none is skipped, and none is sent twice since the next read starts
//! after the cursor. A revision the caller may not see moves the cursor all the same.
//!
//! **Who sees what** is asked of the rule book per event ([`Operation::WatchEvent`]), with the
//! actor's permissions at the moment the event is sent, exactly as ListEvents would answer then.

use std::collections::HashMap;

use guichet_domain::{AccountId, Event, Operation, Reason, Revision, UserStatus};
use guichet_store::StoreError;

use super::{App, Call};
use crate::error::ServerError;

/// At most about this many events are read per poll of the trail.
pub(crate) const BATCH: u64 = 500;

/// What a change stream sends at once: the visible events of one revision, or, with no events, a
/// progress mark (the stream's cursor moved to `revision`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Changes {
    /// The revision of the events, or the cursor of a progress mark.
    pub(crate) revision: Revision,
    /// The events, in the order they were written.
    pub(crate) events: Vec<Event>,
}

/// An open stream: where it is, and for whom.
#[derive(Debug)]
pub(crate) struct Watch {
    app: App,
    call: Call,
    account: Option<AccountId>,
    cursor: Revision,
    /// The cursor of the last response sent (`None`: nothing sent yet).
    sent: Option<Revision>,
    /// Whether the last read reached the latest revision (the stream is live, not catching up).
    caught_up: bool,
}

impl App {
    /// Opens a change stream after revision `after` (`None`: the latest when the call arrives),
    /// over `account`'s events only when given: admits the account filter for the actor and reads
    /// the trail once, so that a bad cursor or a refused account is the call's error. Returns the
    /// stream and what it sends first.
    pub(crate) async fn watch_events(
        &self,
        call: Call,
        after: Option<Revision>,
        account: Option<&AccountId>,
    ) -> Result<(Watch, Vec<Changes>), ServerError> {
        // An unknown or suspended actor is refused, as every management call refuses it.
        if let Some(actor) = &call.actor {
            let refused = |reason: Reason| ServerError::PermissionDenied {
                actor: actor.to_string(),
                permission: String::new(),
                account: String::new(),
                reason: reason.to_string(),
            };
            match self.store.get_user(actor).await {
                Ok(user) if user.status == UserStatus::Suspended => return Err(refused(Reason::SubjectSuspended)),
                Ok(_) => {}
                Err(StoreError::NotFound { .. }) => return Err(refused(Reason::UnknownSubject)),
                Err(e) => return Err(e.into()),
            }
        }
        if let Some(account) = account {
            self.admit(&call, &Operation::WatchEvent { account: Some(account.clone()) }).await?;
            self.store.get_account(account).await?;
        }
        let cursor = match after {
            Some(r) => r,
            None => self.store.revision().await?,
        };
        let mut watch =
            Watch { app: self.clone(), call, account: account.cloned(), cursor, sent: None, caught_up: false };
        let first = watch.poll().await?;
        Ok((watch, first))
    }
}

impl Watch {
    /// Whether the last read reached the store's latest revision.
    pub(crate) fn caught_up(&self) -> bool {
        self.caught_up
    }

    /// Reads the trail after the cursor once: what to send (one per revision with an event the
    /// caller may see, then a progress mark when the cursor moved past the last one, or on the
    /// stream's first read).
    pub(crate) async fn poll(&mut self) -> Result<Vec<Changes>, ServerError> {
        let read = self.app.store.events_after(self.cursor, self.account.as_ref(), BATCH).await?;
        if self.cursor < read.oldest_cursor {
            return Err(ServerError::RevisionTooOld { asked: self.cursor, oldest: read.oldest_cursor });
        }
        if self.cursor > read.latest {
            return Err(ServerError::invalid(
                "after_revision",
                format!(
                    "revision {} is newer than the store's latest ({}): use a revision guichet returned",
                    self.cursor, read.latest
                ),
            ));
        }
        let mut out = Vec::new();
        let mut seen: HashMap<Option<AccountId>, bool> = HashMap::new();
        let mut group: Vec<Event> = Vec::new();
        let mut group_revision = None;
        let complete = read.complete;
        for event in read.events {
            if group_revision != Some(event.revision) {
                self.flush(&mut out, group_revision, &mut group);
                group_revision = Some(event.revision);
            }
            self.cursor = event.revision;
            let visible = match seen.get(&event.account) {
                Some(v) => *v,
                None => {
                    let v = self.may_see(event.account.clone()).await?;
                    seen.insert(event.account.clone(), v);
                    v
                }
            };
            if visible {
                group.push(event);
            }
        }
        self.flush(&mut out, group_revision, &mut group);
        if complete {
            self.cursor = self.cursor.max(read.latest);
        }
        self.caught_up = complete;
        if self.sent.is_none_or(|s| s < self.cursor) {
            out.push(Changes { revision: self.cursor, events: Vec::new() });
            self.sent = Some(self.cursor);
        }
        Ok(out)
    }

    fn flush(&mut self, out: &mut Vec<Changes>, revision: Option<Revision>, group: &mut Vec<Event>) {
        if let Some(revision) = revision
            && !group.is_empty()
        {
            out.push(Changes { revision, events: std::mem::take(group) });
            self.sent = Some(revision);
        }
    }

    /// Whether the caller may be sent an event of `account`, by the rule book.
    async fn may_see(&self, account: Option<AccountId>) -> Result<bool, ServerError> {
        match self.app.admit(&self.call, &Operation::WatchEvent { account }).await {
            Ok(()) => Ok(true),
            Err(ServerError::NotFound { .. } | ServerError::PermissionDenied { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }
}
