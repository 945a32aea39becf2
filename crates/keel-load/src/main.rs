//! keel-load: a closed-loop load generator for Keel's HTTP API.
//!
//! N client tasks each hold one keep-alive connection to a Keel server on the loopback
//! interface and send requests back to back for a fixed time, then the tool prints
//! throughput and latency percentiles per operation (and writes them as JSON on request).
//! See README.md beside Cargo.toml.

mod client;
mod hist;
mod report;
mod target;

use client::{Client, Outcome};
use hist::Histogram;
use hyper::{Method, StatusCode};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use target::Target;

use clap::{Parser, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "keel-load",
    version,
    about = "Drive Keel's HTTP API over loopback with N concurrent clients; print throughput and p50/p95/p99 latency per operation."
)]
struct Args {
    /// Base URL of the server. Only http:// to 127.0.0.1, localhost or [::1] is accepted.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// API token (from `keel token create`), sent as `Authorization: Bearer TOKEN`.
    #[arg(long, env = "KEEL_TOKEN", hide_env_values = true)]
    token: String,
    /// Concurrent clients, each with its own keep-alive connection.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=1024))]
    clients: u64,
    /// Seconds to measure (after the warm-up), at most 600.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=600))]
    duration: u64,
    /// What each client does.
    #[arg(long, value_enum)]
    scenario: Scenario,
    /// Seconds of load before measuring starts (not counted), at most 60.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=60))]
    warmup: u64,
    /// Stop once this many requests (warm-up included, seeding excluded) have been sent.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    max_requests: Option<u64>,
    /// Incidents to create before a `get` or `mixed` run, whose numbers the GETs pick from.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    seed: u64,
    /// Per-request timeout in seconds; a request that takes longer counts as an error.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=120))]
    timeout: u64,
    /// Tokio worker threads for the load generator (default: one per core).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=64))]
    threads: Option<u64>,
    /// Also write the figures as JSON to this file.
    #[arg(long, value_name = "OUT.json")]
    json: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Scenario {
    /// POST /api/v1/incidents, expecting 201.
    Create,
    /// GET /api/v1/incidents/{number} over seeded incidents, expecting 200.
    Get,
    /// 20 % create, 70 % get by number, 10 % list (?limit=50).
    Mixed,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::Create => "create",
            Scenario::Get => "get",
            Scenario::Mixed => "mixed",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Create,
    Get,
    List,
}

impl Op {
    pub const ALL: [Op; 3] = [Op::Create, Op::Get, Op::List];

    pub fn name(self) -> &'static str {
        match self {
            Op::Create => "create",
            Op::Get => "get",
            Op::List => "list",
        }
    }

    fn expected(self) -> StatusCode {
        match self {
            Op::Create => StatusCode::CREATED,
            Op::Get | Op::List => StatusCode::OK,
        }
    }
}

/// Figures for one operation: latencies of the requests that got the expected status, and
/// the others counted by what went wrong ("HTTP 404", "timeout", …).
#[derive(Default, Clone)]
pub struct OpStats {
    pub ok: Histogram,
    pub errors: BTreeMap<String, u64>,
}

impl OpStats {
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    fn merge(&mut self, o: &OpStats) {
        self.ok.merge(&o.ok);
        for (k, v) in &o.errors {
            *self.errors.entry(k.clone()).or_default() += v;
        }
    }
}

/// What all client tasks share.
struct Plan {
    scenario: Scenario,
    target: Arc<Target>,
    token: String,
    timeout: Duration,
    measure_from: Instant,
    end: Instant,
    max_requests: Option<u64>,
    sent: AtomicU64,
    title_seq: AtomicU64,
    numbers: Vec<String>,
}

impl Plan {
    fn create_body(&self) -> bytes::Bytes {
        let n = self.title_seq.fetch_add(1, Ordering::Relaxed) + 1;
        bytes::Bytes::from(format!(
            r#"{{"title":"load test {n}","impact":2,"urgency":2}}"#
        ))
    }
}

/// xorshift64*: plenty for picking operations and numbers, and no dependency.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32) % n
    }
}

