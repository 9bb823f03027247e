//! `GET .../logs/stats` over HTTP: its counts equal what paging through the
//! same lines with the Logs API and counting by hand gives.

mod common;

use std::collections::BTreeMap;

use common::{serve, LOGS};
use serde_json::Value;

const MINUTE_S: i64 = 60;

#[tokio::test]
async fn counts_per_bucket_and_top_values_equal_a_count_by_hand() {
    let server = serve().await;
    let now_s = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let start_s = (now_s / MINUTE_S - 10) * MINUTE_S;
    // 300 service lines over 5 minutes: levels and routes in a known pattern.
    let levels = ["info", "warn", "error"];
    let routes = ["/pay", "/cart", "/pay", "/login"];
    let mut by_hand: BTreeMap<(i64, &str), u64> = BTreeMap::new();
    let mut routes_by_hand: BTreeMap<&str, u64> = BTreeMap::new();
    let mut body = String::new();
    for n in 0..300i64 {
        let (level, route) = (levels[(n % 3) as usize], routes[(n % 4) as usize]);
        let ts = start_s + n;
        body.push_str(&format!(
            "{{\"ts\":{ts},\"level\":\"{level}\",\"message\":\"line {n}\",\"route\":\"{route}\"}}\n"
        ));
        *by_hand.entry((ts / MINUTE_S * MINUTE_S, level)).or_default() += 1;
        *routes_by_hand.entry(route).or_default() += 1;
    }
    let (status, reply) = server.post(LOGS, "application/x-ndjson", &body).await;
    assert_eq!(status, 200, "{reply}");

    let since = common::rfc3339(start_s * 1_000);
    let (status, stats) =
        server.get_json(&format!("{LOGS}/stats?since={since}&until=now&step=1m&by=route&top=2")).await;
    assert_eq!(status, 200, "{stats}");
    assert_eq!(stats["total"], 300);
    assert_eq!(stats["split"], "level");
    assert_eq!(stats["step_s"], 60.0);
    let mut counted: BTreeMap<(i64, String), u64> = BTreeMap::new();
    for bucket in stats["buckets"].as_array().unwrap() {
        let start = bucket["start_ns"].as_i64().unwrap() / 1_000_000_000;
        for (level, count) in bucket["counts"].as_object().unwrap() {
            counted.insert((start, level.clone()), count.as_u64().unwrap());
        }
    }
    let by_hand: BTreeMap<(i64, String), u64> =
        by_hand.into_iter().map(|((t, l), c)| ((t, l.to_string()), c)).collect();
    assert_eq!(counted, by_hand);
    assert_eq!(stats["top"][0], serde_json::json!({"value": "/pay", "count": routes_by_hand["/pay"]}));
    assert_eq!(stats["top"].as_array().unwrap().len(), 2);
    assert_eq!(stats["top_other"], 300 - routes_by_hand["/pay"] - stats["top"][1]["count"].as_u64().unwrap());

    // A filter counts what paging through the Logs API with it finds.
    let (_, errors) = server.get_json(&format!("{LOGS}/stats?since={since}&q=level:error")).await;
    let mut paged = 0;
    let mut cursor = String::new();
    loop {
        let (status, page) = server.get_json(&format!("{LOGS}?since={since}&q=level:error&limit=37{cursor}")).await;
        assert_eq!(status, 200);
        paged += page["records"].as_array().unwrap().len();
        match page["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => break,
        }
    }
    assert_eq!(errors["total"], paged as u64);
    assert_eq!(paged, 100);
    server.server.stop().await;
}

#[tokio::test]
async fn access_lines_are_split_by_status_class() {
    let server = serve().await;
    let statuses = [200, 200, 404, 503, 201];
    let body: String = statuses
        .iter()
        .enumerate()
        .map(|(n, status)| {
            format!(
                "{{\"method\":\"GET\",\"path\":\"/p{}\",\"status\":{status},\"bytes_sent\":10,\"duration_ms\":1}}\n",
                n % 2
            )
        })
        .collect();
    let (status, reply) = server.post(&format!("{LOGS}?kind=access"), "application/x-ndjson", &body).await;
    assert_eq!(status, 200, "{reply}");
    let (status, stats) = server.get_json(&format!("{LOGS}/stats?kind=access&since=1h&step=1h&by=status")).await;
    assert_eq!(status, 200, "{stats}");
    assert_eq!(stats["split"], "status_class");
    let mut classes: BTreeMap<String, u64> = BTreeMap::new();
    for bucket in stats["buckets"].as_array().unwrap() {
        for (class, count) in bucket["counts"].as_object().unwrap() {
            *classes.entry(class.clone()).or_default() += count.as_u64().unwrap();
        }
    }
    assert_eq!(classes, BTreeMap::from([("2xx".into(), 3), ("4xx".into(), 1), ("5xx".into(), 1)]));
    assert_eq!(stats["top"][0], serde_json::json!({"value": "200", "count": 2}));
    server.server.stop().await;
}

