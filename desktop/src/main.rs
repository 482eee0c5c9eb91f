//! `facelens`: see the `facelens_desktop` crate docs.

fn main() -> std::process::ExitCode {
    facelens_desktop::cli::main()
}
