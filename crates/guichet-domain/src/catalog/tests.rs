use super::*;

fn f(s: &str) -> FeatureName {
    FeatureName::parse(s).unwrap()
}
fn k(s: &str) -> AccountKind {
    AccountKind::parse(s).unwrap()
}
fn r(s: &str) -> RoleName {
    RoleName::parse(s).unwrap()
}

const FEATURES: &str = r#"
version = "test-1"

[[features]]
name = "users"
[[features]]
name = "delegated_administration"
[[features]]
name = "access_approvals"
[[features]]
name = "event_logs"
[[features]]
name = "billing"
module = true
"#;

/// A small valid catalog; `extra` is appended (more kinds).
fn with_kinds(kinds: &str) -> String {
    format!("{FEATURES}\n{kinds}")
}

const SHOP: &str = r#"
[[kinds]]
name = "shop"
root = true
owner_role = "owner"

[[kinds.roles]]
name = "owner"
all = "full"
"#;

fn load(s: &str) -> Result<Catalog, String> {
    Catalog::from_toml_str(s).map_err(|e| e.to_string())
}

#[test]
fn builtin_catalog_loads_and_encodes_the_seeds() {
    let c = Catalog::builtin().unwrap();
    assert_eq!(c.version(), "2026-11-1");
    let kinds: Vec<&str> = c.kinds().map(|k| k.name.as_str()).collect();
    assert_eq!(kinds, ["partner", "sub_partner", "direct_client", "affiliate", "customer"]);
    let roles =
        |kind: &str| -> Vec<String> { c.kind(&k(kind)).unwrap().roles.iter().map(|r| r.name.to_string()).collect() };
    assert_eq!(
        roles("partner"),
        [
            "account_manager",
            "billing_manager",
            "technical_manager",
            "subscription_manager",
            "delegated_account_administrator"
        ]
    );
    assert_eq!(roles("sub_partner"), ["account_manager", "technical_manager", "subscription_manager"]);
    assert_eq!(
        roles("direct_client"),
        ["account_manager", "billing_manager", "technical_manager", "subscription_manager"]
    );
    assert_eq!(roles("affiliate"), ["account_manager", "technical_manager"]);
    assert_eq!(roles("customer"), ["client_administrator", "client_user", "owner", "administrator", "user"]);
    for kind in c.kinds() {
        assert!(kind.owner().unwrap().is_administrator(), "{}", kind.name);
        assert!(kind.roles.iter().all(|r| r.builtin));
    }
    let features: Vec<&str> = c.features().map(|f| f.name.as_str()).collect();
    for required in [
        "billing",
        "invoices",
        "payment_methods",
        "price_lists",
        "users",
        "organizations",
        "offers",
        "subscriptions",
        "event_logs",
        "notifications",
        "folders",
        "contacts",
        "voip_911",
        "voip_cdr",
        "support_tickets",
        "hosting",
        "access_approvals",
        "delegated_administration",
        "account_settings",
        "roles",
    ] {
        assert!(features.contains(&required), "{required}");
    }
    let modules: Vec<String> = c.default_modules().into_iter().map(String::from).collect();
    assert_eq!(
        modules,
        [
            "billing",
            "folders",
            "hosting",
            "invoices",
            "notifications",
            "offers",
            "organizations",
            "payment_methods",
            "price_lists",
            "subscriptions",
            "support_tickets",
            "voip_911",
            "voip_cdr",
        ]
    );
    assert!(!c.feature(&f("users")).unwrap().module);
    assert!(c.feature(&f("voip_911")).unwrap().module);
    assert!(c.feature(&f("nope")).is_none());
}

#[test]
fn builtin_parent_kinds() {
    let c = Catalog::builtin().unwrap();
    let table = [
        ("partner", "sub_partner", true),
        ("partner", "customer", true),
        ("sub_partner", "customer", true),
        ("affiliate", "customer", true),
        ("partner", "affiliate", true),
        ("direct_client", "customer", false),
        ("customer", "customer", false),
        ("sub_partner", "sub_partner", false),
        ("partner", "partner", false),
        ("partner", "unknown", false),
    ];
    for (parent, child, expected) in table {
        assert_eq!(c.may_parent(&k(parent), &k(child)), expected, "{parent} -> {child}");
    }
    assert!(c.kind(&k("partner")).unwrap().root);
    assert!(!c.kind(&k("customer")).unwrap().root);
    assert_eq!(c.kind(&k("customer")).unwrap().owner_role, r("client_administrator"));
}

