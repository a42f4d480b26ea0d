//! Criterion micro-benchmarks of [`guichet_domain::evaluate`], the access decision, on the facts a
//! loader returns for the deepest tree the built-in catalog admits plus a delegating partner:
//! partner `p` → sub-partner `s` → customer `c` (a chain of three), an affiliate tree `a` → `ac`,
//! and a second partner `q` that manages `c` through a delegation (four accounts in the facts of a
//! check on `c`).
//!
//! Cases: a direct path, an inherited path (affiliate account manager in its customer), a
//! delegated path, a subject holding every kind of path at once (all evaluated, the best wins), a
//! folder check through a restricted membership (granted and refused), and a deny with no path.
//!
//! Run with `cargo bench -p guichet-domain --bench decision`.

use std::hint::black_box;

use criterion::Criterion;
use guichet_domain::{
    AccessRequest, AccountFacts, AccountId, AccountKind, AccountStatus, Catalog, DelegationFacts, DelegationId, Facts,
    FeatureName, Level, MembershipFacts, MembershipId, MembershipStatus, Permission, ResourceFacts, ResourceId, Role,
    RoleName, SubjectFacts, UserId, UserStatus, evaluate,
};

type BoxError = Box<dyn std::error::Error>;

struct World {
    catalog: Catalog,
}

impl World {
    fn account(&self, id: &str, kind: &str, parent: Option<&str>) -> AccountFacts {
        AccountFacts {
            id: AccountId::from_trusted(id),
            kind: AccountKind::from_trusted(kind),
            status: AccountStatus::Active,
            parent: parent.map(AccountId::from_trusted),
            modules: self.catalog.default_modules(),
        }
    }

    fn role(&self, kind: &str, name: &str) -> Result<Role, BoxError> {
        self.catalog
            .builtin_role(&AccountKind::from_trusted(kind), &RoleName::from_trusted(name))
            .cloned()
            .ok_or_else(|| format!("no built-in role {name} for {kind}").into())
    }

    fn membership(
        &self,
        account: &AccountFacts,
        roles: &[&str],
        resources: Option<&[&str]>,
    ) -> Result<MembershipFacts, BoxError> {
        Ok(MembershipFacts {
            id: MembershipId::from_trusted(format!("m-{}-{}", account.id, roles.join("-"))),
            account: account.id.clone(),
            status: MembershipStatus::Active,
            roles: roles.iter().map(|r| self.role(account.kind.as_str(), r)).collect::<Result<_, _>>()?,
            resources: resources
                .map(|ids| ids.iter().map(|r| ResourceId::from_trusted(*r)).collect::<guichet_domain::Restriction>()),
            expires_at: None,
        })
    }
}

/// One benchmark case: a request and the facts a loader returns for it.
struct Case {
    name: &'static str,
    request: AccessRequest,
    facts: Facts,
    allowed: bool,
}

