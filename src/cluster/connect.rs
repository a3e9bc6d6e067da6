//! kubeconfig resolution as kubectl does it: --kubeconfig, then $KUBECONFIG,
//! then ~/.kube/config, then the in-cluster service account.

use anyhow::Context as _;
use hyper_timeout::TimeoutConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use kube::client::ConfigExt;
use kube::config::{Config, KubeConfigOptions, Kubeconfig};
use kube::Client;
use tower::limit::ConcurrencyLimitLayer;
use tower::{BoxError, ServiceBuilder};

use super::retry;

/// Requests in flight at once, and so connections to the API server.
const MAX_REQUESTS_IN_FLIGHT: usize = 4;

use crate::cli::ConnectionArgs;

pub struct Connection {
    pub client: Client,
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
    let client = build_client(config, args.timeout)
        .with_context(|| format!("cannot set up a client for {server}"))?;
    Ok(Connection {
        client,
        server,
        timeout: args.timeout,
    })
}

/// kube's default stack, with three changes: TCP_NODELAY, without which
/// every new connection's TLS handshake waits 40 ms on a delayed ACK; a
/// limit on requests in flight, because kube speaks HTTP/1.1 and every
/// request in flight would otherwise open (and handshake) a connection of
/// its own; and retries of a busy server's answers bounded by `timeout`.
fn build_client(config: Config, timeout: std::time::Duration) -> Result<Client, kube::Error> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    let https = config.rustls_https_connector_with_connector(http)?;
    let mut connector = TimeoutConnector::new(https);
    connector.set_connect_timeout(config.connect_timeout);
    connector.set_read_timeout(config.read_timeout);
    connector.set_write_timeout(config.write_timeout);
    let http_client: hyper_util::client::legacy::Client<_, kube::client::Body> =
        hyper_util::client::legacy::Builder::new(TokioExecutor::new()).build(connector);
    let service = ServiceBuilder::new()
        .layer(ConcurrencyLimitLayer::new(MAX_REQUESTS_IN_FLIGHT))
        .layer(config.base_uri_layer())
        .layer(retry::layer(timeout))
        .option_layer(config.auth_layer()?)
        .layer(config.extra_headers_layer()?)
        .map_err(BoxError::from)
        .service(http_client);
    Ok(Client::new(service, config.default_namespace))
}
