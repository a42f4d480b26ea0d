//! The rule book of administration (DESIGN §5): who may perform which management operation, and
//! the invariants every accepted operation keeps. Pure and synchronous, like the decision.
//!
//! Every RPC guichet serves is a variant of [`Rpc`], and every call an *actor* makes is an
//! [`Operation`]; [`Operation::requirement`] is one exhaustive `match` that says what the operation
//! requires of the actor. The server loads facts, asks this module, and persists: no permission is
//! written anywhere else, and no rule lives in SQL or in a handler.
//!
//! # The invariants
//!
//! Each is a pure function over facts the server loaded; its documentation is the rule.
//!
//! - **No escalation** ([`check_grant`], [`check_role_definition`], [`Reach`]): after any
//!   operation an actor performs, nobody holds, in any account or on any resource, a level the actor
//!   could not reach itself just before. *Reach* is what the decision engine gives the actor —
//!   direct, inherited and delegated paths — **without the module cap** (a module that is disabled
//!   today is enabled tomorrow: the level a role carries becomes real then, so it is compared now,
//!   never skipped), and split three ways: on every resource of the account (through unrestricted
//!   memberships and delegations only), on each resource named (restricted memberships that reach
//!   it count), and on every descendant of the account (descendant levels of unrestricted
//!   memberships in the account or its ancestors, and delegations into it or its ancestors).
//!   `delegated_administration` is the exception: it acts through the account's own delegations,
//!   which only a member of the account uses, so the actor reaches it in the account only as far
//!   as its own memberships there give it — held through a delegation or from an ancestor, it
//!   reaches no delegation, and handing it out would. A grant (roles × restriction) is within
//!   reach when each level each role gives is within the reach where the grant applies it. A role
//!   definition is within reach when its levels are within the actor's reach on every resource of
//!   the account and its descendant levels within its reach on every descendant — so rewriting a
//!   role never lifts its holders (or a delegation made with it) above the rewriter.
//! - **Partner reach is a delegation** ([`check_descendant_levels`], [`check_partner_reach`]): a
//!   member of an ancestor account reaches a customer only through a delegation row that the
//!   customer sees in ListDelegations and can delete, or through descendant levels that the catalog
//!   itself gives to that kind's built-in roles (the affiliate technical manager acts "for their
//!   clients"). So a custom role may carry a descendant level only up to the highest the kind's
//!   built-in roles carry on that feature, and nobody but the calling service may give a direct
//!   membership (one that would survive the delegation's end) to a user who belongs to an ancestor
//!   of the account or to the source account of a delegation into it.
//! - **Four-eyes** ([`check_four_eyes`], [`check_pending_frozen`]): the requester of a pending
//!   membership is fixed when it is created (the creator, or the sender of the invitation it came
//!   from; resends do not change it); nobody approves or rejects a request they made or that is
//!   about themselves; the requester cannot change a pending membership (anyone else's change
//!   produces a new [`Membership::version`](crate::Membership::version), and an approval names the
//!   version it approves, checked inside the write).
//! - **Last administrator**: every account keeps at least one active administrator (a member
//!   whose role holds `users:full`); counted by the store inside the write, before and after the
//!   change ([`check_last_administrator`] is the rule the store applies).
//! - **Identity** ([`check_profile_change`]): a user joins an account by invitation, or is already
//!   reachable by the actor (a member of an account where the actor may view users, or a profile
//!   that belongs to no account yet, hence to no tenant); the account's email policy applies to every
//!   way in; `idp_subject` is unique (a unique index); a profile belongs to its owner once claimed
//!   (an administrator edits only unclaimed profiles), and a suspended user changes nothing.
//! - **Limits** ([`check_role_limit`]): a membership holds at most [`MAX_ROLES`] roles; a role named
//!   by a membership, a pending invitation or a delegation cannot be deleted (`ROLE_IN_USE`, in the
//!   store's write); restriction ids are distinct (refused at the edge).
//! - **Time** ([`expiry_extends`], [`Reach::compute`]): memberships and delegations may expire; an
//!   expired grant gives nothing. A grant that lasts until `T` is within reach only if the actor
//!   reaches its levels until `T` — its own grants expiring earlier do not count, and a grant
//!   without expiry needs reach without expiry — so no escalation holds at every future instant,
//!   not only now. Extending an expiry grants (the grant's levels within that reach, without the
//!   grant itself: nobody extends their own access; and, for a membership, partner reach for its
//!   user, as granting or reactivating it), shortening it only takes away.
//! - **Atomic**: every read-modify-write reads inside its write transaction (the store's
//!   `begin_write` holds the write lock from the first statement), so two concurrent writes that
//!   both answer OK both take effect.
//!
//! # Why one file
//!
//! The rule book is read as one: the operations table ([`Operation::requirement`], one exhaustive
//! `match`), the [`Reach`] the grants are compared with, and the invariants above, each a short
//! pure function whose documentation is the rule. Split, a reviewer would hold in mind what
//! several files say at once; the tests and the reference model are apart (`rules/tests.rs`,
//! `rules/model.rs`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::catalog::{Catalog, DELEGATED_ADMINISTRATION_FEATURE, Role};
use crate::decision::{Facts, expired};
use crate::ids::{AccountId, AccountKind, FeatureName, MembershipId, ResourceId, RoleName, UserId};
use crate::level::{Grants, Level, Permission};
use crate::model::Timestamp;
use crate::restriction::Restriction;
use crate::status::MembershipStatus;

mod admission;
pub use admission::{Hide, Refusal, admit, unreachable};

/// The most roles one membership (or invitation) holds.
pub const MAX_ROLES: usize = 16;

