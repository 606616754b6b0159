//! The Rucio JupyterLab extension's handlers, one type per route as in the tornado original, so
//! the `handler` label reads `InstancesHandler::get`.
//!
//! Each impl block is `#[prometheus_handlers]`, so the labels are known at compile time and every
//! measured method's series is in the first scrape. Every method is `#[authenticated]`; those
//! upstream instruments are also `#[prometheus_metrics]`, the others are
//! `#[prometheus_metrics(skip)]`: not measured, as upstream, and marked as a decision rather than
//! forgotten. Authentication comes first: a request from an unauthenticated client is a 403,
//! whatever its body or query, counted only as rejected. For a client with the token, a JSON
//! body that cannot be read is refused before the handler, as axum's `Json` extractor refuses it
//! ([`JsonBody`]: counted at the edge, in no handler's series), while a query string is read
//! inside the method: a bad one is a counted request (a 4xx: not an error; `ApiError` counts only
//! 5xx as errors).

use std::convert::Infallible;
use std::ops::Deref;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Query};
use axum::http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, LOCATION};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};
use metrics_runtime::{
    self as runtime, Authenticate, Format, authenticated, prometheus_handlers, prometheus_metrics,
};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::auth::{Credentials, Token};
use crate::error::ApiError;
use crate::objectives::{LOCAL, RUCIO};
use crate::store::{self, AuthType, Store, UploadRequest, Vault};

/// The server's shared state: the access token, whether `/metrics` is public, how long a Rucio
/// call takes, and the store.
#[derive(Clone)]
pub struct App(Arc<Shared>);

struct Shared {
    token: Token,
    metrics_public: bool,
    rucio_latency: Duration,
    store: Mutex<Store>,
    vault: Mutex<Vault>,
}

impl App {
    /// A fresh store; with `metrics_public`, `/metrics` answers without the token.
    pub fn new(token: Token, metrics_public: bool) -> App {
        App::with_rucio_latency(token, metrics_public, crate::RUCIO_LATENCY)
    }

    /// The same, with simulated Rucio calls taking `rucio_latency` instead of
    /// [`RUCIO_LATENCY`](crate::RUCIO_LATENCY).
    pub fn with_rucio_latency(token: Token, metrics_public: bool, rucio_latency: Duration) -> App {
        App::with_options(token, metrics_public, rucio_latency, true)
    }

    /// The same; with `signed_in` false, no Rucio credentials are stored, so every route behind
    /// upstream's gate answers 401 until `auth` stores some.
    pub fn with_options(
        token: Token,
        metrics_public: bool,
        rucio_latency: Duration,
        signed_in: bool,
    ) -> App {
        App(Arc::new(Shared {
            token,
            metrics_public,
            rucio_latency,
            store: Mutex::new(Store::new()),
            vault: Mutex::new(Vault::new(signed_in)),
        }))
    }
}

/// What every handler sees of its request: the app, the presented credentials and the URI.
pub(crate) struct Request {
    app: App,
    credentials: Credentials,
    uri: Uri,
}

impl Request {
    fn new(parts: &Parts, app: &App) -> Request {
        Request {
            app: app.clone(),
            credentials: Credentials::from_headers(&parts.headers),
            uri: parts.uri.clone(),
        }
    }

    /// A call to the Rucio server: here, waiting the configured latency. With `rucio_outage=true`
    /// in the query, Rucio is down for this request: 502 after the same wait, so that a real
    /// error can be seen without a restart.
    async fn rucio_call(&self) -> Result<(), ApiError> {
        let Outage { rucio_outage } = self.query()?;
        tokio::time::sleep(self.app.0.rucio_latency).await;
        if rucio_outage {
            return Err(ApiError::rucio_unavailable());
        }
        Ok(())
    }

