#![no_main]
//! Decode + validate of `AcceptInvitationRequest`.
use guichet_fuzz::*;
libfuzzer_sys::fuzz_target!(|data: &[u8]| decode_validate::<pb::AcceptInvitationRequest, Authored<AcceptInvitation>>(data));
