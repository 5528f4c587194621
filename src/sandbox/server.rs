//! The HTTP shell: one axum fallback handler that parses the path, negotiates the response
//! format, checks `--deny` rules, and maps each verb onto the store and the pure write rules.
//! Watches are chunked newline-delimited JSON streams fed by the store's broadcast.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt as _;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc, watch};

use super::authz::{self, Attributes, DenyRule};
use super::discovery;
use super::patch::{self, PatchKind};
use super::path::{self, ApiPath, Query, Route, Wanted};
use super::registry::ResourceKind;
use super::selector::{FieldSelector, LabelSelector};
use super::status::{ApiError, success_status};
use super::store::{Change, ChangeType, Propagation, Store, outward};
use super::table::{self, IncludeObject, TABLE_CONTENT_TYPE};
use super::write::{self, Endpoint};

/// Request bodies above this are refused (the real server's limit is 3 MiB per object).
const MAX_BODY: usize = 16 * 1024 * 1024;
/// A watch with no `timeoutSeconds` ends after this long, as the real server's default range.
const DEFAULT_WATCH_TIMEOUT: Duration = Duration::from_secs(1800);
const BOOKMARK_INTERVAL: Duration = Duration::from_secs(15);

/// Everything a request handler needs.
pub struct AppState {
    pub store: Store,
    pub deny: Vec<DenyRule>,
    /// `127.0.0.1:PORT`, for `/api`'s serverAddressByClientCIDRs.
    pub server_address: String,
    /// Flips to true on shutdown so that open watches end.
    pub shutdown: watch::Receiver<bool>,
    pub http: reqwest::Client,
    /// Requests served, by `User-Agent` (benchmarks read it through `Sandbox::request_counts`).
    pub requests: RequestCounter,
}

/// Counts the requests the server has accepted, by `User-Agent` (empty when absent).
#[derive(Debug, Default)]
pub struct RequestCounter {
    by_agent: std::sync::Mutex<std::collections::BTreeMap<String, u64>>,
}

impl RequestCounter {
    fn record(&self, agent: &str) {
        if let Ok(mut counts) = self.by_agent.lock() {
            *counts.entry(agent.to_owned()).or_insert(0) += 1;
        }
    }

    /// Requests so far, by `User-Agent`.
    pub fn snapshot(&self) -> std::collections::BTreeMap<String, u64> {
        self.by_agent
            .lock()
            .map(|counts| counts.clone())
            .unwrap_or_default()
    }
}

fn json_response(code: u16, body: &Value, content_type: &'static str) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut response =
        (StatusCode::from_u16(code).unwrap_or(StatusCode::OK), bytes).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn ok(body: &Value) -> Response {
    json_response(200, body, "application/json")
}

fn error_response(error: &ApiError) -> Response {
    json_response(error.code, &error.to_status(), "application/json")
}

/// The single entry point.
pub async fn handle(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    state.requests.record(
        parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default(),
    );
    let query = Query::parse(parts.uri.query());
    let wanted = path::negotiate(
        parts
            .headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok()),
    );
    let Some(route) = path::parse_route(parts.uri.path()) else {
        return error_response(&ApiError::no_route());
    };
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(bytes) => bytes,
        Err(e) => {
            return error_response(&ApiError::bad_request(format!(
                "reading the request body: {e}"
            )));
        }
    };
    let request = ApiRequest {
        raw_query: parts.uri.query().map(str::to_owned),
        method: parts.method,
        headers: parts.headers,
        query,
        wanted,
        body,
    };
    match route {
        Route::Resource(path) => match serve_resource(&state, &request, path).await {
            Ok(response) => response,
            Err(error) => error_response(&error),
        },
        other => serve_discovery(&state, &request, other),
    }
}

struct ApiRequest {
    method: Method,
    raw_query: Option<String>,
    headers: HeaderMap,
    query: Query,
    wanted: Wanted,
    body: Bytes,
}

impl ApiRequest {
    fn content_type(&self) -> &str {
        self.headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/json")
    }

    /// The body as JSON (or YAML for apply patches and YAML content types).
    fn body_value(&self) -> Result<Value, ApiError> {
        let ct = self.content_type().to_ascii_lowercase();
        if ct.contains("protobuf") {
            return Err(ApiError::unsupported_media_type(
                "the sandbox does not accept protobuf request bodies (application/vnd.kubernetes.protobuf); \
                 send JSON instead, e.g. `kubectl create ... --dry-run=client -o yaml | kubectl apply -f -`",
            ));
        }
        if self.body.is_empty() {
            return Err(ApiError::bad_request("the request body is empty"));
        }
        let parsed = if ct.contains("yaml") {
            serde_saphyr::from_slice::<Value>(&self.body).map_err(|e| e.to_string())
        } else {
            serde_json::from_slice::<Value>(&self.body).map_err(|e| e.to_string())
        };
        parsed.map_err(|e| {
            ApiError::bad_request(format!("couldn't get version/kind; json parse error: {e}"))
        })
    }
}

