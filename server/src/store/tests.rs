//! The store's behaviour, driven through its public handle.

use std::fs::OpenOptions;
use std::io::Write;
use std::time::Duration;

use futures::StreamExt;
use proptest::prelude::*;

use super::*;

fn key() -> TopicKey {
    TopicKey::new("acme", "api", LogKind::Service)
}

fn payload(n: u64) -> String {
    format!(r#"{{"message":"line {n}","level":"info"}}"#)
}

fn small_segments() -> StoreConfig {
    StoreConfig { segment_max_bytes: 600, ..StoreConfig::default() }
}

fn all(store: &Store, key: &TopicKey) -> Vec<StoredRecord> {
    store.replay(key, Position::Offset(0), None).flat_map(|batch| batch.records).collect()
}

#[test]
fn append_returns_consecutive_offsets_and_read_returns_them() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.append_batch(&key(), vec![(1, payload(0)), (2, payload(1))]).unwrap(), 0..2);
    assert_eq!(store.append_batch(&key(), vec![(3, payload(2))]).unwrap(), 2..3);
    let read = store.read(&key(), 1, 10);
    assert_eq!(read.records.iter().map(|r| r.offset).collect::<Vec<_>>(), vec![1, 2]);
    assert_eq!(&*read.records[1].payload, payload(2));
    assert_eq!(read.next_offset, 3);
    assert_eq!(store.latest(&key(), 1)[0].offset, 2);
    let info = store.info(&key()).unwrap();
    assert_eq!((info.records, info.first_ts_ns, info.last_ts_ns), (3, Some(1), Some(3)));
}

#[test]
fn records_survive_reopen_across_many_segments() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open_with(dir.path(), small_segments()).unwrap();
        for n in 0..100 {
            store.append_batch(&key(), vec![(n as i64, payload(n))]).unwrap();
        }
        assert!(fs::read_dir(key().dir(dir.path())).unwrap().count() > 5, "several segments");
    }
    let store = Store::open_with(dir.path(), small_segments()).unwrap();
    let records = all(&store, &key());
    assert_eq!(records.len(), 100);
    assert!(records.iter().enumerate().all(|(i, r)| r.offset == i as u64 && *r.payload == payload(i as u64)));
    assert_eq!(store.append_batch(&key(), vec![(100, payload(100))]).unwrap(), 100..101);
}

#[test]
fn a_torn_last_write_is_cut_on_open_and_appends_continue_after_it() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        store.append_batch(&key(), (0..5).map(|n| (n as i64, payload(n))).collect()).unwrap();
    }
    let segment = key().dir(dir.path()).join(segment::Segment::file_name(0));
    let mut file = OpenOptions::new().append(true).open(&segment).unwrap();
    file.write_all(b"VGF1\x10\x00\x00\x00torn").unwrap();
    drop(file);

    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.next_offset(&key()), 5);
    assert_eq!(store.append_batch(&key(), vec![(6, payload(5))]).unwrap(), 5..6);
    let reopened = Store::open(dir.path()).unwrap();
    assert_eq!(all(&reopened, &key()).len(), 6);
}

/// Three frames of ten records, the second one damaged on disk. With an
/// index (written at close) the damage is found when read; without one,
/// when the segment is scanned at open.
fn store_with_a_damaged_frame(dir: &Path, indexed: bool) -> Store {
    let store = Store::open_with(dir, StoreConfig { codec: Codec::Raw, ..StoreConfig::default() }).unwrap();
    for n in 0..3 {
        store.append_batch(&key(), (n * 10..n * 10 + 10).map(|i| (i as i64, payload(i))).collect()).unwrap();
    }
    if indexed {
        store.close().unwrap();
    }
    drop(store);
    let path = key().dir(dir).join(segment::Segment::file_name(0));
    let mut bytes = fs::read(&path).unwrap();
    let second = frame::check(&bytes).unwrap().len as usize;
    bytes[second + 100] ^= 0x20;
    fs::write(&path, bytes).unwrap();
    Store::open(dir).unwrap()
}

