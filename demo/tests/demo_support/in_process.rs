//! The demo's router served in-process on an ephemeral loopback port, with a client for it.
//!
//! The metrics runtime is global to the test process, so servers are handed out one at a time:
//! a test's exact before/after deltas are not disturbed by another test's requests.

use std::sync::Once;

use handler_metrics_demo::{API_PREFIX, App, RUCIO_LATENCY, Token, install_metrics, router};
use reqwest::header::AUTHORIZATION;
use reqwest::{Client, Method, RequestBuilder, StatusCode};
use tokio::net::TcpListener;
use tokio::sync::{Mutex, MutexGuard};

use handler_metrics_tests::Scrape;

pub const TOKEN: &str = "in-process-test-token";

pub struct Server {
    base: String,
    client: Client,
    _serial: MutexGuard<'static, ()>,
}

/// Starts a server with a fresh store, credentials stored for both instances; it runs until the
/// test's runtime ends.
pub async fn start(metrics_public: bool) -> Server {
    start_app(|token| App::new(token, metrics_public)).await
}

/// The same with no Rucio credentials stored (`--signed-out`).
#[allow(dead_code)]
pub async fn start_signed_out() -> Server {
    start_app(|token| App::with_options(token, false, RUCIO_LATENCY, false)).await
}

async fn start_app(app: impl FnOnce(Token) -> App) -> Server {
    static SERIAL: Mutex<()> = Mutex::const_new(());
    static INSTALL: Once = Once::new();
    let serial = SERIAL.lock().await;
    INSTALL.call_once(|| install_metrics(false).expect("first installation in this process"));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = router(app(Token::new(TOKEN).unwrap()));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Server {
        base,
        client: Client::new(),
        _serial: serial,
    }
}

impl Server {
    /// The server's `ip:port`.
    #[allow(dead_code)]
    pub fn host(&self) -> &str {
        self.base.trim_start_matches("http://")
    }

    /// A request to the extension's `path` (under the API prefix) without credentials.
    pub fn anonymous(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}{API_PREFIX}{path}", self.base))
    }

    /// The same with `Authorization: token <TOKEN>`.
    pub fn api(&self, method: Method, path: &str) -> RequestBuilder {
        self.anonymous(method, path)
            .header(AUTHORIZATION, format!("token {TOKEN}"))
    }

    /// `GET /metrics`, to add headers to.
    pub fn metrics(&self) -> RequestBuilder {
        self.client.get(format!("{}/metrics", self.base))
    }

    /// A scrape of `/metrics` with the token, parsed.
    pub async fn scrape(&self) -> Scrape {
        let response = self
            .metrics()
            .header(AUTHORIZATION, format!("Bearer {TOKEN}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        Scrape::parse(&response.text().await.unwrap()).unwrap_or_else(|error| panic!("{error}"))
    }
}
