//! A lock per session id. Creating, restoring and deleting a session
//! exclude one another for that id only: two creates of one id still make
//! one session, while ten sessions created at once open side by side
//! instead of one after another behind a gateway-wide lock.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::OwnedMutexGuard;

use crate::model::SessionId;
use crate::platform::sync;

/// The locks, one per id in use. An entry lives as long as someone holds
/// or waits for its lock; unused entries are dropped as others are taken.
#[derive(Default)]
pub(crate) struct IdLocks {
    locks: Mutex<HashMap<SessionId, Weak<tokio::sync::Mutex<()>>>>,
}

impl IdLocks {
    /// Waits for the lock of `id`; it is held until the guard drops.
    pub(crate) async fn lock(&self, id: &SessionId) -> OwnedMutexGuard<()> {
        let lock = {
            let mut locks = sync::lock(&self.locks);
            locks.retain(|_, lock| lock.strong_count() > 0);
            match locks.get(id).and_then(Weak::upgrade) {
                Some(lock) => lock,
                None => {
                    let lock = Arc::new(tokio::sync::Mutex::new(()));
                    locks.insert(id.clone(), Arc::downgrade(&lock));
                    lock
                }
            }
        };
        lock.lock_owned().await
    }

    /// Ids with a lock held or awaited (for tests).
    #[cfg(test)]
    fn in_use(&self) -> usize {
        let mut locks = sync::lock(&self.locks);
        locks.retain(|_, lock| lock.strong_count() > 0);
        locks.len()
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;

    use super::*;

    fn id(s: &str) -> SessionId {
        SessionId::parse(s).unwrap()
    }

    #[tokio::test]
    async fn one_id_excludes_itself_and_no_other() {
        let locks = IdLocks::default();
        let a = locks.lock(&id("a")).await;
        // Another id is free while `a` is held.
        let b = locks.lock(&id("b")).await;
        // `a` again waits until the first guard drops.
        let a_again = id("a");
        let again = locks.lock(&a_again);
        tokio::pin!(again);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        assert!(
            again.as_mut().poll(&mut cx).is_pending(),
            "a second lock of one id waits"
        );
        drop(a);
        let _a2 = again.await;
        drop(b);
        assert_eq!(locks.in_use(), 1, "b's entry is dropped once unused");
    }
}
