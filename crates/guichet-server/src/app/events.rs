//! Audit events: reading an account's history.

use guichet_domain::{Event, Operation};
use guichet_store::{EventFilter, Page, PageRequest};

use super::{App, Call};
use crate::error::ServerError;

impl App {
    /// Audit events of an account, for an actor holding `event_logs:view` there.
    pub async fn list_events(
        &self,
        call: &Call,
        filter: &EventFilter,
        page: &PageRequest,
    ) -> Result<Page<Event>, ServerError> {
        let Some(account) = &filter.account else {
            return Err(ServerError::invalid("account_id", "is required"));
        };
        self.admit(call, &Operation::ListEvents(account.clone())).await?;
        self.store.get_account(account).await?;
        Ok(self.store.list_events(filter, page).await?)
    }
}
