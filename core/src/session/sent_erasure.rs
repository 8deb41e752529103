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

use std::path::PathBuf;
use std::time::Duration;

use super::SessionInner;

/// How long whatsapp-rust keeps a sent message that was never confirmed
/// delivered (its default is two hours): long enough for a phone that
/// was offline a while to ask for a resend.
pub(crate) const SENT_MESSAGE_TTL: Duration = Duration::from_secs(3600);

/// whatsapp-rust writes a sent message to the store on a background task;
/// a delivery receipt that overtakes that write deletes nothing, so the
/// delete is tried once more after this long.
const SECOND_TRY_AFTER: Duration = Duration::from_secs(2);

/// Deletes the stored plaintext of `message_ids`, off the runtime's workers.
pub(crate) fn erase_delivered(session: &SessionInner, message_ids: &[String]) {
    if message_ids.is_empty() {
        return;
    }
    let store = session.store_path.clone();
    let ids = message_ids.to_vec();
    let id = session.id.clone();
    tokio::spawn(async move {
        let first = {
            let (store, ids) = (store.clone(), ids.clone());
            tokio::task::spawn_blocking(move || delete(&store, &ids)).await
        };
        let deleted = match first {
            Ok(Ok(n)) => n,
            Ok(Err(e)) => {
                log::warn!("session {id}: erasing delivered messages from its store failed: {e}");
                0
            }
            Err(_) => return,
        };
        if deleted < ids.len() {
            tokio::time::sleep(SECOND_TRY_AFTER).await;
            if let Ok(Err(e)) = tokio::task::spawn_blocking(move || delete(&store, &ids)).await {
                log::warn!("session {id}: erasing delivered messages from its store failed: {e}");
            }
        }
    });
}

/// Deletes the rows of `ids`; how many went.
fn delete(store: &PathBuf, ids: &[String]) -> rusqlite::Result<usize> {
    if !store.exists() {
        return Ok(ids.len());
    }
    let conn = rusqlite::Connection::open_with_flags(
        store,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "secure_delete", "ON")?;
    let mut statement = conn.prepare("DELETE FROM sent_messages WHERE message_id = ?1")?;
    let mut deleted = 0;
    for id in ids {
        deleted += statement.execute([id])?;
    }
    Ok(deleted)
}