fn serve_discovery(state: &AppState, request: &ApiRequest, route: Route) -> Response {
    if request.method != Method::GET {
        return error_response(&ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource: {}",
            request.method
        )));
    }
    let registry = state.store.registry();
    let aggregated = request.wanted == Wanted::AggregatedV2;
    match route {
        Route::Version => ok(&discovery::version()),
        Route::Health => {
            let mut response = "ok".into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            response
        }
        Route::CoreGroups if aggregated => json_response(
            200,
            &discovery::aggregated(&registry, true),
            discovery::AGGREGATED_CONTENT_TYPE,
        ),
        Route::CoreGroups => ok(&discovery::core_versions(&state.server_address)),
        Route::Groups if aggregated => json_response(
            200,
            &discovery::aggregated(&registry, false),
            discovery::AGGREGATED_CONTENT_TYPE,
        ),
        Route::Groups => ok(&discovery::group_list(&registry)),
        Route::Group(group) => discovery::group(&registry, &group)
            .map_or_else(|| error_response(&ApiError::no_route()), |g| ok(&g)),
        Route::GroupVersion { group, version } => {
            discovery::resource_list(&registry, &group, &version)
                .map_or_else(|| error_response(&ApiError::no_route()), |l| ok(&l))
        }
        Route::OpenApiV3Index => ok(&discovery::openapi_index(&registry)),
        Route::OpenApiV3 { group, version } => {
            discovery::openapi_document(&registry, &group, &version)
                .map_or_else(|| error_response(&ApiError::no_route()), |d| ok(&d))
        }
        Route::Resource(_) => error_response(&ApiError::no_route()),
    }
}

/// The RBAC verb of a request.
fn verb_of(method: &Method, path: &ApiPath, query: &Query) -> &'static str {
    match *method {
        Method::GET | Method::HEAD if path.name.is_none() => {
            if query.flag("watch") {
                "watch"
            } else {
                "list"
            }
        }
        Method::GET | Method::HEAD => "get",
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE if path.name.is_none() => "deletecollection",
        Method::DELETE => "delete",
        _ => "proxy",
    }
}

/// The object as clients of `version` see it.
fn view(kind: &ResourceKind, version: &str, mut object: Value) -> Value {
    if let Some(map) = object.as_object_mut() {
        map.insert("apiVersion".into(), json!(kind.api_version(version)));
        map.insert("kind".into(), json!(kind.kind));
    }
    object
}

fn single(kind: &ResourceKind, request: &ApiRequest, object: Value, code: u16) -> Response {
    if request.wanted == Wanted::Table {
        let rv = object
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let include = IncludeObject::parse(request.query.get("includeObject"));
        let t = table::to_table(kind, &[object], rv, None, include, chrono::Utc::now());
        return json_response(code, &t, TABLE_CONTENT_TYPE);
    }
    json_response(code, &object, "application/json")
}

struct Selectors {
    labels: LabelSelector,
    fields: FieldSelector,
}

impl Selectors {
    fn parse(query: &Query) -> Result<Self, ApiError> {
        let labels = LabelSelector::parse(query.get("labelSelector").unwrap_or_default())
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        let fields = FieldSelector::parse(query.get("fieldSelector").unwrap_or_default())
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        Ok(Self { labels, fields })
    }

    fn matches(&self, object: &Value) -> bool {
        self.labels.matches(object) && self.fields.matches(object)
    }
}

