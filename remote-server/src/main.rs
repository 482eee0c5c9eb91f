//! `facelens-server`: see the crate docs of `facelens_server`.

fn main() -> std::process::ExitCode {
    facelens_server::cli::main()
}
