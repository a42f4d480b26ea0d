#![no_main]
//! Decode + validate of `RevokeInvitationRequest`.
use guichet_fuzz::*;
libfuzzer_sys::fuzz_target!(|data: &[u8]| decode_validate::<pb::RevokeInvitationRequest, Authored<RevokeInvitation>>(data));
