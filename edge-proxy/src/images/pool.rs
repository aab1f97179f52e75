//! The bounded pool variants are made in: at most `workers` at a time, on `workers` threads of
//! their own (off the proxy's I/O threads), and at most `queue` more waiting. A request beyond
//! that is refused at once (503 with `Retry-After`) rather than queued without bound: a flood of
//! variant misses cannot take the memory or the CPU that cache hits need.
//!
//! The threads are a rayon pool: the JPEG decoder splits its work with rayon, and work split from
//! inside a pool stays in that pool, so a variant never takes more than the pool's threads (the
//! decoder would otherwise start a thread of its own per colour component).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;

use tokio::sync::{oneshot, Semaphore, SemaphorePermit};

/// Why a job did not run.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error("every worker is busy and the queue is full")]
    Full,
    #[error("the job failed: {0}")]
    Failed(String),
}

pub struct Pool {
    /// Workers and queue places: taken when a request is admitted, before its original is fetched.
    admitted: Semaphore,
    running: Semaphore,
    workers: usize,
    /// Started with the first variant (not when the configuration is read: `fdfs-edge check` and
    /// `sign` make no variants).
    threads: OnceLock<Result<rayon::ThreadPool, String>>,
}

/// A place in the pool, held from admission to the end of the job.
pub struct Admission<'a> {
    pool: &'a Pool,
    _place: SemaphorePermit<'a>,
}

impl Pool {
    pub fn new(workers: usize, queue: usize) -> Pool {
        let workers = workers.max(1);
        Pool {
            admitted: Semaphore::new(workers + queue),
            running: Semaphore::new(workers),
            workers,
            threads: OnceLock::new(),
        }
    }

    fn threads(&self) -> Result<&rayon::ThreadPool, PoolError> {
        self.threads
            .get_or_init(|| {
                rayon::ThreadPoolBuilder::new()
                    .num_threads(self.workers)
                    .thread_name(|i| format!("fdfs-edge-image-{i}"))
                    .build()
                    .map_err(|e| format!("cannot start the image workers: {e}"))
            })
            .as_ref()
            .map_err(|e| PoolError::Failed(e.clone()))
    }

    /// A place, or [`PoolError::Full`] at once.
    pub fn admit(&self) -> Result<Admission<'_>, PoolError> {
        let place = self.admitted.try_acquire().map_err(|_| PoolError::Full)?;
        Ok(Admission {
            pool: self,
            _place: place,
        })
    }
}

impl<'a> Admission<'a> {
    /// Waits for a free worker. The original is fetched after this: a request waiting in the queue
    /// holds no bytes, so the memory of the pool is bounded by `workers`, not by the queue.
    pub async fn worker(self) -> Result<Worker<'a>, PoolError> {
        let permit = self
            .pool
            .running
            .acquire()
            .await
            .map_err(|e| PoolError::Failed(e.to_string()))?;
        Ok(Worker {
            admission: self,
            _permit: permit,
        })
    }
}

/// A worker's place, held until its job is done.
pub struct Worker<'a> {
    admission: Admission<'a>,
    _permit: SemaphorePermit<'a>,
}

impl Worker<'_> {
    /// Runs `job` on one of the pool's threads (a panic is an error, not a crash).
    pub async fn run<T: Send + 'static>(
        self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, PoolError> {
        let (tx, rx) = oneshot::channel();
        self.admission.pool.threads()?.spawn(move || {
            // the receiver may be gone (the client left): the result is dropped
            let _ = tx.send(catch_unwind(AssertUnwindSafe(job)));
        });
        let done = rx.await;
        drop(self);
        match done {
            Ok(Ok(t)) => Ok(t),
            Ok(Err(_)) => Err(PoolError::Failed("the job panicked".into())),
            Err(_) => Err(PoolError::Failed("the job was dropped".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn full_is_refused_at_once() {
        let pool = Pool::new(1, 1);
        let a = pool.admit().expect("worker");
        let b = pool.admit().expect("queue");
        assert!(matches!(pool.admit(), Err(PoolError::Full)));
        assert_eq!(
            a.worker()
                .await
                .expect("free")
                .run(|| 2)
                .await
                .expect("ran"),
            2
        );
        // a's place is back
        let c = pool.admit().expect("place freed");
        drop((b, c));
        let worker = pool.admit().expect("place").worker().await.expect("free");
        let panicked = worker.run(|| -> u8 { panic!("boom") }).await;
        assert!(matches!(panicked, Err(PoolError::Failed(_))));
    }

    /// Work a job splits with rayon stays on the pool's threads.
    #[tokio::test]
    async fn a_job_and_its_parts_run_on_the_pool() {
        let pool = Pool::new(2, 0);
        let worker = pool.admit().expect("place").worker().await.expect("free");
        let (threads, names) = worker
            .run(|| {
                let name = || std::thread::current().name().map(str::to_string);
                let (a, b) = rayon::join(name, name);
                (rayon::current_num_threads(), [name(), a, b])
            })
            .await
            .expect("ran");
        assert_eq!(threads, 2);
        for n in names {
            assert!(n.is_some_and(|n| n.starts_with("fdfs-edge-image-")));
        }
    }
}
