//! The cost of one adapter operation, testCRM's `create-call-log`, three ways:
//!
//! - **native**: testCRM's own Rust code (`testcrm::create_call_log`) called
//!   directly over an in-memory map, with no sandbox: the floor;
//! - **sandboxed**: through the runtime as production runs it, a fresh
//!   `Store` and instance from the adapter's `InstancePre`, then the call;
//! - **instantiate**: the fresh instance alone, with no call;
//! - **reused**: as sandboxed, with the operator's opt-in
//!   `[runtime] reuse = "per-user"`: every iteration is the same user's, so
//!   after the first each runs in the user's kept instance (up to the
//!   policy's `max_calls`, then a fresh one).
//!
//! Key-value storage is an in-memory map on both sides, so the difference is
//! the sandbox's cost, not SQLite's.
//!
//! A second group runs the same create, and the fresh instance alone, on
//! testCRM's TypeScript and Python rewrites (`examples/`, built by `cargo
//! xtask build --examples`), so each language's per-call cost reads against
//! the same native floor, with and without reuse.
//!
//! `cargo bench -p switchboard-tests --bench dispatch`

#![allow(clippy::unwrap_used, missing_docs, reason = "benchmark")]

use clap::Parser;
use criterion::{Criterion, criterion_group};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::hint::black_box;
use std::sync::{Arc, Mutex};
use switchboard::config::SandboxConfig;
use switchboard::kv::{AdapterKv, KvWrites};
use switchboard::runtime::cache::ArtifactCache;
use switchboard::runtime::{OperatorSettings, Reuse, ReuseBounds, Runtime};
use switchboard_adapter as guest;
use switchboard_tests::{artifacts, examples};

/// Entries [`MemoryKv`] holds before it starts over.
const MAX_ENTRIES: usize = 10_000;

/// A map of (platform, key) to value, behind a lock like a real store.
#[derive(Debug, Default)]
struct MemoryKv(Mutex<HashMap<(String, String), Vec<u8>>>);

impl MemoryKv {
    fn get(&self, platform: &str, key: &str) -> Option<Vec<u8>> {
        self.0
            .lock()
            .unwrap()
            .get(&(platform.into(), key.into()))
            .cloned()
    }
    fn set(&self, platform: &str, key: &str, value: &[u8]) {
        let mut map = self.0.lock().unwrap();
        // Every iteration stores a new session: start over now and then, so
        // the map stays the size of a warm working set rather than growing
        // by millions of entries (and cache misses) over a run.
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert((platform.into(), key.into()), value.to_vec());
    }
    fn increment(&self, platform: &str, key: &str, delta: i64) -> i64 {
        let mut map = self.0.lock().unwrap();
        let slot = map
            .entry((platform.into(), key.into()))
            .or_insert_with(|| b"0".to_vec());
        let next = String::from_utf8_lossy(slot).parse::<i64>().unwrap_or(0) + delta;
        *slot = next.to_string().into_bytes();
        next
    }
}

#[async_trait::async_trait]
impl AdapterKv for MemoryKv {
    async fn get(&self, platform: &str, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
        Ok(MemoryKv::get(self, platform, key))
    }
    async fn increment(&self, platform: &str, key: &str, delta: i64) -> anyhow::Result<i64> {
        Ok(MemoryKv::increment(self, platform, key, delta))
    }
    async fn apply(&self, writes: &KvWrites) -> anyhow::Result<()> {
        let platform = writes.platform();
        for (key, value) in writes.sets() {
            MemoryKv::set(self, platform, key, value);
        }
        let mut map = self.0.lock().unwrap();
        for key in writes.deletes() {
            map.remove(&(platform.into(), key.into()));
        }
        Ok(())
    }
}

/// The same map, as testCRM's native storage.
impl testcrm::Storage for MemoryKv {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, guest::kv::KvError> {
        Ok(MemoryKv::get(self, testcrm::PLATFORM, key))
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<(), guest::kv::KvError> {
        MemoryKv::set(self, testcrm::PLATFORM, key, value);
        Ok(())
    }
    fn increment(&self, key: &str, delta: i64) -> Result<i64, guest::kv::KvError> {
        Ok(MemoryKv::increment(self, testcrm::PLATFORM, key, delta))
    }
}

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    sandbox: SandboxConfig,
}

