//! Sealed chunks on disk, so a long history of many series costs the
//! read model an index entry per chunk, not the chunk.
//!
//! `DATA_DIR/series/` holds append-only files per resolution and span of
//! time (`L{level}-{span}.chunks`: a day of raw points, a week of minute
//! rollups, 30 days of hour rollups), named by when their chunks end. A
//! chunk is written once, at the end of its file, and read back with one
//! positional read. A file is deleted whole once its span is past its
//! resolution's retention; a chunk still listed in a deleted file reads as
//! gone, like the chunks retention already dropped.
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
    offset: u64,
    len: u32,
}

impl DiskChunk {
    pub fn bytes(&self) -> usize {
        self.len as usize
    }
}

/// An open chunk file and its length.
type OpenFile = (Arc<File>, u64);

pub struct ChunkFiles {
    dir: PathBuf,
    /// (level, span) → the file and its length; a std `Mutex` held for a
    /// lookup or an append, never across an `.await`.
    files: Mutex<HashMap<(u8, i64), OpenFile>>,
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
        Ok(ChunkFiles { dir, files: Mutex::new(HashMap::new()) })
    }

    /// Appends a chunk of `level` that ends at `last_ts_ms`.
    pub fn write(&self, level: usize, last_ts_ms: i64, bytes: &[u8]) -> io::Result<DiskChunk> {
        let span = last_ts_ms.div_euclid(SPAN_MS[level]);
        let mut files = self.files.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let (file, length) = match files.entry((level as u8, span)) {
            std::collections::hash_map::Entry::Occupied(entry) => entry.into_mut(),
            std::collections::hash_map::Entry::Vacant(entry) => {
                let file =
                    OpenOptions::new().create(true).read(true).append(true).open(self.path(level as u8, span))?;
                let length = file.metadata()?.len();
                entry.insert((Arc::new(file), length))
            }
        };
        (&**file).write_all(bytes)?;
        let chunk = DiskChunk { level: level as u8, span, offset: *length, len: bytes.len() as u32 };
        *length += bytes.len() as u64;
        Ok(chunk)
    }

    /// A chunk's bytes; `None` when its file was deleted by retention.
    pub fn read(&self, chunk: &DiskChunk) -> io::Result<Option<Vec<u8>>> {
        let file = {
            let files = self.files.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            match files.get(&(chunk.level, chunk.span)) {
                Some((file, _)) => file.clone(),
                None => return Ok(None),
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
            files.remove(key);
            if let Err(error) = fs::remove_file(self.path(key.0, key.1)) {
                tracing::warn!(%error, "could not delete an old chunk file");
            }
        }
        old.len()
    }

    /// Bytes on disk, over every file.
    pub fn bytes(&self) -> u64 {
        self.files.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).values().map(|(_, length)| length).sum()
    }

    fn path(&self, level: u8, span: i64) -> PathBuf {
        self.dir.join(format!("L{level}-{span}.chunks"))
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

        // A new start empties the directory: the model is rebuilt from the topics.
        drop(files);
        let again = ChunkFiles::open(dir.path().join("series")).unwrap();
        assert_eq!(again.read(&c).unwrap(), None);
        assert_eq!(std::fs::read_dir(dir.path().join("series")).unwrap().count(), 0);
    }
}
