//! The columns of frames never change an answer: random records (fields
//! present, absent, null, nested, of either type, lines that are not
//! JSON), random filters, ranges, splits and fields counted; every count
//! and every search answered from a store with columns equals the one from
//! the same store without them, and equals the filter applied by hand to
//! every record.

use proptest::prelude::*;
use serde_json::json;
use vigie_app::model::LogKind;
use vigie_server::query::search::{search, Order, SearchRequest};
use vigie_server::query::stats::{count, Split, Stats, StatsRequest};
use vigie_server::query::CompiledFilter;
use vigie_server::store::{ColumnsAt, Position, Store, StoreConfig, StoredRecord, TopicKey};

fn key() -> TopicKey {
    TopicKey::new("acme", "web", LogKind::Access)
}

/// An access line, or now and then something a producer may have sent.
fn record() -> impl Strategy<Value = String> {
    let status = prop_oneof![
        8 => prop::sample::select(vec![200u16, 201, 304, 404, 500, 503]).prop_map(|s| json!(s)),
        1 => prop::sample::select(vec!["503", "teapot"]).prop_map(|s| json!(s)),
        1 => Just(json!(null)),
        1 => Just(json!(503.0)),
        1 => Just(json!({"code": 500})),
    ];
    let method = prop::sample::select(vec!["GET", "POST", "get", "DELETE"]);
    let path = prop::sample::select(vec!["/", "/api/cart", "/api/cart/items", "/health", "/é"]);
    let country = prop::sample::select(vec!["FR", "US", "DE", "fr"]);
    let level = prop::sample::select(vec!["info", "warn", "error", "LOUD"]);
    (status, method, path, country, level, 0u8..16, 0u32..10_000).prop_map(
        |(status, method, path, country, level, shape, bytes)| {
            let mut line = json!({
                "method": method,
                "path": path,
                "status": status,
                "country": country,
                "level": level,
                "bytes_sent": bytes,
            });
            match shape {
                // A key absent at the top, present among `fields` (a filter looks there too).
                0 => {
                    let country = line.as_object_mut().unwrap().remove("country").unwrap();
                    line["fields"] = json!({"country": country, "status": 418});
                }
                1 => {
                    line.as_object_mut().unwrap().remove("status");
                }
                2 => line["path"] = json!(["/nested"]),
                3 => line["method"] = json!(null),
                4 => return "not json at all 503".to_string(),
                5 => line["level"] = json!(7),
                _ => {}
            }
            line.to_string()
        },
    )
}

fn filter() -> impl Strategy<Value = String> {
    let term = prop::sample::select(vec![
        "status>=500",
        "status:5xx",
        "status:503",
        "status<300",
        "-status:404",
        "status!=200",
        "method:get",
        "-method:POST",
        "path:/api/*",
        "path:*items",
        "country:FR",
        "-country:us",
        "level:error",
        "level>=warn",
        "bytes_sent>5000",
        "missing:x",
        "-missing:x",
        "fields.country:FR",
        "cart",
        "/ap+i/",
    ]);
    prop::collection::vec(term, 0..3).prop_map(|terms| terms.join(" "))
}

fn all(store: &Store) -> Vec<StoredRecord> {
    store.replay(&key(), Position::Offset(0), None).flat_map(|batch| batch.records).collect()
}

type Counted = (u64, Vec<(i64, u64, Vec<(String, u64)>)>, Vec<(String, Vec<(String, u64)>, u64)>);

fn counted(stats: Stats) -> Counted {
    (
        stats.total,
        stats.buckets.into_iter().map(|b| (b.start_ns, b.total, b.counts.into_iter().collect())).collect(),
        stats
            .fields
            .into_iter()
            .map(|field| (field.field, field.top.into_iter().map(|top| (top.value, top.count)).collect(), field.other))
            .collect(),
    )
}

/// Every record a search finds, oldest first, 7 a page.
fn found_in(store: &Store, filter: &CompiledFilter, since_ns: Option<i64>, until_ns: Option<i64>) -> Vec<u64> {
    let (mut found, mut cursor) = (Vec::new(), None);
    loop {
        let request =
            SearchRequest { key: &key(), since_ns, until_ns, filter, order: Order::OldestFirst, cursor, limit: 7 };
        let page = search(store, &request);
        found.extend(page.records.iter().map(|record| record.offset));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return found,
        }
    }
}

