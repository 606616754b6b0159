//! The demo against the extension it is a twin of: rucio-jupyterlab 41.0.0's route table, its gate
//! before every `RucioAPIHandler`, and its `open-replication-rule` route.

#[path = "demo_support/in_process.rs"]
mod in_process;

use std::collections::BTreeSet;

use handler_metrics_demo::NAMESPACE;
use in_process::Server;
use metrics_runtime::Measured;
use reqwest::header::LOCATION;
use reqwest::{Method, StatusCode, redirect};
use serde_json::{Value, json};

/// The release the table was read from: `rucio_jupyterlab/handlers/handlers.py`
/// (`setup_handlers`), and each handler method's decorators in `rucio_jupyterlab/handlers/*.py`.
const UPSTREAM_VERSION: &str = "41.0.0";

/// Route (under `/rucio-jupyterlab`) × method, the demo's handler label, whether
/// `@tornado.web.authenticated` guards it and whether `@prometheus_metrics` measures it upstream.
const UPSTREAM_ROUTES: [(&str, &str, &str, bool, bool); 19] = [
    ("/instances", "GET", "InstancesHandler::get", true, true),
    ("/instances", "PUT", "InstancesHandler::put", true, true),
    ("/auth", "GET", "AuthConfigHandler::get", true, true),
    ("/auth", "PUT", "AuthConfigHandler::put", true, true),
    ("/files", "GET", "DIDBrowserHandler::get", true, true),
    ("/did", "GET", "DIDDetailsHandler::get", true, true),
    ("/did-search", "GET", "DIDSearchHandler::get", true, true),
    (
        "/did/make-available",
        "POST",
        "DIDMakeAvailableHandler::post",
        true,
        true,
    ),
    (
        "/file-browser",
        "GET",
        "FileBrowserHandler::get",
        true,
        true,
    ),
    (
        "/purge-cache",
        "POST",
        "PurgeCacheHandler::post",
        true,
        true,
    ),
    (
        "/oidc-auth-check",
        "GET",
        "OIDCAuthCheckHandler::get",
        true,
        false,
    ),
    (
        "/open-replication-rule",
        "GET",
        "OpenReplicationRuleHandler::get",
        true,
        false,
    ),
    ("/list-scopes", "GET", "ListScopesHandler::get", true, true),
    ("/list-rses", "GET", "ListRSEsHandler::get", true, true),
    ("/upload/jobs", "GET", "UploadJobsHandler::get", true, true),
    (
        "/upload/jobs/details",
        "GET",
        "UploadJobsDetailsHandler::get",
        true,
        false,
    ),
    (
        "/upload/jobs/details",
        "DELETE",
        "UploadJobsDetailsHandler::delete",
        true,
        false,
    ),
    (
        "/upload/jobs/log",
        "GET",
        "UploadJobsLogHandler::get",
        true,
        false,
    ),
    ("/upload", "POST", "UploadHandler::post", true, true),
];

/// Routes without upstream's gate: `RucioAPIHandler.prepare()` skips these three, and
/// `open-replication-rule` is a plain `RucioHandler`.
const UNGATED: [&str; 4] = [
    "/instances",
    "/auth",
    "/oidc-auth-check",
    "/open-replication-rule",
];

/// `request` with a body its route reads, where it reads one: a body that cannot be read is
/// refused before the handler (`demo_edge.rs`), and these tests are about the handlers.
fn with_body(
    request: reqwest::RequestBuilder,
    method: &Method,
    path: &str,
) -> reqwest::RequestBuilder {
    let route = path.split('?').next().unwrap_or(path);
    let body = match (method.as_str(), route) {
        ("PUT", "/instances") => json!({"instance": "atlas", "auth": "userpass"}),
        ("PUT", "/auth") => json!({"namespace": "atlas", "type": "userpass", "params": {}}),
        ("POST", "/did/make-available") => json!({"did": "user.alice:nothing"}),
        ("POST", "/upload") => json!({"file_paths": [], "rse": "X", "scope": "user.alice"}),
        _ => return request,
    };
    request.json(&body)
}