    /// Upstream's `RucioAPIHandler.prepare()`, which every route but `instances`, `auth` and
    /// `oidc-auth-check` passes first: the instance named by `?namespace=`, with credentials
    /// stored for it. Here it runs after authentication (upstream runs it before), inside the
    /// measured body: its 400 and 401 are requests, and a client's mistake, not errors.
    fn gate(&self) -> Result<(), ApiError> {
        #[derive(Deserialize)]
        struct Gate {
            namespace: Option<String>,
        }
        let Gate { namespace } = self.query()?;
        let namespace = namespace
            .filter(|namespace| !namespace.is_empty())
            .ok_or_else(ApiError::missing_instance)?;
        if !self.vault().has_credentials(&namespace) {
            return Err(ApiError::credentials_not_found());
        }
        Ok(())
    }

    fn query<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        Ok(Query::try_from_uri(&self.uri)?.0)
    }

    /// Never held across an `.await`, nor with the store's lock; not poisoned, as the store.
    fn vault(&self) -> MutexGuard<'_, Vault> {
        self.app
            .0
            .vault
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Never held across an `.await`. A panic elsewhere must not take the demo down with it,
    /// hence no poisoning.
    fn store(&self) -> MutexGuard<'_, Store> {
        self.app
            .0
            .store
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Authenticate for Request {
    type Rejection = ApiError;

    fn authenticate(&self) -> Result<(), ApiError> {
        self.credentials.verify(&self.app.0.token)
    }
}

/// Declares handler types: each extracts a [`Request`] (never rejecting; authentication is the
/// methods' `#[authenticated]`) and authenticates through it.
macro_rules! handler_types {
    ($($(#[$attr:meta])* $name:ident;)*) => {$(
        $(#[$attr])*
        pub(crate) struct $name(Request);

        impl FromRequestParts<App> for $name {
            type Rejection = Infallible;

            async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Infallible> {
                Ok($name(Request::new(parts, app)))
            }
        }

        impl Authenticate for $name {
            type Rejection = ApiError;

            fn authenticate(&self) -> Result<(), ApiError> {
                self.0.authenticate()
            }
        }

        impl Deref for $name {
            type Target = Request;

            fn deref(&self) -> &Request {
                &self.0
            }
        }
    )*};
}

handler_types! {
    /// `instances`: the configured Rucio instances, and which one is active.
    InstancesHandler;
    /// `auth`: the stored Rucio credentials of an instance.
    AuthConfigHandler;
    /// `files`: the files attached to a DID.
    DIDBrowserHandler;
    /// `did`: the files of a DID with their replication status.
    DIDDetailsHandler;
    /// `did-search`: DIDs matching a pattern.
    DIDSearchHandler;
    /// `did/make-available`: replicate a DID to the RSE mounted into JupyterLab.
    DIDMakeAvailableHandler;
    /// `file-browser`: the user's home directory, for picking files to upload.
    FileBrowserHandler;
    /// `purge-cache`: forget the cached `files` answers.
    PurgeCacheHandler;
    /// `oidc-auth-check`: whether the OIDC token is still valid.
    OIDCAuthCheckHandler;
    /// `list-scopes`: the scopes of an instance.
    ListScopesHandler;
    /// `list-rses`: the RSEs matching an expression.
    ListRSEsHandler;
    /// `upload/jobs`: the upload jobs of an instance.
    UploadJobsHandler;
    /// `upload/jobs/details`: one upload job.
    UploadJobsDetailsHandler;
    /// `upload/jobs/log`: one upload job's log.
    UploadJobsLogHandler;
    /// `upload`: start uploading files from the home directory.
    UploadHandler;
    /// `open-replication-rule`: the browser's way to a DID's replication rule in Rucio's web UI.
    OpenReplicationRuleHandler;
}

/// A JSON body, read before the handler as axum's `Json` reads it, and judged after the token:
/// a client with the token whose body is not JSON of the right shape (or is over the limit) gets
/// the extractor's 4xx before any handler runs, as in any axum server, so it is counted at the
/// edge and in no handler's series; a client without it gets the handler's 403 whatever its body
/// (authentication first, counted as rejected).
pub(crate) struct JsonBody<T>(Result<T, JsonRejection>);

impl<T> JsonBody<T> {
    /// The body. Only a client `#[authenticated]` turns away has a bad one here, so the `Err`
    /// is never a measured call's answer.
    fn read(self) -> Result<T, ApiError> {
        Ok(self.0?)
    }
}

impl<T: DeserializeOwned> FromRequest<App> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: axum::extract::Request, app: &App) -> Result<Self, ApiError> {
        // Kept, not parsed: the token is read only if the body is refused.
        let authorization = request.headers().get(AUTHORIZATION).cloned();
        let authenticated = || {
            let credentials = Credentials::from_authorization(authorization.as_ref());
            credentials.verify(&app.0.token).is_ok()
        };
        match Json::<T>::from_request(request, app).await {
            Ok(Json(body)) => Ok(JsonBody(Ok(body))),
            Err(rejection) if authenticated() => Err(rejection.into()),
            Err(rejection) => Ok(JsonBody(Err(rejection))),
        }
    }
}