const SESSION: &str = "4503991004";

/// The reference call (RingCentral's documented example, as in
/// `tests/data/ringcentral-call-log.json`) as a `create-call-log` request,
/// in the types of `$types`: the host's bindings or the guest SDK's.
macro_rules! reference_request {
    ($types:path, $session_id:expr) => {{
        use $types as t;
        t::CreateCallLogRequest {
            user: t::UserContext {
                user_id: "test-1".into(),
                hostname: "crm.example".into(),
                credential: t::Credential::ApiKey("key".into()),
                timezone: None,
            },
            call: t::Call {
                id: "X2AvJPtwNQbNQA".into(),
                session_id: $session_id,
                telephony_session_id: Some("s-9a03590172ea4d39a7cf7d5b6dba6a3b".into()),
                direction: t::Direction::Inbound,
                start_time: 1_536_672_249_000,
                duration_seconds: 65,
                result: "Accepted".into(),
                from: t::Party {
                    phone_number: Some("+16504445566".into()),
                    name: Some("John Smith".into()),
                },
                to: t::Party {
                    phone_number: Some("+18662019834".into()),
                    name: Some("Jane Smith".into()),
                },
                recording_link: Some("https://app.ringcentral.com/recordings/1001".into()),
                recording_download_link: None,
                custom_subject: None,
                legs: Vec::new(),
            },
            contact: t::ContactRef {
                id: "42".into(),
                contact_type: None,
                name: Some("John Smith".into()),
            },
            note: Some("Discussed renewal".into()),
            ai_note: None,
            transcript: None,
            additional_submission: None,
        }
    }};
}

/// A tokio runtime, the kv map and an adapter runtime over them with the
/// server's default sandbox flags, and `cache` when given.
fn bench_runtime(
    cache: Option<ArtifactCache>,
) -> (tokio::runtime::Runtime, Arc<MemoryKv>, Runtime) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let config = Cli::try_parse_from(["bench"]).unwrap().sandbox;
    let kv = Arc::new(MemoryKv::default());
    let egress = config.egress_client().unwrap();
    let runtime = Runtime::new(&config, kv.clone(), egress, cache).unwrap();
    (rt, kv, runtime)
}

fn dispatch(c: &mut Criterion) {
    let (rt, kv, runtime) = bench_runtime(None);
    let bytes = std::fs::read(artifacts::TESTCRM).unwrap();
    let (adapter, _) = rt
        .block_on(runtime.load(bytes.clone(), "bench", Default::default()))
        .unwrap();

    // Every iteration creates a new session's record, the production case
    // (a repeated session would take testCRM's shorter idempotent path).
    let mut group = c.benchmark_group(GROUP);
    let mut n = 0u64;
    group.bench_function("native", |b| {
        b.iter(|| {
            n += 1;
            let request = reference_request!(switchboard_adapter, format!("{SESSION}-{n}"));
            black_box(testcrm::create_call_log(kv.as_ref(), request).unwrap());
        });
    });
    sandboxed_create(&mut group, "sandboxed", &rt, &adapter, &kv, &mut n);
    group.bench_function("instantiate", |b| {
        b.to_async(&rt)
            .iter(|| async { adapter.instantiate().await.unwrap() });
    });
    let (reusing, _) = rt
        .block_on(runtime.load(bytes, "bench", reuse_per_user()))
        .unwrap();
    sandboxed_create(&mut group, "reused", &rt, &reusing, &kv, &mut n);
    group.finish();
}

/// The operator's opt-in to per-user reuse, with its default bounds.
fn reuse_per_user() -> OperatorSettings {
    OperatorSettings {
        reuse: Reuse::PerUser(ReuseBounds::default()),
        ..OperatorSettings::default()
    }
}

