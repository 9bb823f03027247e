//! One page of a log query: a topic, a time range, a filter, an order, and
//! a cursor where the previous page stopped.
//!
//! Oldest-first pages scan forward without copying records (see
//! `Store::scan_range`) and copy only the ones that match. Newest-first
//! pages read backwards in chunks. Either way the cursor is the offset the
//! next page starts from (oldest-first) or stops before (newest-first), so
//! paging never skips or repeats a record, even while new ones arrive.
//! Either way, frames whose token index lacks what the filter requires are
//! not read (see `CompiledFilter::required`); oldest-first, neither are the
//! frames whose columns fail the filter for every record (see
//! `CompiledFilter::rules_out`).

use std::ops::Range;
use std::sync::Arc;

use super::CompiledFilter;
use crate::store::{Gap, GapReason, Store, StoredRecord, TopicKey, READ_CHUNK};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    OldestFirst,
    NewestFirst,
}

pub struct SearchRequest<'a> {
    pub key: &'a TopicKey,
    pub since_ns: Option<i64>,
    pub until_ns: Option<i64>,
    pub filter: &'a CompiledFilter,
    pub order: Order,
    /// Where the previous page stopped.
    pub cursor: Option<u64>,
    pub limit: usize,
}

#[derive(Debug, Default)]
pub struct SearchPage {
    /// In the requested order.
    pub records: Vec<StoredRecord>,
    /// Present when there may be more: pass it back for the next page.
    pub next_cursor: Option<u64>,
    /// Offsets of the range that could not be read, and why.
    pub gaps: Vec<Gap>,
}

/// One page of a search: the records of `request`'s range that match its
/// filter, in its order, from its cursor on.
///
/// Blocks (reads and decompresses segments): call it from a blocking thread.
pub fn search(store: &Store, request: &SearchRequest) -> SearchPage {
    let range = store.offsets_for_times(request.key, request.since_ns, request.until_ns);
    let in_time = |ts_ns: i64| {
        request.since_ns.is_none_or(|since| ts_ns >= since) && request.until_ns.is_none_or(|until| ts_ns <= until)
    };
    match request.order {
        Order::OldestFirst => {
            let start = request.cursor.map_or(range.start, |cursor| cursor.max(range.start));
            oldest_first(store, request, start..range.end, in_time)
        }
        Order::NewestFirst => {
            let end = request.cursor.map_or(range.end, |cursor| cursor.min(range.end));
            newest_first(store, request, range.start..end, in_time)
        }
    }
}

fn oldest_first(
    store: &Store,
    request: &SearchRequest,
    offsets: Range<u64>,
    in_time: impl Fn(i64) -> bool,
) -> SearchPage {
    let mut page = SearchPage::default();
    let first_kept = store.first_offset(request.key);
    if offsets.start < first_kept && request.since_ns.is_none() {
        page.gaps.push(Gap { offsets: offsets.start..first_kept, reason: GapReason::Retention });
    }
    let mut stopped_after = None;
    let required = request.filter.required();
    let filter_columns = request.filter.column_names().filter(|names| !names.is_empty());
    let (_, gaps) = store.scan_frames(request.key, offsets, required, |frame, part| {
        // A frame whose columns fail every record of the part is not decompressed.
        if let (Some(names), Some(section)) = (&filter_columns, frame.columns()) {
            if request.filter.rules_out(section, &frame.meta, part.clone(), names)? {
                return Ok(true);
            }
        }
        let mut going = true;
        frame.for_each(|offset, ts_ns, payload| {
            if going && part.contains(&offset) && in_time(ts_ns) && request.filter.matches(payload) {
                let payload = String::from_utf8_lossy(payload);
                page.records.push(StoredRecord { offset, ts_ns, payload: Arc::from(payload.as_ref()) });
                if page.records.len() >= request.limit {
                    stopped_after = Some(offset);
                    going = false;
                }
            }
        })?;
        Ok(going)
    });
    page.gaps.extend(gaps);
    page.next_cursor = stopped_after.map(|offset| offset + 1);
    page
}

