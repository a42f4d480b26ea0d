//! Contacts and the communication order (DESIGN §2, seeds 002 and 004).
//!
//! A contact is a person attached to an account who cannot log in — the accountant who gets the
//! invoices. It receives the emails it subscribed to ([`ContactSubscription`]), carries seed 004's
//! per-contact flags ([`ContactPermission`]), and may be linked to a user of the account. For each
//! [`CommunicationType`] the account keeps an ordered list of its own contacts, called in order
//! ([`CommunicationOrder`]); deleting a contact removes it from every order.

use std::collections::BTreeSet;

use crate::status::text_enum;
use crate::{AccountId, ContactId, Email, FieldViolation, Phone, Timestamp, UserId};

/// The longest contact name or title, in characters.
pub const MAX_CONTACT_TEXT_CHARS: usize = 256;
/// The most contacts in one communication order.
pub const MAX_COMMUNICATION_ORDER: usize = 100;

text_enum!(
    /// The emails a contact chooses to receive (seed 002: "the accountant gets the invoices").
    ContactSubscription,
    "invoices, payment_reminders, maintenance_notices, incident_notices, security_alerts or commercial",
    {
        /// Invoices and credit notes.
        Invoices => "invoices",
        /// Payment reminders and failed-payment notices.
        PaymentReminders => "payment_reminders",
        /// Planned maintenance notices.
        MaintenanceNotices => "maintenance_notices",
        /// Incident and outage notices.
        IncidentNotices => "incident_notices",
        /// Security alerts.
        SecurityAlerts => "security_alerts",
        /// Commercial offers and newsletters.
        Commercial => "commercial",
    }
);

text_enum!(
    /// What a contact may ask for on the account's behalf (seed 004's per-contact flags). They tell
    /// support what it may do for the contact; a linked user's portal access comes from its roles.
    ContactPermission,
    "administrator, voip_911, contact_management, billing or cdr_download",
    {
        /// Acts as an administrator of the account.
        Administrator => "administrator",
        /// Manages the 911 (emergency) addresses of VoIP lines.
        Voip911 => "voip_911",
        /// Manages the account's contacts.
        ContactManagement => "contact_management",
        /// Handles billing.
        Billing => "billing",
        /// Downloads call detail records of VoIP lines.
        CdrDownload => "cdr_download",
    }
);

text_enum!(
    /// The kinds of communication made to an ordered list of contacts (seed 004).
    CommunicationType, "technical or financial", {
        /// Technical matters (service problems, equipment).
        Technical => "technical",
        /// Billing matters.
        Financial => "financial",
    }
);

/// A person attached to an account who cannot log in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    /// Its id.
    pub id: ContactId,
    /// The account it belongs to; fixed at creation.
    pub account: AccountId,
    /// Its editable fields.
    pub details: ContactDetails,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it was last changed.
    pub updated_at: Timestamp,
}

/// The editable fields of a contact, as created or replaced whole.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContactDetails {
    /// Given (first) name; empty when unknown.
    pub given_name: String,
    /// Family (last) name; empty when unknown.
    pub family_name: String,
    /// Email address.
    pub email: Option<Email>,
    /// Phone number in E.164 form.
    pub phone: Option<Phone>,
    /// Job title or role in the company, e.g. "Comptable"; empty when none.
    pub title: String,
    /// The emails it receives.
    pub subscriptions: BTreeSet<ContactSubscription>,
    /// What it may ask for on the account's behalf.
    pub permissions: BTreeSet<ContactPermission>,
    /// The user this contact is, when it is also a member of the account.
    pub user: Option<UserId>,
}

impl ContactDetails {
    /// Checks the rules that involve more than one field: a contact has a name (given or family)
    /// and a way to be reached (email or phone). Fields are validated one by one at the edge.
    pub fn validate(&self) -> Result<(), Vec<FieldViolation>> {
        let mut violations = Vec::new();
        if self.given_name.trim().is_empty() && self.family_name.trim().is_empty() {
            violations.push(FieldViolation::new("given_name", "given_name or family_name is required"));
        }
        if self.email.is_none() && self.phone.is_none() {
            violations.push(FieldViolation::new("email", "email or phone is required"));
        }
        if violations.is_empty() { Ok(()) } else { Err(violations) }
    }
}

/// Adds a contact to an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewContact {
    /// A client-chosen id; generated when absent.
    pub id: Option<ContactId>,
    /// The account.
    pub account: AccountId,
    /// Its fields.
    pub details: ContactDetails,
}

/// Replaces every editable field of a contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactUpdate {
    /// The contact.
    pub id: ContactId,
    /// Its new fields.
    pub details: ContactDetails,
}

/// The ordered contacts of one communication type in one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommunicationOrder {
    /// The account.
    pub account: AccountId,
    /// The communication type.
    pub kind: CommunicationType,
    /// The contacts to call, first first; each a contact of the account, no duplicates.
    pub contacts: Vec<ContactId>,
    /// When the order was last changed; `None` when never set.
    pub updated_at: Option<Timestamp>,
}

/// Replaces the ordered contacts of one communication type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCommunicationOrder {
    /// The account.
    pub account: AccountId,
    /// The communication type.
    pub kind: CommunicationType,
    /// The contacts in calling order (at most [`MAX_COMMUNICATION_ORDER`], no duplicates).
    pub contacts: Vec<ContactId>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_round_trip_through_their_stored_form() {
        for s in ContactSubscription::ALL {
            assert_eq!(ContactSubscription::parse(s.as_str()), Ok(*s));
        }
        for p in ContactPermission::ALL {
            assert_eq!(ContactPermission::parse(p.as_str()), Ok(*p));
        }
        for t in CommunicationType::ALL {
            assert_eq!(CommunicationType::parse(t.as_str()), Ok(*t));
        }
        assert_eq!(CommunicationType::parse("urgent").unwrap_err().as_str(), "must be technical or financial");
    }

    #[test]
    fn a_contact_needs_a_name_and_a_way_to_reach_it() {
        let empty = ContactDetails::default();
        let fields: Vec<_> = empty.validate().unwrap_err().into_iter().map(|v| v.field).collect();
        assert_eq!(fields, ["given_name", "email"]);
        let phone_only = ContactDetails {
            family_name: "Roux".into(),
            phone: Some(Phone::parse("+33612345678").unwrap()),
            ..ContactDetails::default()
        };
        assert_eq!(phone_only.validate(), Ok(()));
    }

    #[test]
    fn subscriptions_sort_in_the_order_of_the_api() {
        let set: BTreeSet<_> = [ContactSubscription::Commercial, ContactSubscription::Invoices].into_iter().collect();
        assert_eq!(
            set.into_iter().collect::<Vec<_>>(),
            [ContactSubscription::Invoices, ContactSubscription::Commercial]
        );
    }
}
