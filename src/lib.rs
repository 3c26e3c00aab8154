//! rumor: a peer-to-peer gossip node.
//!
//! See `ARCHITECTURE.md` for the codemap. In short: [`wire`] is the codec,
//! [`wheel`] the timer wheel, [`node`] the sans-IO protocol core, [`shell`]
//! the mio event loop that drives it, and [`sim`] an in-memory network that
//! drives many cores on a virtual clock for tests.

pub mod cli;
pub mod node;
pub mod shell;
pub mod sim;
pub mod text;
pub mod wheel;
pub mod wire;