/// A permission the rule book requires, written once here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Need {
    /// The feature.
    pub feature: &'static str,
    /// `view` or `full`.
    pub level: Level,
}

impl Need {
    /// `feature:view`.
    pub const fn view(feature: &'static str) -> Self {
        Self { feature, level: Level::View }
    }

    /// `feature:full`.
    pub const fn full(feature: &'static str) -> Self {
        Self { feature, level: Level::Full }
    }

    /// As a [`Permission`].
    pub fn permission(self) -> Permission {
        Permission { feature: FeatureName::from_trusted(self.feature), level: self.level.max(Level::View) }
    }

    /// The `view` need of the same feature.
    pub const fn as_view(self) -> Self {
        Self { feature: self.feature, level: Level::View }
    }
}

impl fmt::Display for Need {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.feature, self.level)
    }
}

/// The needs of management operations, by what they touch. Private: [`Operation::requirement`]
/// is the only reader.
mod needs {
    use super::Need;

    pub(super) const MANAGE_CHILD_ACCOUNTS: Need = Need::full("organizations");
    pub(super) const VIEW_CHILD_ACCOUNTS: Need = Need::view("organizations");
    pub(super) const VIEW_ACCOUNT: Need = Need::view("account_settings");
    pub(super) const EDIT_ACCOUNT: Need = Need::full("account_settings");
    pub(super) const VIEW_USERS: Need = Need::view("users");
    pub(super) const MANAGE_USERS: Need = Need::full("users");
    pub(super) const VIEW_FOLDERS: Need = Need::view("folders");
    pub(super) const MANAGE_FOLDERS: Need = Need::full("folders");
    pub(super) const END_DELEGATION_FROM: Need = Need::full("organizations");
    pub(super) const VIEW_EVENTS: Need = Need::view("event_logs");
    pub(super) const VIEW_APPROVALS: Need = Need::view("access_approvals");
    pub(super) const APPROVE_ACCESS: Need = Need::full("access_approvals");
    pub(super) const VIEW_CONTACTS: Need = Need::view("contacts");
    pub(super) const MANAGE_CONTACTS: Need = Need::full("contacts");
}

/// Which scope of the calling service an RPC needs (DESIGN §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The read path: checks and lookups.
    Check,
    /// Management.
    Admin,
    /// Either: reads both a read-path service and a management one make (the portal's account
    /// switcher, the catalog).
    CheckOrAdmin,
}

macro_rules! rpcs {
    ($($variant:ident => $service:literal, $method:literal, $scope:ident;)*) => {
        /// Every RPC of guichet's API (`guichet.v1`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Rpc {
            $(
                #[doc = concat!("`", $service, "/", $method, "`")]
                $variant,
            )*
        }

        impl Rpc {
            /// Every RPC.
            pub const ALL: &'static [Rpc] = &[$(Rpc::$variant),*];

            /// The service, e.g. `guichet.v1.RoleService`.
            pub const fn service(self) -> &'static str {
                match self { $(Rpc::$variant => concat!("guichet.v1.", $service)),* }
            }

            /// The method, e.g. `CreateRole`.
            pub const fn method(self) -> &'static str {
                match self { $(Rpc::$variant => $method),* }
            }

            /// The HTTP/2 path, e.g. `/guichet.v1.RoleService/CreateRole`.
            pub const fn path(self) -> &'static str {
                match self { $(Rpc::$variant => concat!("/guichet.v1.", $service, "/", $method)),* }
            }

            /// The scope the calling service needs.
            pub const fn scope(self) -> Scope {
                match self { $(Rpc::$variant => Scope::$scope),* }
            }

            /// The RPC served at `path`, if any.
            pub fn from_path(path: &str) -> Option<Rpc> {
                Self::ALL.iter().copied().find(|r| r.path() == path)
            }
        }
    };
}

