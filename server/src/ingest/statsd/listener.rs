//! The statsd sockets and the flush clock.
//!
//! [`bind`] opens one or more UDP sockets on one port (`SO_REUSEPORT`, so
//! the kernel spreads senders over them), each with a [`RECV_BUFFER_BYTES`]
//! receive buffer; [`serve`] reads them with several threads (blocking
//! reads, a datagram at a time: parsing and folding a datagram costs far
//! more than the system call) and ends the flush interval on the clock.
//! One socket read by every thread is the default: the kernel hashes a
//! sender to one `SO_REUSEPORT` socket, so a few busy senders can land on
//! the same one and leave the other threads idle. What the kernel dropped because a buffer was full
//! is read from `/proc/net/udp` ([`socket_drops`]).

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::{RecentRoutes, StatsdIngest};
use crate::clock::now_ns;
use crate::shutdown::ShutdownSignal;

/// The receive buffer asked of the kernel per socket: about a third of a
/// second of datagrams at a million lines a second. Without the
/// `CAP_NET_ADMIN` capability the kernel gives at most `net.core.rmem_max`
/// (see docs/METRICS.md).
pub const RECV_BUFFER_BYTES: usize = 32 * 1024 * 1024;

/// Largest datagram read; longer ones are cut by the kernel and their last
/// line is refused as malformed.
const MAX_DATAGRAM_BYTES: usize = 65_536;

/// How often a reading thread looks whether the server is stopping.
const STOP_POLL: Duration = Duration::from_millis(200);

/// Binds `sockets` UDP sockets to `addr` (port 0: one port chosen for all).
pub fn bind(addr: SocketAddr, sockets: usize) -> std::io::Result<Vec<UdpSocket>> {
    // SO_REUSEPORT would let a second Vigie share the port and silently take
    // half the datagrams: a plain bind first fails if anyone holds it.
    if addr.port() != 0 {
        drop(UdpSocket::bind(addr)?);
    }
    let mut bound: Vec<UdpSocket> = Vec::new();
    let mut addr = addr;
    for _ in 0..sockets.max(1) {
        let domain = if addr.is_ipv4() { socket2::Domain::IPV4 } else { socket2::Domain::IPV6 };
        let socket = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
        socket.set_reuse_port(true)?;
        enlarge_recv_buffer(&socket);
        socket.set_read_timeout(Some(STOP_POLL))?;
        socket.bind(&addr.into())?;
        let socket: UdpSocket = socket.into();
        addr = socket.local_addr()?;
        bound.push(socket);
    }
    if let Some(first) = bound.first() {
        let granted = socket2::SockRef::from(first).recv_buffer_size().unwrap_or(0);
        // Linux reports twice what it grants, the other half being its bookkeeping.
        if granted < RECV_BUFFER_BYTES * 2 {
            tracing::info!(
                granted,
                asked = RECV_BUFFER_BYTES,
                "statsd: the kernel gave a smaller receive buffer (raise net.core.rmem_max)"
            );
        }
    }
    Ok(bound)
}

/// Asks for [`RECV_BUFFER_BYTES`] past `net.core.rmem_max` where the process
/// may (`SO_RCVBUFFORCE`), else up to it.
fn enlarge_recv_buffer(socket: &socket2::Socket) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let bytes = RECV_BUFFER_BYTES as libc::c_int;
        // SAFETY: a valid socket descriptor, and a pointer to a c_int of the size given.
        let forced = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUFFORCE,
                (&bytes as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if forced == 0 {
            return;
        }
    }
    if let Err(error) = socket.set_recv_buffer_size(RECV_BUFFER_BYTES) {
        tracing::warn!(%error, "statsd: could not enlarge the receive buffer; bursts may be dropped");
    }
}

/// Reads the sockets with `readers` threads (at least one a socket) and
/// flushes every `interval` until shutdown. Returns the flush task; the
/// threads end with it.
pub fn serve(
    sockets: Vec<UdpSocket>,
    readers: usize,
    ingest: Arc<StatsdIngest>,
    interval: Duration,
    shutdown: ShutdownSignal,
) -> tokio::task::JoinHandle<()> {
    if let Some(port) = sockets.first().and_then(|socket| socket.local_addr().ok()).map(|addr| addr.port()) {
        ingest.counters.port.store(port as u64, Ordering::Relaxed);
    }
    let stopping = Arc::new(AtomicBool::new(false));
    // Threads take the sockets in turn; several threads reading one socket
    // share its datagrams whoever sent them.
    let readers: Vec<JoinHandle<()>> = (0..readers.max(sockets.len()))
        .filter_map(|index| {
            let socket = match sockets[index % sockets.len()].try_clone() {
                Ok(socket) => socket,
                Err(error) => {
                    tracing::error!(%error, "statsd: a reading thread could not get its socket");
                    return None;
                }
            };
            let (ingest, stopping) = (ingest.clone(), stopping.clone());
            let thread = std::thread::Builder::new()
                .name(format!("statsd-{index}"))
                .spawn(move || read(socket, &ingest, &stopping))
                .expect("a statsd thread starts");
            Some(thread)
        })
        .collect();
    tokio::spawn(async move {
        let stop = shutdown.fired();
        tokio::pin!(stop);
        let interval_ns = interval.as_nanos() as i64;
        loop {
            // Intervals are aligned to the clock, so every series' points are
            // exactly one interval apart (and compress to a bit of time each).
            let now = now_ns();
            let start = now.div_euclid(interval_ns) * interval_ns;
            let wait = Duration::from_nanos((start + interval_ns - now) as u64);
            let stopped = tokio::select! {
                _ = &mut stop => true,
                _ = tokio::time::sleep(wait) => false,
            };
            let flushing = ingest.clone();
            let flushed = tokio::task::spawn_blocking(move || flushing.flush(start, interval)).await;
            match flushed {
                Ok(Ok(_)) => {}
                Ok(Err(error)) => tracing::error!(%error, "statsd: the interval's points were not stored"),
                Err(error) => tracing::error!(%error, "statsd: the flush task failed"),
            }
            if stopped {
                break;
            }
        }
        stopping.store(true, Ordering::Relaxed);
        for reader in readers {
            let _ = tokio::task::spawn_blocking(move || reader.join()).await;
        }
    })
}

fn read(socket: UdpSocket, ingest: &StatsdIngest, stopping: &AtomicBool) {
    let mut datagram = vec![0u8; MAX_DATAGRAM_BYTES];
    let mut recent = RecentRoutes::default();
    while !stopping.load(Ordering::Relaxed) {
        match socket.recv(&mut datagram) {
            Ok(len) => ingest.add_datagram(&datagram[..len], &mut recent),
            Err(error) if matches!(error.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(error) => {
                tracing::debug!(%error, "statsd: receive failed");
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// Datagrams the kernel dropped on the UDP sockets bound to `port` (every
/// address, IPv4 and IPv6), from `/proc/net/udp*`; 0 where not available.
pub fn socket_drops(port: u16) -> u64 {
    let port_hex = format!(":{port:04X}");
    ["/proc/net/udp", "/proc/net/udp6"]
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .flat_map(|table| {
            table
                .lines()
                .skip(1)
                .filter_map(|row| {
                    let columns: Vec<&str> = row.split_whitespace().collect();
                    let local = columns.get(1)?;
                    local.ends_with(&port_hex).then(|| columns.last()?.parse::<u64>().ok()).flatten()
                })
                .collect::<Vec<_>>()
        })
        .sum()
}