struct WorkerResult {
    stats: [OpStats; 3],
    finished: Instant,
    connects: u64,
}

async fn worker(plan: Arc<Plan>, id: u64) -> WorkerResult {
    let mut stats: [OpStats; 3] = Default::default();
    let mut connects = 0;
    let mut client = match Client::new(plan.target.clone(), &plan.token, plan.timeout) {
        Ok(c) => c,
        Err(e) => {
            stats[0].errors.insert(e, 1);
            return WorkerResult {
                stats,
                finished: Instant::now(),
                connects,
            };
        }
    };
    let seed = id
        ^ (std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(7));
    let mut rng = Rng::new(seed.wrapping_add(id));
    loop {
        let started = Instant::now();
        if started >= plan.end {
            break;
        }
        if let Some(max) = plan.max_requests
            && plan.sent.fetch_add(1, Ordering::Relaxed) >= max
        {
            break;
        }
        let op = match plan.scenario {
            Scenario::Create => Op::Create,
            Scenario::Get => Op::Get,
            Scenario::Mixed => match rng.below(100) {
                0..20 => Op::Create,
                20..90 => Op::Get,
                _ => Op::List,
            },
        };
        let outcome = match op {
            Op::Create => {
                client
                    .send(Method::POST, "/api/v1/incidents", Some(plan.create_body()))
                    .await
            }
            Op::Get => {
                let n = &plan.numbers[rng.below(plan.numbers.len() as u64) as usize];
                client
                    .send(Method::GET, &format!("/api/v1/incidents/{n}"), None)
                    .await
            }
            Op::List => {
                client
                    .send(Method::GET, "/api/v1/incidents?limit=50", None)
                    .await
            }
        };
        let micros = started.elapsed().as_micros() as u64;
        let recording = started >= plan.measure_from;
        let st = &mut stats[op as usize];
        match outcome {
            Outcome::Response(status, _) if status == op.expected() => {
                if recording {
                    st.ok.record(micros);
                }
            }
            Outcome::Response(status, _) => {
                if recording {
                    *st.errors
                        .entry(format!("HTTP {}", status.as_u16()))
                        .or_default() += 1;
                }
            }
            Outcome::Transport(what) => {
                if recording {
                    *st.errors.entry(what).or_default() += 1;
                }
                // Do not spin against a server that is down.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    connects += client.connects;
    WorkerResult {
        stats,
        finished: Instant::now(),
        connects,
    }
}

fn short(body: &[u8]) -> String {
    String::from_utf8_lossy(body).chars().take(300).collect()
}

/// One request to check the URL and token before any load is sent.
async fn preflight(target: &Arc<Target>, token: &str, timeout: Duration) -> Result<(), String> {
    let mut c = Client::new(target.clone(), token, timeout)?;
    match c.send(Method::GET, "/api/v1/incidents?limit=1", None).await {
        Outcome::Response(StatusCode::OK, _) => Ok(()),
        Outcome::Response(StatusCode::UNAUTHORIZED, _) => Err(
            "the server rejected the token (401); create one with `keel token create --user EMAIL`"
                .into(),
        ),
        Outcome::Response(s, b) => Err(format!(
            "GET /api/v1/incidents?limit=1 answered {s}: {}",
            short(&b)
        )),
        Outcome::Transport(e) => Err(format!("cannot reach {}: {e}", target.authority)),
    }
}

/// Create `count` incidents with up to `parallel` connections; return their numbers.
async fn seed(
    target: &Arc<Target>,
    token: &str,
    timeout: Duration,
    count: u64,
    parallel: u64,
) -> Result<Vec<String>, String> {
    let parallel = parallel.min(count).max(1);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..parallel {
        let share = count / parallel + u64::from(i < count % parallel);
        let target = target.clone();
        let token = token.to_string();
        tasks.spawn(async move {
            let mut c = Client::new(target, &token, timeout)?;
            let mut out = Vec::with_capacity(share as usize);
            for j in 0..share {
                let body =
                    format!(r#"{{"title":"load test seed {i}-{j}","impact":2,"urgency":2}}"#);
                match c
                    .send(Method::POST, "/api/v1/incidents", Some(body.into()))
                    .await
                {
                    Outcome::Response(StatusCode::CREATED, b) => {
                        let v: serde_json::Value = serde_json::from_slice(&b)
                            .map_err(|e| format!("seeding: response is not JSON: {e}"))?;
                        let n = v
                            .get("number")
                            .and_then(|n| n.as_str())
                            .ok_or_else(|| format!("seeding: no \"number\" in {}", short(&b)))?;
                        out.push(n.to_string());
                    }
                    Outcome::Response(s, b) => {
                        return Err(format!(
                            "seeding: POST /api/v1/incidents answered {s}: {}",
                            short(&b)
                        ));
                    }
                    Outcome::Transport(e) => return Err(format!("seeding: {e}")),
                }
            }
            Ok::<_, String>(out)
        });
    }
    let mut numbers = Vec::with_capacity(count as usize);
    while let Some(r) = tasks.join_next().await {
        numbers.extend(r.map_err(|e| format!("seeding task failed: {e}"))??);
    }
    Ok(numbers)
}

async fn run(args: Args) -> Result<(), String> {
    let target = Arc::new(target::resolve(&args.url).await?);
    let timeout = Duration::from_secs(args.timeout);
    preflight(&target, &args.token, timeout).await?;

    let mut numbers = Vec::new();
    if matches!(args.scenario, Scenario::Get | Scenario::Mixed) {
        let t = Instant::now();
        numbers = seed(&target, &args.token, timeout, args.seed, args.clients).await?;
        eprintln!(
            "keel-load: seeded {} incidents in {:.2} s",
            numbers.len(),
            t.elapsed().as_secs_f64()
        );
    }

    let loadavg = report::loadavg();
    let start = Instant::now();
    let measure_from = start + Duration::from_secs(args.warmup);
    let plan = Arc::new(Plan {
        scenario: args.scenario,
        target: target.clone(),
        token: args.token.clone(),
        timeout,
        measure_from,
        end: measure_from + Duration::from_secs(args.duration),
        max_requests: args.max_requests,
        sent: AtomicU64::new(0),
        title_seq: AtomicU64::new(0),
        numbers,
    });
    eprintln!(
        "keel-load: {} clients, scenario {}, {} s warm-up + {} s against {}",
        args.clients,
        args.scenario.name(),
        args.warmup,
        args.duration,
        args.url
    );
    let mut tasks = tokio::task::JoinSet::new();
    for id in 0..args.clients {
        tasks.spawn(worker(plan.clone(), id));
    }
    let mut stats: [OpStats; 3] = Default::default();
    let mut last = measure_from;
    let mut connects = 0;
    while let Some(r) = tasks.join_next().await {
        let r = r.map_err(|e| format!("client task failed: {e}"))?;
        for (a, b) in stats.iter_mut().zip(&r.stats) {
            a.merge(b);
        }
        last = last.max(r.finished);
        connects += r.connects;
    }
    let elapsed = last.saturating_duration_since(measure_from).as_secs_f64();

    let rep = report::Report {
        url: &args.url,
        scenario: args.scenario.name(),
        clients: args.clients,
        warmup_s: args.warmup,
        duration_s: args.duration,
        elapsed_s: elapsed,
        connections: connects,
        loadavg,
        cores: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        ops: Op::ALL
            .iter()
            .map(|&op| (op, &stats[op as usize]))
            .filter(|(_, s)| s.ok.len() + s.error_count() > 0)
            .collect(),
    };
    print!("{}", rep.table());
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&rep.json()).map_err(|e| e.to_string())?;
        std::fs::write(path, text + "\n").map_err(|e| format!("--json {}: {e}", path.display()))?;
        eprintln!("keel-load: wrote {}", path.display());
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    rt.enable_all();
    if let Some(n) = args.threads {
        rt.worker_threads(n as usize);
    }
    let rt = match rt.build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("keel-load: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("keel-load: {e}");
            ExitCode::FAILURE
        }
    }
}