#[test]
fn a_damaged_frame_is_reported_as_a_gap_and_the_others_stay_readable() {
    for indexed in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_a_damaged_frame(dir.path(), indexed);
        let batch = store.read(&key(), 0, 100);
        let offsets: Vec<u64> = batch.records.iter().map(|r| r.offset).collect();
        assert_eq!(offsets, (0..10).chain(20..30).collect::<Vec<_>>(), "indexed: {indexed}");
        assert_eq!(batch.gaps, vec![Gap { offsets: 10..20, reason: GapReason::Damaged }], "indexed: {indexed}");
        let replayed: Vec<ReadBatch> = store.replay(&key(), Position::Offset(0), None).collect();
        assert!(replayed.iter().any(|b| !b.gaps.is_empty()), "a replay reports the damage too");
    }
}

#[test]
fn a_damaged_index_is_rebuilt_from_its_segment() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open_with(dir.path(), small_segments()).unwrap();
        for n in 0..40 {
            store.append_batch(&key(), vec![(n as i64, payload(n))]).unwrap();
        }
        store.close().unwrap();
    }
    for entry in fs::read_dir(key().dir(dir.path())).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "idx") {
            let mut bytes = fs::read(&path).unwrap();
            let middle = bytes.len() / 2;
            bytes[middle] ^= 0xff;
            fs::write(&path, bytes).unwrap();
        }
    }
    let store = Store::open_with(dir.path(), small_segments()).unwrap();
    assert_eq!(all(&store, &key()).len(), 40);
}

#[test]
fn replay_by_time_finds_out_of_order_records_and_stops_at_the_end_time() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(dir.path(), small_segments()).unwrap();
    // Times go up by 10 but every fifth record arrives 35 late.
    let times: Vec<i64> = (0..60).map(|n| if n % 5 == 4 { n * 10 - 35 } else { n * 10 }).collect();
    for (n, ts) in times.iter().enumerate() {
        store.append_batch(&key(), vec![(*ts, payload(n as u64))]).unwrap();
    }
    let got: Vec<i64> = store
        .replay(&key(), Position::Time(200), Some(Position::Time(300)))
        .flat_map(|batch| batch.records)
        .map(|r| r.ts_ns)
        .collect();
    let mut expected: Vec<i64> = times.iter().copied().filter(|t| (200..=300).contains(t)).collect();
    let mut sorted_got = got.clone();
    sorted_got.sort();
    expected.sort();
    assert_eq!(sorted_got, expected);
}

#[test]
fn retention_drops_whole_old_segments_and_replay_says_what_it_removed() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(dir.path(), small_segments()).unwrap();
    let second = 1_000_000_000;
    for n in 0..60 {
        store.append_batch(&key(), vec![(n as i64 * second, payload(n))]).unwrap();
    }
    store.set_retention(&key(), Retention { max_age: Some(Duration::from_secs(20)), max_bytes: None }).unwrap();
    let freed = store.enforce_retention(60 * second).unwrap();
    assert!(freed > 0);
    let info = store.info(&key()).unwrap();
    assert!(info.first_offset > 0 && info.first_offset <= 40, "kept everything newer than 20 s: {info:?}");
    let batch = store.read(&key(), 0, 10);
    assert_eq!(batch.gaps, vec![Gap { offsets: 0..info.first_offset, reason: GapReason::Retention }]);
    assert_eq!(batch.records[0].offset, info.first_offset);
    let replay: Vec<ReadBatch> = store.replay(&key(), Position::Time(0), None).collect();
    assert_eq!(replay[0].gaps[0].reason, GapReason::Retention);

    // The setting survives a restart.
    drop(store);
    let store = Store::open_with(dir.path(), small_segments()).unwrap();
    assert_eq!(store.info(&key()).unwrap().retention.max_age, Some(Duration::from_secs(20)));
}

#[test]
fn retention_by_size_keeps_the_newest_segments_under_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(dir.path(), small_segments()).unwrap();
    for n in 0..200 {
        store.append_batch(&key(), vec![(n as i64, payload(n))]).unwrap();
    }
    store.set_retention(&key(), Retention { max_age: None, max_bytes: Some(2_000) }).unwrap();
    store.enforce_retention(0).unwrap();
    let info = store.info(&key()).unwrap();
    assert!(info.bytes <= 2_000 + 700, "{info:?}");
    assert_eq!(info.next_offset, 200);
    assert_eq!(all(&store, &key()).last().unwrap().offset, 199);
}

