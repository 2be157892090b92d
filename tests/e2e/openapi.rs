//! The OpenAPI document (`GET /api/v1/openapi.json`) against the routes that exist: it is a
//! well-formed OpenAPI 3.1 document, every route it documents answers (none falls through to the
//! router's fallback), and no `/api/` route is registered around the documented router. Not
//! storage-specific, so on SQLite only.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::Value;

use crate::harness::{Backend, TestServer};

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "patch", "head", "options", "trace",
];

async fn document(server: &TestServer) -> Value {
    let response = server
        .http
        .get(format!("{}/api/v1/openapi.json", server.url))
        .send()
        .await
        .expect("fetch the document");
    assert_eq!(response.status(), 200, "the document is public");
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "served as JSON, not {content_type:?}"
    );
    response.json().await.expect("the document is JSON")
}

/// Every documented operation: (method, path, operation object).
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let paths = doc["paths"].as_object().expect("paths is an object");
    let mut all = Vec::new();
    for (path, item) in paths {
        for method in METHODS {
            if let Some(operation) = item.get(method) {
                all.push((method.to_owned(), path.clone(), operation.clone()));
            }
        }
    }
    all
}

/// The `{name}` placeholders of a path template.
fn placeholders(path: &str) -> Vec<String> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
        .map(str::to_owned)
        .collect()
}

fn path_parameter<'a>(operation: &'a Value, name: &str) -> Option<&'a Value> {
    operation["parameters"]
        .as_array()?
        .iter()
        .find(|p| p["in"] == "path" && p["name"] == name)
}

fn is_integer(parameter: &Value) -> bool {
    match &parameter["schema"]["type"] {
        Value::String(t) => t == "integer",
        Value::Array(types) => types.iter().any(|t| t == "integer"),
        _ => false,
    }
}

