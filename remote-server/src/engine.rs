//! Inference off the async runtime: each stage is a named OS thread that owns its models and
//! serves a bounded queue. The thread collects jobs for up to `batch_wait` or `batch_max` items,
//! runs them as one batch, and answers each job on its own oneshot channel. A full queue is
//! answered at once with [`ApiError::Overloaded`] instead of growing without bound.
//!
//! A panic while running a batch is caught: the batch is rerun job by job (each caught again), so
//! only the job that panics fails, with a 500 that says so, and the thread goes on. Should the
//! thread end anyway, [`Lane::is_alive`] turns false and `/readyz` reports the server not ready.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::time::{Duration, Instant};

use facelens_core::CoreError;
use tokio::sync::oneshot;

use crate::error::ApiError;
use crate::metrics::Metrics;

struct Job<I, O> {
    items: Vec<I>,
    reply: oneshot::Sender<Result<Vec<O>, ApiError>>,
}

/// Sets the lane's liveness flag to false when the thread ends, by return or by panic.
struct AliveGuard(Arc<AtomicBool>);

impl Drop for AliveGuard {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

/// Batching settings of one lane.
#[derive(Debug, Clone, Copy)]
pub struct LaneConfig {
    /// Jobs that may wait.
    pub queue_depth: usize,
    /// Items per batch at most.
    pub batch_max: usize,
    /// How long to wait for more items once one job is in hand.
    pub batch_wait: Duration,
}

/// A stage's queue. Cloning gives another handle to the same thread.
pub struct Lane<I, O> {
    name: &'static str,
    tx: SyncSender<Job<I, O>>,
    metrics: Metrics,
    alive: Arc<AtomicBool>,
}

impl<I, O> Clone for Lane<I, O> {
    fn clone(&self) -> Self {
        Self {
            name: self.name,
            tx: self.tx.clone(),
            metrics: self.metrics.clone(),
            alive: Arc::clone(&self.alive),
        }
    }
}

impl<I, O> Lane<I, O> {
    /// Whether the lane's thread is still serving.
    #[must_use]
    pub fn is_alive(&self) -> bool {
        self.alive.load(Ordering::SeqCst)
    }
}

impl<I, O> std::fmt::Debug for Lane<I, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lane").field("name", &self.name).finish()
    }
}

impl<I: Send + 'static, O: Send + 'static> Lane<I, O> {
    /// Starts thread `facelens-<name>`, which runs `run` on each batch (all items of the jobs
    /// collected, in order; it must return one output per item).
    ///
    /// # Errors
    /// When the OS cannot start the thread.
    pub fn spawn<F>(
        name: &'static str,
        config: LaneConfig,
        metrics: Metrics,
        run: F,
    ) -> std::io::Result<Self>
    where
        F: FnMut(&[&I]) -> Result<Vec<O>, CoreError> + Send + 'static,
    {
        let (tx, rx) = sync_channel(config.queue_depth);
        let m = metrics.clone();
        let alive = Arc::new(AtomicBool::new(true));
        let guard = AliveGuard(Arc::clone(&alive));
        std::thread::Builder::new()
            .name(format!("facelens-{name}"))
            .spawn(move || {
                let _guard = guard;
                serve(name, config, &m, &rx, run);
            })?;
        Ok(Self {
            name,
            tx,
            metrics,
            alive,
        })
    }

    /// Queues `items` and waits for their outputs.
    ///
    /// # Errors
    /// [`ApiError::Overloaded`] when the queue is full, [`ApiError::Core`] when the batch fails,
    /// [`ApiError::Internal`] when the thread is gone.
    pub async fn submit(&self, items: Vec<I>) -> Result<Vec<O>, ApiError> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let (reply, rx) = oneshot::channel();
        let depth = self.metrics.queue_depth.with_label_values(&[self.name]);
        depth.inc();
        match self.tx.try_send(Job { items, reply }) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                depth.dec();
                self.metrics.rejected.with_label_values(&[self.name]).inc();
                return Err(ApiError::Overloaded(self.name));
            }
            Err(TrySendError::Disconnected(_)) => {
                depth.dec();
                return Err(ApiError::Internal(format!(
                    "the {} worker stopped",
                    self.name
                )));
            }
        }
        match rx.await {
            Ok(r) => r,
            Err(_) => Err(ApiError::Internal(format!(
                "the {} worker dropped a job",
                self.name
            ))),
        }
    }
}

