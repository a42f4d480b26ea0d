//! `guichet.v1.AccountService`.

use guichet_domain::{AccountId, AccountStatus, NewAccount};
use guichet_proto::convert::{AccountText, ListAccounts, ListChildren, SetModules, SetSettings};
use guichet_proto::v1 as pb;
use guichet_store::AccountFilter;

use super::{admitted, handlers, page};
use crate::app::App;
use crate::paging::next_token;

#[derive(Debug)]
pub(crate) struct Accounts(pub(crate) App);

handlers! {
    impl pb::account_service_server::AccountService for Accounts {
        write "CreateAccount" fn create_account(pb::CreateAccountRequest) -> pb::CreateAccountResponse
            |app, c, r: NewAccount| {
            let (account, revision) = admitted!(app, c, app.create_account(&c, &r.body).await)?;
            pb::CreateAccountResponse { account: Some((&account).into()), revision: revision.token() }
        }

        read "GetAccount" fn get_account(pb::GetAccountRequest) -> pb::GetAccountResponse |app, c, r: AccountId| {
            let account = app.get_account(&c, &r.body).await?;
            pb::GetAccountResponse { account: Some((&account).into()) }
        }

        read "ListAccounts" fn list_accounts(pb::ListAccountsRequest) -> pb::ListAccountsResponse
            |app, c, r: ListAccounts| {
            let p = page(&r.body.page)?;
            let filter = AccountFilter { parent: r.body.parent, kind: r.body.kind, status: r.body.status };
            let found = app.list_accounts(&c, &filter, &p).await?;
            pb::ListAccountsResponse {
                accounts: found.items.iter().map(Into::into).collect(),
                next_page_token: next_token(found.next_after.as_deref()),
            }
        }

        read "ListChildAccounts" fn list_child_accounts(pb::ListChildAccountsRequest) -> pb::ListChildAccountsResponse
            |app, c, r: ListChildren| {
            let p = page(&r.body.page)?;
            let found = app.list_children(&c, &r.body.id, r.body.recursive, &p).await?;
            pb::ListChildAccountsResponse {
                accounts: found.items.iter().map(Into::into).collect(),
                next_page_token: next_token(found.next_after.as_deref()),
            }
        }

        write "UpdateAccount" fn update_account(pb::UpdateAccountRequest) -> pb::UpdateAccountResponse
            |app, c, r: AccountText| {
            let (account, revision) =
                admitted!(app, c, app.rename_account(&c, &r.body.id, r.body.text.as_deref()).await)?;
            pb::UpdateAccountResponse { account: Some((&account).into()), revision: revision.token() }
        }

        write "SuspendAccount" fn suspend_account(pb::SuspendAccountRequest) -> pb::SuspendAccountResponse
            |app, c, r: AccountText| {
            let (account, revision) = admitted!(
                app,
                c,
                app.set_account_status(&c, &r.body.id, AccountStatus::Suspended, r.body.text.clone()).await
            )?;
            pb::SuspendAccountResponse { account: Some((&account).into()), revision: revision.token() }
        }

        write "ReactivateAccount" fn reactivate_account(pb::ReactivateAccountRequest) -> pb::ReactivateAccountResponse
            |app, c, r: AccountId| {
            let (account, revision) =
                admitted!(app, c, app.set_account_status(&c, &r.body, AccountStatus::Active, None).await)?;
            pb::ReactivateAccountResponse { account: Some((&account).into()), revision: revision.token() }
        }

        write "SetAccountModules" fn set_account_modules(pb::SetAccountModulesRequest) -> pb::SetAccountModulesResponse
            |app, c, r: SetModules| {
            let (account, revision) =
                admitted!(app, c, app.set_account_modules(&c, &r.body.id, &r.body.modules).await)?;
            pb::SetAccountModulesResponse { account: Some((&account).into()), revision: revision.token() }
        }

        write "UpdateAccountSettings" fn update_account_settings(pb::UpdateAccountSettingsRequest)
            -> pb::UpdateAccountSettingsResponse |app, c, r: SetSettings| {
            let (account, revision) =
                admitted!(app, c, app.set_account_settings(&c, &r.body.id, &r.body.change).await)?;
            pb::UpdateAccountSettingsResponse { account: Some((&account).into()), revision: revision.token() }
        }
    }
}
