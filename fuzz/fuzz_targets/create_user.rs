#![no_main]
//! Decode + validate of `CreateUserRequest`.
use guichet_fuzz::*;
libfuzzer_sys::fuzz_target!(|data: &[u8]| decode_validate::<pb::CreateUserRequest, Authored<CreateUser>>(data));
