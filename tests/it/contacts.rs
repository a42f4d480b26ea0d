//! Contacts and the communication order (seeds 002 and 004), end to end on SQLite and PostgreSQL.

use guichet_proto::v1 as pb;
use guichet_testkit::requests;
use guichet_tests::Clients;
use guichet_tests::{
    Backend, TestApp, TestDatabase, both_backends, details, list_events, spawn_app, test_config, violated_fields,
};
use tonic::{Code, Status};

use crate::worlds;

use pb::CommunicationType::{Financial, Technical};
use pb::ContactPermission as Perm;
use pb::ContactSubscription as Sub;

/// [`worlds::contacts`], loaded.
async fn build_world(s: &TestApp) {
    worlds::load_world(s, &worlds::contacts()).await;
}

/// A server holding [`worlds::contacts_with_accountant`] (the accountant first in the technical
/// order when `first`); the database lives as long as the first half.
async fn with_accountant(backend: Backend, first: bool) -> Option<(TestDatabase, TestApp)> {
    let db = TestDatabase::new(backend).await?;
    let s = spawn_app(test_config(&db.url)).await;
    worlds::load_world(&s, &worlds::contacts_with_accountant(first)).await;
    Some((db, s))
}

/// The accountant of [`worlds::contacts_with_accountant`], as `actor` would create her.
fn accountant(actor: &str) -> pb::CreateContactRequest {
    pb::CreateContactRequest {
        actor_id: actor.into(),
        id: "comptable".into(),
        account_id: "atelier-paul".into(),
        given_name: "Claire".into(),
        family_name: "Comptable".into(),
        email: "claire@compta-exemple.fr".into(),
        title: "Comptable".into(),
        subscriptions: vec![Sub::PaymentReminders as i32, Sub::Invoices as i32],
        ..Default::default()
    }
}

async fn create(s: &TestApp, r: pb::CreateContactRequest) -> Result<pb::CreateContactResponse, Status> {
    s.contacts().create_contact(r).await.map(tonic::Response::into_inner)
}

