//! `waotp._native`: the Rust core as a Python extension module (pyo3, abi3).
//!
//! Thin by design: each item converts arguments, calls the core on its
//! process-wide runtime ([`waotp::runtime`]) and converts the answer. The
//! typed, documented API is the pure-Python package `waotp` on top
//! (`python/waotp/`); `_native.pyi` describes this module for type checkers.

use std::time::Duration;

use pyo3::prelude::*;

mod call;
mod errors;
mod events;
mod gateway;
mod inbound;
mod options;
mod types;

#[pymodule]
#[pyo3(name = "_native")]
fn native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // `WAOTP_LOG=info` (an env_logger filter) shows waotp's log on stderr.
    waotp::stderr_log::init_from_env("WAOTP_LOG");
    m.add_class::<gateway::Gateway>()?;
    m.add_class::<events::EventStream>()?;
    m.add_class::<events::Event>()?;
    m.add_class::<options::Limits>()?;
    m.add_class::<options::SendRetry>()?;
    m.add_class::<options::MemoryBounds>()?;
    m.add_class::<types::LinkedUser>()?;
    m.add_class::<types::SessionStatus>()?;
    m.add_class::<types::PasskeyChallenge>()?;
    m.add_class::<types::SessionHealth>()?;
    m.add_class::<types::NewChatQuota>()?;
    m.add_class::<types::QrCode>()?;
    m.add_class::<types::SentMessage>()?;
    m.add_class::<types::MessageStatus>()?;
    m.add_class::<types::SentOtp>()?;
    m.add_class::<types::VerifyResult>()?;
    m.add_class::<types::OtpStatus>()?;
    m.add_class::<inbound::InboundVerification>()?;
    m.add_class::<inbound::InboundStatus>()?;
    m.add_class::<types::SendStats>()?;
    m.add_class::<types::VerifyCounts>()?;
    m.add_class::<types::Conversion>()?;
    m.add_class::<types::ConversionFigures>()?;
    m.add_class::<types::Stats>()?;
    m.add_class::<types::BuildInfo>()?;
    m.add_function(wrap_pyfunction!(types::build_info, m)?)?;
    m.add_function(wrap_pyfunction!(error_codes, m)?)?;
    let stop = wrap_pyfunction!(stop_runtime_at_exit, m)?;
    m.py().import("atexit")?.call_method1("register", (stop,))?;
    Ok(())
}

/// How long the exit hook waits for blocking work in progress (a SQLite
/// call) on waotp's threads before the interpreter goes on finalizing.
const EXIT_WAIT: Duration = Duration::from_secs(2);

/// Registered with `atexit` when the module loads: stops waotp's runtime
/// (every gateway still open is dropped with it) while the interpreter is
/// still whole. Without it, the runtime's threads outlive `atexit` and one
/// that completes an awaitable late calls into a finalizing interpreter:
/// "PyGILState_Release: thread state … must be current", or a segfault.
/// The GIL is released meanwhile, so a thread of the runtime that waits for
/// it (to complete an asyncio future) gets it and ends.
#[pyfunction]
fn stop_runtime_at_exit(py: Python<'_>) {
    py.detach(|| waotp::runtime::shutdown(EXIT_WAIT));
}

/// Every error code the module can raise: the core's table (its errors,
/// then the runtime's).
#[pyfunction]
fn error_codes() -> Vec<&'static str> {
    waotp::error::ErrorCode::ALL
        .iter()
        .map(|c| c.as_str())
        .collect()
}