async fn serve_resource(
    state: &Arc<AppState>,
    request: &ApiRequest,
    path: ApiPath,
) -> Result<Response, ApiError> {
    let registry = state.store.registry();
    let kind = registry
        .find(&path.group, &path.version, &path.resource)
        .cloned()
        .ok_or_else(ApiError::no_route)?;
    if path.namespace.is_some() && !kind.namespaced {
        return Err(ApiError::no_route());
    }
    let verb = verb_of(&request.method, &path, &request.query);
    let attributes = Attributes {
        verb: verb.to_owned(),
        group: kind.group.clone(),
        resource: kind.plural.clone(),
        subresource: path.subresource.clone().unwrap_or_default(),
        namespace: path.namespace.clone().unwrap_or_default(),
        name: path.name.clone().unwrap_or_default(),
    };
    if authz::is_denied(&state.deny, &attributes) {
        return Err(authz::forbidden(&attributes));
    }
    if kind.create_only {
        return match (&request.method, &path.name) {
            (&Method::POST, None) => access_review(state, request),
            _ => Err(ApiError::method_not_allowed(format!(
                "{} is create-only",
                kind.plural
            ))),
        };
    }
    let namespace = path.namespace.clone().unwrap_or_default();
    let version = path.version.clone();
    match (path.name.clone(), path.subresource.as_deref()) {
        (None, None) => match request.method {
            Method::GET | Method::HEAD if request.query.flag("watch") => {
                start_watch(state, request, &kind, &version, path.namespace.as_deref())
            }
            Method::GET | Method::HEAD => {
                list(state, request, &kind, &version, path.namespace.as_deref())
            }
            Method::POST => create(state, request, &kind, &version, path.namespace.as_deref()),
            Method::DELETE => {
                delete_collection(state, request, &kind, &version, path.namespace.as_deref())
            }
            _ => Err(method_not_allowed(&request.method)),
        },
        (Some(name), None) => match request.method {
            Method::GET | Method::HEAD => {
                let object = state
                    .store
                    .get(&kind, &namespace, &name)
                    .ok_or_else(|| ApiError::not_found(&kind.group, &kind.plural, &name))?;
                Ok(single(&kind, request, view(&kind, &version, object), 200))
            }
            Method::PUT => update(
                state,
                request,
                &kind,
                &version,
                &namespace,
                &name,
                Endpoint::Main,
            ),
            Method::PATCH => patch_object(
                state,
                request,
                &kind,
                &version,
                &namespace,
                &name,
                Endpoint::Main,
            ),
            Method::DELETE => delete(state, request, &kind, &version, &namespace, &name),
            _ => Err(method_not_allowed(&request.method)),
        },
        (Some(name), Some("status")) if kind.status => match request.method {
            Method::GET => {
                let object = state
                    .store
                    .get(&kind, &namespace, &name)
                    .ok_or_else(|| ApiError::not_found(&kind.group, &kind.plural, &name))?;
                Ok(single(&kind, request, view(&kind, &version, object), 200))
            }
            Method::PUT => update(
                state,
                request,
                &kind,
                &version,
                &namespace,
                &name,
                Endpoint::Status,
            ),
            Method::PATCH => patch_object(
                state,
                request,
                &kind,
                &version,
                &namespace,
                &name,
                Endpoint::Status,
            ),
            _ => Err(method_not_allowed(&request.method)),
        },
        (Some(name), Some("scale")) if kind.scale.is_some() => {
            scale(state, request, &kind, &namespace, &name)
        }
        (Some(name), Some("log")) if kind.group.is_empty() && kind.plural == "pods" => {
            pod_log(state, request, &kind, &namespace, &name)
        }
        (Some(name), Some("eviction")) if kind.group.is_empty() && kind.plural == "pods" => {
            if request.method != Method::POST {
                return Err(method_not_allowed(&request.method));
            }
            // PodDisruptionBudgets are honoured as the API server honours them: the eviction
            // is refused with 429 and the caller retries later.
            if let Some(pod) = state.store.get(&kind, &namespace, &name)
                && let Some(budgets) = state
                    .store
                    .registry()
                    .find("policy", "v1", "poddisruptionbudgets")
                    .cloned()
            {
                let (budgets, _) = state.store.list(&budgets, Some(&namespace));
                if !budgets.is_empty() {
                    let (pods, _) = state.store.list(&kind, Some(&namespace));
                    if let Some(reason) =
                        crate::sandbox::disruption::eviction_refusal(&pod, &budgets, &pods)
                    {
                        return Err(ApiError::too_many_requests(reason));
                    }
                }
            }
            let deleted = state
                .store
                .delete(&kind, &namespace, &name, Propagation::Cascade)?;
            let uid = deleted
                .pointer("/metadata/uid")
                .and_then(Value::as_str)
                .unwrap_or_default();
            Ok(json_response(
                201,
                &success_status("", "pods", &name, uid),
                "application/json",
            ))
        }
        (Some(name), Some("proxy")) if kind.group.is_empty() && kind.plural == "services" => {
            Ok(proxy(
                state,
                request,
                &kind,
                &namespace,
                &name,
                path.rest.as_deref().unwrap_or_default(),
            )
            .await)
        }
        _ => Err(ApiError::no_route()),
    }
}

fn method_not_allowed(method: &Method) -> ApiError {
    ApiError::method_not_allowed(format!(
        "the server does not allow this method on the requested resource: {method}"
    ))
}

fn list(
    state: &AppState,
    request: &ApiRequest,
    kind: &ResourceKind,
    version: &str,
    namespace: Option<&str>,
) -> Result<Response, ApiError> {
    let selectors = Selectors::parse(&request.query)?;
    let (items, rv) = state.store.list(kind, namespace);
    let mut items: Vec<Value> = items.into_iter().filter(|o| selectors.matches(o)).collect();
    // continue tokens are "namespace/name" of the last item sent; items are sorted that way.
    if let Some(token) = request.query.get("continue") {
        let (ns, name) = token.split_once('/').unwrap_or(("", token));
        items.retain(|o| {
            let o_ns = o
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let o_name = o
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            (o_ns, o_name) > (ns, name)
        });
    }
    let mut continue_token = None;
    let mut remaining = 0usize;
    if let Some(limit) = request.query.number("limit").filter(|l| *l > 0)
        && items.len() > limit as usize
    {
        remaining = items.len() - limit as usize;
        items.truncate(limit as usize);
        continue_token = items.last().map(|o| {
            format!(
                "{}/{}",
                o.pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    .unwrap_or_default(),
                o.pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
            )
        });
    }
    let items: Vec<Value> = items.into_iter().map(|o| view(kind, version, o)).collect();
    if request.wanted == Wanted::Table {
        let include = IncludeObject::parse(request.query.get("includeObject"));
        let t = table::to_table(
            kind,
            &items,
            rv,
            continue_token.as_deref(),
            include,
            chrono::Utc::now(),
        );
        return Ok(json_response(200, &t, TABLE_CONTENT_TYPE));
    }
    let mut metadata = json!({"resourceVersion": rv.to_string()});
    if let Some(token) = continue_token {
        metadata["continue"] = json!(token);
        metadata["remainingItemCount"] = json!(remaining);
    }
    Ok(ok(&json!({
        "apiVersion": kind.api_version(version),
        "kind": format!("{}List", kind.kind),
        "metadata": metadata,
        "items": items,
    })))
}

