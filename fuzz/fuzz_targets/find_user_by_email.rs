#![no_main]
//! Decode + validate of `FindUserByEmailRequest`.
use guichet_fuzz::*;
libfuzzer_sys::fuzz_target!(|data: &[u8]| decode_validate::<pb::FindUserByEmailRequest, Authored<d::Email>>(data));
