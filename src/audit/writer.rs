//! Group commit: callers hand their decision record to one writer thread and
//! wait; the thread takes every record queued meanwhile (up to `max_batch`),
//! commits them in one transaction and answers each caller. A caller is told
//! "recorded" only after the commit returned (durability `sync`); a failed
//! commit fails every caller of the batch (`fail_closed`: UNAVAILABLE).

use std::{sync::Arc, time::Instant};

use tokio::sync::{mpsc, oneshot};

use super::{AuditError, AuditStore, DecisionRecord};

type Job = (DecisionRecord, oneshot::Sender<Result<(), AuditError>>);

/// The handle callers use; cheap to clone.
#[derive(Debug, Clone)]
pub struct AuditWriter {
    tx: mpsc::Sender<Job>,
    store: Arc<dyn AuditStore>,
}

impl AuditWriter {
    /// Start the writer thread over `store`.
    pub fn start(store: Arc<dyn AuditStore>, max_batch: usize, queue: usize) -> Self {
        let (tx, mut rx) = mpsc::channel::<Job>(queue.max(1));
        let backend = store.backend();
        let s = store.clone();
        std::thread::Builder::new()
            .name("cdssd-audit".into())
            .spawn(move || {
                let mut batch: Vec<Job> = Vec::with_capacity(max_batch);
                while let Some(first) = rx.blocking_recv() {
                    batch.push(first);
                    while batch.len() < max_batch {
                        match rx.try_recv() {
                            Ok(j) => batch.push(j),
                            Err(_) => break,
                        }
                    }
                    let records: Vec<DecisionRecord> = batch.iter().map(|(r, _)| r.clone()).collect();
                    let t = Instant::now();
                    let result = s.append(&records);
                    crate::metrics::audit_commit(backend, records.len(), t.elapsed(), result.is_ok());
                    if let Err(e) = &result {
                        tracing::error!(backend = backend.label(), records = records.len(), error = %e, "Audit commit failed; the calls fail closed.");
                    }
                    for (_, reply) in batch.drain(..) {
                        let r = match &result {
                            Ok(()) => Ok(()),
                            Err(e) => Err(AuditError::Unavailable(e.to_string())),
                        };
                        let _ = reply.send(r);
                    }
                }
            })
            .expect("the audit writer thread starts");
        Self { tx, store }
    }

    /// Record one decision; returns once it is committed (or failed).
    pub async fn record(&self, record: DecisionRecord) -> Result<(), AuditError> {
        let (reply, done) = oneshot::channel();
        self.tx.send((record, reply)).await.map_err(|_| AuditError::Unavailable("the audit writer stopped".into()))?;
        done.await.map_err(|_| AuditError::Unavailable("the audit writer stopped".into()))?
    }

    /// The store (reads, feedback, purge).
    pub fn store(&self) -> &Arc<dyn AuditStore> {
        &self.store
    }
}
