//! ContactService: requests in, contacts and communication orders out.

use std::collections::BTreeSet;

use guichet_domain as d;

use super::{Authored, Check, Invalid, MAX_NAME_CHARS, PageParams, authored, ids_in, ts};
use crate::v1 as pb;

/// ListContacts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListContacts {
    /// The account.
    pub account: d::AccountId,
    /// Only contacts with this subscription.
    pub subscription: Option<d::ContactSubscription>,
    /// Paging.
    pub page: PageParams,
}

/// GetCommunicationOrder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommunicationOrderQuery {
    /// The account.
    pub account: d::AccountId,
    /// The communication type.
    pub kind: d::CommunicationType,
}

fn subscription_in(value: i32) -> Result<Option<d::ContactSubscription>, &'static str> {
    use d::ContactSubscription as S;
    match pb::ContactSubscription::try_from(value) {
        Ok(pb::ContactSubscription::Unspecified) => Ok(None),
        Ok(pb::ContactSubscription::Invoices) => Ok(Some(S::Invoices)),
        Ok(pb::ContactSubscription::PaymentReminders) => Ok(Some(S::PaymentReminders)),
        Ok(pb::ContactSubscription::MaintenanceNotices) => Ok(Some(S::MaintenanceNotices)),
        Ok(pb::ContactSubscription::IncidentNotices) => Ok(Some(S::IncidentNotices)),
        Ok(pb::ContactSubscription::SecurityAlerts) => Ok(Some(S::SecurityAlerts)),
        Ok(pb::ContactSubscription::Commercial) => Ok(Some(S::Commercial)),
        Err(_) => Err("unknown value"),
    }
}

fn permission_in(value: i32) -> Option<d::ContactPermission> {
    use d::ContactPermission as P;
    match pb::ContactPermission::try_from(value) {
        Ok(pb::ContactPermission::Administrator) => Some(P::Administrator),
        Ok(pb::ContactPermission::Voip911) => Some(P::Voip911),
        Ok(pb::ContactPermission::ContactManagement) => Some(P::ContactManagement),
        Ok(pb::ContactPermission::Billing) => Some(P::Billing),
        Ok(pb::ContactPermission::CdrDownload) => Some(P::CdrDownload),
        Ok(pb::ContactPermission::Unspecified) | Err(_) => None,
    }
}

fn kind_in(c: &mut Check, value: i32) -> Option<d::CommunicationType> {
    match pb::CommunicationType::try_from(value) {
        Ok(pb::CommunicationType::Technical) => Some(d::CommunicationType::Technical),
        Ok(pb::CommunicationType::Financial) => Some(d::CommunicationType::Financial),
        Ok(pb::CommunicationType::Unspecified) | Err(_) => {
            c.push("type", "must be COMMUNICATION_TYPE_TECHNICAL or COMMUNICATION_TYPE_FINANCIAL");
            None
        }
    }
}

