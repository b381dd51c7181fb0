//! The cost of one adapter operation through the runtime: a fresh `Store`
//! and instance from the adapter's `InstancePre`, then the call, for
//! testCRM's `create-call-log`. Key-value storage is an in-memory map here,
//! so the figure is the sandbox's cost, not SQLite's.
//!
//! `cargo bench -p switchboard-tests --bench dispatch`

#![allow(clippy::unwrap_used, missing_docs, reason = "benchmark")]

use clap::Parser;
use criterion::{Criterion, criterion_group, criterion_main};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use switchboard::config::RuntimeConfig;
use switchboard::runtime::{
    AdapterKv, Call, ContactRef, CreateCallLogRequest, Credential, Direction, Party, Runtime,
    UserContext,
};
use switchboard_tests::artifacts;

#[derive(Debug, Default)]
struct MemoryKv(Mutex<HashMap<(String, String), Vec<u8>>>);

#[async_trait::async_trait]
impl AdapterKv for MemoryKv {
    async fn get(&self, platform: &str, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
        Ok(self
            .0
            .lock()
            .unwrap()
            .get(&(platform.into(), key.into()))
            .cloned())
    }
    async fn set(&self, platform: &str, key: &str, value: &[u8]) -> anyhow::Result<()> {
        self.0
            .lock()
            .unwrap()
            .insert((platform.into(), key.into()), value.to_vec());
        Ok(())
    }
    async fn delete(&self, platform: &str, key: &str) -> anyhow::Result<()> {
        self.0
            .lock()
            .unwrap()
            .remove(&(platform.into(), key.into()));
        Ok(())
    }
    async fn increment(&self, platform: &str, key: &str, delta: i64) -> anyhow::Result<i64> {
        let mut map = self.0.lock().unwrap();
        let slot = map
            .entry((platform.into(), key.into()))
            .or_insert_with(|| b"0".to_vec());
        let next = String::from_utf8_lossy(slot).parse::<i64>().unwrap_or(0) + delta;
        *slot = next.to_string().into_bytes();
        Ok(next)
    }
}

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    runtime: RuntimeConfig,
}

fn request() -> CreateCallLogRequest {
    CreateCallLogRequest {
        user: UserContext {
            user_id: "test-1".into(),
            hostname: "crm.example".into(),
            credential: Credential::ApiKey("key".into()),
            timezone: None,
        },
        call: Call {
            id: "X2AvJPtwNQbNQA".into(),
            session_id: "4503991004".into(),
            telephony_session_id: Some("s-9a03590172ea4d39a7cf7d5b6dba6a3b".into()),
            direction: Direction::Inbound,
            start_time: 1_536_672_249_000,
            duration_seconds: 65,
            result: "Accepted".into(),
            from: Party {
                phone_number: Some("+16504445566".into()),
                name: Some("John Smith".into()),
            },
            to: Party {
                phone_number: Some("+18662019834".into()),
                name: Some("Jane Smith".into()),
            },
            recording_link: Some("https://app.ringcentral.com/recordings/1001".into()),
            custom_subject: None,
        },
        contact: ContactRef {
            id: "42".into(),
            contact_type: None,
            name: Some("John Smith".into()),
        },
        note: Some("Discussed renewal".into()),
        additional_submission: None,
    }
}

fn dispatch(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let config = Cli::try_parse_from(["bench"]).unwrap().runtime;
    let runtime = Runtime::new(&config, Arc::new(MemoryKv::default()), None).unwrap();
    let bytes = std::fs::read(artifacts::TESTCRM).unwrap();
    let (adapter, _) = rt
        .block_on(runtime.load(bytes, "bench", Default::default()))
        .unwrap();
    let request = request();
    c.bench_function("testcrm create-call-log, fresh instance + call", |b| {
        b.to_async(&rt).iter(|| async {
            adapter.create_call_log(request.clone()).await.unwrap();
        });
    });
}

criterion_group!(benches, dispatch);
criterion_main!(benches);