fn requests(label: &str) -> String {
    format!("{NAMESPACE}_requests_total{{handler=\"{label}\"")
}

async fn error_body(response: reqwest::Response) -> Value {
    response.json().await.expect("a JSON error body")
}

#[tokio::test]
async fn the_route_table_is_upstreams() {
    assert_eq!(UPSTREAM_VERSION, "41.0.0");
    let server = in_process::start(false).await;

    // The inventory: the measured handlers are exactly upstream's measured methods, and every
    // other route is authenticated and skipped on purpose.
    let inventory = metrics_runtime::handlers();
    let measured: BTreeSet<&str> = inventory
        .iter()
        .filter(|info| info.measured == Measured::Yes)
        .filter_map(|info| info.label.as_deref())
        .collect();
    let upstream_measured: BTreeSet<&str> = UPSTREAM_ROUTES
        .iter()
        .filter(|route| route.4)
        .map(|route| route.2)
        .collect();
    assert_eq!(measured, upstream_measured);
    assert_eq!(measured.len(), 14);
    let skipped = inventory
        .iter()
        .filter(|info| info.measured == Measured::Skipped && info.authenticated)
        .count();
    // And `/metrics`, which upstream serves from jupyter_server, behind its token too.
    let unmeasured = UPSTREAM_ROUTES.iter().filter(|route| !route.4).count();
    assert_eq!(skipped, unmeasured + 1);
    assert!(inventory.iter().all(|info| info.authenticated));

    let before = server.scrape().await;
    for (path, method, label, authenticated, is_measured) in UPSTREAM_ROUTES {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let path = format!("{path}?namespace=atlas&did=user.alice:nothing&id=1");

        let anonymous = server
            .anonymous(method.clone(), &path)
            .send()
            .await
            .unwrap();
        assert_eq!(
            anonymous.status() == StatusCode::FORBIDDEN,
            authenticated,
            "{method} {path}"
        );

        let accepted = with_body(server.api(method.clone(), &path), &method, &path);
        let accepted = accepted.send().await.unwrap();
        let status = accepted.status();
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        if status == StatusCode::NOT_FOUND {
            let body = accepted.text().await.unwrap();
            assert!(!body.contains("no such route"), "{method} {path}: {body}");
        }

        let after = server.scrape().await;
        let count = |scrape: &handler_metrics_tests::Scrape| {
            scrape.find(&format!("{NAMESPACE}_requests_total"), label)
        };
        if is_measured {
            let grew = count(&after).unwrap_or(0.0) - count(&before).unwrap_or(0.0);
            assert!(grew >= 1.0, "{method} {path} is not measured as {label}");
        } else {
            assert_eq!(
                count(&after),
                None,
                "{label} is measured: {}",
                requests(label)
            );
        }
    }
}

#[tokio::test]
async fn the_gate_answers_after_authentication_and_counts_as_a_request_not_an_error() {
    let server = in_process::start(false).await;
    let before = server.scrape().await;
    let gated: Vec<_> = UPSTREAM_ROUTES
        .iter()
        .filter(|route| !UNGATED.contains(&route.0))
        .collect();
    for (path, method, _, _, _) in &gated {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let request = with_body(server.api(method.clone(), path), &method, path);
        let response = request.send().await.unwrap();
        assert_eq!(
            response.status(),
            StatusCode::BAD_REQUEST,
            "{method} {path}"
        );
        assert_eq!(
            error_body(response).await,
            json!({"success": false, "error": "Missing Rucio instance", "status": 400}),
        );
        // Authentication first: an anonymous caller is told 403, not what is missing.
        let anonymous = server.anonymous(method, path).send().await.unwrap();
        assert_eq!(anonymous.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            error_body(anonymous).await,
            json!({"success": false, "error": "Forbidden", "status": 403}),
        );
    }
    let after = server.scrape().await;
    for (_, _, label, _, measured) in gated {
        if *measured {
            let values = after
                .handler_in(NAMESPACE, label)
                .since(&before.handler_in(NAMESPACE, label));
            assert_eq!((values.requests, values.errors), (1.0, 0.0), "{label}");
            let rejected = format!("{NAMESPACE}_requests_rejected_total");
            let rejected = after.get(&rejected, label) - before.get(&rejected, label);
            assert_eq!(rejected, 1.0, "{label}");
        }
    }
}

