#![no_main]
//! Decode + validate of `ListInvitationsRequest`.
use guichet_fuzz::*;
libfuzzer_sys::fuzz_target!(|data: &[u8]| decode_validate::<pb::ListInvitationsRequest, Authored<ListInvitations>>(data));