/// A store with `batches` appended, one commit each, then compacted, its
/// frames with columns as `columns` says.
fn store_of(dir: &std::path::Path, batches: &[Vec<String>], columns: ColumnsAt) -> Store {
    let config = StoreConfig {
        segment_max_bytes: 1_500,
        compact_block_bytes: 24_000,
        token_index_min_bytes: 400,
        columns,
        ..StoreConfig::default()
    };
    let store = Store::open_with(dir, config).unwrap();
    let mut ts = 0;
    for batch in batches {
        let timed = batch
            .iter()
            .map(|payload| {
                ts += 7;
                (ts, payload.clone())
            })
            .collect();
        store.append_batch(&key(), timed).unwrap();
    }
    store.compact().unwrap();
    store
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn every_count_is_the_same_with_and_without_columns(
        batches in prop::collection::vec(prop::collection::vec(record(), 1..12), 10..60),
        filters in prop::collection::vec(filter(), 4..8),
        range in prop::option::of((0i64..3_000, 0i64..3_000)),
        step in prop::option::of(prop::sample::select(vec![1i64, 50, 700])),
        split in prop::sample::select(vec![Split::Level, Split::StatusClass]),
        by in prop::sample::subsequence(vec!["status", "method", "path", "country", "level", "nothing"], 0..3),
        top in 1usize..6,
        at in prop::sample::select(vec![ColumnsAt::Always, ColumnsAt::Compacted]),
    ) {
        let (with_dir, without_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let with = store_of(with_dir.path(), &batches, at);
        let without = store_of(without_dir.path(), &batches, ColumnsAt::Off);
        let records = all(&with);
        let (since_ns, until_ns) = match range {
            Some((a, b)) => (Some(a.min(b)), Some(a.max(b))),
            None => (None, None),
        };
        for text in &filters {
            let filter = CompiledFilter::parse(text).unwrap();
            let request = StatsRequest {
                key: &key(),
                since_ns,
                until_ns,
                filter: &filter,
                step_ns: step,
                split,
                by: &by,
                discover: 0,
                top,
            };
            let from_columns = counted(count(&with, &request));
            prop_assert_eq!(&from_columns, &counted(count(&without, &request)), "{}", text);
            let by_hand = records
                .iter()
                .filter(|r| since_ns.is_none_or(|s| r.ts_ns >= s) && until_ns.is_none_or(|u| r.ts_ns <= u))
                .filter(|r| filter.matches(r.payload.as_bytes()))
                .map(|r| r.offset)
                .collect::<Vec<u64>>();
            prop_assert_eq!(from_columns.0, by_hand.len() as u64, "{}", text);
            // Searches skip the frames whose columns fail every record.
            let found = found_in(&with, &filter, since_ns, until_ns);
            prop_assert_eq!(&found, &found_in(&without, &filter, since_ns, until_ns), "{}", text);
            prop_assert_eq!(&found, &by_hand, "{}", text);
        }
    }
}

/// Compaction writes the columns that make a count over sealed access
/// lines read fields without the lines; lines not compacted yet are read.
#[test]
fn compacted_access_lines_are_counted_from_their_columns() {
    let dir = tempfile::tempdir().unwrap();
    let lines: Vec<Vec<String>> = (0..40)
        .map(|batch| {
            (0..50)
                .map(|i| {
                    let status = if (batch + i) % 2 == 0 { 200 } else { 503 };
                    let bytes_sent = (batch * 50 + i) * 7_919 % 10_007;
                    json!({"method": "GET", "path": "/", "status": status, "bytes_sent": bytes_sent}).to_string()
                })
                .collect()
        })
        .collect();
    let store = store_of(dir.path(), &lines, ColumnsAt::Compacted);
    let five_hundreds = CompiledFilter::parse("status>=500").unwrap();
    // The first 1,000 lines (7 ns apart), in segments sealed and compacted.
    let request = StatsRequest {
        key: &key(),
        since_ns: None,
        until_ns: Some(7_000),
        filter: &five_hundreds,
        step_ns: Some(1_000),
        split: Split::StatusClass,
        by: &["path"],
        discover: 0,
        top: 3,
    };
    let stats = count(&store, &request);
    assert_eq!(stats.total, 500);
    assert_eq!(stats.fields[0].top[0].count, 500);
    assert!(stats.buckets.iter().all(|bucket| bucket.counts.keys().eq(["5xx"])));
    assert_eq!(stats.buckets.iter().map(|b| b.total).sum::<u64>(), 500);
    assert_eq!(stats.records_read, 0, "every field counted is a column");

    // The newest lines, in the segment being written, are read.
    let everything = count(&store, &StatsRequest { until_ns: None, ..request });
    assert_eq!(everything.total, 1_000);
    assert!((1..1_000).contains(&everything.records_read), "{}", everything.records_read);
    // A field that is no column (nearly every value different): every line of the range is read.
    let by_bytes = count(&store, &StatsRequest { by: &["bytes_sent"], ..request });
    assert_eq!((by_bytes.total, by_bytes.records_read), (500, 1_000));

    // With columns written at append too, the newest lines are counted from them as well.
    let always_dir = tempfile::tempdir().unwrap();
    let always = store_of(always_dir.path(), &lines, ColumnsAt::Always);
    let everything = count(&always, &StatsRequest { until_ns: None, ..request });
    assert_eq!((everything.total, everything.records_read), (1_000, 0));
}
