//! The request log: one line per request, `{timestamp} - User: {username} -
//! Path: {path}`, appended to a file and emitted as a structured event.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

use chrono::{DateTime, Utc};

pub struct RequestLog {
    path: PathBuf,
    /// Opened on first use and kept; reopened after a failed write.
    file: Mutex<Option<File>>,
}

pub fn line(at: &DateTime<Utc>, username: Option<&str>, path: &str) -> String {
    format!(
        "{} - User: {} - Path: {}\n",
        crate::time::format(at),
        username.unwrap_or("Anonymous"),
        path
    )
}

impl RequestLog {
    pub fn new(path: PathBuf) -> Self {
        RequestLog {
            path,
            file: Mutex::new(None),
        }
    }

    /// Never fails the request: a log that cannot be written is reported on the
    /// function's own log stream and skipped, and opened again on the next
    /// request. True when the line reached the file.
    pub fn record(&self, username: Option<&str>, path: &str) -> bool {
        let at = crate::time::now();
        let line = line(&at, username, path);
        tracing::info!(
            target: "request_log",
            user = username.unwrap_or("Anonymous"),
            path,
            "{}",
            line.trim_end()
        );
        // One write per line, under a lock within the process and with
        // O_APPEND across processes, so lines never interleave.
        let mut file = self
            .file
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if file.is_none() {
            match OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
            {
                Ok(opened) => *file = Some(opened),
                Err(err) => {
                    tracing::warn!(error = %err, file = %self.path.display(), "request log unavailable");
                    return false;
                }
            }
        }
        match file.as_mut().map(|open| open.write_all(line.as_bytes())) {
            Some(Ok(())) => true,
            Some(Err(err)) => {
                tracing::warn!(error = %err, file = %self.path.display(), "request log write failed");
                *file = None;
                false
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_line_has_the_contract_shape() {
        let at = Utc.with_ymd_and_hms(2026, 11, 23, 21, 33, 20).unwrap();
        assert_eq!(
            line(&at, Some("alice"), "/api/auth/me"),
            "2026-11-23T21:33:20.000000Z - User: alice - Path: /api/auth/me\n"
        );
        assert_eq!(
            line(&at, None, "/api/health"),
            "2026-11-23T21:33:20.000000Z - User: Anonymous - Path: /api/health\n"
        );
    }

    #[test]
    fn an_unwritable_log_is_skipped_and_written_again_once_it_can_be() {
        let dir = std::env::temp_dir().join(format!("log-{}", crate::secret::random_token()));
        let path = dir.join("user_requests.log");
        let log = RequestLog::new(path.clone());
        // The directory does not exist yet: the line is skipped, no panic.
        assert!(!log.record(Some("alice"), "/api/auth/me"));
        assert!(!path.exists());
        std::fs::create_dir_all(&dir).unwrap();
        assert!(log.record(Some("bob"), "/api/health"));
        let written = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(written.lines().count(), 1);
        assert!(
            written.ends_with(" - User: bob - Path: /api/health\n"),
            "{written}"
        );
    }
}