rpcs! {
    CheckAccess => "AccessService", "CheckAccess", Check;
    CheckAccessBatch => "AccessService", "CheckAccessBatch", Check;
    ExplainAccess => "AccessService", "ExplainAccess", Check;
    ListAccessibleAccounts => "AccessService", "ListAccessibleAccounts", Check;
    ListAccessibleResources => "AccessService", "ListAccessibleResources", Check;
    ListAuthorizedSubjects => "AccessService", "ListAuthorizedSubjects", Check;
    SimulateChanges => "AccessService", "SimulateChanges", Admin;
    CreateAccount => "AccountService", "CreateAccount", Admin;
    GetAccount => "AccountService", "GetAccount", Admin;
    ListAccounts => "AccountService", "ListAccounts", Admin;
    ListChildAccounts => "AccountService", "ListChildAccounts", Admin;
    UpdateAccount => "AccountService", "UpdateAccount", Admin;
    SuspendAccount => "AccountService", "SuspendAccount", Admin;
    ReactivateAccount => "AccountService", "ReactivateAccount", Admin;
    SetAccountModules => "AccountService", "SetAccountModules", Admin;
    UpdateAccountSettings => "AccountService", "UpdateAccountSettings", Admin;
    ListPendingApprovals => "ApprovalService", "ListPendingApprovals", Admin;
    ApproveMembership => "ApprovalService", "ApproveMembership", Admin;
    RejectMembership => "ApprovalService", "RejectMembership", Admin;
    RequestAccess => "ApprovalService", "RequestAccess", Admin;
    GetAccessRequest => "ApprovalService", "GetAccessRequest", Admin;
    ListAccessRequests => "ApprovalService", "ListAccessRequests", Admin;
    ApproveAccessRequest => "ApprovalService", "ApproveAccessRequest", Admin;
    RejectAccessRequest => "ApprovalService", "RejectAccessRequest", Admin;
    CancelAccessRequest => "ApprovalService", "CancelAccessRequest", Admin;
    CreateContact => "ContactService", "CreateContact", Admin;
    GetContact => "ContactService", "GetContact", Admin;
    ListContacts => "ContactService", "ListContacts", Admin;
    UpdateContact => "ContactService", "UpdateContact", Admin;
    DeleteContact => "ContactService", "DeleteContact", Admin;
    GetCommunicationOrder => "ContactService", "GetCommunicationOrder", Admin;
    SetCommunicationOrder => "ContactService", "SetCommunicationOrder", Admin;
    CreateDelegation => "DelegationService", "CreateDelegation", Admin;
    GetDelegation => "DelegationService", "GetDelegation", Admin;
    ListDelegations => "DelegationService", "ListDelegations", Admin;
    DeleteDelegation => "DelegationService", "DeleteDelegation", Admin;
    SetDelegationExpiry => "DelegationService", "SetDelegationExpiry", Admin;
    ListEvents => "EventService", "ListEvents", Admin;
    WatchEvents => "EventService", "WatchEvents", Admin;
    CreateInvitation => "InvitationService", "CreateInvitation", Admin;
    GetInvitation => "InvitationService", "GetInvitation", Admin;
    ListInvitations => "InvitationService", "ListInvitations", Admin;
    ResendInvitation => "InvitationService", "ResendInvitation", Admin;
    RevokeInvitation => "InvitationService", "RevokeInvitation", Admin;
    AcceptInvitation => "InvitationService", "AcceptInvitation", Admin;
    CreateMembership => "MembershipService", "CreateMembership", Admin;
    GetMembership => "MembershipService", "GetMembership", Admin;
    ListMemberships => "MembershipService", "ListMemberships", Admin;
    AssignRole => "MembershipService", "AssignRole", Admin;
    UnassignRole => "MembershipService", "UnassignRole", Admin;
    SetMembershipRoles => "MembershipService", "SetMembershipRoles", Admin;
    SetResourceRestriction => "MembershipService", "SetResourceRestriction", Admin;
    SuspendMembership => "MembershipService", "SuspendMembership", Admin;
    ReactivateMembership => "MembershipService", "ReactivateMembership", Admin;
    DeleteMembership => "MembershipService", "DeleteMembership", Admin;
    SetMembershipExpiry => "MembershipService", "SetMembershipExpiry", Admin;
    CreateResource => "ResourceService", "CreateResource", Admin;
    GetResource => "ResourceService", "GetResource", Admin;
    ListResources => "ResourceService", "ListResources", Admin;
    DeleteResource => "ResourceService", "DeleteResource", Admin;
    ListRoles => "RoleService", "ListRoles", Admin;
    GetRole => "RoleService", "GetRole", Admin;
    CreateRole => "RoleService", "CreateRole", Admin;
    UpdateRole => "RoleService", "UpdateRole", Admin;
    DeleteRole => "RoleService", "DeleteRole", Admin;
    ListCatalog => "RoleService", "ListCatalog", CheckOrAdmin;
    CreateUser => "UserService", "CreateUser", Admin;
    GetUser => "UserService", "GetUser", Admin;
    FindUserByEmail => "UserService", "FindUserByEmail", Admin;
    UpdateUser => "UserService", "UpdateUser", Admin;
    SuspendUser => "UserService", "SuspendUser", Admin;
    ReactivateUser => "UserService", "ReactivateUser", Admin;
    ListMyAccounts => "UserService", "ListMyAccounts", CheckOrAdmin;
}

