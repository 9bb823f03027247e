//! `--tail FILE…`: log files followed as `tail -F` does, each on a thread
//! of its own, until the agent is told to stop (SIGTERM, SIGINT).
//!
//! A file is read from its end when the agent starts (what it held before
//! is not sent), then every line added to it. Rotation is followed: when
//! the path names another file (renamed away, a new one created), the old
//! one is read to its end and the new one from its start; a file cut
//! shorter (`copytruncate`) is read again from its start. A file that does
//! not exist yet is waited for.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::command::{stops, Signals};
use super::records::{Assembler, LineCutter, Source, HOLD};
use super::Outbox;
use crate::cli::CliError;
use crate::clock::now_ns;

/// How often a file that said nothing is looked at again.
const POLL: Duration = Duration::from_millis(100);

/// Follows `files` until a stopping signal; the exit code (0).
pub async fn run(files: &[PathBuf], outbox: &Outbox) -> Result<i32, CliError> {
    let mut signals = Signals::new().map_err(CliError::Output)?;
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    for path in files {
        let (path, outbox, stop) = (path.clone(), outbox.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("vigie-agent-tail".into())
            .spawn(move || follow(&path, &outbox, &stop))
            .map_err(CliError::Output)?;
        threads.push(thread);
    }
    while !stops(signals.recv().await) {}
    stop.store(true, Ordering::Relaxed);
    for thread in threads {
        let _ = tokio::task::spawn_blocking(move || thread.join()).await;
    }
    Ok(0)
}

/// The file a path names, open, where reading goes on.
struct Followed {
    file: File,
    inode: u64,
    position: u64,
}

fn open(path: &Path, at_end: bool) -> Option<Followed> {
    let mut file = File::open(path).ok()?;
    let inode = file.metadata().ok()?.ino();
    let position = if at_end { file.seek(SeekFrom::End(0)).ok()? } else { 0 };
    Some(Followed { file, inode, position })
}

/// Follows one file until `stop`. Blocks: run it on its own thread.
pub fn follow(path: &Path, outbox: &Outbox, stop: &AtomicBool) {
    let mut assembler = Assembler::new(Source::File(path.display().to_string()));
    let mut cutter = LineCutter::default();
    let mut followed = open(path, true);
    let mut chunk = vec![0u8; 64 * 1024];
    let mut last_read = Instant::now();
    loop {
        let mut got = false;
        if let Some(current) = &mut followed {
            while let Ok(size) = current.file.read(&mut chunk) {
                if size == 0 {
                    break;
                }
                current.position += size as u64;
                got = true;
                let now = now_ns();
                cutter.feed(&chunk[..size], |line| assembler.push(line, now, |record| outbox.log(record)));
            }
            match std::fs::metadata(path) {
                // Rotated: the old file is read to its end once more (a
                // writer may have added to it since the loop above, before
                // the new file was made), then the new one from its start.
                Ok(meta) if meta.ino() != current.inode => {
                    while let Ok(size) = current.file.read(&mut chunk) {
                        if size == 0 {
                            break;
                        }
                        let now = now_ns();
                        cutter.feed(&chunk[..size], |line| assembler.push(line, now, |record| outbox.log(record)));
                    }
                    cutter.finish(|line| assembler.push(line, now_ns(), |record| outbox.log(record)));
                    followed = open(path, false);
                    continue;
                }
                // Truncated in place.
                Ok(meta) if meta.len() < current.position => {
                    if current.file.seek(SeekFrom::Start(0)).is_ok() {
                        current.position = 0;
                    }
                    continue;
                }
                _ => {}
            }
        } else {
            followed = open(path, false);
            if followed.is_some() {
                continue;
            }
        }
        if got {
            last_read = Instant::now();
        } else if assembler.has_pending() && last_read.elapsed() >= HOLD {
            assembler.flush(|record| outbox.log(record));
        }
        if stop.load(Ordering::Relaxed) {
            cutter.finish(|line| assembler.push(line, now_ns(), |record| outbox.log(record)));
            assembler.flush(|record| outbox.log(record));
            return;
        }
        if !got {
            std::thread::sleep(POLL);
        }
    }
}
