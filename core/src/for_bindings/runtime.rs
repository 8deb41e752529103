//! One process-wide tokio runtime for the blocking bindings (the C ABI,
//! Python), started by the first call that needs it, and stopped by the
//! binding before its host language tears the process down.
//!
//! The core itself never starts a runtime: Rust callers bring their own. A
//! binding called from a language without one needs exactly one per process,
//! and needs to notice a `fork()`: the child inherits the runtime's memory
//! but not its threads, so a call there would wait forever on workers that
//! do not exist. [`shared`] answers that with [`RuntimeError::AfterFork`].
//!
//! Why [`shutdown`] exists: a runtime kept in a static is never dropped, so
//! its threads outlive everything, including an interpreter that finalizes.
//! A task that finishes late (an awaitable's completion, a drop of a host
//! object) would then call into a host runtime that is being torn down.
//! Python crashed so at exit ("PyGILState_Release: thread state must be
//! current"). The binding calls [`shutdown`] from its exit hook instead: the
//! threads end while the host is still whole, and later calls get
//! [`RuntimeError::Stopped`].

use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Duration;

use tokio::runtime::{Handle, Runtime};

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
    /// [`shutdown`] ran: the process is exiting.
    #[error("waotp's runtime was stopped because the process is exiting")]
    Stopped,
}

impl RuntimeError {
    /// The stable code bindings report: `AFTER_FORK`, `CLOSED` (stopped at
    /// exit: every gateway is closed) or `RUNTIME_ERROR`.
    pub fn code(&self) -> &'static str {
        self.kind().as_str()
    }

    /// Its entry in the error code table.
    pub fn kind(&self) -> crate::error::ErrorCode {
        match self {
            RuntimeError::AfterFork => crate::error::ErrorCode::AfterFork,
            RuntimeError::Stopped => crate::error::ErrorCode::Closed,
            RuntimeError::StartFailed(_) => crate::error::ErrorCode::RuntimeError,
        }
    }
}

struct Started {
    handle: Handle,
    /// Taken by [`shutdown`]; `None` from then on.
    rt: Mutex<Option<Runtime>>,
    pid: u32,
}

static RUNTIME: OnceLock<Result<Started, String>> = OnceLock::new();

/// The process-wide runtime, started on first use.
pub fn shared() -> Result<&'static Handle, RuntimeError> {
    let started = RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(WORKER_THREADS)
            .thread_name("waotp-rt")
            .enable_all()
            .build()
            .map(|rt| Started {
                handle: rt.handle().clone(),
                rt: Mutex::new(Some(rt)),
                pid: std::process::id(),
            })
            .map_err(|e| e.to_string())
    });
    match started {
        Ok(s) if s.pid != std::process::id() => Err(RuntimeError::AfterFork),
        Ok(s)
            if s.rt
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .is_none() =>
        {
            Err(RuntimeError::Stopped)
        }
        Ok(s) => Ok(&s.handle),
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

/// Stops the shared runtime, if it started in this process: its tasks are
/// dropped (their futures never run again) and its threads end, waiting up
/// to `wait` for blocking work in progress. Returns once they are gone, or
/// the wait is over. Later calls of [`shared`] get [`RuntimeError::Stopped`].
///
/// For a binding's exit hook, called while the host language can still run
/// code on other threads: a thread of the runtime that waits for the host's
/// lock (the GIL) must get it, so the caller releases such locks around
/// this call. In a child forked after the runtime started, it does nothing:
/// the threads it would wait for do not exist there.
pub fn shutdown(wait: Duration) {
    let Some(Ok(started)) = RUNTIME.get() else {
        return;
    };
    if started.pid != std::process::id() {
        return;
    }
    let rt = started
        .rt
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take();
    if let Some(rt) = rt {
        rt.shutdown_timeout(wait);
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
        assert_eq!(RuntimeError::Stopped.code(), "CLOSED");
    }
}