async fn read_order(
    s: &TestApp,
    actor: &str,
    account: &str,
    kind: pb::CommunicationType,
) -> Result<pb::GetCommunicationOrderResponse, Status> {
    let request =
        pb::GetCommunicationOrderRequest { actor_id: actor.into(), account_id: account.into(), r#type: kind as i32 };
    s.contacts().get_communication_order(request).await.map(tonic::Response::into_inner)
}

async fn order(s: &TestApp, actor: &str, account: &str, kind: pb::CommunicationType) -> Vec<String> {
    read_order(s, actor, account, kind).await.unwrap().order.unwrap().contact_ids
}

/// ListContacts of `account` for `actor`; `page` sets the page size and token.
async fn list(
    s: &TestApp,
    actor: &str,
    account: &str,
    page: (i32, String),
) -> Result<pb::ListContactsResponse, Status> {
    let (page_size, page_token) = page;
    let request = pb::ListContactsRequest {
        actor_id: actor.into(),
        account_id: account.into(),
        page_size,
        page_token,
        subscription: 0,
    };
    s.contacts().list_contacts(request).await.map(tonic::Response::into_inner)
}

async fn get(s: &TestApp, actor: &str, id: &str) -> Result<pb::Contact, Status> {
    let request = pb::GetContactRequest { actor_id: actor.into(), id: id.into() };
    s.contacts().get_contact(request).await.map(|r| r.into_inner().contact.unwrap())
}

async fn delete(s: &TestApp, actor: &str, id: &str) -> Result<pb::DeleteContactResponse, Status> {
    let request = pb::DeleteContactRequest { actor_id: actor.into(), id: id.into(), ..Default::default() };
    s.contacts().delete_contact(request).await.map(tonic::Response::into_inner)
}

async fn set_order(
    s: &TestApp,
    actor: &str,
    account: &str,
    kind: pb::CommunicationType,
    ids: &[&str],
) -> Result<pb::SetCommunicationOrderResponse, Status> {
    s.contacts()
        .set_communication_order(pb::SetCommunicationOrderRequest {
            actor_id: actor.into(),
            account_id: account.into(),
            r#type: kind as i32,
            contact_ids: ids.iter().map(|i| (*i).to_owned()).collect(),
            ..Default::default()
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn events(s: &TestApp, account: &str) -> Vec<pb::Event> {
    let types = ["contact.created", "contact.updated", "contact.deleted", "communication_order.set"];
    list_events(s, requests::events("", account, &types)).await.unwrap()
}

fn precondition(e: &Status) -> (String, String) {
    details(e)
        .precondition_failure()
        .map(|p| (p.violations[0].r#type.clone(), p.violations[0].subject.clone()))
        .unwrap_or_default()
}

fn missing_permission(e: &Status) -> String {
    details(e).error_info().and_then(|i| i.metadata.get("permission").cloned()).unwrap_or_default()
}

async fn story(backend: Backend) {
    let Some(db) = TestDatabase::new(backend).await else {
        return;
    };
    let s = spawn_app(test_config(&db.url)).await;
    build_world(&s).await;

    // Seed 002: the owner adds the accountant as a contact who receives the invoices…
    let request = pb::CreateContactRequest { request_id: "ajout-comptable".into(), ..accountant("paul") };
    let created = create(&s, request.clone()).await.unwrap();
    let c = created.contact.clone().unwrap();
    assert_eq!((c.id.as_str(), c.account_id.as_str(), c.title.as_str()), ("comptable", "atelier-paul", "Comptable"));
    assert_eq!(c.subscriptions, [Sub::Invoices as i32, Sub::PaymentReminders as i32], "sorted by value");
    assert!(c.user_id.is_empty() && c.create_time.is_some());
    // …once, however often the portal retries.
    assert_eq!(create(&s, request).await.unwrap(), created);

    // Seed 004: Paul is a contact too, linked to his user, with the per-contact flags.
    let paul = create(
        &s,
        pb::CreateContactRequest {
            actor_id: "paul".into(),
            id: "c-paul".into(),
            account_id: "atelier-paul".into(),
            given_name: "Paul".into(),
            family_name: "Atelier".into(),
            phone: "+33612345678".into(),
            permissions: vec![Perm::Voip911 as i32, Perm::Administrator as i32],
            subscriptions: vec![Sub::MaintenanceNotices as i32],
            user_id: "paul".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .contact
    .unwrap();
    assert_eq!(paul.permissions, [Perm::Administrator as i32, Perm::Voip911 as i32]);
    assert_eq!((paul.user_id.as_str(), paul.phone.as_str()), ("paul", "+33612345678"));
    // The Leclerc firm has its own contact.
    create(
        &s,
        requests::contact("leclerc", "c-leclerc", "cabinet-leclerc", "", "Leclerc", "standard@leclerc-exemple.fr"),
    )
    .await
    .unwrap();

    // The technical order is Paul, then the accountant; the financial order was never set.
    let set = set_order(&s, "paul", "atelier-paul", Technical, &["c-paul", "comptable"]).await.unwrap();
    let o = set.order.unwrap();
    assert_eq!(o.contact_ids, ["c-paul", "comptable"]);
    assert!(o.update_time.is_some());
    let read = read_order(&s, "lea", "atelier-paul", Technical).await.unwrap();
    assert_eq!(read.contacts.iter().map(|c| c.family_name.as_str()).collect::<Vec<_>>(), ["Atelier", "Comptable"]);
    let financial = read_order(&s, "", "atelier-paul", Financial).await.unwrap();
    let f = financial.order.unwrap();
    assert!(f.contact_ids.is_empty() && f.update_time.is_none() && financial.contacts.is_empty());

    // A contact of another account cannot be put in the order, nor an unknown one; nothing changes.
    for stranger in ["c-leclerc", "fantome"] {
        let e = set_order(&s, "paul", "atelier-paul", Technical, &["c-paul", stranger]).await.unwrap_err();
        assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
        assert_eq!(precondition(&e), ("CONTACT_NOT_ON_ACCOUNT".to_owned(), format!("contacts/{stranger}")));
    }
    assert_eq!(order(&s, "paul", "atelier-paul", Technical).await, ["c-paul", "comptable"]);
    set_order(&s, "paul", "atelier-paul", Financial, &["comptable"]).await.unwrap();

    // The list: by family name, a page at a time; filtered by subscription.
    let mut client = s.contacts();
    let first = list(&s, "lea", "atelier-paul", (1, String::new())).await.unwrap();
    assert_eq!(first.contacts.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), ["c-paul"]);
    assert!(!first.next_page_token.is_empty());
    let second = list(&s, "lea", "atelier-paul", (1, first.next_page_token)).await.unwrap();
    assert_eq!(second.contacts.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), ["comptable"]);
    assert!(second.next_page_token.is_empty());
    let invoiced = client
        .list_contacts(pb::ListContactsRequest {
            account_id: "atelier-paul".into(),
            subscription: Sub::Invoices as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(invoiced.contacts.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), ["comptable"]);

    // The accountant stops receiving payment reminders: the whole contact is sent back.
    let whole = pb::UpdateContactRequest {
        actor_id: "paul".into(),
        id: "comptable".into(),
        given_name: "Claire".into(),
        family_name: "Comptable".into(),
        email: "claire@compta-exemple.fr".into(),
        title: "Expert-comptable".into(),
        subscriptions: vec![Sub::Invoices as i32],
        ..Default::default()
    };
    let updated = client.update_contact(whole).await.unwrap().into_inner().contact.unwrap();
    assert_eq!(
        (updated.title.as_str(), updated.subscriptions.clone()),
        ("Expert-comptable", vec![Sub::Invoices as i32])
    );
    let got = get(&s, "lea", "comptable").await.unwrap();
    assert_eq!(got, updated);

    // Removing the accountant removes her from the orders.
    let deleted = delete(&s, "paul", "comptable").await.unwrap();
    assert_eq!(order(&s, "paul", "atelier-paul", Technical).await, ["c-paul"]);
    assert!(order(&s, "paul", "atelier-paul", Financial).await.is_empty());
    assert_eq!(get(&s, "", "comptable").await.unwrap_err().code(), Code::NotFound);

    // Every change wrote one event, with who and before/after; the refused orders wrote none.
    let evs = events(&s, "atelier-paul").await;
    let kinds: Vec<_> = evs.iter().map(|e| (e.r#type.as_str(), e.target_id.as_str())).collect();
    assert_eq!(
        kinds,
        [
            ("contact.created", "comptable"),
            ("contact.created", "c-paul"),
            ("communication_order.set", "atelier-paul/technical"),
            ("communication_order.set", "atelier-paul/financial"),
            ("contact.updated", "comptable"),
            ("contact.deleted", "comptable"),
        ]
    );
    assert!(evs.iter().all(|e| e.actor_id == "paul"), "{evs:?}");
    assert_eq!(evs[0].request_id, "ajout-comptable");
    assert!(
        evs[2].before_json.is_empty() && evs[2].after_json.contains(r#"[\"c-paul\",\"comptable\"]"#),
        "{:?}",
        evs[2]
    );
    assert!(evs[4].before_json.contains("payment_reminders") && !evs[4].after_json.contains("payment_reminders"));
    assert!(evs[5].before_json.contains("Expert-comptable") && evs[5].after_json.is_empty());
    assert_eq!(evs[5].revision, deleted.revision);
    assert!(s.stop().await.success());
}

both_backends!(contacts_story => story);

async fn isolation(backend: Backend) {
    // The accountant, first in the workshop's technical order.
    let Some((_db, s)) = with_accountant(backend, true).await else { return };
    let before = events(&s, "atelier-paul").await.len();
    let mut client = s.contacts();
    let update = |actor: &str| pb::UpdateContactRequest {
        actor_id: actor.into(),
        id: "comptable".into(),
        family_name: "Pirate".into(),
        email: "pirate@exemple.fr".into(),
        ..Default::default()
    };

    // The Leclerc firm's administrator (contacts:full there) reaches nothing of Paul's account:
    // its contacts by id do not exist for her…
    let e = get(&s, "leclerc", "comptable").await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound, "{e:?}");
    let e = client.update_contact(update("leclerc")).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound, "{e:?}");
    let e = delete(&s, "leclerc", "comptable").await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound, "{e:?}");
    // …its lists and orders are answered as for an unknown account (she has no path into it)…
    let e = list(&s, "leclerc", "atelier-paul", (0, String::new())).await.unwrap_err();
    assert_eq!((e.code(), e.message()), (Code::NotFound, "account atelier-paul not found"));
    let e = read_order(&s, "leclerc", "atelier-paul", Technical).await.unwrap_err();
    assert_eq!((e.code(), e.message()), (Code::NotFound, "account atelier-paul not found"));
    let e = set_order(&s, "leclerc", "atelier-paul", Technical, &[]).await.unwrap_err();
    assert_eq!((e.code(), e.message()), (Code::NotFound, "account atelier-paul not found"));
    let e = create(&s, pb::CreateContactRequest { id: "intrus".into(), ..accountant("leclerc") }).await.unwrap_err();
    assert_eq!((e.code(), e.message()), (Code::NotFound, "account atelier-paul not found"));
    // …and Paul's contact cannot be put in her own firm's order.
    let e = set_order(&s, "leclerc", "cabinet-leclerc", Technical, &["comptable"]).await.unwrap_err();
    assert_eq!(precondition(&e).0, "CONTACT_NOT_ON_ACCOUNT");
    // Nor can she read the workshop's events.
    let e = list_events(&s, requests::events("leclerc", "atelier-paul", &[])).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound);

    // Inside the workshop, the web developer (seed 002's "user") sees the contacts but does not
    // change them…
    get(&s, "dev", "comptable").await.unwrap();
    let e = client.update_contact(update("dev")).await.unwrap_err();
    assert_eq!((e.code(), missing_permission(&e).as_str()), (Code::PermissionDenied, "contacts:full"));
    // …nor does the client user.
    get(&s, "lea", "comptable").await.unwrap();
    let e = client.update_contact(update("lea")).await.unwrap_err();
    assert_eq!((e.code(), missing_permission(&e).as_str()), (Code::PermissionDenied, "contacts:full"));
    let e = delete(&s, "lea", "comptable").await.unwrap_err();
    assert_eq!((e.code(), missing_permission(&e).as_str()), (Code::PermissionDenied, "contacts:full"));
    let e = set_order(&s, "lea", "atelier-paul", Technical, &[]).await.unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);

    // Nothing was written.
    assert_eq!(get(&s, "", "comptable").await.unwrap().family_name, "Comptable");
    assert_eq!(order(&s, "", "atelier-paul", Technical).await, ["comptable"]);
    assert_eq!(events(&s, "atelier-paul").await.len(), before);
    assert!(events(&s, "cabinet-leclerc").await.is_empty());
}

both_backends!(contacts_are_isolated_between_accounts => isolation);

async fn bad_input(backend: Backend) {
    let Some((_db, s)) = with_accountant(backend, false).await else { return };
    let mut c = s.contacts();
    let valid = accountant("");

    let cases: Vec<(&str, Status, Vec<&str>)> = vec![
        ("create: empty", create(&s, Default::default()).await.unwrap_err(), vec!["account_id", "given_name", "email"]),
        (
            "create: envelope and ids",
            create(
                &s,
                pb::CreateContactRequest {
                    request_id: "!".into(),
                    actor_id: "a b".into(),
                    id: "a/b".into(),
                    user_id: "x y".into(),
                    ..valid.clone()
                },
            )
            .await
            .unwrap_err(),
            vec!["request_id", "actor_id", "id", "user_id"],
        ),
        (
            "create: email, phone, title",
            create(
                &s,
                pb::CreateContactRequest {
                    email: "claire@".into(),
                    phone: "0612".into(),
                    title: "x".repeat(257),
                    ..valid.clone()
                },
            )
            .await
            .unwrap_err(),
            vec!["email", "phone", "title"],
        ),
        (
            "create: subscriptions and permissions",
            create(
                &s,
                pb::CreateContactRequest {
                    subscriptions: vec![Sub::Invoices as i32, Sub::Unspecified as i32, Sub::Invoices as i32],
                    permissions: vec![42],
                    ..valid.clone()
                },
            )
            .await
            .unwrap_err(),
            vec!["subscriptions[1]", "subscriptions[2]", "permissions[0]"],
        ),
        ("get: no id", c.get_contact(pb::GetContactRequest::default()).await.unwrap_err(), vec!["id"]),
        (
            "list: account and subscription",
            c.list_contacts(pb::ListContactsRequest { subscription: 99, ..Default::default() }).await.unwrap_err(),
            vec!["account_id", "subscription"],
        ),
        (
            "list: paging",
            c.list_contacts(pb::ListContactsRequest {
                account_id: "atelier-paul".into(),
                page_size: 5000,
                page_token: "zzz".into(),
                ..Default::default()
            })
            .await
            .unwrap_err(),
            vec!["page_size", "page_token"],
        ),
        (
            "update: nothing",
            c.update_contact(pb::UpdateContactRequest::default()).await.unwrap_err(),
            vec!["id", "given_name", "email"],
        ),
        (
            "delete: malformed id",
            c.delete_contact(pb::DeleteContactRequest { id: "a/b".into(), ..Default::default() }).await.unwrap_err(),
            vec!["id"],
        ),
        (
            "get order: account and type",
            c.get_communication_order(pb::GetCommunicationOrderRequest { r#type: 7, ..Default::default() })
                .await
                .unwrap_err(),
            vec!["account_id", "type"],
        ),
        (
            "set order: duplicate",
            set_order(&s, "", "atelier-paul", Technical, &["comptable", "c-x", "comptable"]).await.unwrap_err(),
            vec!["contact_ids[2]"],
        ),
        (
            "set order: malformed ids",
            set_order(&s, "", "atelier-paul", Technical, &["comptable", "", "a/b"]).await.unwrap_err(),
            vec!["contact_ids[1]", "contact_ids[2]"],
        ),
        (
            "set order: too many, no type",
            s.contacts()
                .set_communication_order(pb::SetCommunicationOrderRequest {
                    account_id: "atelier-paul".into(),
                    contact_ids: (0..101).map(|i| format!("c{i}")).collect(),
                    ..Default::default()
                })
                .await
                .unwrap_err(),
            vec!["type", "contact_ids"],
        ),
    ];
    for (label, e, fields) in cases {
        assert_eq!(
            (e.code(), violated_fields(&e)),
            (Code::InvalidArgument, fields.iter().map(|f| (*f).to_owned()).collect()),
            "{label}: {e:?}"
        );
    }

    // What only the store can tell.
    // A user of another account (Claire), and an unknown user with the same answer: user ids cannot
    // be probed.
    for user in ["claire", "inconnu"] {
        let e = create(&s, pb::CreateContactRequest { user_id: user.into(), id: "c2".into(), ..valid.clone() })
            .await
            .unwrap_err();
        assert_eq!(
            (e.code(), precondition(&e)),
            (Code::FailedPrecondition, ("USER_NOT_MEMBER".into(), format!("users/{user}"))),
            "a contact for the user {user}"
        );
    }
    let e = create(&s, pb::CreateContactRequest { account_id: "inconnu".into(), id: "c2".into(), ..valid.clone() })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    let e = create(&s, valid.clone()).await.unwrap_err();
    assert_eq!(e.code(), Code::AlreadyExists);
    let ghost = pb::UpdateContactRequest {
        id: "fantome".into(),
        family_name: "X".into(),
        email: "x@exemple.fr".into(),
        ..Default::default()
    };
    let e = c.update_contact(ghost).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    let e = set_order(&s, "", "inconnu", Financial, &[]).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    s.accounts()
        .suspend_account(pb::SuspendAccountRequest { id: "atelier-paul".into(), ..Default::default() })
        .await
        .unwrap();
    let e = create(&s, pb::CreateContactRequest { id: "c3".into(), ..valid }).await.unwrap_err();
    assert_eq!(precondition(&e).0, "ACCOUNT_SUSPENDED");

    // None of it wrote anything.
    let evs = events(&s, "atelier-paul").await;
    assert_eq!(evs.iter().map(|e| e.r#type.as_str()).collect::<Vec<_>>(), ["contact.created"]);
}

both_backends!(contacts_refuse_bad_input => bad_input);
