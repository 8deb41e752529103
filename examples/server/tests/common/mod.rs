//! What the server's process tests share.

pub mod server_process;
