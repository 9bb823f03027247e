//! The instance's server metrics, read from `/proc` and the cgroup files
//! between two samples:
//!
//! - CPU of the command's process tree (the command and every process
//!   under it), 100 = one core; and of the whole machine (or container);
//! - memory: the tree's resident memory, against the cgroup's limit
//!   (v2 `memory.max`, else v1 `memory.limit_in_bytes`) when one is set,
//!   else the machine's memory;
//! - disk: bytes the tree read from and wrote to storage;
//! - network: bytes in and out of every interface but loopback, in the
//!   agent's network namespace (the container's).
//!
//! Without a command (`--tail`), the tree is the whole machine: its CPU,
//! and its memory in use (total less available).
//!
//! The files are few and their fields plain, so they are read here rather
//! than through a crate; a missing file reads as zero.

use std::collections::HashMap;
use std::time::Instant;

use crate::ingest::instances::InstanceReport;

/// Clock ticks a second of `/proc/*/stat` times (`USER_HZ`; 100 on Linux).
const TICKS_PER_SEC: f64 = 100.0;

/// What one sample saw.
struct Sample {
    at: Instant,
    /// Per process of the tree: (cpu ticks, read bytes, written bytes).
    tree: HashMap<u32, (u64, u64, u64)>,
    /// The machine's (busy, all) ticks over every core.
    host_ticks: (u64, u64),
    net: (u64, u64),
}

/// Samples the tree under `root` (the command's pid), or the machine.
pub struct Sampler {
    pub root: Option<u32>,
    previous: Option<Sample>,
    cores: f64,
}

impl Sampler {
    pub fn new(root: Option<u32>) -> Sampler {
        let stat = read("/proc/stat");
        let cores = stat.lines().filter(|line| line.starts_with("cpu") && !line.starts_with("cpu ")).count().max(1);
        Sampler { root, previous: None, cores: cores as f64 }
    }

    /// A report of what happened since the previous call; `None` on the
    /// first (there is nothing to compare with yet). Blocks (file reads).
    pub fn report(&mut self, instance: &str, ts_ms: i64) -> Option<InstanceReport> {
        let pids = match self.root {
            Some(root) => tree(root, &all_parents()),
            None => Vec::new(),
        };
        let tree = pids
            .iter()
            .map(|pid| {
                let (read_bytes, write_bytes) = io_bytes(&read(&format!("/proc/{pid}/io")));
                (*pid, (cpu_ticks(&read(&format!("/proc/{pid}/stat"))), read_bytes, write_bytes))
            })
            .collect();
        let now = Sample {
            at: Instant::now(),
            tree,
            host_ticks: host_ticks(&read("/proc/stat")),
            net: net_bytes(&read("/proc/net/dev")),
        };
        let before = self.previous.replace(now);
        let (before, now) = (before?, self.previous.as_ref().expect("just set"));
        let secs = now.at.duration_since(before.at).as_secs_f64().max(1e-3);
        // A process born since the last sample counts from zero.
        let delta = |field: fn(&(u64, u64, u64)) -> u64| -> u64 {
            now.tree
                .iter()
                .map(|(pid, values)| field(values).saturating_sub(before.tree.get(pid).map_or(0, field)))
                .sum()
        };
        let (busy, all) = (
            now.host_ticks.0.saturating_sub(before.host_ticks.0),
            now.host_ticks.1.saturating_sub(before.host_ticks.1).max(1),
        );
        let host_cpu_percent = busy as f64 / all as f64 * self.cores * 100.0;
        let meminfo = read("/proc/meminfo");
        let machine_memory = kb_field(&meminfo, "MemTotal:");
        let limit =
            cgroup_memory_limit().filter(|limit| *limit > 0.0 && *limit < machine_memory).unwrap_or(machine_memory);
        let (cpu_percent, memory_used_bytes) = match self.root {
            Some(_) => {
                let rss: f64 =
                    pids.iter().map(|pid| resident_bytes(&read(&format!("/proc/{pid}/statm")), page_size())).sum();
                (delta(|v| v.0) as f64 / TICKS_PER_SEC / secs * 100.0, rss)
            }
            None => (host_cpu_percent, machine_memory - kb_field(&meminfo, "MemAvailable:")),
        };
        Some(InstanceReport {
            instance: instance.to_string(),
            ts_ms: Some(ts_ms),
            cpu_percent,
            memory_used_bytes,
            memory_limit_bytes: limit,
            net_in_bytes: now.net.0.saturating_sub(before.net.0) as f64,
            net_out_bytes: now.net.1.saturating_sub(before.net.1) as f64,
            disk_read_bytes: delta(|v| v.1) as f64,
            disk_write_bytes: delta(|v| v.2) as f64,
            host_cpu_percent: Some(host_cpu_percent),
        })
    }
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn page_size() -> f64 {
    // SAFETY: sysconf reads a constant of the system and has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if size > 0 {
        size as f64
    } else {
        4096.0
    }
}

