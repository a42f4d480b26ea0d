//! The server in-process on port 0, with a manual clock.
