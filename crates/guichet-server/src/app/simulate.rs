//! SimulateChanges: a preview of management operations, without writing. The store reads the
//! snapshot at one revision (`Store::load_snapshot`); the domain answers each operation as its RPC
//! would and computes the effect (`guichet_domain::simulate`, whose module docs state the rules);
//! here a refusal becomes the [`ServerError`] its RPC would return.

use guichet_domain::{Denial, Revision, SimOp, Simulation, simulate};

use super::{App, Call};
use crate::error::ServerError;

/// A preview: each operation's answer (as its RPC would give it), the effects, the revision read.
#[derive(Debug)]
pub struct Previewed {
    /// One per operation: `Ok` when allowed, else the error its RPC would return.
    pub outcomes: Vec<Result<(), ServerError>>,
    /// The effects and their count.
    pub simulation: Simulation,
    /// The revision the preview read.
    pub revision: Revision,
}

/// The error the operation's RPC would return for `denial`.
fn error_of(call: &Call, denial: Denial) -> ServerError {
    match denial {
        Denial::Refused(r) => r.into(),
        Denial::Violation { subject, violation } => ServerError::Rule {
            actor: call.actor.as_ref().map(ToString::to_string),
            subject,
            violation: Box::new(violation),
        },
        Denial::Precondition { kind, subject, description } => {
            ServerError::FailedPrecondition { kind, subject, description }
        }
        Denial::NotFound { entity, id } => ServerError::NotFound { entity, id },
        Denial::AlreadyExists { entity, id } => ServerError::AlreadyExists { entity, id },
        Denial::Invalid(violations) => ServerError::InvalidArgument(violations),
    }
}

impl App {
    /// Previews `ops` for the call's actor (see the module docs). `names` gives each operation's
    /// field name, to place an invalid input (`operations[2].update_role.name`).
    pub async fn simulate_changes(
        &self,
        call: &Call,
        ops: &[SimOp],
        names: impl Fn(&SimOp) -> &'static str,
        limit: usize,
    ) -> Result<Previewed, ServerError> {
        let mut named = guichet_domain::Named::default();
        for op in ops {
            let n = op.names();
            named.accounts.extend(n.accounts);
            named.users.extend(n.users);
            named.memberships.extend(n.memberships);
            named.delegations.extend(n.delegations);
        }
        let (snapshot, revision) = self.store.load_snapshot(&named).await?;
        let simulation = simulate(&self.catalog, &snapshot, call.actor.as_ref(), ops, limit, self.clock.now())
            .map_err(|(i, violations)| {
                let name = ops.get(i).map_or("operation", &names);
                ServerError::InvalidArgument(
                    violations
                        .into_iter()
                        .map(|mut v| {
                            v.field = format!("operations[{i}].{name}.{}", v.field);
                            v
                        })
                        .collect(),
                )
            })?;
        let outcomes = simulation.outcomes.iter().map(|o| o.clone().map_err(|d| error_of(call, d))).collect();
        Ok(Previewed { outcomes, simulation, revision })
    }
}
