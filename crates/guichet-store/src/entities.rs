//! sea-orm entities, one module per table. Timestamps are milliseconds since the Unix epoch; sets and
//! settings are JSON text, so that one schema serves SQLite and PostgreSQL alike.
#![expect(missing_docs, reason = "sea-orm's derive macros write items without docs")]

/// The single-row revision counter every write bumps.
pub mod revision {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
    #[sea_orm(table_name = "guichet_revision")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i32,
        pub value: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Accounts, with their materialised path (`root/…/self`) so that ancestors and descendants are
/// one query whatever the depth.
pub mod account {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
    #[sea_orm(table_name = "accounts")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub name: String,
        pub kind: String,
        pub parent_id: Option<String>,
        pub path: String,
        pub depth: i32,
        pub status: String,
        pub suspension_reason: Option<String>,
        pub modules: String,
        pub settings: String,
        pub created_at: i64,
        pub updated_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Users; the normalised email is unique.
pub mod user {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
    #[sea_orm(table_name = "users")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        #[sea_orm(unique)]
        pub email: String,
        pub given_name: String,
        pub family_name: String,
        pub phone: Option<String>,
        pub idp_subject: Option<String>,
        pub status: String,
        /// When the person proved the email; `None` while unclaimed.
        pub claimed_at: Option<i64>,
        pub created_at: i64,
        pub updated_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Custom roles of an account (built-in roles live in the catalog).
pub mod role {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
    #[sea_orm(table_name = "roles")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub account_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub name: String,
        pub display_name: String,
        pub description: String,
        pub grants: String,
        pub descendant_grants: String,
        pub created_at: i64,
        pub updated_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Memberships: user × account, one row per pair.
pub mod membership {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
    #[sea_orm(table_name = "memberships")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub user_id: String,
        pub account_id: String,
        pub status: String,
        pub restricted: bool,
        pub created_by: Option<String>,
        pub approved_by: Option<String>,
        pub created_at: i64,
        pub updated_at: i64,
        /// When it stops granting (milliseconds since the epoch); `None`: never.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub expires_at: Option<i64>,
        /// Whether the expiry's audit event was written (by one replica's sweeper); bookkeeping,
        /// left out of the audit events' snapshots.
        #[serde(default, skip_serializing)]
        pub expiry_recorded: bool,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The roles a membership holds; `account_id` is repeated so "who holds role R here" is one index.
pub mod membership_role {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
    #[sea_orm(table_name = "membership_roles")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub membership_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub role_name: String,
        pub account_id: String,
        pub position: i32,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The resources a restricted membership may reach, each with its level cap.
pub mod membership_resource {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
    #[sea_orm(table_name = "membership_resources")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub membership_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub resource_id: String,
        /// The membership's level cap on the resource: `view` or `full` (the roles' levels).
        pub level: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Resources (folders) of an account.
pub mod resource {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
    #[sea_orm(table_name = "resources")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub account_id: String,
        pub kind: String,
        pub name: String,
        pub created_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Delegations of administration from one account into another.
pub mod delegation {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
    #[sea_orm(table_name = "delegations")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub from_account_id: String,
        pub to_account_id: String,
        pub role: String,
        pub created_by: Option<String>,
        pub created_at: i64,
        /// When it stops granting (milliseconds since the epoch); `None`: never.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub expires_at: Option<i64>,
        /// Whether the expiry's audit event was written (by one replica's sweeper); bookkeeping,
        /// left out of the audit events' snapshots.
        #[serde(default, skip_serializing)]
        pub expiry_recorded: bool,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Audit events, written in the transaction of the change they record.
pub mod event {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
    #[sea_orm(table_name = "events")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub revision: i64,
        pub account_id: Option<String>,
        pub actor_id: Option<String>,
        pub service: Option<String>,
        pub kind: String,
        pub target_id: String,
        pub before_json: Option<String>,
        pub after_json: Option<String>,
        pub trace_id: Option<String>,
        pub request_id: Option<String>,
        pub created_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Idempotency keys: the first write with a `request_id` claims it in its transaction.
pub mod idempotency_key {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "idempotency_keys")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub service: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub request_id: String,
        pub fingerprint: String,
        pub response: Option<Vec<u8>>,
        pub revision: i64,
        pub created_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Invitations: `status` is pending, accepted or revoked (expired is computed from `expires_at`);
/// `roles` and `resource_ids` are JSON lists; `token_hash` is the SHA-256 of the current token.
pub mod invitation {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
    #[sea_orm(table_name = "invitations")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub account_id: String,
        pub email: String,
        pub roles: String,
        pub restricted: bool,
        pub resource_ids: String,
        /// The restricted resources capped at `view` (a JSON list); `resource_ids` holds the
        /// others.
        pub view_resource_ids: String,
        pub status: String,
        #[serde(skip)]
        pub token_hash: String,
        pub invited_by: Option<String>,
        pub created_at: i64,
        pub expires_at: i64,
        pub updated_at: i64,
        pub resend_count: i32,
        pub accepted_user_id: Option<String>,
        pub membership_id: Option<String>,
        pub revoked_by: Option<String>,
        pub revocation_reason: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Every token ever issued for an invitation, by hash: an old one is recognised as superseded.
pub mod invitation_token {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "invitation_tokens")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub token_hash: String,
        pub invitation_id: String,
        pub created_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Contacts of an account (people who cannot log in); subscriptions and permissions are JSON lists.
pub mod contact {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
    #[sea_orm(table_name = "contacts")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub account_id: String,
        pub given_name: String,
        pub family_name: String,
        pub email: Option<String>,
        pub phone: Option<String>,
        pub title: String,
        pub subscriptions: String,
        pub permissions: String,
        pub user_id: Option<String>,
        pub created_at: i64,
        pub updated_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The ordered contacts of one communication type of an account; `contact_ids` is a JSON list.
pub mod communication_order {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
    #[sea_orm(table_name = "communication_orders")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub account_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub kind: String,
        pub contact_ids: String,
        pub updated_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Access requests: `status` is pending, approved, rejected, expired or cancelled; `approvers` and
/// `applied` are JSON lists; times in milliseconds since the epoch.
pub mod access_request {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
    #[sea_orm(table_name = "access_requests")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub account_id: String,
        pub requester_id: String,
        pub permission: String,
        pub resource_id: Option<String>,
        pub reason: String,
        pub status: String,
        pub approvers: String,
        pub created_at: i64,
        pub expires_at: i64,
        pub first_approved_by: Option<String>,
        pub first_approved_at: Option<i64>,
        pub decided_by: Option<String>,
        pub decision_reason: Option<String>,
        pub decided_at: Option<i64>,
        pub applied: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
