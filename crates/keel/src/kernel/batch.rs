//! Group commit for creates. Concurrent create requests queue here; one task takes whatever is
//! waiting (up to [`MAX_BATCH`]) and writes it in one transaction: one statement for the numbers,
//! one for the rows, two for the audit entries, however many items. Under load that spreads a
//! transaction's fixed cost over many creates; alone, a request waits for nothing.
//!
//! Each request is answered only after the commit, so an acknowledged create is durable. A
//! request that fails its own checks is answered with its error and does not affect the others;
//! if the transaction itself fails, every request in it gets the error and nothing was written.

use super::{Draft, insert_drafts, resolve};
use crate::platform::db::Db;
use crate::platform::error::{AppError, AppResult};
use tokio::sync::{mpsc, oneshot};

/// The most creates written in one transaction.
pub const MAX_BATCH: usize = 64;

struct Request {
    draft: Draft,
    reply: oneshot::Sender<AppResult<String>>,
}

/// The handle request handlers use; cheap to clone.
#[derive(Clone)]
pub struct Creator {
    queue: mpsc::Sender<Request>,
}

/// This node's group commit, kept in the application state (the kernel's part builds it).
pub fn creator(st: &crate::platform::web::AppState) -> &Creator {
    st.ext::<Creator>()
}

impl Creator {
    /// Start the writing task on the current tokio runtime; it ends when the last handle is dropped.
    pub fn start(db: Db) -> Creator {
        let (queue, rx) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(run(db, rx));
        Creator { queue }
    }

    /// Create one item; returns its number once committed.
    pub async fn create(&self, draft: Draft) -> AppResult<String> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Request { draft, reply })
            .await
            .map_err(|_| AppError::Internal(anyhow::anyhow!("the create queue has stopped")))?;
        answer.await.map_err(|_| {
            AppError::Internal(anyhow::anyhow!("the create queue dropped a request"))
        })?
    }
}

async fn run(db: Db, mut rx: mpsc::Receiver<Request>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        write(&db, std::mem::take(&mut batch)).await;
    }
}

async fn write(db: &Db, batch: Vec<Request>) {
    let mut tx = match db.begin().await {
        Ok(tx) => tx,
        Err(e) => return fail_all(batch.into_iter().map(|r| r.reply), &e.to_string()),
    };
    // Per-request checks first (reads only); the requests that pass are written together.
    let mut accepted = Vec::with_capacity(batch.len());
    for Request { mut draft, reply } in batch {
        match resolve(&mut tx, &mut draft).await {
            Ok(()) => accepted.push((draft, reply)),
            Err(e) => {
                let _ = reply.send(Err(e));
            }
        }
    }
    // One insert per kind, replies kept in the order of their drafts.
    let mut groups: Vec<(Vec<Draft>, Vec<Reply>)> = Vec::new();
    for kind in super::process::kinds() {
        let (mine, rest): (Vec<_>, Vec<_>) =
            accepted.into_iter().partition(|(d, _)| d.kind == kind);
        accepted = rest;
        if !mine.is_empty() {
            groups.push(mine.into_iter().unzip());
        }
    }
    let mut answered: Vec<(Reply, String)> = Vec::new();
    let mut failed: Option<(String, Vec<Reply>)> = None;
    for (drafts, replies) in groups {
        if let Some((_, waiting)) = failed.as_mut() {
            waiting.extend(replies);
            continue;
        }
        match insert_drafts(&mut tx, drafts).await {
            Ok(numbers) => answered.extend(replies.into_iter().zip(numbers)),
            Err(e) => failed = Some((e.to_string(), replies)),
        }
    }
    if failed.is_none()
        && let Err(e) = tx.commit().await
    {
        failed = Some((e.to_string(), Vec::new()));
    }
    match failed {
        Some((why, waiting)) => fail_all(
            waiting
                .into_iter()
                .chain(answered.into_iter().map(|(r, _)| r)),
            &why,
        ),
        None => {
            for (reply, number) in answered {
                let _ = reply.send(Ok(number));
            }
        }
    }
}

type Reply = oneshot::Sender<AppResult<String>>;

fn fail_all(replies: impl Iterator<Item = Reply>, why: &str) {
    tracing::error!(
        error = why,
        "a batch of creates failed; nothing of it was written"
    );
    for r in replies {
        let _ = r.send(Err(AppError::Internal(anyhow::anyhow!(
            "create failed: {why}"
        ))));
    }
}
