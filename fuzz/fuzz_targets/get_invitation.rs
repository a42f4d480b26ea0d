#![no_main]
//! Decode + validate of `GetInvitationRequest`.
use guichet_fuzz::*;
libfuzzer_sys::fuzz_target!(|data: &[u8]| decode_validate::<pb::GetInvitationRequest, Authored<d::InvitationId>>(data));
