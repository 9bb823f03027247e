//! The syslog sockets: a TCP listener with one task per connection, and
//! one UDP socket read in bursts.
//!
//! TCP: each read is cut into messages, checked, and appended before the
//! next read, so a sender is never acknowledged by TCP for more than one
//! read buffer that is not stored yet, and an app over its rate is simply
//! read more slowly. UDP: after a datagram wakes the task it takes every
//! datagram already queued (up to [`UDP_BURST`]) into one append; the
//! socket asks the kernel for a [`UDP_RECV_BUFFER_BYTES`] buffer so a burst
//! waits there rather than being dropped.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinHandle;

use super::framing::Framer;
use super::{DropReason, PreparedBatch, SyslogIngest};
use crate::clock::now_ns;
use crate::shutdown::ShutdownSignal;

/// Bytes read from a TCP connection at once.
const TCP_READ_BYTES: usize = 256 * 1024;
/// Most datagrams taken into one append.
pub const UDP_BURST: usize = 2_048;
/// The receive buffer asked of the kernel for the UDP socket (it may give
/// less: see `net.core.rmem_max`).
pub const UDP_RECV_BUFFER_BYTES: usize = 8 * 1024 * 1024;

/// Binds the UDP socket with a large receive buffer.
pub fn bind_udp(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    let domain = if addr.is_ipv4() { socket2::Domain::IPV4 } else { socket2::Domain::IPV6 };
    let socket = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
    if let Err(error) = socket.set_recv_buffer_size(UDP_RECV_BUFFER_BYTES) {
        tracing::warn!(%error, "syslog UDP: could not enlarge the receive buffer; bursts may be dropped");
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

/// Accepts TCP connections until shutdown: at most
/// `IngestLimits::syslog_tcp_connections` at once (one more is closed at
/// once and counted), each closed after `syslog_tcp_idle` without a byte.
pub fn serve_tcp(listener: TcpListener, ingest: Arc<SyslogIngest>, shutdown: ShutdownSignal) -> JoinHandle<()> {
    let open = Arc::new(tokio::sync::Semaphore::new(ingest.ingest.limits.syslog_tcp_connections));
    tokio::spawn(async move {
        let stop = shutdown.clone().fired();
        tokio::pin!(stop);
        loop {
            let (stream, peer) = tokio::select! {
                _ = &mut stop => return,
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        tracing::warn!(%error, "syslog TCP: accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let Ok(permit) = open.clone().try_acquire_owned() else {
                ingest.counters.count_refused_connection(peer);
                drop(stream);
                continue;
            };
            let (ingest, shutdown) = (ingest.clone(), shutdown.clone());
            tokio::spawn(async move {
                connection(stream, peer, ingest, shutdown).await;
                drop(permit);
            });
        }
    })
}

async fn connection(mut stream: TcpStream, peer: SocketAddr, ingest: Arc<SyslogIngest>, shutdown: ShutdownSignal) {
    let stop = shutdown.fired();
    tokio::pin!(stop);
    let mut framer = Framer::default();
    let idle = ingest.ingest.limits.syslog_tcp_idle;
    loop {
        framer.buf.reserve(TCP_READ_BYTES);
        let read = tokio::select! {
            _ = &mut stop => return,
            read = tokio::time::timeout(idle, stream.read_buf(&mut framer.buf)) => match read {
                Ok(read) => read,
                Err(_) => {
                    tracing::debug!(%peer, "syslog TCP: idle for {idle:?}, closed");
                    ingest.counters.count_idle_closed();
                    // What was framed so far is kept; a partial frame is lost, as on any close.
                    Ok(0)
                }
            },
        };
        let eof = match read {
            Ok(0) => true,
            Ok(_) => false,
            Err(error) => {
                tracing::debug!(%peer, %error, "syslog TCP: connection lost");
                true
            }
        };
        // Parsing and routing (a token's first sight asks the catalog's
        // SQLite) run on a blocking thread, the framer's buffer lent to it.
        let (preparing, lent) = (ingest.clone(), std::mem::take(&mut framer));
        let prepared = tokio::task::spawn_blocking(move || {
            let mut lent = lent;
            let mut batch = preparing.batch(now_ns(), peer);
            lent.drain(eof, |frame| batch.add(frame));
            let batch = batch.finish();
            (lent, batch)
        })
        .await;
        let Ok((returned, batch)) = prepared else {
            tracing::error!(%peer, "syslog TCP: preparing a read failed; the connection is closed");
            return;
        };
        framer = returned;
        if batch.lines() > 0 {
            wait_for_rate(&ingest, &batch).await;
            if !append(&ingest, batch).await {
                return; // closing tells the sender that what it sent since is not stored
            }
        }
        if eof {
            return;
        }
    }
}

/// Waits until every app of the batch is within its rate.
async fn wait_for_rate(ingest: &SyslogIngest, batch: &PreparedBatch) {
    for (key, lines) in &batch.topics {
        while let Err(wait) = ingest.ingest.rate.take(&key.org, &key.app, lines.len()) {
            tokio::time::sleep(wait).await;
        }
    }
}

/// Appends off the async threads; false when the store failed (logged).
async fn append(ingest: &Arc<SyslogIngest>, batch: PreparedBatch) -> bool {
    let appending = ingest.clone();
    match tokio::task::spawn_blocking(move || appending.append(batch)).await {
        Ok(Ok(())) => true,
        Ok(Err(error)) => {
            tracing::error!(%error, "syslog: could not store messages");
            false
        }
        Err(error) => {
            tracing::error!(%error, "syslog: the append task failed");
            false
        }
    }
}

/// Reads datagrams until shutdown.
pub fn serve_udp(socket: UdpSocket, ingest: Arc<SyslogIngest>, shutdown: ShutdownSignal) -> JoinHandle<()> {
    let socket = Arc::new(socket);
    tokio::spawn(async move {
        let stop = shutdown.fired();
        tokio::pin!(stop);
        let mut datagram = vec![0u8; 65_536];
        // Which sender of a burst was over its rate is not kept.
        let unknown_peer = SocketAddr::from(([0, 0, 0, 0], 0));
        loop {
            tokio::select! {
                _ = &mut stop => return,
                ready = socket.readable() => if let Err(error) = ready {
                    tracing::error!(%error, "syslog UDP: the socket failed");
                    return;
                },
            }
            // Receiving the burst, parsing and routing (a token's first
            // sight asks the catalog's SQLite) run on a blocking thread.
            let (receiving, preparing, lent) = (socket.clone(), ingest.clone(), std::mem::take(&mut datagram));
            let received = tokio::task::spawn_blocking(move || {
                let mut datagram = lent;
                let mut batch = preparing.batch(now_ns(), unknown_peer);
                for _ in 0..UDP_BURST {
                    match receiving.try_recv_from(&mut datagram) {
                        Ok((len, peer)) => {
                            batch.peer = peer;
                            batch.add(if len >= datagram.len() {
                                Err(DropReason::TooLong)
                            } else {
                                Ok(&datagram[..len])
                            });
                        }
                        Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => break,
                        Err(error) => {
                            tracing::debug!(%error, "syslog UDP: receive failed");
                            break;
                        }
                    }
                }
                let batch = batch.finish();
                (datagram, batch)
            })
            .await;
            let Ok((returned, mut batch)) = received else {
                tracing::error!("syslog UDP: preparing a burst failed; the listener stops");
                return;
            };
            datagram = returned;
            // UDP cannot be slowed down: an app over its rate loses this burst.
            batch.topics.retain(|(key, lines)| {
                let within = ingest.ingest.rate.take(&key.org, &key.app, lines.len()).is_ok();
                if !within {
                    ingest.counters.count_drops(DropReason::RateLimited, lines.len() as u64, unknown_peer);
                }
                within
            });
            if batch.lines() > 0 {
                append(&ingest, batch).await;
            }
        }
    })
}
