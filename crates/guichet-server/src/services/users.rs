//! `guichet.v1.UserService`.

use guichet_domain::{Email, UserId, UserStatus};
use guichet_proto::convert::{CreateUser, MyAccountsQuery, UpdateUser};
use guichet_proto::v1 as pb;
use guichet_store::UserChanges;
use tonic::{Request, Response, Status};

use super::{Called, admitted, authored, call, fingerprint, once, page, parse};
use crate::app::App;
use crate::paging::next_token;

#[derive(Debug)]
pub(crate) struct Users(pub(crate) App);

#[tonic::async_trait]
impl pb::user_service_server::UserService for Users {
    #[tracing::instrument(skip_all, fields(rpc = "CreateUser"))]
    async fn create_user(
        &self,
        request: Request<pb::CreateUserRequest>,
    ) -> Result<Response<pb::CreateUserResponse>, Status> {
        let fp = fingerprint("create_user", request.get_ref());
        let r: Called<CreateUser> = authored(request)?;
        once(&self.0, call(&r), fp, async |c| {
            let (user, revision, flag) =
                admitted!(self.0, c, self.0.create_user(&c, r.body.account.as_ref(), &r.body.user).await)?;
            Ok(pb::CreateUserResponse {
                user: Some((&user).into()),
                revision: revision.token(),
                email_flagged: flag.is_some(),
                email_flag_reason: flag.unwrap_or_default(),
            })
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(rpc = "GetUser"))]
    async fn get_user(&self, request: Request<pb::GetUserRequest>) -> Result<Response<pb::GetUserResponse>, Status> {
        let r: Called<UserId> = authored(request)?;
        let user = self.0.get_user(&call(&r), &r.body).await?;
        Ok(Response::new(pb::GetUserResponse { user: Some((&user).into()) }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "FindUserByEmail"))]
    async fn find_user_by_email(
        &self,
        request: Request<pb::FindUserByEmailRequest>,
    ) -> Result<Response<pb::FindUserByEmailResponse>, Status> {
        let r: Called<Email> = authored(request)?;
        let user = self.0.find_user_by_email(&call(&r), &r.body).await?;
        Ok(Response::new(pb::FindUserByEmailResponse { user: Some((&user).into()) }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "UpdateUser"))]
    async fn update_user(
        &self,
        request: Request<pb::UpdateUserRequest>,
    ) -> Result<Response<pb::UpdateUserResponse>, Status> {
        let fp = fingerprint("update_user", request.get_ref());
        let r: Called<UpdateUser> = authored(request)?;
        once(&self.0, call(&r), fp, async |c| {
            let UpdateUser { id, given_name, family_name, phone, idp_subject } = r.body;
            let changes = UserChanges { given_name, family_name, phone, idp_subject };
            let (user, revision) = admitted!(self.0, c, self.0.update_user(&c, &id, &changes).await)?;
            Ok(pb::UpdateUserResponse { user: Some((&user).into()), revision: revision.token() })
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(rpc = "SuspendUser"))]
    async fn suspend_user(
        &self,
        request: Request<pb::SuspendUserRequest>,
    ) -> Result<Response<pb::SuspendUserResponse>, Status> {
        let fp = fingerprint("suspend_user", request.get_ref());
        let r: Called<UserId> = authored(request)?;
        once(&self.0, call(&r), fp, async |c| {
            let (user, revision) =
                admitted!(self.0, c, self.0.set_user_status(&c, &r.body, UserStatus::Suspended).await)?;
            Ok(pb::SuspendUserResponse { user: Some((&user).into()), revision: revision.token() })
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(rpc = "ReactivateUser"))]
    async fn reactivate_user(
        &self,
        request: Request<pb::ReactivateUserRequest>,
    ) -> Result<Response<pb::ReactivateUserResponse>, Status> {
        let fp = fingerprint("reactivate_user", request.get_ref());
        let r: Called<UserId> = authored(request)?;
        once(&self.0, call(&r), fp, async |c| {
            let (user, revision) = admitted!(self.0, c, self.0.set_user_status(&c, &r.body, UserStatus::Active).await)?;
            Ok(pb::ReactivateUserResponse { user: Some((&user).into()), revision: revision.token() })
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(rpc = "ListMyAccounts"))]
    async fn list_my_accounts(
        &self,
        request: Request<pb::ListMyAccountsRequest>,
    ) -> Result<Response<pb::ListMyAccountsResponse>, Status> {
        let q: MyAccountsQuery = parse(request)?;
        let p = page(&q.page)?;
        let (items, next_after, default) = self.0.my_accounts(&q.user, &p).await?;
        Ok(Response::new(pb::ListMyAccountsResponse {
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
        }))
    }
}
