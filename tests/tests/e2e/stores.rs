//! The store contract, run against both stores: a SQLite file in a temp dir
//! and a throwaway PostgreSQL cluster. Then what only PostgreSQL promises:
//! leases taken over across replicas, and refresh locks held across them.

use std::sync::Arc;
use std::time::Duration;
use switchboard::kv::{AdapterKv, KvWrites};
use switchboard::store::postgres::PgOptions;
use switchboard::store::sealed::{Sealer, SecretKey};
use switchboard::store::{
    self, CallLogKey, CallLogState, Database, OAuthTokens, OpenOptions, Reservation,
    StoredCredential, User,
};
use switchboard_tests::{DEADLINE, Postgres, SECRET_KEY, wait_until};

/// One database to run the contract on, kept alive with what it needs.
struct Backend {
    url: String,
    _pg: Option<Postgres>,
    _dir: tempfile::TempDir,
}

async fn sqlite() -> Backend {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    Backend {
        url,
        _pg: None,
        _dir: dir,
    }
}

async fn postgres() -> Backend {
    let pg = Postgres::start();
    Backend {
        url: pg.url(),
        _pg: Some(pg),
        _dir: tempfile::tempdir().unwrap(),
    }
}

async fn both() -> Vec<Backend> {
    vec![sqlite().await, postgres().await]
}

fn key() -> SecretKey {
    SecretKey::from_hex(SECRET_KEY).unwrap()
}

/// The database at `url`, as replica `replica` with reservation `lease`.
async fn open_as(url: &str, replica: &str, lease: Duration) -> Arc<dyn Database> {
    let options = OpenOptions {
        url: url.to_owned(),
        postgres: PgOptions {
            pool_size: 8,
            statement_timeout: Duration::from_secs(5),
            lease,
            replica_id: replica.to_owned(),
        },
        // Through the timing wrapper, so the contract holds with metrics on.
        timed: true,
    };
    store::open(options, Sealer::new(&key())).await.unwrap()
}

async fn open(url: &str) -> Arc<dyn Database> {
    open_as(url, "a", Duration::from_secs(30)).await
}

