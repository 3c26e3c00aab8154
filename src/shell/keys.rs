//! The shell's side of the network key: OS entropy for each keyed
//! handshake, and reloading the key file on SIGHUP.

use std::path::Path;
use std::time::Instant;

use crate::format;
use crate::keyfile;
use crate::node::Node;

use super::stdio::diag;

/// Before an accept or a connect: fresh OS entropy for the core's next
/// handshake, if it is keyed. Without it the core refuses the connection
/// (and says so).
pub(super) fn entropy(node: &mut Node) {
    if node.needs_entropy()
        && let Ok(bytes) = keyfile::os_entropy()
    {
        node.give_entropy(bytes);
    }
}

/// SIGHUP: the key file read again. A clear error leaves the old ring.
pub(super) fn reload(node: &mut Node, path: Option<&Path>, now: Instant) {
    let Some(path) = path.filter(|_| node.keyed()) else {
        diag(&format::diag_line(
            "SIGHUP: no --key-file to reload; nothing changes",
        ));
        return;
    };
    match keyfile::load(path) {
        Ok(ring) => node.handle_rekey(ring, now),
        Err(e) => diag(&format::diag_line(&format!(
            "cannot reload the key ring ({e}); keeping the old one"
        ))),
    }
}