#[test]
fn all_expands_and_grants_override() {
    let c = Catalog::builtin().unwrap();
    let am = c.builtin_role(&k("sub_partner"), &r("account_manager")).unwrap();
    assert_eq!(am.level(&f("users")), Level::Full);
    assert_eq!(am.level(&f("billing")), Level::None);
    assert_eq!(am.grants.get("billing"), Some(&Level::None), "explicit none is kept");
    assert_eq!(am.grants.len(), c.features().count());
    assert!(am.descendant_grants.is_empty());
    assert!(c.builtin_role(&k("partner"), &r("client_user")).is_none());
}

#[test]
fn covered_by_compares_with_the_holder() {
    let c = Catalog::builtin().unwrap();
    let admin = c.builtin_role(&k("customer"), &r("client_administrator")).unwrap();
    let user = c.builtin_role(&k("customer"), &r("client_user")).unwrap();
    let administrator = c.builtin_role(&k("customer"), &r("administrator")).unwrap();
    assert!(user.covered_by(&admin.grants));
    assert!(administrator.covered_by(&admin.grants));
    assert!(!admin.covered_by(&user.grants));
    assert!(!admin.covered_by(&administrator.grants));
}

#[test]
fn errors_have_precise_messages() {
    let cases: Vec<(String, &str)> = vec![
        (
            "version = ".to_owned(),
            "invalid catalog toml: TOML parse error at line 1, column 11\n  |\n1 | version = \n  |           ^\nstring values must be quoted, expected literal string",
        ),
        (
            format!("{FEATURES}\nextra = 1\n"),
            "invalid catalog toml: TOML parse error at line 16, column 1\n   |\n16 | extra = 1\n   | ^^^^^\nunknown field `extra`, expected one of `name`, `description`, `module`",
        ),
        (with_kinds(SHOP).replace("\"test-1\"", "\" \""), "the catalog version must not be empty"),
        (
            with_kinds(SHOP).replace("name = \"billing\"", "name = \"Billing\""),
            "invalid feature name `Billing`: must start with a lower-case letter and contain only lower-case letters, digits and '_'",
        ),
        (with_kinds(SHOP).replace("name = \"billing\"", "name = \"users\""), "duplicate feature `users`"),
        (
            with_kinds(SHOP).replace("name = \"event_logs\"", "name = \"events\""),
            "the catalog must define the feature `event_logs`",
        ),
        (FEATURES.to_owned(), "the catalog defines no account kind"),
        (with_kinds(&format!("{SHOP}{SHOP}")), "duplicate kind `shop`"),
        (
            with_kinds(&SHOP.replace("name = \"shop\"", "name = \"shop-1\"")),
            "invalid kind name `shop-1`: must start with a lower-case letter and contain only lower-case letters, digits and '_'",
        ),
        (with_kinds(&format!("{SHOP}\n[[kinds.roles]]\nname = \"owner\"\n")), "duplicate role `owner` in kind `shop`"),
        (
            with_kinds(&format!("{SHOP}\n[[kinds.roles]]\nname = \"Clerk\"\n")),
            "invalid role name `Clerk` in kind `shop`: must start with a lower-case letter and contain only lower-case letters, digits and '_'",
        ),
        (
            with_kinds(&format!(
                "{SHOP}\n[[kinds.roles]]\nname = \"clerk\"\n[kinds.roles.grants]\nhosting = \"view\"\n"
            )),
            "unknown feature `hosting` in role `clerk` of kind `shop`",
        ),
        (
            with_kinds(&format!(
                "{SHOP}\n[[kinds.roles]]\nname = \"clerk\"\n[kinds.roles.descendant_grants]\nhosting = \"view\"\n"
            )),
            "unknown feature `hosting` in role `clerk` of kind `shop`",
        ),
        (
            with_kinds(&SHOP.replace("root = true", "parents = [\"Mall\"]")),
            "invalid parent kind `Mall` of kind `shop`: must start with a lower-case letter and contain only lower-case letters, digits and '_'",
        ),
        (
            with_kinds(&format!(
                "{SHOP}\n[[kinds.roles]]\nname = \"clerk\"\n[kinds.roles.grants]\nBilling = \"view\"\n"
            )),
            "invalid feature name `Billing` in role `clerk` of kind `shop`: must start with a lower-case letter and contain only lower-case letters, digits and '_'",
        ),
        (with_kinds(&SHOP.replace("root = true", "parents = [\"mall\"]")), "unknown parent kind `mall` of kind `shop`"),
        (
            with_kinds(&SHOP.replace("root = true", "root = false")),
            "kind `shop` has no parent kinds and is not a root: no account of that kind could be created",
        ),
        (
            with_kinds(&SHOP.replace("owner_role = \"owner\"", "owner_role = \"boss\"")),
            "owner role `boss` of kind `shop` is not one of its roles",
        ),
        (
            with_kinds(&SHOP.replace("all = \"full\"", "all = \"view\"")),
            "owner role `owner` of kind `shop` must hold users:full",
        ),
        (
            with_kinds(&SHOP.replace("all = \"full\"", "all = \"full\"\n[kinds.roles.grants]\nusers = \"none\"")),
            "owner role `owner` of kind `shop` must hold users:full",
        ),
    ];
    for (toml, expected) in cases {
        assert_eq!(load(&toml).map(|_| ()), Err(expected.to_owned()), "{toml}");
    }
}