/// The fields of `/proc/PID/stat` after the command name, which may hold
/// spaces and parentheses.
fn stat_fields(stat: &str) -> Vec<&str> {
    stat.rsplit_once(')').map_or_else(Vec::new, |(_, rest)| rest.split_whitespace().collect())
}

/// User plus system ticks of a process.
fn cpu_ticks(stat: &str) -> u64 {
    let fields = stat_fields(stat);
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    ticks(11) + ticks(12)
}

/// Every process's parent, by pid.
fn all_parents() -> HashMap<u32, u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return HashMap::new() };
    entries
        .filter_map(|entry| {
            let pid: u32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
            let parent = stat_fields(&read(&format!("/proc/{pid}/stat"))).get(1)?.parse().ok()?;
            Some((pid, parent))
        })
        .collect()
}

/// `root` and every process under it.
fn tree(root: u32, parents: &HashMap<u32, u32>) -> Vec<u32> {
    let mut members = vec![root];
    let mut at = 0;
    while at < members.len() {
        let parent = members[at];
        members.extend(parents.iter().filter(|(_, p)| **p == parent).map(|(pid, _)| *pid));
        at += 1;
    }
    members
}

/// The machine's busy and total ticks, from `/proc/stat`'s `cpu` line
/// (idle and iowait are not busy).
fn host_ticks(stat: &str) -> (u64, u64) {
    let Some(line) = stat.lines().find(|line| line.starts_with("cpu ")) else { return (0, 0) };
    let ticks: Vec<u64> = line.split_whitespace().skip(1).filter_map(|n| n.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal (guest times are inside user).
    let all: u64 = ticks.iter().take(8).sum();
    let idle = ticks.get(3).copied().unwrap_or(0) + ticks.get(4).copied().unwrap_or(0);
    (all - idle, all)
}

/// Bytes received and sent on every interface but loopback.
fn net_bytes(table: &str) -> (u64, u64) {
    table
        .lines()
        .skip(2)
        .filter_map(|line| {
            let (name, counters) = line.split_once(':')?;
            if name.trim() == "lo" {
                return None;
            }
            let numbers: Vec<u64> = counters.split_whitespace().filter_map(|n| n.parse().ok()).collect();
            Some((*numbers.first()?, *numbers.get(8)?))
        })
        .fold((0, 0), |(rx, tx), (r, t)| (rx + r, tx + t))
}

/// Bytes a process read from and wrote to storage, from `/proc/PID/io`.
fn io_bytes(io: &str) -> (u64, u64) {
    let field =
        |key: &str| io.lines().find_map(|line| line.strip_prefix(key)).and_then(|n| n.trim().parse().ok()).unwrap_or(0);
    (field("read_bytes:"), field("write_bytes:"))
}

fn resident_bytes(statm: &str, page_size: f64) -> f64 {
    statm.split_whitespace().nth(1).and_then(|pages| pages.parse::<f64>().ok()).map_or(0.0, |pages| pages * page_size)
}

fn kb_field(text: &str, key: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(key))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb * 1024.0)
}

