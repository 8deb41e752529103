//! What only the bindings (C, Python, Node) need from the core: a shared
//! tokio runtime, logging to stderr from an environment variable, and
//! events flattened to plain fields. Not part of the Rust API; the crate
//! root re-exports these at their old paths for the bindings.

pub mod event_fields;
pub mod runtime;
pub mod stderr_log;

pub use event_fields::EventFields;
