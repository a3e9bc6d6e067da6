//! Shell scripts run in a Redis pod's `redis` container through the API
//! server (pod exec), never over the pod network: what cafectl asks Redis,
//! and what it has Redis do.

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, AttachParams};
use kube::client::UpgradeConnectionError;
use tokio::io::AsyncBufReadExt as _;

use crate::render::context::{PASSWORD_DIRECTORY, SECRET_KEY};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ExecError {
    /// The user may not exec into pods: Redis cannot be asked at all.
    #[error("cafectl may not run redis-cli in the pods (create pods/exec is forbidden)")]
    Forbidden,
    #[error("{0}")]
    Failed(String),
}

/// `script` with its redis-cli calls authenticated by the pod's own
/// password file (the password never on a command line).
pub fn with_password(script: &str) -> String {
    format!("export REDISCLI_AUTH=\"$(cat {PASSWORD_DIRECTORY}/{SECRET_KEY})\"\n{script}")
}

/// Runs `sh -c SCRIPT NAME ARGS...` in `pod`, handing `line` each line it
/// prints as it comes: what it printed, or why it could not run or failed.
pub async fn run(
    pods: &Api<Pod>,
    pod: &str,
    script: &str,
    name_and_args: &[&str],
    mut line: impl FnMut(&str),
) -> Result<String, ExecError> {
    let params = AttachParams::default().container("redis").stderr(false);
    let failed = |error: &dyn std::fmt::Display| {
        ExecError::Failed(format!("cannot run redis-cli in {pod}: {error}"))
    };
    // What it says on stderr (why it failed) comes in order with the rest.
    let script = format!("exec 2>&1\n{script}");
    let command = ["sh", "-c", script.as_str()]
        .into_iter()
        .chain(name_and_args.iter().copied());
    let mut attached = match pods.exec(pod, command, &params).await {
        Ok(attached) => attached,
        Err(kube::Error::Api(status)) if status.code == 403 => return Err(ExecError::Forbidden),
        Err(kube::Error::UpgradeConnection(UpgradeConnectionError::ProtocolSwitch(status)))
            if status == http::StatusCode::FORBIDDEN =>
        {
            return Err(ExecError::Forbidden)
        }
        Err(kube::Error::Api(status)) if status.code == 404 => {
            return Err(ExecError::Failed(format!("pod {pod} does not exist")))
        }
        Err(error) => return Err(failed(&super::error::describe(&error).1)),
    };
    let status = attached.take_status();
    let mut output = String::new();
    if let Some(stdout) = attached.stdout() {
        let mut reader = tokio::io::BufReader::new(stdout);
        let mut text = String::new();
        while reader
            .read_line(&mut text)
            .await
            .map_err(|error| failed(&error))?
            > 0
        {
            line(text.trim_end_matches(['\r', '\n']));
            output.push_str(&text);
            text.clear();
        }
    }
    let status = match status {
        Some(status) => status.await,
        None => None,
    };
    attached.join().await.map_err(|error| failed(&error))?;
    match status {
        Some(status) if status.status.as_deref() == Some("Failure") => {
            let code = status
                .details
                .and_then(|details| details.causes)
                .into_iter()
                .flatten()
                .find(|cause| cause.reason.as_deref() == Some("ExitCode"))
                .and_then(|cause| cause.message)
                .unwrap_or_else(|| "?".to_owned());
            Err(ExecError::Failed(format!(
                "{} in {pod} exited with code {code}: {}",
                name_and_args.first().unwrap_or(&"sh"),
                output.trim_end().lines().last().unwrap_or_default()
            )))
        }
        _ => Ok(output),
    }
}