/// The upstream extension's answer to a successful change.
fn success() -> Json<Value> {
    Json(json!({ "success": true }))
}

#[derive(Deserialize)]
struct Namespace {
    namespace: String,
}

/// The switch of a simulated Rucio outage, next to a Rucio-calling route's own parameters.
#[derive(Deserialize)]
struct Outage {
    #[serde(default)]
    rucio_outage: bool,
}

/// `poll=1` bypasses the cache, as in the extension.
#[derive(Deserialize)]
struct DidQuery {
    namespace: String,
    did: String,
    #[serde(default)]
    poll: String,
}

#[derive(Deserialize)]
struct JobQuery {
    namespace: String,
    id: String,
}

#[derive(Deserialize)]
pub(crate) struct PickInstance {
    instance: String,
    auth: AuthType,
}

#[prometheus_handlers(objective = LOCAL)]
impl InstancesHandler {
    #[authenticated]
    #[prometheus_metrics]
    pub(crate) async fn get(self) -> Result<Json<Value>, ApiError> {
        let store = self.store();
        Ok(Json(json!(store.instances())))
    }

    #[authenticated]
    #[prometheus_metrics]
    pub(crate) async fn put(self, body: JsonBody<PickInstance>) -> Result<Json<Value>, ApiError> {
        let pick = body.read()?;
        self.store().set_active(&pick.instance, pick.auth)?;
        Ok(success())
    }
}

#[derive(Deserialize)]
struct AuthQuery {
    namespace: String,
    #[serde(rename = "type")]
    auth_type: AuthType,
}

#[derive(Deserialize)]
pub(crate) struct SetCredentials {
    namespace: String,
    #[serde(rename = "type")]
    auth_type: AuthType,
    params: Value,
}

#[prometheus_handlers(objective = LOCAL)]
impl AuthConfigHandler {
    #[authenticated]
    #[prometheus_metrics]
    pub(crate) async fn get(self) -> Result<Json<Value>, ApiError> {
        let query: AuthQuery = self.query()?;
        let vault = self.vault();
        Ok(Json(
            vault
                .credentials(&query.namespace, query.auth_type)?
                .clone(),
        ))
    }

    #[authenticated]
    #[prometheus_metrics]
    pub(crate) async fn put(self, body: JsonBody<SetCredentials>) -> Result<Json<Value>, ApiError> {
        let body = body.read()?;
        self.vault()
            .set_credentials(&body.namespace, body.auth_type, body.params)?;
        Ok(success())
    }
}

#[prometheus_handlers(objective = RUCIO)]
impl DIDBrowserHandler {
    #[authenticated]
    #[prometheus_metrics]
    pub(crate) async fn get(self) -> Result<Json<Value>, ApiError> {
        self.gate()?;
        let query: DidQuery = self.query()?;
        store::instance(&query.namespace)?;
        let cached = (query.poll != "1")
            .then(|| self.store().cached_files(&query.namespace, &query.did))
            .flatten();
        let files = match cached {
            Some(files) => files,
            None => {
                self.rucio_call().await?;
                let files = store::files(&query.namespace, &query.did)?;
                self.store()
                    .cache_files(&query.namespace, &query.did, files.clone());
                files
            }
        };
        Ok(Json(json!(files)))
    }
}