fn cases() -> Result<(Catalog, Vec<Case>), BoxError> {
    let w = World { catalog: Catalog::builtin()? };
    let p = w.account("p", "partner", None);
    let s = w.account("s", "sub_partner", Some("p"));
    let c = w.account("c", "customer", Some("s"));
    let q = w.account("q", "partner", None);
    let a = w.account("a", "affiliate", None);
    let ac = w.account("ac", "customer", Some("a"));
    let chain_c = vec![c.clone(), s.clone(), p.clone()];
    let chain_ac = vec![ac.clone(), a.clone()];
    let delegation = DelegationFacts {
        id: DelegationId::from_trusted("d-q-c"),
        from_account: q.clone(),
        to_account: c.id.clone(),
        role: w.role("customer", "client_administrator")?,
        expires_at: None,
    };
    let subject = |id: &str| Some(SubjectFacts { id: UserId::from_trusted(id), status: UserStatus::Active });
    let request =
        |user: &str, account: &AccountFacts, feature: &str, level: Level, resource: Option<&str>| AccessRequest {
            subject: UserId::from_trusted(user),
            account: account.id.clone(),
            permission: Permission { feature: FeatureName::from_trusted(feature), level },
            resource: resource.map(ResourceId::from_trusted),
        };
    let folder = |id: &str| Some(ResourceFacts { id: ResourceId::from_trusted(id), account: c.id.clone() });

    let cases = vec![
        Case {
            name: "direct",
            request: request("marc", &c, "billing", Level::View, None),
            facts: Facts {
                subject: subject("marc"),
                chain: chain_c.clone(),
                memberships: vec![w.membership(&c, &["client_user"], None)?],
                delegations: vec![delegation.clone()],
                resource: None,
            },
            allowed: true,
        },
        Case {
            name: "inherited",
            request: request("karim", &ac, "users", Level::Full, None),
            facts: Facts {
                subject: subject("karim"),
                chain: chain_ac,
                memberships: vec![w.membership(&a, &["account_manager"], None)?],
                delegations: vec![],
                resource: None,
            },
            allowed: true,
        },
        Case {
            name: "delegated",
            request: request("david", &c, "users", Level::Full, None),
            facts: Facts {
                subject: subject("david"),
                chain: chain_c.clone(),
                memberships: vec![w.membership(&q, &["delegated_account_administrator"], None)?],
                delegations: vec![delegation.clone()],
                resource: None,
            },
            allowed: true,
        },
        Case {
            name: "every_path",
            request: request("olga", &c, "users", Level::Full, None),
            facts: Facts {
                subject: subject("olga"),
                chain: chain_c.clone(),
                memberships: vec![
                    w.membership(&c, &["client_user"], None)?,
                    w.membership(&s, &["technical_manager", "subscription_manager"], None)?,
                    w.membership(&p, &["account_manager"], None)?,
                    w.membership(&q, &["delegated_account_administrator", "billing_manager"], None)?,
                ],
                delegations: vec![delegation.clone()],
                resource: None,
            },
            allowed: true,
        },
        Case {
            name: "resource_granted",
            request: request("marc", &c, "folders", Level::View, Some("f1")),
            facts: Facts {
                subject: subject("marc"),
                chain: chain_c.clone(),
                memberships: vec![w.membership(&c, &["client_user"], Some(&["f1"]))?],
                delegations: vec![delegation.clone()],
                resource: folder("f1"),
            },
            allowed: true,
        },
        Case {
            name: "resource_not_granted",
            request: request("marc", &c, "folders", Level::View, Some("f2")),
            facts: Facts {
                subject: subject("marc"),
                chain: chain_c.clone(),
                memberships: vec![w.membership(&c, &["client_user"], Some(&["f1"]))?],
                delegations: vec![delegation.clone()],
                resource: folder("f2"),
            },
            allowed: false,
        },
        Case {
            name: "no_path",
            request: request("bruno", &c, "users", Level::View, None),
            facts: Facts {
                subject: subject("bruno"),
                chain: chain_c,
                memberships: vec![w.membership(&p, &["account_manager"], None)?],
                delegations: vec![delegation],
                resource: None,
            },
            allowed: false,
        },
    ];
    Ok((w.catalog, cases))
}

fn decision(criterion: &mut Criterion) {
    let (catalog, cases) = match cases() {
        Ok(built) => built,
        Err(error) => {
            eprintln!("cannot build the benchmark facts: {error}");
            std::process::exit(1);
        }
    };
    let mut group = criterion.benchmark_group("evaluate");
    for case in &cases {
        let decision = evaluate(&catalog, &case.request, &case.facts, guichet_domain::Timestamp::from_millis(0));
        if decision.allowed != case.allowed {
            eprintln!("case {}: expected allowed={}, got {decision:?}", case.name, case.allowed);
            std::process::exit(1);
        }
        group.bench_function(case.name, |b| {
            b.iter(|| {
                evaluate(
                    black_box(&catalog),
                    black_box(&case.request),
                    black_box(&case.facts),
                    guichet_domain::Timestamp::from_millis(0),
                )
            })
        });
    }
    group.finish();
}

fn main() {
    // What `criterion_main!` expands to, without the undocumented public function of
    // `criterion_group!`.
    let mut criterion = Criterion::default().configure_from_args();
    decision(&mut criterion);
    criterion.final_summary();
}
