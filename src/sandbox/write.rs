//! Write rules, as pure functions: what a create stores (namespace from the path, generated
//! names, server-owned fields, status reset), what an update or patch may change on the main
//! endpoint versus the `/status` subresource, when `metadata.generation` moves, and the
//! `autoscaling/v1` Scale view of an object.

use serde_json::{Map, Value, json};

use super::patch::{generation_changes, invalid_label_reason, invalid_name_reason};
use super::registry::{ResourceKind, ScalePaths};
use super::status::ApiError;

/// Which endpoint a write came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `.../{name}`: `.status` changes are ignored for kinds with a status subresource.
    Main,
    /// `.../{name}/status`: only `.status` changes.
    Status,
}

const SERVER_OWNED: [&str; 5] = [
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "generation",
    "deletionTimestamp",
];

const NAME_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// A five-character suffix for `generateName`, as the real server's alphabet.
pub fn name_suffix() -> String {
    uuid::Uuid::new_v4()
        .as_bytes()
        .iter()
        .take(5)
        .map(|b| NAME_ALPHABET[usize::from(*b) % NAME_ALPHABET.len()] as char)
        .collect()
}

/// The status a CRD gets so that clients waiting for `Established` proceed.
fn crd_status(crd: &Value) -> Value {
    let storage: Vec<Value> = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .map(|vs| {
            vs.iter()
                .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
                .filter_map(|v| v.get("name").cloned())
                .collect()
        })
        .unwrap_or_default();
    json!({
        "acceptedNames": crd.pointer("/spec/names").cloned().unwrap_or_else(|| json!({})),
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
             "message": "no conflicts found", "lastTransitionTime": super::store::now_timestamp()},
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
             "message": "the initial names have been accepted", "lastTransitionTime": super::store::now_timestamp()},
        ],
        "storedVersions": storage,
    })
}

fn is_crd(kind: &ResourceKind) -> bool {
    kind.group == "apiextensions.k8s.io" && kind.plural == "customresourcedefinitions"
}

/// The status a kind with a status subresource starts with (the real server resets it).
fn initial_status(kind: &ResourceKind, object: &Value) -> Option<Value> {
    match (kind.group.as_str(), kind.plural.as_str()) {
        ("", "pods") => Some(json!({"phase": "Pending", "qosClass": "BestEffort"})),
        ("", "namespaces") => Some(json!({"phase": "Active"})),
        ("", "services") => Some(json!({"loadBalancer": {}})),
        _ if is_crd(kind) => Some(crd_status(object)),
        _ => None,
    }
}

/// A deterministic ClusterIP for a Service that did not ask for one.
fn cluster_ip(name: &str, namespace: &str) -> String {
    let mut h: u32 = 2_166_136_261;
    for b in namespace.bytes().chain(name.bytes()) {
        h ^= u32::from(b);
        h = h.wrapping_mul(16_777_619);
    }
    format!("10.96.{}.{}", (h >> 8) % 256, h % 254 + 1)
}

/// Checks and completes an object for create; `namespace` comes from the request path.
pub fn prepare_create(
    kind: &ResourceKind,
    version: &str,
    mut object: Value,
    namespace: Option<&str>,
) -> Result<Value, ApiError> {
    let Some(map) = object.as_object_mut() else {
        return Err(ApiError::bad_request(
            "the request body is not a JSON object",
        ));
    };
    if let Some(body_kind) = map.get("kind").and_then(Value::as_str)
        && body_kind != kind.kind
    {
        return Err(ApiError::bad_request(format!(
            "the kind in the data ({body_kind}) does not match the expected kind ({})",
            kind.kind
        )));
    }
    map.insert("apiVersion".into(), json!(kind.api_version(version)));
    map.insert("kind".into(), json!(kind.kind));
    let meta = map
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    let Some(meta) = meta.as_object_mut() else {
        return Err(ApiError::bad_request("metadata must be an object"));
    };
    for field in SERVER_OWNED {
        meta.remove(field);
    }
    meta.remove("managedFields");
    if kind.namespaced {
        let path_ns = namespace.unwrap_or("default");
        match meta.get("namespace").and_then(Value::as_str) {
            Some(ns) if !ns.is_empty() && ns != path_ns => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            _ => {
                meta.insert("namespace".into(), json!(path_ns));
            }
        }
    } else {
        meta.remove("namespace");
    }
    let name = match meta.get("name").and_then(Value::as_str) {
        Some(name) if !name.is_empty() => name.to_owned(),
        _ => match meta.get("generateName").and_then(Value::as_str) {
            Some(prefix) if !prefix.is_empty() => {
                let name = format!("{prefix}{}", name_suffix());
                meta.insert("name".into(), json!(name));
                name
            }
            _ => {
                return Err(ApiError::invalid(
                    &kind.group,
                    &kind.kind,
                    "",
                    "metadata.name",
                    "Required value: name or generateName is required",
                ));
            }
        },
    };
    let reason =
        if matches!(kind.plural.as_str(), "namespaces" | "services") && kind.group.is_empty() {
            invalid_label_reason(&name)
        } else {
            invalid_name_reason(&name)
        };
    if let Some(reason) = reason {
        return Err(ApiError::invalid(
            &kind.group,
            &kind.kind,
            &name,
            "metadata.name",
            &format!("Invalid value: {name:?}: {reason}"),
        ));
    }
    if is_crd(kind) {
        super::registry::kind_from_crd(&object).map_err(|e| {
            ApiError::invalid(&kind.group, &kind.kind, &name, "spec", &e.to_string())
        })?;
    }
    if kind.status {
        let initial = initial_status(kind, &object);
        if let Some(map) = object.as_object_mut() {
            match initial {
                Some(status) => {
                    map.insert("status".into(), status);
                }
                None => {
                    map.remove("status");
                }
            }
        }
    }
    if kind.group.is_empty()
        && kind.plural == "services"
        && object.pointer("/spec/clusterIP").is_none()
        && object.pointer("/spec/type").and_then(Value::as_str) != Some("ExternalName")
    {
        let ip = cluster_ip(&name, namespace.unwrap_or("default"));
        if let Some(spec) = object
            .as_object_mut()
            .map(|m| m.entry("spec").or_insert_with(|| json!({})))
            .and_then(Value::as_object_mut)
        {
            spec.insert("clusterIP".into(), json!(ip));
            spec.insert("clusterIPs".into(), json!([ip]));
        }
    }
    Ok(object)
}

