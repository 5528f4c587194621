//! Discovery documents built from the registry: `/version`, legacy `/api` and `/apis` with
//! their APIResourceLists, aggregated discovery (`apidiscovery.k8s.io/v2`), and the OpenAPI v3
//! index and per-group-version documents that `kubectl apply` needs to delegate validation.

use serde_json::{Value, json};

use super::registry::{Registry, ResourceKind};

/// The Content-Type of aggregated discovery responses.
pub const AGGREGATED_CONTENT_TYPE: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// `/version`. The minor steers the kubectl dispatcher on this machine, so it is pinned.
pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": "32",
        "gitVersion": "v1.32.0",
        "gitCommit": "rolltop-sandbox",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.23",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

/// `/api` (legacy).
pub fn core_versions(server_address: &str) -> Value {
    json!({"kind": "APIVersions", "versions": ["v1"],
           "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]})
}

fn group_json(name: &str, versions: &[String]) -> Value {
    let versions: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{name}/{v}"), "version": v}))
        .collect();
    json!({"name": name, "versions": versions, "preferredVersion": versions.first().cloned().unwrap_or(Value::Null)})
}

/// `/apis` (legacy).
pub fn group_list(registry: &Registry) -> Value {
    let groups: Vec<Value> = registry
        .groups()
        .iter()
        .map(|(name, versions)| group_json(name, versions))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `/apis/{group}`.
pub fn group(registry: &Registry, name: &str) -> Option<Value> {
    registry
        .groups()
        .iter()
        .find(|(g, _)| g == name)
        .map(|(g, versions)| {
            let mut doc = group_json(g, versions);
            doc["kind"] = json!("APIGroup");
            doc["apiVersion"] = json!("v1");
            doc
        })
}

fn subresources(kind: &ResourceKind) -> Vec<(&'static str, Vec<&'static str>, String)> {
    let mut subs = Vec::new();
    if kind.status {
        subs.push(("status", vec!["get", "patch", "update"], kind.kind.clone()));
    }
    if kind.scale.is_some() {
        subs.push(("scale", vec!["get", "patch", "update"], "Scale".to_owned()));
    }
    if kind.group.is_empty() && kind.plural == "pods" {
        subs.push(("log", vec!["get"], "Pod".to_owned()));
        subs.push(("eviction", vec!["create"], "Eviction".to_owned()));
    }
    if kind.group.is_empty() && kind.plural == "services" {
        subs.push((
            "proxy",
            vec!["create", "delete", "get", "patch", "update"],
            "ServiceProxyOptions".to_owned(),
        ));
    }
    subs
}

/// `/api/v1` or `/apis/{g}/{v}` (legacy APIResourceList).
pub fn resource_list(registry: &Registry, group: &str, version: &str) -> Option<Value> {
    let kinds: Vec<&ResourceKind> = registry.in_group_version(group, version).collect();
    if kinds.is_empty() {
        return None;
    }
    let mut resources = Vec::new();
    for kind in kinds {
        let mut r = json!({"name": kind.plural, "singularName": kind.singular,
            "namespaced": kind.namespaced, "kind": kind.kind, "verbs": kind.verbs()});
        if !kind.short_names.is_empty() {
            r["shortNames"] = json!(kind.short_names);
        }
        if !kind.categories.is_empty() {
            r["categories"] = json!(kind.categories);
        }
        resources.push(r);
        for (sub, verbs, sub_kind) in subresources(kind) {
            let mut entry = json!({"name": format!("{}/{sub}", kind.plural), "singularName": "",
                "namespaced": kind.namespaced, "kind": sub_kind, "verbs": verbs});
            if sub == "scale" {
                entry["group"] = json!("autoscaling");
                entry["version"] = json!("v1");
            }
            resources.push(entry);
        }
    }
    let group_version = if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    };
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version,
                "resources": resources}),
    )
}

fn aggregated_resource(kind: &ResourceKind, version: &str) -> Value {
    let response_kind = json!({"group": kind.group, "version": version, "kind": kind.kind});
    let mut r = json!({
        "resource": kind.plural,
        "responseKind": response_kind,
        "scope": if kind.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": kind.singular,
        "verbs": kind.verbs(),
    });
    if !kind.short_names.is_empty() {
        r["shortNames"] = json!(kind.short_names);
    }
    if !kind.categories.is_empty() {
        r["categories"] = json!(kind.categories);
    }
    let subs: Vec<Value> = subresources(kind)
        .into_iter()
        .map(|(sub, verbs, sub_kind)| {
            let (g, v) = if sub == "scale" {
                ("autoscaling".to_owned(), "v1".to_owned())
            } else {
                (kind.group.clone(), version.to_owned())
            };
            json!({"subresource": sub, "responseKind": {"group": g, "version": v, "kind": sub_kind},
                   "verbs": verbs})
        })
        .collect();
    if !subs.is_empty() {
        r["subresources"] = json!(subs);
    }
    r
}