/// `create-call-log` of a new session each iteration, through the runtime
/// as production runs it, its kv writes committed as the native run stores
/// its own.
fn sandboxed_create(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    rt: &tokio::runtime::Runtime,
    adapter: &switchboard::runtime::Adapter,
    kv: &Arc<MemoryKv>,
    n: &mut u64,
) {
    group.bench_function(name, |b| {
        b.to_async(rt).iter(|| {
            *n += 1;
            let request = reference_request!(switchboard::runtime, format!("{SESSION}-{n}"));
            async move {
                let (created, writes) = adapter.create_call_log(request).await.unwrap();
                kv.apply(&writes).await.unwrap();
                black_box(created)
            }
        });
    });
}

/// The TypeScript and Python testCRMs: the same create, and a fresh
/// instance alone. Their artifacts come from the suite's shared cache, so
/// a run compiles each (10 s or more) only once.
fn guest_languages(c: &mut Criterion) {
    let cache = ArtifactCache::new(examples::shared_cache().into(), 4 << 30).unwrap();
    let (rt, kv, runtime) = bench_runtime(Some(cache));
    let mut group = c.benchmark_group(GUEST_GROUP);
    let mut n = 0u64;
    for (language, component) in [
        ("typescript", examples::jstestcrm()),
        ("python", examples::pytestcrm()),
    ] {
        let bytes = std::fs::read(&component).unwrap();
        let sha = hex::encode(Sha256::digest(&bytes));
        let (adapter, _) = rt
            .block_on(runtime.load(bytes.clone(), &sha, Default::default()))
            .unwrap();
        let name = format!("{language} sandboxed");
        sandboxed_create(&mut group, &name, &rt, &adapter, &kv, &mut n);
        group.bench_function(format!("{language} instantiate"), |b| {
            b.to_async(&rt)
                .iter(|| async { adapter.instantiate().await.unwrap() });
        });
        let (reusing, _) = rt
            .block_on(runtime.load(bytes, &sha, reuse_per_user()))
            .unwrap();
        let name = format!("{language} reused");
        sandboxed_create(&mut group, &name, &rt, &reusing, &kv, &mut n);
    }
    group.finish();
}

/// The criterion groups' names, and where criterion keeps their estimates.
const GROUP: &str = "testcrm create-call-log";
const GUEST_GROUP: &str = "guest-language create-call-log";

/// Print the three medians and the sandbox's overhead, from the estimates
/// criterion just wrote (`<target>/criterion/<group>/<bench>/new/`).
fn report_medians() {
    let Some(target) = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.parent()?.to_owned()))
    else {
        return;
    };
    let median_in = |group: &str, bench: &str| -> Option<f64> {
        let path = target.join(format!("criterion/{group}/{bench}/new/estimates.json"));
        let estimates: serde_json::Value =
            serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
        Some(estimates["median"]["point_estimate"].as_f64()? / 1000.0)
    };
    let median = |bench: &str| median_in(GROUP, bench);
    let (Some(native), Some(sandboxed), Some(instantiate), Some(reused)) = (
        median("native"),
        median("sandboxed"),
        median("instantiate"),
        median("reused"),
    ) else {
        return; // not measured (`--list`, `--test`)
    };
    eprintln!(
        "medians: (a) native {native:.2} µs, (b) sandboxed {sandboxed:.2} µs, (c) instantiate {instantiate:.2} µs, (d) reused {reused:.2} µs"
    );
    eprintln!(
        "sandbox overhead (b - a): {:.2} µs; ratio b/a: {:.1}",
        sandboxed - native,
        sandboxed / native
    );
    for language in ["typescript", "python"] {
        let guest = |bench: &str| median_in(GUEST_GROUP, &format!("{language} {bench}"));
        let (Some(call), Some(fresh), Some(reused)) =
            (guest("sandboxed"), guest("instantiate"), guest("reused"))
        else {
            continue;
        };
        eprintln!(
            "{language}: sandboxed {call:.2} µs (overhead over native {:.3} ms), instantiate {fresh:.2} µs, \
             reused {reused:.2} µs (overhead over native {:.3} ms)",
            (call - native) / 1000.0,
            (reused - native) / 1000.0
        );
    }
}

criterion_group!(benches, dispatch, guest_languages);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    report_medians();
}
