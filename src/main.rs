//! The `cdssd` binary: parse the command line, hand over to [`cdssd::cli`].
fn main() -> std::process::ExitCode {
    cdssd::cli::main()
}