#[prometheus_handlers(objective = RUCIO)]
impl DIDDetailsHandler {
    #[authenticated]
    #[prometheus_metrics]
    pub(crate) async fn get(self) -> Result<Json<Value>, ApiError> {
        self.gate()?;
        let query: DidQuery = self.query()?;
        self.rucio_call().await?;
        let store = self.store();
        Ok(Json(json!(
            store.did_details(&query.namespace, &query.did)?
        )))
    }
}

#[derive(Deserialize)]
struct SearchQuery {
    namespace: String,
    did: String,
    #[serde(rename = "type", default = "collection")]
    search_type: String,
}

fn collection() -> String {
    "collection".to_owned()
}

#[prometheus_handlers(objective = RUCIO)]
impl DIDSearchHandler {
    #[authenticated]
    #[prometheus_metrics]
    pub(crate) async fn get(self) -> Result<Json<Value>, ApiError> {
        self.gate()?;
        let query: SearchQuery = self.query()?;
        self.rucio_call().await?;
        Ok(Json(json!(store::search(
            &query.namespace,
            &query.did,
            &query.search_type
        )?)))
    }
}

#[derive(Deserialize)]
pub(crate) struct MakeAvailable {
    did: String,
}

#[prometheus_handlers(objective = LOCAL)]
impl DIDMakeAvailableHandler {
    #[authenticated]
    #[prometheus_metrics]
    pub(crate) async fn post(self, body: JsonBody<MakeAvailable>) -> Result<Json<Value>, ApiError> {
        self.gate()?;
        let Namespace { namespace } = self.query()?;
        let body = body.read()?;
        self.store().make_available(&namespace, &body.did)?;
        Ok(success())
    }
}

#[derive(Deserialize)]
struct PathQuery {
    #[serde(default)]
    path: String,
}

#[prometheus_handlers(objective = LOCAL)]
impl FileBrowserHandler {
    #[authenticated]
    #[prometheus_metrics]
    pub(crate) async fn get(self) -> Result<Json<Value>, ApiError> {
        self.gate()?;
        let PathQuery { path } = self.query()?;
        let items = store::list_directory(&path)
            .ok_or_else(|| ApiError::not_found(format!("no such directory: {path}")))?;
        Ok(Json(json!(items)))
    }
}

#[prometheus_handlers(objective = LOCAL)]
impl PurgeCacheHandler {
    #[authenticated]
    #[prometheus_metrics]
    pub(crate) async fn post(self) -> Result<Json<Value>, ApiError> {
        self.gate()?;
        self.store().purge_cache();
        Ok(success())
    }
}

#[prometheus_handlers]
impl OIDCAuthCheckHandler {
    #[authenticated]
    #[prometheus_metrics(skip)]
    pub(crate) async fn get(self) -> Result<Json<Value>, ApiError> {
        let Namespace { namespace } = self.query()?;
        store::instance(&namespace)?;
        Ok(Json(json!({
            "success": true,
            "oidc_auth": "file",
            "oidc_auth_source": "/home/jovyan/.rucio/oidc_token",
            "expires": store::oidc_token_expiry(),
        })))
    }
}

#[derive(Deserialize)]
struct RuleQuery {
    namespace: String,
    did: String,
}