fn create(
    state: &AppState,
    request: &ApiRequest,
    kind: &ResourceKind,
    version: &str,
    namespace: Option<&str>,
) -> Result<Response, ApiError> {
    let body = request.body_value()?;
    let prepared = write::prepare_create(kind, version, body, namespace)?;
    if request.query.dry_run() {
        return Ok(json_response(201, &prepared, "application/json"));
    }
    let created = state.store.create(kind, prepared)?;
    Ok(single(kind, request, view(kind, version, created), 201))
}

fn update(
    state: &AppState,
    request: &ApiRequest,
    kind: &ResourceKind,
    version: &str,
    namespace: &str,
    name: &str,
    endpoint: Endpoint,
) -> Result<Response, ApiError> {
    let body = request.body_value()?;
    if let Some(body_name) = body.pointer("/metadata/name").and_then(Value::as_str)
        && body_name != name
    {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({name})"
        )));
    }
    let expected = body
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    if request.query.dry_run() {
        let old = state
            .store
            .get(kind, namespace, name)
            .ok_or_else(|| ApiError::not_found(&kind.group, &kind.plural, name))?;
        let result = write::finish_update(kind, version, &old, body, endpoint)?;
        return Ok(ok(&result));
    }
    let updated = state
        .store
        .replace(kind, namespace, name, expected.as_deref(), |old| {
            write::finish_update(kind, version, old, body, endpoint)
        })?;
    Ok(single(kind, request, view(kind, version, updated), 200))
}

fn patch_kind(kind: &ResourceKind, request: &ApiRequest) -> Result<PatchKind, ApiError> {
    let ct = request.content_type();
    if ct.to_ascii_lowercase().contains("protobuf") {
        return Err(ApiError::unsupported_media_type(
            "the sandbox does not accept protobuf request bodies; send a JSON patch",
        ));
    }
    let accepted = if kind.custom {
        "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
    } else {
        "application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml"
    };
    let unsupported = || {
        ApiError::unsupported_media_type(format!(
            "the body of the request was in an unknown format - accepted media types include: {accepted}"
        ))
    };
    match PatchKind::from_content_type(ct) {
        Some(PatchKind::Strategic) if kind.custom => Err(unsupported()),
        Some(k) => Ok(k),
        None => Err(unsupported()),
    }
}

fn apply_patch(kind: PatchKind, target: &mut Value, patch_body: &Value) -> Result<(), ApiError> {
    match kind {
        PatchKind::Merge | PatchKind::Apply => {
            patch::merge_patch(target, patch_body);
            Ok(())
        }
        PatchKind::Strategic => {
            patch::strategic_merge(target, patch_body);
            Ok(())
        }
        PatchKind::Json => patch::json_patch(target, patch_body).map_err(|e| match e {
            patch::ApplyPatchError::JsonPatchShape(m) => ApiError::bad_request(m),
            patch::ApplyPatchError::JsonPatchFailed(m) => {
                ApiError::invalid("", "", "", "patch", &m)
            }
        }),
    }
}

