//! `facelens`: see the `facelens_desktop` crate docs.

fn main() -> std::process::ExitCode {
    // Before any thread exists: nothing of ONNX Runtime's telemetry is created or queued.
    facelens_core::runtime::opt_out_of_runtime_telemetry();
    facelens_desktop::cli::main()
}
