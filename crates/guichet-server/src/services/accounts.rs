//! `guichet.v1.AccountService`.

use guichet_domain::{AccountId, AccountStatus, NewAccount};
use guichet_proto::convert::{AccountText, ListAccounts, ListChildren, SetModules, SetSettings};
use guichet_proto::v1 as pb;
use guichet_store::AccountFilter;
use tonic::{Request, Response, Status};

use super::{Called, admitted, authored, call, fingerprint, once, page};
use crate::app::App;
use crate::paging::next_token;

#[derive(Debug)]
pub(crate) struct Accounts(pub(crate) App);

#[tonic::async_trait]
impl pb::account_service_server::AccountService for Accounts {
    #[tracing::instrument(skip_all, fields(rpc = "CreateAccount"))]
    async fn create_account(
        &self,
        request: Request<pb::CreateAccountRequest>,
    ) -> Result<Response<pb::CreateAccountResponse>, Status> {
        let fp = fingerprint("create_account", request.get_ref());
        let r: Called<NewAccount> = authored(request)?;
        once(&self.0, call(&r), fp, async |c| {
            let (account, revision) = admitted!(self.0, c, self.0.create_account(&c, &r.body).await)?;
            Ok(pb::CreateAccountResponse { account: Some((&account).into()), revision: revision.token() })
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(rpc = "GetAccount"))]
    async fn get_account(
        &self,
        request: Request<pb::GetAccountRequest>,
    ) -> Result<Response<pb::GetAccountResponse>, Status> {
        let r: Called<AccountId> = authored(request)?;
        let account = self.0.get_account(&call(&r), &r.body).await?;
        Ok(Response::new(pb::GetAccountResponse { account: Some((&account).into()) }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "ListAccounts"))]
    async fn list_accounts(
        &self,
        request: Request<pb::ListAccountsRequest>,
    ) -> Result<Response<pb::ListAccountsResponse>, Status> {
        let r: Called<ListAccounts> = authored(request)?;
        let p = page(&r.body.page)?;
        let c = call(&r);
        let filter = AccountFilter { parent: r.body.parent, kind: r.body.kind, status: r.body.status };
        let found = self.0.list_accounts(&c, &filter, &p).await?;
        Ok(Response::new(pb::ListAccountsResponse {
            accounts: found.items.iter().map(Into::into).collect(),
            next_page_token: next_token(found.next_after.as_deref()),
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "ListChildAccounts"))]
    async fn list_child_accounts(
        &self,
        request: Request<pb::ListChildAccountsRequest>,
    ) -> Result<Response<pb::ListChildAccountsResponse>, Status> {
        let r: Called<ListChildren> = authored(request)?;
        let p = page(&r.body.page)?;
        let found = self.0.list_children(&call(&r), &r.body.id, r.body.recursive, &p).await?;
        Ok(Response::new(pb::ListChildAccountsResponse {
            accounts: found.items.iter().map(Into::into).collect(),
            next_page_token: next_token(found.next_after.as_deref()),
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "UpdateAccount"))]
    async fn update_account(
        &self,
        request: Request<pb::UpdateAccountRequest>,
    ) -> Result<Response<pb::UpdateAccountResponse>, Status> {
        let fp = fingerprint("update_account", request.get_ref());
        let r: Called<AccountText> = authored(request)?;
        once(&self.0, call(&r), fp, async |c| {
            let (account, revision) =
                admitted!(self.0, c, self.0.rename_account(&c, &r.body.id, r.body.text.as_deref()).await)?;
            Ok(pb::UpdateAccountResponse { account: Some((&account).into()), revision: revision.token() })
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(rpc = "SuspendAccount"))]
    async fn suspend_account(
        &self,
        request: Request<pb::SuspendAccountRequest>,
    ) -> Result<Response<pb::SuspendAccountResponse>, Status> {
        let fp = fingerprint("suspend_account", request.get_ref());
        let r: Called<AccountText> = authored(request)?;
        once(&self.0, call(&r), fp, async |c| {
            let (account, revision) = admitted!(
                self.0,
                c,
                self.0.set_account_status(&c, &r.body.id, AccountStatus::Suspended, r.body.text.clone()).await
            )?;
            Ok(pb::SuspendAccountResponse { account: Some((&account).into()), revision: revision.token() })
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(rpc = "ReactivateAccount"))]
    async fn reactivate_account(
        &self,
        request: Request<pb::ReactivateAccountRequest>,
    ) -> Result<Response<pb::ReactivateAccountResponse>, Status> {
        let fp = fingerprint("reactivate_account", request.get_ref());
        let r: Called<AccountId> = authored(request)?;
        once(&self.0, call(&r), fp, async |c| {
            let (account, revision) =
                admitted!(self.0, c, self.0.set_account_status(&c, &r.body, AccountStatus::Active, None).await)?;
            Ok(pb::ReactivateAccountResponse { account: Some((&account).into()), revision: revision.token() })
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(rpc = "SetAccountModules"))]
    async fn set_account_modules(
        &self,
        request: Request<pb::SetAccountModulesRequest>,
    ) -> Result<Response<pb::SetAccountModulesResponse>, Status> {
        let fp = fingerprint("set_account_modules", request.get_ref());
        let r: Called<SetModules> = authored(request)?;
        once(&self.0, call(&r), fp, async |c| {
            let (account, revision) =
                admitted!(self.0, c, self.0.set_account_modules(&c, &r.body.id, &r.body.modules).await)?;
            Ok(pb::SetAccountModulesResponse { account: Some((&account).into()), revision: revision.token() })
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(rpc = "UpdateAccountSettings"))]
    async fn update_account_settings(
        &self,
        request: Request<pb::UpdateAccountSettingsRequest>,
    ) -> Result<Response<pb::UpdateAccountSettingsResponse>, Status> {
        let fp = fingerprint("update_account_settings", request.get_ref());
        let r: Called<SetSettings> = authored(request)?;
        once(&self.0, call(&r), fp, async |c| {
            let (account, revision) =
                admitted!(self.0, c, self.0.set_account_settings(&c, &r.body.id, &r.body.change).await)?;
            Ok(pb::UpdateAccountSettingsResponse { account: Some((&account).into()), revision: revision.token() })
        })
        .await
    }
}
