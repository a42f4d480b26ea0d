//! Access: CheckAccess, CheckAccessBatch and ExplainAccess (`check`), through the decision caches
//! of [`crate::cache`], and the store breaker on the check path. A check's answer is a domain
//! [`Answer`]: the gRPC and AuthZEN edges convert it, the caches keep it as it is.

use guichet_domain::{
    AccessRequest, AccountId, Answer, CacheTier, Consistency, Decision, Freshness, Operation, Revision, Suggestion,
    Timestamp, UserId, evaluate, suggest,
};

use super::{App, Call};
use crate::cache::{self, DecisionCache, Tier};
use crate::error::ServerError;

/// A decision and the revision it was evaluated at.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The decision, with every path considered.
    pub decision: Decision,
    /// The revision of the facts.
    pub revision: Revision,
    /// The account chain, target first.
    pub chain: Vec<AccountId>,
}

/// An ExplainAccess answer: the decision, and what would grant it.
#[derive(Debug, Clone)]
pub struct Explained {
    /// The decision, its revision and chain.
    pub checked: Checked,
    /// On a deny, the suggestions (see `guichet_domain::suggest`); `Err`: withheld, and why.
    pub suggestions: Result<Vec<Suggestion>, String>,
}

/// Who reads ExplainAccess's suggestions.
#[derive(Debug, Clone, Copy)]
pub struct Reader<'a> {
    /// The person the calling service asks for, when named: they must hold `users:view` in the
    /// account.
    pub actor: Option<&'a UserId>,
    /// Without an actor: whether the calling service may read the management API (the `admin`
    /// scope, or the open development listener).
    pub service_admin: bool,
}

/// An account where the subject holds a permission.
#[derive(Debug, Clone)]
pub struct Accessible {
    /// The account.
    pub account: AccountId,
    /// The decision there.
    pub decision: Decision,
}

/// The error of an `at_least_as_fresh` token newer than the store's latest revision.
fn token_from_the_future(wanted: Revision, current: Revision) -> ServerError {
    ServerError::invalid(
        "consistency.at_least_as_fresh",
        format!("revision {wanted} is newer than the store's latest ({current}): use a token guichet returned"),
    )
}

/// The tier an answer was served from.
fn served_from(tier: Tier) -> CacheTier {
    match tier {
        Tier::Local => CacheTier::Local,
        Tier::Shared => CacheTier::Shared,
    }
}

impl App {
    /// Refuses an `at_least_as_fresh` token newer than the store's latest revision.
    pub(super) async fn check_revision(&self, consistency: Consistency) -> Result<(), ServerError> {
        if let Consistency::AtLeastAsFresh(wanted) = consistency {
            let current = self.store.revision().await?;
            if wanted > current {
                return Err(token_from_the_future(wanted, current));
            }
        }
        Ok(())
    }

    /// Makes the caches know every change committed before the call (see [`crate::cache`]) and,
    /// for `at_least_as_fresh`, every change up to the token, which must be one guichet returned.
    async fn cache_fresh(cache: &DecisionCache, consistency: Consistency) -> Result<(), ServerError> {
        let known = cache.fresh().await?;
        if let Consistency::AtLeastAsFresh(wanted) = consistency
            && wanted > known
        {
            // A token newer than what this replica knows: learn the latest revision.
            let current = cache.fence().await?;
            if wanted > current {
                return Err(token_from_the_future(wanted, current));
            }
        }
        Ok(())
    }

    /// Runs a store call of the check path through the store breaker (see [`cache::breaker`]):
    /// `UNAVAILABLE` at once while the store is known to be unreachable.
    pub(crate) async fn guarded<T>(
        &self,
        call: impl Future<Output = Result<T, ServerError>>,
    ) -> Result<T, ServerError> {
        match &self.cache {
            Some(cache) => cache.breaker().guard(call).await,
            None => call.await,
        }
    }

    /// `UNAVAILABLE` at once while the store breaker is open (for calls that read the store
    /// through several statements: lookups).
    pub(crate) fn fail_fast(&self) -> Result<(), ServerError> {
        match &self.cache {
            Some(cache) if cache.breaker().is_open() => {
                Err(ServerError::Unavailable("the store is unreachable (breaker open)".to_owned()))
            }
            Some(_) | None => Ok(()),
        }
    }

