#![no_main]
//! Decode + validate of `SuspendAccountRequest`.
use guichet_fuzz::*;
libfuzzer_sys::fuzz_target!(|data: &[u8]| decode_validate::<pb::SuspendAccountRequest, Authored<AccountText>>(data));
