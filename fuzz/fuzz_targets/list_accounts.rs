#![no_main]
//! Decode + validate of `ListAccountsRequest`.
use guichet_fuzz::*;
libfuzzer_sys::fuzz_target!(|data: &[u8]| decode_validate::<pb::ListAccountsRequest, Authored<ListAccounts>>(data));
