#![no_main]
//! Decode + validate of `ListAccessibleAccountsRequest`.
use guichet_fuzz::*;
libfuzzer_sys::fuzz_target!(|data: &[u8]| decode_validate::<pb::ListAccessibleAccountsRequest, AccessibleAccountsQuery>(data));
