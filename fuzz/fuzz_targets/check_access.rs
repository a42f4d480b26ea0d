#![no_main]
//! Decode + validate of `CheckAccessRequest`.
use guichet_fuzz::*;
libfuzzer_sys::fuzz_target!(|data: &[u8]| decode_validate::<pb::CheckAccessRequest, AccessQuery>(data));
