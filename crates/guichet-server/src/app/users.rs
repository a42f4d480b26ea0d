//! Users: profiles, their status, and the account switcher (ListMyAccounts).

use guichet_domain::{
    Account, AccountId, AccountStatus, Email, Membership, MembershipStatus, NewUser, Operation, ProfileEditor,
    Revision, User, UserId, UserStatus, Violation, check_profile_change,
};
use guichet_store::{MembershipFilter, PageRequest, UserChanges};

use super::{App, Call, Hidden};
use crate::error::ServerError;

impl App {
    /// Creates a user; an actor must hold `users:full` in `account`, whose email policy applies
    /// (a refusal is FAILED_PRECONDITION; a flag comes back as the third value). The profile stays
    /// unclaimed until its owner proves the email; an actor cannot set its `idp_subject`, which is
    /// the identity provider's word, given by the calling service or by the owner.
    pub async fn create_user(
        &self,
        call: &Call,
        account: Option<&AccountId>,
        cmd: &NewUser,
    ) -> Result<(User, Revision, Option<String>), ServerError> {
        if call.actor.is_some() && account.is_none() {
            return Err(ServerError::invalid(
                "account_id",
                "required when actor_id is set: the account the actor adds the user to",
            ));
        }
        self.admit(call, &Operation::CreateUser { account: account.cloned() }).await?;
        if call.actor.is_some() && cmd.idp_subject.is_some() {
            let user = cmd.id.as_ref().map_or_else(|| UserId::from_trusted("(new user)"), Clone::clone);
            return Err(Self::violation(
                call,
                "idp_subject",
                Violation::Profile {
                    user,
                    why: "is linked to an identity provider by the calling service or its owner only",
                },
            ));
        }
        let flag = match account {
            Some(account) => self.email_policy(account, &cmd.email).await?,
            None => None,
        };
        let (user, revision) = self.store.create_user(cmd, &self.audit(call)).await?;
        Ok((user, revision, flag))
    }

    /// The operation on a user, with the accounts where they are a member.
    async fn user_operation(&self, id: &UserId, manage: Option<bool>) -> Result<Operation, ServerError> {
        let accounts = self.store.user_accounts(id).await?;
        Ok(match manage {
            None => Operation::ViewUser { user: id.clone(), accounts },
            Some(status) => Operation::ManageUser { user: id.clone(), accounts, status },
        })
    }

    /// One user: the user themselves, or an actor holding `users:view` where the user is a member.
    pub async fn get_user(&self, call: &Call, id: &UserId) -> Result<User, ServerError> {
        let user = self.store.get_user(id).await?;
        let op = self.user_operation(id, None).await?;
        self.admit_object(call, &op, Hidden { entity: "user", id: id.as_str() }).await?;
        Ok(user)
    }

    /// The user with this email, under the same rule as [`App::get_user`].
    pub async fn find_user_by_email(&self, call: &Call, email: &Email) -> Result<User, ServerError> {
        let user = self.store.find_user_by_email(email).await?;
        let op = self.user_operation(&user.id, None).await?;
        self.admit_object(call, &op, Hidden { entity: "user with email", id: email.as_str() }).await?;
        Ok(user)
    }

    /// Changes a user's profile: the user themselves while active, or `users:full` in every
    /// account of theirs while the profile is unclaimed (identity, see `guichet_domain::rules`).
    pub async fn update_user(
        &self,
        call: &Call,
        id: &UserId,
        changes: &UserChanges,
    ) -> Result<(User, Revision), ServerError> {
        let user = self.store.get_user(id).await?;
        let op = self.user_operation(id, Some(false)).await?;
        self.admit_object(call, &op, Hidden { entity: "user", id: id.as_str() }).await?;
        if let Some(actor) = call.actor.as_ref() {
            let editor = if actor == id { ProfileEditor::Owner } else { ProfileEditor::Administrator };
            check_profile_change(id, editor, user.status == UserStatus::Suspended, user.claimed_at.is_some())
                .map_err(|v| Self::violation(call, format!("users/{id}"), v))?;
            if editor == ProfileEditor::Administrator && changes.idp_subject.is_some() {
                return Err(Self::violation(
                    call,
                    format!("users/{id}"),
                    Violation::Profile {
                        user: id.clone(),
                        why: "is linked to an identity provider by the calling service or its owner only",
                    },
                ));
            }
        }
        Ok(self.store.update_user(id, changes, &self.audit(call)).await?)
    }

    /// Suspends or reactivates a user everywhere: `users:full` in every account of theirs; an
    /// actor cannot change their own status.
    pub async fn set_user_status(
        &self,
        call: &Call,
        id: &UserId,
        status: UserStatus,
    ) -> Result<(User, Revision), ServerError> {
        self.store.get_user(id).await?;
        let op = self.user_operation(id, Some(true)).await?;
        self.admit_object(call, &op, Hidden { entity: "user", id: id.as_str() }).await?;
        Ok(self.store.set_user_status(id, status, &self.audit(call)).await?)
    }

    /// The user's memberships with their accounts, for the account switcher.
    pub async fn my_accounts(
        &self,
        user: &UserId,
        page: &PageRequest,
    ) -> Result<(Vec<(Membership, Account)>, Option<String>, Option<AccountId>), ServerError> {
        self.store.get_user(user).await?;
        let filter = MembershipFilter { user: Some(user.clone()), ..MembershipFilter::default() };
        let memberships = self.store.list_memberships(&filter, page).await?;
        let mut out = Vec::with_capacity(memberships.items.len());
        for m in memberships.items {
            let account = self.store.get_account(&m.account).await?;
            out.push((m, account));
        }
        let usable: Vec<&AccountId> = out
            .iter()
            .filter(|(m, a)| m.status == MembershipStatus::Active && a.status == AccountStatus::Active)
            .map(|(_, a)| &a.id)
            .collect();
        let default =
            (page.after.is_none() && memberships.next_after.is_none() && usable.len() == 1).then(|| usable[0].clone());
        Ok((out, memberships.next_after, default))
    }
}
