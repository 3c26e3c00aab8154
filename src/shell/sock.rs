//! Sockets and descriptors: dialing from the listening IP, the
//! descriptor limit, the spare descriptor, and what running out looks like.

use std::fs::File;
use std::io;
use std::net::{IpAddr, SocketAddr};

use mio::net::TcpStream;
use socket2::{Domain, Protocol, Socket, Type};

pub(super) fn fd_limit() -> usize {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } != 0 {
        return 1024;
    }
    usize::try_from(r.rlim_cur).unwrap_or(usize::MAX)
}

/// Starts a non-blocking connect to `addr` from `source` (any port), so the
/// peer sees this node at the IP it listens on: peers name an inbound node
/// by the connection's source IP and pass that name on to others. A source
/// of the other family, or loopback for a remote peer (or the reverse), is
/// left to the kernel, which could not route it.
pub(super) fn connect_from(source: Option<IpAddr>, addr: SocketAddr) -> io::Result<TcpStream> {
    let Some(ip) = source
        .filter(|ip| ip.is_ipv4() == addr.is_ipv4() && ip.is_loopback() == addr.ip().is_loopback())
    else {
        return TcpStream::connect(addr);
    };
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_nonblocking(true)?;
    socket.bind(&SocketAddr::new(ip, 0).into())?;
    match socket.connect(&addr.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    Ok(TcpStream::from_std(socket.into()))
}

pub(super) fn spare_fd() -> Option<File> {
    File::open("/dev/null").ok()
}

pub(super) fn out_of_descriptors(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}
