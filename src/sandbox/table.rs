//! Server-side Tables (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`): the column
//! sets the real API server prints for the built-in kinds, a CRD's additionalPrinterColumns
//! (simple JSONPaths evaluated here), and Name/Age for anything else.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::registry::ResourceKind;

/// The Content-Type of a Table response.
pub const TABLE_CONTENT_TYPE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io";

struct Column {
    name: &'static str,
    type_: &'static str,
    priority: i64,
    format: &'static str,
}

const fn col(name: &'static str, type_: &'static str, priority: i64) -> Column {
    Column {
        name,
        type_,
        priority,
        format: if matches!(name.as_bytes(), b"Name") {
            "name"
        } else {
            ""
        },
    }
}

fn builtin_columns(kind: &ResourceKind) -> Option<Vec<Column>> {
    let cols = match (kind.group.as_str(), kind.plural.as_str()) {
        ("", "pods") => vec![
            col("Name", "string", 0),
            col("Ready", "string", 0),
            col("Status", "string", 0),
            col("Restarts", "string", 0),
            col("Age", "string", 0),
            col("IP", "string", 1),
            col("Node", "string", 1),
            col("Nominated Node", "string", 1),
            col("Readiness Gates", "string", 1),
        ],
        ("apps", "replicasets") => vec![
            col("Name", "string", 0),
            col("Desired", "integer", 0),
            col("Current", "integer", 0),
            col("Ready", "integer", 0),
            col("Age", "string", 0),
            col("Containers", "string", 1),
            col("Images", "string", 1),
            col("Selector", "string", 1),
        ],
        ("apps", "deployments") => vec![
            col("Name", "string", 0),
            col("Ready", "string", 0),
            col("Up-to-date", "string", 0),
            col("Available", "string", 0),
            col("Age", "string", 0),
            col("Containers", "string", 1),
            col("Images", "string", 1),
            col("Selector", "string", 1),
        ],
        ("", "services") => vec![
            col("Name", "string", 0),
            col("Type", "string", 0),
            col("Cluster-IP", "string", 0),
            col("External-IP", "string", 0),
            col("Port(s)", "string", 0),
            col("Age", "string", 0),
            col("Selector", "string", 1),
        ],
        ("", "nodes") => vec![
            col("Name", "string", 0),
            col("Status", "string", 0),
            col("Roles", "string", 0),
            col("Age", "string", 0),
            col("Version", "string", 0),
            col("Internal-IP", "string", 1),
            col("External-IP", "string", 1),
            col("OS-Image", "string", 1),
            col("Kernel-Version", "string", 1),
            col("Container-Runtime", "string", 1),
        ],
        ("", "namespaces") => vec![
            col("Name", "string", 0),
            col("Status", "string", 0),
            col("Age", "string", 0),
        ],
        ("" | "events.k8s.io", "events") => vec![
            col("Last Seen", "string", 0),
            col("Type", "string", 0),
            col("Reason", "string", 0),
            col("Object", "string", 0),
            col("Subobject", "string", 1),
            col("Source", "string", 1),
            col("Message", "string", 0),
            col("First Seen", "string", 1),
            col("Count", "string", 1),
            col("Name", "string", 1),
        ],
        ("batch", "jobs") => vec![
            col("Name", "string", 0),
            col("Status", "string", 0),
            col("Completions", "string", 0),
            col("Duration", "string", 0),
            col("Age", "string", 0),
            col("Containers", "string", 1),
            col("Images", "string", 1),
            col("Selector", "string", 1),
        ],
        ("", "configmaps") => vec![
            col("Name", "string", 0),
            col("Data", "integer", 0),
            col("Age", "string", 0),
        ],
        ("", "secrets") => vec![
            col("Name", "string", 0),
            col("Type", "string", 0),
            col("Data", "integer", 0),
            col("Age", "string", 0),
        ],
        ("networking.k8s.io", "ingresses") => vec![
            col("Name", "string", 0),
            col("Class", "string", 0),
            col("Hosts", "string", 0),
            col("Address", "string", 0),
            col("Ports", "string", 0),
            col("Age", "string", 0),
        ],
        ("coordination.k8s.io", "leases") => vec![
            col("Name", "string", 0),
            col("Holder", "string", 0),
            col("Age", "string", 0),
        ],
        ("", "endpoints") => vec![
            col("Name", "string", 0),
            col("Endpoints", "string", 0),
            col("Age", "string", 0),
        ],
        ("apiextensions.k8s.io", "customresourcedefinitions") => {
            vec![col("Name", "string", 0), col("Created At", "date", 0)]
        }
        _ => return None,
    };
    Some(cols)
}

