//! `guichet.v1.AccountService`.

use guichet_domain::{AccountId, AccountStatus, NewAccount};
use guichet_proto::convert::{AccountText, ListAccounts, ListChildren, SetModules, SetSettings};
use guichet_proto::v1 as pb;
use guichet_store::AccountFilter;

use super::{admitted, handlers};
use crate::app::App;

#[derive(Debug)]
pub(crate) struct Accounts(pub(crate) App);

handlers! {
    impl pb::account_service_server::AccountService for Accounts {
        write "CreateAccount" fn create_account(pb::CreateAccountRequest) -> pb::CreateAccountResponse { account }
            |app, c, r: NewAccount| admitted!(app, c, app.create_account(&c, &r.body).await);

        read "GetAccount" fn get_account(pb::GetAccountRequest) -> pb::GetAccountResponse { account }
            |app, c, r: AccountId| app.get_account(&c, &r.body).await;

        read "ListAccounts" fn list_accounts(pb::ListAccountsRequest)
            -> pb::ListAccountsResponse { accounts, next_page_token }
            |app, c, r: ListAccounts, p| {
                let filter = AccountFilter { parent: r.body.parent, kind: r.body.kind, status: r.body.status };
                app.list_accounts(&c, &filter, &p).await
            };

        read "ListChildAccounts" fn list_child_accounts(pb::ListChildAccountsRequest)
            -> pb::ListChildAccountsResponse { accounts, next_page_token }
            |app, c, r: ListChildren, p| app.list_children(&c, &r.body.id, r.body.recursive, &p).await;

        write "UpdateAccount" fn update_account(pb::UpdateAccountRequest) -> pb::UpdateAccountResponse { account }
            |app, c, r: AccountText|
                admitted!(app, c, app.rename_account(&c, &r.body.id, r.body.text.as_deref()).await);

        write "SuspendAccount" fn suspend_account(pb::SuspendAccountRequest) -> pb::SuspendAccountResponse { account }
            |app, c, r: AccountText|
                admitted!(
                    app,
                    c,
                    app.set_account_status(&c, &r.body.id, AccountStatus::Suspended, r.body.text.clone()).await
                );

        write "ReactivateAccount" fn reactivate_account(pb::ReactivateAccountRequest)
            -> pb::ReactivateAccountResponse { account }
            |app, c, r: AccountId|
                admitted!(app, c, app.set_account_status(&c, &r.body, AccountStatus::Active, None).await);

        write "SetAccountModules" fn set_account_modules(pb::SetAccountModulesRequest)
            -> pb::SetAccountModulesResponse { account }
            |app, c, r: SetModules| admitted!(app, c, app.set_account_modules(&c, &r.body.id, &r.body.modules).await);

        write "UpdateAccountSettings" fn update_account_settings(pb::UpdateAccountSettingsRequest)
            -> pb::UpdateAccountSettingsResponse { account }
            |app, c, r: SetSettings| admitted!(app, c, app.set_account_settings(&c, &r.body.id, &r.body.change).await);
    }
}
