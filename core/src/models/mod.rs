//! One wrapper per model, each built from its manifest entry with its contract (input and output
//! names, element types and shapes) checked at load. After loading, the wrappers hide tensors.

pub mod age;
pub mod embedder;
pub mod emotion;
pub mod faceres;
pub mod gear;
pub mod mtcnn;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use ort::session::Session;
use ort::value::{Tensor, ValueType};

use crate::error::ModelError;
use crate::manifest::{ModelEntry, TensorSpec};
use crate::onnx_rewrite::{RewriteError, Rewritten};
use crate::provision::{ModelStore, sha256_file, sha256_hex};
use crate::runtime::{self, ExecutionTarget, SessionOptions};

/// A loaded session whose contract matched the manifest.
pub struct CheckedSession {
    id: String,
    session: Session,
    outputs: Vec<String>,
}

impl std::fmt::Debug for CheckedSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckedSession")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// A dense f32 output: shape and values.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    /// Dimensions.
    pub shape: Vec<i64>,
    /// Row-major values.
    pub data: Vec<f32>,
}

/// A load-time graph rewrite ([`crate::onnx_rewrite`]).
pub type RewriteFn = fn(&[u8]) -> Result<Rewritten, RewriteError>;

/// Timed probe runs per layout in [`CheckedSession::load_fastest_layout`] (after one untimed).
pub const LAYOUT_PROBE_RUNS: usize = 3;

static MODEL_RUN_NS: AtomicU64 = AtomicU64::new(0);

/// Nanoseconds spent inside ONNX Runtime's `run` by every model of this process so far (the
/// benchmarks subtract two readings to split a request into model time and everything else).
#[must_use]
pub fn model_run_ns() -> u64 {
    MODEL_RUN_NS.load(Ordering::Relaxed)
}

thread_local! {
    /// Model time of this thread's runs while [`capture_model_run_ns`] collects it.
    static CAPTURED_NS: std::cell::Cell<Option<u64>> = const { std::cell::Cell::new(None) };
}

/// Adds model time to [`model_run_ns`], or to this thread's capture when
/// [`capture_model_run_ns`] is collecting it.
pub fn add_model_run_ns(ns: u64) {
    CAPTURED_NS.with(|c| match c.get() {
        Some(sum) => c.set(Some(sum + ns)),
        None => {
            MODEL_RUN_NS.fetch_add(ns, Ordering::Relaxed);
        }
    });
}

/// Runs `f` and returns the model time its runs on this thread took instead of adding it to
/// [`model_run_ns`]: for work split over parallel threads, whose caller adds the longest share.
pub fn capture_model_run_ns<T>(f: impl FnOnce() -> T) -> (T, u64) {
    let outer = CAPTURED_NS.with(|c| c.replace(Some(0)));
    let result = f();
    let ns = CAPTURED_NS.with(|c| c.replace(outer)).unwrap_or(0);
    (result, ns)
}

/// One model input as the pipeline built it, recorded by [`record_inputs`] (for calibrating the
/// int8 models on real faces, [`crate::quantize::calibrate`]).
#[derive(Debug, Clone)]
pub struct RecordedInput {
    /// The model's id.
    pub model: String,
    /// Dimensions.
    pub shape: Vec<usize>,
    /// Row-major values.
    pub data: Vec<f32>,
}

thread_local! {
    /// This thread's model inputs while [`record_inputs`] collects them.
    static RECORDED: std::cell::RefCell<Option<Vec<RecordedInput>>> =
        const { std::cell::RefCell::new(None) };
}

/// Runs `f` and returns, with its result, every model input run on this thread meanwhile.
pub fn record_inputs<T>(f: impl FnOnce() -> T) -> (T, Vec<RecordedInput>) {
    let outer = RECORDED.with_borrow_mut(|r| r.replace(Vec::new()));
    let result = f();
    let recorded = RECORDED.with_borrow_mut(|r| std::mem::replace(r, outer));
    (result, recorded.unwrap_or_default())
}

/// Work started by [`spawn_share`] on a thread of its own.
pub(crate) struct Share<'scope, T> {
    handle: std::io::Result<std::thread::ScopedJoinHandle<'scope, (Result<T, ModelError>, u64)>>,
    model: &'static str,
    what: &'static str,
}

