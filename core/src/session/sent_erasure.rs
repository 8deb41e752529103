//! A delivered message's text leaves the session's store.
//!
//! whatsapp-rust keeps the plaintext of every message it sends in the
//! session's store (`sent_messages`), so that it can encrypt it again when
//! a recipient's device answers with a retry receipt. For an OTP message
//! that plaintext is the code. Once the recipient's phone confirms delivery
//! (it decrypted the message) waotp deletes the row, with SQLite's
//! `secure_delete` on so the page is overwritten. A retry receipt that
//! arrives later (from another of the recipient's devices) finds nothing to
//! resend; for a code the phone already shows, that is the right trade. A
//! message never delivered goes with whatsapp-rust's own sweep
//! ([`SENT_MESSAGE_TTL`]).
//!
//! The deletes are gathered and run together, [`ERASE_AFTER`] after the
//! first receipt of a batch. A delete per receipt took the store's write
//! lock beside every send: whatsapp-rust's own connection then met a busy
//! database and slept (SQLite's busy handler sleeps a millisecond or more),
//! which added about a millisecond to each send (BENCHMARKS.md). Waiting
//! also lets whatsapp-rust finish writing the row, which it does on a
//! background task that a fast delivery receipt can overtake.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::SessionInner;
use crate::model::SessionId;
use crate::platform::store_key::StoreKey;
use crate::platform::sync::lock;

/// How long whatsapp-rust keeps a sent message that was never confirmed
/// delivered (its default is two hours): long enough for a phone that
/// was offline a while to ask for a resend.
pub(crate) const SENT_MESSAGE_TTL: Duration = Duration::from_secs(3600);

/// How long after the first receipt of a batch its rows are deleted.
const ERASE_AFTER: Duration = Duration::from_secs(2);

/// The message ids of a session waiting to be erased.
#[derive(Default)]
pub(crate) struct PendingErasure {
    batch: Arc<Mutex<Batch>>,
}

#[derive(Default)]
struct Batch {
    ids: Vec<String>,
    /// A task that will erase `ids` is already waiting.
    scheduled: bool,
}

impl Batch {
    /// The ids to erase now; the next id starts a new batch.
    fn take(&mut self) -> Vec<String> {
        self.scheduled = false;
        std::mem::take(&mut self.ids)
    }
}

/// Erases the stored plaintext of `message_ids` soon (see the module's
/// documentation), off the runtime's workers.
pub(crate) fn erase_delivered(session: &SessionInner, message_ids: &[String]) {
    if message_ids.is_empty() {
        return;
    }
    let batch = session.pending_erasure.batch.clone();
    let first_of_batch = {
        let mut batch = lock(&batch);
        batch.ids.extend(message_ids.iter().cloned());
        !std::mem::replace(&mut batch.scheduled, true)
    };
    if !first_of_batch {
        return;
    }
    let store = session.store_path.clone();
    let (id, key) = (session.id.clone(), session.context.config.store_key.clone());
    // Holds the batch, not the session: a session closed meanwhile has
    // already erased it (`erase_pending_now`), which leaves this one empty.
    tokio::spawn(async move {
        tokio::time::sleep(ERASE_AFTER).await;
        let ids = lock(&batch).take();
        erase(store, key, ids, &id).await;
    });
}

/// Erases what is pending at once: the session's client has stopped, and
/// the process may be about to end.
pub(crate) async fn erase_pending_now(session: &SessionInner) {
    let ids = lock(&session.pending_erasure.batch).take();
    let key = session.context.config.store_key.clone();
    erase(session.store_path.clone(), key, ids, &session.id).await;
}

async fn erase(store: PathBuf, key: Option<StoreKey>, ids: Vec<String>, session: &SessionId) {
    if ids.is_empty() {
        return;
    }
    let work = move || delete(&store, key.as_ref(), &ids);
    if let Ok(Err(e)) = tokio::task::spawn_blocking(work).await {
        log::warn!("session {session}: erasing delivered messages from its store failed: {e}");
    }
}

/// Deletes the rows of `ids` in one transaction; how many went.
fn delete(store: &Path, key: Option<&StoreKey>, ids: &[String]) -> crate::error::Result<usize> {
    if !store.exists() {
        return Ok(0);
    }
    let mut conn = rusqlite::Connection::open_with_flags(
        store,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    if let Some(key) = key {
        key.apply(&conn)?;
    }
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "secure_delete", "ON")?;
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let mut deleted = 0;
    {
        let mut statement = tx.prepare("DELETE FROM sent_messages WHERE message_id = ?1")?;
        for id in ids {
            deleted += statement.execute([id])?;
        }
    }
    tx.commit()?;
    Ok(deleted)
}
