//! `mod`: a name databases record, so never renamed nor edited once released.
//! named as the migration, which is the name a database records once it has applied it — a
//! migration is never renamed nor edited once released; a change of schema is a new file, listed
//! last in [`Migrator`]. They run in the order [`Migrator`] lists them (`…_000004_invitations`
//! comes before `…_000003_contacts`, as when they were first applied).

mod m20261123_000001_initial;
mod m20261123_000002_events;
mod m20261123_000003_contacts;
mod m20261123_000004_invitations;
mod m20261123_000005_changes;
mod m20261203_000006_unique_idp_subjects;
mod m20261203_000007_claimed_users;
mod m20261207_000008_events_by_revision;
mod m20261207_000009_resource_levels;
mod m20261207_000010_grant_expiry;
mod m20261207_000011_access_requests;
mod m20261207_000012_lookup_indexes;
mod m20261207_000013_inactive_accounts;
mod m20261208_000014_membership_write_lock;

use sea_orm_migration::prelude::*;

use m20261123_000001_initial::Initial;
use m20261123_000002_events::Events;
use m20261123_000003_contacts::Contacts;
use m20261123_000004_invitations::Invitations;
use m20261123_000005_changes::Changes;
use m20261203_000006_unique_idp_subjects::UniqueSubjects;
use m20261203_000007_claimed_users::ClaimedUsers;
use m20261207_000008_events_by_revision::EventsByRevision;
use m20261207_000009_resource_levels::ResourceLevels;
use m20261207_000010_grant_expiry::GrantExpiry;
use m20261207_000011_access_requests::AccessRequests;
use m20261207_000012_lookup_indexes::LookupIndexes;
use m20261207_000013_inactive_accounts::InactiveAccounts;
use m20261208_000014_membership_write_lock::MembershipWriteLock;

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
            Box::new(GrantExpiry),
            Box::new(AccessRequests),
            Box::new(LookupIndexes),
            Box::new(InactiveAccounts),
            Box::new(MembershipWriteLock),
        ]
    }
}

/// A foreign key that deletes with the row it points to.
fn fk(name: &str, from: (&'static str, &'static str), to: (&'static str, &'static str)) -> ForeignKeyCreateStatement {
    ForeignKey::create().name(name).from(from.0, from.1).to(to.0, to.1).on_delete(ForeignKeyAction::Cascade).to_owned()
}

/// Creates an index on `cols` of `table`.
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The names databases have recorded, in the order the migrations run: renaming, reordering
    /// or dropping one fails here.
    #[test]
    fn the_migrations_keep_their_recorded_names_and_order() {
        let names: Vec<String> = Migrator::migrations().iter().map(|m| m.name().to_owned()).collect();
        assert_eq!(
            names,
            [
                "m20261123_000001_initial",
                "m20261123_000002_events",
                "m20261123_000004_invitations",
                "m20261123_000003_contacts",
                "m20261123_000005_changes",
                "m20261203_000006_unique_idp_subjects",
                "m20261203_000007_claimed_users",
                "m20261207_000008_events_by_revision",
                "m20261207_000009_resource_levels",
                "m20261207_000010_grant_expiry",
                "m20261207_000011_access_requests",
                "m20261207_000012_lookup_indexes",
                "m20261207_000013_inactive_accounts",
                "m20261208_000014_membership_write_lock",
            ]
        );
    }
}
