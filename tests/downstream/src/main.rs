use metrics_runtime::{self as runtime, Authenticate, authenticated, prometheus_metrics};

struct Request {
    token: Option<String>,
}

impl Authenticate for Request {
    type Rejection = ApiError;
    fn authenticate(&self) -> Result<(), ApiError> {
        match self.token.as_deref() {
            Some("secret") => Ok(()),
            _ => Err(ApiError::Forbidden),
        }
    }
}

#[derive(Debug)]
enum ApiError {
    Forbidden,
}

#[authenticated]
#[prometheus_metrics]
fn list_scopes(request: &Request) -> Result<Vec<&'static str>, ApiError> {
    Ok(vec!["user.alice", "data18"])
}

// The server's one metrics route answers with this, in the format the scraper asks for
// (Prometheus asks for OpenMetrics, curl and browsers get the text format):
fn metrics_route(accept: Option<&str>) -> (&'static str, String) {
    let format = runtime::Format::negotiate(accept);
    (format.content_type(), runtime::gather_as(format))
}

fn main() {
    runtime::Config::new()
        .namespace("rucio_jupyterlab")
        .install()
        .unwrap();
    list_scopes(&Request {
        token: Some("secret".into()),
    })
    .unwrap();
    assert!(list_scopes(&Request { token: None }).is_err());
    let (content_type, body) = metrics_route(None);
    assert_eq!(content_type, runtime::CONTENT_TYPE);
    assert!(body.contains(r#"rucio_jupyterlab_requests_total{handler="list_scopes""#));
    // The rejected call is counted apart, never as a request.
    assert!(body.lines().any(|line| {
        line.starts_with(r#"rucio_jupyterlab_requests_rejected_total{handler="list_scopes""#)
            && line.ends_with(" 1")
    }));
}
