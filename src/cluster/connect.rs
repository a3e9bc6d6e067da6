//! kubeconfig resolution as kubectl does it: --kubeconfig, then $KUBECONFIG,
//! then ~/.kube/config, then the in-cluster service account.

use std::sync::{Arc, Once};

use anyhow::Context as _;
use hyper_timeout::TimeoutConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use kube::client::ConfigExt;
use kube::config::{Config, KubeConfigOptions, Kubeconfig};
use kube::Client;
use tokio::sync::Semaphore;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::{BoxError, ServiceBuilder};

use super::request_log::RequestLog;
use super::retry;
use crate::cli::ConnectionArgs;

/// Requests in flight at once over HTTP/1.1, where each needs a connection
/// (and a TLS handshake) of its own.
const HTTP1_REQUESTS_IN_FLIGHT: usize = 4;
/// Requests in flight at once over HTTP/2, where they share one connection:
/// a plan's whole round goes at once.
const HTTP2_REQUESTS_IN_FLIGHT: usize = 32;

pub struct Connection {
    /// Speaks HTTP/2 where the server does (as kubectl does): every request
    /// of a run on one connection, all of a round in flight at once.
    pub client: Client,
    /// HTTP/1.1 only: running a command in a pod upgrades its connection to
    /// a WebSocket, which the API server offers over HTTP/1.1 alone.
    pub exec_client: Client,
    /// The API server's address, for messages.
    pub server: String,
    /// --timeout: for each request, and for the wait until ready.
    pub timeout: std::time::Duration,
}

pub async fn connect(args: &ConnectionArgs) -> anyhow::Result<Connection> {
    let options = KubeConfigOptions {
        context: args.context.clone(),
        cluster: None,
        user: None,
    };
    let mut config = match &args.kubeconfig {
        Some(path) => {
            let kubeconfig = Kubeconfig::read_from(path)
                .with_context(|| format!("cannot read the kubeconfig {}", path.display()))?;
            Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .with_context(|| format!("the kubeconfig {} is not usable", path.display()))?
        }
        None if args.context.is_some() => Config::from_kubeconfig(&options)
            .await
            .context("cannot load the kubeconfig ($KUBECONFIG or ~/.kube/config)")?,
        // kube's error repeats itself through its chain; its innermost
        // cause says what is missing.
        None => Config::infer().await.map_err(|error| {
            let mut cause: &dyn std::error::Error = &error;
            while let Some(source) = cause.source() {
                cause = source;
            }
            anyhow::anyhow!(
                "no cluster configured ({cause}): pass --kubeconfig, set KUBECONFIG, or run inside a cluster"
            )
        })?,
    };
    config.connect_timeout = Some(args.timeout);
    config.read_timeout = Some(args.timeout);
    config.write_timeout = Some(args.timeout);
    let server = config.cluster_url.to_string();
    let log = args
        .verbose
        .then(|| RequestLog::to_stderr(std::time::Instant::now()));
    let (client, exec_client) = build_client(&config, Protocols::Any, args.timeout, log.clone())
        .and_then(|client| {
            Ok((
                client,
                build_client(&config, Protocols::Http1, args.timeout, log)?,
            ))
        })
        .with_context(|| format!("cannot set up a client for {server}"))?;
    Ok(Connection {
        client,
        exec_client,
        server,
        timeout: args.timeout,
    })
}

/// The HTTP versions a client offers the server.
#[derive(Clone, Copy, PartialEq)]
enum Protocols {
    /// HTTP/2 if the server agrees (TLS ALPN), else HTTP/1.1.
    Any,
    Http1,
}

/// kube's default stack, with these changes: HTTP/2 where the server
/// speaks it; TCP_NODELAY, without which every new connection's TLS
/// handshake waits 40 ms on a delayed ACK; a limit on requests in flight,
/// because over HTTP/1.1 every request in flight would otherwise open (and
/// handshake) a connection of its own; and retries of a busy server's
/// answers bounded by `timeout`; with `log`, every request sent is logged
/// (a retried one each time).
fn build_client(
    config: &Config,
    protocols: Protocols,
    timeout: std::time::Duration,
    log: Option<RequestLog>,
) -> Result<Client, kube::Error> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    let https = match protocols {
        Protocols::Http1 => config.rustls_https_connector_with_connector(http)?,
        Protocols::Any => https_connector(config, http)?,
    };
    let mut connector = TimeoutConnector::new(https);
    connector.set_connect_timeout(config.connect_timeout);
    connector.set_read_timeout(config.read_timeout);
    connector.set_write_timeout(config.write_timeout);
    let http_client: hyper_util::client::legacy::Client<_, kube::client::Body> =
        hyper_util::client::legacy::Builder::new(TokioExecutor::new()).build(connector);
    // One request goes alone: its connection tells whether the server
    // speaks HTTP/2. Before that, requests sent at once would each open a
    // connection.
    let in_flight = match protocols {
        Protocols::Any => Arc::new(Semaphore::new(1)),
        Protocols::Http1 => Arc::new(Semaphore::new(HTTP1_REQUESTS_IN_FLIGHT)),
    };
    let first_answer = Arc::new(Once::new());
    let service = ServiceBuilder::new()
        .layer(GlobalConcurrencyLimitLayer::with_semaphore(in_flight.clone()))
        .layer(config.base_uri_layer())
        .layer(retry::layer(timeout))
        .option_layer(log)
        .option_layer(config.auth_layer()?)
        .layer(config.extra_headers_layer()?)
        .map_err(BoxError::from)
        .map_result(move |result: Result<http::Response<_>, hyper_util::client::legacy::Error>| {
            if protocols == Protocols::Any {
                first_answer.call_once(|| {
                    let http2 = matches!(&result, Ok(answer) if answer.version() == http::Version::HTTP_2);
                    let limit = if http2 {
                        HTTP2_REQUESTS_IN_FLIGHT
                    } else {
                        HTTP1_REQUESTS_IN_FLIGHT
                    };
                    in_flight.add_permits(limit - 1);
                });
            }
            result
        })
        .service(http_client);
    Ok(Client::new(service, config.default_namespace.clone()))
}

/// kube's rustls connector, offering HTTP/2 as well (kube's offers HTTP/1.1
/// alone).
fn https_connector(
    config: &Config,
    http: HttpConnector,
) -> Result<hyper_rustls::HttpsConnector<HttpConnector>, kube::Error> {
    let builder = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config.rustls_client_config()?)
        .https_or_http();
    let builder = match &config.tls_server_name {
        Some(name) => {
            builder.with_server_name_resolver(hyper_rustls::FixedServerNameResolver::new(
                name.clone().try_into().map_err(|error| {
                    kube::Error::RustlsTls(kube::client::RustlsTlsError::InvalidServerName(error))
                })?,
            ))
        }
        None => builder,
    };
    Ok(builder.enable_all_versions().wrap_connector(http))
}
