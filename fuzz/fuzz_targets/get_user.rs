#![no_main]
//! Decode + validate of `GetUserRequest`.
use guichet_fuzz::*;
libfuzzer_sys::fuzz_target!(|data: &[u8]| decode_validate::<pb::GetUserRequest, Authored<d::UserId>>(data));
