#![no_main]
//! Decode + validate of `UpdateUserRequest`.
use guichet_fuzz::*;
libfuzzer_sys::fuzz_target!(|data: &[u8]| decode_validate::<pb::UpdateUserRequest, Authored<UpdateUser>>(data));
