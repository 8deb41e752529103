//! Another process holds the write lock of `otp.db` for 6 s: calls that
//! need it wait (up to SQLite's 5 s busy timeout) on tokio's blocking pool,
//! not on the runtime's workers, so the rest of the gateway keeps going. A
//! send through another session and a timer on the same two-worker runtime
//! answer at once while four OTP sends wait for the lock.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{STEP, link};

/// Holds `BEGIN EXCLUSIVE` on `path` from another process for `secs`.
/// Returns once the lock is held.
fn lock_from_another_process(path: &std::path::Path, secs: u32) -> Child {
    let script = "import sqlite3, sys, time\n\
                  c = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=0)\n\
                  c.execute('BEGIN EXCLUSIVE')\n\
                  print('locked', flush=True)\n\
                  time.sleep(float(sys.argv[2]))\n\
                  c.execute('ROLLBACK')\n";
    let mut child = Command::new("python3")
        .args(["-c", script])
        .arg(path)
        .arg(secs.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs the lock holder");
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "locked", "the other process holds the lock");
    child
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_otp_store_stalls_only_the_calls_that_need_it() {
    let sim = common::simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let gateway = common::gateway(&sim, dir.path()).await;
    link(&gateway, &sim, "waiting", "6281400000001").await;
    let (other, _) = link(&gateway, &sim, "other", "6281400000002").await;
    let to = "6281400000099";
    sim.add_number(to, true);
    // Once before the lock, so the number's lookup is cached.
    other.send_text(to, "warm up", None).await.unwrap();

    let mut holder = lock_from_another_process(&dir.path().join("otp.db"), 6);
    let locked_at = Instant::now();
    let mut stuck = Vec::new();
    for i in 0..4 {
        let gateway = gateway.clone();
        let recipient = format!("62814000001{i:02}");
        sim.add_number(&recipient, true);
        stuck.push(tokio::spawn(async move {
            // Taking a send slot writes (BEGIN IMMEDIATE): it waits for the lock.
            let request = waotp::OtpRequest::new("Toko");
            let result = gateway.send_otp("waiting", &recipient, &request).await;
            (locked_at.elapsed(), result.map(|_| ()))
        }));
    }
    // Let the sends reach the lock (they are running, not queued).
    tokio::task::yield_now().await;

    let timer_asked = Instant::now();
    tokio::time::sleep(Duration::from_millis(10)).await;
    let timer_late = timer_asked.elapsed() - Duration::from_millis(10);
    let send_started = Instant::now();
    tokio::time::timeout(STEP, other.send_text(to, "still here", None))
        .await
        .expect("the send finishes")
        .unwrap();
    let send_took = send_started.elapsed();
    println!("while locked: timer {timer_late:?} late, a send took {send_took:?}");
    assert!(
        locked_at.elapsed() < Duration::from_secs(4),
        "checked while the lock was still held"
    );
    // The lock holds 6 s and a stuck call waits 5 s: anything near a second
    // means the runtime's workers were the ones waiting.
    assert!(
        timer_late < Duration::from_millis(100),
        "a 10 ms timer fired {timer_late:?} late"
    );
    assert!(
        send_took < Duration::from_secs(1),
        "a send took {send_took:?}"
    );

    // Each of them did wait for the lock (else this test proved nothing),
    // and then went through or gave up with a store error.
    for call in stuck {
        let (waited, result) = call.await.unwrap();
        println!("an OTP send waiting for the lock finished after {waited:?}: {result:?}");
        assert!(
            waited >= Duration::from_secs(4),
            "finished after {waited:?}"
        );
        if let Err(e) = result {
            assert_eq!(e.code(), "STORE_ERROR", "{e}");
        }
    }
    holder.wait().unwrap();
    // The lock is gone: the store answers again.
    let e = gateway.cancel_otp("6281400000199").await.unwrap_err();
    assert_eq!(e.code(), "OTP_NOT_FOUND", "{e}");
    gateway.close().await;
}