/// Upstream's `RucioHandler`, not a `RucioAPIHandler`: no gate, and plain-text or HTML answers
/// for a browser tab rather than JSON.
#[prometheus_handlers]
impl OpenReplicationRuleHandler {
    #[authenticated]
    #[prometheus_metrics(skip)]
    pub(crate) async fn get(self) -> Result<Response, ApiError> {
        let query: RuleQuery = self.query()?;
        let rule = self
            .store()
            .replication_rule_url(&query.namespace, &query.did);
        Ok(match rule {
            // Tornado's `redirect`: 302.
            Ok(Ok(rule)) => (StatusCode::FOUND, [(LOCATION, rule)]).into_response(),
            Ok(Err(did_page)) => {
                let page = format!(
                    "<!DOCTYPE html><html><head><title>Replication rule not found</title></head>\
                     <body><h1>No replication rule found</h1><p>{} has no replication rule here \
                     yet.</p><p><a href=\"{did_page}\">Open the DID in Rucio</a></p></body></html>",
                    query.did.replace('&', "&amp;").replace('<', "&lt;")
                );
                (StatusCode::NOT_FOUND, Html(page)).into_response()
            }
            Err((status, message)) => {
                let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
                (status, message).into_response()
            }
        })
    }
}

#[prometheus_handlers(objective = RUCIO)]
impl ListScopesHandler {
    #[authenticated]
    #[prometheus_metrics]
    pub(crate) async fn get(self) -> Result<Json<Value>, ApiError> {
        self.gate()?;
        let Namespace { namespace } = self.query()?;
        self.rucio_call().await?;
        let scopes = store::scopes(&namespace)?;
        Ok(Json(json!({ "success": true, "scopes": scopes })))
    }
}

#[derive(Deserialize)]
struct RseQuery {
    namespace: String,
    #[serde(default = "any_rse")]
    expression: String,
}

fn any_rse() -> String {
    "*".to_owned()
}

#[prometheus_handlers(objective = RUCIO)]
impl ListRSEsHandler {
    #[authenticated]
    #[prometheus_metrics]
    pub(crate) async fn get(self) -> Result<Json<Value>, ApiError> {
        self.gate()?;
        let query: RseQuery = self.query()?;
        self.rucio_call().await?;
        // Matches the client's pattern: on the fixed catalogue, never under the store's lock.
        let rses = store::rses(&query.namespace, &query.expression)?;
        Ok(Json(json!(rses)))
    }
}

#[prometheus_handlers(objective = LOCAL)]
impl UploadJobsHandler {
    #[authenticated]
    #[prometheus_metrics]
    pub(crate) async fn get(self) -> Result<Json<Value>, ApiError> {
        self.gate()?;
        let Namespace { namespace } = self.query()?;
        let jobs = self.store().upload_jobs(&namespace)?;
        Ok(Json(json!(jobs)))
    }
}

#[prometheus_handlers]
impl UploadJobsDetailsHandler {
    #[authenticated]
    #[prometheus_metrics(skip)]
    pub(crate) async fn get(self) -> Result<Json<Value>, ApiError> {
        self.gate()?;
        let query: JobQuery = self.query()?;
        let job = self.store().upload_job(&query.namespace, &query.id)?;
        Ok(Json(json!(job)))
    }

    #[authenticated]
    #[prometheus_metrics(skip)]
    pub(crate) async fn delete(self) -> Result<Json<Value>, ApiError> {
        self.gate()?;
        let query: JobQuery = self.query()?;
        self.store()
            .delete_upload_job(&query.namespace, &query.id)?;
        Ok(success())
    }
}

#[prometheus_handlers]
impl UploadJobsLogHandler {
    /// `{"text": …}`, and 404 `{"text": "Logfile does not exist"}`, as upstream.
    #[authenticated]
    #[prometheus_metrics(skip)]
    pub(crate) async fn get(self) -> Result<Response, ApiError> {
        self.gate()?;
        let query: JobQuery = self.query()?;
        let log = self.store().upload_log(&query.namespace, &query.id);
        Ok(match log {
            Some(text) => Json(json!({ "text": text })).into_response(),
            None => {
                let missing = json!({ "text": "Logfile does not exist" });
                (StatusCode::NOT_FOUND, Json(missing)).into_response()
            }
        })
    }
}

