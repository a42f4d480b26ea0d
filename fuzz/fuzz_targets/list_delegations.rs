#![no_main]
//! Decode + validate of `ListDelegationsRequest`.
use guichet_fuzz::*;
libfuzzer_sys::fuzz_target!(|data: &[u8]| decode_validate::<pb::ListDelegationsRequest, Authored<ListDelegations>>(data));