fn serve<I, O, F>(
    name: &'static str,
    config: LaneConfig,
    metrics: &Metrics,
    rx: &Receiver<Job<I, O>>,
    mut run: F,
) where
    F: FnMut(&[&I]) -> Result<Vec<O>, CoreError>,
{
    let depth = metrics.queue_depth.with_label_values(&[name]);
    let batch_size = metrics.batch_size.with_label_values(&[name]);
    let seconds = metrics.stage_seconds.with_label_values(&[name]);
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        let mut n = jobs[0].items.len();
        let deadline = Instant::now() + config.batch_wait;
        while n < config.batch_max {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(j) => {
                    n += j.items.len();
                    jobs.push(j);
                }
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
            }
        }
        depth.sub(jobs.len() as i64);
        // A client that gave up (timeout, disconnect) no longer needs its work done.
        jobs.retain(|j| !j.reply.is_closed());
        if jobs.is_empty() {
            continue;
        }
        let items: Vec<&I> = jobs.iter().flat_map(|j| j.items.iter()).collect();
        batch_size.observe(items.len() as f64);
        let start = Instant::now();
        let result = run_contained(name, &mut run, &items);
        seconds.observe(start.elapsed().as_secs_f64());
        drop(items);
        match result {
            Ok(outputs) if outputs.len() == n_items(&jobs) => {
                let mut outputs = outputs.into_iter();
                for j in jobs {
                    let mine: Vec<O> = outputs.by_ref().take(j.items.len()).collect();
                    let _ = j.reply.send(Ok(mine));
                }
            }
            Ok(_) => {
                for j in jobs {
                    let _ = j.reply.send(Err(ApiError::Internal(format!(
                        "{name}: the stage returned the wrong number of outputs"
                    ))));
                }
            }
            Err(e) if jobs.len() == 1 => {
                if let Some(j) = jobs.pop() {
                    let _ = j.reply.send(Err(e));
                }
            }
            // One bad job must not fail the others batched with it: run each alone.
            Err(_) => {
                for j in jobs {
                    let items: Vec<&I> = j.items.iter().collect();
                    let r = run_contained(name, &mut run, &items);
                    drop(items);
                    let _ = j.reply.send(r);
                }
            }
        }
    }
}

/// Runs one batch, turning a panic into an error for its jobs instead of ending the thread.
fn run_contained<I, O, F>(name: &str, run: &mut F, items: &[&I]) -> Result<Vec<O>, ApiError>
where
    F: FnMut(&[&I]) -> Result<Vec<O>, CoreError>,
{
    match catch_unwind(AssertUnwindSafe(|| run(items))) {
        Ok(r) => r.map_err(ApiError::Core),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            tracing::error!("the {name} stage panicked on a job (contained): {what}");
            Err(ApiError::Internal(format!(
                "the {name} stage failed on this request (a bug, logged); the server goes on"
            )))
        }
    }
}

