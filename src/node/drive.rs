//! The loop every driver runs after each input: take the core's outputs
//! and carry each out. Written once here; the shell, the simulator, the
//! fuzz driver and the tests implement [`Driver`].

use std::net::SocketAddr;
use std::time::Duration;

use super::Node;
use super::conns::ConnId;
use super::event::Event;
use super::output::Output;

/// What a driver does with each kind of output.
pub trait Driver {
    /// Queue `bytes` on `conn`, and report them with
    /// [`Node::handle_written`] once written.
    fn send(&mut self, conn: ConnId, bytes: &[u8]);
    /// Open a connection to `addr` for `conn`.
    fn dial(&mut self, conn: ConnId, addr: SocketAddr);
    /// Flush and close `conn`; report nothing more about it.
    fn close(&mut self, conn: ConnId);
    /// Tell the user; `at` is the time since the node started.
    fn event(&mut self, at: Duration, event: Event<'_>);
}

pub(super) fn drain(node: &mut Node, driver: &mut impl Driver) {
    while let Some(out) = node.poll_output() {
        match out {
            Output::Send { conn, bytes } => driver.send(conn, bytes),
            Output::Dial { conn, addr } => driver.dial(conn, addr),
            Output::Close { conn } => driver.close(conn),
            Output::Event { at, event } => driver.event(at, event),
        }
    }
}