/// A management call, with what its requirement depends on. Built by the server from the
/// request and the facts it loaded (the account an object belongs to, its parent, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    /// A check or lookup of the read path: the scope is the whole requirement.
    ReadPath(Rpc),
    /// Create an account under `parent` (a root: `None`).
    CreateAccount {
        /// The parent, when any.
        parent: Option<AccountId>,
    },
    /// Read an account.
    GetAccount(AccountId),
    /// List accounts: an actor names a parent it may view the children of.
    ListAccounts {
        /// The parent filter.
        parent: Option<AccountId>,
    },
    /// List an account's children.
    ListChildAccounts(AccountId),
    /// Rename an account or change its settings.
    EditAccount(AccountId),
    /// Suspend or reactivate an account, or change its modules: decided in its parent.
    AccountLifecycle {
        /// The account.
        account: AccountId,
        /// Its parent (`None`: a root, managed by the calling service only).
        parent: Option<AccountId>,
    },
    /// Create a user, adding them to `account` (required with an actor).
    CreateUser {
        /// The account whose email policy applies.
        account: Option<AccountId>,
    },
    /// Read a user (GetUser, FindUserByEmail): themselves, or `users:view` in one of their accounts.
    ViewUser {
        /// The user.
        user: UserId,
        /// The accounts where the user is a member.
        accounts: Vec<AccountId>,
    },
    /// Change a user's profile or status: themselves (profile only), or `users:full` in every one
    /// of their accounts.
    ManageUser {
        /// The user.
        user: UserId,
        /// The accounts where the user is a member.
        accounts: Vec<AccountId>,
        /// A status change (an actor never changes their own).
        status: bool,
    },
    /// Read or list roles of an account.
    ViewRoles(AccountId),
    /// Create, replace or delete a custom role.
    ManageRoles(AccountId),
    /// Read one membership, or list an account's.
    ViewMemberships {
        /// The account.
        account: AccountId,
        /// The member, when one membership is read (its user always sees it).
        user: Option<UserId>,
    },
    /// Create, change or remove a membership (roles, restriction, status).
    ManageMemberships(AccountId),
    /// Read folders.
    ViewResources(AccountId),
    /// Create or delete folders.
    ManageResources(AccountId),
    /// Enable delegated administration of `to` by `from`: decided by the customer (`to`), since
    /// the access it gives is access to the customer.
    CreateDelegation {
        /// The partner.
        from: AccountId,
        /// The customer.
        to: AccountId,
    },
    /// Read delegations from or to these accounts (either side may).
    ViewDelegations(Vec<AccountId>),
    /// End a delegation: either side.
    DeleteDelegation {
        /// The partner.
        from: AccountId,
        /// The customer.
        to: AccountId,
    },
    /// Change when a delegation stops granting. Extending it (`extends`, see [`expiry_extends`])
    /// grants, so it needs what enabling it needs (decided by the customer); shortening it only
    /// ends access sooner, so either side may, as for deleting it.
    ChangeDelegationExpiry {
        /// The partner.
        from: AccountId,
        /// The customer.
        to: AccountId,
        /// Whether the new expiry is later than the current one.
        extends: bool,
    },
    /// Read an account's audit events.
    ListEvents(AccountId),
    /// Be sent one event of the change stream (WatchEvents): an event of an account is an
    /// account's audit event (as [`Operation::ListEvents`]); one of no account (a user's own
    /// profile) goes to the calling service only.
    WatchEvent {
        /// The event's account, when it has one.
        account: Option<AccountId>,
    },
    /// Invite, resend, revoke.
    ManageInvitations(AccountId),
    /// Read invitations.
    ViewInvitations(AccountId),
    /// Accept an invitation: the token is the authority.
    AcceptInvitation,
    /// List pending approvals.
    ViewApprovals(AccountId),
    /// Approve or reject a pending membership or access request (an access request is then
    /// applied as the calls that make its changes, each with its own operation).
    DecideApproval(AccountId),
    /// Ask for access in an account, for oneself: any active member of the account.
    RequestAccess {
        /// The account.
        account: AccountId,
        /// The requester (the actor).
        requester: UserId,
    },
    /// Read access requests of an account: their requester, or `access_approvals:view` there
    /// (every approver of a request holds `access_approvals:full`).
    ViewAccessRequests {
        /// The account.
        account: AccountId,
        /// The requester, when the requests read are one user's.
        requester: Option<UserId>,
    },
    /// Withdraw an access request: its requester only, while still an active member.
    CancelAccessRequest {
        /// The account.
        account: AccountId,
        /// The requester.
        requester: UserId,
    },
    /// Read contacts and communication orders.
    ViewContacts(AccountId),
    /// Create, change, delete contacts and set communication orders.
    ManageContacts(AccountId),
}

/// What an operation requires of its actor. A call without an actor is made on the calling
/// service's own authority and needs only its scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    /// Nothing beyond the calling service's scope (the read path, a token).
    Scope,
    /// Only the calling service itself: refused with an actor, for this reason.
    ServiceOnly(&'static str),
    /// The actor holds the need in the account.
    Holds(AccountId, Need),
    /// The actor holds one of these.
    AnyOf(Vec<(AccountId, Need)>),
    /// The actor is this user, or holds the need in one of the accounts (`every == false`) or in
    /// every one of them (`every == true`); the actor must at least view the user in one of them,
    /// else the user is out of reach (answered as unknown).
    UserOr {
        /// The user.
        user: UserId,
        /// The user's accounts.
        accounts: Vec<AccountId>,
        /// The need.
        need: Need,
        /// In every account, rather than one.
        every: bool,
        /// Whether the user themselves may.
        own: Own,
    },
    /// The actor is this user, with an active (unexpired) membership in the account, whatever
    /// its roles or restriction.
    Member {
        /// The account.
        account: AccountId,
        /// The user.
        user: UserId,
    },
}

/// What a user may do about themselves under [`Requirement::UserOr`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Own {
    /// The user themselves may.
    Allowed,
    /// Nobody acts on themselves this way (an actor never suspends or reactivates themselves).
    Refused,
}

/// The requirement of reading what concerns `user` in `account`: the user themself, or an actor
/// holding `need` there.
fn own_or(user: &UserId, account: &AccountId, need: Need) -> Requirement {
    Requirement::UserOr { user: user.clone(), accounts: vec![account.clone()], need, every: false, own: Own::Allowed }
}

