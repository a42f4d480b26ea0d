//! The schema, as sea-orm migrations shared by SQLite and PostgreSQL.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, boolean, integer, string, string_null, text};

/// Every migration of guichet, in order.
#[derive(Debug)]
pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(Initial),
            Box::new(Events),
            Box::new(Invitations),
            Box::new(Contacts),
            Box::new(Changes),
            Box::new(UniqueSubjects),
            Box::new(ClaimedUsers),
            Box::new(EventsByRevision),
            Box::new(ResourceLevels),
        ]
    }
}

/// The first schema: accounts, users, roles, memberships, resources, delegations, revision.
#[derive(Debug)]
struct Initial;

impl MigrationName for Initial {
    fn name(&self) -> &str {
        "m20261123_000001_initial"
    }
}

fn fk(name: &str, from: (&'static str, &'static str), to: (&'static str, &'static str)) -> ForeignKeyCreateStatement {
    ForeignKey::create().name(name).from(from.0, from.1).to(to.0, to.1).on_delete(ForeignKeyAction::Cascade).to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Initial {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("guichet_revision")
                    .col(integer("id").primary_key())
                    .col(big_integer("value"))
                    .to_owned(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::insert()
                    .into_table("guichet_revision")
                    .columns(["id", "value"])
                    .values_panic([1.into(), 0i64.into()])
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("accounts")
                    .col(string("id").primary_key())
                    .col(string("name"))
                    .col(string("kind"))
                    .col(string_null("parent_id"))
                    .col(text("path"))
                    .col(integer("depth"))
                    .col(string("status"))
                    .col(string_null("suspension_reason"))
                    .col(text("modules"))
                    .col(text("settings"))
                    .col(big_integer("created_at"))
                    .col(big_integer("updated_at"))
                    .foreign_key(&mut fk("fk_accounts_parent", ("accounts", "parent_id"), ("accounts", "id")))
                    .to_owned(),
            )
            .await?;
        index(manager, "idx_accounts_parent", "accounts", &["parent_id"]).await?;
        index(manager, "idx_accounts_path", "accounts", &["path"]).await?;
        manager
            .create_table(
                Table::create()
                    .table("users")
                    .col(string("id").primary_key())
                    .col(string("email").unique_key())
                    .col(string("given_name"))
                    .col(string("family_name"))
                    .col(string_null("phone"))
                    .col(string_null("idp_subject"))
                    .col(string("status"))
                    .col(big_integer("created_at"))
                    .col(big_integer("updated_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("roles")
                    .col(string("account_id"))
                    .col(string("name"))
                    .col(string("display_name"))
                    .col(text("description"))
                    .col(text("grants"))
                    .col(text("descendant_grants"))
                    .col(big_integer("created_at"))
                    .col(big_integer("updated_at"))
                    .primary_key(Index::create().col("account_id").col("name"))
                    .foreign_key(&mut fk("fk_roles_account", ("roles", "account_id"), ("accounts", "id")))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("memberships")
                    .col(string("id").primary_key())
                    .col(string("user_id"))
                    .col(string("account_id"))
                    .col(string("status"))
                    .col(boolean("restricted"))
                    .col(string_null("created_by"))
                    .col(string_null("approved_by"))
                    .col(big_integer("created_at"))
                    .col(big_integer("updated_at"))
                    .foreign_key(&mut fk("fk_memberships_user", ("memberships", "user_id"), ("users", "id")))
                    .foreign_key(&mut fk("fk_memberships_account", ("memberships", "account_id"), ("accounts", "id")))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_memberships_user_account")
                    .table("memberships")
                    .col("user_id")
                    .col("account_id")
                    .unique()
                    .to_owned(),
            )
            .await?;
        index(manager, "idx_memberships_account", "memberships", &["account_id", "status"]).await?;
        manager
            .create_table(
                Table::create()
                    .table("membership_roles")
                    .col(string("membership_id"))
                    .col(string("role_name"))
                    .col(string("account_id"))
                    .col(integer("position"))
                    .primary_key(Index::create().col("membership_id").col("role_name"))
                    .foreign_key(&mut fk(
                        "fk_membership_roles_membership",
                        ("membership_roles", "membership_id"),
                        ("memberships", "id"),
                    ))
                    .to_owned(),
            )
            .await?;
        index(manager, "idx_membership_roles_account_role", "membership_roles", &["account_id", "role_name"]).await?;
        manager
            .create_table(
                Table::create()
                    .table("resources")
                    .col(string("id").primary_key())
                    .col(string("account_id"))
                    .col(string("kind"))
                    .col(string("name"))
                    .col(big_integer("created_at"))
                    .foreign_key(&mut fk("fk_resources_account", ("resources", "account_id"), ("accounts", "id")))
                    .to_owned(),
            )
            .await?;
        index(manager, "idx_resources_account", "resources", &["account_id", "kind"]).await?;
        manager
            .create_table(
                Table::create()
                    .table("membership_resources")
                    .col(string("membership_id"))
                    .col(string("resource_id"))
                    .primary_key(Index::create().col("membership_id").col("resource_id"))
                    .foreign_key(&mut fk(
                        "fk_membership_resources_membership",
                        ("membership_resources", "membership_id"),
                        ("memberships", "id"),
                    ))
                    .foreign_key(&mut fk(
                        "fk_membership_resources_resource",
                        ("membership_resources", "resource_id"),
                        ("resources", "id"),
                    ))
                    .to_owned(),
            )
            .await?;
        index(manager, "idx_membership_resources_resource", "membership_resources", &["resource_id"]).await?;
        manager
            .create_table(
                Table::create()
                    .table("delegations")
                    .col(string("id").primary_key())
                    .col(string("from_account_id"))
                    .col(string("to_account_id"))
                    .col(string("role"))
                    .col(string_null("created_by"))
                    .col(big_integer("created_at"))
                    .foreign_key(&mut fk("fk_delegations_from", ("delegations", "from_account_id"), ("accounts", "id")))
                    .foreign_key(&mut fk("fk_delegations_to", ("delegations", "to_account_id"), ("accounts", "id")))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_delegations_from_to")
                    .table("delegations")
                    .col("from_account_id")
                    .col("to_account_id")
                    .unique()
                    .to_owned(),
            )
            .await?;
        index(manager, "idx_delegations_to", "delegations", &["to_account_id"]).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "delegations",
            "membership_resources",
            "resources",
            "membership_roles",
            "memberships",
            "roles",
            "users",
            "accounts",
            "guichet_revision",
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}

async fn index(
    manager: &SchemaManager<'_>,
    name: &str,
    table: &'static str,
    cols: &[&'static str],
) -> Result<(), DbErr> {
    let mut stmt = Index::create();
    stmt.name(name).table(table);
    for col in cols {
        stmt.col(*col);
    }
    manager.create_index(stmt.to_owned()).await
}

/// Audit events and idempotency keys.
#[derive(Debug)]
struct Events;

impl MigrationName for Events {
    fn name(&self) -> &str {
        "m20261123_000002_events"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Events {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("events")
                    .col(string("id").primary_key())
                    .col(big_integer("revision"))
                    .col(string_null("account_id"))
                    .col(string_null("actor_id"))
                    .col(string_null("service"))
                    .col(string("kind"))
                    .col(string("target_id"))
                    .col(sea_orm_migration::schema::text_null("before_json"))
                    .col(sea_orm_migration::schema::text_null("after_json"))
                    .col(string_null("trace_id"))
                    .col(string_null("request_id"))
                    .col(big_integer("created_at"))
                    .to_owned(),
            )
            .await?;
        index(manager, "idx_events_account", "events", &["account_id", "id"]).await?;
        index(manager, "idx_events_account_time", "events", &["account_id", "created_at"]).await?;
        index(manager, "idx_events_actor", "events", &["actor_id", "id"]).await?;
        manager
            .create_table(
                Table::create()
                    .table("idempotency_keys")
                    .col(string("service"))
                    .col(string("request_id"))
                    .col(string("fingerprint"))
                    .col(sea_orm_migration::schema::blob_null("response"))
                    .col(big_integer("revision"))
                    .col(big_integer("created_at"))
                    .primary_key(Index::create().col("service").col("request_id"))
                    .to_owned(),
            )
            .await?;
        index(manager, "idx_idempotency_keys_created", "idempotency_keys", &["created_at"]).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("idempotency_keys").to_owned()).await?;
        manager.drop_table(Table::drop().table("events").to_owned()).await
    }
}

/// Invitations and every token issued for them (by hash).
#[derive(Debug)]
struct Invitations;

impl MigrationName for Invitations {
    fn name(&self) -> &str {
        "m20261123_000004_invitations"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Invitations {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("invitations")
                    .col(string("id").primary_key())
                    .col(string("account_id"))
                    .col(string("email"))
                    .col(text("roles"))
                    .col(boolean("restricted"))
                    .col(text("resource_ids"))
                    .col(string("status"))
                    .col(string("token_hash").unique_key())
                    .col(string_null("invited_by"))
                    .col(big_integer("created_at"))
                    .col(big_integer("expires_at"))
                    .col(big_integer("updated_at"))
                    .col(integer("resend_count"))
                    .col(string_null("accepted_user_id"))
                    .col(string_null("membership_id"))
                    .col(string_null("revoked_by"))
                    .col(sea_orm_migration::schema::text_null("revocation_reason"))
                    .foreign_key(&mut fk("fk_invitations_account", ("invitations", "account_id"), ("accounts", "id")))
                    .to_owned(),
            )
            .await?;
        index(manager, "idx_invitations_account_time", "invitations", &["account_id", "created_at", "id"]).await?;
        index(manager, "idx_invitations_account_email", "invitations", &["account_id", "email"]).await?;
        index(manager, "idx_invitations_membership", "invitations", &["membership_id"]).await?;
        manager
            .create_table(
                Table::create()
                    .table("invitation_tokens")
                    .col(string("token_hash").primary_key())
                    .col(string("invitation_id"))
                    .col(big_integer("created_at"))
                    .foreign_key(&mut fk(
                        "fk_invitation_tokens_invitation",
                        ("invitation_tokens", "invitation_id"),
                        ("invitations", "id"),
                    ))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("invitation_tokens").to_owned()).await?;
        manager.drop_table(Table::drop().table("invitations").to_owned()).await
    }
}

/// Contacts and the communication orders of an account.
#[derive(Debug)]
struct Contacts;

impl MigrationName for Contacts {
    fn name(&self) -> &str {
        "m20261123_000003_contacts"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Contacts {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("contacts")
                    .col(string("id").primary_key())
                    .col(string("account_id"))
                    .col(string("given_name"))
                    .col(string("family_name"))
                    .col(string_null("email"))
                    .col(string_null("phone"))
                    .col(string("title"))
                    .col(text("subscriptions"))
                    .col(text("permissions"))
                    .col(string_null("user_id"))
                    .col(big_integer("created_at"))
                    .col(big_integer("updated_at"))
                    .foreign_key(&mut fk("fk_contacts_account", ("contacts", "account_id"), ("accounts", "id")))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_contacts_user")
                            .from("contacts", "user_id")
                            .to("users", "id")
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        index(manager, "idx_contacts_account_name", "contacts", &["account_id", "family_name", "given_name", "id"])
            .await?;
        index(manager, "idx_contacts_user", "contacts", &["user_id"]).await?;
        manager
            .create_table(
                Table::create()
                    .table("communication_orders")
                    .col(string("account_id"))
                    .col(string("kind"))
                    .col(text("contact_ids"))
                    .col(big_integer("updated_at"))
                    .primary_key(Index::create().col("account_id").col("kind"))
                    .foreign_key(&mut fk(
                        "fk_communication_orders_account",
                        ("communication_orders", "account_id"),
                        ("accounts", "id"),
                    ))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("communication_orders").to_owned()).await?;
        manager.drop_table(Table::drop().table("contacts").to_owned()).await
    }
}

/// The change log: which scopes (`tree:<root account>`, `user:<id>`, `*`) each revision touched,
/// read by the decision caches of every replica (see `guichet_server::cache`).
#[derive(Debug)]
struct Changes;

impl MigrationName for Changes {
    fn name(&self) -> &str {
        "m20261123_000005_changes"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Changes {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("guichet_changes")
                    .col(big_integer("revision"))
                    .col(string("scope"))
                    .primary_key(Index::create().col("revision").col("scope"))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("guichet_changes").to_owned()).await
    }
}

/// `users.idp_subject` is unique when set (NULLs may repeat, on SQLite and PostgreSQL alike): one
/// identity-provider subject logs in as one user. A database where two users already share a
/// subject is refused with the subjects to fix, rather than silently rewritten.
#[derive(Debug)]
struct UniqueSubjects;

impl MigrationName for UniqueSubjects {
    fn name(&self) -> &str {
        "m20261203_000006_unique_idp_subjects"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for UniqueSubjects {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let shared = db
            .query_all_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                "SELECT idp_subject FROM users WHERE idp_subject IS NOT NULL \
                 GROUP BY idp_subject HAVING COUNT(*) > 1 ORDER BY idp_subject LIMIT 10",
            ))
            .await?;
        if !shared.is_empty() {
            let subjects =
                shared.iter().map(|row| row.try_get::<String>("", "idp_subject")).collect::<Result<Vec<_>, _>>()?;
            return Err(DbErr::Migration(format!(
                "users.idp_subject must be unique before this migration: several users share the subjects \
                 {} (the first 10 shown): clear idp_subject on all but one user of each, then start again",
                subjects.join(", ")
            )));
        }
        manager
            .create_index(
                Index::create().name("uq_users_idp_subject").table("users").col("idp_subject").unique().to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_index(Index::drop().name("uq_users_idp_subject").table("users").to_owned()).await
    }
}

/// `users.claimed_at`: when the person proved the email. Users already created on a service's own
/// authority (their `user.created` event has no actor; accepting an invitation is one of them) or
/// who accepted an invitation are claimed; the others — created by an administrator for someone
/// else — stay unclaimed until their owner accepts an invitation.
#[derive(Debug)]
struct ClaimedUsers;

impl MigrationName for ClaimedUsers {
    fn name(&self) -> &str {
        "m20261203_000007_claimed_users"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for ClaimedUsers {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("users")
                    .add_column(sea_orm_migration::schema::big_integer_null("claimed_at"))
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        let backend = db.get_database_backend();
        for sql in [
            "UPDATE users SET claimed_at = (SELECT MIN(i.updated_at) FROM invitations i \
             WHERE i.accepted_user_id = users.id AND i.status = 'accepted') \
             WHERE claimed_at IS NULL AND EXISTS (SELECT 1 FROM invitations i \
             WHERE i.accepted_user_id = users.id AND i.status = 'accepted')",
            "UPDATE users SET claimed_at = created_at WHERE claimed_at IS NULL AND EXISTS (SELECT 1 FROM events e \
             WHERE e.kind = 'user.created' AND e.target_id = users.id AND e.actor_id IS NULL)",
        ] {
            db.execute_raw(sea_orm::Statement::from_string(backend, sql)).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.alter_table(Table::alter().table("users").drop_column("claimed_at").to_owned()).await
    }
}

/// Indexes that let WatchEvents read the audit trail in revision order, whole or for one account.
#[derive(Debug)]
struct EventsByRevision;

impl MigrationName for EventsByRevision {
    fn name(&self) -> &str {
        "m20261207_000008_events_by_revision"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for EventsByRevision {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        index(manager, "idx_events_revision", "events", &["revision", "id"]).await?;
        index(manager, "idx_events_account_revision", "events", &["account_id", "revision", "id"]).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in ["idx_events_account_revision", "idx_events_revision"] {
            manager.drop_index(Index::drop().name(name).table("events").to_owned()).await?;
        }
        Ok(())
    }
}

/// Levels per resource: `membership_resources.level` is the cap of the membership on the resource
/// (`view` or `full`), and `invitations.view_resource_ids` lists the resources of a restricted
/// invitation capped at `view` (`resource_ids` keeps those at the roles' levels). Every existing
/// row gets `full` / `[]`: today's restricted memberships and invitations keep meaning what they
/// meant (the roles' levels on each listed resource).
#[derive(Debug)]
struct ResourceLevels;

impl MigrationName for ResourceLevels {
    fn name(&self) -> &str {
        "m20261207_000009_resource_levels"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for ResourceLevels {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter().table("membership_resources").add_column(string("level").default("full")).to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter().table("invitations").add_column(text("view_resource_ids").default("[]")).to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.alter_table(Table::alter().table("membership_resources").drop_column("level").to_owned()).await?;
        manager.alter_table(Table::alter().table("invitations").drop_column("view_resource_ids").to_owned()).await
    }
}
