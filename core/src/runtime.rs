//! ONNX Runtime: loading the provisioned shared library once per process, and the one function
//! that builds every session (threads, graph optimisation, execution provider).

use std::path::Path;
use std::sync::OnceLock;

use ort::environment::Environment;
use ort::session::Session;
use ort::session::builder::{GraphOptimizationLevel, SessionBuilder};

use crate::error::ModelError;

/// Where inference runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExecutionTarget {
    /// ONNX Runtime's CPU provider.
    #[default]
    Cpu,
    /// NVIDIA CUDA (needs the `cuda` cargo feature and a CUDA build of ONNX Runtime).
    Cuda,
    /// NVIDIA TensorRT, CUDA for what TensorRT cannot take (needs the `tensorrt` cargo feature
    /// and a TensorRT-enabled ONNX Runtime).
    #[serde(rename = "tensorrt")]
    TensorRt,
}

/// Options shared by every session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionOptions {
    /// Threads inside one operator; 0 = ONNX Runtime's default (all cores).
    pub intra_threads: usize,
    /// Execution provider.
    pub target: ExecutionTarget,
    /// Refuse to start when the provider cannot be used (the server) instead of falling back to CPU.
    pub fail_if_unavailable: bool,
    /// Let idle intra-op threads busy-wait for work. Off by default: on a 2-core machine spinning
    /// threads made a single-face analysis 2.2× slower than one thread (measured; see README).
    pub spinning: bool,
    /// Apply the load-time graph rewrites of [`crate::onnx_rewrite`] where a model wrapper asks for
    /// them (MTCNN). `false` loads every pinned graph exactly as it is (kept for benchmarks).
    pub rewrite_graphs: bool,
    /// ONNX Runtime's memory pattern: one block per input shape, planned ahead for all of a
    /// run's intermediate tensors. Off by default: facelens's shapes vary from photo to photo
    /// (pyramid levels, face counts), so the planned blocks only added to the arenas (about 45 MB
    /// of peak RSS) and were no faster (`bench/RESULTS.md` §12).
    pub memory_pattern: bool,
    /// ONNX Runtime's layout optimisations (convolutions in its blocked NCHWc layout, graph
    /// optimisation level "all"); `false` stops at the level below ("extended").
    pub blocked_layout: bool,
    /// For the models that ask for it (the embedder), time both layouts at load on the CPU and
    /// keep the faster ([`crate::models::CheckedSession::load_fastest_layout`]): which one wins
    /// depends on the CPU (`bench/RESULTS.md` §12). `false` loads with `blocked_layout` as set.
    pub choose_layout: bool,
    /// Remove the embedder's pruned (all-zero) channels at load
    /// ([`crate::onnx_rewrite::prune_dead_channels`]): the same function with fewer FLOPs on every
    /// provider. `false` runs its graph as pinned (the bench's before row).
    pub prune_channels: bool,
    /// On the CPU, load the int8 version of each model that has one in the manifest
    /// ([`crate::quantize`]); `false` loads the float models as pinned.
    pub int8: bool,
    /// On a CPU with the vector instructions they need, run MTCNN's P-Net in facelens's own
    /// kernels ([`crate::models::mtcnn::NativePnet`]) instead of ONNX Runtime; `false` runs it in
    /// ONNX Runtime as before (the bench's before row).
    pub native_pnet: bool,
}

impl Default for SessionOptions {
    fn default() -> Self {
        Self {
            intra_threads: std::thread::available_parallelism()
                .map_or(1, usize::from)
                .min(4),
            target: ExecutionTarget::Cpu,
            fail_if_unavailable: false,
            spinning: false,
            rewrite_graphs: true,
            memory_pattern: false,
            blocked_layout: true,
            choose_layout: true,
            prune_channels: true,
            int8: true,
            native_pnet: true,
        }
    }
}

static ENVIRONMENT: OnceLock<Result<Environment, String>> = OnceLock::new();

/// The variables with which ONNX Runtime's POSIX telemetry (its 1DS client: an event queue and a
/// persistent device id under `~/.cache/Microsoft`) creates nothing at all. Both spellings, as
/// releases read one or the other; they are read once, when the runtime's environment is made.
pub const TELEMETRY_OPT_OUT_VARS: [&str; 2] = ["ORT_DISABLE_TELEMETRY", "ORT_TELEMETRY_DISABLED"];

/// Opts this process out of ONNX Runtime's telemetry before the runtime is loaded. The
/// binaries call it first thing in `main`, while they have one thread; [`environment`] calls it
/// again (a no-op then) for programs that use the library directly.
pub fn opt_out_of_runtime_telemetry() {
    for var in TELEMETRY_OPT_OUT_VARS {
        if std::env::var_os(var).as_deref() != Some(std::ffi::OsStr::new("1")) {
            // SAFETY: `set_var` races only with C code reading the environment on another
            // thread. The binaries call this before starting any thread; a library user that
            // did not gets it before ONNX Runtime (the one C reader of these names) is loaded.
            #[allow(unsafe_code)]
            unsafe {
                std::env::set_var(var, "1");
            }
        }
    }
}

