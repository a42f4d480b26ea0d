#![no_main]
//! Decode + validate of `SimulateChangesRequest` (each operation through its own RPC's conversion).
use guichet_fuzz::*;
libfuzzer_sys::fuzz_target!(|data: &[u8]| decode_validate::<pb::SimulateChangesRequest, SimulateQuery>(data));
