//! rumor: a peer-to-peer gossip node.
//!
//! See `ARCHITECTURE.md` for the codemap. In short: [`wire`] is the codec,
//! [`wheel`] the timer wheel, [`node`] the sans-IO protocol core, [`shell`]
//! the mio event loop that drives it, and [`sim`] an in-memory network that
//! drives many cores on a virtual clock for tests. `harness` is support
//! code for the tests and the benchmark (threads, processes, `/proc`), never
//! used by the node.

pub mod cli;
#[doc(hidden)]
pub mod harness;
pub mod node;
pub mod shell;
pub mod sim;
pub mod wheel;
pub mod wire;