fn newest_first(
    store: &Store,
    request: &SearchRequest,
    offsets: Range<u64>,
    in_time: impl Fn(i64) -> bool,
) -> SearchPage {
    let mut page = SearchPage::default();
    // Windows back from the end, growing: the token indexes read are those
    // of the stretch a page needs, not of the whole range.
    let mut end = offsets.end;
    let mut window = READ_CHUNK as u64 * 4;
    while end > offsets.start {
        let start = end.saturating_sub(window).max(offsets.start);
        let candidates = store.candidate_ranges(request.key, start..end, request.filter.required());
        for range in candidates.into_iter().rev() {
            if let Some(last) = newest_first_in(store, request, range, &in_time, &mut page) {
                page.next_cursor = (last > offsets.start).then_some(last);
                return page;
            }
        }
        end = start;
        window = (window * 2).min(1 << 20);
    }
    page
}

/// Adds the matches of `range`, newest first, to `page`; the offset of the
/// last one added once the page is full.
fn newest_first_in(
    store: &Store,
    request: &SearchRequest,
    offsets: Range<u64>,
    in_time: &impl Fn(i64) -> bool,
    page: &mut SearchPage,
) -> Option<u64> {
    let mut end = offsets.end;
    while end > offsets.start && page.records.len() < request.limit {
        let start = end.saturating_sub(READ_CHUNK as u64).max(offsets.start);
        let mut chunk = Vec::new();
        let mut at = start;
        while at < end {
            let batch = store.read(request.key, at, (end - at) as usize);
            page.gaps.extend(batch.gaps.into_iter().filter(|gap| gap.offsets.start < end));
            chunk.extend(batch.records.into_iter().filter(|r| r.offset < end));
            if batch.next_offset <= at {
                break;
            }
            at = batch.next_offset;
        }
        for record in chunk.into_iter().rev() {
            if in_time(record.ts_ns) && request.filter.matches(record.payload.as_bytes()) {
                let offset = record.offset;
                page.records.push(record);
                if page.records.len() >= request.limit {
                    return Some(offset);
                }
            }
        }
        end = start;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigie_app::model::LogKind;

    fn store_with(lines: &[(i64, &str)]) -> (tempfile::TempDir, Store, TopicKey) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let key = TopicKey::new("acme", "api", LogKind::Service);
        let batch = lines.iter().map(|(ts, message)| (*ts, format!(r#"{{"message":"{message}"}}"#))).collect();
        store.append_batch(&key, batch).unwrap();
        (dir, store, key)
    }

    fn messages(page: &SearchPage) -> Vec<String> {
        page.records
            .iter()
            .map(|r| serde_json::from_str::<serde_json::Value>(&r.payload).unwrap()["message"].as_str().unwrap().into())
            .collect()
    }

    #[test]
    fn pages_in_both_orders_cover_every_match_once() {
        let lines: Vec<(i64, String)> =
            (0..2_500).map(|n| (n as i64, if n % 3 == 0 { format!("hit {n}") } else { format!("miss {n}") })).collect();
        let borrowed: Vec<(i64, &str)> = lines.iter().map(|(t, m)| (*t, m.as_str())).collect();
        let (_dir, store, key) = store_with(&borrowed);
        let filter = CompiledFilter::parse("hit").unwrap();
        for order in [Order::OldestFirst, Order::NewestFirst] {
            let mut cursor = None;
            let mut seen = Vec::new();
            loop {
                let request = SearchRequest {
                    key: &key,
                    since_ns: Some(100),
                    until_ns: Some(2_000),
                    filter: &filter,
                    order,
                    cursor,
                    limit: 70,
                };
                let page = search(&store, &request);
                seen.extend(messages(&page));
                match page.next_cursor {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
            let mut expected: Vec<String> = (100..=2_000).filter(|n| n % 3 == 0).map(|n| format!("hit {n}")).collect();
            if order == Order::NewestFirst {
                expected.reverse();
            }
            assert_eq!(seen, expected, "{order:?}");
        }
    }
}