fn n_items<I, O>(jobs: &[Job<I, O>]) -> usize {
    jobs.iter().map(|j| j.items.len()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Holds the stage until the test opens it: a deterministic "busy" without sleeps.
    #[derive(Clone, Default)]
    struct Gate(Arc<(std::sync::Mutex<bool>, std::sync::Condvar)>);

    impl Gate {
        fn open() -> Self {
            let g = Self::default();
            g.set_open();
            g
        }
        fn set_open(&self) {
            *self
                .0
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = true;
            self.0.1.notify_all();
        }
        fn wait(&self) {
            let mut open = self
                .0
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            while !*open {
                open = self
                    .0
                    .1
                    .wait(open)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
            }
        }
    }

    /// A batch closes when it holds `batch_max` items; the wait is long enough never to be
    /// what closes it in these tests, so batching does not depend on timing.
    fn lane(batch_max: usize, gate: Gate) -> (Lane<u32, u32>, std::sync::mpsc::Receiver<usize>) {
        let (seen_tx, seen) = std::sync::mpsc::channel();
        let lane = Lane::spawn(
            "test",
            LaneConfig {
                queue_depth: 4,
                batch_max,
                batch_wait: Duration::from_secs(600),
            },
            Metrics::new(),
            move |items: &[&u32]| {
                let _ = seen_tx.send(items.len());
                gate.wait();
                if items.iter().any(|&&i| i == 13) {
                    return Err(CoreError::InvalidRequest("13".into()));
                }
                assert!(!items.iter().any(|&&i| i == 666), "injected panic");
                Ok(items.iter().map(|&&i| i * 2).collect())
            },
        )
        .expect("spawn");
        (lane, seen)
    }

    #[tokio::test]
    async fn concurrent_jobs_share_a_batch_and_get_their_own_outputs() {
        let (lane, seen) = lane(3, Gate::open());
        let (a, b) = tokio::join!(lane.submit(vec![1, 2]), lane.submit(vec![3]));
        assert_eq!(a.expect("a"), vec![2, 4]);
        assert_eq!(b.expect("b"), vec![6]);
        assert_eq!(
            seen.try_iter().collect::<Vec<_>>(),
            vec![3],
            "one batch of 3"
        );
    }

    #[tokio::test]
    async fn a_bad_job_fails_alone() {
        let (lane, seen) = lane(2, Gate::open());
        let (a, b) = tokio::join!(lane.submit(vec![13]), lane.submit(vec![5]));
        assert!(a.is_err());
        assert_eq!(b.expect("b"), vec![10]);
        assert_eq!(seen.recv().ok(), Some(2), "they shared a batch");
    }

    #[tokio::test]
    async fn a_panicking_job_fails_alone_and_the_lane_goes_on() {
        let (lane, seen) = lane(2, Gate::open());
        for round in 0..4 {
            let (a, b) = tokio::join!(lane.submit(vec![666]), lane.submit(vec![5]));
            let msg = a.expect_err("the panicking job fails").to_string();
            assert!(msg.contains("test stage failed"), "{msg}");
            assert_eq!(
                b.expect("its batch-mate is served"),
                vec![10],
                "round {round}"
            );
            assert_eq!(
                seen.try_iter().collect::<Vec<_>>(),
                vec![2, 1, 1],
                "one batch of both, then each alone"
            );
        }
        let (a, b) = tokio::join!(lane.submit(vec![4]), lane.submit(vec![6]));
        assert_eq!(a.expect("still serving"), vec![8]);
        assert_eq!(b.expect("still serving"), vec![12]);
        assert!(lane.is_alive());
    }

    #[tokio::test]
    async fn a_lane_whose_thread_ended_is_not_alive() {
        let lane: Lane<u32, u32> = Lane::spawn(
            "dies",
            LaneConfig {
                queue_depth: 1,
                batch_max: 1,
                batch_wait: Duration::ZERO,
            },
            Metrics::new(),
            |_: &[&u32]| Ok(Vec::new()),
        )
        .expect("spawn");
        assert!(lane.is_alive());
        // Its thread ends when every sender is gone; a clone of the flag outlives it.
        let alive = Arc::clone(&lane.alive);
        drop(lane);
        for _ in 0..200 {
            if !alive.load(Ordering::SeqCst) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("the liveness flag stayed true after the thread ended");
    }

    #[tokio::test]
    async fn a_full_queue_is_refused_then_recovers() {
        // The stage is held while 12 jobs arrive: at most the queue (4) and the batch being run
        // (1) take one each; the rest are refused at once. Then the gate opens.
        let gate = Gate::default();
        let (lane, _) = lane(1, gate.clone());
        let jobs: Vec<_> = (0..12).map(|i| lane.submit(vec![i])).collect();
        let results = futures_join_all(jobs, || gate.set_open()).await;
        let refused = results
            .iter()
            .filter(|r| matches!(r, Err(ApiError::Overloaded(_))))
            .count();
        assert!(
            refused >= 12 - 5,
            "{refused} refused: a queue of 4 took more"
        );
        assert!(
            results.iter().filter(|r| r.is_ok()).count() + refused == 12,
            "every job served or refused"
        );
        assert_eq!(lane.submit(vec![7]).await.expect("recovers"), vec![14]);
    }

    /// Polls every future once (each submits on its first poll), calls `submitted`, then awaits
    /// them all.
    async fn futures_join_all<F: std::future::Future>(
        fs: Vec<F>,
        submitted: impl FnOnce(),
    ) -> Vec<F::Output> {
        let mut set = Vec::new();
        // Submit all before awaiting any: try_send happens on first poll.
        let mut pinned: Vec<_> = fs.into_iter().map(Box::pin).collect();
        for f in &mut pinned {
            let waker = std::task::Waker::noop();
            let mut cx = std::task::Context::from_waker(waker);
            if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                set.push(Some(v));
            } else {
                set.push(None);
            }
        }
        submitted();
        let mut out = Vec::new();
        for (f, done) in pinned.into_iter().zip(set) {
            match done {
                Some(v) => out.push(v),
                None => out.push(f.await),
            }
        }
        out
    }
}