impl Operation {
    /// What the operation requires of an actor: the rule book's one table.
    pub fn requirement(&self) -> Requirement {
        use Requirement as R;
        match self {
            Operation::ReadPath(_) | Operation::AcceptInvitation => R::Scope,
            Operation::CreateAccount { parent: Some(p) } | Operation::AccountLifecycle { parent: Some(p), .. } => {
                R::Holds(p.clone(), needs::MANAGE_CHILD_ACCOUNTS)
            }
            Operation::CreateAccount { parent: None } | Operation::AccountLifecycle { parent: None, .. } => {
                R::ServiceOnly(
                    "root accounts are managed by the calling service itself: send the call without actor_id",
                )
            }
            Operation::GetAccount(a) => R::Holds(a.clone(), needs::VIEW_ACCOUNT),
            Operation::ListAccounts { parent: Some(p) } | Operation::ListChildAccounts(p) => {
                R::Holds(p.clone(), needs::VIEW_CHILD_ACCOUNTS)
            }
            Operation::ListAccounts { parent: None } => {
                R::ServiceOnly("an actor lists the children of an account it may view: set parent_id")
            }
            Operation::EditAccount(a) => R::Holds(a.clone(), needs::EDIT_ACCOUNT),
            Operation::CreateUser { account: Some(a) } => R::Holds(a.clone(), needs::MANAGE_USERS),
            Operation::CreateUser { account: None } => {
                R::ServiceOnly("an actor creates a user in an account it administers: set account_id")
            }
            Operation::ViewUser { user, accounts } => R::UserOr {
                user: user.clone(),
                accounts: accounts.clone(),
                need: needs::VIEW_USERS,
                every: false,
                own: Own::Allowed,
            },
            Operation::ManageUser { user, accounts, status } => R::UserOr {
                user: user.clone(),
                accounts: accounts.clone(),
                need: needs::MANAGE_USERS,
                every: true,
                own: if *status { Own::Refused } else { Own::Allowed },
            },
            Operation::ViewRoles(a) => R::Holds(a.clone(), needs::VIEW_USERS),
            Operation::ManageRoles(a) | Operation::ManageMemberships(a) | Operation::ManageInvitations(a) => {
                R::Holds(a.clone(), needs::MANAGE_USERS)
            }
            Operation::ViewMemberships { account, user: Some(u) } => own_or(u, account, needs::VIEW_USERS),
            Operation::ViewMemberships { account, user: None } | Operation::ViewInvitations(account) => {
                R::Holds(account.clone(), needs::VIEW_USERS)
            }
            Operation::ViewResources(a) => R::Holds(a.clone(), needs::VIEW_FOLDERS),
            Operation::ManageResources(a) => R::Holds(a.clone(), needs::MANAGE_FOLDERS),
            Operation::CreateDelegation { to, .. } | Operation::ChangeDelegationExpiry { to, extends: true, .. } => {
                R::Holds(to.clone(), needs::MANAGE_USERS)
            }
            Operation::ViewDelegations(accounts) => {
                R::AnyOf(accounts.iter().map(|a| (a.clone(), needs::VIEW_USERS)).collect())
            }
            Operation::DeleteDelegation { from, to }
            | Operation::ChangeDelegationExpiry { from, to, extends: false } => {
                R::AnyOf(vec![(from.clone(), needs::END_DELEGATION_FROM), (to.clone(), needs::MANAGE_USERS)])
            }
            Operation::ListEvents(a) | Operation::WatchEvent { account: Some(a) } => {
                R::Holds(a.clone(), needs::VIEW_EVENTS)
            }
            Operation::WatchEvent { account: None } => {
                R::ServiceOnly("an event of no account (a user's own profile) is streamed to the calling service only")
            }
            Operation::ViewApprovals(a) => R::Holds(a.clone(), needs::VIEW_APPROVALS),
            Operation::DecideApproval(a) => R::Holds(a.clone(), needs::APPROVE_ACCESS),
            Operation::RequestAccess { account, requester } | Operation::CancelAccessRequest { account, requester } => {
                R::Member { account: account.clone(), user: requester.clone() }
            }
            Operation::ViewAccessRequests { account, requester: Some(user) } => {
                own_or(user, account, needs::VIEW_APPROVALS)
            }
            Operation::ViewAccessRequests { account, requester: None } => {
                R::Holds(account.clone(), needs::VIEW_APPROVALS)
            }
            Operation::ViewContacts(a) => R::Holds(a.clone(), needs::VIEW_CONTACTS),
            Operation::ManageContacts(a) => R::Holds(a.clone(), needs::MANAGE_CONTACTS),
        }
    }
}

/// What the actor reaches, uncapped by modules, in one account (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Reach {
    /// On every resource of the account: through unrestricted memberships and delegations.
    pub everywhere: Grants,
    /// In the account at large, restricted memberships included (the levels a restricted
    /// membership gives outside folders: billing, users, ...).
    pub account: Grants,
    /// On each resource asked about.
    pub resources: BTreeMap<ResourceId, Grants>,
    /// On every descendant of the account.
    pub descendants: Grants,
}

/// The id of the hypothetical descendant [`Reach::compute`] evaluates on: not a valid account id,
/// so it cannot collide with a real one.
const ANY_DESCENDANT: &str = "(any descendant)";

impl Reach {
    /// The actor's reach from `facts` (loaded for the actor in the account, no resource) and
    /// `per_resource` (the same, loaded with each resource of a restriction asked about). Levels
    /// are the decision engine's at the instant `at`, with every module enabled on the account.
    ///
    /// **Time.** A grant that lasts until `T` (or forever) is within reach only if the actor
    /// reaches its levels for as long: the caller passes `at` = the grant's expiry (or
    /// [`Timestamp::NEVER`] for none), and since an expiry only ever takes a path away, what the
    /// actor reaches at `at` it reaches at every instant from now until then. An actor whose own
    /// access ends at `T` cannot hand out access that outlives `T`.
    pub fn compute(catalog: &Catalog, facts: &Facts, per_resource: &[(ResourceId, Facts)], at: Timestamp) -> Reach {
        let Some(subject) = facts.subject.as_ref().map(|s| s.id.clone()) else { return Reach::default() };
        let Some(target) = facts.chain.first().map(|a| a.id.clone()) else { return Reach::default() };
        let all_modules: BTreeSet<FeatureName> =
            catalog.features().filter(|f| f.module).map(|f| f.name.clone()).collect();
        let uncapped = |f: &Facts| {
            let mut f = f.clone();
            if let Some(t) = f.chain.first_mut() {
                t.modules = all_modules.clone();
            }
            f
        };
        let levels = |facts: &Facts, account: &AccountId, resource: Option<&ResourceId>| -> Grants {
            crate::decision::levels_on(catalog, &subject, account, resource, facts, at)
        };
        let account_facts = uncapped(facts);
        let mut unrestricted = account_facts.clone();
        unrestricted.memberships.retain(|m| m.resources.is_none());
        let mut below = unrestricted.clone();
        if let Some(t) = below.chain.first() {
            let child = crate::decision::AccountFacts {
                id: AccountId::from_trusted(ANY_DESCENDANT),
                kind: t.kind.clone(),
                status: crate::status::AccountStatus::Active,
                parent: Some(t.id.clone()),
                modules: all_modules.clone(),
            };
            below.chain.insert(0, child);
        }
        // delegated_administration in the account: only what the actor's own memberships there
        // give (see the module docs).
        let delegated = FeatureName::from_trusted(DELEGATED_ADMINISTRATION_FEATURE);
        let own = facts
            .memberships
            .iter()
            .filter(|m| m.account == target && m.status == MembershipStatus::Active && !expired(m.expires_at, at))
            .flat_map(|m| &m.roles)
            .map(|r| r.level(&delegated))
            .max()
            .unwrap_or(Level::None);
        let in_account = |mut grants: Grants| {
            if let Some(level) = grants.get_mut(&delegated) {
                *level = (*level).min(own);
            }
            grants
        };
        Reach {
            everywhere: in_account(levels(&unrestricted, &target, None)),
            account: in_account(levels(&account_facts, &target, None)),
            resources: per_resource
                .iter()
                .map(|(r, f)| (r.clone(), in_account(levels(&uncapped(f), &target, Some(r)))))
                .collect(),
            descendants: levels(&below, &AccountId::from_trusted(ANY_DESCENDANT), None),
        }
    }

