#![no_main]
//! Decode + validate of `ListMyAccountsRequest`.
use guichet_fuzz::*;
libfuzzer_sys::fuzz_target!(|data: &[u8]| decode_validate::<pb::ListMyAccountsRequest, MyAccountsQuery>(data));
