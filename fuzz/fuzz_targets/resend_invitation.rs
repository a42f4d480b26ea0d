#![no_main]
//! Decode + validate of `ResendInvitationRequest`.
use guichet_fuzz::*;
libfuzzer_sys::fuzz_target!(|data: &[u8]| decode_validate::<pb::ResendInvitationRequest, Authored<d::InvitationId>>(data));
