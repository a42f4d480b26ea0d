//! guichet end to end: the real binary, real gRPC, SQLite and PostgreSQL, grpcurl.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs, unreachable_pub)]

mod actors;
mod contacts;
mod demo;
mod errors;
mod grpcurl;
mod hardening;
mod invitations;
mod restart;
mod scenario;
