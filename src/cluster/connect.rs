//! kubeconfig resolution as kubectl does it: --kubeconfig, then $KUBECONFIG,
//! then ~/.kube/config, then the in-cluster service account.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use anyhow::Context as _;
use hyper_timeout::TimeoutConnector;
use hyper_util::client::legacy::connect::{Connection as _, HttpConnector};
use hyper_util::rt::TokioExecutor;
use kube::client::ConfigExt;
use kube::config::{Config, KubeConfigOptions, Kubeconfig};
use kube::Client;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::{BoxError, ServiceBuilder};

use super::discovery::DiscoveryError;
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
    let setting_up = |error: kube::Error| {
        anyhow::Error::new(error).context(format!("cannot set up a client for {server}"))
    };
    let connector = timeout_connector(
        &config,
        https_connector(&config, http_connector()).map_err(setting_up)?,
    );
    // The first connection, made now, tells whether the server speaks
    // HTTP/2; the client then sends all of a round at once over it.
    let first = match tokio::time::timeout(
        args.timeout,
        tower::ServiceExt::oneshot(connector.clone(), config.cluster_url.clone()),
    )
    .await
    {
        Ok(Ok(first)) => first,
        Ok(Err(error)) => {
            let mut reason = super::error::innermost_causes(&*error);
            if let Some(proxy) = &config.proxy_url {
                reason += &format!(
                    " (cafectl connects directly: it does not go through the kubeconfig's proxy-url {proxy}; run `kubectl proxy` and point a kubeconfig at it instead)"
                );
            }
            return Err(DiscoveryError::Unreachable { server, reason }.into());
        }
        Err(_) => return Err(no_answer(&server, args.timeout).into()),
    };
    let http2 = first.connected().is_negotiated_h2();
    let client = build_client(
        &config,
        Preconnected::new(connector, first),
        http2,
        args.timeout,
        log.clone(),
    )
    .map_err(setting_up)?;
    let http1 = config
        .rustls_https_connector_with_connector(http_connector())
        .map(|https| timeout_connector(&config, https))
        .and_then(|connector| build_client(&config, connector, false, args.timeout, log))
        .map_err(setting_up)?;
    Ok(Connection {
        client,
        exec_client: http1,
        server,
        timeout: args.timeout,
    })
}

/// The answer when the cluster says nothing within --timeout.
pub fn no_answer(server: &str, timeout: std::time::Duration) -> DiscoveryError {
    DiscoveryError::Unreachable {
        server: server.to_owned(),
        reason: format!("no answer within {}s", timeout.as_secs()),
    }
}

/// TCP_NODELAY, without which every new connection's TLS handshake waits
/// 40 ms on a delayed ACK.
fn http_connector() -> HttpConnector {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http
}

type Https = hyper_rustls::HttpsConnector<HttpConnector>;

fn timeout_connector(config: &Config, connector: Https) -> TimeoutConnector<Https> {
    let mut connector = TimeoutConnector::new(connector);
    connector.set_connect_timeout(config.connect_timeout);
    connector.set_read_timeout(config.read_timeout);
    connector.set_write_timeout(config.write_timeout);
    connector
}

/// kube's default stack, with these changes: HTTP/2 where the server
/// speaks it; a limit on requests in flight, lower over HTTP/1.1, where
/// every request in flight needs (and handshakes) a connection of its own;
/// retries of a busy server's answers bounded by `timeout`; with `log`,
/// every request sent is logged (a retried one each time).
fn build_client<C>(
    config: &Config,
    connector: C,
    http2: bool,
    timeout: std::time::Duration,
    log: Option<RequestLog>,
) -> Result<Client, kube::Error>
where
    C: hyper_util::client::legacy::connect::Connect + Clone + Send + Sync + 'static,
{
    let http_client: hyper_util::client::legacy::Client<_, kube::client::Body> =
        hyper_util::client::legacy::Builder::new(TokioExecutor::new())
            .http2_only(http2)
            .build(connector);
    let in_flight = if http2 {
        HTTP2_REQUESTS_IN_FLIGHT
    } else {
        HTTP1_REQUESTS_IN_FLIGHT
    };
    let service = ServiceBuilder::new()
        .layer(GlobalConcurrencyLimitLayer::new(in_flight))
        .layer(config.base_uri_layer())
        .layer(retry::layer(timeout))
        .option_layer(log)
        .option_layer(config.auth_layer()?)
        .layer(config.extra_headers_layer()?)
        .map_err(BoxError::from)
        .service(http_client);
    Ok(Client::new(service, config.default_namespace.clone()))
}

/// A connector that hands out a connection made beforehand, once, then
/// connects as usual (after the server closed that one, say).
struct Preconnected<C: tower::Service<http::Uri>> {
    connector: C,
    first: Arc<Mutex<Option<C::Response>>>,
}

impl<C: tower::Service<http::Uri>> Preconnected<C> {
    fn new(connector: C, first: C::Response) -> Preconnected<C> {
        Preconnected {
            connector,
            first: Arc::new(Mutex::new(Some(first))),
        }
    }
}

impl<C: tower::Service<http::Uri> + Clone> Clone for Preconnected<C> {
    fn clone(&self) -> Self {
        Preconnected {
            connector: self.connector.clone(),
            first: self.first.clone(),
        }
    }
}

impl<C> tower::Service<http::Uri> for Preconnected<C>
where
    C: tower::Service<http::Uri>,
    C::Future: Send + 'static,
    C::Response: Send + 'static,
    C::Error: Send + 'static,
{
    type Response = C::Response;
    type Error = C::Error;
    type Future = Pin<Box<dyn Future<Output = Result<C::Response, C::Error>> + Send>>;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), C::Error>> {
        self.connector.poll_ready(context)
    }

    fn call(&mut self, destination: http::Uri) -> Self::Future {
        let first = self
            .first
            .lock()
            .map(|mut first| first.take())
            .ok()
            .flatten();
        match first {
            Some(connection) => Box::pin(std::future::ready(Ok(connection))),
            None => Box::pin(self.connector.call(destination)),
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt as _;

    #[tokio::test]
    async fn the_connection_made_beforehand_is_handed_out_once() {
        let dialled = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = dialled.clone();
        let connector = tower::service_fn(move |destination: http::Uri| {
            let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async move { Ok::<_, std::io::Error>(format!("dialled {destination} #{n}")) }
        });
        let preconnected = Preconnected::new(connector, "made beforehand".to_owned());
        let uri = http::Uri::from_static("https://127.0.0.1:6443");
        let first = preconnected.clone().oneshot(uri.clone()).await.unwrap();
        let second = preconnected.clone().oneshot(uri.clone()).await.unwrap();
        assert_eq!(first, "made beforehand");
        assert_eq!(second, "dialled https://127.0.0.1:6443/ #0");
        assert_eq!(dialled.load(std::sync::atomic::Ordering::SeqCst), 1);
    }
}
