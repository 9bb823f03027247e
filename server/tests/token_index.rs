//! The frames' token index never changes an answer: random records, random
//! filters, every search (both orders, paged) and every count answered the
//! same with the index and without it (`CompiledFilter::without_index`),
//! and the same as a filter applied by hand to every record. Over several
//! frames and segments, frames written before the index existed mixed in,
//! after compaction and after a reopen.

use proptest::prelude::*;
use serde_json::json;
use vigie_app::model::LogKind;
use vigie_server::query::search::{search, Order, SearchRequest};
use vigie_server::query::stats::{count, Split, StatsRequest};
use vigie_server::query::CompiledFilter;
use vigie_server::store::{Position, Store, StoreConfig, StoredRecord, TokenIndex, TopicKey};

const WORDS: &[&str] = &[
    "timeout", "Timeout", "upstream", "error", "orders", "payment", "disk", "full", "café", "retry", "GET", "POST",
    "zanzibar", "v1", "a_b", "x-y", "ÉTÉ", "42", "1e3", "true", "alpha", "bravo", "charlie", "delta", "echo",
    "foxtrot", "golf", "hotel", "india", "juliett", "kilo", "lima", "mike", "november", "oscar", "papa", "quebec",
    "romeo", "sierra", "tango", "uniform", "victor", "whiskey", "xray", "yankee", "zulu",
];

fn key() -> TopicKey {
    TopicKey::new("acme", "api", LogKind::Access)
}

fn word() -> impl Strategy<Value = String> {
    prop::sample::select(WORDS).prop_map(str::to_string)
}

/// A JSON line, sometimes written with escapes a serializer may use
/// (`\/`, `\u00e9`), which hide text from the raw bytes.
fn record() -> impl Strategy<Value = String> {
    (
        prop::collection::vec((word(), prop::sample::select(vec!["", " ", "/", ". ", "\n", "\"", "-"])), 1..6),
        prop::sample::select(vec!["trace", "debug", "info", "warn", "error"]),
        prop::sample::select(vec![200u16, 201, 404, 500, 503]),
        (0u32..60, any::<bool>(), prop::sample::select(vec!["/v1/orders", "/health", "/v1/pay/Ments", "/é/x"])),
        (any::<bool>(), any::<bool>(), prop::option::of(word())),
    )
        .prop_map(|(words, level, status, (id, flag, path), (slash, unicode, extra))| {
            // Words glued together too, so a needle may sit inside a longer word.
            let message: String = words.iter().map(|(word, separator)| format!("{word}{separator}")).collect();
            let mut line = json!({
                "message": message,
                "level": level,
                "status": if id % 7 == 0 { json!(status.to_string()) } else { json!(status) },
                "path": format!("{path}/{id}"),
                "ms": id as f64 * 1.5,
                "fields": {"order_id": id, "flag": flag, "route": words[0].0},
            });
            if let Some(extra) = extra {
                line["tags"] = json!([extra, {"k": id as f64 * 100.0}]);
            }
            let mut text = line.to_string();
            if slash {
                text = text.replace('/', "\\/");
            }
            if unicode {
                text = text.replace('é', "\\u00e9").replace('É', "\\u00c9");
            }
            text
        })
}

/// A word, or part of one, in any case.
fn needle() -> impl Strategy<Value = String> {
    (word(), 0usize..4, 0usize..4, any::<bool>()).prop_map(|(word, cut_start, cut_end, upper)| {
        let chars: Vec<char> = word.chars().collect();
        let start = cut_start.min(chars.len().saturating_sub(1));
        let end = chars.len().saturating_sub(cut_end).max(start + 1);
        let part: String = chars[start..end].iter().collect();
        if upper {
            part.to_uppercase()
        } else {
            part
        }
    })
}

/// A filter term: text, phrases, fields with wildcards, numbers, levels,
/// negations and regular expressions.
fn term() -> impl Strategy<Value = String> {
    prop_oneof![
        needle(),
        (word(), prop::sample::select(vec![" ", "/", ". ", "-"]), word())
            .prop_map(|(a, separator, b)| format!("\"{a}{separator}{b}\"")),
        (word(), word()).prop_map(|(a, b)| format!("\"{a} {b} \"")),
        needle().prop_map(|n| format!("message:*{n}*")),
        word().prop_map(|w| format!("route:{w}")),
        word().prop_map(|w| format!("tags:*{w}*")),
        (0u32..60).prop_map(|id| format!("path:/v1/orders/{id}")),
        prop::sample::select(vec![
            "path:/v1/*",
            "path:*/Ments/*",
            "path:/é/*",
            "status:5xx",
            "status>=500",
            "status:503",
            "level:error",
            "level>=warn",
            "flag:true",
            "fields.flag:false",
            "order_id:7",
            "/time(out)?/",
            "message:*",
            "x-y",
            "a_b",
            "1e3",
            "k:4200",
            "tags:*k*",
            "tags:*700.0*",
            "tags:[*",
            "tags:*,{*",
            "path:*/orders/1*",
            "path:/v1/orders/*0",
            "route:x-y",
            "route:42",
            "message:*42*",
            "fields:*true*",
            "fields:*route*",
            "ms:*.0",
            "ms:*.5",
            "ms:1*.5",
            "order_id:*0",
            "tags:*.0}]",
        ])
        .prop_map(str::to_string),
        needle().prop_map(|n| format!("-{n}")),
    ]
}

