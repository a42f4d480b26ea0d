//! Levels, permissions and grants.
//!
//! A level is **none < view < full** (seed 000: *Aucun*, *Affichage uniquement*, *Accès complet*);
//! `view` is satisfied by `full`. A permission is what a check asks for, `feature:level`, e.g.
//! `billing:view`; it never asks for `none`.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use crate::error::ParseError;
use crate::ids::FeatureName;

/// How much of a feature someone may use: none < view < full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// No access (*Aucun*).
    #[default]
    None,
    /// Read only (*Affichage uniquement*).
    View,
    /// Read and change (*Accès complet*).
    Full,
}

impl Level {
    /// Every level, lowest first.
    pub const ALL: [Level; 3] = [Level::None, Level::View, Level::Full];

    /// Reads `none`, `view` or `full`, in any case.
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        if s.eq_ignore_ascii_case("none") {
            Ok(Level::None)
        } else if s.eq_ignore_ascii_case("view") {
            Ok(Level::View)
        } else if s.eq_ignore_ascii_case("full") {
            Ok(Level::Full)
        } else {
            Err(ParseError::new("must be none, view or full"))
        }
    }

    /// `none`, `view` or `full`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Level::None => "none",
            Level::View => "view",
            Level::Full => "full",
        }
    }

    /// Whether this level reaches `required`: `full` satisfies `view`; everything satisfies `none`.
    pub fn satisfies(self, required: Level) -> bool {
        self >= required
    }
}

impl FromStr for Level {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, ParseError> {
        Self::parse(s)
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Feature → level: what a role grants. A feature that is absent is [`Level::None`]; an explicit
/// `none` is allowed and means the same (it documents an intentional exclusion).
pub type Grants = BTreeMap<FeatureName, Level>;

/// The level `grants` give on `feature` (`none` when absent).
pub fn level_in(grants: &Grants, feature: &str) -> Level {
    grants.get(feature).copied().unwrap_or(Level::None)
}

/// Whether every level in `grants` is at most the level `ceiling` gives on that feature: an
/// inviter cannot hand out more than it holds.
pub fn grants_within(grants: &Grants, ceiling: &Grants) -> bool {
    grants.iter().all(|(feature, level)| *level <= level_in(ceiling, feature.as_str()))
}

/// The highest level per feature over several grants (what a member holding several roles holds).
pub fn merge_grants<'a>(all: impl IntoIterator<Item = &'a Grants>) -> Grants {
    let mut out = Grants::new();
    for grants in all {
        for (feature, level) in grants {
            let entry = out.entry(feature.clone()).or_insert(Level::None);
            if *level > *entry {
                *entry = *level;
            }
        }
    }
    out
}

/// What a check asks for: a feature at `view` or `full`, written `feature:level`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Permission {
    /// The feature.
    pub feature: FeatureName,
    /// The level required: `view` or `full`, never `none`.
    pub level: Level,
}

impl Permission {
    /// A permission from its parts; `none` is refused.
    pub fn new(feature: FeatureName, level: Level) -> Result<Self, ParseError> {
        if level == Level::None {
            return Err(ParseError::new("a permission requires view or full"));
        }
        Ok(Self { feature, level })
    }

    /// Reads `feature:level`, e.g. `billing:view`. The level is case-insensitive; the feature is a
    /// snake-case name.
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let Some((feature, level)) = s.split_once(':') else {
            return Err(ParseError::new("expected feature:level, e.g. billing:view"));
        };
        let feature = FeatureName::parse(feature)
            .map_err(|e| ParseError::new(format!("the feature of a permission {e}, e.g. billing:view")))?;
        let level = Level::parse(level)
            .map_err(|_| ParseError::new("the level of a permission must be view or full, e.g. billing:view"))?;
        Self::new(feature, level)
    }
}

crate::error::parsed_from_text!(Permission);

impl From<Permission> for String {
    fn from(p: Permission) -> String {
        p.to_string()
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.feature, self.level)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(s: &str) -> FeatureName {
        FeatureName::parse(s).unwrap()
    }

    #[test]
    fn levels_are_ordered_and_parsed() {
        assert!(Level::None < Level::View && Level::View < Level::Full);
        assert_eq!(Level::parse("FULL"), Ok(Level::Full));
        assert_eq!(Level::parse("View"), Ok(Level::View));
        assert_eq!(Level::parse("none"), Ok(Level::None));
        assert_eq!(Level::parse("admin").map_err(|e| e.to_string()), Err("must be none, view or full".to_owned()));
        assert_eq!(serde_json::to_string(&Level::View).unwrap(), "\"view\"");
        assert_eq!(serde_json::from_str::<Level>("\"full\"").unwrap(), Level::Full);
        assert_eq!(Level::Full.to_string(), "full");
    }

    /// Seed 000: view is satisfied by full; none satisfies nothing but none.
    #[test]
    fn satisfies_follows_none_view_full() {
        let table = [
            (Level::None, Level::View, false),
            (Level::None, Level::Full, false),
            (Level::View, Level::View, true),
            (Level::View, Level::Full, false),
            (Level::Full, Level::View, true),
            (Level::Full, Level::Full, true),
            (Level::None, Level::None, true),
        ];
        for (held, required, expected) in table {
            assert_eq!(held.satisfies(required), expected, "{held} satisfies {required}");
        }
    }

    #[test]
    fn permissions_parse_table() {
        let ok = [("billing:view", "billing", Level::View), ("voip_911:FULL", "voip_911", Level::Full)];
        for (s, feature, level) in ok {
            assert_eq!(Permission::parse(s), Ok(Permission { feature: f(feature), level }), "{s}");
        }
        let bad = [
            ("billing", "expected feature:level, e.g. billing:view"),
            ("", "expected feature:level, e.g. billing:view"),
            ("billing:none", "a permission requires view or full"),
            ("billing:admin", "the level of a permission must be view or full, e.g. billing:view"),
            ("billing:view:x", "the level of a permission must be view or full, e.g. billing:view"),
            (
                "Billing:view",
                "the feature of a permission must start with a lower-case letter and contain only lower-case letters, digits and '_', e.g. billing:view",
            ),
            (":view", "the feature of a permission must be 1 to 64 characters, e.g. billing:view"),
        ];
        for (s, description) in bad {
            assert_eq!(Permission::parse(s).map_err(|e| e.to_string()), Err(description.to_owned()), "{s:?}");
        }
    }

    #[test]
    fn permission_display_and_serde() {
        let p = Permission::parse("billing:Full").unwrap();
        assert_eq!(p.to_string(), "billing:full");
        assert_eq!(serde_json::to_string(&p).unwrap(), "\"billing:full\"");
        assert!(serde_json::from_str::<Permission>("\"billing:none\"").is_err());
    }

    #[test]
    fn grants_within_a_ceiling() {
        let ceiling: Grants = [(f("users"), Level::Full), (f("billing"), Level::View)].into();
        let ok: Grants = [(f("users"), Level::View), (f("billing"), Level::View), (f("hosting"), Level::None)].into();
        let too_much: Grants = [(f("billing"), Level::Full)].into();
        let unknown: Grants = [(f("hosting"), Level::View)].into();
        assert!(grants_within(&ok, &ceiling));
        assert!(!grants_within(&too_much, &ceiling));
        assert!(!grants_within(&unknown, &ceiling));
        let merged = merge_grants([&ok, &too_much]);
        assert_eq!(level_in(&merged, "billing"), Level::Full);
        assert_eq!(level_in(&merged, "users"), Level::View);
    }
}