/// A Kubernetes-style short duration: `45s`, `3m12s`, `5h`, `2d3h`.
pub fn human_duration(seconds: i64) -> String {
    let s = seconds.max(0);
    let m = s / 60;
    let h = m / 60;
    let d = h / 24;
    if s < 120 {
        format!("{s}s")
    } else if m < 10 {
        let rem = s % 60;
        if rem == 0 {
            format!("{m}m")
        } else {
            format!("{m}m{rem}s")
        }
    } else if m < 180 {
        format!("{m}m")
    } else if h < 8 {
        let rem = m % 60;
        if rem == 0 {
            format!("{h}h")
        } else {
            format!("{h}h{rem}m")
        }
    } else if h < 48 {
        format!("{h}h")
    } else if h < 24 * 8 {
        let rem = h % 24;
        if rem == 0 {
            format!("{d}d")
        } else {
            format!("{d}d{rem}h")
        }
    } else if h < 24 * 365 * 2 {
        format!("{d}d")
    } else {
        format!("{}y", d / 365)
    }
}

fn age(timestamp: Option<&Value>, now: DateTime<Utc>) -> String {
    timestamp
        .and_then(Value::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map_or_else(
            || "<unknown>".to_owned(),
            |t| human_duration((now - t.with_timezone(&Utc)).num_seconds()),
        )
}

fn text(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

fn or_none(s: String) -> String {
    if s.is_empty() { "<none>".to_owned() } else { s }
}

fn int(v: Option<&Value>) -> i64 {
    v.and_then(Value::as_i64).unwrap_or(0)
}

fn selector_text(selector: Option<&Value>) -> String {
    selector
        .and_then(|s| s.get("matchLabels").or(Some(s)))
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| format!("{k}={v}")))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}

