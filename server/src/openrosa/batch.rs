//! Group commit for OpenRosa submissions. Each submission is one record (and its photos), so
//! pushed one by one, every submission would pay a transaction, the evidence projection and the
//! indicator projection of its own. Submissions that arrive while a batch is being written wait
//! for the next batch and are pushed together, as one push of several devices, in one commit;
//! each request gets its own answer. Under no load a batch is one submission and nothing waits.
//!
//! What is derived from the records runs beside the writer, in a task of its own that takes
//! everything touched since its last run at once: the evidence flags of the visits and photos,
//! and the indicator projection of their municipalities. Under load its runs grow instead of
//! holding up the submissions; flags and values follow within a run. The projection keeps a
//! frontier per municipality, so a stop between a commit and its projection loses nothing: the
//! server catches every municipality up when it starts (flags: `jmet flags rebuild`).

use std::sync::Weak;

use sync_protocol::PushResponse;
use tokio::sync::{mpsc, oneshot};

use crate::api::AppInner;
use crate::evidence::flags::Touched;
use crate::storage::{AuthedDevice, OpenRosaInstance};
use crate::sync::{CheckedPush, PushContext};

/// At most this many submissions in one transaction, so that one batch stays short.
const MAX_BATCH: usize = 64;
/// The projector starts a run at most this often. A run's cost is mostly per statement, not per
/// submission, so under a stream of submissions waiting a little lets each run take many more
/// of them (measured: 0.6 ms a submission in runs of one per municipality, 0.25 ms in runs of
/// a few hundred); an idle server still projects the first submission at once.
const PROJECTOR_GAP: std::time::Duration = std::time::Duration::from_millis(500);
/// After a run, the projector rests this many times as long as the run took. A run recomputes
/// each touched value from all the facts of its period, so on a growing database runs grow
/// too; run back to back they would hold the one writer most of the time and submissions would
/// slow with the database. Resting in proportion keeps the projector's share of the writer
/// bounded (a quarter) whatever the size, at the price of values trailing further behind.
const PROJECTOR_REST: u32 = 3;

pub struct Job {
    pub device: AuthedDevice,
    /// The records the submission writes: collection, record id, municipality.
    pub touched: Vec<Touched>,
    /// Its ops, checked by the request itself: the checks read the database, and made in each
    /// request they run side by side instead of one batch after another in the writer.
    pub push: CheckedPush,
    /// The instance as received; its outcome is filled in from the push's answer.
    pub instance: OpenRosaInstance,
    pub reply: oneshot::Sender<Result<(PushResponse, String), String>>,
}

pub struct Batcher {
    jobs: mpsc::Sender<Job>,
}

/// Starts the projector of what the batches touched; answers where to name it.
fn spawn_projector(app: Weak<AppInner>) -> mpsc::UnboundedSender<Vec<Touched>> {
    let (touched, mut queue) = mpsc::unbounded_channel::<Vec<Touched>>();
    tokio::spawn(async move {
        while let Some(first) = queue.recv().await {
            let started = tokio::time::Instant::now();
            let mut records = std::collections::BTreeSet::from_iter(first);
            while let Ok(more) = queue.try_recv() {
                records.extend(more);
            }
            let Some(app) = app.upgrade() else {
                break;
            };
            let records: Vec<Touched> = records.into_iter().collect();
            let now = crate::sync::now_ms() as i64;
            if let Err(e) = crate::evidence::flags::after_push(&app.storage, &records, now).await {
                tracing::warn!(error = %e, "evidence flags of OpenRosa submissions failed; run `jmet flags rebuild`");
            }
            let flags_took = started.elapsed();
            if app.settings.project_indicators {
                let scopes: std::collections::BTreeSet<String> =
                    records.iter().map(|(_, _, scope)| scope.clone()).collect();
                let scopes: Vec<String> = scopes.into_iter().collect();
                if let Err(e) = crate::series::project::catch_up(&app.storage, &scopes).await {
                    tracing::warn!(error = %e, "indicator projection of OpenRosa submissions failed; it catches up with the next one or at start");
                }
            }
            tracing::debug!(
                records = records.len(),
                flags_ms = flags_took.as_millis() as u64,
                total_ms = started.elapsed().as_millis() as u64,
                "openrosa projector run"
            );
            drop(app);
            let rest = PROJECTOR_GAP.max(started.elapsed() * (1 + PROJECTOR_REST));
            tokio::time::sleep_until(started + rest).await;
        }
    });
    touched
}