fn filter() -> impl Strategy<Value = String> {
    prop::collection::vec(term(), 1..4).prop_map(|terms| terms.join(" "))
}

/// Filters for a piece of a stored message, so searches find something:
/// the piece as a phrase, and as a field pattern.
fn slice_filters(
    batches: &[Vec<String>],
    line: &prop::sample::Index,
    start: &prop::sample::Index,
    len: usize,
) -> Vec<String> {
    let lines: Vec<&String> = batches.iter().flatten().collect();
    let record: serde_json::Value = serde_json::from_str(line.get(&lines).as_str()).unwrap();
    let chars: Vec<char> = record["message"].as_str().unwrap().chars().collect();
    let from = start.index(chars.len());
    let piece: String = chars[from..(from + len).min(chars.len())].iter().collect();
    let quoted = piece.replace('\\', "\\\\").replace('"', "\\\"");
    if piece.trim().is_empty() {
        return Vec::new();
    }
    vec![format!("\"{quoted}\""), format!("message:\"*{quoted}*\""), format!("message:\"{quoted}*\"")]
}

fn all(store: &Store) -> Vec<StoredRecord> {
    store.replay(&key(), Position::Offset(0), None).flat_map(|batch| batch.records).collect()
}

/// Every page of a search, in `order`, `limit` records a page.
fn pages(store: &Store, filter: &CompiledFilter, order: Order, limit: usize) -> Vec<(u64, Option<u64>)> {
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let request = SearchRequest { key: &key(), since_ns: None, until_ns: None, filter, order, cursor, limit };
        let page = search(store, &request);
        seen.extend(page.records.iter().map(|r| r.offset).map(|offset| (offset, page.next_cursor)));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return seen,
        }
    }
}

fn counted(store: &Store, filter: &CompiledFilter) -> (u64, Vec<(String, u64)>) {
    let request = StatsRequest {
        key: &key(),
        since_ns: None,
        until_ns: None,
        filter,
        step_ns: Some(10),
        split: Split::StatusClass,
        by: &["route"],
        discover: 0,
        top: 100,
    };
    let stats = count(store, &request);
    (stats.total, stats.fields.into_iter().flat_map(|field| field.top).map(|top| (top.value, top.count)).collect())
}

