//! Accounts: creation under a parent the catalog allows, status, modules and settings.

use std::collections::BTreeSet;

use guichet_domain::{
    Account, AccountId, AccountKind, AccountSettings, AccountStatus, FeatureName, FieldViolation, NewAccount, Revision,
    SettingsChange, check_suspension_change,
};
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr};
use sea_orm::{ActiveModelTrait, ColumnTrait, Condition, Set};

use crate::entities::account;
use crate::events::{self, Audit};
use crate::paging::Keyset;
use crate::roles::account_row;
use crate::rows::{self, modules_to_json, settings_to_json};
use crate::{Page, PageRequest, Store, StoreError, new_id};

/// The deepest an account tree may go (root = 1).
pub const MAX_DEPTH: i32 = 16;

/// Filters of [`Store::list_accounts`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountFilter {
    /// Only the direct children of this account.
    pub parent: Option<AccountId>,
    /// Only accounts of this kind.
    pub kind: Option<AccountKind>,
    /// Only accounts with this status.
    pub status: Option<AccountStatus>,
}

impl Store {
    fn check_modules(&self, modules: &BTreeSet<FeatureName>, field: &str) -> Result<(), StoreError> {
        let violations: Vec<_> = modules
            .iter()
            .enumerate()
            .filter_map(|(i, m)| match self.catalog.feature(m) {
                Some(f) if f.module => None,
                Some(_) => Some(FieldViolation::new(
                    format!("{field}[{i}]"),
                    format!("{m} is an administrative feature, always enabled; only module features can be toggled"),
                )),
                None => {
                    Some(FieldViolation::new(format!("{field}[{i}]"), format!("unknown feature {m}: see ListCatalog")))
                }
            })
            .collect();
        if violations.is_empty() { Ok(()) } else { Err(StoreError::Invalid(violations)) }
    }

    /// Creates an account under a parent its kind allows.
    pub async fn create_account(&self, cmd: &NewAccount, audit: &Audit) -> Result<(Account, Revision), StoreError> {
        let Some(kind) = self.catalog.kind(&cmd.kind) else {
            return Err(StoreError::invalid("kind", format!("unknown account kind {}: see ListCatalog", cmd.kind)));
        };
        let modules = match &cmd.modules {
            Some(m) => {
                self.check_modules(m, "modules")?;
                m.clone()
            }
            None => self.catalog.default_modules(),
        };
        let settings = match &cmd.settings {
            Some(s) => s.clone(),
            None => AccountSettings { requires_approval: kind.default_requires_approval, ..AccountSettings::default() },
        };
        settings.validate().map_err(StoreError::Invalid)?;
        let (txn, revision) = self.begin_claimed(audit).await?;
        let id = cmd.id.as_ref().map_or_else(|| new_id("acc"), |i| i.as_str().to_owned());
        let (parent_id, path, depth) = match &cmd.parent {
            None if kind.root => (None, id.clone(), 1),
            None => {
                return Err(StoreError::Precondition {
                    kind: "ROOT_KIND_REQUIRED",
                    subject: format!("kinds/{}", cmd.kind),
                    description: format!(
                        "an account of kind {} cannot be a root: give a parent_id of kind {}",
                        cmd.kind,
                        kind.parents.iter().map(AccountKind::as_str).collect::<Vec<_>>().join(" or ")
                    ),
                });
            }
            Some(parent) => {
                let p = account_row(&txn, parent).await?;
                let parent_kind = AccountKind::from_trusted(p.kind.clone());
                if !self.catalog.may_parent(&parent_kind, &cmd.kind) {
                    return Err(StoreError::Precondition {
                        kind: "PARENT_KIND_NOT_ALLOWED",
                        subject: format!("accounts/{parent}"),
                        description: format!(
                            "an account of kind {} cannot be a child of a {parent_kind} account",
                            cmd.kind
                        ),
                    });
                }
                if p.status == AccountStatus::Suspended.as_str() {
                    return Err(StoreError::Precondition {
                        kind: "ACCOUNT_SUSPENDED",
                        subject: format!("accounts/{parent}"),
                        description: format!(
                            "account {parent} is suspended: reactivate it before adding accounts under it"
                        ),
                    });
                }
                if p.depth >= MAX_DEPTH {
                    return Err(StoreError::Precondition {
                        kind: "ACCOUNT_DEPTH",
                        subject: format!("accounts/{parent}"),
                        description: format!("account trees are at most {MAX_DEPTH} levels deep"),
                    });
                }
                (Some(p.id.clone()), format!("{}/{id}", p.path), p.depth + 1)
            }
        };
        let row = account::ActiveModel {
            id: Set(id.clone()),
            name: Set(cmd.name.clone()),
            kind: Set(cmd.kind.as_str().to_owned()),
            parent_id: Set(parent_id),
            path: Set(path),
            depth: Set(depth),
            status: Set(AccountStatus::Active.as_str().to_owned()),
            suspension_reason: Set(None),
            modules: Set(modules_to_json(&modules)),
            settings: Set(settings_to_json(&settings)?),
            created_at: Set(audit.now.as_millis()),
            updated_at: Set(audit.now.as_millis()),
        }
        .insert(&txn)
        .await
        .map_err(|e| StoreError::from_db(e, "account", &id))?;
        events::record(self, &txn, revision, audit, Some(&row.id), "account.created", &row.id, None::<&()>, Some(&row))
            .await?;
        txn.commit().await?;
        Ok((rows::account(&row)?, revision))
    }

    /// One account.
    pub async fn get_account(&self, id: &AccountId) -> Result<Account, StoreError> {
        rows::account(&account_row(&self.conn(), id).await?)
    }

