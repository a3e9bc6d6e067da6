//! `--verbose`: every request to the API server, its answer and how long it
//! took, as kubectl's `-v=6` prints them: where a slow run spends its time
//! and which request a cluster refused. One line per request as it ends.

use std::fmt::Display;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use http::{Request, Response};
use tower::{Layer, Service};

/// A request's query is cut after this many characters: a pod exec carries
/// its whole script there.
const LONGEST_QUERY: usize = 120;

/// Where the lines go (stderr, or a test's buffer).
pub type Sink = Arc<dyn Fn(String) + Send + Sync>;

#[derive(Clone)]
pub struct RequestLog {
    /// When the run started: a line says when its request was sent.
    started: Instant,
    sink: Sink,
}

impl RequestLog {
    pub fn new(started: Instant, sink: Sink) -> RequestLog {
        RequestLog { started, sink }
    }

    /// Lines on stderr.
    pub fn to_stderr(started: Instant) -> RequestLog {
        RequestLog::new(
            started,
            Arc::new(|line| {
                use std::io::Write as _;
                let _ = writeln!(std::io::stderr(), "{line}");
            }),
        )
    }
}

impl<S> Layer<S> for RequestLog {
    type Service = Logged<S>;

    fn layer(&self, inner: S) -> Logged<S> {
        Logged {
            inner,
            log: self.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Logged<S> {
    inner: S,
    log: RequestLog,
}

impl<S, Body, Answer> Service<Request<Body>> for Logged<S>
where
    S: Service<Request<Body>, Response = Response<Answer>>,
    S::Error: Display,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(context)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let what = format!("{} {}", request.method(), shown(request.uri()));
        let log = self.log.clone();
        let sent = Instant::now();
        let answer = self.inner.call(request);
        Box::pin(async move {
            let result = answer.await;
            let took = sent.elapsed().as_millis();
            let at = sent.duration_since(log.started).as_millis();
            let outcome = match &result {
                Ok(response) => response.status().to_string(),
                Err(error) => format!("failed: {error}"),
            };
            // Whatever the server echoed into an error, no secret is printed.
            (log.sink)(crate::redact::scrub(&format!(
                "{what} {outcome} in {took} ms (sent at {at} ms)"
            )));
            result
        })
    }
}

/// The URI, its query cut short.
fn shown(uri: &http::Uri) -> String {
    let path = uri.path();
    let Some(query) = uri.query() else {
        return format!("{}{path}", origin(uri));
    };
    let cut = query
        .char_indices()
        .nth(LONGEST_QUERY)
        .map_or(query, |(end, _)| &query[..end]);
    let ellipsis = if cut.len() < query.len() { "…" } else { "" };
    format!("{}{path}?{cut}{ellipsis}", origin(uri))
}

fn origin(uri: &http::Uri) -> String {
    match (uri.scheme_str(), uri.authority()) {
        (Some(scheme), Some(authority)) => format!("{scheme}://{authority}"),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use tower::ServiceExt as _;

    type Mock = tower_test::mock::Mock<Request<String>, Response<String>>;
    type Handle = tower_test::mock::Handle<Request<String>, Response<String>>;

    /// A fake server behind the log, and the lines logged.
    fn logged_mock() -> (Logged<Mock>, Handle, Arc<Mutex<Vec<String>>>) {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let log = RequestLog::new(
            Instant::now(),
            Arc::new(move |line| sink.lock().unwrap().push(line)),
        );
        let (mock, handle) = tower_test::mock::pair();
        (log.layer(mock), handle, lines)
    }

    #[tokio::test]
    async fn each_request_is_logged_with_its_answer_and_time() {
        let (service, mut handle, lines) = logged_mock();
        let answer = tokio::spawn(service.oneshot(
            Request::patch("https://127.0.0.1:6443/apis/apps/v1/namespaces/cafe/statefulsets/redis?fieldManager=cafectl&dryRun=All")
                .body(String::new())
                .unwrap(),
        ));
        let (_, respond) = handle.next_request().await.unwrap();
        respond.send_response(Response::builder().status(409).body(String::new()).unwrap());
        answer.await.unwrap().unwrap();
        let lines = lines.lock().unwrap();
        assert_eq!(lines.len(), 1, "{lines:?}");
        let line = &lines[0];
        assert!(
            line.starts_with("PATCH https://127.0.0.1:6443/apis/apps/v1/namespaces/cafe/statefulsets/redis?fieldManager=cafectl&dryRun=All 409 Conflict in "),
            "{line}"
        );
        assert!(
            line.ends_with(" ms)") && line.contains("ms (sent at "),
            "{line}"
        );
    }

    #[tokio::test]
    async fn a_failed_request_says_why_and_long_queries_are_cut() {
        let (service, mut handle, lines) = logged_mock();
        let script = "command=".to_owned() + &"x".repeat(500);
        let answer = tokio::spawn(
            service.oneshot(
                Request::get(format!(
                    "/api/v1/namespaces/cafe/pods/redis-0/exec?{script}"
                ))
                .body(String::new())
                .unwrap(),
            ),
        );
        let (_, respond) = handle.next_request().await.unwrap();
        respond.send_error(std::io::Error::other("connection reset"));
        assert!(answer.await.unwrap().is_err());
        let line = lines.lock().unwrap()[0].clone();
        let expected = format!(
            "GET /api/v1/namespaces/cafe/pods/redis-0/exec?{}… failed: connection reset in ",
            &script[..LONGEST_QUERY]
        );
        assert!(line.starts_with(&expected), "{line}");
    }

    #[tokio::test]
    async fn registered_secrets_never_reach_the_log() {
        crate::redact::register("request-log-test-secret");
        let (service, mut handle, lines) = logged_mock();
        let answer = tokio::spawn(
            service.oneshot(
                Request::get("/api/v1/namespaces/cafe")
                    .body(String::new())
                    .unwrap(),
            ),
        );
        let (_, respond) = handle.next_request().await.unwrap();
        respond.send_error(std::io::Error::other("echoed request-log-test-secret"));
        assert!(answer.await.unwrap().is_err());
        let line = lines.lock().unwrap()[0].clone();
        assert!(line.contains("failed: echoed ***"), "{line}");
    }
}