    fn on(grants: &Grants, feature: &FeatureName) -> Level {
        grants.get(feature).copied().unwrap_or(Level::None)
    }
}

/// Why an operation was refused by an invariant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    /// The operation would give someone a level the actor does not reach.
    #[error("no escalation: {what} gives {feature}:{level} {place}, but the actor reaches {feature}:{held} there")]
    Escalation {
        /// What gives it (`role billing_manager`, `the delegation's role`, ...).
        what: String,
        /// The feature.
        feature: FeatureName,
        /// The level given.
        level: Level,
        /// The level the actor reaches there.
        held: Level,
        /// Where (`in the account`, `on resource f1`, `in its descendants`).
        place: String,
    },
    /// A custom role carries a descendant level the account kind's built-in roles do not.
    #[error(
        "accounts of kind {kind} reach their descendants only through delegations: a custom role may give at most {allowed} on {feature} in descendants, not {level}"
    )]
    DescendantLevel {
        /// The account kind.
        kind: AccountKind,
        /// The feature.
        feature: FeatureName,
        /// The level asked.
        level: Level,
        /// The highest a built-in role of the kind gives.
        allowed: Level,
    },
    /// A direct membership for a user on the partner side of the account.
    #[error(
        "user {user} belongs to {via}, above or delegating into this account: partner staff reach a customer through a delegation the customer sees and can end, not a direct membership"
    )]
    PartnerReach {
        /// The user.
        user: UserId,
        /// The ancestor or delegating account they belong to.
        via: AccountId,
    },
    /// The actor requested this membership, or is its user.
    #[error("{actor} {relation} membership {membership}: another member holding access_approvals:full must decide")]
    FourEyes {
        /// The actor.
        actor: UserId,
        /// `requested` or `is the user of`.
        relation: &'static str,
        /// The membership.
        membership: MembershipId,
    },
    /// The actor requested this access request, or already approved it.
    #[error("{actor} {relation} access request {request}: another member holding access_approvals:full must decide")]
    SelfDecision {
        /// The actor.
        actor: UserId,
        /// `requested` or `already approved`.
        relation: &'static str,
        /// The access request.
        request: crate::ids::AccessRequestId,
    },
    /// The requester changes its own pending request.
    #[error(
        "membership {membership} is waiting for approval of what {actor} requested: it cannot be changed by its requester (revoke and request again)"
    )]
    PendingFrozen {
        /// The actor.
        actor: UserId,
        /// The membership.
        membership: MembershipId,
    },
    /// A membership would hold more than [`MAX_ROLES`] roles.
    #[error("a membership holds at most {MAX_ROLES} roles")]
    RoleLimit,
    /// The profile belongs to its owner.
    #[error("the profile of user {user} {why}")]
    Profile {
        /// The user.
        user: UserId,
        /// Why.
        why: &'static str,
    },
    /// The change would leave the account without an active administrator.
    #[error("account {account} would be left without an active administrator (a member holding users:full)")]
    LastAdministrator {
        /// The account.
        account: AccountId,
    },
}

impl Violation {
    /// A stable code, used as the ErrorInfo reason or PreconditionFailure type.
    pub const fn code(&self) -> &'static str {
        match self {
            Violation::Escalation { .. } => "NO_ESCALATION",
            Violation::DescendantLevel { .. } => "DESCENDANT_LEVELS",
            Violation::PartnerReach { .. } => "PARTNER_REACH",
            Violation::FourEyes { .. } | Violation::SelfDecision { .. } => "FOUR_EYES",
            Violation::PendingFrozen { .. } => "PENDING_FROZEN",
            Violation::RoleLimit => "ROLE_LIMIT",
            Violation::Profile { .. } => "PROFILE_OWNED",
            Violation::LastAdministrator { .. } => "LAST_ADMINISTRATOR",
        }
    }
}

/// Something given in an account: roles, on every resource (`restriction == None`) or on some.
#[derive(Debug, Clone, Copy)]
pub struct Grant<'a> {
    /// The roles, resolved.
    pub roles: &'a [Role],
    /// `None`: every resource of the account; `Some`: only these, each with its level cap.
    pub restriction: Option<&'a Restriction>,
}

fn escalation(what: String, feature: &FeatureName, level: Level, held: Level, place: String) -> Violation {
    Violation::Escalation { what, feature: feature.clone(), level, held, place }
}