/// The memory limit of the agent's cgroup: the smallest set on its path,
/// cgroup v2 first, then v1's memory controller.
fn cgroup_memory_limit() -> Option<f64> {
    let cgroups = read("/proc/self/cgroup");
    let limit_on_path = |mount: &str, path: &str, file: &str| {
        let mut dir = std::path::PathBuf::from(mount).join(path.trim_start_matches('/'));
        let mut smallest: Option<f64> = None;
        loop {
            if let Some(limit) = parse_limit(&read(&dir.join(file).to_string_lossy())) {
                smallest = Some(smallest.map_or(limit, |s: f64| s.min(limit)));
            }
            if dir.as_os_str() == mount || !dir.pop() {
                return smallest;
            }
        }
    };
    for line in cgroups.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(id), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next()) else { continue };
        if id == "0" && controllers.is_empty() {
            if let Some(limit) = limit_on_path("/sys/fs/cgroup", path, "memory.max") {
                return Some(limit);
            }
        } else if controllers.split(',').any(|c| c == "memory") {
            if let Some(limit) = limit_on_path("/sys/fs/cgroup/memory", path, "memory.limit_in_bytes") {
                return Some(limit);
            }
        }
    }
    None
}

/// A limit file's value: bytes, or `None` for `max` (v2) or v1's "no
/// limit" (a number near 2^63).
fn parse_limit(text: &str) -> Option<f64> {
    let bytes: u64 = text.trim().parse().ok()?;
    (bytes < 1 << 60).then_some(bytes as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_files_are_read_as_the_kernel_writes_them() {
        let stat = "4242 (my (odd) app) S 1 4242 4242 0 -1 4194560 500 0 0 0 250 50 0 0 20 0 1 0 100 1000 200";
        assert_eq!(cpu_ticks(stat), 300);
        assert_eq!(stat_fields(stat)[1], "1", "the parent");
        let proc_stat = "cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 50 0 25 400 25 0 0 0 0 0\n";
        assert_eq!(host_ticks(proc_stat), (150, 1000));
        let dev = "Inter-|   Receive\n face |bytes packets errs drop fifo frame compressed multicast|bytes\n    lo: 999 1 0 0 0 0 0 0 999 1 0 0 0 0 0 0\n  eth0: 1000 10 0 0 0 0 0 0 2000 20 0 0 0 0 0 0\n";
        assert_eq!(net_bytes(dev), (1000, 2000));
        assert_eq!(io_bytes("rchar: 5\nread_bytes: 4096\nwrite_bytes: 8192\n"), (4096, 8192));
        assert_eq!(resident_bytes("1000 25 3 1 0 20 0", 4096.0), 25.0 * 4096.0);
        assert_eq!(parse_limit("max\n"), None);
        assert_eq!(parse_limit("9223372036854771712\n"), None);
        assert_eq!(parse_limit("536870912\n"), Some(536_870_912.0));
        let parents = HashMap::from([(10, 1), (11, 10), (12, 11), (13, 1)]);
        let mut members = tree(10, &parents);
        members.sort_unstable();
        assert_eq!(members, [10, 11, 12]);
    }

    #[test]
    fn a_busy_child_shows_in_the_tree_cpu() {
        let mut child = std::process::Command::new("sh").args(["-c", "while :; do :; done"]).spawn().unwrap();
        let mut sampler = Sampler::new(Some(child.id()));
        assert!(sampler.report("i", 0).is_none(), "nothing to compare with yet");
        let deadline = Instant::now() + std::time::Duration::from_secs(10);
        let report = loop {
            std::thread::sleep(std::time::Duration::from_millis(300));
            let report = sampler.report("i", 0).unwrap();
            if report.cpu_percent > 30.0 || Instant::now() > deadline {
                break report;
            }
        };
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(report.cpu_percent > 30.0 && report.cpu_percent < 250.0, "{report:?}");
        assert!(report.memory_used_bytes > 0.0 && report.memory_limit_bytes >= report.memory_used_bytes, "{report:?}");
        assert!(report.host_cpu_percent.unwrap() >= 0.0);
    }
}