#[tokio::test]
async fn mistakes_are_400s_that_name_the_parameter() {
    let server = serve().await;
    for (query, says) in [
        ("step=1m", "step needs since"),
        ("since=30d&step=1s", "more than 10000 steps"),
        ("since=1h&step=often", "step"),
        ("top=0", "top must be"),
        ("q=status>=abc", "expected"),
    ] {
        let (status, answer) = server.get_json(&format!("{LOGS}/stats?{query}")).await;
        assert_eq!(status, 400, "{query}: {answer}");
        let error: &Value = &answer["error"];
        assert!(error.as_str().unwrap().contains(says), "{query}: {answer}");
    }
    server.server.stop().await;
}

#[tokio::test]
async fn the_context_of_a_line_is_its_neighbours_unfiltered_in_offset_order() {
    let server = serve().await;
    // 3,000 lines in batches, so the topic spans several writes.
    for batch in 0..3 {
        let body: String = (0..1_000)
            .map(|n| format!("{{\"level\":\"info\",\"message\":\"line {}\"}}\n", batch * 1_000 + n))
            .collect();
        let (status, reply) = server.post(LOGS, "application/x-ndjson", &body).await;
        assert_eq!(status, 200, "{reply}");
    }
    let offsets = |body: &Value| -> Vec<u64> {
        body["records"].as_array().unwrap().iter().map(|record| record["offset"].as_u64().unwrap()).collect()
    };
    let (status, around) = server.get_json(&format!("{LOGS}/context?offset=1500&before=3&after=2")).await;
    assert_eq!(status, 200, "{around}");
    assert_eq!(around["offset"], 1500);
    assert_eq!(offsets(&around), (1497..=1502).collect::<Vec<_>>());
    assert_eq!(around["records"][3]["message"], "line 1500");
    // At the start and the end of the topic: what there is.
    let (_, first) = server.get_json(&format!("{LOGS}/context?offset=1&before=20&after=1")).await;
    assert_eq!(offsets(&first), vec![0, 1, 2]);
    let (_, last) = server.get_json(&format!("{LOGS}/context?offset=2999&before=1")).await;
    assert_eq!(offsets(&last), vec![2998, 2999]);
    let (status, none) = server.get_json(&format!("{LOGS}/context?offset=3000")).await;
    assert_eq!((status, none["error"].as_str()), (404, Some("no line at offset 3000 yet")));
    let (status, wide) = server.get_json(&format!("{LOGS}/context?offset=10&before=501")).await;
    assert_eq!((status, wide["error"].as_str()), (400, Some("before must be at most 500")));
}

#[tokio::test]
async fn the_context_of_a_line_a_million_lines_deep_is_its_own_neighbours() {
    let server = serve().await;
    // A million lines, 10,000 a request (the batch limit), so the topic spans many segments.
    for batch in 0..100 {
        let body: String = (0..10_000).map(|n| format!("{{\"message\":\"line {}\"}}\n", batch * 10_000 + n)).collect();
        let (status, reply) = server.post(LOGS, "application/x-ndjson", &body).await;
        assert_eq!(status, 200, "{reply}");
    }
    for offset in [7_u64, 500_001, 999_990] {
        let (status, around) = server.get_json(&format!("{LOGS}/context?offset={offset}&before=5&after=5")).await;
        assert_eq!(status, 200, "{around}");
        let records = around["records"].as_array().unwrap();
        let expected: Vec<u64> = (offset.saturating_sub(5)..=(offset + 5).min(999_999)).collect();
        let got: Vec<u64> = records.iter().map(|record| record["offset"].as_u64().unwrap()).collect();
        assert_eq!(got, expected);
        for record in records {
            assert_eq!(record["message"], format!("line {}", record["offset"]));
        }
    }
}
