//! The `cdssd` binary: parse the command line, hand over to [`cdssd::cli`].

/// mimalloc instead of the system allocator: the request path allocates many small,
/// short-lived objects across threads (decode, validation, Rhai values, findings), and
/// glibc malloc spent ~30 % of the daemon's CPU on them under load (benches/README.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    cdssd::cli::main()
}
