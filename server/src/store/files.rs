//! A bounded cache of open segment files, shared by every topic, so 10,000
//! topics never hold 10,000 descriptors. Readers and the writer use the
//! same handle (positional I/O, no shared cursor). A handle evicted while
//! an operation still holds it closes when that operation ends, so the
//! number of open files stays near the capacity.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

pub struct FileCache {
    capacity: usize,
    /// A std `Mutex`: held only to look up or insert, never across I/O.
    entries: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    files: HashMap<PathBuf, (Arc<File>, u64)>,
    /// Bumped on every use; the entry with the smallest stamp leaves first.
    clock: u64,
}

impl FileCache {
    pub fn new(capacity: usize) -> FileCache {
        FileCache { capacity: capacity.max(1), entries: Mutex::new(Entries::default()) }
    }

    /// The open handle of `path`, opening it (read and write, created when
    /// `create`) if needed.
    pub fn get(&self, path: &Path, create: bool) -> io::Result<Arc<File>> {
        {
            let mut entries = self.entries.lock().expect("file cache lock");
            entries.clock += 1;
            let clock = entries.clock;
            if let Some((file, stamp)) = entries.files.get_mut(path) {
                *stamp = clock;
                return Ok(file.clone());
            }
        }
        let file = Arc::new(OpenOptions::new().read(true).write(true).create(create).truncate(false).open(path)?);
        let mut entries = self.entries.lock().expect("file cache lock");
        if entries.files.len() >= self.capacity {
            let oldest = entries.files.iter().min_by_key(|(_, (_, stamp))| *stamp).map(|(path, _)| path.clone());
            if let Some(oldest) = oldest {
                entries.files.remove(&oldest);
            }
        }
        let clock = entries.clock;
        entries.files.insert(path.to_path_buf(), (file.clone(), clock));
        Ok(file)
    }

    /// Drops the handle of a file about to be deleted or replaced.
    pub fn forget(&self, path: &Path) {
        self.entries.lock().expect("file cache lock").files.remove(path);
    }

    pub fn open_count(&self) -> usize {
        self.entries.lock().expect("file cache lock").files.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_never_holds_more_than_its_capacity() {
        let dir = tempfile::tempdir().unwrap();
        let cache = FileCache::new(3);
        for i in 0..10 {
            cache.get(&dir.path().join(format!("{i}.seg")), true).unwrap();
            assert!(cache.open_count() <= 3);
        }
        // The most recently used stay.
        let before = cache.open_count();
        cache.get(&dir.path().join("9.seg"), false).unwrap();
        assert_eq!(cache.open_count(), before);
    }
}
