//! Crash safety: the server is killed with SIGKILL in the middle of a
//! stream of creates, ten times in a row, and restarted on the same data
//! dir each time. Every acknowledged create is still found, no session has
//! two records in testCRM, and creates the crash cut off log exactly once
//! when retried.
//!
//! The documented rule for a reservation a crash leaves `pending`: SQLite
//! serves one process, so at start-up it is released with a warning;
//! PostgreSQL lets it expire with its lease. Either way the next create of
//! that session calls the adapter again; testCRM dedupes by session, so
//! that call returns the record the cut-off create made, if it made one.

use serde_json::json;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use switchboard_tests::{
    ChildServer, DEADLINE, Dirs, Outcomes, artifacts, create_body, stream_creates, wait_until,
};

/// A short lease, so cut-off sessions on PostgreSQL free up soon.
const LEASE: &[&str] = &["--reservation-lease", "2s"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_stream_loses_and_duplicates_nothing() {
    let dirs = Dirs::with_adapters(&[artifacts::TESTCRM]);
    let outcomes = Arc::new(Mutex::new(Outcomes::default()));
    for round in 0..10 {
        let server = ChildServer::start(&dirs, LEASE).await;
        let token = server.login("testCRM", "crash-key").await;
        let acked_before = outcomes.lock().unwrap().acked.len();
        let clients: Vec<_> = (0..4)
            .map(|c| {
                tokio::spawn(stream_creates(
                    server.base.clone(),
                    token.clone(),
                    format!("r{round}-c{c}"),
                    outcomes.clone(),
                ))
            })
            .collect();
        // Kill once the stream is well under way.
        wait_until(DEADLINE, async || {
            match outcomes.lock().unwrap().acked.len() {
                acked if acked >= acked_before + 12 => Ok(()),
                acked => Err(format!(
                    "round {round}: creates to flow; {acked} acknowledged"
                )),
            }
        })
        .await;
        server.kill();
        for client in clients {
            client.await.unwrap();
        }
    }

    let server = ChildServer::start(&dirs, LEASE).await;
    let token = server.login("testCRM", "crash-key").await;
    let (acked, cut_off) = {
        let outcomes = outcomes.lock().unwrap();
        (outcomes.acked.clone(), outcomes.cut_off.clone())
    };
    assert!(acked.len() >= 120, "{} acknowledged creates", acked.len());
    eprintln!(
        "10 SIGKILLs: {} creates acknowledged, {} cut off",
        acked.len(),
        cut_off.len()
    );
    for (session, log_id) in &acked {
        let log = server.find(&token, session).await;
        assert_eq!(
            log["matched"], true,
            "acknowledged {session} was lost: {log}"
        );
        assert_eq!(log["logId"], log_id.as_str(), "{session}");
    }

    // Creates the crash cut off log exactly once when retried. (On
    // PostgreSQL the cut-off reservation answers LOG_IN_PROGRESS until its
    // lease runs out.)
    for session in &cut_off {
        let path = format!("/callLog?jwtToken={token}");
        wait_until(DEADLINE, async || {
            let reply = server
                .post(&path, &create_body(session, json!(1), "retried"))
                .await;
            let logged = reply["successful"] == true
                || reply["returnMessage"]["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("Existing log"));
            match (logged, reply["errorCode"].as_str()) {
                (true, _) => Ok(()),
                (false, Some("LOG_IN_PROGRESS")) => Err(format!("{session}: lease to end")),
                _ => panic!("{session}: {reply}"),
            }
        })
        .await;
        assert_eq!(
            server.find(&token, session).await["matched"],
            true,
            "{session}"
        );
    }
    drop(server);

    let records = dirs.testcrm_records().await;
    let mut per_session: BTreeMap<String, usize> = BTreeMap::new();
    for record in &records {
        *per_session
            .entry(record["sessionId"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    let twice: Vec<_> = per_session.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "sessions with two records: {twice:?}");
    assert_eq!(
        records.len(),
        acked.len() + cut_off.len(),
        "one record per session"
    );
}
