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
    let completion = Completion::new(event_loop.unbind(), future.clone().unbind());
    let task = rt.spawn(async move {
        let result = fut.await;
        completion.settle(result);
    });
    future.call_method1(
        "add_done_callback",
        (AbortOnCancel {
            task: task.abort_handle(),
        },),
    )?;
    Ok(future)
}

/// What a runtime task needs to complete its asyncio future: the loop and
/// the future. These are Python objects held by a thread that is not
/// Python's: they are only touched, and dropped, with the GIL, and never
/// once the interpreter is finalizing (then they are leaked: a decref then
/// would be a crash, a leak at exit is nothing).
struct Completion {
    objects: Option<(Py<PyAny>, Py<PyAny>)>,
}

impl Completion {
    fn new(event_loop: Py<PyAny>, future: Py<PyAny>) -> Self {
        Completion {
            objects: Some((event_loop, future)),
        }
    }

    /// Hands `result` to the loop's thread, which sets it on the future.
    fn settle<T: for<'a> IntoPyObject<'a>>(mut self, result: waotp::Result<T>) {
        let objects = &mut self.objects;
        // Not attached (finalizing): the objects stay in `self`, for `drop`.
        let _ = Python::try_attach(|py| {
            let Some((event_loop, future)) = objects.take() else {
                return;
            };
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
            match settle_function(py) {
                // Raises only when the loop is closed: nobody is waiting any more.
                Ok(settle) => {
                    let _ = event_loop
                        .bind(py)
                        .call_method1("call_soon_threadsafe", (settle, future.bind(py), ok, value));
                }
                Err(e) => e.write_unraisable(py, None),
            }
        });
    }
}

impl Drop for Completion {
    /// After `settle`, or for a task aborted (its future cancelled) or
    /// dropped by the runtime's shutdown: the objects go with the GIL, or
    /// are leaked when the interpreter is finalizing.
    fn drop(&mut self) {
        if self.objects.is_none() {
            return;
        }
        let objects = &mut self.objects;
        let _ = Python::try_attach(|_py| drop(objects.take()));
        if let Some(objects) = self.objects.take() {
            std::mem::forget(objects);
        }
    }
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