/// Runs `f` on a new thread `name` of scope `s`, its model time captured
/// ([`capture_model_run_ns`]) for the caller, who adds the longest of the shares that overlapped.
/// A thread that cannot be started (the process is out of threads) or that panics is a
/// [`ModelError::Ort`] of `model` when joined, after the caller's own share has run.
pub(crate) fn spawn_share<'scope, T: Send + 'scope>(
    s: &'scope std::thread::Scope<'scope, '_>,
    name: String,
    (model, what): (&'static str, &'static str),
    f: impl FnOnce() -> Result<T, ModelError> + Send + 'scope,
) -> Share<'scope, T> {
    Share {
        handle: std::thread::Builder::new()
            .name(name)
            .spawn_scoped(s, move || capture_model_run_ns(f)),
        model,
        what,
    }
}

impl<T> Share<'_, T> {
    /// Waits for the share: its result and its model time (0 when it never ran).
    pub(crate) fn join(self) -> (Result<T, ModelError>, u64) {
        let failed = |detail: String| {
            Err(ModelError::Ort {
                model: self.model.to_owned(),
                detail,
            })
        };
        match self.handle {
            Ok(h) => h
                .join()
                .unwrap_or_else(|_| (failed(format!("{} thread panicked", self.what)), 0)),
            Err(_) => (failed(format!("could not start {} thread", self.what)), 0),
        }
    }
}

/// Splits a batched output into `n` rows (fewer if the output is short).
#[must_use]
pub fn rows(output: &Output, n: usize) -> Vec<Vec<f32>> {
    if n == 0 {
        return Vec::new();
    }
    let per = output.data.len() / n;
    if per == 0 {
        return Vec::new();
    }
    output.data.chunks_exact(per).map(<[f32]>::to_vec).collect()
}

fn dims_match(expected: &[i64], got: &[i64]) -> bool {
    expected.len() == got.len()
        && expected
            .iter()
            .zip(got)
            .all(|(&e, &g)| e < 0 || g < 0 || e == g)
}

fn check(
    model: &str,
    what: &str,
    spec: &TensorSpec,
    got: Option<&ValueType>,
) -> Result<(), ModelError> {
    let mismatch = |expected: String, got: String| ModelError::UnexpectedContract {
        model: model.to_owned(),
        what: format!("{what} `{}`", spec.name),
        expected,
        got,
    };
    match got {
        None => Err(mismatch("present".into(), "absent".into())),
        Some(ValueType::Tensor { ty, shape, .. }) => {
            if *ty != ort::value::TensorElementType::Float32 {
                return Err(mismatch("float32".into(), format!("{ty:?}")));
            }
            if !dims_match(&spec.shape, shape) {
                return Err(mismatch(
                    format!("{:?}", spec.shape),
                    format!("{:?}", &shape[..]),
                ));
            }
            Ok(())
        }
        Some(other) => Err(mismatch("tensor".into(), format!("{other:?}"))),
    }
}

impl CheckedSession {
    /// Loads model `id` from `store` (on the CPU with [`SessionOptions::int8`], its int8 version
    /// where the manifest has one): checks the file's sha256, builds the session, checks the contract.
    ///
    /// # Errors
    /// [`ModelError::Missing`], [`ModelError::Checksum`], [`ModelError::Ort`] or
    /// [`ModelError::UnexpectedContract`].
    pub fn load(store: &ModelStore, id: &str, opts: SessionOptions) -> Result<Self, ModelError> {
        let manifest = store.manifest();
        let entry = match manifest.int8_of(id) {
            // Accelerators run the float graphs (their int8 paths are another measurement).
            Some(int8) if opts.int8 && opts.target == ExecutionTarget::Cpu => int8,
            _ => manifest.model(id)?,
        };
        let path = store.model_path(entry);
        verify(entry, &path)?;
        let env = runtime::environment(&store.runtime_path())?;
        let session = runtime::session(env, id, &path, opts)?;
        Self::check_contract(entry, session)
    }