#[test]
fn many_topics_share_a_bounded_number_of_open_files() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(dir.path(), StoreConfig { max_open_files: 8, ..StoreConfig::default() }).unwrap();
    for n in 0..50 {
        let key = TopicKey::new("acme", &format!("app-{n}"), LogKind::Service);
        store.append_batch(&key, vec![(n, payload(n as u64))]).unwrap();
        assert!(store.open_files() <= 8);
    }
    for n in 0..50 {
        let key = TopicKey::new("acme", &format!("app-{n}"), LogKind::Service);
        assert_eq!(*store.read(&key, 0, 1).records[0].payload, payload(n as u64));
    }
    assert_eq!(store.topics().len(), 50);
}

#[test]
fn concurrent_writers_each_get_their_own_offsets_and_nothing_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let threads: Vec<_> = (0..16)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                (0..50)
                    .map(|n| store.append_batch(&key(), vec![(n, format!("{{\"t\":{t},\"n\":{n}}}"))]).unwrap().start)
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut offsets: Vec<u64> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
    offsets.sort();
    assert_eq!(offsets, (0..800).collect::<Vec<_>>());
    assert_eq!(all(&store, &key()).len(), 800);
}

#[tokio::test]
async fn tail_from_an_offset_sees_history_then_live_records_once_each() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(dir.path(), StoreConfig { recent_bytes: 1_000, ..small_segments() }).unwrap();
    store.append_batch(&key(), (0..3).map(|n| (n as i64, payload(n))).collect()).unwrap();
    let mut tail = Box::pin(store.tail(&key(), Some(1)).unwrap());
    let writer = store.clone();
    let appends = tokio::task::spawn_blocking(move || {
        for n in 3..2_503 {
            writer.append_batch(&key(), vec![(n as i64, payload(n))]).unwrap();
        }
    });
    let mut seen = Vec::new();
    while seen.len() < 2_502 {
        let batch = tokio::time::timeout(Duration::from_secs(20), tail.next()).await.unwrap().unwrap();
        assert!(batch.records.len() <= READ_CHUNK);
        assert!(batch.gaps.is_empty());
        seen.extend(batch.records.into_iter().map(|r| r.offset));
    }
    appends.await.unwrap();
    assert_eq!(seen, (1..2_503).collect::<Vec<u64>>());
}

