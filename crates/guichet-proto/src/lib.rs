//! guichet's v1 gRPC API.
