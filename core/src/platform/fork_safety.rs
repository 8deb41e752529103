//! Keeps a forked child of a process that used SQLCipher able to exit.
//!
//! SQLCipher registers an `atexit` handler that frees its memory, and
//! freeing takes two mutexes: SQLCipher's own heap mutex and SQLite's
//! memory mutex. `fork()` copies a mutex as it is; one that a thread of
//! ours (a runtime thread working on a store) held at that instant stays
//! locked in the child, whose copy of that thread does not exist, and the
//! child hangs in `exit()` (seen as a Python script whose forked child left
//! with `sys.exit`). Holding both mutexes across `fork()`, in the order
//! SQLCipher takes them, hands parent and child a consistent, unlocked pair.
//!
//! Plain SQLite registers no such handler; without the `sqlcipher` feature
//! this is a no-op.

/// Registers the fork handlers, once per process.
#[cfg(all(unix, feature = "sqlcipher"))]
pub(crate) fn install() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: the handlers only lock and unlock SQLite mutexes, which
        // is allowed in `pthread_atfork` handlers of a multithreaded process
        // (they run in the forking thread, before and after `fork()`).
        let rc = unsafe {
            handlers::pthread_atfork(handlers::PREPARE, handlers::LEAVE, handlers::LEAVE)
        };
        if rc != 0 {
            log::warn!("pthread_atfork failed ({rc}): a forked child may hang at exit");
        }
    });
}

/// Without SQLCipher there is nothing to guard.
#[cfg(not(all(unix, feature = "sqlcipher")))]
pub(crate) fn install() {}

#[cfg(all(unix, feature = "sqlcipher"))]
mod handlers {
    use std::os::raw::c_int;
    use std::sync::atomic::{AtomicPtr, Ordering};

    use rusqlite::ffi;

    type Handler = Option<unsafe extern "C" fn()>;

    unsafe extern "C" {
        pub(super) fn pthread_atfork(prepare: Handler, parent: Handler, child: Handler) -> c_int;
        /// SQLCipher's accessor for its static mutexes (NULL before it
        /// initialised).
        fn sqlcipher_mutex(which: c_int) -> *mut ffi::sqlite3_mutex;
    }

    /// `SQLCIPHER_MUTEX_MEM`: the mutex of SQLCipher's private heap.
    const SQLCIPHER_MUTEX_MEM: c_int = 6;

    pub(super) const PREPARE: Handler = Some(prepare);
    pub(super) const LEAVE: Handler = Some(leave);

    /// The mutexes `prepare` took, for `leave` to release the same ones.
    static HELD: [AtomicPtr<ffi::sqlite3_mutex>; 2] = [
        AtomicPtr::new(std::ptr::null_mut()),
        AtomicPtr::new(std::ptr::null_mut()),
    ];

    unsafe extern "C" fn prepare() {
        // SAFETY: both calls return SQLite's static mutexes (or NULL),
        // which live as long as the process; entering NULL is skipped.
        unsafe {
            let mutexes = [
                sqlcipher_mutex(SQLCIPHER_MUTEX_MEM),
                ffi::sqlite3_mutex_alloc(ffi::SQLITE_MUTEX_STATIC_MEM),
            ];
            for (slot, mutex) in HELD.iter().zip(mutexes) {
                if !mutex.is_null() {
                    ffi::sqlite3_mutex_enter(mutex);
                }
                slot.store(mutex, Ordering::SeqCst);
            }
        }
    }

    unsafe extern "C" fn leave() {
        for slot in HELD.iter().rev() {
            let mutex = slot.swap(std::ptr::null_mut(), Ordering::SeqCst);
            if !mutex.is_null() {
                // SAFETY: `prepare` entered this mutex on this thread.
                unsafe { ffi::sqlite3_mutex_leave(mutex) };
            }
        }
    }
}
