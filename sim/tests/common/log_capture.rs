//! Captures the client's own log lines, so a test can wait for a decision
//! the client makes without sending anything (refusing a retry receipt, for
//! instance). It replaces `init_logs` in the test binary that installs it:
//! a process has one logger. Other records still go to env_logger.

use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use log::{LevelFilter, Log, Metadata, Record};
use tokio::sync::watch;

/// The installed capture: every record whose target starts with `target`,
/// at debug level or above, as its formatted message.
pub struct LogCapture {
    target: &'static str,
    lines: Mutex<Vec<String>>,
    version: watch::Sender<u64>,
    inner: env_logger::Logger,
}

static CAPTURE: OnceLock<LogCapture> = OnceLock::new();

/// Installs the capture for `target` (e.g. `whatsapp_rust::retry`) once per
/// process and returns it; later calls return the same capture and must
/// name the same target.
pub fn install(target: &'static str) -> &'static LogCapture {
    let capture = CAPTURE.get_or_init(|| {
        let inner = env_logger::Builder::from_default_env()
            .is_test(true)
            .build();
        let max = inner.filter().max(LevelFilter::Debug);
        let capture = LogCapture {
            target,
            lines: Mutex::new(Vec::new()),
            version: watch::channel(0).0,
            inner,
        };
        log::set_max_level(max);
        capture
    });
    // Installing the logger needs the 'static reference, so it happens after
    // the OnceLock holds the capture; a second call finds it already set.
    let _ = log::set_logger(capture);
    assert_eq!(
        capture.target, target,
        "one log capture target per test binary"
    );
    capture
}

impl LogCapture {
    /// Captured lines that contain every one of `parts`.
    pub fn lines_with(&self, parts: &[&str]) -> Vec<String> {
        self.lines
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|line| parts.iter().all(|p| line.contains(p)))
            .cloned()
            .collect()
    }

    /// Waits until a captured line contains every one of `parts`; panics
    /// with the lines seen so far when `deadline` passes.
    pub async fn wait_for(&self, parts: &[&str], deadline: Duration) -> String {
        let mut version = self.version.subscribe();
        let wait = async {
            loop {
                if let Some(line) = self.lines_with(parts).into_iter().next() {
                    return line;
                }
                // The sender lives in a static: `changed` never fails.
                let _ = version.changed().await;
            }
        };
        match tokio::time::timeout(deadline, wait).await {
            Ok(line) => line,
            Err(_) => panic!(
                "no {} log line with {parts:?} within {deadline:?}; captured: {:#?}",
                self.target,
                self.lines_with(&[])
            ),
        }
    }
}

impl Log for LogCapture {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.target().starts_with(self.target) || self.inner.enabled(metadata)
    }

    fn log(&self, record: &Record) {
        if record.target().starts_with(self.target) {
            self.lines
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(record.args().to_string());
            self.version.send_modify(|v| *v += 1);
        }
        if self.inner.matches(record) {
            self.inner.log(record);
        }
    }

    fn flush(&self) {
        self.inner.flush();
    }
}
