//! Every function's build script (`build = "../build.rs"`): its binary linked at a fixed address,
//! not position-independent. A Lambda binary then has no dynamic relocations to apply at each
//! cold start (24,000 in the aggregate function) and its tables of pointers are not written, and
//! so not made resident, before the first line of `main`: ~0.8 MB less peak memory per function
//! and ~10% smaller bootstraps (BENCHMARKS.md). The trade-off, a fixed address for the binary's
//! own code under ASLR, is in docs/security.md. Only the binaries: a proc macro is a shared
//! library and must stay position-independent.

fn main() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
    // Relative to the package (functions/<name>), where this shared script is one folder up: a
    // path that does not exist would make cargo run it, and rebuild the function, every time.
    println!("cargo:rerun-if-changed=../build.rs");
}
