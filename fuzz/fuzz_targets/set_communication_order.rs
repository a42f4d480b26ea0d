#![no_main]
//! Decode + validate of `SetCommunicationOrderRequest`.
use guichet_fuzz::*;
libfuzzer_sys::fuzz_target!(|data: &[u8]| decode_validate::<pb::SetCommunicationOrderRequest, Authored<d::NewCommunicationOrder>>(data));