/// Every query gives the same answer with and without the index, and the
/// same records as the filter applied to each record by hand.
fn same_answers(store: &Store, filters: &[String], limit: usize) -> Result<(), TestCaseError> {
    let records = all(store);
    for text in filters {
        let Ok(indexed) = CompiledFilter::parse(text) else { continue };
        let plain = CompiledFilter::parse(text).unwrap().without_index();
        let by_hand: Vec<u64> =
            records.iter().filter(|r| plain.matches(r.payload.as_bytes())).map(|r| r.offset).collect();
        for order in [Order::OldestFirst, Order::NewestFirst] {
            let with = pages(store, &indexed, order, limit);
            prop_assert_eq!(&with, &pages(store, &plain, order, limit), "{} {:?}", text, order);
            let mut offsets: Vec<u64> = with.iter().map(|(offset, _)| *offset).collect();
            offsets.sort_unstable();
            prop_assert_eq!(&offsets, &by_hand, "{} {:?}", text, order);
        }
        prop_assert_eq!(counted(store, &indexed), counted(store, &plain), "{}", text);
        prop_assert_eq!(counted(store, &indexed).0, by_hand.len() as u64, "{}", text);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn every_query_answers_the_same_with_and_without_the_index(
        batches in prop::collection::vec(prop::collection::vec(record(), 1..6), 4..30),
        filters in prop::collection::vec(filter(), 6..12),
        limit in 1usize..8,
        old_frames in 0usize..6,
        mode in prop::sample::select(vec![TokenIndex::Always, TokenIndex::Compacted]),
        slices in prop::collection::vec((any::<prop::sample::Index>(), any::<prop::sample::Index>(), 1usize..14), 1..8),
    ) {
        let mut filters = filters;
        filters.extend(slices.iter().flat_map(|(line, start, len)| slice_filters(&batches, line, start, *len)));
        let dir = tempfile::tempdir().unwrap();
        let config = StoreConfig {
            segment_max_bytes: 2_500,
            compact_block_bytes: 4_096,
            token_index: mode,
            token_index_min_bytes: 0,
            ..StoreConfig::default()
        };
        // The first batches as a store without the index wrote them.
        {
            let store = Store::open_with(dir.path(), StoreConfig { token_index: TokenIndex::Off, ..config.clone() }).unwrap();
            for batch in &batches[..old_frames.min(batches.len())] {
                store.append_batch(&key(), batch.iter().map(|p| (0, p.clone())).collect()).unwrap();
            }
            store.close().unwrap();
        }
        let store = Store::open_with(dir.path(), config.clone()).unwrap();
        let mut ts = 0;
        for batch in &batches[old_frames.min(batches.len())..] {
            let timed = batch.iter().map(|p| { ts += 1; (ts, p.clone()) }).collect();
            store.append_batch(&key(), timed).unwrap();
        }
        same_answers(&store, &filters, limit)?;
        store.compact().unwrap();
        same_answers(&store, &filters, limit)?;
        drop(store);
        let store = Store::open_with(dir.path(), config).unwrap();
        same_answers(&store, &filters, limit)?;
    }
}

/// The index does skip: a word in one frame of many reads that frame only.
#[test]
fn a_rare_word_reads_only_the_frames_that_hold_it() {
    let dir = tempfile::tempdir().unwrap();
    let store =
        Store::open_with(dir.path(), StoreConfig { token_index_min_bytes: 0, ..StoreConfig::default() }).unwrap();
    for batch in 0..50 {
        let lines = (0..100)
            .map(|n| {
                let word = if batch == 17 && n == 3 { "zanzibar" } else { "ordinary" };
                (batch * 100 + n, json!({"message": format!("request {n} was {word}")}).to_string())
            })
            .collect();
        store.append_batch(&key(), lines).unwrap();
    }
    let filter = CompiledFilter::parse("zanzibar").unwrap();
    let mut found = Vec::new();
    let (read, _) = store.scan_where(&key(), 0..u64::MAX, filter.required(), |offset, _, payload| {
        if filter.matches(payload) {
            found.push(offset);
        }
        true
    });
    let (everything, _) = store.scan(&key(), 0, |_, _, _| {});
    assert_eq!(found, [1_703]);
    assert!(read * 10 < everything, "read {read} of {everything} bytes");
    let candidates = store.candidate_ranges(&key(), 0..5_000, filter.required());
    let candidates: Vec<(u64, u64)> = candidates.iter().map(|range| (range.start, range.end)).collect();
    assert_eq!(candidates, [(1_700, 1_800)]);
}

/// A frame too small to be worth an index (a one-line commit) gets none:
/// it is read, and the answer is the same.
#[test]
fn small_frames_get_no_index_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    for n in 0..20 {
        store.append_batch(&key(), vec![(n, json!({"message": format!("line {n}")}).to_string())]).unwrap();
    }
    let filter = CompiledFilter::parse("zanzibar").unwrap();
    let (read, _) = store.scan_where(&key(), 0..u64::MAX, filter.required(), |_, _, _| true);
    let (everything, _) = store.scan(&key(), 0, |_, _, _| {});
    assert_eq!((read, store.candidate_ranges(&key(), 0..20, filter.required()).len()), (everything, 1));
}

/// Newest first, a search reads token indexes a window at a time back from
/// the end: pages across windows and frames that straddle them still give
/// every match once, as without the index.
#[test]
fn newest_first_pages_across_windows_give_every_match_once() {
    let dir = tempfile::tempdir().unwrap();
    let store =
        Store::open_with(dir.path(), StoreConfig { token_index_min_bytes: 0, ..StoreConfig::default() }).unwrap();
    let lines: Vec<(i64, String)> = (0..30_000)
        .map(|n| {
            let word = if n % 997 == 0 || n % 4_001 == 5 { "zanzibar" } else { "ordinary" };
            (n, json!({"message": format!("request {n} was {word}")}).to_string())
        })
        .collect();
    for batch in lines.chunks(333) {
        store.append_batch(&key(), batch.to_vec()).unwrap();
    }
    let indexed = CompiledFilter::parse("zanzibar").unwrap();
    let plain = CompiledFilter::parse("zanzibar").unwrap().without_index();
    let with = pages(&store, &indexed, Order::NewestFirst, 7);
    assert_eq!(with, pages(&store, &plain, Order::NewestFirst, 7));
    let mut expected: Vec<u64> = (0..30_000u64).filter(|n| n % 997 == 0 || n % 4_001 == 5).collect();
    expected.reverse();
    assert_eq!(with.iter().map(|(offset, _)| *offset).collect::<Vec<_>>(), expected);
}
