#![no_main]
//! Decode + validate of `CreateContactRequest`.
use guichet_fuzz::*;
libfuzzer_sys::fuzz_target!(|data: &[u8]| decode_validate::<pb::CreateContactRequest, Authored<d::NewContact>>(data));
