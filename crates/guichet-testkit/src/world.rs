//! Worlds written as data, loaded into the application or over gRPC.
