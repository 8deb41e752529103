//! What waotp needs from the machine: the data dir's layout (every path in
//! one place), private files, SQLite helpers, poison-tolerant locks.
//! Imports only from [`crate::model`] and [`crate::error`].

pub(crate) mod files;
pub(crate) mod fork_safety;
pub(crate) mod layout;
pub(crate) mod redact;
pub(crate) mod secret_file;
pub(crate) mod sqlite;
pub(crate) mod store_key;
pub(crate) mod sync;