/// A list of enum values: none unspecified or unknown, none twice; `field[i]` names the bad one.
fn set_in<T: Ord + Copy + std::fmt::Display>(
    c: &mut Check,
    field: &str,
    values: &[i32],
    expected: &str,
    parse: impl Fn(i32) -> Option<T>,
) -> Option<BTreeSet<T>> {
    let mut out = BTreeSet::new();
    let mut ok = true;
    for (i, v) in values.iter().enumerate() {
        match parse(*v) {
            Some(x) => {
                if !out.insert(x) {
                    c.push(format!("{field}[{i}]"), format!("{x} is listed twice"));
                    ok = false;
                }
            }
            None => {
                c.push(format!("{field}[{i}]"), format!("must be one of {expected}"));
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

/// A contact name or title: trimmed, at most 256 characters, no control characters; may be empty.
fn contact_text(c: &mut Check, field: &str, s: &str) -> Option<String> {
    if s.trim().is_empty() { Some(String::new()) } else { c.text(field, s, 1, MAX_NAME_CHARS) }
}

#[expect(clippy::too_many_arguments, reason = "the editable fields of a contact, destructured by the caller")]
fn details_in(
    c: &mut Check,
    given_name: &str,
    family_name: &str,
    email: &str,
    phone: &str,
    title: &str,
    subscriptions: &[i32],
    permissions: &[i32],
    user_id: &str,
) -> Option<d::ContactDetails> {
    let given = contact_text(c, "given_name", given_name);
    let family = contact_text(c, "family_name", family_name);
    let email_v = c.optional("email", email, d::Email::parse);
    let phone_v = c.optional("phone", phone, d::Phone::parse);
    let title = contact_text(c, "title", title);
    let subscriptions = set_in(
        c,
        "subscriptions",
        subscriptions,
        "CONTACT_SUBSCRIPTION_INVOICES, _PAYMENT_REMINDERS, _MAINTENANCE_NOTICES, _INCIDENT_NOTICES, _SECURITY_ALERTS, _COMMERCIAL",
        |v| subscription_in(v).ok().flatten(),
    );
    let permissions = set_in(
        c,
        "permissions",
        permissions,
        "CONTACT_PERMISSION_ADMINISTRATOR, _VOIP_911, _CONTACT_MANAGEMENT, _BILLING, _CDR_DOWNLOAD",
        permission_in,
    );
    let user = c.optional("user_id", user_id, d::UserId::parse);
    // The rules across fields (`ContactDetails::validate`), checked on the raw values so that they
    // are reported together with every other bad field.
    if given_name.trim().is_empty() && family_name.trim().is_empty() {
        c.push("given_name", "given_name or family_name is required");
    }
    if email.is_empty() && phone.is_empty() {
        c.push("email", "email or phone is required");
    }
    Some(d::ContactDetails {
        given_name: given?,
        family_name: family?,
        email: email_v?,
        phone: phone_v?,
        title: title?,
        subscriptions: subscriptions?,
        permissions: permissions?,
        user: user?,
    })
}

impl TryFrom<pb::CreateContactRequest> for Authored<d::NewContact> {
    type Error = Invalid;
    fn try_from(r: pb::CreateContactRequest) -> Result<Self, Invalid> {
        let pb::CreateContactRequest {
            request_id,
            actor_id,
            id,
            account_id,
            given_name,
            family_name,
            email,
            phone,
            title,
            subscriptions,
            permissions,
            user_id,
        } = r;
        authored(&request_id, &actor_id, |c| {
            let id = c.optional("id", &id, d::ContactId::parse);
            let account = c.required("account_id", &account_id, d::AccountId::parse);
            let details = details_in(
                c,
                &given_name,
                &family_name,
                &email,
                &phone,
                &title,
                &subscriptions,
                &permissions,
                &user_id,
            );
            Some(d::NewContact { id: id?, account: account?, details: details? })
        })
    }
}

by_id!(read GetContactRequest => d::ContactId);

impl TryFrom<pb::ListContactsRequest> for Authored<ListContacts> {
    type Error = Invalid;
    fn try_from(r: pb::ListContactsRequest) -> Result<Self, Invalid> {
        let pb::ListContactsRequest { actor_id, account_id, subscription, page_size, page_token } = r;
        authored("", &actor_id, |c| {
            let account = c.required("account_id", &account_id, d::AccountId::parse);
            let subscription = c.ok("subscription", subscription_in(subscription));
            Some(ListContacts {
                account: account?,
                subscription: subscription?,
                page: PageParams { size: page_size, token: page_token },
            })
        })
    }
}

impl TryFrom<pb::UpdateContactRequest> for Authored<d::ContactUpdate> {
    type Error = Invalid;
    fn try_from(r: pb::UpdateContactRequest) -> Result<Self, Invalid> {
        let pb::UpdateContactRequest {
            request_id,
            actor_id,
            id,
            given_name,
            family_name,
            email,
            phone,
            title,
            subscriptions,
            permissions,
            user_id,
        } = r;
        authored(&request_id, &actor_id, |c| {
            let id = c.required("id", &id, d::ContactId::parse);
            let details = details_in(
                c,
                &given_name,
                &family_name,
                &email,
                &phone,
                &title,
                &subscriptions,
                &permissions,
                &user_id,
            );
            Some(d::ContactUpdate { id: id?, details: details? })
        })
    }
}

by_id!(write DeleteContactRequest => d::ContactId);

impl TryFrom<pb::GetCommunicationOrderRequest> for Authored<CommunicationOrderQuery> {
    type Error = Invalid;
    fn try_from(r: pb::GetCommunicationOrderRequest) -> Result<Self, Invalid> {
        let pb::GetCommunicationOrderRequest { actor_id, account_id, r#type } = r;
        authored("", &actor_id, |c| {
            let account = c.required("account_id", &account_id, d::AccountId::parse);
            let kind = kind_in(c, r#type);
            Some(CommunicationOrderQuery { account: account?, kind: kind? })
        })
    }
}

impl TryFrom<pb::SetCommunicationOrderRequest> for Authored<d::NewCommunicationOrder> {
    type Error = Invalid;
    fn try_from(r: pb::SetCommunicationOrderRequest) -> Result<Self, Invalid> {
        let pb::SetCommunicationOrderRequest { request_id, actor_id, account_id, r#type, contact_ids } = r;
        authored(&request_id, &actor_id, |c| {
            let account = c.required("account_id", &account_id, d::AccountId::parse);
            let kind = kind_in(c, r#type);
            let contacts = ids_in(c, "contact_ids", &contact_ids, d::MAX_COMMUNICATION_ORDER, d::ContactId::parse);
            let mut unique = true;
            if let Some(ids) = &contacts {
                let mut seen = BTreeSet::new();
                for (i, id) in ids.iter().enumerate() {
                    if !seen.insert(id) {
                        c.push(format!("contact_ids[{i}]"), format!("{id} is listed twice"));
                        unique = false;
                    }
                }
            }
            if !unique {
                return None;
            }
            Some(d::NewCommunicationOrder { account: account?, kind: kind?, contacts: contacts? })
        })
    }
}

impl From<d::ContactSubscription> for pb::ContactSubscription {
    fn from(s: d::ContactSubscription) -> Self {
        match s {
            d::ContactSubscription::Invoices => pb::ContactSubscription::Invoices,
            d::ContactSubscription::PaymentReminders => pb::ContactSubscription::PaymentReminders,
            d::ContactSubscription::MaintenanceNotices => pb::ContactSubscription::MaintenanceNotices,
            d::ContactSubscription::IncidentNotices => pb::ContactSubscription::IncidentNotices,
            d::ContactSubscription::SecurityAlerts => pb::ContactSubscription::SecurityAlerts,
            d::ContactSubscription::Commercial => pb::ContactSubscription::Commercial,
        }
    }
}

impl From<d::ContactPermission> for pb::ContactPermission {
    fn from(p: d::ContactPermission) -> Self {
        match p {
            d::ContactPermission::Administrator => pb::ContactPermission::Administrator,
            d::ContactPermission::Voip911 => pb::ContactPermission::Voip911,
            d::ContactPermission::ContactManagement => pb::ContactPermission::ContactManagement,
            d::ContactPermission::Billing => pb::ContactPermission::Billing,
            d::ContactPermission::CdrDownload => pb::ContactPermission::CdrDownload,
        }
    }
}

impl From<d::CommunicationType> for pb::CommunicationType {
    fn from(t: d::CommunicationType) -> Self {
        match t {
            d::CommunicationType::Technical => pb::CommunicationType::Technical,
            d::CommunicationType::Financial => pb::CommunicationType::Financial,
        }
    }
}

impl From<&d::Contact> for pb::Contact {
    fn from(x: &d::Contact) -> Self {
        let det = &x.details;
        pb::Contact {
            id: x.id.to_string(),
            account_id: x.account.to_string(),
            given_name: det.given_name.clone(),
            family_name: det.family_name.clone(),
            email: det.email.as_ref().map(ToString::to_string).unwrap_or_default(),
            phone: det.phone.as_ref().map(ToString::to_string).unwrap_or_default(),
            title: det.title.clone(),
            subscriptions: det.subscriptions.iter().map(|s| pb::ContactSubscription::from(*s) as i32).collect(),
            permissions: det.permissions.iter().map(|p| pb::ContactPermission::from(*p) as i32).collect(),
            user_id: det.user.as_ref().map(ToString::to_string).unwrap_or_default(),
            create_time: ts(x.created_at),
            update_time: ts(x.updated_at),
        }
    }
}

impl From<&d::CommunicationOrder> for pb::CommunicationOrder {
    fn from(o: &d::CommunicationOrder) -> Self {
        pb::CommunicationOrder {
            account_id: o.account.to_string(),
            r#type: pb::CommunicationType::from(o.kind) as i32,
            contact_ids: o.contacts.iter().map(ToString::to_string).collect(),
            update_time: o.updated_at.and_then(ts),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(e: Invalid) -> Vec<String> {
        e.0.into_iter().map(|v| v.field).collect()
    }

    #[test]
    fn a_contact_names_every_bad_field() {
        let r = pb::CreateContactRequest {
            account_id: "a/b".into(),
            family_name: "Roux".into(),
            email: "not-an-email".into(),
            title: "x".repeat(257),
            subscriptions: vec![1, 0, 1],
            permissions: vec![99],
            ..Default::default()
        };
        let e = Authored::<d::NewContact>::try_from(r).unwrap_err();
        assert_eq!(
            fields(e),
            ["account_id", "email", "title", "subscriptions[1]", "subscriptions[2]", "permissions[0]"]
        );
    }

    #[test]
    fn a_contact_needs_a_name_and_an_email_or_a_phone() {
        let r = pb::CreateContactRequest { account_id: "a".into(), ..Default::default() };
        let e = Authored::<d::NewContact>::try_from(r).unwrap_err();
        assert_eq!(fields(e), ["given_name", "email"]);
    }

    #[test]
    fn an_order_refuses_duplicates_and_long_lists() {
        let r = pb::SetCommunicationOrderRequest {
            account_id: "a".into(),
            r#type: pb::CommunicationType::Technical as i32,
            contact_ids: vec!["c1".into(), "c2".into(), "c1".into()],
            ..Default::default()
        };
        let e = Authored::<d::NewCommunicationOrder>::try_from(r).unwrap_err();
        assert_eq!(fields(e), ["contact_ids[2]"]);
        let r = pb::SetCommunicationOrderRequest {
            account_id: "a".into(),
            r#type: 0,
            contact_ids: (0..101).map(|i| format!("c{i}")).collect(),
            ..Default::default()
        };
        let e = Authored::<d::NewCommunicationOrder>::try_from(r).unwrap_err();
        assert_eq!(fields(e), ["type", "contact_ids"]);
    }
}
