//! The integration test binary (one binary keeps link time down). Each module
//! covers one area.

mod metrics;