/// Loads ONNX Runtime from `library` (once per process; later calls reuse the first result).
///
/// # Errors
/// [`ModelError::Runtime`] when the library is missing or cannot be loaded.
pub fn environment(library: &Path) -> Result<&'static Environment, ModelError> {
    let runtime_err = |detail: String| ModelError::Runtime {
        path: library.to_path_buf(),
        detail,
    };
    let result = ENVIRONMENT.get_or_init(|| {
        if !library.is_file() {
            return Err("file not found; run `facelens models fetch`".to_owned());
        }
        opt_out_of_runtime_telemetry();
        ort::init_from(library)
            .map_err(|e| e.to_string())?
            .with_name("facelens")
            // No telemetry, ever: facelens is offline and private (docs/privacy.md).
            .with_telemetry(false)
            .build()
            .map_err(|e| e.to_string())
    });
    result.as_ref().map_err(|e| runtime_err(e.clone()))
}

fn ort_error(model: &str) -> impl Fn(String) -> ModelError + '_ {
    move |detail| ModelError::Ort {
        model: model.to_owned(),
        detail,
    }
}

/// Builds a session for `model` (used in error messages) from `path`.
///
/// # Errors
/// [`ModelError::Ort`] when the provider cannot be set up (with `fail_if_unavailable`) or the file
/// is not a valid model.
pub fn session(
    env: &Environment,
    model: &str,
    path: &Path,
    opts: SessionOptions,
) -> Result<Session, ModelError> {
    builder(env, model, opts)?
        .commit_from_file(path)
        .map_err(|e| ort_error(model)(e.to_string()))
}

/// As [`session`], from the model's bytes (a graph rewritten at load, see [`crate::onnx_rewrite`]).
///
/// # Errors
/// As [`session`].
pub fn session_from_memory(
    env: &Environment,
    model: &str,
    bytes: &[u8],
    opts: SessionOptions,
) -> Result<Session, ModelError> {
    builder(env, model, opts)?
        .commit_from_memory(bytes)
        .map_err(|e| ort_error(model)(e.to_string()))
}

/// A session builder with the threads, optimisation level and execution provider of `opts`.
fn builder(
    env: &Environment,
    model: &str,
    opts: SessionOptions,
) -> Result<SessionBuilder, ModelError> {
    let ort_err = ort_error(model);
    let mut builder = Session::builder(env)
        .map_err(|e| ort_err(e.to_string()))?
        .with_optimization_level(if opts.blocked_layout {
            GraphOptimizationLevel::All
        } else {
            GraphOptimizationLevel::Level2
        })
        .map_err(|e| ort_err(e.to_string()))?;
    if opts.intra_threads > 0 {
        builder = builder
            .with_intra_threads(opts.intra_threads)
            .map_err(|e| ort_err(e.to_string()))?;
    }
    builder = builder
        .with_intra_op_spinning(opts.spinning)
        .map_err(|e| ort_err(e.to_string()))?
        .with_memory_pattern(opts.memory_pattern)
        .map_err(|e| ort_err(e.to_string()))?;
    match opts.target {
        ExecutionTarget::Cpu => {}
        ExecutionTarget::Cuda => {
            #[cfg(feature = "cuda")]
            {
                let mut ep = ort::ep::CUDA::default().build();
                if opts.fail_if_unavailable {
                    ep = ep.error_on_failure();
                }
                builder = builder
                    .with_execution_providers([ep])
                    .map_err(|e| ort_err(e.to_string()))?;
            }
            #[cfg(not(feature = "cuda"))]
            if opts.fail_if_unavailable {
                return Err(ort_err("built without the `cuda` feature".to_owned()));
            } else {
                tracing::warn!(
                    "{model}: CUDA requested but this build has no `cuda` feature; using CPU"
                );
            }
        }
        ExecutionTarget::TensorRt => {
            #[cfg(feature = "tensorrt")]
            {
                let mut trt = ort::ep::TensorRT::default().build();
                let mut cuda = ort::ep::CUDA::default().build();
                if opts.fail_if_unavailable {
                    trt = trt.error_on_failure();
                    cuda = cuda.error_on_failure();
                }
                builder = builder
                    .with_execution_providers([trt, cuda])
                    .map_err(|e| ort_err(e.to_string()))?;
            }
            #[cfg(not(feature = "tensorrt"))]
            if opts.fail_if_unavailable {
                return Err(ort_err("built without the `tensorrt` feature".to_owned()));
            } else {
                tracing::warn!(
                    "{model}: TensorRT requested but this build has no `tensorrt` feature; using CPU"
                );
            }
        }
    }
    Ok(builder)
}