#[tokio::test]
async fn without_stored_credentials_the_gate_answers_401_until_auth_stores_some() {
    let server = in_process::start_signed_out().await;
    let scopes = |namespace: &str| format!("/list-scopes?namespace={namespace}");
    let response = server
        .api(Method::GET, &scopes("atlas"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        error_body(response).await,
        json!({"success": false, "error": "Credentials not found. Did you authenticate?", "status": 401}),
    );
    // The ungated routes answer.
    let instances = server.api(Method::GET, "/instances").send().await.unwrap();
    assert_eq!(instances.status(), StatusCode::OK);

    let credentials = json!({"namespace": "atlas", "type": "userpass",
                             "params": {"username": "alice", "password": "secret"}});
    let stored = server
        .api(Method::PUT, "/auth")
        .json(&credentials)
        .send()
        .await
        .unwrap();
    assert_eq!(stored.status(), StatusCode::OK);
    let atlas = server
        .api(Method::GET, &scopes("atlas"))
        .send()
        .await
        .unwrap();
    assert_eq!(atlas.status(), StatusCode::OK);
    let cms = server
        .api(Method::GET, &scopes("cms"))
        .send()
        .await
        .unwrap();
    assert_eq!(cms.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn open_replication_rule_redirects_to_the_rule_or_answers_a_404_page() {
    let server = in_process::start(false).await;
    let no_redirects = reqwest::Client::builder()
        .redirect(redirect::Policy::none())
        .build()
        .unwrap();
    let open = |server: &Server, did: &str, namespace: &str| {
        let request = server
            .api(
                Method::GET,
                &format!("/open-replication-rule?namespace={namespace}&did={did}"),
            )
            .build()
            .unwrap();
        let client = no_redirects.clone();
        async move { client.execute(request).await.unwrap() }
    };
    let dataset = "data18_13TeV:data18_13TeV.00348885.physics_Main.deriv.DAOD_PHYS";

    let malformed = open(&server, "no-scope", "atlas").await;
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        malformed.text().await.unwrap(),
        "Malformed DID. Expected format: scope:name"
    );

    let download_mode = open(&server, dataset, "cms").await;
    assert_eq!(download_mode.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        download_mode.text().await.unwrap(),
        "Extension is not in Replica mode"
    );

    let no_rule = open(&server, dataset, "atlas").await;
    assert_eq!(no_rule.status(), StatusCode::NOT_FOUND);
    let page = no_rule.text().await.unwrap();
    assert!(
        page.contains("https://rucio-ui.cern.ch/did?scope=data18_13TeV&name=data18_13TeV.00348885"),
        "{page}"
    );

    let made = server
        .api(Method::POST, "/did/make-available?namespace=atlas")
        .json(&json!({"did": dataset}))
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), StatusCode::OK);
    let rule = open(&server, dataset, "atlas").await;
    assert_eq!(rule.status(), StatusCode::FOUND);
    let location = rule.headers()[LOCATION].to_str().unwrap().to_owned();
    assert!(
        location.starts_with("https://rucio-ui.cern.ch/rule?rule_id="),
        "{location}"
    );
    let again = open(&server, dataset, "atlas").await;
    assert_eq!(
        again.headers()[LOCATION],
        location.as_str(),
        "one rule per DID"
    );

    let anonymous = server
        .anonymous(
            Method::GET,
            &format!("/open-replication-rule?namespace=atlas&did={dataset}"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn response_shapes_are_upstreams() {
    let server = in_process::start(false).await;
    let instances: Value = server
        .api(Method::GET, "/instances")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let atlas = &instances["instances"][0];
    assert_eq!(atlas["webui_url"], "https://rucio-ui.cern.ch");
    assert_eq!(atlas["oidc_enabled"], true);

    let missing_log = server
        .api(Method::GET, "/upload/jobs/log?namespace=atlas&id=404")
        .send()
        .await
        .unwrap();
    assert_eq!(missing_log.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        missing_log.json::<Value>().await.unwrap(),
        json!({"text": "Logfile does not exist"})
    );

    let search = |did: &str| {
        let request = server.api(
            Method::GET,
            &format!("/did-search?namespace=atlas&type=all&did={did}"),
        );
        async move {
            let response = request.send().await.unwrap();
            (response.status(), response.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = search("a:b:c").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["error"],
        "Malformed DID received: 'a:b:c'. Expected format: scope:name"
    );
    let (status, body) = search("user.alice:nothing.like.this").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body["error"],
        "No DIDs found for scope: \"user.alice\". Please check the parameters or try a different search."
    );
    let (status, body) =
        search("data18_13TeV:data18_13TeV.00348885.physics_Main.deriv.DAOD_PHYS").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body[0]["size"],
        Value::Null,
        "a collection's size is null: {body}"
    );

    // purge-cache also forgets the upload jobs, as upstream's `db.purge_cache()`.
    let upload = json!({"file_paths": ["~/data/hist.root"], "rse": "CERN-PROD_SCRATCHDISK",
                        "scope": "user.alice"});
    let started = server
        .api(Method::POST, "/upload?namespace=atlas")
        .json(&upload)
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), StatusCode::OK);
    let jobs = |server: &Server| {
        let request = server.api(Method::GET, "/upload/jobs?namespace=atlas");
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let listed = jobs(&server).await;
    let job = &listed[0];
    assert!(job["id"].is_u64(), "{job}");
    assert_eq!(job["namespace"], "atlas");
    assert_eq!(
        (&job["dataset_did"], &job["lifetime"]),
        (&Value::Null, &Value::Null)
    );
    assert_eq!(job["status"], "UPLOADING");
    // An upload started while Rucio is down ends FAILED once its process is gone.
    let failing = server
        .api(Method::POST, "/upload?namespace=atlas&rucio_outage=true")
        .json(&upload)
        .send()
        .await
        .unwrap();
    assert_eq!(failing.status(), StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(2_100)).await;
    let statuses: Vec<Value> = jobs(&server)
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|job| job["status"].clone())
        .collect();
    assert_eq!(statuses, [json!("OK"), json!("FAILED")]);
    let purged = server
        .api(Method::POST, "/purge-cache?namespace=atlas")
        .send()
        .await
        .unwrap();
    assert_eq!(purged.status(), StatusCode::OK);
    assert_eq!(jobs(&server).await, json!([]));
}

#[tokio::test]
async fn options_and_wrong_methods_are_answered_as_jupyter_server_does() {
    let server = in_process::start(false).await;
    let before = server.scrape().await;
    // A CORS preflight needs no token, as `APIHandler.options` is `@allow_unauthenticated`.
    let preflight = server
        .anonymous(Method::OPTIONS, "/list-scopes?namespace=atlas")
        .header("Access-Control-Request-Headers", "authorization")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), StatusCode::OK);
    let headers = preflight.headers();
    assert_eq!(
        headers["access-control-allow-headers"],
        "accept, content-type, authorization, x-xsrftoken"
    );
    assert_eq!(
        headers["access-control-allow-methods"],
        "GET, PUT, POST, PATCH, DELETE, OPTIONS"
    );
    let after = server.scrape().await;
    let label = "ListScopesHandler::get";
    assert_eq!(
        after
            .handler_in(NAMESPACE, label)
            .since(&before.handler_in(NAMESPACE, label))
            .requests,
        0.0,
        "a preflight is not a request of the handler"
    );

    let wrong = server
        .api(Method::PATCH, "/instances")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        error_body(wrong).await,
        json!({"success": false, "error": "Method Not Allowed", "status": 405})
    );
}