/// **No escalation** for a grant: every level of every role is within the actor's reach where the
/// grant applies it — on every resource for an unrestricted grant; in the account at large and on
/// each resource of a restriction otherwise, where the grant gives the role's level under that
/// resource's cap (an actor grants on a resource only a level it holds there) — and every
/// descendant level within its reach on every descendant. `reach` must have been computed with the restriction's resources.
pub fn check_grant(grant: Grant<'_>, reach: &Reach) -> Result<(), Violation> {
    for role in grant.roles {
        let what = format!("role {}", role.name);
        for (feature, &level) in &role.grants {
            match grant.restriction {
                None => {
                    let held = Reach::on(&reach.everywhere, feature);
                    if level > held {
                        return Err(escalation(what, feature, level, held, "on every resource of the account".into()));
                    }
                }
                Some(set) => {
                    let held = Reach::on(&reach.account, feature);
                    if level > held {
                        return Err(escalation(what, feature, level, held, "in the account".into()));
                    }
                    // On each resource, what the grant gives there: the role's level under the
                    // resource's cap.
                    for (r, cap) in set.iter() {
                        let level = level.min(cap);
                        let held = reach.resources.get(r).map_or(Level::None, |g| Reach::on(g, feature));
                        if level > held {
                            return Err(escalation(what, feature, level, held, format!("on resource {r}")));
                        }
                    }
                }
            }
        }
        for (feature, &level) in &role.descendant_grants {
            let held = Reach::on(&reach.descendants, feature);
            if level > held {
                return Err(escalation(what, feature, level, held, "in the account's descendants".into()));
            }
        }
    }
    Ok(())
}

/// **No escalation** for a role definition (CreateRole, UpdateRole): its levels within the actor's
/// reach on every resource of the account, its descendant levels within its reach on every
/// descendant — whoever holds the role, or acts through a delegation made with it, then holds
/// nothing the actor does not.
pub fn check_role_definition(grants: &Grants, descendant_grants: &Grants, reach: &Reach) -> Result<(), Violation> {
    for (feature, &level) in grants {
        let held = Reach::on(&reach.everywhere, feature);
        if level > held {
            return Err(escalation("the role".into(), feature, level, held, "in the account".into()));
        }
    }
    for (feature, &level) in descendant_grants {
        let held = Reach::on(&reach.descendants, feature);
        if level > held {
            return Err(escalation("the role".into(), feature, level, held, "in the account's descendants".into()));
        }
    }
    Ok(())
}

/// **Partner reach is a delegation**, for role definitions: a custom role of an account of `kind`
/// gives on descendants at most what the kind's built-in roles give there, feature by feature.
/// The partner kinds' built-in roles give nothing below: their members reach customers through
/// delegations only.
pub fn check_descendant_levels(
    catalog: &Catalog,
    kind: &AccountKind,
    descendant_grants: &Grants,
) -> Result<(), Violation> {
    let builtins: &[Role] = catalog.kind(kind).map_or(&[], |k| k.roles.as_slice());
    for (feature, &level) in descendant_grants {
        let allowed = builtins.iter().map(|r| r.descendant_level(feature)).max().unwrap_or(Level::None);
        if level > allowed {
            return Err(Violation::DescendantLevel { kind: kind.clone(), feature: feature.clone(), level, allowed });
        }
    }
    Ok(())
}

/// **Partner reach is a delegation**, for direct access: a membership in an account for `user`
/// who is a member of `partner_side` — the account's ancestors and the source accounts of the
/// delegations into the account or its ancestors — is refused (on an actor's authority).
pub fn check_partner_reach(
    user: &UserId,
    user_accounts: &[AccountId],
    partner_side: &BTreeSet<AccountId>,
) -> Result<(), Violation> {
    match user_accounts.iter().find(|a| partner_side.contains(*a)) {
        Some(via) => Err(Violation::PartnerReach { user: user.clone(), via: via.clone() }),
        None => Ok(()),
    }
}

/// **Four-eyes**: nobody approves or rejects a membership they requested or that is their own.
pub fn check_four_eyes(
    actor: &UserId,
    membership: &MembershipId,
    requester: Option<&UserId>,
    member: &UserId,
) -> Result<(), Violation> {
    let relation = if requester == Some(actor) {
        "requested"
    } else if member == actor {
        "is the user of"
    } else {
        return Ok(());
    };
    Err(Violation::FourEyes { actor: actor.clone(), relation, membership: membership.clone() })
}

/// **Four-eyes**: a pending membership is frozen for its requester.
pub fn check_pending_frozen(
    actor: &UserId,
    membership: &MembershipId,
    status: MembershipStatus,
    requester: Option<&UserId>,
) -> Result<(), Violation> {
    if status == MembershipStatus::PendingApproval && requester == Some(actor) {
        return Err(Violation::PendingFrozen { actor: actor.clone(), membership: membership.clone() });
    }
    Ok(())
}

/// **Expiry**: whether changing a grant's expiry from `current` to `new` (`None`: never) extends it
/// — a later instant, clearing it, or renewing an expired one — which grants access for longer
/// and so is decided as granting is (the grant's levels within the actor's reach for as long,
/// without the grant itself: see [`Reach::compute`]; a membership's user within
/// [`check_partner_reach`], as for reactivating it — a delegation names no user, and is itself
/// the way a partner reaches a customer). Anything else (an expiry where there was
/// none, an earlier one, no change) only takes access away sooner, and whoever may edit the grant
/// may do it.
pub fn expiry_extends(current: Option<Timestamp>, new: Option<Timestamp>) -> bool {
    match (current, new) {
        (Some(_), None) => true,
        (Some(c), Some(n)) => n > c,
        (None, _) => false,
    }
}

