//! Sealed chunks on disk, so a long history of many series costs the
//! read model an index entry per chunk, not the chunk.
//!
//! `DATA_DIR/series/` holds append-only files per resolution and span of
//! time (`L{level}-{span}-{file}.chunks`: a day of raw points, a week of
//! minute rollups, 30 days of hour rollups), named by when their chunks
//! end and numbered once per start. A chunk is written once, at the end of
//! its file, and read back with one positional read. A file is deleted
//! whole once its span is past its resolution's retention; a chunk still
//! listed in a deleted file reads as gone, like the chunks retention
//! already dropped, even if its span gets a file again (that one has
//! another number, so a stale place never reads another series' bytes).
//!
//! The directory is emptied at each start: the read model is rebuilt from
//! the metric topics, which are the source of truth.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// How much time one file of each resolution covers, in ms.
pub const SPAN_MS: [i64; 3] = [86_400_000, 7 * 86_400_000, 30 * 86_400_000];

/// Where a chunk is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DiskChunk {
    level: u8,
    span: i64,
    /// The number of the file it was written to.
    file: u64,
    offset: u64,
    len: u32,
}

impl DiskChunk {
    pub fn bytes(&self) -> usize {
        self.len as usize
    }
}

/// An open chunk file: its number, the file, its length.
type OpenFile = (u64, Arc<File>, u64);

pub struct ChunkFiles {
    dir: PathBuf,
    /// (level, span) → the file and its length; a std `Mutex` held for a
    /// lookup or an append, never across an `.await`.
    files: Mutex<HashMap<(u8, i64), OpenFile>>,
    next_file: std::sync::atomic::AtomicU64,
}

impl ChunkFiles {
    /// Empties (or makes) `dir` and starts there.
    pub fn open(dir: impl Into<PathBuf>) -> io::Result<ChunkFiles> {
        let dir = dir.into();
        match fs::remove_dir_all(&dir) {
            Err(error) if error.kind() != io::ErrorKind::NotFound => return Err(error),
            _ => {}
        }
        fs::create_dir_all(&dir)?;
        Ok(ChunkFiles { dir, files: Mutex::new(HashMap::new()), next_file: Default::default() })
    }

    /// Appends a chunk of `level` that ends at `last_ts_ms`.
    pub fn write(&self, level: usize, last_ts_ms: i64, bytes: &[u8]) -> io::Result<DiskChunk> {
        let span = last_ts_ms.div_euclid(SPAN_MS[level]);
        let mut files = self.files.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let (number, file, length) = match files.entry((level as u8, span)) {
            std::collections::hash_map::Entry::Occupied(entry) => entry.into_mut(),
            std::collections::hash_map::Entry::Vacant(entry) => {
                let number = self.next_file.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let path = self.path(level as u8, span, number);
                let file = OpenOptions::new().create_new(true).read(true).append(true).open(path)?;
                entry.insert((number, Arc::new(file), 0))
            }
        };
        if let Err(error) = (&**file).write_all(bytes) {
            // Cut what part was written, so the next chunk starts where its place says.
            let _ = file.set_len(*length);
            return Err(error);
        }
        let chunk = DiskChunk { level: level as u8, span, file: *number, offset: *length, len: bytes.len() as u32 };
        *length += bytes.len() as u64;
        Ok(chunk)
    }

    /// A chunk's bytes; `None` when its file was deleted by retention.
    pub fn read(&self, chunk: &DiskChunk) -> io::Result<Option<Vec<u8>>> {
        let file = {
            let files = self.files.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            match files.get(&(chunk.level, chunk.span)) {
                Some((number, file, _)) if *number == chunk.file => file.clone(),
                _ => return Ok(None),
            }
        };
        let mut bytes = vec![0; chunk.len as usize];
        file.read_exact_at(&mut bytes, chunk.offset)?;
        Ok(Some(bytes))
    }

    /// Deletes the files of `level` whose whole span is before `oldest_ms`;
    /// returns how many.
    pub fn forget_before(&self, level: usize, oldest_ms: i64) -> usize {
        let mut files = self.files.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let old: Vec<(u8, i64)> = files
            .keys()
            .filter(|(l, span)| *l as usize == level && (span + 1) * SPAN_MS[level] <= oldest_ms)
            .copied()
            .collect();
        for key in &old {
            if let Some((number, _, _)) = files.remove(key) {
                if let Err(error) = fs::remove_file(self.path(key.0, key.1, number)) {
                    tracing::warn!(%error, "could not delete an old chunk file");
                }
            }
        }
        old.len()
    }

    /// Bytes on disk, over every file.
    pub fn bytes(&self) -> u64 {
        self.files.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).values().map(|(_, _, length)| length).sum()
    }

    fn path(&self, level: u8, span: i64, number: u64) -> PathBuf {
        self.dir.join(format!("L{level}-{span}-{number}.chunks"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_come_back_until_their_span_is_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let files = ChunkFiles::open(dir.path().join("series")).unwrap();
        let day = SPAN_MS[0];
        let a = files.write(0, 10, b"first").unwrap();
        let b = files.write(0, 20, b"second chunk").unwrap();
        let c = files.write(0, day + 5, b"next day").unwrap();
        let hour = files.write(2, 10, b"an hourly one").unwrap();
        assert_eq!(files.read(&b).unwrap().unwrap(), b"second chunk");
        assert_eq!(files.read(&a).unwrap().unwrap(), b"first");
        assert_eq!(files.bytes(), (5 + 12 + 8 + 13) as u64);

        assert_eq!(files.forget_before(0, day + 1), 1, "the first day's file goes");
        assert_eq!(files.read(&a).unwrap(), None);
        assert_eq!(files.read(&c).unwrap().unwrap(), b"next day");
        assert_eq!(files.read(&hour).unwrap().unwrap(), b"an hourly one", "other resolutions keep theirs");

        // The first day gets a file again: the old places still read as gone.
        let again = files.write(0, 30, b"later").unwrap();
        assert_eq!(files.read(&a).unwrap(), None);
        assert_eq!(files.read(&again).unwrap().unwrap(), b"later");

        // A new start empties the directory: the model is rebuilt from the topics.
        drop(files);
        let again = ChunkFiles::open(dir.path().join("series")).unwrap();
        assert_eq!(again.read(&c).unwrap(), None);
        assert_eq!(std::fs::read_dir(dir.path().join("series")).unwrap().count(), 0);
    }
}
