#![no_main]
//! Decode + validate of `ListChildAccountsRequest`.
use guichet_fuzz::*;
libfuzzer_sys::fuzz_target!(|data: &[u8]| decode_validate::<pb::ListChildAccountsRequest, Authored<ListChildren>>(data));