/// Aggregated discovery for `/api` (`core`) or `/apis`.
pub fn aggregated(registry: &Registry, core: bool) -> Value {
    let groups: Vec<(String, Vec<String>)> = if core {
        vec![(String::new(), vec!["v1".to_owned()])]
    } else {
        registry.groups()
    };
    let items: Vec<Value> = groups
        .iter()
        .map(|(group, versions)| {
            let versions: Vec<Value> = versions
                .iter()
                .map(|v| {
                    let resources: Vec<Value> = registry
                        .in_group_version(group, v)
                        .map(|k| aggregated_resource(k, v))
                        .collect();
                    json!({"version": v, "resources": resources, "freshness": "Current"})
                })
                .collect();
            json!({"metadata": {"name": group, "creationTimestamp": null}, "versions": versions})
        })
        .collect();
    json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2",
           "metadata": {}, "items": items})
}

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// `/openapi/v3`: one entry per served group-version.
pub fn openapi_index(registry: &Registry) -> Value {
    let mut paths = serde_json::Map::new();
    let mut gvs = vec![(String::new(), "v1".to_owned())];
    for (group, versions) in registry.groups() {
        for v in versions {
            gvs.push((group.clone(), v));
        }
    }
    for (group, version) in gvs {
        let path = gv_path(&group, &version);
        paths.insert(
            path.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{path}?hash={}", hash_of(registry, &group, &version))}),
        );
    }
    json!({"paths": paths})
}

/// A cheap fingerprint of a group-version's kinds, so kubectl's cache notices new CRDs.
fn hash_of(registry: &Registry, group: &str, version: &str) -> String {
    let mut h: u64 = 1_469_598_103_934_665_603;
    for k in registry.in_group_version(group, version) {
        for b in k.key().bytes().chain(k.kind.bytes()) {
            h ^= u64::from(b);
            h = h.wrapping_mul(1_099_511_628_211);
        }
    }
    format!("{h:016X}")
}

fn schema_name(kind: &ResourceKind, version: &str) -> String {
    let group = if kind.group.is_empty() {
        "io.k8s.api.core".to_owned()
    } else {
        kind.group.split('.').rev().collect::<Vec<_>>().join(".")
    };
    format!("{group}.{version}.{}", kind.kind)
}

/// `/openapi/v3/{api/v1|apis/g/v}`: paths with PATCH operations that declare
/// `fieldValidation` and the group-version-kind, plus permissive schemas.
pub fn openapi_document(registry: &Registry, group: &str, version: &str) -> Option<Value> {
    let kinds: Vec<&ResourceKind> = registry.in_group_version(group, version).collect();
    if kinds.is_empty() {
        return None;
    }
    let mut paths = serde_json::Map::new();
    let mut schemas = serde_json::Map::new();
    let field_validation = json!({"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true}});
    for kind in kinds.into_iter().filter(|k| !k.create_only) {
        let gvk = json!({"group": kind.group, "version": version, "kind": kind.kind});
        let name = schema_name(kind, version);
        let reference = json!({"$ref": format!("#/components/schemas/{name}")});
        let prefix = format!("/{}", gv_path(group, version));
        let item = if kind.namespaced {
            format!("{prefix}/namespaces/{{namespace}}/{}/{{name}}", kind.plural)
        } else {
            format!("{prefix}/{}/{{name}}", kind.plural)
        };
        let collection = if kind.namespaced {
            format!("{prefix}/namespaces/{{namespace}}/{}", kind.plural)
        } else {
            format!("{prefix}/{}", kind.plural)
        };
        let op = |verb: &str, action: &str| {
            json!({
                "operationId": format!("{verb}{}", kind.kind),
                "parameters": [field_validation.clone()],
                "requestBody": {"content": {"application/json": {"schema": reference.clone()}}},
                "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": reference.clone()}}}},
                "x-kubernetes-action": action,
                "x-kubernetes-group-version-kind": gvk.clone(),
            })
        };
        paths.insert(
            item,
            json!({"get": op("read", "get"), "put": op("replace", "put"), "patch": op("patch", "patch"),
                   "delete": op("delete", "delete")}),
        );
        paths.insert(
            collection,
            json!({"get": op("list", "list"), "post": op("create", "post")}),
        );
        schemas.insert(
            name,
            json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true,
                   "x-kubernetes-group-version-kind": [gvk]}),
        );
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.32.0"},
        "paths": paths,
        "components": {"schemas": schemas},
    }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn resource_list_names_subresources() {
        let registry = Registry::build([]);
        let list = resource_list(&registry, "apps", "v1").unwrap();
        let names: Vec<&str> = list["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert!(names.contains(&"deployments/scale"));
        assert!(names.contains(&"replicasets/status"));
        assert!(resource_list(&registry, "nope", "v1").is_none());
    }

    #[test]
    fn openapi_patch_declares_field_validation() {
        let registry = Registry::build([]);
        let doc = openapi_document(&registry, "", "v1").unwrap();
        let patch = &doc["paths"]["/api/v1/namespaces/{namespace}/pods/{name}"]["patch"];
        assert_eq!(patch["parameters"][0]["name"], "fieldValidation");
        assert_eq!(patch["x-kubernetes-group-version-kind"]["kind"], "Pod");
        assert!(openapi_index(&registry)["paths"]["apis/apps/v1"].is_object());
    }

    #[test]
    fn aggregated_core_has_one_unnamed_group() {
        let registry = Registry::build([]);
        let doc = aggregated(&registry, true);
        assert_eq!(doc["items"].as_array().unwrap().len(), 1);
        assert_eq!(doc["items"][0]["metadata"]["name"], "");
    }
}