    /// As [`CheckedSession::load`] (or [`CheckedSession::load_rewritten`] with `rewrite`), but on the CPU with [`SessionOptions::choose_layout`] the model
    /// is tried in both layouts ([`SessionOptions::blocked_layout`] on and off): `probe` runs once
    /// on each to warm it up and then [`LAYOUT_PROBE_RUNS`] times timed, and the layout with the
    /// lower median is loaded (and probed once) for good. Both compute the same function (they
    /// differ by float rounding only).
    ///
    /// # Errors
    /// As [`CheckedSession::load`], and the probe's errors.
    pub fn load_fastest_layout(
        store: &ModelStore,
        id: &str,
        opts: SessionOptions,
        rewrite: Option<RewriteFn>,
        mut probe: impl FnMut(&mut Self) -> Result<(), ModelError>,
    ) -> Result<Self, ModelError> {
        let load = |o: SessionOptions| match rewrite {
            Some(r) => Self::load_rewritten(store, id, o, r),
            None => Self::load(store, id, o),
        };
        if !opts.choose_layout || opts.target != ExecutionTarget::Cpu {
            return load(opts);
        }
        let with = |blocked_layout: bool| SessionOptions {
            blocked_layout,
            ..opts
        };
        // Each trial session is dropped before the next loads, and the winner is loaded again
        // last, into the memory the trials freed: a trial kept alive leaves the other's memory
        // as a hole the allocator keeps (measured: about 15 MiB more peak RSS).
        let mut median_ms = |blocked_layout: bool| {
            let mut session = load(with(blocked_layout))?;
            probe(&mut session)?;
            let mut ms: Vec<f64> = (0..LAYOUT_PROBE_RUNS)
                .map(|_| {
                    let t = std::time::Instant::now();
                    probe(&mut session).map(|()| t.elapsed().as_secs_f64() * 1000.0)
                })
                .collect::<Result<_, _>>()?;
            ms.sort_by(f64::total_cmp);
            Ok::<_, ModelError>(ms[ms.len() / 2])
        };
        let blocked_ms = median_ms(true)?;
        let plain_ms = median_ms(false)?;
        let blocked = blocked_ms <= plain_ms;
        tracing::info!(
            model = id,
            blocked_ms,
            plain_ms,
            "kept the {} layout",
            if blocked { "blocked" } else { "plain" }
        );
        let mut kept = load(with(blocked))?;
        probe(&mut kept)?;
        Ok(kept)
    }

    /// As [`CheckedSession::load`], but the verified file's graph goes through `rewrite` (see
    /// [`crate::onnx_rewrite`]) before ONNX Runtime sees it; the contract is checked on the result.
    ///
    /// # Errors
    /// As [`CheckedSession::load`]; a graph the rewrite cannot read is
    /// [`ModelError::UnexpectedContract`].
    pub fn load_rewritten(
        store: &ModelStore,
        id: &str,
        opts: SessionOptions,
        rewrite: RewriteFn,
    ) -> Result<Self, ModelError> {
        let entry = store.manifest().model(id)?;
        let bytes = read_verified(entry, &store.model_path(entry))?;
        let rewritten = rewrite(&bytes).map_err(|e| ModelError::UnexpectedContract {
            model: entry.id.clone(),
            what: "graph".into(),
            expected: "an ONNX graph the load-time rewrite can read".into(),
            got: e.to_string(),
        })?;
        let env = runtime::environment(&store.runtime_path())?;
        let session = runtime::session_from_memory(env, id, &rewritten.bytes, opts)?;
        Self::check_contract(entry, session)
    }

    fn check_contract(entry: &ModelEntry, session: Session) -> Result<Self, ModelError> {
        for spec in &entry.inputs {
            let got = session
                .inputs()
                .iter()
                .find(|o| o.name() == spec.name)
                .map(|o| o.dtype());
            check(&entry.id, "input", spec, got)?;
        }
        for spec in &entry.outputs {
            let got = session
                .outputs()
                .iter()
                .find(|o| o.name() == spec.name)
                .map(|o| o.dtype());
            check(&entry.id, "output", spec, got)?;
        }
        if session.inputs().len() != entry.inputs.len() {
            return Err(ModelError::UnexpectedContract {
                model: entry.id.clone(),
                what: "number of inputs".into(),
                expected: entry.inputs.len().to_string(),
                got: session.inputs().len().to_string(),
            });
        }
        Ok(Self {
            id: entry.id.clone(),
            outputs: entry.outputs.iter().map(|o| o.name.clone()).collect(),
            session,
        })
    }