#[test]
fn syntax_errors_point_at_the_line() {
    let bad = with_kinds(&SHOP.replace("all = \"full\"", "all = \"total\""));
    let err = load(&bad).unwrap_err();
    assert!(err.starts_with("invalid catalog toml: TOML parse error at line 24, column 7"), "{err}");
    assert!(err.contains("unknown variant `total`, expected one of `none`, `view`, `full`"), "{err}");
}

#[test]
fn a_custom_catalog_round_trips_through_toml() {
    let source = with_kinds(&format!(
        "{SHOP}\n[[kinds.roles]]\nname = \"clerk\"\ndisplay_name = \"Clerk\"\ndescription = \"sells\"\n\
         [kinds.roles.grants]\nbilling = \"view\"\nusers = \"none\"\n[kinds.roles.descendant_grants]\nevent_logs = \"view\"\n\n\
         [[kinds]]\nname = \"stall\"\nparents = [\"shop\"]\nowner_role = \"keeper\"\ndefault_requires_approval = true\n\
         [[kinds.roles]]\nname = \"keeper\"\n[kinds.roles.grants]\nusers = \"full\"\n"
    ));
    let c = Catalog::from_toml_str(&source).unwrap();
    let clerk = c.builtin_role(&k("shop"), &r("clerk")).unwrap();
    assert_eq!(clerk.level(&f("billing")), Level::View);
    assert_eq!(clerk.descendant_level(&f("event_logs")), Level::View);
    assert!(c.kind(&k("stall")).unwrap().default_requires_approval);
    assert!(c.may_parent(&k("shop"), &k("stall")));
    let written = c.to_toml_string().unwrap();
    let back = Catalog::from_toml_str(&written).unwrap();
    assert_eq!(back, c);
    let builtin = Catalog::builtin().unwrap();
    assert_eq!(Catalog::from_toml_str(&builtin.to_toml_string().unwrap()).unwrap(), builtin);
}

#[test]
fn named_actions_map_to_permissions_by_resource_type() {
    let c = Catalog::builtin().unwrap();
    assert_eq!(c.action("folder", "read").map(ToString::to_string).as_deref(), Some("folders:view"));
    assert_eq!(c.action("folder", "write").map(ToString::to_string).as_deref(), Some("folders:full"));
    assert_eq!(c.action("account", "read"), None, "read is defined for folders only");
    assert_eq!(Catalog::from_toml_str(&c.to_toml_string().unwrap()).unwrap(), c);

    let actions = r#"
[[actions]]
name = "see"
permission = "billing:view"
[[actions]]
name = "see"
resource_type = "invoice"
permission = "billing:full"
"#;
    let c = Catalog::from_toml_str(&format!("{}{actions}", with_kinds(SHOP))).unwrap();
    assert_eq!(c.action("invoice", "see").map(ToString::to_string).as_deref(), Some("billing:full"));
    assert_eq!(c.action("account", "see").map(ToString::to_string).as_deref(), Some("billing:view"));
    assert_eq!(c.actions().count(), 2);

    for (bad, why) in [
        ("name = \"a:b\"\npermission = \"billing:view\"", "must not contain ':'"),
        ("name = \"a b\"\npermission = \"billing:view\"", "spaces"),
        ("name = \"\"\npermission = \"billing:view\"", "1 to 64"),
        ("name = \"x\"\npermission = \"hosting:view\"", "does not define"),
        ("name = \"x\"\npermission = \"billing\"", "permission"),
        ("name = \"x\"\nresource_type = \"Folder\"\npermission = \"billing:view\"", "resource_type"),
        ("name = \"see\"\npermission = \"billing:full\"", "defined twice"),
    ] {
        let toml = format!("{}{actions}\n[[actions]]\n{bad}\n", with_kinds(SHOP));
        let e = Catalog::from_toml_str(&toml).unwrap_err().to_string();
        assert!(e.starts_with("invalid action") && e.contains(why), "{bad}: {e}");
    }
}
