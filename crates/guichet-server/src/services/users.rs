//! `guichet.v1.UserService`.

use guichet_domain::{Email, UserId, UserStatus};
use guichet_proto::convert::{CreateUser, MyAccountsQuery, UpdateUser};
use guichet_proto::v1 as pb;
use guichet_store::UserChanges;

use super::{admitted, handlers, page};
use crate::app::App;
use crate::paging::next_token;

#[derive(Debug)]
pub(crate) struct Users(pub(crate) App);

handlers! {
    impl pb::user_service_server::UserService for Users {
        write "CreateUser" fn create_user(pb::CreateUserRequest) -> pb::CreateUserResponse |app, c, r: CreateUser| {
            let (user, revision, flag) =
                admitted!(app, c, app.create_user(&c, r.body.account.as_ref(), &r.body.user).await)?;
            pb::CreateUserResponse {
                user: Some((&user).into()),
                revision: revision.token(),
                email_flagged: flag.is_some(),
                email_flag_reason: flag.unwrap_or_default(),
            }
        }

        read "GetUser" fn get_user(pb::GetUserRequest) -> pb::GetUserResponse { user }
            |app, c, r: UserId| app.get_user(&c, &r.body).await;

        read "FindUserByEmail" fn find_user_by_email(pb::FindUserByEmailRequest) -> pb::FindUserByEmailResponse { user }
            |app, c, r: Email| app.find_user_by_email(&c, &r.body).await;

        write "UpdateUser" fn update_user(pb::UpdateUserRequest) -> pb::UpdateUserResponse |app, c, r: UpdateUser| {
            let UpdateUser { id, given_name, family_name, phone, idp_subject } = r.body;
            let changes = UserChanges { given_name, family_name, phone, idp_subject };
            let (user, revision) = admitted!(app, c, app.update_user(&c, &id, &changes).await)?;
            pb::UpdateUserResponse { user: Some((&user).into()), revision: revision.token() }
        }

        write "SuspendUser" fn suspend_user(pb::SuspendUserRequest) -> pb::SuspendUserResponse { user }
            |app, c, r: UserId| admitted!(app, c, app.set_user_status(&c, &r.body, UserStatus::Suspended).await);

        write "ReactivateUser" fn reactivate_user(pb::ReactivateUserRequest) -> pb::ReactivateUserResponse { user }
            |app, c, r: UserId| admitted!(app, c, app.set_user_status(&c, &r.body, UserStatus::Active).await);

        query "ListMyAccounts" fn list_my_accounts(pb::ListMyAccountsRequest) -> pb::ListMyAccountsResponse
            |app, q: MyAccountsQuery| {
            let p = page(&q.page)?;
            let (items, next_after, default) = app.my_accounts(&q.user, &p).await?;
            pb::ListMyAccountsResponse {
                accounts: items
                    .iter()
                    .map(|(m, a)| pb::MyAccount {
                        account: Some(a.into()),
                        membership_id: m.id.to_string(),
                        roles: m.roles.iter().map(ToString::to_string).collect(),
                        status: pb::MembershipStatus::from(m.status) as i32,
                    })
                    .collect(),
                default_account_id: default.map(|a| a.to_string()).unwrap_or_default(),
                next_page_token: next_token(next_after.as_deref()),
            }
        }
    }
}