#[tokio::test]
async fn tail_from_the_end_skips_history() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.append_batch(&key(), vec![(0, payload(0))]).unwrap();
    let mut tail = Box::pin(store.tail(&key(), None).unwrap());
    store.append_batch(&key(), vec![(1, payload(1))]).unwrap();
    let batch = tail.next().await.unwrap();
    assert_eq!(batch.records.iter().map(|r| r.offset).collect::<Vec<_>>(), vec![1]);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Whatever the batches, segment sizes and codec, a replay returns
    /// exactly what was appended, before and after reopening.
    #[test]
    fn replay_equals_what_was_appended(
        batches in prop::collection::vec(prop::collection::vec((0i64..1_000_000, "[ -~]{0,80}"), 1..20), 1..30),
        segment_max_bytes in 200u64..5_000,
        codec in prop::sample::select(vec![Codec::Raw, Codec::Lz4, Codec::Zstd { level: 1 }]),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let config = StoreConfig { segment_max_bytes, codec, recent_bytes: 500, ..StoreConfig::default() };
        let mut expected = Vec::new();
        {
            let store = Store::open_with(dir.path(), config.clone()).unwrap();
            for batch in &batches {
                store.append_batch(&key(), batch.clone()).unwrap();
                expected.extend(batch.iter().cloned());
            }
            let got: Vec<(i64, String)> = all(&store, &key()).into_iter().map(|r| (r.ts_ns, r.payload.to_string())).collect();
            prop_assert_eq!(&got, &expected);
        }
        let store = Store::open_with(dir.path(), config).unwrap();
        let got: Vec<(i64, String)> = all(&store, &key()).into_iter().map(|r| (r.ts_ns, r.payload.to_string())).collect();
        prop_assert_eq!(&got, &expected);
    }

    /// With retention by size applied at some point, a replay returns a
    /// retention gap over exactly the removed offsets, then exactly what was
    /// appended after them, before and after reopening.
    #[test]
    fn replay_after_retention_is_a_gap_then_the_rest_of_what_was_appended(
        batches in prop::collection::vec(prop::collection::vec((0i64..1_000, "[a-z ]{10,60}"), 1..10), 5..40),
        enforce_after in 1usize..40,
        max_bytes in 300u64..3_000,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let config = StoreConfig { segment_max_bytes: 400, ..StoreConfig::default() };
        let store = Store::open_with(dir.path(), config.clone()).unwrap();
        store.set_retention(&key(), Retention { max_age: None, max_bytes: Some(max_bytes) }).unwrap();
        let mut expected = Vec::new();
        for (i, batch) in batches.iter().enumerate() {
            store.append_batch(&key(), batch.clone()).unwrap();
            expected.extend(batch.iter().cloned());
            if i + 1 == enforce_after {
                store.enforce_retention(0).unwrap();
            }
        }
        let check = |store: &Store| -> Result<(), TestCaseError> {
            let first = store.info(&key()).unwrap().first_offset;
            let batches: Vec<ReadBatch> = store.replay(&key(), Position::Offset(0), None).collect();
            let gaps: Vec<Gap> = batches.iter().flat_map(|b| b.gaps.clone()).collect();
            if first > 0 {
                prop_assert_eq!(gaps, vec![Gap { offsets: 0..first, reason: GapReason::Retention }]);
            } else {
                prop_assert!(gaps.is_empty());
            }
            let got: Vec<(i64, String)> =
                batches.into_iter().flat_map(|b| b.records).map(|r| (r.ts_ns, r.payload.to_string())).collect();
            prop_assert_eq!(&got[..], &expected[first as usize..]);
            Ok(())
        };
        check(&store)?;
        drop(store);
        check(&Store::open_with(dir.path(), config).unwrap())?;
    }

    /// No byte sequence in a segment file makes opening or reading panic.
    #[test]
    fn any_bytes_on_disk_open_without_panic(garbage in prop::collection::vec(any::<u8>(), 0..4_000), flips in prop::collection::vec(any::<usize>(), 0..8)) {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            store.append_batch(&key(), (0..20).map(|n| (n as i64, payload(n))).collect()).unwrap();
        }
        let path = key().dir(dir.path()).join(segment::Segment::file_name(0));
        let mut bytes = fs::read(&path).unwrap();
        for flip in flips {
            let at = flip % bytes.len();
            bytes[at] ^= 0x5a;
        }
        bytes.extend_from_slice(&garbage);
        fs::write(&path, bytes).unwrap();
        let store = Store::open(dir.path()).unwrap();
        let _ = all(&store, &key());
        store.append_batch(&key(), vec![(1, payload(1))]).unwrap();
    }
}

#[test]
fn truncated_segment_and_index_files_open_with_every_whole_record_kept() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open_with(dir.path(), small_segments()).unwrap();
        for n in 0..60 {
            store.append_batch(&key(), vec![(n as i64, payload(n))]).unwrap();
        }
        store.close().unwrap();
    }
    let topic_dir = key().dir(dir.path());
    let mut files: Vec<PathBuf> = fs::read_dir(&topic_dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    // Cut every index in half, and the last segment in its middle.
    for path in files.iter().filter(|p| p.extension().is_some_and(|e| e == "idx")) {
        let len = fs::metadata(path).unwrap().len();
        OpenOptions::new().write(true).open(path).unwrap().set_len(len / 2).unwrap();
    }
    let last = files.iter().rev().find(|p| p.extension().is_some_and(|e| e == "seg")).unwrap();
    let len = fs::metadata(last).unwrap().len();
    OpenOptions::new().write(true).open(last).unwrap().set_len(len / 2).unwrap();

    let store = Store::open_with(dir.path(), small_segments()).unwrap();
    let records = all(&store, &key());
    let next = store.next_offset(&key());
    assert!(next < 60 && next > 40, "only the cut end of the last segment is lost: {next}");
    assert!(records.iter().enumerate().all(|(i, r)| r.offset == i as u64 && *r.payload == payload(i as u64)));
    assert_eq!(records.len() as u64, next);
}
