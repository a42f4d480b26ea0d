#![no_main]
//! Decode + validate of `SuspendUserRequest`.
use guichet_fuzz::*;
libfuzzer_sys::fuzz_target!(|data: &[u8]| decode_validate::<pb::SuspendUserRequest, Authored<d::UserId>>(data));
