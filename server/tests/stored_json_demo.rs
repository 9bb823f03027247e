//! The fast path that stores a service line as it came
//! (`ingest::stored_json`) stores the demo's lines byte for byte as the
//! general path does. Here and not beside it because the demo is a floor
//! above ingest.

use vigie_app::model::LogKind;
use vigie_server::demo::sample_payloads;
use vigie_server::ingest::lines::parse_json_line;
use vigie_server::ingest::stored_json::service_payload;

const NOW: i64 = 1_795_525_509_000_000_000;

#[test]
fn the_demos_lines_sent_back_as_ndjson_store_as_the_general_path_stores_them() {
    for (_, payload) in sample_payloads(LogKind::Service, 2_000, 3) {
        let line: serde_json::Value = serde_json::from_str(&payload).unwrap();
        let mut flat = line.as_object().unwrap().clone();
        if let Some(serde_json::Value::Object(fields)) = flat.remove("fields") {
            flat.extend(fields);
        }
        let text = serde_json::Value::Object(flat).to_string();
        let general = parse_json_line(&text, "web-1", NOW, None)
            .ok()
            .map(|(ts, line)| (ts, serde_json::to_string(&line).unwrap()));
        assert_eq!(service_payload(&text, "web-1", NOW, None), general, "{text}");
    }
}
