//! Compaction on realistic records (the demo's), through the store's
//! public API: merged segments keep every record, and readers never see
//! false damage while it runs. Here and not beside the store because the
//! demo is a floor above it.

use vigie_app::model::LogKind;
use vigie_server::demo::sample_payloads;
use vigie_server::store::{Position, Store, StoreConfig, StoredRecord, TopicKey};

fn key() -> TopicKey {
    TopicKey::new("acme", "api", LogKind::Service)
}

fn all(store: &Store, key: &TopicKey) -> Vec<StoredRecord> {
    store.replay(key, Position::Offset(0), None).flat_map(|batch| batch.records).collect()
}

#[test]
fn compaction_merges_sealed_segments_into_fewer_smaller_files_with_the_same_records() {
    let dir = tempfile::tempdir().unwrap();
    let config = StoreConfig { segment_max_bytes: 20_000, compact_block_bytes: 64 << 10, ..StoreConfig::default() };
    let store = Store::open_with(dir.path(), config.clone()).unwrap();
    let access = sample_payloads(LogKind::Access, 3_000, 5);
    for chunk in access.chunks(20) {
        store.append_batch(&key(), chunk.to_vec()).unwrap();
    }
    let before = store.info(&key()).unwrap().bytes;
    let saved = store.compact().unwrap();
    assert!(saved > 0, "compaction saved nothing");
    assert_eq!(store.info(&key()).unwrap().bytes, before - saved);
    assert_eq!(store.compact().unwrap(), 0, "compacted segments are left alone");

    let check = |store: &Store| {
        let records = all(store, &key());
        assert_eq!(records.len(), access.len());
        for (record, (ts, payload)) in records.iter().zip(&access) {
            assert_eq!((record.ts_ns, &*record.payload), (*ts, payload.as_str()));
        }
        let (_, gaps) = store.scan(&key(), 0, |_, _, _| {});
        assert!(gaps.is_empty());
    };
    check(&store);
    drop(store);
    check(&Store::open_with(dir.path(), config).unwrap());
}

#[test]
fn reads_during_compaction_never_report_false_damage() {
    let dir = tempfile::tempdir().unwrap();
    let config = StoreConfig { segment_max_bytes: 20_000, compact_block_bytes: 64 << 10, ..StoreConfig::default() };
    let store = Store::open_with(dir.path(), config).unwrap();
    let service = sample_payloads(LogKind::Service, 4_000, 6);
    for chunk in service.chunks(10) {
        store.append_batch(&key(), chunk.to_vec()).unwrap();
    }
    let reader = {
        let store = store.clone();
        std::thread::spawn(move || {
            for _ in 0..30 {
                let mut count = 0;
                let (_, gaps) = store.scan(&key(), 0, |_, _, _| count += 1);
                assert!(gaps.is_empty(), "{gaps:?}");
                assert_eq!(count, 4_000);
                let records = all(&store, &key());
                assert_eq!(records.len(), 4_000);
                assert!(records.iter().enumerate().all(|(i, r)| r.offset == i as u64));
            }
        })
    };
    store.compact().unwrap();
    reader.join().unwrap();
}
