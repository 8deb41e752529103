//! Running the async core from Python: a blocking call that releases the
//! GIL and still answers Ctrl-C, or an asyncio future that never blocks the
//! event loop. Every method of the module goes through [`call`].

use std::future::Future;
use std::sync::mpsc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use pyo3::IntoPyObjectExt;
use pyo3::panic::PanicException;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyCFunction;

use crate::errors::{runtime_error, to_py_err};

/// How often a blocking call takes the GIL back to let Python handle
/// signals (Ctrl-C raises `KeyboardInterrupt` within this, plus Python's own delay).
const SIGNAL_CHECK: Duration = Duration::from_millis(100);

/// Runs `fut` to its end: blocking (the GIL released meanwhile) when
/// `awaitable` is false, else as an `asyncio.Future` of the running loop.
pub(crate) fn call<'py, T, F>(
    py: Python<'py>,
    awaitable: bool,
    fut: F,
) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = waotp::Result<T>> + Send + 'static,
    T: for<'a> IntoPyObject<'a> + Send + 'static,
{
    if awaitable {
        asyncio_future(py, fut)
    } else {
        let value = blocking(py, fut)?;
        value.into_bound_py_any(py)
    }
}

/// Runs `fut` with the GIL released until it ends, taking the GIL back
/// every [`SIGNAL_CHECK`] to run Python's signal handlers. A handler that
/// raises (Ctrl-C) ends the call with that exception and aborts the future.
///
/// The future is polled once on the calling thread: most calls (verify,
/// status) finish there, with no thread switch. One that has to wait is
/// handed to the runtime's threads, and this thread waits on a plain
/// channel with an OS timeout. So noticing Ctrl-C depends on nothing the
/// runtime does: not its timers, not the future's own code.
pub(crate) fn blocking<T, F>(py: Python<'_>, fut: F) -> PyResult<T>
where
    F: Future<Output = waotp::Result<T>> + Send + 'static,
    T: Send + 'static,
{
    let rt = waotp::runtime::shared().map_err(|e| runtime_error(py, e))?;
    let mut fut = Box::pin(fut);
    let first = py.detach(|| {
        let _in_runtime = rt.enter();
        fut.as_mut().poll(&mut Context::from_waker(Waker::noop()))
    });
    if let Poll::Ready(result) = first {
        return result.map_err(|e| to_py_err(py, e));
    }
    let (answer, mut answered) = mpsc::sync_channel(1);
    let _abort_if_given_up = AbortOnDrop(rt.spawn(async move {
        // The caller is gone only after Ctrl-C, which aborts this task.
        let _ = answer.send(fut.await);
    }));
    loop {
        // The receiver is not `Sync`: it goes into the GIL-free closure and back.
        let (back, step) = py.detach(move || {
            let step = answered.recv_timeout(SIGNAL_CHECK);
            (answered, step)
        });
        answered = back;
        match step {
            Ok(result) => return result.map_err(|e| to_py_err(py, e)),
            Err(mpsc::RecvTimeoutError::Timeout) => py.check_signals()?,
            // The task panicked: raised as pyo3 raises a panic in a plain call.
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(PanicException::new_err("a waotp call panicked"));
            }
        }
    }
}

/// Aborts a runtime task when the call waiting for it gives up.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// An `asyncio.Future` on the running loop that `fut`, spawned on the
/// runtime, completes through `call_soon_threadsafe`. Cancelling the asyncio
/// future aborts the task.
fn asyncio_future<'py, T, F>(py: Python<'py>, fut: F) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = waotp::Result<T>> + Send + 'static,
    T: for<'a> IntoPyObject<'a> + Send + 'static,
{
    let rt = waotp::runtime::shared().map_err(|e| runtime_error(py, e))?;
    let event_loop = py.import("asyncio")?.call_method0("get_running_loop")?;
    let future = event_loop.call_method0("create_future")?;
    let (loop_ref, future_ref) = (event_loop.unbind(), future.clone().unbind());
    let task = rt.spawn(async move {
        let result = fut.await;
        Python::attach(|py| {
            let (ok, value) = match result {
                Ok(v) => match v.into_bound_py_any(py) {
                    Ok(v) => (true, v),
                    Err(e) => (false, e.into_value(py).into_bound(py).into_any()),
                },
                Err(e) => (
                    false,
                    to_py_err(py, e).into_value(py).into_bound(py).into_any(),
                ),
            };
            let settle = match settle_function(py) {
                Ok(f) => f,
                Err(e) => return e.write_unraisable(py, None),
            };
            // Raises only when the loop is closed: nobody is waiting any more.
            let _ = loop_ref.bind(py).call_method1(
                "call_soon_threadsafe",
                (settle, future_ref.bind(py), ok, value),
            );
        });
    });
    future.call_method1(
        "add_done_callback",
        (AbortOnCancel {
            task: task.abort_handle(),
        },),
    )?;
    Ok(future)
}

/// Sets a future's result or exception, unless it was cancelled meanwhile.
#[pyfunction]
fn settle(future: &Bound<'_, PyAny>, ok: bool, value: &Bound<'_, PyAny>) -> PyResult<()> {
    if future.call_method0("done")?.is_truthy()? {
        return Ok(());
    }
    let method = if ok { "set_result" } else { "set_exception" };
    future.call_method1(method, (value,))?;
    Ok(())
}

fn settle_function(py: Python<'_>) -> PyResult<&Bound<'_, PyCFunction>> {
    static SETTLE: PyOnceLock<Py<PyCFunction>> = PyOnceLock::new();
    Ok(SETTLE
        .get_or_try_init(py, || wrap_pyfunction!(settle, py).map(Bound::unbind))?
        .bind(py))
}

/// The done-callback that aborts the runtime task of a cancelled future.
#[pyclass(frozen, module = "waotp._native")]
struct AbortOnCancel {
    task: tokio::task::AbortHandle,
}

#[pymethods]
impl AbortOnCancel {
    fn __call__(&self, future: &Bound<'_, PyAny>) -> PyResult<()> {
        if future.call_method0("cancelled")?.is_truthy()? {
            self.task.abort();
        }
        Ok(())
    }
}