#[prometheus_handlers(objective = LOCAL)]
impl UploadHandler {
    #[authenticated]
    #[prometheus_metrics]
    pub(crate) async fn post(self, body: JsonBody<UploadRequest>) -> Result<Json<Value>, ApiError> {
        self.gate()?;
        let Namespace { namespace } = self.query()?;
        let Outage { rucio_outage } = self.query()?;
        let request = body.read()?;
        self.store()
            .start_upload(&namespace, request, rucio_outage)?;
        Ok(success())
    }
}

/// `/metrics`: the runtime's whole registry, in the format the `Accept` header asks for
/// (OpenMetrics with exemplars for Prometheus, protobuf for one with native histograms on, text
/// for a browser or curl). Behind the token
/// unless the server was started with `--metrics-public`; never measured: scrapes are not
/// traffic.
pub(crate) struct MetricsHandler {
    request: Request,
    format: Format,
}

impl FromRequestParts<App> for MetricsHandler {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Infallible> {
        let accept = parts
            .headers
            .get(ACCEPT)
            .and_then(|value| value.to_str().ok());
        Ok(MetricsHandler {
            request: Request::new(parts, app),
            format: Format::negotiate(accept),
        })
    }
}

impl Authenticate for MetricsHandler {
    type Rejection = ApiError;

    fn authenticate(&self) -> Result<(), ApiError> {
        if self.request.app.0.metrics_public {
            Ok(())
        } else {
            self.request.authenticate()
        }
    }
}

#[prometheus_handlers]
impl MetricsHandler {
    #[authenticated]
    #[prometheus_metrics(skip)]
    pub(crate) async fn get(self) -> Result<impl IntoResponse, ApiError> {
        let content_type = HeaderValue::from_static(self.format.content_type());
        Ok((
            [(CONTENT_TYPE, content_type)],
            runtime::gather_bytes(self.format),
        ))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use reqwest::header::AUTHORIZATION;
    use tokio::net::TcpListener;

    use super::*;

    /// With the store's lock held, the routes that match a client's pattern still answer, so
    /// matching never waits for that lock nor holds it; a route that needs the store waits.
    #[tokio::test]
    #[expect(
        clippy::await_holding_lock,
        reason = "the lock is held on purpose; the server runs on other threads"
    )]
    async fn pattern_routes_answer_while_the_store_is_locked() {
        let app = App::new(Token::new("t").unwrap(), false);
        let base = format!("http://{}{}", serve(app.clone()), crate::API_PREFIX);
        let client = reqwest::Client::new();
        let get = |path: &str, timeout| {
            client
                .get(format!("{base}{path}"))
                .header(AUTHORIZATION, "token t")
                .timeout(timeout)
                .send()
        };

        let locked = app.0.store.lock().unwrap();
        let rses = get(
            "/list-rses?namespace=cms&expression=T2_*",
            Duration::from_secs(5),
        )
        .await
        .expect("list-rses answers while the store is locked");
        assert_eq!(
            rses.json::<Value>().await.unwrap(),
            json!(["T2_CH_CERN", "T2_DE_DESY"])
        );
        let search = get(
            "/did-search?namespace=cms&did=user.bob:*&type=all",
            Duration::from_secs(5),
        )
        .await
        .expect("did-search answers while the store is locked");
        assert_eq!(
            search.json::<Value>().await.unwrap()[0]["did"],
            "user.bob:user.bob.skim.root"
        );
        let jobs = get("/upload/jobs?namespace=cms", Duration::from_millis(300)).await;
        assert!(
            jobs.is_err_and(|error| error.is_timeout()),
            "upload/jobs answered without the store"
        );
        drop(locked);
    }

    /// Serves `app` on its own runtime and threads, so that a handler blocked on the lock
    /// cannot stall the client's runtime; returns the address.
    fn serve(app: App) -> std::net::SocketAddr {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let listener = TcpListener::from_std(listener).unwrap();
                axum::serve(listener, crate::router(app)).await
            })
        });
        addr
    }
}
