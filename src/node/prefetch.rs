//! Hints at the memory a node's next input will touch, in stages, for a
//! driver that sees its inputs a few steps ahead (the simulator): each
//! stage reads only what the stage before brought into cache.

use super::{ConnId, Node};
use crate::prefetch::line;

impl Node {
    /// Stage 0: the node's own fields that most inputs read; stage 1: its
    /// tables (the connection's slot, the timer wheel, the tree's and
    /// peers' sets); stage 2: the connection itself, or with none named
    /// (a timer's input) the first two lines of every connection.
    pub fn prefetch(&self, conn: Option<ConnId>, stage: u8) {
        match stage {
            0 => {
                line(self);
                line(&self.conns);
                line(&self.out);
                line(&self.wheel);
                line(&self.tree);
                line(&self.order);
                line(&self.peers);
                line(&self.stats);
            }
            1 => {
                match conn {
                    Some(c) => self.conns.prefetch(c, 0),
                    None => self.conns.prefetch_all(0, 0),
                }
                self.wheel.prefetch();
                self.tree.prefetch();
                self.peers.prefetch();
            }
            _ => match conn {
                Some(c) => self.conns.prefetch(c, 1),
                None => self.conns.prefetch_all(1, 2),
            },
        }
    }
}
