//! The server's errors and their one mapping to gRPC statuses.

use std::collections::HashMap;

use guichet_domain::{FieldViolation, Violation};
use guichet_store::StoreError;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// Everything a call can fail with. A deny is not here: it is an answer.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The request is malformed; each violation names the field.
    #[error("invalid request: {}", describe(.0))]
    InvalidArgument(Vec<FieldViolation>),
    /// The thing named does not exist.
    #[error("{entity} {id} not found")]
    NotFound {
        /// Kind of thing.
        entity: &'static str,
        /// Its id.
        id: String,
    },
    /// The thing already exists.
    #[error("{entity} {id} already exists")]
    AlreadyExists {
        /// Kind of thing.
        entity: &'static str,
        /// The identity that collided.
        id: String,
    },
    /// The change would break an invariant.
    #[error("{description}")]
    FailedPrecondition {
        /// Stable violation type.
        kind: &'static str,
        /// What it is about.
        subject: String,
        /// What is wrong and how to fix it.
        description: String,
    },
    /// The actor may not do this.
    #[error("actor {actor} lacks {permission} in account {account}: {reason}")]
    PermissionDenied {
        /// The user the calling service acts for.
        actor: String,
        /// The permission needed.
        permission: String,
        /// Where it is needed.
        account: String,
        /// Why the engine denied it.
        reason: String,
    },
    /// An invariant of the rule book refused the operation (see `guichet_domain::rules`).
    #[error("{violation}")]
    Rule {
        /// The actor, when the call names one.
        actor: Option<String>,
        /// The account (or other record) the operation is about.
        subject: String,
        /// The invariant that refused it (boxed: errors stay small on the hot path).
        violation: Box<Violation>,
    },
    /// A change-stream cursor older than the oldest change the store keeps.
    #[error(
        "revision {asked} is older than the oldest change kept (resume at {oldest} or later): read the state again and watch from its revision"
    )]
    RevisionTooOld {
        /// The cursor asked for.
        asked: guichet_domain::Revision,
        /// The oldest cursor that can be served.
        oldest: guichet_domain::Revision,
    },
    /// The call could not be completed atomically under contention: retry.
    #[error("aborted: {0}")]
    Aborted(String),
    /// The store (or another dependency) cannot be reached.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The RPC is declared but not implemented yet.
    #[error("{0} is not implemented yet")]
    Unimplemented(&'static str),
    /// A bug or a corrupt row; logged in full, returned generic.
    #[error("internal error: {0}")]
    Internal(String),
}

/// The most field violations one status carries; the message counts the others.
pub const MAX_REPORTED_VIOLATIONS: usize = 20;

/// The longest field path or description one violation carries, in characters.
const MAX_VIOLATION_TEXT: usize = 200;

fn clip(text: &str) -> String {
    if text.chars().count() <= MAX_VIOLATION_TEXT {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(MAX_VIOLATION_TEXT).collect();
    out.push('…');
    out
}

fn describe(v: &[FieldViolation]) -> String {
    v.iter().map(|v| format!("{}: {}", v.field, v.description)).collect::<Vec<_>>().join("; ")
}

impl ServerError {
    /// One violation on one field.
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self::InvalidArgument(vec![FieldViolation::new(field, description)])
    }
}

impl From<StoreError> for ServerError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound { entity, id } => Self::NotFound { entity, id },
            StoreError::AlreadyExists { entity, id } => Self::AlreadyExists { entity, id },
            StoreError::Invalid(v) => Self::InvalidArgument(v),
            StoreError::Precondition { kind, subject, description } => {
                Self::FailedPrecondition { kind, subject, description }
            }
            StoreError::Unavailable(m) => {
                crate::metrics::store_error();
                Self::Unavailable(m)
            }
            e @ (StoreError::Corrupt { .. } | StoreError::Database(_)) => {
                crate::metrics::store_error();
                Self::Internal(e.to_string())
            }
        }
    }
}