/// Runs `task` on a thread of its own. The batch writer is a chain of a dozen statements, each
/// a round trip to the database, and every submission of the batch waits for the chain. On the
/// server's runtime each step queued behind the requests being parsed before it ran on; on its
/// own thread it runs as soon as the database answers (30,000-submission runs of the OpenRosa
/// benchmark: 1,971–2,240/s against 1,671–1,876/s). The projector was tried there too: its
/// transactions took 13% less time, the rate did not move beyond the noise.
fn on_own_thread(name: &str, task: impl std::future::Future<Output = ()> + Send + 'static) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::warn!(error = %e, thread = name, "no runtime of its own; it shares the server's");
            tokio::spawn(task);
            return;
        }
    };
    let spawned = std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || runtime.block_on(task));
    // Its queue closes with it, so what is sent to it is answered with an error, not lost.
    if let Err(e) = spawned {
        tracing::error!(error = %e, thread = name, "could not start");
    }
}

impl Batcher {
    /// Starts the batch writer. It holds the app weakly, so it ends with the app.
    pub fn spawn(app: Weak<AppInner>) -> Batcher {
        let (jobs, mut queue) = mpsc::channel::<Job>(1024);
        let project = spawn_projector(app.clone());
        let writer = async move {
            while let Some(first) = queue.recv().await {
                let mut batch = vec![first];
                while batch.len() < MAX_BATCH {
                    match queue.try_recv() {
                        Ok(job) => batch.push(job),
                        Err(_) => break,
                    }
                }
                let Some(app) = app.upgrade() else {
                    break;
                };
                write(&app, batch, &project).await;
            }
        };
        on_own_thread("openrosa-writer", writer);
        Batcher { jobs }
    }

    /// Queues a submission; answers the push's answer and the instance's outcome.
    pub async fn submit(
        &self,
        device: AuthedDevice,
        touched: Vec<Touched>,
        push: CheckedPush,
        instance: OpenRosaInstance,
    ) -> Result<(PushResponse, String), String> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job {
                device,
                touched,
                push,
                instance,
                reply,
            })
            .await
            .map_err(|_| "the submission writer stopped".to_owned())?;
        answer
            .await
            .map_err(|_| "the submission writer stopped".to_owned())?
    }
}

/// The outcome kept with an instance: `applied`, or why it was refused.
fn outcome(refusals: &[String]) -> String {
    if refusals.is_empty() {
        "applied".to_owned()
    } else {
        format!("rejected: {}", refusals.join("; "))
    }
}

async fn write(app: &AppInner, batch: Vec<Job>, project: &mpsc::UnboundedSender<Vec<Touched>>) {
    let mut jobs = Vec::with_capacity(batch.len());
    let mut devices = Vec::with_capacity(batch.len());
    let mut checked = Vec::with_capacity(batch.len());
    for job in batch {
        devices.push(job.device);
        checked.push(job.push);
        jobs.push((job.touched, job.instance, job.reply));
    }
    let mut outcomes: Vec<String> = Vec::new();
    let answer = crate::sync::merge_checked(
        PushContext {
            storage: &app.storage,
            clock: &app.clock,
            max_clock_skew_ms: app.settings.max_clock_skew_ms,
            // Beside the writer: see the projector above.
            project_indicators: false,
            derive_evidence: false,
        },
        devices.iter().zip(checked).collect(),
        |refusals| {
            outcomes = refusals.iter().map(|r| outcome(r)).collect();
            jobs.iter()
                .zip(&outcomes)
                .map(|((_, instance, _), outcome)| OpenRosaInstance {
                    outcome: outcome.clone(),
                    ..instance.clone()
                })
                .collect()
        },
    )
    .await;
    match answer {
        Ok(responses) => {
            for ((touched, _, reply), (response, outcome)) in
                jobs.into_iter().zip(responses.into_iter().zip(outcomes))
            {
                let _ = project.send(touched);
                let _ = reply.send(Ok((response, outcome)));
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "openrosa: a batch of submissions failed");
            for (_, _, reply) in jobs {
                let _ = reply.send(Err(e.to_string()));
            }
        }
    }
}
