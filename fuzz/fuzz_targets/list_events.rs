#![no_main]
//! Decode + validate of `ListEventsRequest`.
use guichet_fuzz::*;
libfuzzer_sys::fuzz_target!(|data: &[u8]| decode_validate::<pb::ListEventsRequest, Authored<ListEvents>>(data));