/// The object to store after an update or patch produced `new` from `old`.
pub fn finish_update(
    kind: &ResourceKind,
    version: &str,
    old: &Value,
    mut new: Value,
    endpoint: Endpoint,
) -> Result<Value, ApiError> {
    if !new.is_object() {
        return Err(ApiError::bad_request(
            "the request body is not a JSON object",
        ));
    }
    if endpoint == Endpoint::Status {
        let mut result = old.clone();
        match new.get("status").cloned() {
            Some(status) if !status.is_null() => result["status"] = status,
            _ => {
                if let Some(m) = result.as_object_mut() {
                    m.remove("status");
                }
            }
        }
        return Ok(result);
    }
    new["apiVersion"] = json!(kind.api_version(version));
    new["kind"] = json!(kind.kind);
    if !new.get("metadata").is_some_and(Value::is_object) {
        new["metadata"] = json!({});
    }
    for field in [
        "name",
        "namespace",
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "generation",
        "resourceVersion",
    ] {
        match old.pointer(&format!("/metadata/{field}")) {
            Some(v) => new["metadata"][field] = v.clone(),
            None => {
                if let Some(m) = new["metadata"].as_object_mut() {
                    m.remove(field);
                }
            }
        }
    }
    if kind.status {
        match old.get("status") {
            Some(status) => new["status"] = status.clone(),
            None => {
                if let Some(m) = new.as_object_mut() {
                    m.remove("status");
                }
            }
        }
    }
    if is_crd(kind) {
        super::registry::kind_from_crd(&new).map_err(|e| {
            ApiError::invalid(
                &kind.group,
                &kind.kind,
                new.pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or_default(),
                "spec",
                &e.to_string(),
            )
        })?;
        new["status"] = crd_status(&new);
    }
    if generation_changes(old, &new) {
        let generation = old
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        new["metadata"]["generation"] = json!(generation + 1);
    }
    Ok(new)
}

/// `.spec.replicas` → `/spec/replicas`.
pub fn pointer_of(json_path: &str) -> String {
    json_path
        .trim_start_matches('.')
        .split('.')
        .fold(String::new(), |acc, seg| format!("{acc}/{seg}"))
}

fn selector_string(selector: &Value) -> String {
    match selector {
        Value::String(s) => s.clone(),
        Value::Object(m) => m
            .get("matchLabels")
            .and_then(Value::as_object)
            .map(|labels| {
                labels
                    .iter()
                    .filter_map(|(k, v)| v.as_str().map(|v| format!("{k}={v}")))
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_default(),
        _ => String::new(),
    }
}

/// The `autoscaling/v1` Scale of an object.
pub fn to_scale(object: &Value, paths: &ScalePaths) -> Value {
    let read = |path: &str| {
        object
            .pointer(&pointer_of(path))
            .and_then(Value::as_i64)
            .unwrap_or(0)
    };
    let selector = match &paths.label_selector {
        Some(path) => object
            .pointer(&pointer_of(path))
            .map(selector_string)
            .unwrap_or_default(),
        None => object
            .pointer("/spec/selector")
            .map(selector_string)
            .unwrap_or_default(),
    };
    let meta = object.get("metadata").cloned().unwrap_or_else(|| json!({}));
    let mut metadata = json!({});
    for field in [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
    ] {
        if let Some(v) = meta.get(field) {
            metadata[field] = v.clone();
        }
    }
    let mut status = json!({"replicas": read(&paths.status_replicas)});
    if !selector.is_empty() {
        status["selector"] = json!(selector);
    }
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": metadata,
        "spec": {"replicas": read(&paths.spec_replicas)},
        "status": status,
    })
}

