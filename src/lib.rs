//! rumor: a peer-to-peer gossip node.
//!
//! See `ARCHITECTURE.md` for the codemap. In short: [`wire`] is the codec,
//! [`wheel`] the timer wheel, [`node`] the sans-IO protocol core, [`shell`]
//! the mio event loop that drives it, [`format`] turns the core's events
//! into the task's lines or JSON, [`oserr`] words OS errors, and [`sim`] an
//! in-memory network that drives many cores on a virtual clock for tests
//! (`harness` is support code for the tests and the benchmark: threads,
//! processes, `/proc`; never used by the node).

pub mod base64;
pub mod capture;
pub mod cli;
pub mod format;
#[doc(hidden)]
pub mod harness;
pub mod keyfile;
pub mod keyring;
pub mod node;
pub mod oserr;
#[doc(hidden)]
pub mod prefetch;
pub mod record;
pub mod scan;
pub mod shell;
pub mod sim;
pub mod text;
pub mod vecmap;
pub mod wheel;
pub mod wire;