    /// The answers of a batch while the store cannot be reached (`why`): from the cache tiers,
    /// marked stale, when the operator allows it (`cache.serve_stale_when_store_down_ms`), this
    /// replica confirmed what it knows within that bound, a token asked for is one it had
    /// confirmed, and every item is in a tier; UNAVAILABLE otherwise.
    async fn answer_stale(
        cache: &DecisionCache,
        clock: &dyn crate::clock::Clock,
        requests: &[AccessRequest],
        consistency: Consistency,
        why: String,
    ) -> Result<(Vec<Answer>, Revision), ServerError> {
        let bound = cache.serve_stale_bound();
        let age = cache.confirmed_age();
        if bound.is_zero() || age > bound {
            return Err(ServerError::Unavailable(why));
        }
        let min = match consistency {
            Consistency::AtLeastAsFresh(r) if r > cache.applied() => return Err(ServerError::Unavailable(why)),
            Consistency::AtLeastAsFresh(r) => Some(r),
            Consistency::MinimizeLatency => None,
            Consistency::FullyConsistent => return Err(ServerError::Unavailable(why)),
        };
        let staleness_ms = u64::try_from(age.as_millis()).unwrap_or(u64::MAX);
        let now = clock.now();
        let mut answers = Vec::with_capacity(requests.len());
        let mut revision = Revision::ZERO;
        for r in requests {
            let Some((e, tier)) = cache.lookup(&cache::key(r), min, now).await else {
                return Err(ServerError::Unavailable(format!("{why}; the decision is not in a cache tier")));
            };
            let mut answer = e.answer.clone();
            answer.tier = served_from(tier);
            answer.freshness = Freshness::Stale { staleness_ms };
            revision = revision.max(e.revision);
            answers.push(answer);
        }
        cache.served_stale(answers.len() as u64, age);
        Ok((answers, revision))
    }

    /// Decides one request. Every answer is read from the store at its latest revision, so it is
    /// at least as fresh as any token and any completed write.
    pub async fn check(&self, request: &AccessRequest, consistency: Consistency) -> Result<Checked, ServerError> {
        self.guarded(self.check_revision(consistency)).await?;
        let (facts, revision) = self.guarded(async { Ok(self.store.load_facts(request).await?) }).await?;
        let decision = evaluate(&self.catalog, request, &facts, self.clock.now());
        let chain = facts.chain.iter().map(|a| a.id.clone()).collect();
        Ok(Checked { decision, revision, chain })
    }

    /// Answers ExplainAccess: the decision, read from the store at its latest revision, and on a
    /// deny what would grant it and who may make that change — when `reader` may read the
    /// account's roles and members (an actor holding `users:view` there, as the rule book says for
    /// listing memberships; without an actor, a service with the `admin` scope), else withheld
    /// with the reason. The decision and the suggestions are made on facts of one revision.
    pub async fn explain(
        &self,
        request: &AccessRequest,
        consistency: Consistency,
        reader: Reader<'_>,
    ) -> Result<Explained, ServerError> {
        let withheld = match reader.actor {
            Some(actor) => {
                let call = Call { actor: Some(actor.clone()), ..Call::default() };
                let op = Operation::ViewMemberships { account: request.account.clone(), user: None };
                match self.guarded(self.admit(&call, &op)).await {
                    Ok(()) => None,
                    Err(ServerError::NotFound { .. } | ServerError::PermissionDenied { .. }) => Some(format!(
                        "actor {actor} does not hold users:view in account {}: suggestions name the account's roles and members",
                        request.account
                    )),
                    Err(e) => return Err(e),
                }
            }
            None if reader.service_admin => None,
            None => Some(
                "the calling service holds only the check scope: name an actor holding users:view in the account \
                 (actor_id), or call with a service holding the admin scope"
                    .to_owned(),
            ),
        };
        if let Some(why) = withheld {
            let checked = self.check(request, consistency).await?;
            return Ok(Explained { checked, suggestions: Err(why) });
        }
        self.guarded(self.check_revision(consistency)).await?;
        let (facts, view, revision) =
            self.guarded(async { Ok(self.store.load_suggestion_facts(request).await?) }).await?;
        let now = self.clock.now();
        let decision = evaluate(&self.catalog, request, &facts, now);
        let suggestions =
            if decision.allowed { Vec::new() } else { suggest(&self.catalog, request, &facts, &view, now) };
        let chain = facts.chain.iter().map(|a| a.id.clone()).collect();
        Ok(Explained { checked: Checked { decision, revision, chain }, suggestions: Ok(suggestions) })
    }

    /// Answers CheckAccess: from a cache tier when a valid entry exists (after the fence, see
    /// [`crate::cache`]), else from the store, keeping the answer in the caches. The same steps as
    /// [`App::check_access_batch`] for one request, without the batch's vectors on a hit.
    pub async fn check_access(&self, request: &AccessRequest, consistency: Consistency) -> Result<Answer, ServerError> {
        let now = self.clock.now();
        let one = std::slice::from_ref(request);
        match self.fresh_cache(one, consistency).await? {
            Fresh::Cache(cache) => {
                if let Some(answer) = Self::hit(cache, request, consistency, now).await {
                    return Ok(answer);
                }
            }
            Fresh::NoCache => {}
            Fresh::Stale(mut answers, _) => return answers.pop().ok_or_else(Self::unanswered),
        }
        self.decide(&[request], now).await?.pop().ok_or_else(Self::unanswered)
    }

