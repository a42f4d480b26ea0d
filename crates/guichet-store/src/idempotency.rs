//! Idempotency keys: a mutating request may carry a client-chosen `request_id`. The write that
//! first uses a key claims it *inside its own transaction*, so two concurrent requests with the
//! same key cannot both write: the second finds the claim (writes are serialised, see the crate
//! docs) and is told so. After the write commits, the server stores the encoded response on the
//! claim, and a replay with the same body gets that response back without writing anything.

use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, Set};

use crate::entities::idempotency_key;
use crate::events::Audit;
use crate::{Store, StoreError};

/// What the store knows of an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    /// The fingerprint of the request that claimed the key.
    pub fingerprint: String,
    /// The encoded response of that request, once stored.
    pub response: Option<Vec<u8>>,
    /// The revision of its write.
    pub revision: guichet_domain::Revision,
}

/// The calling service a key belongs to (keys are per calling service).
fn scope(audit_service: Option<&str>) -> String {
    audit_service.unwrap_or("").to_owned()
}

/// The precondition of a write admitted at a revision that is no longer the latest.
pub const CONCURRENT_CHANGE: &str = "CONCURRENT_CHANGE";

/// Checks, inside a write, that nothing was written since it was admitted (see
/// [`Audit::admitted_at`](crate::Audit::admitted_at)), then claims the audit's request id for the
/// write at `revision`, unless this very write already did. Every write calls it (its event does).
pub(crate) async fn claim(
    conn: &impl ConnectionTrait,
    revision: guichet_domain::Revision,
    audit: &Audit,
) -> Result<(), StoreError> {
    if let Some(base) = audit.admitted_at
        && revision.value() != base.value().saturating_add(1)
    {
        // Another write committed between the admission of this one and its transaction: the
        // facts its rules were checked on may have changed.
        return Err(StoreError::Precondition {
            kind: CONCURRENT_CHANGE,
            subject: format!("revisions/{base}"),
            description: format!(
                "the store changed since revision {base}, when this write was admitted: admit it again"
            ),
        });
    }
    let (Some(request_id), Some(fingerprint)) = (&audit.request_id, &audit.fingerprint) else { return Ok(()) };
    let key = (scope(audit.service.as_deref()), request_id.clone());
    let revision_value = i64::try_from(revision.value()).unwrap_or(i64::MAX);
    if let Some(existing) = idempotency_key::Entity::find_by_id(key.clone()).one(conn).await? {
        if existing.revision == revision_value {
            return Ok(());
        }
        return Err(StoreError::AlreadyExists { entity: "request_id", id: request_id.clone() });
    }
    idempotency_key::ActiveModel {
        service: Set(key.0),
        request_id: Set(key.1),
        fingerprint: Set(fingerprint.clone()),
        response: Set(None),
        revision: Set(revision_value),
        created_at: Set(audit.now.as_millis()),
    }
    .insert(conn)
    .await
    .map_err(|e| StoreError::from_db(e, "request_id", request_id))?;
    Ok(())
}

impl Store {
    /// The claim of `request_id` by `service`, if any.
    pub async fn idempotency_record(
        &self,
        service: Option<&str>,
        request_id: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        let row =
            idempotency_key::Entity::find_by_id((scope(service), request_id.to_owned())).one(&self.conn()).await?;
        Ok(row.map(|r| IdempotencyRecord {
            fingerprint: r.fingerprint,
            response: r.response,
            revision: guichet_domain::Revision::new(u64::try_from(r.revision).unwrap_or(0)),
        }))
    }

    /// Stores the encoded response of the write that claimed `request_id`.
    pub async fn save_idempotent_response(
        &self,
        service: Option<&str>,
        request_id: &str,
        response: Vec<u8>,
    ) -> Result<(), StoreError> {
        let key = (scope(service), request_id.to_owned());
        let Some(row) = idempotency_key::Entity::find_by_id(key).one(&self.conn()).await? else { return Ok(()) };
        let mut active: idempotency_key::ActiveModel = row.into();
        active.response = Set(Some(response));
        active.update(&self.conn()).await?;
        Ok(())
    }
}
