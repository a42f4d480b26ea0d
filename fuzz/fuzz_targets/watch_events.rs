#![no_main]
//! Decode + validate of `WatchEventsRequest`.
use guichet_fuzz::*;
libfuzzer_sys::fuzz_target!(|data: &[u8]| decode_validate::<pb::WatchEventsRequest, Authored<WatchEvents>>(data));
