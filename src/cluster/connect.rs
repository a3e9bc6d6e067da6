//! kubeconfig resolution as kubectl does it: --kubeconfig, then $KUBECONFIG,
//! then ~/.kube/config, then the in-cluster service account.

use anyhow::Context as _;
use kube::config::{Config, KubeConfigOptions, Kubeconfig};
use kube::Client;

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
        None => Config::infer().await.context(
            "no cluster configured: pass --kubeconfig, set KUBECONFIG, or run inside a cluster",
        )?,
    };
    config.connect_timeout = Some(args.timeout);
    config.read_timeout = Some(args.timeout);
    config.write_timeout = Some(args.timeout);
    let server = config.cluster_url.to_string();
    let client =
        Client::try_from(config).with_context(|| format!("cannot set up a client for {server}"))?;
    Ok(Connection {
        client,
        server,
        timeout: args.timeout,
    })
}
