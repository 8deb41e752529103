//! One process-wide tokio runtime for the blocking bindings (the C ABI,
//! Python), started by the first call that needs it.
//!
//! The core itself never starts a runtime: Rust callers bring their own. A
//! binding called from a language without one needs exactly one per process,
//! and needs to notice a `fork()`: the child inherits the runtime's memory
//! but not its threads, so a call there would wait forever on workers that
//! do not exist. [`shared`] answers that with [`RuntimeError::AfterFork`].

use std::sync::OnceLock;

/// Worker threads of the shared runtime. Each gateway's sessions are mostly
/// idle sockets; two threads keep a process light.
const WORKER_THREADS: usize = 2;

/// Why the shared runtime cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuntimeError {
    /// The process forked after the runtime started.
    #[error(
        "waotp was used before fork(); its threads do not exist in this child process (start using waotp after the fork)"
    )]
    AfterFork,
    /// The runtime could not be built (the OS refused threads or an epoll fd).
    #[error("cannot start waotp's runtime: {0}")]
    StartFailed(String),
}

impl RuntimeError {
    /// The stable code bindings report: `AFTER_FORK` or `RUNTIME_ERROR`.
    pub fn code(&self) -> &'static str {
        self.kind().as_str()
    }

    /// Its entry in the error code table.
    pub fn kind(&self) -> crate::error::ErrorCode {
        match self {
            RuntimeError::AfterFork => crate::error::ErrorCode::AfterFork,
            RuntimeError::StartFailed(_) => crate::error::ErrorCode::RuntimeError,
        }
    }
}

struct Started {
    rt: tokio::runtime::Runtime,
    pid: u32,
}

static RUNTIME: OnceLock<Result<Started, String>> = OnceLock::new();

/// The process-wide runtime, started on first use.
pub fn shared() -> Result<&'static tokio::runtime::Runtime, RuntimeError> {
    let started = RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(WORKER_THREADS)
            .thread_name("waotp-rt")
            .enable_all()
            .build()
            .map(|rt| Started {
                rt,
                pid: std::process::id(),
            })
            .map_err(|e| e.to_string())
    });
    match started {
        Ok(s) if s.pid == std::process::id() => Ok(&s.rt),
        Ok(_) => Err(RuntimeError::AfterFork),
        Err(e) => Err(RuntimeError::StartFailed(e.clone())),
    }
}

/// Fails in a child forked after the runtime started; a process that has
/// not started it yet is fine. For calls that touch state the runtime's
/// threads may have held locks on (handles made before the fork).
pub fn check_fork() -> Result<(), RuntimeError> {
    match RUNTIME.get() {
        Some(Ok(s)) if s.pid != std::process::id() => Err(RuntimeError::AfterFork),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_runtime_is_started_once_and_runs_futures() {
        let a = shared().unwrap() as *const _;
        let b = shared().unwrap() as *const _;
        assert_eq!(a, b, "one runtime per process");
        assert_eq!(shared().unwrap().block_on(async { 40 + 2 }), 42);
        assert_eq!(check_fork(), Ok(()));
        assert_eq!(RuntimeError::AfterFork.code(), "AFTER_FORK");
    }
}