    /// Runs the model on one f32 input; returns the outputs in manifest order. The time inside
    /// ONNX Runtime goes to [`add_model_run_ns`].
    ///
    /// # Errors
    /// [`ModelError::Ort`] when ONNX Runtime fails.
    pub fn run(
        &mut self,
        input_name: &str,
        shape: &[usize],
        data: Vec<f32>,
    ) -> Result<Vec<Output>, ModelError> {
        let ort_err = |e: ort::Error| ModelError::Ort {
            model: self.id.clone(),
            detail: e.to_string(),
        };
        RECORDED.with_borrow_mut(|r| {
            if let Some(r) = r {
                r.push(RecordedInput {
                    model: self.id.clone(),
                    shape: shape.to_vec(),
                    data: data.clone(),
                });
            }
        });
        let tensor = Tensor::from_array((shape.to_vec(), data)).map_err(ort_err)?;
        let started = std::time::Instant::now();
        let outputs = self
            .session
            .run(ort::inputs![input_name => tensor])
            .map_err(|e| ModelError::Ort {
                model: self.id.clone(),
                detail: e.to_string(),
            })?;
        add_model_run_ns(started.elapsed().as_nanos() as u64);
        let mut result = Vec::with_capacity(self.outputs.len());
        for name in &self.outputs {
            let value = outputs.get(name.as_str()).ok_or_else(|| ModelError::Ort {
                model: self.id.clone(),
                detail: format!("output `{name}` missing"),
            })?;
            let (shape, data) = value
                .try_extract_tensor::<f32>()
                .map_err(|e| ModelError::Ort {
                    model: self.id.clone(),
                    detail: e.to_string(),
                })?;
            result.push(Output {
                shape: shape.to_vec(),
                data: data.to_vec(),
            });
        }
        Ok(result)
    }
}

/// Checks a model file's presence and sha256 against its manifest entry.
///
/// # Errors
/// [`ModelError::Missing`] or [`ModelError::Checksum`].
pub fn verify(entry: &ModelEntry, path: &Path) -> Result<(), ModelError> {
    if !path.is_file() {
        return Err(missing(entry, path));
    }
    let got = sha256_file(path).map_err(|e| ModelError::Ort {
        model: entry.id.clone(),
        detail: e.to_string(),
    })?;
    check_sha256(entry, path, got)
}

/// A model file's bytes, read once and checked against its manifest sha256.
///
/// # Errors
/// [`ModelError::Missing`], [`ModelError::Checksum`], or [`ModelError::Ort`] when it cannot be
/// read.
pub fn read_verified(entry: &ModelEntry, path: &Path) -> Result<Vec<u8>, ModelError> {
    if !path.is_file() {
        return Err(missing(entry, path));
    }
    let bytes = std::fs::read(path).map_err(|e| ModelError::Ort {
        model: entry.id.clone(),
        detail: format!("cannot read {}: {e}", path.display()),
    })?;
    check_sha256(entry, path, sha256_hex(&bytes))?;
    Ok(bytes)
}

fn missing(entry: &ModelEntry, path: &Path) -> ModelError {
    ModelError::Missing {
        model: entry.id.clone(),
        path: path.to_path_buf(),
    }
}

fn check_sha256(entry: &ModelEntry, path: &Path, got: String) -> Result<(), ModelError> {
    if got != entry.sha256 {
        return Err(ModelError::Checksum {
            model: entry.id.clone(),
            expected: entry.sha256.clone(),
            got,
            path: path.to_path_buf(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::dims_match;

    #[test]
    fn batched_outputs_split_into_rows() {
        let o = super::Output {
            shape: vec![3, 2],
            data: vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        };
        assert_eq!(
            super::rows(&o, 3),
            vec![vec![1.0, 2.0], vec![3.0, 4.0], vec![5.0, 6.0]]
        );
        assert!(super::rows(&o, 0).is_empty());
    }

    #[test]
    fn dynamic_dims_match_anything() {
        assert!(dims_match(&[-1, 3, 112, 112], &[1, 3, 112, 112]));
        assert!(dims_match(&[1, 512], &[-1, 512]));
        assert!(!dims_match(&[1, 512], &[1, 256]));
        assert!(!dims_match(&[1, 512], &[1, 512, 1]));
    }
}
