//! Retries of the answers a busy API server gives (429 from API priority and
//! fairness, 503, 504), as kubectl and client-go do: after the server's
//! `Retry-After` when it sends one, else after an exponential backoff, and
//! never past the run's --timeout for one request.

use std::time::Duration;

use http::{Request, Response, StatusCode};
use kube::client::Body;
use tokio::time::Instant;
use tower::retry::{Policy, RetryLayer};

const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const LONGEST_BACKOFF: Duration = Duration::from_secs(5);

/// The layer every client of cafectl's goes through (the fake API's too).
pub fn layer(budget: Duration) -> RetryLayer<RetryBusy> {
    RetryLayer::new(RetryBusy::within(budget))
}

#[derive(Debug, Clone)]
pub struct RetryBusy {
    budget: Duration,
    /// When the request was first sent; set per request by `clone_request`.
    started: Option<Instant>,
    backoff: Duration,
}

impl RetryBusy {
    pub fn within(budget: Duration) -> RetryBusy {
        RetryBusy {
            budget,
            started: None,
            backoff: FIRST_BACKOFF,
        }
    }

    /// How long to wait before sending again, or `None` to give up.
    fn delay(&mut self, status: StatusCode, retry_after: Option<&str>) -> Option<Duration> {
        if !matches!(
            status,
            StatusCode::TOO_MANY_REQUESTS
                | StatusCode::SERVICE_UNAVAILABLE
                | StatusCode::GATEWAY_TIMEOUT
        ) {
            return None;
        }
        let delay = match retry_after.and_then(|seconds| seconds.trim().parse::<u64>().ok()) {
            Some(seconds) => Duration::from_secs(seconds),
            None => {
                let delay = self.backoff;
                self.backoff = (self.backoff * 2).min(LONGEST_BACKOFF);
                delay
            }
        };
        let spent = self
            .started
            .map_or(Duration::ZERO, |started| started.elapsed());
        (spent.saturating_add(delay) <= self.budget).then_some(delay)
    }
}

impl<Answer, E> Policy<Request<Body>, Response<Answer>, E> for RetryBusy {
    type Future = tokio::time::Sleep;

    fn retry(
        &mut self,
        _request: &mut Request<Body>,
        result: &mut Result<Response<Answer>, E>,
    ) -> Option<Self::Future> {
        let response = result.as_ref().ok()?;
        let retry_after = response
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok());
        self.delay(response.status(), retry_after)
            .map(tokio::time::sleep)
    }

    /// A body that can be sent again (kube's requests are all in memory);
    /// a streamed one is sent once.
    fn clone_request(&mut self, request: &Request<Body>) -> Option<Request<Body>> {
        self.started.get_or_insert_with(Instant::now);
        let mut copy = Request::new(request.body().try_clone()?);
        *copy.method_mut() = request.method().clone();
        *copy.uri_mut() = request.uri().clone();
        *copy.version_mut() = request.version();
        *copy.headers_mut() = request.headers().clone();
        *copy.extensions_mut() = request.extensions().clone();
        Some(copy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_answers_are_retried_after_retry_after_or_a_growing_backoff() {
        let mut policy = RetryBusy::within(Duration::from_secs(60));
        assert_eq!(
            policy.delay(StatusCode::TOO_MANY_REQUESTS, Some("3")),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            policy.delay(StatusCode::SERVICE_UNAVAILABLE, None),
            Some(FIRST_BACKOFF)
        );
        assert_eq!(
            policy.delay(StatusCode::GATEWAY_TIMEOUT, Some("soon")),
            Some(FIRST_BACKOFF * 2)
        );
        for _ in 0..10 {
            policy.delay(StatusCode::SERVICE_UNAVAILABLE, None);
        }
        assert_eq!(
            policy.delay(StatusCode::SERVICE_UNAVAILABLE, None),
            Some(LONGEST_BACKOFF)
        );
    }

    #[test]
    fn other_answers_and_waits_past_the_timeout_are_not_retried() {
        let mut policy = RetryBusy::within(Duration::from_secs(10));
        for status in [
            StatusCode::INTERNAL_SERVER_ERROR,
            StatusCode::FORBIDDEN,
            StatusCode::CONFLICT,
            StatusCode::OK,
        ] {
            assert_eq!(policy.delay(status, Some("1")), None, "{status}");
        }
        assert_eq!(
            policy.delay(StatusCode::TOO_MANY_REQUESTS, Some("11")),
            None
        );
        assert_eq!(
            policy.delay(StatusCode::TOO_MANY_REQUESTS, Some(&u64::MAX.to_string())),
            None
        );
    }
}
