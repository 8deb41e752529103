//! Log lines on stderr for programs whose host language has no Rust logger
//! (Python, Node, C): turned on by an environment variable that holds an
//! `env_logger` filter, e.g. `WAOTP_LOG=info` or `WAOTP_LOG=waotp=debug`.
//!
//! Each line carries the process id: with many worker processes on one data
//! dir, which process owns a session is the first question. No line ever
//! carries an OTP code (the core never logs one).

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

/// Starts logging to stderr when `var` is set; does nothing when it is not,
/// or when a logger is already installed. Returns whether this call started it.
pub fn init_from_env(var: &str) -> bool {
    if std::env::var_os(var).is_none() {
        return false;
    }
    env_logger::Builder::from_env(env_logger::Env::default().filter(var))
        .format(|buf, record| {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            writeln!(
                buf,
                "{}.{:03} pid {} {} {}: {}",
                now.as_secs(),
                now.subsec_millis(),
                std::process::id(),
                record.level(),
                record.target(),
                record.args()
            )
        })
        .try_init()
        .is_ok()
}
