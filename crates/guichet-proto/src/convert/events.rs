//! EventService: ListEvents and WatchEvents requests in, events out.

use guichet_domain as d;

use super::{Authored, Check, Invalid, MAX_EVENT_TYPES, PageParams, authored, ts};
use crate::v1 as pb;

/// ListEvents filters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListEvents {
    /// The account.
    pub account: d::AccountId,
    /// Only events made for this person.
    pub by_actor: Option<d::UserId>,
    /// Only these types.
    pub types: Vec<String>,
    /// At or after.
    pub since: Option<d::Timestamp>,
    /// Before.
    pub until: Option<d::Timestamp>,
    /// Paging.
    pub page: PageParams,
}

pub(super) fn time_in(c: &mut Check, field: &str, t: Option<prost_types::Timestamp>) -> Option<Option<d::Timestamp>> {
    let Some(t) = t else { return Some(None) };
    if !(0..1_000_000_000).contains(&t.nanos) || !(0..=253_402_300_799).contains(&t.seconds) {
        c.push(field, "must be a valid time between 1970 and 9999");
        return None;
    }
    Some(Some(d::Timestamp::from_millis(t.seconds * 1000 + i64::from(t.nanos / 1_000_000))))
}

impl TryFrom<pb::ListEventsRequest> for Authored<ListEvents> {
    type Error = Invalid;
    fn try_from(r: pb::ListEventsRequest) -> Result<Self, Invalid> {
        let pb::ListEventsRequest {
            actor_id,
            account_id,
            types,
            by_actor_id,
            start_time,
            end_time,
            page_size,
            page_token,
        } = r;
        authored("", &actor_id, |c| {
            let account = c.required("account_id", &account_id, d::AccountId::parse);
            let by_actor = c.optional("by_actor_id", &by_actor_id, d::UserId::parse);
            let mut ok = types.len() <= MAX_EVENT_TYPES;
            if !ok {
                c.push("types", format!("at most {MAX_EVENT_TYPES} types"));
            }
            for (i, t) in types.iter().enumerate() {
                let valid = !t.is_empty()
                    && t.len() <= 64
                    && t.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.');
                if !valid {
                    c.push(format!("types[{i}]"), "an event type such as membership.created");
                    ok = false;
                }
            }
            let since = time_in(c, "start_time", start_time);
            let until = time_in(c, "end_time", end_time);
            if let (Some(Some(s)), Some(Some(u))) = (since, until)
                && s > u
            {
                c.push("end_time", "must not be before start_time");
            }
            Some(ListEvents {
                account: account?,
                by_actor: by_actor?,
                types: if ok { types } else { return None },
                since: since?,
                until: until?,
                page: PageParams { size: page_size, token: page_token },
            })
        })
    }
}

/// Where a WatchEvents stream starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchFrom {
    /// After this revision.
    After(d::Revision),
    /// After the latest revision when the call arrives.
    Now,
}

/// A WatchEvents request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchEvents {
    /// The cursor.
    pub from: WatchFrom,
    /// Only this account's events.
    pub account: Option<d::AccountId>,
}

impl TryFrom<pb::WatchEventsRequest> for Authored<WatchEvents> {
    type Error = Invalid;
    fn try_from(r: pb::WatchEventsRequest) -> Result<Self, Invalid> {
        let pb::WatchEventsRequest { actor_id, after_revision, account_id } = r;
        authored("", &actor_id, |c| {
            let from = if after_revision.is_empty() {
                Some(WatchFrom::Now)
            } else {
                c.ok("after_revision", d::Revision::parse_token(&after_revision)).map(WatchFrom::After)
            };
            let account = c.optional("account_id", &account_id, d::AccountId::parse);
            Some(WatchEvents { from: from?, account: account? })
        })
    }
}

impl From<&d::Event> for pb::Event {
    fn from(e: &d::Event) -> Self {
        pb::Event {
            id: e.id.clone(),
            account_id: e.account.as_ref().map(ToString::to_string).unwrap_or_default(),
            actor_id: e.actor.as_ref().map(ToString::to_string).unwrap_or_default(),
            service: e.service.clone().unwrap_or_default(),
            r#type: e.kind.clone(),
            target_id: e.target.clone(),
            before_json: e.before.clone().unwrap_or_default(),
            after_json: e.after.clone().unwrap_or_default(),
            create_time: ts(e.created_at),
            trace_id: e.trace_id.clone().unwrap_or_default(),
            revision: e.revision.token(),
            request_id: e.request_id.clone().unwrap_or_default(),
            touched_ids: e.touched.clone(),
        }
    }
}
