//! The per-replica change map and the validity rule of a cached decision.

use std::collections::HashMap;

use guichet_domain::Revision;
use guichet_store::changes::ALL;

/// What this replica knows of the writes: every scope changed in `(floor, applied]`, with the
/// latest revision that changed it.
#[derive(Debug, Clone)]
pub struct ChangeMap {
    floor: u64,
    applied: u64,
    last: HashMap<String, u64>,
    max_scopes: usize,
}

impl ChangeMap {
    /// A map that knows nothing before `start`: every decision made before it is invalid.
    pub fn new(start: Revision, max_scopes: usize) -> Self {
        Self { floor: start.value(), applied: start.value(), last: HashMap::new(), max_scopes }
    }

    /// The revision up to which every change is known.
    pub fn applied(&self) -> Revision {
        Revision::new(self.applied)
    }

    /// The revision before which no decision is trusted.
    pub fn floor(&self) -> Revision {
        Revision::new(self.floor)
    }

    /// How many scopes are tracked.
    pub fn len(&self) -> usize {
        self.last.len()
    }

    /// Whether no scope is tracked.
    pub fn is_empty(&self) -> bool {
        self.last.is_empty()
    }

    fn note(&mut self, revision: u64, scope: &str) {
        if revision <= self.floor {
            return;
        }
        match self.last.get_mut(scope) {
            Some(r) => *r = (*r).max(revision),
            None => {
                self.last.insert(scope.to_owned(), revision);
            }
        }
    }

    fn bound(&mut self) {
        if self.last.len() > self.max_scopes {
            // Forget the details: every decision made before `applied` becomes invalid.
            self.floor = self.applied.max(self.floor);
            self.last.clear();
        }
    }

    /// Applies what the change log says: every change up to `latest` is in `changes`, unless
    /// `truncated`, in which case everything up to `latest` counts as changed.
    pub fn apply(&mut self, latest: Revision, changes: &[(Revision, String)], truncated: bool) {
        if truncated {
            self.floor = self.floor.max(latest.value());
            self.applied = self.applied.max(latest.value());
            self.last.clear();
            return;
        }
        for (r, scope) in changes {
            self.note(r.value(), scope);
        }
        self.applied = self.applied.max(latest.value());
        self.bound();
    }

    /// Marks scopes changed at `revision` (a pub/sub message, possibly ahead of the log): only
    /// ever invalidates more; it does not advance `applied`.
    pub fn mark(&mut self, revision: Revision, scopes: &[String]) {
        for s in scopes {
            self.note(revision.value(), s);
        }
        self.bound();
    }

    /// Whether a decision evaluated at `revision` over facts of the `deps` scopes is still the
    /// decision at `applied`: it is not older than the floor, and none of its scopes (nor `*`)
    /// changed after it.
    pub fn is_valid(&self, revision: Revision, deps: &[String]) -> bool {
        let s = revision.value();
        s >= self.floor
            && self.last.get(ALL).is_none_or(|r| *r <= s)
            && deps.iter().all(|d| self.last.get(d.as_str()).is_none_or(|r| *r <= s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(n: u64) -> Revision {
        Revision::new(n)
    }

    fn deps(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn a_decision_older_than_the_floor_is_invalid() {
        let m = ChangeMap::new(r(10), 100);
        assert!(!m.is_valid(r(9), &deps(&["tree:a"])));
        assert!(m.is_valid(r(10), &deps(&["tree:a"])));
    }

    #[test]
    fn a_change_to_a_dependency_after_the_decision_invalidates_it() {
        let mut m = ChangeMap::new(r(10), 100);
        m.apply(r(12), &[(r(12), "tree:a".to_owned())], false);
        assert_eq!(m.applied(), r(12));
        assert!(!m.is_valid(r(11), &deps(&["tree:a", "user:u"])));
        assert!(m.is_valid(r(12), &deps(&["tree:a", "user:u"])));
        // Another tenant's decisions stay valid.
        assert!(m.is_valid(r(10), &deps(&["tree:b", "user:v"])));
    }

    #[test]
    fn a_user_change_invalidates_that_users_decisions_only() {
        let mut m = ChangeMap::new(r(0), 100);
        m.apply(r(3), &[(r(3), "user:u".to_owned())], false);
        assert!(!m.is_valid(r(2), &deps(&["tree:a", "user:u"])));
        assert!(m.is_valid(r(2), &deps(&["tree:a", "user:v"])));
    }

    #[test]
    fn the_all_scope_invalidates_everything_before_it() {
        let mut m = ChangeMap::new(r(0), 100);
        m.apply(r(5), &[(r(5), ALL.to_owned())], false);
        assert!(!m.is_valid(r(4), &deps(&["tree:a"])));
        assert!(m.is_valid(r(5), &deps(&["tree:a"])));
    }

    #[test]
    fn a_truncated_log_raises_the_floor() {
        let mut m = ChangeMap::new(r(0), 100);
        m.apply(r(50), &[], true);
        assert_eq!(m.floor(), r(50));
        assert!(!m.is_valid(r(49), &deps(&["tree:a"])));
        assert!(m.is_valid(r(50), &deps(&["tree:a"])));
    }

    #[test]
    fn too_many_scopes_raise_the_floor_instead_of_growing() {
        let mut m = ChangeMap::new(r(0), 2);
        let changes: Vec<(Revision, String)> = (1..=3).map(|i| (r(i), format!("tree:{i}"))).collect();
        m.apply(r(3), &changes, false);
        assert!(m.is_empty());
        assert_eq!(m.floor(), r(3));
        assert!(!m.is_valid(r(2), &deps(&["tree:x"])));
    }

    #[test]
    fn a_pubsub_mark_invalidates_without_advancing() {
        let mut m = ChangeMap::new(r(0), 100);
        m.mark(r(7), &deps(&["tree:a"]));
        assert_eq!(m.applied(), r(0));
        assert!(!m.is_valid(r(6), &deps(&["tree:a"])));
        // A mark older than the floor is dropped: decisions before the floor are invalid anyway.
        let mut m = ChangeMap::new(r(10), 100);
        m.mark(r(9), &deps(&["tree:a"]));
        assert!(m.is_empty());
    }
}