    /// Answers CheckAccessBatch: hits from the cache tiers, and the facts of every miss read in
    /// one store transaction. The answers keep the order of the requests; the revision is the
    /// highest of theirs.
    pub async fn check_access_batch(
        &self,
        requests: &[AccessRequest],
        consistency: Consistency,
    ) -> Result<(Vec<Answer>, Revision), ServerError> {
        // One instant for the whole batch: the hits are valid at it, the misses decided at it.
        let now = self.clock.now();
        let mut out: Vec<Option<Answer>> = vec![None; requests.len()];
        let mut misses: Vec<usize> = Vec::new();
        match self.fresh_cache(requests, consistency).await? {
            Fresh::Cache(cache) => {
                for (i, r) in requests.iter().enumerate() {
                    match Self::hit(cache, r, consistency, now).await {
                        Some(answer) => out[i] = Some(answer),
                        None => misses.push(i),
                    }
                }
            }
            Fresh::NoCache => misses.extend(0..requests.len()),
            Fresh::Stale(answers, revision) => return Ok((answers, revision)),
        }
        if !misses.is_empty() {
            let wanted: Vec<&AccessRequest> = misses.iter().filter_map(|i| requests.get(*i)).collect();
            for (i, answer) in misses.iter().zip(self.decide(&wanted, now).await?) {
                out[*i] = Some(answer);
            }
        }
        let mut revision = Revision::ZERO;
        let mut answers = Vec::with_capacity(out.len());
        for answer in out {
            let answer = answer.ok_or_else(Self::unanswered)?;
            revision = revision.max(answer.revision);
            answers.push(answer);
        }
        Ok((answers, revision))
    }

    /// The first step of a check: with the caches (unless `fully_consistent`), make them know
    /// every change committed before the call — or, when the store cannot be reached, the stale
    /// answers the operator allows (see [`App::answer_stale`]); without, refuse a token from the
    /// future.
    async fn fresh_cache(
        &self,
        requests: &[AccessRequest],
        consistency: Consistency,
    ) -> Result<Fresh<'_>, ServerError> {
        let Some(cache) = self.cache.as_deref().filter(|_| consistency != Consistency::FullyConsistent) else {
            self.guarded(self.check_revision(consistency)).await?;
            return Ok(Fresh::NoCache);
        };
        // Not `guarded`: the fence query is (in the fence runner), and a check waiting for it is
        // released with the query's UNAVAILABLE the moment the breaker opens; racing the breaker
        // here too would cost every check that waits for a fence a watch of its own.
        let fresh = match self.fail_fast() {
            Ok(()) => Self::cache_fresh(cache, consistency).await,
            Err(e) => Err(e),
        };
        match fresh {
            Ok(()) => Ok(Fresh::Cache(cache)),
            Err(ServerError::Unavailable(why)) => {
                let (answers, revision) =
                    Self::answer_stale(cache, self.clock.as_ref(), requests, consistency, why).await?;
                Ok(Fresh::Stale(answers, revision))
            }
            Err(e) => Err(e),
        }
    }

    /// A valid cached answer of `request` at `now`, marked with the tier it came from.
    async fn hit(
        cache: &DecisionCache,
        request: &AccessRequest,
        consistency: Consistency,
        now: Timestamp,
    ) -> Option<Answer> {
        let min = match consistency {
            Consistency::AtLeastAsFresh(r) => Some(r),
            Consistency::MinimizeLatency | Consistency::FullyConsistent => None,
        };
        let (e, tier) = cache.lookup(&cache::key(request), min, now).await?;
        let mut answer = e.answer.clone();
        answer.tier = served_from(tier);
        Some(answer)
    }

    /// Decides `requests` on facts read in one store transaction at its latest revision, keeping
    /// each answer in the caches.
    async fn decide(&self, requests: &[&AccessRequest], now: Timestamp) -> Result<Vec<Answer>, ServerError> {
        // Boxed: the store's future is some 3 KB, and inline it would make every check's
        // future (boxed and moved per call by tonic) that large, hits included.
        let load = async { Ok(Box::pin(self.store.load_facts_many(requests)).await?) };
        let (facts, revision) = self.guarded(load).await?;
        let mut answers = Vec::with_capacity(requests.len());
        for (request, facts) in requests.iter().zip(facts) {
            let decision = evaluate(&self.catalog, request, &facts, now);
            let answer = Answer::new(&decision, revision);
            if let Some(cache) = &self.cache
                && let Some(entry) = cache::Entry::new(&facts, request, revision, answer.clone(), decision.valid_until)
            {
                cache.insert(cache::key(request), entry, now).await;
            }
            answers.push(answer);
        }
        Ok(answers)
    }

    fn unanswered() -> ServerError {
        ServerError::Internal("a check was not answered".to_owned())
    }
}

/// Where a check's answers come from after [`App::fresh_cache`].
enum Fresh<'a> {
    /// The caches, known fresh: hits from them, misses from the store.
    Cache(&'a DecisionCache),
    /// No cache (or `fully_consistent`): every answer from the store.
    NoCache,
    /// The store is unreachable: these stale answers, allowed by the operator, and the highest
    /// of their revisions.
    Stale(Vec<Answer>, Revision),
}