/// **Limits**: at most [`MAX_ROLES`] roles.
pub fn check_role_limit(roles: &[RoleName]) -> Result<(), Violation> {
    if roles.len() > MAX_ROLES { Err(Violation::RoleLimit) } else { Ok(()) }
}

/// **Last administrator**: an account that had an active administrator keeps one.
pub fn check_last_administrator(account: &AccountId, before: usize, after: usize) -> Result<(), Violation> {
    if before > 0 && after == 0 {
        return Err(Violation::LastAdministrator { account: account.clone() });
    }
    Ok(())
}

/// A precondition the store checks inside its write, decided here so that the write and the
/// preview (`crate::simulate`) refuse alike: its stable type (the PreconditionFailure type) and
/// what is wrong. The caller names the subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Precondition {
    /// The stable type, e.g. `LAST_ROLE`.
    pub kind: &'static str,
    /// What is wrong.
    pub description: String,
}

/// **Last administrator**, as the store answers it: [`check_last_administrator`] as a
/// [`Precondition`] (`LAST_ADMINISTRATOR`).
pub fn keep_an_administrator(account: &AccountId, before: usize, after: usize) -> Result<(), Precondition> {
    check_last_administrator(account, before, after).map_err(|v| Precondition {
        kind: v.code(),
        description: format!(
            "account {account} must keep at least one active administrator (a role holding users:full): \
             make another member administrator first"
        ),
    })
}

/// **Delegation scope**, as the store answers it: a partner delegates only into accounts below it
/// in its own tree; `to` is not (`DELEGATION_SCOPE`).
pub fn delegation_out_of_scope(from: &AccountId, to: &AccountId) -> Precondition {
    Precondition {
        kind: "DELEGATION_SCOPE",
        description: format!(
            "account {to} is not below account {from}: a partner delegates only into accounts of its own tree"
        ),
    }
}

/// **Status transitions** of a membership: active → suspended, suspended → active, pending →
/// active by approval (`approval`) only; anything else is `ALREADY_SUSPENDED`, `NOT_SUSPENDED`,
/// `MEMBERSHIP_PENDING` or `MEMBERSHIP_NOT_PENDING`.
pub fn check_membership_transition(
    membership: &MembershipId,
    current: MembershipStatus,
    status: MembershipStatus,
    approval: bool,
) -> Result<(), Precondition> {
    use MembershipStatus::{Active, PendingApproval, Suspended};
    let refused = match (current, status, approval) {
        (PendingApproval, Active, true) | (Active, Suspended, false) | (Suspended, Active, false) => return Ok(()),
        (_, _, true) => ("MEMBERSHIP_NOT_PENDING", "is not waiting for approval"),
        (PendingApproval, _, false) => ("MEMBERSHIP_PENDING", "is waiting for approval: approve or reject it instead"),
        (Suspended, Suspended, false) => ("ALREADY_SUSPENDED", "is already suspended"),
        (Active, Active, false) => ("NOT_SUSPENDED", "is not suspended"),
        (_, PendingApproval, false) => ("MEMBERSHIP_NOT_PENDING", "cannot be put back to pending approval"),
    };
    let (kind, what) = refused;
    Err(Precondition { kind, description: format!("membership {membership} {what}") })
}

/// **Status transitions** of an account or a user (`entity`, `id`): suspending (`suspend`) one
/// that is suspended (`suspended`) is `ALREADY_SUSPENDED`, reactivating an active one
/// `NOT_SUSPENDED`.
pub fn check_suspension_change(entity: &str, id: &str, suspended: bool, suspend: bool) -> Result<(), Precondition> {
    match (suspended, suspend) {
        (true, true) => {
            Err(Precondition { kind: "ALREADY_SUSPENDED", description: format!("{entity} {id} is already suspended") })
        }
        (false, false) => {
            Err(Precondition { kind: "NOT_SUSPENDED", description: format!("{entity} {id} is already active") })
        }
        (true, false) | (false, true) => Ok(()),
    }
}

/// **Limits**: a membership keeps at least one role. The roles once `role` is removed from
/// `roles`: `None` when it is not held (nothing changes), `LAST_ROLE` when it is the only one.
pub fn roles_without(roles: &[RoleName], role: &RoleName) -> Result<Option<Vec<RoleName>>, Precondition> {
    if !roles.contains(role) {
        return Ok(None);
    }
    let left: Vec<RoleName> = roles.iter().filter(|r| *r != role).cloned().collect();
    if left.is_empty() {
        return Err(Precondition {
            kind: "LAST_ROLE",
            description: format!(
                "{role} is the membership's only role: assign another first, or delete the membership"
            ),
        });
    }
    Ok(Some(left))
}

/// Who changes a profile, and the profile's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileEditor {
    /// The user themselves.
    Owner,
    /// An administrator of every account of the user.
    Administrator,
}

/// **Identity**: a suspended user changes nothing of their own; an administrator changes a profile
/// only while it is unclaimed (its owner has not yet proved the email).
pub fn check_profile_change(
    user: &UserId,
    editor: ProfileEditor,
    suspended: bool,
    claimed: bool,
) -> Result<(), Violation> {
    match editor {
        ProfileEditor::Owner if suspended => {
            Err(Violation::Profile { user: user.clone(), why: "cannot be changed by its owner while suspended" })
        }
        ProfileEditor::Administrator if claimed => Err(Violation::Profile {
            user: user.clone(),
            why: "belongs to its owner since they claimed it: only they change it",
        }),
        ProfileEditor::Owner | ProfileEditor::Administrator => Ok(()),
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod model;
