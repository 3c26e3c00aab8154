//! rumor: a peer-to-peer gossip node.
//!
//! See `ARCHITECTURE.md` for the codemap. In short: [`wire`] is the codec,
//! [`wheel`] the timer wheel, [`node`] the sans-IO protocol core, [`shell`]
//! the mio event loop that drives it, and [`sim`] an in-memory network that
//! drives many cores on a virtual clock for tests.

pub mod base64;
pub mod cli;
pub mod keyfile;
pub mod keyring;
pub mod node;
pub mod record;
pub mod shell;
pub mod sim;
pub mod wheel;
pub mod wire;
