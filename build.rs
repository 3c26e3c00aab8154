//! Link-time choices for the `rumor` binaries that depend on the machine
//! that builds them, and nothing else (no code is generated).
//!
//! Packed relative relocations (`-z pack-relative-relocs`, DT_RELR) store
//! the executable's ~1,000 load-time pointer fix-ups in about 1 KB instead
//! of 24 bytes each (−21 KB of the stripped binary, issue 13's size budget).
//! A binary linked so needs glibc 2.36 or later to start, so the flag is
//! passed only for a native Linux glibc build on a glibc that has it: the
//! binary then runs where it was built, and a cross build, musl, or an older
//! glibc gets the plain link. A linker that does not know the option (GNU
//! ld before 2.38) ignores it with a warning. A linker configured for the
//! target (`RUSTC_LINKER`: cargo-zigbuild, a cross toolchain), which may
//! link against another glibc than this machine's, gets the plain link too,
//! and `RUMOR_PLAIN_RELOCS=1` asks for it (a binary to copy to an older
//! system).

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=RUMOR_PLAIN_RELOCS");
    let target = std::env::var("TARGET").unwrap_or_default();
    let host = std::env::var("HOST").unwrap_or_default();
    let own_linker = std::env::var_os("RUSTC_LINKER").is_some();
    let plain = std::env::var_os("RUMOR_PLAIN_RELOCS").is_some_and(|v| v != "0");
    if target != host || !target.ends_with("-linux-gnu") || own_linker || plain {
        return;
    }
    if host_glibc().is_some_and(|(major, minor)| (major, minor) >= (2, 36)) {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}

/// The build machine's glibc version, from `getconf GNU_LIBC_VERSION`
/// ("glibc 2.36"); `None` if it cannot be told.
fn host_glibc() -> Option<(u32, u32)> {
    let out = Command::new("getconf")
        .arg("GNU_LIBC_VERSION")
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let version = text.trim().strip_prefix("glibc ")?;
    let mut parts = version.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts
        .next()?
        .trim_end_matches(|c: char| !c.is_ascii_digit())
        .parse()
        .ok()?;
    Some((major, minor))
}
