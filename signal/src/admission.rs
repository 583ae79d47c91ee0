//! Which TCP connections the server takes: at most so many per client address (IPv6 per /64),
//! counted from `accept` until the socket closes whatever it became (an HTTP request, a
//! WebSocket, or nothing at all), and at most so many at once still in their HTTP phase.
//!
//! Connections over a limit are closed at once, before a byte is read: a slow client or a
//! flood from one address cannot hold more of the server than its share.

use std::collections::HashMap;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::limits::limit_key;

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The address already holds its share of connections.
    PerAddress,
    /// Too many connections are in their HTTP phase at once.
    Pending,
}

#[derive(Debug, Default)]
struct Counts {
    per_address: HashMap<IpAddr, usize>,
    pending: usize,
}

/// The shared connection table.
#[derive(Debug, Clone)]
pub(crate) struct Admission {
    per_address: usize,
    pending: usize,
    counts: Arc<Mutex<Counts>>,
}

impl Admission {
    pub(crate) fn new(per_address: usize, pending: usize) -> Self {
        Admission {
            per_address: per_address.max(1),
            pending: pending.max(1),
            counts: Arc::new(Mutex::new(Counts::default())),
        }
    }

    /// Takes a place for a new connection from `addr`, or says why there is none.
    pub(crate) fn admit(&self, addr: IpAddr) -> Result<(Ticket, Pending), Refusal> {
        let key = limit_key(addr);
        let mut counts = self.lock();
        if counts.pending >= self.pending {
            return Err(Refusal::Pending);
        }
        let held = counts.per_address.entry(key).or_insert(0);
        if *held >= self.per_address {
            return Err(Refusal::PerAddress);
        }
        *held += 1;
        counts.pending += 1;
        drop(counts);
        let ticket = Ticket { admission: self.clone(), key };
        let pending = Pending { admission: self.clone() };
        Ok((ticket, pending))
    }

    /// Connections held by `addr`'s share now.
    #[cfg(test)]
    pub(crate) fn held(&self, addr: IpAddr) -> usize {
        self.lock().per_address.get(&limit_key(addr)).copied().unwrap_or(0)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        // The counts stay consistent even if a holder panicked mid-way: every change is one step.
        self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One connection's place in its address's share; given back when dropped, which happens with
/// the socket (the ticket travels inside [`Admitted`]).
#[derive(Debug)]
pub(crate) struct Ticket {
    admission: Admission,
    key: IpAddr,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut counts = self.admission.lock();
        if let Some(held) = counts.per_address.get_mut(&self.key) {
            *held = held.saturating_sub(1);
            if *held == 0 {
                counts.per_address.remove(&self.key);
            }
        }
    }
}

/// A place among the connections in their HTTP phase; dropped when the request phase ends
/// (the connection closed or became a WebSocket).
#[derive(Debug)]
pub(crate) struct Pending {
    admission: Admission,
}

impl Drop for Pending {
    fn drop(&mut self) {
        let mut counts = self.admission.lock();
        counts.pending = counts.pending.saturating_sub(1);
    }
}

/// A socket that carries its [`Ticket`], so the address's place is held exactly as long as the
/// socket lives, through hyper and the WebSocket upgrade.
#[derive(Debug)]
pub(crate) struct Admitted<S> {
    io: S,
    _ticket: Ticket,
}

impl<S> Admitted<S> {
    pub(crate) fn new(io: S, ticket: Ticket) -> Self {
        Admitted { io, _ticket: ticket }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Admitted<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Admitted<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const A: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    const B: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));

    #[test]
    fn each_address_gets_its_share_and_gets_it_back() {
        let admission = Admission::new(2, 100);
        let first = admission.admit(A).unwrap();
        let second = admission.admit(A).unwrap();
        assert_eq!(admission.admit(A).unwrap_err(), Refusal::PerAddress);
        // Another address is not affected.
        let _other = admission.admit(B).unwrap();
        // The HTTP phase ending does not give the place back: the socket still lives.
        drop(first.1);
        assert_eq!(admission.admit(A).unwrap_err(), Refusal::PerAddress);
        drop(first.0);
        let _third = admission.admit(A).unwrap();
        drop(second);
        assert_eq!(admission.held(A), 1);
    }

    #[test]
    fn ipv6_shares_are_per_64() {
        let admission = Admission::new(1, 100);
        let _held = admission.admit(IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 0, 0, 0, 1)));
        let same_64 = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 9, 9, 9, 9));
        assert_eq!(admission.admit(same_64).unwrap_err(), Refusal::PerAddress);
        let other_64 = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 2, 0, 0, 0, 1));
        assert!(admission.admit(other_64).is_ok());
    }

    #[test]
    fn the_http_phase_is_capped_globally() {
        let admission = Admission::new(10, 2);
        let (_t1, p1) = admission.admit(A).unwrap();
        let _second = admission.admit(B).unwrap();
        assert_eq!(admission.admit(A).unwrap_err(), Refusal::Pending);
        // A connection that became a WebSocket leaves the HTTP phase.
        drop(p1);
        assert!(admission.admit(A).is_ok());
    }
}
