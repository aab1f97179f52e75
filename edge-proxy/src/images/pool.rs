//! The bounded pool variants are made in: at most `workers` at a time, off the proxy's I/O
//! threads (tokio's blocking threads), and at most `queue` more waiting. A request beyond that is
//! refused at once (503 with `Retry-After`) rather than queued without bound: a flood of variant
//! misses cannot take the memory or the CPU that cache hits need.

use tokio::sync::{Semaphore, SemaphorePermit};

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
        }
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
            _admission: self,
            _permit: permit,
        })
    }
}

/// A worker's place, held until its job is done.
pub struct Worker<'a> {
    _admission: Admission<'a>,
    _permit: SemaphorePermit<'a>,
}

impl Worker<'_> {
    /// Runs `job` on a blocking thread (a panic is an error, not a crash).
    pub async fn run<T: Send + 'static>(
        self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, PoolError> {
        let done = tokio::task::spawn_blocking(job).await;
        drop(self);
        done.map_err(|e| PoolError::Failed(e.to_string()))
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
}