fn patch_object(
    state: &AppState,
    request: &ApiRequest,
    kind: &ResourceKind,
    version: &str,
    namespace: &str,
    name: &str,
    endpoint: Endpoint,
) -> Result<Response, ApiError> {
    let patch_kind = patch_kind(kind, request)?;
    let body = request.body_value()?;
    if patch_kind == PatchKind::Apply && endpoint == Endpoint::Main {
        if let Some(body_name) = body.pointer("/metadata/name").and_then(Value::as_str)
            && body_name != name
        {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        if state.store.get(kind, namespace, name).is_none() {
            let mut object = body.clone();
            if let Some(map) = object.as_object_mut() {
                let meta = map.entry("metadata").or_insert_with(|| json!({}));
                if !meta.is_object() {
                    *meta = json!({});
                }
                meta["name"] = json!(name);
            }
            let ns = kind.namespaced.then_some(namespace);
            let prepared = write::prepare_create(kind, version, object, ns)?;
            if request.query.dry_run() {
                return Ok(json_response(201, &prepared, "application/json"));
            }
            // A concurrent create between the check and here ends as AlreadyExists; the
            // client retries, as with the real server's conflicts.
            let created = state.store.create(kind, prepared)?;
            return Ok(single(kind, request, view(kind, version, created), 201));
        }
    }
    let expected = (patch_kind != PatchKind::Json)
        .then(|| {
            body.pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .flatten();
    let build = |old: &Value| {
        let mut target = old.clone();
        apply_patch(patch_kind, &mut target, &body)?;
        write::finish_update(kind, version, old, target, endpoint)
    };
    if request.query.dry_run() {
        let old = state
            .store
            .get(kind, namespace, name)
            .ok_or_else(|| ApiError::not_found(&kind.group, &kind.plural, name))?;
        return Ok(ok(&build(&old)?));
    }
    let updated = state
        .store
        .replace(kind, namespace, name, expected.as_deref(), build)?;
    Ok(single(kind, request, view(kind, version, updated), 200))
}

fn delete_options(request: &ApiRequest) -> Result<(Propagation, Value), ApiError> {
    let options = if request.body.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(&request.body)
            .map_err(|e| ApiError::bad_request(format!("decoding DeleteOptions: {e}")))?
    };
    let policy = request
        .query
        .get("propagationPolicy")
        .map(str::to_owned)
        .or_else(|| {
            options
                .get("propagationPolicy")
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
    let orphan = policy.as_deref() == Some("Orphan")
        || options.get("orphanDependents").and_then(Value::as_bool) == Some(true);
    Ok((
        if orphan {
            Propagation::Orphan
        } else {
            Propagation::Cascade
        },
        options,
    ))
}

fn delete(
    state: &AppState,
    request: &ApiRequest,
    kind: &ResourceKind,
    version: &str,
    namespace: &str,
    name: &str,
) -> Result<Response, ApiError> {
    let (propagation, options) = delete_options(request)?;
    let current = state
        .store
        .get(kind, namespace, name)
        .ok_or_else(|| ApiError::not_found(&kind.group, &kind.plural, name))?;
    for (field, pointer) in [
        ("uid", "/metadata/uid"),
        ("resourceVersion", "/metadata/resourceVersion"),
    ] {
        if let Some(expected) = options
            .pointer(&format!("/preconditions/{field}"))
            .and_then(Value::as_str)
            && current.pointer(pointer).and_then(Value::as_str) != Some(expected)
        {
            return Err(ApiError::conflict(&kind.group, &kind.plural, name));
        }
    }
    let dry_run = request.query.dry_run()
        || options
            .get("dryRun")
            .and_then(Value::as_array)
            .is_some_and(|d| d.iter().any(|v| v == "All"));
    if dry_run {
        return Ok(ok(&view(kind, version, current)));
    }
    let deleted = state.store.delete(kind, namespace, name, propagation)?;
    Ok(ok(&view(kind, version, deleted)))
}

fn delete_collection(
    state: &AppState,
    request: &ApiRequest,
    kind: &ResourceKind,
    version: &str,
    namespace: Option<&str>,
) -> Result<Response, ApiError> {
    let (propagation, _) = delete_options(request)?;
    let selectors = Selectors::parse(&request.query)?;
    let (items, _) = state.store.list(kind, namespace);
    let mut deleted = Vec::new();
    for item in items.iter().filter(|o| selectors.matches(o)) {
        let ns = item
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let name = item
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if request.query.dry_run() {
            deleted.push(view(kind, version, item.clone()));
            continue;
        }
        match state.store.delete(kind, ns, name, propagation) {
            Ok(object) => deleted.push(view(kind, version, object)),
            // Already removed by an earlier cascade in this same collection delete.
            Err(e) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(ok(&json!({
        "apiVersion": kind.api_version(version),
        "kind": format!("{}List", kind.kind),
        "metadata": {"resourceVersion": state.store.resource_version().to_string()},
        "items": deleted,
    })))
}

fn scale(
    state: &AppState,
    request: &ApiRequest,
    kind: &ResourceKind,
    namespace: &str,
    name: &str,
) -> Result<Response, ApiError> {
    let Some(paths) = kind.scale.clone() else {
        return Err(ApiError::no_route());
    };
    let current = state
        .store
        .get(kind, namespace, name)
        .ok_or_else(|| ApiError::not_found(&kind.group, &kind.plural, name))?;
    let version = kind.preferred_version().to_owned();
    match request.method {
        Method::GET => Ok(ok(&write::to_scale(&current, &paths))),
        Method::PUT | Method::PATCH => {
            let body = request.body_value()?;
            let patch_kind = if request.method == Method::PATCH {
                Some(patch_kind(kind, request).or_else(|e| {
                    // Scale is a built-in type: strategic merge works on it even for CRDs.
                    if PatchKind::from_content_type(request.content_type())
                        == Some(PatchKind::Strategic)
                    {
                        Ok(PatchKind::Strategic)
                    } else {
                        Err(e)
                    }
                })?)
            } else {
                None
            };
            let expected = body
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty() && patch_kind != Some(PatchKind::Json))
                .map(str::to_owned);
            let updated =
                state
                    .store
                    .replace(kind, namespace, name, expected.as_deref(), |old| {
                        let scale = match patch_kind {
                            None => body.clone(),
                            Some(k) => {
                                let mut scale = write::to_scale(old, &paths);
                                apply_patch(k, &mut scale, &body)?;
                                scale
                            }
                        };
                        let changed = write::apply_scale(old, &paths, &scale)?;
                        write::finish_update(kind, &version, old, changed, Endpoint::Main)
                    })?;
            Ok(ok(&write::to_scale(&updated, &paths)))
        }
        _ => Err(method_not_allowed(&request.method)),
    }
}

/// Deterministic log lines for a pod: from its containers' names and images and its state,
/// or the lines of its `sandbox.rolltop.dev/log` annotation when a simulator set one.
pub fn pod_log_lines(pod: &Value, container: &str) -> Vec<(String, String)> {
    let created = pod
        .pointer("/metadata/creationTimestamp")
        .and_then(Value::as_str)
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map_or_else(chrono::Utc::now, |t| t.with_timezone(&chrono::Utc));
    let stamp = |i: i64| {
        (created + chrono::Duration::seconds(i))
            .format("%Y-%m-%dT%H:%M:%S%.9fZ")
            .to_string()
    };
    let name = pod
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if let Some(custom) = pod
        .pointer("/metadata/annotations/sandbox.rolltop.dev~1log")
        .and_then(Value::as_str)
    {
        return custom
            .lines()
            .enumerate()
            .map(|(i, line)| (stamp(i as i64), line.to_owned()))
            .collect();
    }
    let image = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .and_then(|cs| {
            cs.iter()
                .find(|c| c.get("name").and_then(Value::as_str) == Some(container))
        })
        .and_then(|c| c.get("image"))
        .and_then(Value::as_str)
        .unwrap_or("unknown");
    let status = table::pod_status(pod);
    let mut lines = vec![
        format!("starting {container} from image {image}"),
        format!("pod {name}: configuration loaded"),
        format!("{container} listening on :8080"),
    ];
    match status.as_str() {
        "CrashLoopBackOff" | "Error" | "Failed" => {
            lines.push(format!(
                "fatal: {container} exited with an error (image {image})"
            ));
        }
        "Running" => lines.push("ready: serving requests".to_owned()),
        other => lines.push(format!("waiting: pod is {other}")),
    }
    lines
        .into_iter()
        .enumerate()
        .map(|(i, l)| (stamp(i as i64), l))
        .collect()
}

fn pod_log(
    state: &AppState,
    request: &ApiRequest,
    kind: &ResourceKind,
    namespace: &str,
    name: &str,
) -> Result<Response, ApiError> {
    let pod = state
        .store
        .get(kind, namespace, name)
        .ok_or_else(|| ApiError::not_found("", "pods", name))?;
    let containers: Vec<String> = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .filter_map(|c| c.get("name").and_then(Value::as_str).map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let container = match request.query.get("container") {
        Some(c) if containers.iter().any(|x| x == c) => c.to_owned(),
        Some(c) => {
            return Err(ApiError::bad_request(format!(
                "container {c} is not valid for pod {name}"
            )));
        }
        None if containers.len() == 1 => containers[0].clone(),
        None if containers.is_empty() => String::new(),
        None => {
            return Err(ApiError::bad_request(format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                containers.join(" ")
            )));
        }
    };
    let mut lines = pod_log_lines(&pod, &container);
    if let Some(tail) = request.query.number("tailLines") {
        let skip = lines.len().saturating_sub(tail as usize);
        lines.drain(..skip);
    }
    let timestamps = request.query.flag("timestamps");
    let mut text = String::new();
    for (stamp, line) in lines {
        if timestamps {
            text.push_str(&stamp);
            text.push(' ');
        }
        text.push_str(&line);
        text.push('\n');
    }
    let mut response = text.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    Ok(response)
}

fn access_review(state: &AppState, request: &ApiRequest) -> Result<Response, ApiError> {
    // `kubectl auth can-i` sends this one kind as protobuf only.
    let mut review = match super::protobuf::decode_access_review(&request.body) {
        Some(review) => review,
        None => request.body_value()?,
    };
    let denied_by = match review.pointer("/spec/resourceAttributes") {
        Some(attrs) => {
            let s = |k: &str| {
                attrs
                    .get(k)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            let a = Attributes {
                verb: s("verb"),
                group: s("group"),
                resource: s("resource"),
                subresource: s("subresource"),
                namespace: s("namespace"),
                name: s("name"),
            };
            authz::denying_rule(&state.deny, &a).cloned()
        }
        None => None,
    };
    if !review.is_object() {
        return Err(ApiError::bad_request(
            "a SelfSubjectAccessReview must be a JSON object",
        ));
    }
    review["apiVersion"] = json!("authorization.k8s.io/v1");
    review["kind"] = json!("SelfSubjectAccessReview");
    if !review.get("metadata").is_some_and(Value::is_object) {
        review["metadata"] = json!({});
    }
    review["metadata"]["creationTimestamp"] = Value::Null;
    review["status"] = match denied_by {
        None => json!({"allowed": true}),
        Some(rule) => {
            json!({"allowed": false, "denied": true, "reason": format!("denied by the sandbox rule --deny {rule}")})
        }
    };
    Ok(json_response(201, &review, "application/json"))
}

/// Resolves `name[:port]` to a loopback `ip:port` through the Service and its Endpoints.
fn proxy_target(state: &AppState, namespace: &str, name_port: &str) -> Result<String, ApiError> {
    let registry = state.store.registry();
    let (name, port) = name_port
        .rsplit_once(':')
        .map_or((name_port, None), |(n, p)| (n, Some(p)));
    let services = registry
        .find("", "v1", "services")
        .ok_or_else(ApiError::no_route)?;
    let endpoints_kind = registry
        .find("", "v1", "endpoints")
        .ok_or_else(ApiError::no_route)?;
    let service = state
        .store
        .get(services, namespace, name)
        .ok_or_else(|| ApiError::not_found("", "services", name))?;
    let unavailable =
        || ApiError::service_unavailable(format!("no endpoints available for service \"{name}\""));
    let endpoints = state
        .store
        .get(endpoints_kind, namespace, name)
        .ok_or_else(unavailable)?;
    let service_ports = service
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    // The service port the request names (by name or number), then its endpoint port name.
    let wanted_port_name = port.and_then(|p| {
        service_ports.iter().find_map(|sp| {
            let by_name = sp.get("name").and_then(Value::as_str) == Some(p);
            let by_number = sp.get("port").map(ToString::to_string).as_deref() == Some(p);
            (by_name || by_number).then(|| {
                sp.get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            })
        })
    });
    for subset in endpoints
        .get("subsets")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
    {
        let ports = subset
            .get("ports")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let chosen = ports.iter().find(|ep| match (&wanted_port_name, port) {
            (Some(pn), _) => ep.get("name").and_then(Value::as_str).unwrap_or_default() == pn,
            (None, Some(p)) => {
                ep.get("port").map(ToString::to_string).as_deref() == Some(p)
                    || ep.get("name").and_then(Value::as_str) == Some(p)
            }
            (None, None) => true,
        });
        let Some(port_number) = chosen.and_then(|p| p.get("port")).and_then(Value::as_u64) else {
            continue;
        };
        for address in subset
            .get("addresses")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
        {
            let Some(ip) = address.get("ip").and_then(Value::as_str) else {
                continue;
            };
            match ip.parse::<std::net::IpAddr>() {
                Ok(parsed) if parsed.is_loopback() => return Ok(format!("{ip}:{port_number}")),
                _ => {
                    return Err(ApiError::service_unavailable(format!(
                        "the sandbox proxies only to loopback endpoints; service \"{name}\" points at {ip}"
                    )));
                }
            }
        }
    }
    Err(unavailable())
}

async fn proxy(
    state: &AppState,
    request: &ApiRequest,
    _kind: &ResourceKind,
    namespace: &str,
    name_port: &str,
    rest: &str,
) -> Response {
    let target = match proxy_target(state, namespace, name_port) {
        Ok(t) => t,
        Err(e) => return error_response(&e),
    };
    let mut url = format!("http://{target}/{rest}");
    if let Some(q) = request.raw_query.as_deref() {
        url.push('?');
        url.push_str(q);
    }
    let mut outgoing = state.http.request(request.method.clone(), &url);
    if let Some(ct) = request.headers.get(header::CONTENT_TYPE) {
        outgoing = outgoing.header(header::CONTENT_TYPE, ct);
    }
    if let Some(accept) = request.headers.get(header::ACCEPT) {
        outgoing = outgoing.header(header::ACCEPT, accept);
    }
    match outgoing.body(request.body.clone()).send().await {
        Ok(reply) => {
            let status = reply.status();
            let content_type = reply.headers().get(header::CONTENT_TYPE).cloned();
            let bytes = reply.bytes().await.unwrap_or_default();
            let mut response = (status, bytes).into_response();
            if let Some(ct) = content_type {
                response.headers_mut().insert(header::CONTENT_TYPE, ct);
            }
            response
        }
        Err(e) => error_response(&ApiError::service_unavailable(format!(
            "error trying to reach service: {e}"
        ))),
    }
}

/// One watch event on the wire.
fn event_line(event_type: &str, object: &Value) -> Bytes {
    let mut line =
        serde_json::to_vec(&json!({"type": event_type, "object": object})).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

struct WatchSpec {
    kind: ResourceKind,
    version: String,
    namespace: Option<String>,
    selectors: Selectors,
    table: bool,
    include: IncludeObject,
    bookmarks: bool,
    timeout: Duration,
    initial_events_end: bool,
}

impl WatchSpec {
    fn matches(&self, change: &Change, object: &Value) -> bool {
        self.namespace
            .as_deref()
            .is_none_or(|ns| change.namespace == ns)
            && self.selectors.matches(object)
    }

    /// The event type this watch sees for a change, if any (selector transitions included).
    fn event_type(&self, change: &Change) -> Option<&'static str> {
        if change.kind_key != self.kind.storage_key() {
            return None;
        }
        let object = outward(&self.kind, &change.object);
        let now = self.matches(change, &object);
        let before = change
            .previous
            .as_ref()
            .is_some_and(|p| self.matches(change, &outward(&self.kind, p)));
        match (change.change_type, before, now) {
            (ChangeType::Added, _, true) | (ChangeType::Modified, false, true) => Some("ADDED"),
            (ChangeType::Deleted, _, true) | (ChangeType::Modified, true, false) => Some("DELETED"),
            (ChangeType::Modified, true, true) => Some("MODIFIED"),
            _ => None,
        }
    }

    fn render(&self, stored: &Value, first: &mut bool) -> Value {
        let object = view(&self.kind, &self.version, outward(&self.kind, stored));
        if !self.table {
            return object;
        }
        let rv = object
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let mut t = table::to_table(
            &self.kind,
            &[object],
            rv,
            None,
            self.include,
            chrono::Utc::now(),
        );
        // Like the real server, only the first event carries the column definitions.
        if !*first {
            t["columnDefinitions"] = json!([]);
        }
        *first = false;
        t
    }

    fn bookmark(&self, rv: u64, initial_end: bool) -> Value {
        let mut metadata = json!({"resourceVersion": rv.to_string()});
        if initial_end {
            metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        json!({"kind": self.kind.kind, "apiVersion": self.kind.api_version(&self.version), "metadata": metadata})
    }
}

fn start_watch(
    state: &Arc<AppState>,
    request: &ApiRequest,
    kind: &ResourceKind,
    version: &str,
    namespace: Option<&str>,
) -> Result<Response, ApiError> {
    let selectors = Selectors::parse(&request.query)?;
    let send_initial = request.query.flag("sendInitialEvents");
    let since = if send_initial {
        None
    } else {
        request.query.get("resourceVersion").map(|rv| {
            rv.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid resource version: {rv}")))
        })
    }
    .transpose()?;
    let timeout = request
        .query
        .number("timeoutSeconds")
        .map_or(DEFAULT_WATCH_TIMEOUT, Duration::from_secs);
    let spec = WatchSpec {
        kind: kind.clone(),
        version: version.to_owned(),
        namespace: namespace.map(str::to_owned),
        selectors,
        table: request.wanted == Wanted::Table,
        include: IncludeObject::parse(request.query.get("includeObject")),
        bookmarks: request.query.flag("allowWatchBookmarks"),
        timeout,
        initial_events_end: send_initial,
    };
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    match state.store.subscribe(&kind.storage_key(), since) {
        Ok(subscription) => {
            let shutdown = state.shutdown.clone();
            tokio::spawn(run_watch(spec, subscription, tx, shutdown));
        }
        Err(error) => {
            // The real server answers 200 and sends the 410 as an ERROR event.
            let line = event_line("ERROR", &error.to_status());
            tokio::spawn(async move {
                let _ = tx.send(line).await;
            });
        }
    }
    let content_type = if request.wanted == Wanted::Table {
        TABLE_CONTENT_TYPE
    } else {
        "application/json"
    };
    let stream = tokio_stream::wrappers::ReceiverStream::new(rx).map(Ok::<_, Infallible>);
    let mut response = Response::new(Body::from_stream(stream));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    Ok(response)
}

async fn run_watch(
    spec: WatchSpec,
    subscription: super::store::Subscription,
    tx: mpsc::Sender<Bytes>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut first = true;
    let mut last_rv = 0;
    for change in &subscription.backlog {
        if let Some(t) = spec.event_type(change) {
            let object = spec.render(&change.object, &mut first);
            if tx.send(event_line(t, &object)).await.is_err() {
                return;
            }
        }
        last_rv = last_rv.max(change.resource_version);
    }
    if spec.initial_events_end {
        let bookmark = spec.bookmark(subscription.after, true);
        if tx.send(event_line("BOOKMARK", &bookmark)).await.is_err() {
            return;
        }
    }
    let after = subscription.after.max(last_rv);
    // Every change up to here was seen (sent or filtered out), so a bookmark may carry it.
    let mut cursor = after;
    let mut live = subscription.live;
    let deadline = tokio::time::sleep(spec.timeout);
    tokio::pin!(deadline);
    let mut bookmark_timer = tokio::time::interval(BOOKMARK_INTERVAL);
    bookmark_timer.tick().await;
    loop {
        tokio::select! {
            () = &mut deadline => break,
            _ = shutdown.changed() => break,
            () = tx.closed() => break,
            _ = bookmark_timer.tick(), if spec.bookmarks => {
                let bookmark = spec.bookmark(cursor, false);
                if tx.send(event_line("BOOKMARK", &bookmark)).await.is_err() {
                    break;
                }
            }
            received = live.recv() => match received {
                Ok(change) => {
                    if change.resource_version <= after {
                        continue;
                    }
                    cursor = change.resource_version;
                    if let Some(t) = spec.event_type(&change) {
                        let object = spec.render(&change.object, &mut first);
                        if tx.send(event_line(t, &object)).await.is_err() {
                            break;
                        }
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    // This watcher fell too far behind; the client must relist, as after a 410.
                    let status = ApiError::expired(cursor).to_status();
                    let _ = tx.send(event_line("ERROR", &status)).await;
                    break;
                }
                Err(broadcast::error::RecvError::Closed) => break,
            }
        }
    }
}
