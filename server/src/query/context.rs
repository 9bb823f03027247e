//! The lines around one line of a topic, unfiltered, read by offset: a
//! line a million deep costs what the newest does.

use crate::store::{Gap, Store, StoredRecord, TopicKey};

/// Up to `before` records before `offset`, the record at `offset`, and up
/// to `after` after it, in offset order, with the gaps among them; `None`
/// when the topic has no record at `offset` yet. Blocks (may read disk).
pub fn around(
    store: &Store,
    key: &TopicKey,
    offset: u64,
    before: u64,
    after: u64,
) -> Option<(Vec<StoredRecord>, Vec<Gap>)> {
    if offset >= store.next_offset(key) {
        return None;
    }
    let last = offset + after;
    let (mut records, mut gaps) = (Vec::new(), Vec::new());
    let mut next = offset.saturating_sub(before);
    // A read may stop at a segment's end: read on until past the last line wanted.
    while next <= last {
        let read = store.read(key, next, (last + 1 - next) as usize);
        gaps.extend(read.gaps);
        records.extend(read.records.into_iter().filter(|record| record.offset <= last));
        if read.next_offset <= next {
            break;
        }
        next = read.next_offset;
    }
    Some((records, gaps))
}
