#![no_main]
//! Decode + validate of `ReactivateUserRequest`.
use guichet_fuzz::*;
libfuzzer_sys::fuzz_target!(|data: &[u8]| decode_validate::<pb::ReactivateUserRequest, Authored<d::UserId>>(data));