fn containers_and_images(template_spec: Option<&Value>) -> (String, String) {
    let containers = template_spec
        .and_then(|s| s.get("containers"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let names = containers
        .iter()
        .map(|c| text(c.get("name")))
        .collect::<Vec<_>>();
    let images = containers
        .iter()
        .map(|c| text(c.get("image")))
        .collect::<Vec<_>>();
    (names.join(","), images.join(","))
}

/// The pod STATUS column: Terminating, a container's waiting/terminated reason, or the phase.
pub fn pod_status(pod: &Value) -> String {
    if pod.pointer("/metadata/deletionTimestamp").is_some() {
        return "Terminating".to_owned();
    }
    let mut status = text(pod.pointer("/status/reason"));
    if status.is_empty() {
        status = text(pod.pointer("/status/phase"));
    }
    if let Some(statuses) = pod
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array)
    {
        for cs in statuses {
            let waiting = text(cs.pointer("/state/waiting/reason"));
            let terminated = text(cs.pointer("/state/terminated/reason"));
            if !waiting.is_empty() {
                status = waiting;
            } else if !terminated.is_empty() {
                status = terminated;
            }
        }
    }
    if status.is_empty() {
        "Pending".to_owned()
    } else {
        status
    }
}

fn builtin_cells(kind: &ResourceKind, o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let name = text(o.pointer("/metadata/name"));
    let created = age(o.pointer("/metadata/creationTimestamp"), now);
    let p = |path: &str| o.pointer(path);
    match (kind.group.as_str(), kind.plural.as_str()) {
        ("", "pods") => {
            let total = p("/spec/containers")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            let statuses = p("/status/containerStatuses")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let ready = statuses
                .iter()
                .filter(|c| c.get("ready").and_then(Value::as_bool) == Some(true))
                .count();
            let restarts: i64 = statuses.iter().map(|c| int(c.get("restartCount"))).sum();
            vec![
                json!(name),
                json!(format!("{ready}/{total}")),
                json!(pod_status(o)),
                json!(restarts.to_string()),
                json!(created),
                json!(or_none(text(p("/status/podIP")))),
                json!(or_none(text(p("/spec/nodeName")))),
                json!("<none>"),
                json!("<none>"),
            ]
        }
        ("apps", "replicasets") => {
            let (c, i) = containers_and_images(p("/spec/template/spec"));
            vec![
                json!(name),
                json!(int(p("/spec/replicas"))),
                json!(int(p("/status/replicas"))),
                json!(int(p("/status/readyReplicas"))),
                json!(created),
                json!(c),
                json!(i),
                json!(selector_text(p("/spec/selector"))),
            ]
        }
        ("apps", "deployments") => {
            let (c, i) = containers_and_images(p("/spec/template/spec"));
            vec![
                json!(name),
                json!(format!(
                    "{}/{}",
                    int(p("/status/readyReplicas")),
                    int(p("/spec/replicas"))
                )),
                json!(int(p("/status/updatedReplicas")).to_string()),
                json!(int(p("/status/availableReplicas")).to_string()),
                json!(created),
                json!(c),
                json!(i),
                json!(selector_text(p("/spec/selector"))),
            ]
        }
        ("", "services") => {
            let ports = p("/spec/ports")
                .and_then(Value::as_array)
                .map(|ports| {
                    ports
                        .iter()
                        .map(|port| {
                            format!(
                                "{}/{}",
                                text(port.get("port")),
                                port.get("protocol")
                                    .and_then(Value::as_str)
                                    .unwrap_or("TCP")
                            )
                        })
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default();
            vec![
                json!(name),
                json!(
                    p("/spec/type")
                        .and_then(Value::as_str)
                        .unwrap_or("ClusterIP")
                ),
                json!(or_none(text(p("/spec/clusterIP")))),
                json!("<none>"),
                json!(or_none(ports)),
                json!(created),
                json!(or_none(selector_text(p("/spec/selector")))),
            ]
        }
        ("", "nodes") => {
            let ready = p("/status/conditions")
                .and_then(Value::as_array)
                .and_then(|cs| cs.iter().find(|c| text(c.get("type")) == "Ready"))
                .map(|c| text(c.get("status")));
            let mut status = match ready.as_deref() {
                Some("True") => "Ready".to_owned(),
                Some(_) => "NotReady".to_owned(),
                None => "Unknown".to_owned(),
            };
            if p("/spec/unschedulable").and_then(Value::as_bool) == Some(true) {
                status.push_str(",SchedulingDisabled");
            }
            let roles = p("/metadata/labels")
                .and_then(Value::as_object)
                .map(|labels| {
                    labels
                        .keys()
                        .filter_map(|k| k.strip_prefix("node-role.kubernetes.io/"))
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default();
            let address = |kind: &str| {
                p("/status/addresses")
                    .and_then(Value::as_array)
                    .and_then(|a| a.iter().find(|x| text(x.get("type")) == kind))
                    .map(|x| text(x.get("address")))
                    .unwrap_or_default()
            };
            vec![
                json!(name),
                json!(status),
                json!(or_none(roles)),
                json!(created),
                json!(text(p("/status/nodeInfo/kubeletVersion"))),
                json!(or_none(address("InternalIP"))),
                json!(or_none(address("ExternalIP"))),
                json!(or_none(text(p("/status/nodeInfo/osImage")))),
                json!(or_none(text(p("/status/nodeInfo/kernelVersion")))),
                json!(or_none(text(p("/status/nodeInfo/containerRuntimeVersion")))),
            ]
        }
        ("", "namespaces") => vec![
            json!(name),
            json!(
                p("/status/phase")
                    .and_then(Value::as_str)
                    .unwrap_or("Active")
            ),
            json!(created),
        ],
        ("" | "events.k8s.io", "events") => {
            let regarding = p("/involvedObject").or(p("/regarding"));
            let object = regarding.map_or_else(String::new, |r| {
                format!(
                    "{}/{}",
                    text(r.get("kind")).to_ascii_lowercase(),
                    text(r.get("name"))
                )
            });
            let last = p("/lastTimestamp")
                .filter(|v| !v.is_null())
                .or(p("/eventTime"))
                .or(p("/metadata/creationTimestamp"));
            vec![
                json!(age(last, now)),
                json!(text(p("/type"))),
                json!(text(p("/reason"))),
                json!(object),
                json!(text(regarding.and_then(|r| r.get("fieldPath")))),
                json!(text(p("/source/component").or(p("/reportingController")))),
                json!(text(p("/message").or(p("/note")))),
                json!(age(
                    p("/firstTimestamp").filter(|v| !v.is_null()).or(last),
                    now
                )),
                json!(int(p("/count")).max(1).to_string()),
                json!(name),
            ]
        }
        ("batch", "jobs") => {
            let (c, i) = containers_and_images(p("/spec/template/spec"));
            let succeeded = int(p("/status/succeeded"));
            let completions = p("/spec/completions").and_then(Value::as_i64).unwrap_or(1);
            let failed = p("/status/conditions")
                .and_then(Value::as_array)
                .is_some_and(|cs| {
                    cs.iter()
                        .any(|c| text(c.get("type")) == "Failed" && text(c.get("status")) == "True")
                });
            let status = if failed {
                "Failed"
            } else if succeeded >= completions {
                "Complete"
            } else {
                "Running"
            };
            vec![
                json!(name),
                json!(status),
                json!(format!("{succeeded}/{completions}")),
                json!(""),
                json!(created),
                json!(c),
                json!(i),
                json!(selector_text(p("/spec/selector"))),
            ]
        }
        ("", "configmaps") => {
            let count = p("/data")
                .and_then(Value::as_object)
                .map_or(0, serde_json::Map::len)
                + p("/binaryData")
                    .and_then(Value::as_object)
                    .map_or(0, serde_json::Map::len);
            vec![json!(name), json!(count), json!(created)]
        }
        ("", "secrets") => {
            let count = p("/data")
                .and_then(Value::as_object)
                .map_or(0, serde_json::Map::len);
            vec![
                json!(name),
                json!(p("/type").and_then(Value::as_str).unwrap_or("Opaque")),
                json!(count),
                json!(created),
            ]
        }
        ("networking.k8s.io", "ingresses") => {
            let hosts = p("/spec/rules")
                .and_then(Value::as_array)
                .map(|rules| {
                    rules
                        .iter()
                        .filter_map(|r| r.get("host").and_then(Value::as_str))
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default();
            vec![
                json!(name),
                json!(or_none(text(p("/spec/ingressClassName")))),
                json!(if hosts.is_empty() {
                    "*".to_owned()
                } else {
                    hosts
                }),
                json!(""),
                json!(if p("/spec/tls").is_some() {
                    "80, 443"
                } else {
                    "80"
                }),
                json!(created),
            ]
        }
        ("coordination.k8s.io", "leases") => vec![
            json!(name),
            json!(text(p("/spec/holderIdentity"))),
            json!(created),
        ],
        ("", "endpoints") => {
            let mut addresses = Vec::new();
            for subset in p("/subsets")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
            {
                for address in subset
                    .get("addresses")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
                {
                    for port in subset
                        .get("ports")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default()
                    {
                        addresses.push(format!(
                            "{}:{}",
                            text(address.get("ip")),
                            text(port.get("port"))
                        ));
                    }
                }
            }
            vec![
                json!(name),
                json!(or_none(addresses.join(","))),
                json!(created),
            ]
        }
        ("apiextensions.k8s.io", "customresourcedefinitions") => {
            vec![json!(name), json!(text(p("/metadata/creationTimestamp")))]
        }
        _ => vec![json!(name), json!(created)],
    }
}

/// Evaluates the JSONPath subset printer columns use: `.a.b`, `.a[0].b`,
/// `.a[?(@.type=="Ready")].status`.
pub fn eval_json_path<'a>(object: &'a Value, path: &str) -> Option<&'a Value> {
    let path = path.trim().trim_start_matches('{').trim_end_matches('}');
    let path = path.strip_prefix('$').unwrap_or(path);
    let mut current = object;
    let mut rest = path;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            let end = after.find(['.', '[']).unwrap_or(after.len());
            let field = &after[..end];
            if !field.is_empty() {
                current = current.get(field)?;
            }
            rest = &after[end..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let end = after.find(']')?;
            let inner = &after[..end];
            rest = &after[end + 1..];
            if let Ok(index) = inner.parse::<usize>() {
                current = current.get(index)?;
            } else if let Some(filter) =
                inner.strip_prefix("?(@.").and_then(|f| f.strip_suffix(')'))
            {
                let (field, expected) = filter.split_once("==")?;
                let expected = expected.trim().trim_matches(|c| c == '"' || c == '\'');
                current = current
                    .as_array()?
                    .iter()
                    .find(|item| text(item.get(field.trim())) == expected)?;
            } else {
                let key = inner.trim_matches(|c| c == '"' || c == '\'');
                current = current.get(key)?;
            }
        } else {
            return None;
        }
    }
    Some(current)
}

fn column_definitions(kind: &ResourceKind) -> Vec<Value> {
    let def = |name: &str, type_: &str, format: &str, priority: i64, description: &str| {
        json!({"name": name, "type": type_, "format": format, "description": description,
               "priority": priority})
    };
    if let Some(cols) = builtin_columns(kind) {
        return cols
            .iter()
            .map(|c| def(c.name, c.type_, c.format, c.priority, ""))
            .collect();
    }
    let mut defs = vec![def(
        "Name",
        "string",
        "name",
        0,
        "Name must be unique within a namespace.",
    )];
    if kind.printer_columns.is_empty() {
        defs.push(def("Age", "date", "", 0, "CreationTimestamp"));
    } else {
        for c in &kind.printer_columns {
            defs.push(def(
                &c.name,
                &c.type_,
                &c.format,
                c.priority,
                &c.description,
            ));
        }
    }
    defs
}

fn cells(kind: &ResourceKind, builtin: bool, object: &Value, now: DateTime<Utc>) -> Vec<Value> {
    if builtin {
        return builtin_cells(kind, object, now);
    }
    let mut cells = vec![json!(text(object.pointer("/metadata/name")))];
    if kind.printer_columns.is_empty() {
        cells.push(json!(age(
            object.pointer("/metadata/creationTimestamp"),
            now
        )));
    } else {
        for c in &kind.printer_columns {
            let value = eval_json_path(object, &c.json_path);
            cells.push(match (c.type_.as_str(), value) {
                (_, None | Some(Value::Null)) => Value::Null,
                ("date", v) => json!(age(v, now)),
                ("integer" | "number" | "boolean", Some(v)) => v.clone(),
                (_, Some(v)) => json!(text(Some(v))),
            });
        }
    }
    cells
}

/// What each row's `object` carries (`includeObject`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncludeObject {
    None,
    Metadata,
    Object,
}

impl IncludeObject {
    pub fn parse(raw: Option<&str>) -> Self {
        match raw {
            Some("None") => Self::None,
            Some("Object") => Self::Object,
            _ => Self::Metadata,
        }
    }
}

fn row(
    kind: &ResourceKind,
    builtin: bool,
    object: &Value,
    include: IncludeObject,
    now: DateTime<Utc>,
) -> Value {
    let mut row = json!({"cells": cells(kind, builtin, object, now)});
    match include {
        IncludeObject::None => {}
        IncludeObject::Metadata => {
            let mut metadata = object.get("metadata").cloned().unwrap_or_else(|| json!({}));
            if let Some(m) = metadata.as_object_mut() {
                m.remove("managedFields");
            }
            row["object"] = json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                                   "metadata": metadata});
        }
        IncludeObject::Object => row["object"] = object.clone(),
    }
    row
}

/// A Table of these objects.
pub fn to_table(
    kind: &ResourceKind,
    objects: &[Value],
    resource_version: u64,
    continue_token: Option<&str>,
    include: IncludeObject,
    now: DateTime<Utc>,
) -> Value {
    let mut metadata = json!({"resourceVersion": resource_version.to_string()});
    if let Some(token) = continue_token {
        metadata["continue"] = json!(token);
    }
    let builtin = builtin_columns(kind).is_some();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": column_definitions(kind),
        "rows": objects.iter().map(|o| row(kind, builtin, o, include, now)).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::sandbox::registry::Registry;

    #[test]
    fn human_durations() {
        let cases = [
            (5, "5s"),
            (119, "119s"),
            (125, "2m5s"),
            (600, "10m"),
            (3 * 3600 + 60, "3h1m"),
            (30 * 3600, "30h"),
            (3 * 86400 + 3600, "3d1h"),
            (30 * 86400, "30d"),
            (800 * 86400, "2y"),
        ];
        for (secs, expected) in cases {
            assert_eq!(human_duration(secs), expected, "{secs}");
        }
    }

    #[test]
    fn json_paths() {
        let o = json!({"spec": {"replicas": 3}, "status": {"conditions": [
            {"type": "Available", "status": "False"}, {"type": "Ready", "status": "True"}]},
            "items": [{"name": "a"}]});
        assert_eq!(eval_json_path(&o, ".spec.replicas"), Some(&json!(3)));
        assert_eq!(
            eval_json_path(&o, ".status.conditions[?(@.type==\"Ready\")].status"),
            Some(&json!("True"))
        );
        assert_eq!(eval_json_path(&o, ".items[0].name"), Some(&json!("a")));
        assert_eq!(eval_json_path(&o, ".spec.missing"), None);
    }

    #[test]
    fn pod_rows_have_kubectl_columns() {
        let registry = Registry::build([]);
        let pods = registry.find("", "v1", "pods").unwrap();
        let pod = json!({"metadata": {"name": "web", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"containers": [{"name": "app"}], "nodeName": "sandbox"},
            "status": {"phase": "Running", "podIP": "10.0.0.5",
                "containerStatuses": [{"ready": true, "restartCount": 2}]}});
        let now = DateTime::parse_from_rfc3339("2026-01-01T00:05:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let table = to_table(pods, &[pod], 7, None, IncludeObject::Metadata, now);
        let names: Vec<&str> = table["columnDefinitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            &names[..6],
            ["Name", "Ready", "Status", "Restarts", "Age", "IP"]
        );
        assert_eq!(
            table["rows"][0]["cells"],
            json!([
                "web", "1/1", "Running", "2", "5m", "10.0.0.5", "sandbox", "<none>", "<none>"
            ])
        );
        assert_eq!(table["rows"][0]["object"]["kind"], "PartialObjectMetadata");
    }

    #[test]
    fn node_rows_show_readiness_roles_and_version() {
        let registry = Registry::build([]);
        let nodes = registry.find("", "v1", "nodes").unwrap();
        let node = json!({"metadata": {"name": "sandbox", "creationTimestamp": "2026-01-01T00:00:00Z",
                "labels": {"node-role.kubernetes.io/control-plane": ""}},
            "status": {"conditions": [{"type": "Ready", "status": "True"}],
                "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}],
                "nodeInfo": {"kubeletVersion": "v1.32.0"}}});
        let now = DateTime::parse_from_rfc3339("2026-01-02T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let table = to_table(nodes, &[node], 1, None, IncludeObject::None, now);
        assert_eq!(
            table["rows"][0]["cells"].as_array().unwrap()[..6],
            [
                json!("sandbox"),
                json!("Ready"),
                json!("control-plane"),
                json!("24h"),
                json!("v1.32.0"),
                json!("10.0.0.1")
            ]
        );
        assert!(table["rows"][0].get("object").is_none());
    }

    #[test]
    fn crashing_pod_status_is_the_waiting_reason() {
        let pod = json!({"status": {"phase": "Running", "containerStatuses": [
            {"state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}});
        assert_eq!(pod_status(&pod), "CrashLoopBackOff");
    }
}
