//! What an OS error means, in a few lowercase words, for a `rumor:` line on
//! stderr or the reason of a `Disconnected` line.
//!
//! [`describe`] names the error by its kind, without "(os error N)". The
//! same kind can have a different cause depending on the call that failed:
//! `EADDRINUSE` from `bind` on the listening port means that port is taken,
//! but from the `bind` to port 0 before a dial (or `EADDRNOTAVAIL` from
//! `connect`) it means this machine has no local port left to dial from.
//! A dial therefore passes its errors through [`dial_bind_error`] or
//! [`dial_connect_error`], which keep the error's kind and make
//! [`describe`] say [`NO_LOCAL_PORT`] instead of blaming the peer's port.

use std::fmt;
use std::io::{self, ErrorKind};

/// What a dial that found no local port to leave from says.
pub const NO_LOCAL_PORT: &str = "no free local port to dial from";

/// A lowercase description of an error, without "(os error N)".
pub fn describe(e: &io::Error) -> String {
    if e.get_ref().is_some_and(|inner| inner.is::<NoLocalPort>()) {
        return NO_LOCAL_PORT.into();
    }
    match e.kind() {
        ErrorKind::AddrInUse => "address already in use".into(),
        ErrorKind::AddrNotAvailable => "address not available on this machine".into(),
        ErrorKind::PermissionDenied => "permission denied".into(),
        ErrorKind::ConnectionRefused => "connection refused".into(),
        ErrorKind::ConnectionReset => "connection reset".into(),
        ErrorKind::TimedOut => "timed out".into(),
        _ => {
            let s = e.to_string();
            let s = s.split(" (os error").next().unwrap_or(&s);
            let mut c = s.chars();
            c.next()
                .map(|f| f.to_lowercase().chain(c).collect())
                .unwrap_or_default()
        }
    }
}

/// An error of the `bind` to an ephemeral port (port 0) that a dial does
/// before `connect` to leave from a chosen IP. `EADDRINUSE` there means no
/// ephemeral port is free; anything else (`EADDRNOTAVAIL`: the IP is no
/// longer this machine's) is passed on as it is.
pub fn dial_bind_error(e: io::Error) -> io::Error {
    match e.kind() {
        ErrorKind::AddrInUse => no_local_port(e),
        _ => e,
    }
}

/// An error of a dial's `connect` (bound first or not). `EADDRNOTAVAIL`
/// means every local port that could reach this peer is taken (the
/// ephemeral range is used up, or the bound port's 4-tuple is), and
/// `EADDRINUSE` that the local address is; neither is about the peer's
/// port. Anything else (refused, unreachable) is passed on as it is.
pub fn dial_connect_error(e: io::Error) -> io::Error {
    match e.kind() {
        ErrorKind::AddrInUse | ErrorKind::AddrNotAvailable => no_local_port(e),
        _ => e,
    }
}

/// `e` with its kind kept and its words replaced. The OS error itself is
/// not kept: as a source it would link io::Error's Debug formatting into
/// the node (1.5 KB measured) for nothing that is ever printed.
fn no_local_port(e: io::Error) -> io::Error {
    io::Error::new(e.kind(), NoLocalPort)
}

/// The error of a dial that had no local port.
#[derive(Debug)]
struct NoLocalPort;

impl fmt::Display for NoLocalPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(NO_LOCAL_PORT)
    }
}

impl std::error::Error for NoLocalPort {}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(errno: i32) -> io::Error {
        io::Error::from_raw_os_error(errno)
    }

    #[test]
    fn each_kind_has_its_words() {
        let cases = [
            (libc::EADDRINUSE, "address already in use"),
            (libc::EADDRNOTAVAIL, "address not available on this machine"),
            (libc::EACCES, "permission denied"),
            (libc::EPERM, "permission denied"),
            (libc::ECONNREFUSED, "connection refused"),
            (libc::ECONNRESET, "connection reset"),
            (libc::ETIMEDOUT, "timed out"),
            // Any other: the OS's words, lowercased, without "(os error N)".
            (libc::EHOSTUNREACH, "no route to host"),
            (libc::ENETUNREACH, "network is unreachable"),
            (libc::EMFILE, "too many open files"),
            (libc::EPIPE, "broken pipe"),
        ];
        for (errno, words) in cases {
            assert_eq!(describe(&os(errno)), words, "errno {errno}");
        }
    }

    #[test]
    fn errors_that_are_not_the_os_s_are_lowercased_too() {
        assert_eq!(describe(&ErrorKind::WriteZero.into()), "write zero");
        let e = io::Error::other("Stdin went away");
        assert_eq!(describe(&e), "stdin went away");
        assert_eq!(describe(&io::Error::other("")), "");
    }

    #[test]
    fn a_dial_out_of_local_ports_says_so_and_never_blames_the_peer_s_port() {
        for e in [
            dial_bind_error(os(libc::EADDRINUSE)),
            dial_connect_error(os(libc::EADDRNOTAVAIL)),
            dial_connect_error(os(libc::EADDRINUSE)),
        ] {
            assert_eq!(describe(&e), NO_LOCAL_PORT);
            // Its kind stays, for whoever looks further.
            assert!(matches!(
                e.kind(),
                ErrorKind::AddrInUse | ErrorKind::AddrNotAvailable
            ));
            // The plain Display (as main prints an error) says it too.
            assert_eq!(e.to_string(), NO_LOCAL_PORT);
        }
    }

    #[test]
    fn other_dial_errors_are_passed_on_as_they_are() {
        // The chosen source IP is gone: that is what it says.
        let e = dial_bind_error(os(libc::EADDRNOTAVAIL));
        assert_eq!(e.raw_os_error(), Some(libc::EADDRNOTAVAIL));
        assert_eq!(describe(&e), "address not available on this machine");
        for errno in [libc::ECONNREFUSED, libc::ENETUNREACH, libc::EHOSTUNREACH] {
            let e = dial_connect_error(os(errno));
            assert_eq!(e.raw_os_error(), Some(errno));
            let e = dial_bind_error(os(errno));
            assert_eq!(e.raw_os_error(), Some(errno));
        }
    }

    #[test]
    fn the_kernel_s_error_for_a_taken_local_port_is_mapped() {
        // Two sockets bound to the same 127.0.0.1 port (SO_REUSEADDR) dial
        // the same listener: the second finds that 4-tuple taken, which is
        // the error a dial gets when every ephemeral port is in use.
        use socket2::{Domain, Socket, Type};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let to = listener.local_addr().unwrap().into();
        let socket = || {
            let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
            s.set_reuse_address(true).unwrap();
            s
        };
        let first = socket();
        first
            .bind(
                &"127.0.0.1:0"
                    .parse::<std::net::SocketAddr>()
                    .unwrap()
                    .into(),
            )
            .unwrap();
        let from = first.local_addr().unwrap();
        first.connect(&to).unwrap();
        let second = socket();
        second.bind(&from).unwrap();
        let e = second.connect(&to).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AddrNotAvailable, "{e}");
        assert_eq!(describe(&dial_connect_error(e)), NO_LOCAL_PORT);
    }
}
