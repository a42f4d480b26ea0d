//! The per-replica change map and the validity rule of a cached decision.

use std::collections::HashMap;

use guichet_domain::Revision;
use guichet_store::changes::{ALL, NARROW, TREE_PREFIX};

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
        // The log is in revision order: one write's scopes are together.
        let mut rest = changes;
        while let Some((first, _)) = rest.first() {
            let n = rest.iter().take_while(|(r, _)| r == first).count();
            let (write, tail) = rest.split_at(n);
            self.note_write(first.value(), write.iter().map(|(_, s)| s.as_str()));
            rest = tail;
        }
        self.applied = self.applied.max(latest.value());
        self.bound();
    }

    /// Marks scopes changed at `revision` (a pub/sub message, possibly ahead of the log): only
    /// ever invalidates more; it does not advance `applied`.
    pub fn mark(&mut self, revision: Revision, scopes: &[String]) {
        self.note_write(revision.value(), scopes.iter().map(String::as_str));
        self.bound();
    }

    /// Notes the scopes of one write. A `tree:` scope is for replicas of the previous build: it is
    /// skipped when the write carries the marker of narrow scopes, and taken as `*` when it does
    /// not (a previous-build writer, whose narrow facts are unknown).
    fn note_write<'a>(&mut self, revision: u64, scopes: impl Iterator<Item = &'a str> + Clone) {
        let narrow = scopes.clone().any(|s| s == NARROW);
        for scope in scopes {
            if scope == NARROW {
                continue;
            }
            if scope.starts_with(TREE_PREFIX) {
                if !narrow {
                    self.note(revision, ALL);
                }
                continue;
            }
            self.note(revision, scope);
        }
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
        assert!(!m.is_valid(r(9), &deps(&["acct:a"])));
        assert!(m.is_valid(r(10), &deps(&["acct:a"])));
    }

    #[test]
    fn a_change_to_a_dependency_after_the_decision_invalidates_it() {
        let mut m = ChangeMap::new(r(10), 100);
        m.apply(r(12), &[(r(12), "acct:a".to_owned())], false);
        assert_eq!(m.applied(), r(12));
        assert!(!m.is_valid(r(11), &deps(&["acct:a", "user:u"])));
        assert!(m.is_valid(r(12), &deps(&["acct:a", "user:u"])));
        // Another tenant's decisions stay valid.
        assert!(m.is_valid(r(10), &deps(&["acct:b", "user:v"])));
    }

    #[test]
    fn a_user_change_invalidates_that_users_decisions_only() {
        let mut m = ChangeMap::new(r(0), 100);
        m.apply(r(3), &[(r(3), "user:u".to_owned())], false);
        assert!(!m.is_valid(r(2), &deps(&["acct:a", "user:u"])));
        assert!(m.is_valid(r(2), &deps(&["acct:a", "user:v"])));
    }

    #[test]
    fn the_all_scope_invalidates_everything_before_it() {
        let mut m = ChangeMap::new(r(0), 100);
        m.apply(r(5), &[(r(5), ALL.to_owned())], false);
        assert!(!m.is_valid(r(4), &deps(&["acct:a"])));
        assert!(m.is_valid(r(5), &deps(&["acct:a"])));
    }

    #[test]
    fn a_truncated_log_raises_the_floor() {
        let mut m = ChangeMap::new(r(0), 100);
        m.apply(r(50), &[], true);
        assert_eq!(m.floor(), r(50));
        assert!(!m.is_valid(r(49), &deps(&["acct:a"])));
        assert!(m.is_valid(r(50), &deps(&["acct:a"])));
    }

    #[test]
    fn too_many_scopes_raise_the_floor_instead_of_growing() {
        let mut m = ChangeMap::new(r(0), 2);
        let changes: Vec<(Revision, String)> = (1..=3).map(|i| (r(i), format!("acct:{i}"))).collect();
        m.apply(r(3), &changes, false);
        assert!(m.is_empty());
        assert_eq!(m.floor(), r(3));
        assert!(!m.is_valid(r(2), &deps(&["acct:x"])));
    }

    #[test]
    fn a_pubsub_mark_invalidates_without_advancing() {
        let mut m = ChangeMap::new(r(0), 100);
        m.mark(r(7), &deps(&["acct:a"]));
        assert_eq!(m.applied(), r(0));
        assert!(!m.is_valid(r(6), &deps(&["acct:a"])));
        // A mark older than the floor is dropped: decisions before the floor are invalid anyway.
        let mut m = ChangeMap::new(r(10), 100);
        m.mark(r(9), &deps(&["acct:a"]));
        assert!(m.is_empty());
    }

    #[test]
    fn a_previous_builds_tree_scope_invalidates_everything_and_this_builds_is_skipped() {
        // A write of this build: its narrow scopes count, its tree scope (for the previous build's
        // replicas) does not.
        let mut m = ChangeMap::new(r(0), 100);
        let write = [(r(4), "tree:p".to_owned()), (r(4), "user:u".to_owned()), (r(4), NARROW.to_owned())];
        m.apply(r(4), &write, false);
        assert!(!m.is_valid(r(3), &deps(&["acct:c1", "user:u"])));
        assert!(m.is_valid(r(3), &deps(&["acct:c1", "user:v"])));
        // A write of the previous build (no marker): its facts are unknown, every decision before
        // it is invalid.
        m.apply(r(5), &[(r(5), "tree:p".to_owned())], false);
        assert!(!m.is_valid(r(4), &deps(&["acct:c1", "user:v"])));
        assert!(m.is_valid(r(5), &deps(&["acct:c1", "user:v"])));
        // The same through pub/sub.
        m.mark(r(7), &deps(&["tree:q", "acct:q", NARROW]));
        assert!(m.is_valid(r(5), &deps(&["acct:c1"])));
        m.mark(r(8), &deps(&["tree:q"]));
        assert!(!m.is_valid(r(7), &deps(&["acct:c1"])));
    }
}
