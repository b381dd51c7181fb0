//! Switchboard: a self-hosted call-logging server for CRMs.
//!
//! It speaks the RingCentral App Connect server API (`/callLog` and friends)
//! and delegates every CRM operation to an adapter: a WebAssembly component
//! built against the WIT package in `wit/`, loaded from a plugins directory.
//!
//! Layers, each knowing only the ones below it: [`api`] (HTTP) →
//! [`service`] (call-logging rules) → [`store`] (SQL) and [`registry`]
//! (which adapter serves a platform) → [`runtime`] (wasmtime). Below them
//! all: [`auth`] (tokens, OAuth), [`egress`] (the one outbound client),
//! [`config`], and the small shared pieces [`kv`], [`private_file`],
//! [`clock`] and [`log_filter`]. `ARCHITECTURE.md` draws the whole picture.

pub mod api;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod egress;
pub mod kv;
pub mod log_filter;
pub mod private_file;
pub mod registry;
pub mod runtime;
pub mod scaffold;
pub mod service;
pub mod store;
pub mod telemetry;

use anyhow::Context;
use api::{AppState, HttpOptions};
use config::Config;
use registry::Registry;
use runtime::Runtime;
use runtime::cache::ArtifactCache;
use service::Service;

use store::sealed::Sealer;
use tokio::net::TcpListener;

/// The version of the WIT package `switchboard:adapter` this host serves,
/// read from `wit/adapter.wit` at build time.
pub const WIT_VERSION: &str = env!("SWITCHBOARD_WIT_VERSION");

/// Serve the API on `listener` until `shutdown` resolves, then let in-flight
/// requests finish (for at most `config.shutdown_grace`).
///
/// The listener is bound before adapters load; `GET /healthz` answers 503
/// until they have.
pub async fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    config.validate()?;
    runtime::check_limits(&config.sandbox)?;
    anyhow::ensure!(
        config.plugins_dir.is_dir(),
        "plugins directory {} does not exist (build the adapters with `cargo xtask build`)",
        config.plugins_dir.display()
    );
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
    let secret_key =
        store::sealed::load_or_generate_key(config.secret_key.as_ref(), &config.data_dir)?;
    let replica_id = format!("{:016x}", rand::random::<u64>());
    let options = store::OpenOptions {
        url: config.database_url(),
        postgres: store::postgres::PgOptions {
            pool_size: config.database_pool_size,
            statement_timeout: config.database_statement_timeout,
            lease: config.reservation_lease(),
            replica_id: replica_id.clone(),
        },
        timed: config.metrics_listen.is_some(),
    };
    let store = store::open(options, Sealer::new(&secret_key))
        .await
        .context("opening the database")?;
    let metrics = match config.metrics_listen {
        Some(address) => Some(serve_metrics(address, store.clone()).await?),
        None => None,
    };
    let secret = auth::load_or_generate_secret(config.jwt_secret.as_ref(), &config.data_dir)?;
    let jwt = auth::JwtKeys::new(&secret, config.jwt_ttl, config.jwt_renew_within);
    let cache = ArtifactCache::new(
        config
            .cache_dir
            .clone()
            .unwrap_or_else(|| config.data_dir.join("cache")),
        config.cache_max_mib * 1024 * 1024,
    )
    .context("creating the artifact cache")?;
    let egress = config.sandbox.egress_client()?;
    let runtime = Runtime::new(&config.sandbox, store.clone(), egress.clone(), Some(cache))?;
    // What the fleet deployed while this replica was away, in place before
    // the adapters load.
    if let Err(e) = service::sync_deployments(store.as_ref(), &config.plugins_dir).await {
        tracing::warn!(error = %e, "applying the fleet's adapter deployments at start-up");
    }
    let parallelism = std::thread::available_parallelism().map_or(2, |n| n.get());
    let (registry, _watcher) = Registry::start(
        runtime,
        config.plugins_dir.clone(),
        parallelism,
        Some(config.reload_debounce),
    )
    .context("starting the adapter registry")?;
    let replica = service::Replica::new(
        replica_id,
        listener.local_addr()?.to_string(),
        config.heartbeat_interval,
    );
    let options = service::ServiceOptions {
        details_concurrency: config.details_concurrency,
        refresh_margin: config.oauth_refresh_margin,
        log_id_cache: config.log_id_cache,
        ready_when: config.ready_when,
    };
    let service = Service::new(
        store.clone(),
        registry.clone(),
        egress,
        jwt,
        replica,
        options,
    );
    let heartbeats = tokio::spawn(heartbeat(service.clone(), config.heartbeat_interval));
    let deployments = tokio::spawn(service::follow_deployments(
        store.clone(),
        config.plugins_dir.clone(),
        config.deployment_check_interval,
    ));

    let limits = HttpOptions {
        body_bytes: config.body_limit,
        upload_bytes: config.admin_upload_limit_mib * 1024 * 1024,
        request_timeout: config.request_timeout,
        access_log: config.access_log,
    };
    let admin_token = config.admin_token.as_ref().map(api::AdminToken::new);
    let app = api::router(
        AppState {
            service: std::sync::Arc::new(service.clone()),
            admin_token: admin_token.map(std::sync::Arc::new),
        },
        limits,
    );
    tracing::info!(address = %listener.local_addr()?, "listening");

    let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel();
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        shutdown.await;
        tracing::info!("shutting down; finishing in-flight requests");
        let _ = stopping_tx.send(());
    });
    let grace = config.shutdown_grace;
    tokio::select! {
        result = server => result.context("serving HTTP")?,
        () = async {
            if stopping_rx.await.is_ok() {
                tokio::time::sleep(grace).await;
            } else {
                std::future::pending::<()>().await;
            }
        } => tracing::warn!(?grace, "grace period over; dropping unfinished requests"),
    }
    heartbeats.abort();
    deployments.abort();
    if let Some(metrics) = metrics {
        metrics.abort();
    }
    if let Err(e) = service.leave_fleet().await {
        tracing::warn!(error = %e, "leaving the fleet view");
    }
    registry.shutdown();
    store.close().await;
    Ok(())
}

/// Serve `GET /metrics` on `address`; the store's pool gauges are read at
/// each scrape.
async fn serve_metrics(
    address: std::net::SocketAddr,
    store: std::sync::Arc<dyn store::Database>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let listener = TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen for metrics on {address}"))?;
    tracing::info!(address = %listener.local_addr()?, "serving metrics at /metrics");
    let before_scrape = std::sync::Arc::new(move || {
        let pool = store.pool();
        telemetry::store_pool(pool.store, pool.open, pool.idle);
    });
    Ok(telemetry::exporter::serve(listener, before_scrape)?)
}

/// Report this replica to the fleet view every `every`, for as long as it
/// serves. A failed report is logged; the next one may succeed.
async fn heartbeat(service: Service, every: std::time::Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = service.heartbeat().await {
            tracing::warn!(error = %e, "reporting to the fleet view");
        }
    }
}
