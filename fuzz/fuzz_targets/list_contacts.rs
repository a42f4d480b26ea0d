#![no_main]
//! Decode + validate of `ListContactsRequest`.
use guichet_fuzz::*;
libfuzzer_sys::fuzz_target!(|data: &[u8]| decode_validate::<pb::ListContactsRequest, Authored<ListContacts>>(data));
