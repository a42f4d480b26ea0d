//! The checks of each scenario, derived from the seeding scheme
//! ([`SeedPlan`]) so that no database read is needed.

use guichet_proto::v1::{CheckAccessRequest, Consistency, consistency};
use guichet_store::bulk::{FOLDERS_PER_CUSTOMER, SeedKind, SeedPlan};

/// A large prime: consecutive checks land on memberships far apart, and `i ↦ i·STRIDE mod M` is a
/// bijection whenever `M` is not a multiple of it.
const STRIDE: u64 = 1_000_003;

/// The permissions the uniform mix asks about (allowed for some roles, denied for others).
const PERMISSIONS: [&str; 10] = [
    "users:view",
    "billing:view",
    "invoices:view",
    "offers:view",
    "event_logs:view",
    "users:full",
    "subscriptions:full",
    "notifications:view",
    "organizations:view",
    "folders:view",
];

/// The load scenarios.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Scenario {
    /// One check, repeated.
    Hot,
    /// A uniform mix over the distinct checks.
    Uniform,
    /// The uniform mix with 1% writes (SetMembershipRoles, adding and removing `user`).
    Writes,
    /// The uniform mix with `fully_consistent`: every check reads the store.
    Uncached,
    /// The uniform mix over the other trees, and 2% of the calls in one customer's tree (its
    /// members and its partner's), one write (SetMembershipRoles on one of its members) for
    /// eight checks there: an administrator editing roles in one tree while checks run over many.
    #[value(name = "tree-writes")]
    TreeWrites,
}

impl Scenario {
    /// Every scenario.
    pub(crate) const ALL: [Scenario; 5] =
        [Scenario::Hot, Scenario::Uniform, Scenario::Writes, Scenario::Uncached, Scenario::TreeWrites];

    /// Its name on the command line.
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Scenario::Hot => "hot",
            Scenario::Uniform => "uniform",
            Scenario::Writes => "writes",
            Scenario::Uncached => "uncached",
            Scenario::TreeWrites => "tree-writes",
        }
    }
}

fn request(subject: u64, account: u64, permission: &str, resource: Option<String>) -> CheckAccessRequest {
    CheckAccessRequest {
        subject_id: SeedPlan::user_id(subject),
        account_id: SeedPlan::account_id(account),
        permission: permission.to_owned(),
        resource_id: resource.unwrap_or_default(),
        consistency: None,
    }
}

/// The repeated check of the `hot` scenario: a partner's delegated administrator managing a
/// customer through the delegation (a 2-deep chain and a delegated path), or, in a world too small
/// for that, the first partner's account manager in the partner.
pub(crate) fn hot(plan: &SeedPlan) -> CheckAccessRequest {
    match (plan.membership_at(0, 1), plan.delegated_customers(0).first()) {
        (Some(m), Some(&customer)) => request(m, customer, "users:full", None),
        (None, _) | (_, None) => request(0, 0, "users:full", None),
    }
}

/// Check `i` of the uniform mix: a quarter each of direct checks, direct checks on another
/// permission, and "cross" checks (delegated, inherited, or on a folder, by the account's kind).
pub(crate) fn uniform(plan: &SeedPlan, i: u64) -> CheckAccessRequest {
    let m = i.wrapping_mul(STRIDE) % plan.memberships;
    let a = plan.membership_account(m);
    let perm = |k: u64| PERMISSIONS[usize::try_from(k % PERMISSIONS.len() as u64).unwrap_or(0)];
    let within = |target: u64| if target < plan.accounts { target } else { a };
    match i % 4 {
        2 => match SeedPlan::kind(a) {
            SeedKind::Partner => {
                let target = plan.delegated_customers(a).first().copied().unwrap_or(a);
                request(m, target, perm(i / 4), None)
            }
            SeedKind::SubPartner => request(m, within(a + 5), perm(i / 4), None),
            SeedKind::Affiliate => request(m, within(a + 1 + (i / 4) % 9), perm(i / 4), None),
            SeedKind::Customer => {
                request(m, a, "folders:view", Some(SeedPlan::folder_id(a, (i / 4) % FOLDERS_PER_CUSTOMER)))
            }
        },
        3 => request(m, a, perm(i / 4 + 5), None),
        _ => request(m, a, perm(i / 4), None),
    }
}

