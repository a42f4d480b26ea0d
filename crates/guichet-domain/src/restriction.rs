//! Which resources of its account a membership reaches, and at what level on each.
//!
//! A membership is **unrestricted** (`Option<Restriction>` is `None`): its roles give their levels
//! on every resource of the account. Or it is **restricted** to a [`Restriction`]: it reaches only
//! the resources listed, each with a **level cap** — `full` (the roles' levels, unchanged: what a
//! restriction always meant) or `view` (the roles' levels, at most `view`, on that resource).
//!
//! So "Anne may view the 2025 accounts folder and edit the payroll folder" is one membership with
//! a role giving `documents:full` and the restriction `{2025: view, payroll: full}`: on `2025`
//! her level is `min(full, view) = view`, on `payroll` it is `full`, and she reaches no other
//! folder.
//!
//! **The rule:** a cap only lowers. A membership's level on a resource is
//! `min(role level, cap)`; a cap never gives a feature the roles do not give, and never raises a
//! level above the roles' (a `view` folder of a membership whose role has `documents:none` gives
//! nothing). A cap is `view` or `full` — `none` is not a cap: a resource the membership must not
//! reach is simply not listed. Caps apply on resource checks only: a check about the account at
//! large (no resource) gets the roles' levels, as for any restricted membership.

use std::collections::BTreeMap;

use crate::ids::ResourceId;
use crate::level::Level;

/// The resources a restricted membership reaches, each with its level cap (`view` or `full`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Hash)]
pub struct Restriction(BTreeMap<ResourceId, Level>);

impl Restriction {
    /// No resource at all.
    pub fn new() -> Self {
        Restriction(BTreeMap::new())
    }

    /// Reaches `resource` with the cap `level`; `none` removes it (it is then not reached), and a
    /// later insert replaces an earlier one.
    pub fn insert(&mut self, resource: ResourceId, level: Level) {
        if level == Level::None {
            self.0.remove(&resource);
        } else {
            self.0.insert(resource, level);
        }
    }

    /// The cap on `resource`, or `None` when the membership does not reach it.
    pub fn cap(&self, resource: &ResourceId) -> Option<Level> {
        self.0.get(resource).copied()
    }

    /// Whether `resource` is reached (at any level).
    pub fn contains(&self, resource: &ResourceId) -> bool {
        self.0.contains_key(resource)
    }

    /// The resources reached, in id order, with their caps.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&ResourceId, Level)> + '_ {
        self.0.iter().map(|(r, l)| (r, *l))
    }

    /// The resources reached, in id order.
    pub fn ids(&self) -> impl ExactSizeIterator<Item = &ResourceId> + '_ {
        self.0.keys()
    }

    /// How many resources are reached.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no resource is reached.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether some resource is capped below `full`.
    pub fn has_caps(&self) -> bool {
        self.0.values().any(|l| *l < Level::Full)
    }

    /// Keeps only the resources for which `keep` is true.
    pub fn retain(&mut self, mut keep: impl FnMut(&ResourceId) -> bool) {
        self.0.retain(|r, _| keep(r));
    }

    /// The level a role level gives on `resource` through this restriction:
    /// `min(level, cap)`, or `none` when the resource is not reached.
    pub fn level_on(&self, resource: &ResourceId, level: Level) -> Level {
        self.cap(resource).map_or(Level::None, |cap| level.min(cap))
    }
}

/// Every resource at the roles' levels (cap `full`): a restriction as it was before caps.
impl FromIterator<ResourceId> for Restriction {
    fn from_iter<I: IntoIterator<Item = ResourceId>>(iter: I) -> Self {
        Restriction(iter.into_iter().map(|r| (r, Level::Full)).collect())
    }
}

impl FromIterator<(ResourceId, Level)> for Restriction {
    fn from_iter<I: IntoIterator<Item = (ResourceId, Level)>>(iter: I) -> Self {
        let mut restriction = Restriction::new();
        for (r, l) in iter {
            restriction.insert(r, l);
        }
        restriction
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(id: &str) -> ResourceId {
        ResourceId::from_trusted(id.to_owned())
    }

    #[test]
    fn a_cap_only_lowers_and_an_unlisted_resource_gives_nothing() {
        let restriction: Restriction = [(r("2025"), Level::View), (r("payroll"), Level::Full)].into_iter().collect();
        assert_eq!(restriction.level_on(&r("2025"), Level::Full), Level::View);
        assert_eq!(restriction.level_on(&r("2025"), Level::None), Level::None);
        assert_eq!(restriction.level_on(&r("payroll"), Level::Full), Level::Full);
        assert_eq!(restriction.level_on(&r("payroll"), Level::View), Level::View);
        assert_eq!(restriction.level_on(&r("legal"), Level::Full), Level::None);
        assert!(restriction.has_caps());
    }

    #[test]
    fn ids_alone_mean_the_roles_levels_and_none_removes() {
        let mut restriction: Restriction = [r("a"), r("b")].into_iter().collect();
        assert!(!restriction.has_caps());
        assert_eq!(restriction.cap(&r("a")), Some(Level::Full));
        restriction.insert(r("a"), Level::None);
        assert!(!restriction.contains(&r("a")));
        assert_eq!(restriction.len(), 1);
    }
}
