//! Crash test: a child process appends to a store and reports each
//! acknowledged batch; the parent SIGKILLs it at a random moment, reopens
//! the store, and checks that every acknowledged record is there, readable
//! and intact, and that appends continue. Many times over.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use rand::Rng;
use vigie_app::model::LogKind;
use vigie_server::store::{Position, Store, StoreConfig, TopicKey};

const CHILD_DIR: &str = "VIGIE_CRASH_CHILD_DIR";

fn key() -> TopicKey {
    TopicKey::new("crash", "api", LogKind::Service)
}

/// Small segments, so kills land during rolls too.
fn config() -> StoreConfig {
    StoreConfig { segment_max_bytes: 64 << 10, ..StoreConfig::default() }
}

fn payload(offset: u64) -> String {
    format!(r#"{{"message":"record at offset {offset}","pad":"{}"}}"#, "x".repeat((offset % 97) as usize))
}

/// The writer, run in a child process by `acknowledged_records_survive_sigkill`.
#[test]
#[ignore = "run by the crash test in a child process"]
fn crash_child_writer() {
    let dir = std::env::var(CHILD_DIR).expect("run by the crash test");
    let store = Store::open_with(dir, config()).unwrap();
    let mut rng = rand::rng();
    loop {
        let first = store.next_offset(&key());
        let size = rng.random_range(1..200u64);
        let batch = (first..first + size).map(|offset| (offset as i64, payload(offset))).collect();
        let range = store.append_batch(&key(), batch).unwrap();
        assert_eq!(range.start, first);
        println!("acked {}", range.end);
    }
}

#[test]
fn acknowledged_records_survive_sigkill_at_random_moments() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = rand::rng();
    let mut acked_end = 0u64;
    for round in 0..40 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "crash_child_writer", "--ignored", "--nocapture", "--test-threads=1"])
            .env(CHILD_DIR, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (acks_tx, acks) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(end) = line.strip_prefix("acked ").and_then(|n| n.parse::<u64>().ok()) {
                    let _ = acks_tx.send(end);
                }
            }
        });
        // Wait for the first ack so every round writes, then kill at random.
        let first = acks.recv_timeout(Duration::from_secs(30)).expect("the writer acknowledges within 30 s");
        acked_end = acked_end.max(first);
        std::thread::sleep(Duration::from_millis(rng.random_range(0..60)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        reader.join().unwrap();
        acked_end = acks.try_iter().fold(acked_end, u64::max);

        let store = Store::open_with(dir.path(), config()).unwrap();
        let next = store.next_offset(&key());
        assert!(next >= acked_end, "round {round}: {acked_end} acknowledged, only {next} recovered");
        let mut expected = 0u64;
        for batch in store.replay(&key(), Position::Offset(0), None) {
            assert!(batch.gaps.is_empty(), "round {round}: gaps {:?}", batch.gaps);
            for record in batch.records {
                assert_eq!(record.offset, expected, "round {round}: offsets are consecutive");
                assert_eq!(*record.payload, payload(record.offset), "round {round}: record {expected} intact");
                expected += 1;
            }
        }
        assert_eq!(expected, next, "round {round}: every record up to the end is readable");
    }
    assert!(acked_end > 0);
}

/// Runs in a child process: a file-size limit stands in for a full disk.
#[test]
#[ignore = "run by the disk-full test in a child process"]
fn disk_full_child() {
    let dir = std::env::var(CHILD_DIR).expect("run by the disk-full test");
    // SAFETY: plain libc calls on this process's own limits and signals.
    let set_limit = |bytes: u64| unsafe {
        let limit = libc::rlimit { rlim_cur: bytes, rlim_max: libc::RLIM_INFINITY };
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &limit), 0);
    };
    unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
    let store = Store::open_with(&dir, StoreConfig { segment_max_bytes: 1 << 30, ..config() }).unwrap();
    set_limit(256 << 10);
    let mut acked = 0u64;
    let error = loop {
        let first = store.next_offset(&key());
        let batch = (first..first + 50).map(|offset| (offset as i64, payload(offset))).collect();
        match store.append_batch(&key(), batch) {
            Ok(range) => acked = range.end,
            Err(error) => break error,
        }
    };
    let message = error.to_string();
    assert!(message.contains("was not stored") && message.contains("retry"), "{message}");
    assert_eq!(store.next_offset(&key()), acked, "a failed append takes no offsets");

    set_limit(libc::RLIM_INFINITY); // space is back
    let first = store.next_offset(&key());
    let range = store.append_batch(&key(), vec![(first as i64, payload(first))]).unwrap();
    assert_eq!(range, acked..acked + 1);
    drop(store);
    let store = Store::open_with(&dir, config()).unwrap();
    let records: Vec<_> = store.replay(&key(), Position::Offset(0), None).flat_map(|b| b.records).collect();
    assert_eq!(records.len() as u64, acked + 1);
    assert!(records.iter().all(|r| *r.payload == payload(r.offset)));
    println!("disk-full child passed after {acked} records");
}

#[test]
fn a_full_disk_fails_the_append_clearly_and_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "disk_full_child", "--ignored", "--nocapture", "--test-threads=1"])
        .env(CHILD_DIR, dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("disk-full child passed"), "{stdout}");
}