/// The `distinct` checks of the uniform mix.
pub(crate) fn uniform_set(plan: &SeedPlan, distinct: u64) -> Vec<CheckAccessRequest> {
    (0..distinct).map(|i| uniform(plan, i)).collect()
}

/// `request` asked with `fully_consistent`.
pub(crate) fn fully_consistent(mut request: CheckAccessRequest) -> CheckAccessRequest {
    request.consistency = Some(Consistency { requirement: Some(consistency::Requirement::FullyConsistent(true)) });
    request
}

/// The customer whose tree the `tree-writes` scenario edits: `c2`, a customer of the first partner
/// that the partner administers through a delegation (direct, inherited and delegated checks).
const EDITED_CUSTOMER: u64 = 2;

/// The edited tree of the `tree-writes` scenario: its checks and the memberships its writes change.
#[derive(Debug, Clone)]
pub(crate) struct Tree {
    /// The edited customer's id.
    pub(crate) account: String,
    /// Checks in the customer: each of its members and of its partner's, on every permission of the
    /// mix, and its members on its folders.
    pub(crate) checks: Vec<CheckAccessRequest>,
    /// The memberships the writes change: the customer's members but its first (its
    /// administrator), in turn.
    pub(crate) targets: Vec<u64>,
}

/// The edited tree of `plan` (`None` in a world too small to hold it).
pub(crate) fn tree(plan: &SeedPlan) -> Option<Tree> {
    let c = EDITED_CUSTOMER;
    if c >= plan.accounts || SeedPlan::kind(c) != SeedKind::Customer {
        return None;
    }
    let members: Vec<u64> = (0..).map_while(|j| plan.membership_at(c, j)).collect();
    let partner = SeedPlan::tree_base(c);
    let outsiders: Vec<u64> = (0..).map_while(|j| plan.membership_at(partner, j)).collect();
    let mut checks = Vec::new();
    for &m in members.iter().chain(&outsiders) {
        for perm in PERMISSIONS {
            checks.push(request(m, c, perm, None));
        }
    }
    for &m in &members {
        for k in 0..FOLDERS_PER_CUSTOMER {
            checks.push(request(m, c, "folders:view", Some(SeedPlan::folder_id(c, k))));
        }
    }
    let targets: Vec<u64> = members.iter().copied().skip(1).collect();
    (!targets.is_empty()).then(|| Tree { account: SeedPlan::account_id(c), checks, targets })
}

/// The membership the `n`-th write of the `writes` scenario changes the roles of: the second member
/// (a `client_user`) of a customer, or its first when it has only one.
pub(crate) fn write_target(plan: &SeedPlan, n: u64) -> u64 {
    let a = n.wrapping_mul(STRIDE) % plan.accounts;
    let customer = match SeedPlan::kind(a) {
        SeedKind::Customer => a,
        SeedKind::Partner | SeedKind::SubPartner | SeedKind::Affiliate => SeedPlan::tree_base(a) + 2,
    };
    let customer = if customer < plan.accounts { customer } else { a };
    plan.membership_at(customer, 1).or(plan.membership_at(customer, 0)).unwrap_or(customer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_name_seeded_ids() {
        let plan = SeedPlan::new(100, 1_000).unwrap();
        let hot = hot(&plan);
        assert_eq!((hot.subject_id.as_str(), hot.account_id.as_str()), ("u100", "c2"));
        let set = uniform_set(&plan, 1_000);
        let distinct: std::collections::BTreeSet<_> =
            set.iter().map(|r| (r.subject_id.clone(), r.account_id.clone(), r.permission.clone())).collect();
        assert!(distinct.len() > 900, "{}", distinct.len());
        assert_eq!(write_target(&plan, 0), 102);
        let tree = tree(&plan).unwrap();
        assert_eq!(tree.account, "c2");
        // Its 10 members and its partner's 10, on 10 permissions; its members on its 3 folders.
        assert_eq!(tree.checks.len(), 20 * 10 + 10 * 3);
        assert!(tree.checks.iter().all(|r| r.account_id == "c2"));
        assert_eq!(tree.targets, (1..10).map(|j| j * 100 + 2).collect::<Vec<_>>());
    }
}
