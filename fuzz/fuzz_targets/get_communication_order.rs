#![no_main]
//! Decode + validate of `GetCommunicationOrderRequest`.
use guichet_fuzz::*;
libfuzzer_sys::fuzz_target!(|data: &[u8]| decode_validate::<pb::GetCommunicationOrderRequest, Authored<CommunicationOrderQuery>>(data));
