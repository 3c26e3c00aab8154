//! Sockets and descriptors: dialing from the listening IP, the
//! descriptor limit, the spare descriptor, and what running out looks like.

use std::fs::File;
use std::io;
use std::net::{IpAddr, SocketAddr};

use mio::net::TcpStream;
use socket2::{Domain, Protocol, Socket, Type};

use crate::oserr;

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
        return TcpStream::connect(addr).map_err(oserr::dial_connect_error);
    };
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_nonblocking(true)?;
    no_port_at_bind(&socket);
    socket
        .bind(&SocketAddr::new(ip, 0).into())
        .map_err(oserr::dial_bind_error)?;
    match socket.connect(&addr.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(oserr::dial_connect_error(e)),
    }
    Ok(TcpStream::from_std(socket.into()))
}

/// Linux's `IP_BIND_ADDRESS_NO_PORT`: a bind before connect picks the IP
/// only, and the port is chosen at connect time by the full 4-tuple, so
/// dials from one IP do not each hold an ephemeral port of their own (a
/// kernel without it ignores the option, and the bind picks a port as
/// before).
fn no_port_at_bind(socket: &Socket) {
    use std::os::fd::AsRawFd;
    let one: libc::c_int = 1;
    // SAFETY: setsockopt reads `one` for the length given; the descriptor
    // is the socket's own.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
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