impl From<ServerError> for Status {
    fn from(err: ServerError) -> Self {
        match err {
            ServerError::InvalidArgument(mut violations) => {
                // The violations travel in HTTP/2 trailers, which clients bound (16 KiB by
                // default): a batch of a thousand bad items must not turn into a protocol error.
                let omitted = violations.len().saturating_sub(MAX_REPORTED_VIOLATIONS);
                violations.truncate(MAX_REPORTED_VIOLATIONS);
                for v in &mut violations {
                    v.field = clip(&v.field);
                    v.description = clip(&v.description);
                }
                let mut message = format!("invalid request: {}", describe(&violations));
                if omitted > 0 {
                    message.push_str(&format!(" (and {omitted} more violations)"));
                }
                let details = ErrorDetails::with_bad_request(
                    violations
                        .into_iter()
                        .map(|v| tonic_types::FieldViolation::new(v.field, v.description))
                        .collect::<Vec<_>>(),
                );
                Status::with_error_details(Code::InvalidArgument, message, details)
            }
            e @ ServerError::NotFound { .. } => {
                let message = e.to_string();
                let ServerError::NotFound { entity, id } = e else {
                    return Status::not_found(message);
                };
                let details = ErrorDetails::with_resource_info(entity, id, "", "no such record");
                Status::with_error_details(Code::NotFound, message, details)
            }
            e @ ServerError::AlreadyExists { .. } => {
                let message = e.to_string();
                let ServerError::AlreadyExists { entity, id } = e else {
                    return Status::already_exists(message);
                };
                let details = ErrorDetails::with_resource_info(entity, id, "", "already exists");
                Status::with_error_details(Code::AlreadyExists, message, details)
            }
            ServerError::FailedPrecondition { kind, subject, description } => {
                let details = ErrorDetails::with_precondition_failure_violation(kind, subject, description.clone());
                Status::with_error_details(Code::FailedPrecondition, description, details)
            }
            e @ ServerError::PermissionDenied { .. } => {
                let message = e.to_string();
                let ServerError::PermissionDenied { actor, permission, account, reason } = e else {
                    return Status::permission_denied(message);
                };
                let metadata = HashMap::from([
                    ("actor_id".to_owned(), actor),
                    ("permission".to_owned(), permission),
                    ("account_id".to_owned(), account),
                    ("reason".to_owned(), reason),
                ]);
                let details = ErrorDetails::with_error_info("MISSING_PERMISSION", "guichet", metadata);
                Status::with_error_details(Code::PermissionDenied, message, details)
            }
            ServerError::Rule { actor, subject, violation } => {
                let message = violation.to_string();
                let code = violation.code();
                match &*violation {
                    // What the actor may not do: PERMISSION_DENIED, the invariant named.
                    Violation::Escalation { .. } | Violation::PartnerReach { .. } | Violation::Profile { .. } => {
                        let mut metadata = HashMap::from([
                            ("actor_id".to_owned(), actor.unwrap_or_default()),
                            ("subject".to_owned(), subject),
                            ("reason".to_owned(), message.clone()),
                        ]);
                        if let Violation::Escalation { feature, level, .. } = &*violation {
                            // The level handed out that the actor does not reach.
                            metadata.insert("permission".to_owned(), format!("{feature}:{level}"));
                        }
                        let details = ErrorDetails::with_error_info(code, "guichet", metadata);
                        Status::with_error_details(Code::PermissionDenied, message, details)
                    }
                    // A role shape the catalog does not allow for the account kind: bad input.
                    Violation::DescendantLevel { .. } => {
                        let details = ErrorDetails::with_bad_request_violation("descendant_grants", message.clone());
                        Status::with_error_details(Code::InvalidArgument, message, details)
                    }
                    // The state does not allow it now.
                    Violation::FourEyes { .. }
                    | Violation::SelfDecision { .. }
                    | Violation::PendingFrozen { .. }
                    | Violation::RoleLimit
                    | Violation::LastAdministrator { .. } => {
                        let details = ErrorDetails::with_precondition_failure_violation(code, subject, message.clone());
                        Status::with_error_details(Code::FailedPrecondition, message, details)
                    }
                }
            }
            e @ ServerError::RevisionTooOld { .. } => {
                let message = e.to_string();
                let ServerError::RevisionTooOld { oldest, .. } = e else {
                    return Status::out_of_range(message);
                };
                let mut details = ErrorDetails::with_bad_request_violation("after_revision", message.clone());
                details.set_error_info(
                    "REVISION_TOO_OLD",
                    "guichet",
                    HashMap::from([("oldest_revision".to_owned(), oldest.token())]),
                );
                Status::with_error_details(Code::OutOfRange, message, details)
            }
            ServerError::Unavailable(m) => {
                // The RPC layer logs it with the RPC (once per outage); a status sent inside a
                // stream is logged here.
                if !crate::telemetry::unavailable_cause(&m) {
                    tracing::warn!(error = %m, "answered UNAVAILABLE");
                }
                let details = ErrorDetails::with_retry_info(Some(std::time::Duration::from_secs(1)));
                Status::with_error_details(Code::Unavailable, "the store is unavailable, retry later", details)
            }
            ServerError::Aborted(m) => {
                let details = ErrorDetails::with_retry_info(Some(std::time::Duration::from_millis(100)));
                Status::with_error_details(Code::Aborted, m, details)
            }
            ServerError::Unimplemented(rpc) => Status::unimplemented(format!("{rpc} is not implemented yet")),
            ServerError::Internal(m) => {
                tracing::error!(error = %m, "internal error");
                Status::internal("internal error")
            }
        }
    }
}