fn user(id: &str, credential: StoredCredential) -> User {
    User {
        id: id.into(),
        platform: "p".into(),
        crm_user_id: id.into(),
        name: "N".into(),
        hostname: "h".into(),
        timezone: Some("Europe/Paris".into()),
        credential: Some(credential),
        platform_additional_info: Some(r#"{"k":1}"#.into()),
    }
}

fn call(session: &str) -> CallLogKey {
    CallLogKey {
        platform: "p".into(),
        user_id: "u-p".into(),
        session_id: session.into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_and_credentials_round_trip_on_both_stores() {
    for backend in both().await {
        let store = open(&backend.url).await;
        let api = user("1-p", StoredCredential::ApiKey("key-plain".into()));
        store.upsert_user(&api).await.unwrap();
        assert_eq!(
            store.user("1-p").await.unwrap(),
            Some(api),
            "{}",
            backend.url
        );
        let tokens = OAuthTokens {
            access_token: "access-plain".into(),
            refresh_token: Some("refresh-plain".into()),
            expires_at: Some(1_700_000_000_000),
        };
        let oauth = user("2-p", StoredCredential::OAuth(tokens.clone()));
        store.upsert_user(&oauth).await.unwrap();
        assert_eq!(store.user("2-p").await.unwrap(), Some(oauth));
        let fresh = OAuthTokens {
            access_token: "access-2".into(),
            ..tokens
        };
        store.set_oauth_tokens("2-p", &fresh).await.unwrap();
        let credential = store.user("2-p").await.unwrap().unwrap().credential;
        assert_eq!(credential, Some(StoredCredential::OAuth(fresh)));
        assert!(store.clear_credential("2-p").await.unwrap());
        assert_eq!(store.user("2-p").await.unwrap().unwrap().credential, None);
        assert!(!store.clear_credential("nobody").await.unwrap());
        assert_eq!(store.user("nobody").await.unwrap(), None);
        store.close().await;

        // Another key does not open what this one sealed: start-up refuses.
        let options = OpenOptions {
            url: backend.url.clone(),
            postgres: PgOptions {
                pool_size: 2,
                statement_timeout: Duration::from_secs(5),
                lease: Duration::from_secs(30),
                replica_id: "b".into(),
            },
            timed: false,
        };
        let refused = store::open(options, Sealer::new(&SecretKey::generate())).await;
        let Err(error) = refused else {
            panic!("another key is refused")
        };
        let error = format!("{error:#}");
        assert!(error.contains("rotate-secret-key"), "{error}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reservations_complete_release_and_read_back_on_both_stores() {
    for backend in both().await {
        let store = open(&backend.url).await;
        let (one, two) = (call("s-1"), call("s-2"));
        let reserved = store
            .reserve_call_log(&one, Some("t-1"), Some("c-1"))
            .await
            .unwrap();
        assert_eq!(reserved, Reservation::Reserved, "{}", backend.url);
        let Reservation::Exists(row) = store.reserve_call_log(&one, None, None).await.unwrap()
        else {
            panic!("a second reservation of one session")
        };
        assert_eq!(row.state, CallLogState::Pending);
        assert!(store.renew_call_log(&one).await.unwrap());
        // The adapter call's writes commit with the completion.
        let mut before = KvWrites::new("p");
        before.set("gone", b"x".to_vec());
        store.apply(&before).await.unwrap();
        let mut writes = KvWrites::new("p");
        writes.set("record/1", b"made".to_vec());
        writes.delete("gone");
        store
            .complete_call_log(&one, "log-1", &writes)
            .await
            .unwrap();
        assert_eq!(
            store.get("p", "record/1").await.unwrap().as_deref(),
            Some(&b"made"[..]),
            "{}",
            backend.url
        );
        assert_eq!(
            store.get("p", "gone").await.unwrap(),
            None,
            "{}",
            backend.url
        );
        let Reservation::Exists(row) = store.reserve_call_log(&one, None, None).await.unwrap()
        else {
            panic!("a logged session is reserved again")
        };
        assert_eq!(row.log_id(), Some("log-1"));
        assert_eq!(row.telephony_session_id.as_deref(), Some("t-1"));
        assert_eq!(row.contact_id.as_deref(), Some("c-1"));

        assert_eq!(
            store.reserve_call_log(&two, None, None).await.unwrap(),
            Reservation::Reserved
        );
        store.release_call_log(&two).await.unwrap();
        // Releasing never drops a logged row.
        store.release_call_log(&one).await.unwrap();
        let ids = ["s-1".to_owned(), "s-2".to_owned(), "s-3".to_owned()];
        let rows = store.call_logs("p", "u-p", &ids).await.unwrap();
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!(rows[0].log_id(), Some("log-1"));
        // Other users and platforms see nothing.
        assert!(store.call_logs("p", "v-p", &ids).await.unwrap().is_empty());
        assert!(store.call_logs("q", "u-p", &ids).await.unwrap().is_empty());
        assert!(store.call_logs("p", "u-p", &[]).await.unwrap().is_empty());
        store.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kv_is_scoped_by_platform_and_increments_atomically_on_both_stores() {
    for backend in both().await {
        let store = open(&backend.url).await;
        let kv: Arc<dyn AdapterKv> = store.clone();
        let mut writes = KvWrites::new("p");
        writes.set("k", b"one".to_vec());
        kv.apply(&writes).await.unwrap();
        writes.set("k", b"two".to_vec());
        kv.apply(&writes).await.unwrap();
        assert_eq!(
            kv.get("p", "k").await.unwrap().as_deref(),
            Some(&b"two"[..])
        );
        assert_eq!(kv.get("q", "k").await.unwrap(), None, "{}", backend.url);
        let mut writes = KvWrites::new("p");
        writes.delete("k");
        kv.apply(&writes).await.unwrap();
        kv.apply(&writes).await.unwrap();
        assert_eq!(kv.get("p", "k").await.unwrap(), None);

        // Two "replicas" (two stores on one database) add at once.
        let other: Arc<dyn AdapterKv> = open_as(&backend.url, "b", Duration::from_secs(30)).await;
        let adds = (0..100).map(|i| {
            let kv = if i % 2 == 0 {
                kv.clone()
            } else {
                other.clone()
            };
            async move { kv.increment("p", "n", 2).await.unwrap() }
        });
        let mut seen = futures::future::join_all(adds).await;
        seen.sort_unstable();
        assert_eq!(seen, (1..=100).map(|i| i * 2).collect::<Vec<i64>>());
        assert_eq!(
            kv.get("p", "n").await.unwrap().as_deref(),
            Some(&b"200"[..])
        );
        assert_eq!(kv.increment("q", "n", -1).await.unwrap(), -1);
        store.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_lease_is_taken_over_and_the_late_owner_cannot_complete() {
    let backend = postgres().await;
    let lease = Duration::from_secs(1);
    let a = open_as(&backend.url, "replica-a", lease).await;
    let b = open_as(&backend.url, "replica-b", lease).await;
    let session = call("lease");
    assert_eq!(
        a.reserve_call_log(&session, None, None).await.unwrap(),
        Reservation::Reserved
    );
    // While A renews, B cannot take the session over.
    let Reservation::Exists(row) = b.reserve_call_log(&session, None, None).await.unwrap() else {
        panic!("B reserved a session A holds")
    };
    assert_eq!(row.state, CallLogState::Pending);
    assert!(
        !b.renew_call_log(&session).await.unwrap(),
        "B holds no lease"
    );

    // A stops renewing (it died); after the lease, B takes over.
    wait_until(DEADLINE, async || {
        match b.reserve_call_log(&session, None, None).await.unwrap() {
            Reservation::Reserved => Ok(()),
            other => Err(format!("B to take over the expired lease; got {other:?}")),
        }
    })
    .await;
    // A comes back late: it no longer owns the row and changes nothing.
    assert!(!a.renew_call_log(&session).await.unwrap());
    let none = KvWrites::new("p");
    a.complete_call_log(&session, "log-from-a", &none)
        .await
        .unwrap();
    a.release_call_log(&session).await.unwrap();
    b.complete_call_log(&session, "log-from-b", &none)
        .await
        .unwrap();
    let rows = a.call_logs("p", "u-p", &["lease".into()]).await.unwrap();
    assert_eq!(rows[0].log_id(), Some("log-from-b"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewed_lease_is_never_taken_over() {
    let backend = postgres().await;
    let lease = Duration::from_secs(1);
    let a = open_as(&backend.url, "replica-a", lease).await;
    let b = open_as(&backend.url, "replica-b", lease).await;
    let session = call("renewed");
    assert_eq!(
        a.reserve_call_log(&session, None, None).await.unwrap(),
        Reservation::Reserved
    );
    // Three leases long, A renews every third of one; B keeps trying.
    let until = std::time::Instant::now() + 3 * lease;
    let mut attempts = 0;
    while std::time::Instant::now() < until {
        assert!(a.renew_call_log(&session).await.unwrap());
        for _ in 0..5 {
            let reservation = b.reserve_call_log(&session, None, None).await.unwrap();
            assert!(
                matches!(reservation, Reservation::Exists(_)),
                "{reservation:?}"
            );
            attempts += 1;
        }
        tokio::time::sleep(lease / 3).await;
    }
    assert!(attempts >= 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_refresh_lock_excludes_other_replicas_until_released() {
    let backend = postgres().await;
    let a = open_as(&backend.url, "replica-a", Duration::from_secs(30)).await;
    let b = open_as(&backend.url, "replica-b", Duration::from_secs(30)).await;
    let held = a.lock_user("7-p").await.unwrap();
    // Another user's lock is independent.
    drop(b.lock_user("8-p").await.unwrap());
    let (tx, mut acquired) = tokio::sync::oneshot::channel();
    let waiter = tokio::spawn(async move {
        let lock = b.lock_user("7-p").await.unwrap();
        let _ = tx.send(());
        drop(lock);
    });
    // Give B every chance to (wrongly) get in: it is blocked in PostgreSQL.
    let early = tokio::time::timeout(Duration::from_millis(500), &mut acquired).await;
    assert!(early.is_err(), "B took the lock while A held it");
    drop(held);
    tokio::time::timeout(DEADLINE, acquired)
        .await
        .expect("B gets the lock once A released it")
        .unwrap();
    waiter.await.unwrap();
}
