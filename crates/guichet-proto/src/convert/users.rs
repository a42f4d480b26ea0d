//! UserService: requests in, users out.

use guichet_domain as d;

use super::{
    Authored, Check, Invalid, MAX_PERSON_NAME_CHARS, PageParams, authored, authored_since, optional_text, reason_in, ts,
};
use crate::v1 as pb;

/// CreateUser: the user, and the account whose policy applies (where an actor needs users:full).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateUser {
    /// The account, when given.
    pub account: Option<d::AccountId>,
    /// The user.
    pub user: d::NewUser,
}

/// UpdateUser: `None` leaves a field unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateUser {
    /// The user.
    pub id: d::UserId,
    /// New given name.
    pub given_name: Option<String>,
    /// New family name.
    pub family_name: Option<String>,
    /// New phone.
    pub phone: Option<d::Phone>,
    /// New identity-provider subject.
    pub idp_subject: Option<String>,
}

/// ListMyAccounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MyAccountsQuery {
    /// The user.
    pub user: d::UserId,
    /// Paging.
    pub page: PageParams,
}

impl TryFrom<pb::CreateUserRequest> for Authored<CreateUser> {
    type Error = Invalid;
    fn try_from(r: pb::CreateUserRequest) -> Result<Self, Invalid> {
        let pb::CreateUserRequest {
            request_id,
            actor_id,
            id,
            email,
            given_name,
            family_name,
            phone,
            idp_subject,
            account_id,
        } = r;
        authored(&request_id, &actor_id, |c| {
            let id = c.optional("id", &id, d::UserId::parse);
            let email = c.required("email", &email, d::Email::parse);
            let given = optional_text(c, "given_name", &given_name, MAX_PERSON_NAME_CHARS);
            let family = optional_text(c, "family_name", &family_name, MAX_PERSON_NAME_CHARS);
            let phone = c.optional("phone", &phone, d::Phone::parse);
            let idp = optional_text(c, "idp_subject", &idp_subject, 255);
            let account = c.optional("account_id", &account_id, d::AccountId::parse);
            Some(CreateUser {
                account: account?,
                user: d::NewUser {
                    id: id?,
                    email: email?,
                    given_name: given?.unwrap_or_default(),
                    family_name: family?.unwrap_or_default(),
                    phone: phone?,
                    idp_subject: idp?,
                },
            })
        })
    }
}

by_id!(read GetUserRequest => d::UserId);

impl TryFrom<pb::FindUserByEmailRequest> for Authored<d::Email> {
    type Error = Invalid;
    fn try_from(r: pb::FindUserByEmailRequest) -> Result<Self, Invalid> {
        let pb::FindUserByEmailRequest { actor_id, email } = r;
        authored("", &actor_id, |c| c.required("email", &email, d::Email::parse))
    }
}

impl TryFrom<pb::UpdateUserRequest> for Authored<UpdateUser> {
    type Error = Invalid;
    fn try_from(r: pb::UpdateUserRequest) -> Result<Self, Invalid> {
        let pb::UpdateUserRequest { request_id, actor_id, id, given_name, family_name, phone, idp_subject } = r;
        authored(&request_id, &actor_id, |c| {
            let id = c.required("id", &id, d::UserId::parse);
            let given = optional_text(c, "given_name", &given_name, MAX_PERSON_NAME_CHARS);
            let family = optional_text(c, "family_name", &family_name, MAX_PERSON_NAME_CHARS);
            let phone = c.optional("phone", &phone, d::Phone::parse);
            let idp = optional_text(c, "idp_subject", &idp_subject, 255);
            Some(UpdateUser { id: id?, given_name: given?, family_name: family?, phone: phone?, idp_subject: idp? })
        })
    }
}

impl TryFrom<pb::SuspendUserRequest> for Authored<d::UserId> {
    type Error = Invalid;
    fn try_from(r: pb::SuspendUserRequest) -> Result<Self, Invalid> {
        let pb::SuspendUserRequest { request_id, actor_id, id, reason, unchanged_since } = r;
        authored_since(&request_id, &actor_id, &unchanged_since, |c| {
            let id = c.required("id", &id, d::UserId::parse);
            reason_in(c, &reason)?;
            id
        })
    }
}

by_id!(previewed ReactivateUserRequest => d::UserId);

impl TryFrom<pb::ListMyAccountsRequest> for MyAccountsQuery {
    type Error = Invalid;
    fn try_from(r: pb::ListMyAccountsRequest) -> Result<Self, Invalid> {
        let pb::ListMyAccountsRequest { user_id, page_size, page_token } = r;
        let mut c = Check::default();
        let user = c.required("user_id", &user_id, d::UserId::parse);
        c.finish(|| Some(Self { user: user?, page: PageParams { size: page_size, token: page_token } }))
    }
}

impl From<d::UserStatus> for pb::UserStatus {
    fn from(s: d::UserStatus) -> Self {
        match s {
            d::UserStatus::Active => pb::UserStatus::Active,
            d::UserStatus::Suspended => pb::UserStatus::Suspended,
        }
    }
}

impl From<&d::User> for pb::User {
    fn from(u: &d::User) -> Self {
        pb::User {
            id: u.id.to_string(),
            email: u.email.to_string(),
            given_name: u.given_name.clone(),
            family_name: u.family_name.clone(),
            phone: u.phone.as_ref().map(ToString::to_string).unwrap_or_default(),
            idp_subject: u.idp_subject.clone().unwrap_or_default(),
            status: pb::UserStatus::from(u.status) as i32,
            create_time: ts(u.created_at),
            update_time: ts(u.updated_at),
            claim_time: u.claimed_at.and_then(ts),
        }
    }
}