/// Every `"$ref"` string anywhere in `value`.
fn refs(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("$ref", Value::String(r)) => found.push(r.clone()),
                    _ => refs(v, found),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, found)),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_is_openapi_3_1_and_every_operation_is_complete() {
    let server = TestServer::start(Backend::Sqlite).await;
    let doc = document(&server).await;

    let version = doc["openapi"].as_str().expect("an openapi version");
    assert!(version.starts_with("3.1"), "OpenAPI 3.1, not {version}");
    assert_eq!(doc["info"]["title"], "JMET API");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));

    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["type"], "http", "{schemes}");
    assert_eq!(schemes["bearer"]["scheme"], "bearer", "{schemes}");
    assert_eq!(schemes["session"]["type"], "apiKey", "{schemes}");
    assert_eq!(schemes["session"]["in"], "cookie", "{schemes}");
    assert_eq!(schemes["session"]["name"], "jmet_session", "{schemes}");
    assert_eq!(schemes["csrf"]["in"], "header", "{schemes}");
    let scheme_names: BTreeSet<&str> = schemes
        .as_object()
        .expect("security schemes")
        .keys()
        .map(String::as_str)
        .collect();

    let operations = operations(&doc);
    assert!(
        operations.len() >= 50,
        "only {} operations documented",
        operations.len()
    );
    let mut problems = Vec::new();
    let mut ids = BTreeSet::new();
    for (method, path, operation) in &operations {
        let at = format!("{} {path}", method.to_uppercase());
        match operation["operationId"].as_str() {
            Some(id) if !id.is_empty() => {
                if !ids.insert(id.to_owned()) {
                    problems.push(format!("{at}: operationId {id:?} is not unique"));
                }
            }
            _ => problems.push(format!("{at}: no operationId")),
        }
        let responses = operation["responses"].as_object();
        if responses.is_none_or(|r| r.is_empty()) {
            problems.push(format!("{at}: no responses"));
        }
        // Success answers are listed, not only the errors every operation shares.
        if !responses.is_some_and(|r| r.keys().any(|code| code.starts_with(['1', '2', '3']))) {
            problems.push(format!("{at}: no successful response"));
        }
        // Every operation says who may call it (`security(())` for the public).
        match operation["security"].as_array() {
            None => problems.push(format!("{at}: no security statement")),
            Some(requirements) => {
                for requirement in requirements {
                    for name in requirement.as_object().into_iter().flat_map(|r| r.keys()) {
                        if !scheme_names.contains(name.as_str()) {
                            problems.push(format!("{at}: unknown security scheme {name:?}"));
                        }
                    }
                }
            }
        }
        if operation["tags"].as_array().is_none_or(|t| t.is_empty()) {
            problems.push(format!("{at}: no tag"));
        }
        let declared: BTreeSet<String> = operation["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["in"] == "path")
            .filter_map(|p| p["name"].as_str().map(str::to_owned))
            .collect();
        let in_path: BTreeSet<String> = placeholders(path).into_iter().collect();
        if declared != in_path {
            problems.push(format!(
                "{at}: path parameters declared {declared:?}, in the path {in_path:?}"
            ));
        }
    }
    // Every reference resolves inside the document.
    let mut found = Vec::new();
    refs(&doc, &mut found);
    for reference in found {
        let resolved = reference
            .strip_prefix("#/")
            .map(|pointer| doc.pointer(&format!("/{pointer}")).is_some());
        if resolved != Some(true) {
            problems.push(format!("unresolved reference {reference}"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    server.stop().await;
}

/// Whether an answer came from the router's fallback or its method check: the route is missing.
async fn missing(response: reqwest::Response) -> Option<String> {
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    let fallback = status == 404 && body["message"] == "no such endpoint";
    (fallback || status == 405).then(|| format!("{status} {body}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_route_exists() {
    let server = TestServer::start(Backend::Sqlite).await;
    let doc = document(&server).await;
    let send = |method: Method, path: String| {
        server
            .http
            .request(method, format!("{}{path}", server.url))
            .send()
    };

    // The check below can tell: an unknown path and a wrong method are both caught.
    let unknown = send(Method::GET, "/api/v1/no-such-endpoint".into())
        .await
        .unwrap();
    assert!(
        missing(unknown).await.is_some(),
        "the fallback is recognised"
    );
    let wrong_method = send(Method::DELETE, "/api/v1/openapi.json".into())
        .await
        .unwrap();
    assert!(missing(wrong_method).await.is_some(), "405 is recognised");

    let operations = operations(&doc);
    let mut problems = Vec::new();
    for (method, template, operation) in &operations {
        let mut path = template.clone();
        for name in placeholders(template) {
            let dummy = match path_parameter(operation, &name) {
                Some(p) if is_integer(p) => "1",
                _ => "x",
            };
            path = path.replace(&format!("{{{name}}}"), dummy);
        }
        let verb = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        // No credentials and no body: whatever the handler says, it must be the handler.
        let response = send(verb, path.clone()).await.expect("send");
        if let Some(answer) = missing(response).await {
            problems.push(format!(
                "{} {template} (as {path}) is documented but not routed: {answer}",
                method.to_uppercase()
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    server.stop().await;
}

/// Places of `source` where a route under `/api` is registered with plain axum calls, which
/// would leave it out of the document: `(line, text)`.
fn plain_api_routes(source: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for call in [".route(", ".route_service(", ".nest(", ".nest_service("] {
        for (at, _) in source.match_indices(call) {
            let rest = source[at + call.len()..].trim_start();
            if rest.starts_with("\"/api") {
                let line = source[..at].matches('\n').count() + 1;
                let text: String = rest.chars().take_while(|c| *c != ',').collect();
                found.push((line, format!("{call}{text}")));
            }
        }
    }
    found
}

/// Whether a plain `/api` route in `server/src/open/mod.rs` fails the test too. Its public
/// routes are being annotated by the same pattern (see the comment in `build_app`); until then
/// they are listed on stderr (`--nocapture`) instead. Set to `true` once they are.
const OPEN_ROUTES_MUST_BE_DOCUMENTED: bool = true;

#[test]
fn no_api_route_bypasses_the_documented_router() {
    // The scan itself finds such a registration, even split over lines by rustfmt.
    let sample = "Router::new()\n    .route(\n        \"/api/v1/x\",\n        get(h),\n    )\n    .route(\"/healthz\", get(h))";
    assert_eq!(
        plain_api_routes(sample),
        vec![(2, ".route(\"/api/v1/x\"".to_owned())],
        "the scan finds them"
    );

    let mut problems = Vec::new();
    let api = include_str!("../../server/src/api/mod.rs");
    for (line, text) in plain_api_routes(api) {
        problems.push(format!(
            "server/src/api/mod.rs:{line}: {text} is registered without its documentation; \
             annotate the handler with #[utoipa::path] and register it in api_routes with \
             .routes(routes!(...)) (see server/src/api/openapi.rs)"
        ));
    }
    let open = include_str!("../../server/src/open/mod.rs");
    for (line, text) in plain_api_routes(open) {
        let problem = format!(
            "server/src/open/mod.rs:{line}: {text} is registered without its documentation; \
             annotate it as server/src/api/openapi.rs says and merge its paths into the \
             document where build_app says"
        );
        if OPEN_ROUTES_MUST_BE_DOCUMENTED {
            problems.push(problem);
        } else {
            eprintln!("not yet in the OpenAPI document: {problem}");
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The push route is registered through the documented router with its concurrency limit: with
/// room for one push, a second waits until the first is done, while other routes answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_push_route_keeps_its_concurrency_limit() {
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let settings = jmet::Settings {
        push_concurrency: 1,
        ..jmet::Settings::default()
    };
    let server = TestServer::start_with(Backend::Sqlite, settings).await;
    let phone = server.device(&["m1"]).await;
    let addr = server.url.strip_prefix("http://").unwrap().to_owned();

    // A push whose body is only half sent holds the one place.
    let body = br#"{"ops": []}"#;
    let mut held = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /api/v1/sync/push HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        phone.token,
        body.len()
    );
    held.write_all(head.as_bytes()).await.unwrap();
    held.write_all(&body[..4]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let push = server
        .http
        .post(format!("{}/api/v1/sync/push", server.url))
        .json(&serde_json::json!({"ops": []}))
        .send();
    let second = tokio::spawn(push);
    // Other routes are not held up.
    let pull = tokio::time::timeout(
        Duration::from_secs(10),
        server
            .http
            .get(format!("{}/api/v1/sync/pull", server.url))
            .send(),
    )
    .await
    .expect("a pull is not held up by pushes")
    .unwrap();
    assert_eq!(pull.status(), 401);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!second.is_finished(), "the second push waits its turn");

    held.write_all(&body[4..]).await.unwrap();
    let mut answer = Vec::new();
    held.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let second = tokio::time::timeout(Duration::from_secs(10), second)
        .await
        .expect("the second push goes on once the first is done")
        .unwrap()
        .unwrap();
    // Sent without a token: refused, once it is its turn.
    assert_eq!(second.status(), 401);
    server.stop().await;
}