    /// Accounts by id order, filtered.
    pub async fn list_accounts(&self, filter: &AccountFilter, page: &PageRequest) -> Result<Page<Account>, StoreError> {
        let cond = Condition::all()
            .add_option(filter.parent.as_ref().map(|p| account::Column::ParentId.eq(p.as_str())))
            .add_option(filter.kind.as_ref().map(|k| account::Column::Kind.eq(k.as_str())))
            .add_option(filter.status.map(|s| account::Column::Status.eq(s.as_str())));
        self.page_accounts(cond, page).await
    }

    /// The children of an account, or all its descendants when `recursive`.
    pub async fn list_children(
        &self,
        id: &AccountId,
        recursive: bool,
        page: &PageRequest,
    ) -> Result<Page<Account>, StoreError> {
        let acc = account_row(&self.conn(), id).await?;
        let cond =
            if recursive { below(&acc.path) } else { Condition::all().add(account::Column::ParentId.eq(acc.id)) };
        self.page_accounts(cond, page).await
    }

    async fn page_accounts(&self, cond: Condition, page: &PageRequest) -> Result<Page<Account>, StoreError> {
        Keyset::id(account::Column::Id).page(&self.conn(), cond, page).await?.try_map(|row| rows::account(&row))
    }

    /// Renames an account.
    pub async fn rename_account(
        &self,
        id: &AccountId,
        name: &str,
        audit: &Audit,
    ) -> Result<(Account, Revision), StoreError> {
        self.change_account(id, audit, "account.renamed", |a| {
            a.name = Set(name.to_owned());
            Ok(())
        })
        .await
    }

    /// Suspends (with a reason) or reactivates an account.
    pub async fn set_account_status(
        &self,
        id: &AccountId,
        status: AccountStatus,
        reason: Option<String>,
        audit: &Audit,
    ) -> Result<(Account, Revision), StoreError> {
        let status_event = match status {
            AccountStatus::Suspended => "account.suspended",
            AccountStatus::Active => "account.reactivated",
        };
        self.change_account(id, audit, status_event, |a| {
            let (suspended, suspend) =
                (a.status.as_ref() != AccountStatus::Active.as_str(), status == AccountStatus::Suspended);
            check_suspension_change("account", id.as_str(), suspended, suspend)
                .map_err(|p| StoreError::precondition(p, format!("accounts/{id}")))?;
            a.status = Set(status.as_str().to_owned());
            a.suspension_reason = Set(match status {
                AccountStatus::Suspended => reason.clone(),
                AccountStatus::Active => None,
            });
            Ok(())
        })
        .await
    }

    /// Replaces the set of enabled modules.
    pub async fn set_account_modules(
        &self,
        id: &AccountId,
        modules: &BTreeSet<FeatureName>,
        audit: &Audit,
    ) -> Result<(Account, Revision), StoreError> {
        self.check_modules(modules, "modules")?;
        self.change_account(id, audit, "account.modules_changed", |a| {
            a.modules = Set(modules_to_json(modules));
            Ok(())
        })
        .await
    }

    /// Changes the settings: `change` is applied to the settings read inside the write, so two
    /// concurrent changes of different settings both take effect.
    pub async fn set_account_settings(
        &self,
        id: &AccountId,
        change: &SettingsChange,
        audit: &Audit,
    ) -> Result<(Account, Revision), StoreError> {
        self.change_account(id, audit, "account.settings_changed", |a| {
            let current: AccountSettings = match &a.settings {
                sea_orm::ActiveValue::Set(json) | sea_orm::ActiveValue::Unchanged(json) => {
                    serde_json::from_str(json).map_err(|e| StoreError::corrupt("accounts", e))?
                }
                sea_orm::ActiveValue::NotSet => return Err(StoreError::corrupt("accounts", "settings not read")),
            };
            let settings = change.apply(&current);
            settings.validate().map_err(StoreError::Invalid)?;
            a.settings = Set(settings_to_json(&settings)?);
            Ok(())
        })
        .await
    }

    async fn change_account(
        &self,
        id: &AccountId,
        audit: &Audit,
        kind: &str,
        change: impl Fn(&mut account::ActiveModel) -> Result<(), StoreError>,
    ) -> Result<(Account, Revision), StoreError> {
        let (txn, revision) = self.begin_claimed(audit).await?;
        let before = account_row(&txn, id).await?;
        let mut active: account::ActiveModel = before.clone().into();
        change(&mut active)?;
        active.updated_at = Set(audit.now.as_millis());
        let row = active.update(&txn).await?;
        events::record(self, &txn, revision, audit, Some(&row.id), kind, &row.id, Some(&before), Some(&row)).await?;
        txn.commit().await?;
        Ok((rows::account(&row)?, revision))
    }
}

/// The accounts strictly below the account whose materialised path is `path`: a `LIKE 'path/%'`
/// (with its own escape character: SQLite has none by default, so an id holding `_` would
/// otherwise match nothing there) narrowed by an exact comparison of the prefix, because SQLite's
/// `LIKE` ignores the case of ASCII letters: `acme/%` would also match the tree of `ACME`.
pub(crate) fn below(path: &str) -> Condition {
    let prefix = format!("{path}/");
    // An `int` on PostgreSQL (its substr takes no bigint); paths are far shorter.
    let length = i32::try_from(prefix.chars().count()).unwrap_or(i32::MAX);
    Condition::all()
        .add(account::Column::Path.like(LikeExpr::new(format!("{}%", escape_like(&prefix))).escape('\\')))
        .add(ExprTrait::eq(
            Expr::expr(Func::cust("substr").arg(Expr::col(account::Column::Path)).arg(1).arg(length)),
            prefix.as_str(),
        ))
}

/// Escapes `%`, `_` and `\` for a LIKE pattern (ids may contain `_`).
pub(crate) fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