/// Writes a Scale's `spec.replicas` back into the object.
pub fn apply_scale(object: &Value, paths: &ScalePaths, scale: &Value) -> Result<Value, ApiError> {
    let replicas = scale
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .ok_or_else(|| ApiError::bad_request("the Scale has no integer spec.replicas"))?;
    if replicas < 0 {
        return Err(ApiError::invalid(
            "autoscaling",
            "Scale",
            object
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default(),
            "spec.replicas",
            &format!("Invalid value: {replicas}: must be greater than or equal to 0"),
        ));
    }
    let mut updated = object.clone();
    let pointer = pointer_of(&paths.spec_replicas);
    let mut current = &mut updated;
    let segments: Vec<&str> = pointer.split('/').skip(1).collect();
    for (i, seg) in segments.iter().enumerate() {
        if !current.is_object() {
            *current = json!({});
        }
        if i + 1 == segments.len() {
            current[*seg] = json!(replicas);
            break;
        }
        if current.get(*seg).is_none() {
            current[*seg] = json!({});
        }
        current = &mut current[*seg];
    }
    Ok(updated)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::sandbox::registry::Registry;

    fn kinds() -> Registry {
        Registry::build([])
    }

    #[test]
    fn create_rules() {
        let registry = kinds();
        let deploy = registry.find("apps", "v1", "deployments").unwrap();
        let created = prepare_create(
            deploy,
            "v1",
            json!({"metadata": {"generateName": "web-", "uid": "x", "resourceVersion": "9"},
                   "spec": {"replicas": 2}, "status": {"replicas": 5}}),
            Some("shop"),
        )
        .unwrap();
        let name = created["metadata"]["name"].as_str().unwrap();
        assert!(name.starts_with("web-") && name.len() == 9, "{name}");
        assert_eq!(created["metadata"]["namespace"], "shop");
        assert!(created["metadata"].get("uid").is_none());
        assert!(created.get("status").is_none(), "status is reset on create");
        assert_eq!(created["kind"], "Deployment");

        let bad = prepare_create(
            deploy,
            "v1",
            json!({"metadata": {"name": "Bad_Name"}}),
            Some("a"),
        );
        assert_eq!(bad.unwrap_err().code, 422);
        let mismatch = prepare_create(
            deploy,
            "v1",
            json!({"metadata": {"name": "a", "namespace": "b"}}),
            Some("c"),
        );
        assert_eq!(mismatch.unwrap_err().code, 400);
        let pods = registry.find("", "v1", "pods").unwrap();
        let pod =
            prepare_create(pods, "v1", json!({"metadata": {"name": "p"}}), Some("a")).unwrap();
        assert_eq!(pod["status"]["phase"], "Pending");
    }

    #[test]
    fn update_rules() {
        let registry = kinds();
        let deploy = registry.find("apps", "v1", "deployments").unwrap();
        let old = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "a", "uid": "u1", "generation": 3, "resourceVersion": "7"},
            "spec": {"replicas": 1}, "status": {"replicas": 1}});
        let cases = [
            (
                "main: spec change bumps generation, status ignored",
                Endpoint::Main,
                json!({"metadata": {"name": "web", "uid": "other"}, "spec": {"replicas": 2}, "status": {"replicas": 9}}),
                json!({"replicas": 2}),
                json!({"replicas": 1}),
                4,
            ),
            (
                "main: label change keeps generation",
                Endpoint::Main,
                json!({"metadata": {"name": "web", "labels": {"a": "b"}}, "spec": {"replicas": 1}}),
                json!({"replicas": 1}),
                json!({"replicas": 1}),
                3,
            ),
            (
                "status: only status changes",
                Endpoint::Status,
                json!({"metadata": {"name": "web"}, "spec": {"replicas": 5}, "status": {"replicas": 4}}),
                json!({"replicas": 1}),
                json!({"replicas": 4}),
                3,
            ),
        ];
        for (name, endpoint, new, spec, status, generation) in cases {
            let result = finish_update(deploy, "v1", &old, new, endpoint).unwrap();
            assert_eq!(result["spec"], spec, "{name}");
            assert_eq!(result["status"], status, "{name}");
            assert_eq!(result["metadata"]["generation"], generation, "{name}");
            assert_eq!(result["metadata"]["uid"], "u1", "{name}");
        }
    }

    #[test]
    fn scale_round_trip() {
        let paths = ScalePaths {
            spec_replicas: ".spec.replicas".into(),
            status_replicas: ".status.HPAReplicas".into(),
            label_selector: Some(".status.selector".into()),
        };
        let object = json!({"metadata": {"name": "r", "namespace": "a"}, "spec": {"replicas": 3},
                            "status": {"HPAReplicas": 2, "selector": "app=r"}});
        let scale = to_scale(&object, &paths);
        assert_eq!(scale["spec"]["replicas"], 3);
        assert_eq!(scale["status"], json!({"replicas": 2, "selector": "app=r"}));
        let updated = apply_scale(&object, &paths, &json!({"spec": {"replicas": 5}})).unwrap();
        assert_eq!(updated["spec"]["replicas"], 5);
        assert!(apply_scale(&object, &paths, &json!({"spec": {"replicas": -1}})).is_err());
        assert_eq!(pointer_of(".spec.replicas"), "/spec/replicas");
    }
}
