//! The kinds the sandbox serves: built-in Kubernetes kinds, plus every kind a stored
//! CustomResourceDefinition declares. Pure data; the store rebuilds the CRD part whenever a
//! CRD changes.

use serde_json::Value;

/// An `additionalPrinterColumns` entry of a CRD version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrinterColumn {
    pub name: String,
    pub type_: String,
    pub json_path: String,
    pub priority: i64,
    pub description: String,
    pub format: String,
}

/// The `scale` subresource paths of a CRD (or the fixed ones of apps/v1 kinds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScalePaths {
    pub spec_replicas: String,
    pub status_replicas: String,
    pub label_selector: Option<String>,
}

/// One served resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceKind {
    pub group: String,
    /// Served versions, preferred (storage) first.
    pub versions: Vec<String>,
    pub plural: String,
    pub singular: String,
    pub kind: String,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub namespaced: bool,
    pub status: bool,
    pub scale: Option<ScalePaths>,
    /// Only `create` is served (reviews).
    pub create_only: bool,
    /// Defined by a CRD (strategic merge patches answer 415).
    pub custom: bool,
    pub printer_columns: Vec<PrinterColumn>,
}

impl ResourceKind {
    /// The storage key: `argoproj.io/rollouts`, `/pods`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.group, self.plural)
    }

    /// Where objects of this kind are stored: `events.k8s.io` Events share the `v1` Events'
    /// storage, as on the real server.
    pub fn storage_key(&self) -> String {
        if self.is_events_v1() {
            "/events".to_owned()
        } else {
            self.key()
        }
    }

    /// `events.k8s.io/v1` Event, served from `v1` Event storage with conversion.
    pub fn is_events_v1(&self) -> bool {
        self.group == "events.k8s.io" && self.plural == "events"
    }

    pub fn api_version(&self, version: &str) -> String {
        if self.group.is_empty() {
            version.to_owned()
        } else {
            format!("{}/{version}", self.group)
        }
    }

    pub fn preferred_version(&self) -> &str {
        self.versions.first().map_or("v1", String::as_str)
    }

    pub fn serves(&self, version: &str) -> bool {
        self.versions.iter().any(|v| v == version)
    }

    pub fn verbs(&self) -> Vec<&'static str> {
        if self.create_only {
            vec!["create"]
        } else {
            vec![
                "create",
                "delete",
                "deletecollection",
                "get",
                "list",
                "patch",
                "update",
                "watch",
            ]
        }
    }
}

struct Builtin {
    group: &'static str,
    version: &'static str,
    plural: &'static str,
    kind: &'static str,
    short_names: &'static [&'static str],
    namespaced: bool,
    status: bool,
    scale: bool,
}

#[expect(
    clippy::too_many_arguments,
    reason = "a const table row constructor, one column each"
)]
const fn builtin(
    group: &'static str,
    version: &'static str,
    plural: &'static str,
    kind: &'static str,
    short_names: &'static [&'static str],
    namespaced: bool,
    status: bool,
    scale: bool,
) -> Builtin {
    Builtin {
        group,
        version,
        plural,
        kind,
        short_names,
        namespaced,
        status,
        scale,
    }
}

const BUILTINS: &[Builtin] = &[
    builtin(
        "",
        "v1",
        "namespaces",
        "Namespace",
        &["ns"],
        false,
        true,
        false,
    ),
    builtin("", "v1", "pods", "Pod", &["po"], true, true, false),
    builtin("", "v1", "nodes", "Node", &["no"], false, true, false),
    builtin("", "v1", "services", "Service", &["svc"], true, true, false),
    builtin(
        "",
        "v1",
        "endpoints",
        "Endpoints",
        &["ep"],
        true,
        false,
        false,
    ),
    builtin(
        "",
        "v1",
        "configmaps",
        "ConfigMap",
        &["cm"],
        true,
        false,
        false,
    ),
    builtin("", "v1", "secrets", "Secret", &[], true, false, false),
    builtin("", "v1", "events", "Event", &["ev"], true, false, false),
    builtin(
        "",
        "v1",
        "serviceaccounts",
        "ServiceAccount",
        &["sa"],
        true,
        false,
        false,
    ),
    builtin(
        "events.k8s.io",
        "v1",
        "events",
        "Event",
        &["ev"],
        true,
        false,
        false,
    ),
    builtin(
        "apps",
        "v1",
        "replicasets",
        "ReplicaSet",
        &["rs"],
        true,
        true,
        true,
    ),
    builtin(
        "apps",
        "v1",
        "deployments",
        "Deployment",
        &["deploy"],
        true,
        true,
        true,
    ),
    builtin("batch", "v1", "jobs", "Job", &[], true, true, false),
    builtin(
        "networking.k8s.io",
        "v1",
        "ingresses",
        "Ingress",
        &["ing"],
        true,
        true,
        false,
    ),
    builtin(
        "policy",
        "v1",
        "poddisruptionbudgets",
        "PodDisruptionBudget",
        &["pdb"],
        true,
        true,
        false,
    ),
    builtin(
        "coordination.k8s.io",
        "v1",
        "leases",
        "Lease",
        &[],
        true,
        false,
        false,
    ),
    builtin(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        &["crd", "crds"],
        false,
        true,
        false,
    ),
];

/// The built-in kinds, in discovery order.
pub fn builtin_kinds() -> Vec<ResourceKind> {
    let mut kinds: Vec<ResourceKind> = BUILTINS
        .iter()
        .map(|b| ResourceKind {
            group: b.group.to_owned(),
            versions: vec![b.version.to_owned()],
            plural: b.plural.to_owned(),
            singular: b.kind.to_ascii_lowercase(),
            kind: b.kind.to_owned(),
            short_names: b.short_names.iter().map(|s| (*s).to_owned()).collect(),
            categories: if matches!(
                b.plural,
                "pods" | "services" | "replicasets" | "deployments" | "jobs"
            ) {
                vec!["all".to_owned()]
            } else {
                Vec::new()
            },
            namespaced: b.namespaced,
            status: b.status,
            scale: b.scale.then(|| ScalePaths {
                spec_replicas: ".spec.replicas".to_owned(),
                status_replicas: ".status.replicas".to_owned(),
                label_selector: None,
            }),
            create_only: false,
            custom: false,
            printer_columns: Vec::new(),
        })
        .collect();
    kinds.push(ResourceKind {
        group: "authorization.k8s.io".to_owned(),
        versions: vec!["v1".to_owned()],
        plural: "selfsubjectaccessreviews".to_owned(),
        singular: "selfsubjectaccessreview".to_owned(),
        kind: "SelfSubjectAccessReview".to_owned(),
        short_names: Vec::new(),
        categories: Vec::new(),
        namespaced: false,
        status: false,
        scale: None,
        create_only: true,
        custom: false,
        printer_columns: Vec::new(),
    });
    kinds
}

/// Why a CRD cannot be served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CrdError {
    #[error("spec.{0}: Required value")]
    Missing(&'static str),
    #[error(
        "spec.versions: Invalid value: must have exactly one version marked as storage version"
    )]
    NoStorageVersion,
    #[error("metadata.name: Invalid value: {name:?}: must be spec.names.plural+\".\"+spec.group")]
    NameMismatch { name: String },
}

fn strings(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// The kind a CustomResourceDefinition object declares.
pub fn kind_from_crd(crd: &Value) -> Result<ResourceKind, CrdError> {
    let spec = crd.get("spec").ok_or(CrdError::Missing("spec"))?;
    let str_at = |p: &str| spec.pointer(p).and_then(Value::as_str);
    let group = str_at("/group").ok_or(CrdError::Missing("group"))?;
    let plural = str_at("/names/plural").ok_or(CrdError::Missing("names.plural"))?;
    let kind = str_at("/names/kind").ok_or(CrdError::Missing("names.kind"))?;
    let name = crd
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if name != format!("{plural}.{group}") {
        return Err(CrdError::NameMismatch {
            name: name.to_owned(),
        });
    }
    let versions = spec
        .get("versions")
        .and_then(Value::as_array)
        .ok_or(CrdError::Missing("versions"))?;
    let storage = versions
        .iter()
        .find(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
        .or_else(|| (versions.len() == 1).then(|| &versions[0]))
        .ok_or(CrdError::NoStorageVersion)?;
    let storage_name = storage
        .get("name")
        .and_then(Value::as_str)
        .ok_or(CrdError::Missing("versions[].name"))?;
    let mut served: Vec<String> = vec![storage_name.to_owned()];
    for v in versions {
        let served_flag = v.get("served").and_then(Value::as_bool).unwrap_or(true);
        if let Some(n) = v.get("name").and_then(Value::as_str)
            && served_flag
            && n != storage_name
        {
            served.push(n.to_owned());
        }
    }
    if storage.get("served").and_then(Value::as_bool) == Some(false) {
        served.retain(|v| v != storage_name);
    }
    let subresources = storage.get("subresources");
    let scale = subresources
        .and_then(|s| s.get("scale"))
        .map(|s| ScalePaths {
            spec_replicas: s
                .get("specReplicasPath")
                .and_then(Value::as_str)
                .unwrap_or(".spec.replicas")
                .to_owned(),
            status_replicas: s
                .get("statusReplicasPath")
                .and_then(Value::as_str)
                .unwrap_or(".status.replicas")
                .to_owned(),
            label_selector: s
                .get("labelSelectorPath")
                .and_then(Value::as_str)
                .map(str::to_owned),
        });
    let printer_columns = storage
        .get("additionalPrinterColumns")
        .and_then(Value::as_array)
        .map(|cols| {
            cols.iter()
                .filter_map(|c| {
                    Some(PrinterColumn {
                        name: c.get("name")?.as_str()?.to_owned(),
                        type_: c
                            .get("type")
                            .and_then(Value::as_str)
                            .unwrap_or("string")
                            .to_owned(),
                        json_path: c.get("jsonPath")?.as_str()?.to_owned(),
                        priority: c.get("priority").and_then(Value::as_i64).unwrap_or(0),
                        description: c
                            .get("description")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned(),
                        format: c
                            .get("format")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned(),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(ResourceKind {
        group: group.to_owned(),
        versions: served,
        plural: plural.to_owned(),
        singular: str_at("/names/singular")
            .map_or_else(|| kind.to_ascii_lowercase(), str::to_owned),
        kind: kind.to_owned(),
        short_names: strings(spec.pointer("/names/shortNames")),
        categories: strings(spec.pointer("/names/categories")),
        namespaced: str_at("/scope") != Some("Cluster"),
        status: subresources.and_then(|s| s.get("status")).is_some(),
        scale,
        create_only: false,
        custom: true,
        printer_columns,
    })
}

/// Every served kind: built-ins first, then CRD-defined ones.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    pub kinds: Vec<ResourceKind>,
}

impl Registry {
    /// Built-ins plus the kinds of these CRD objects (invalid ones are skipped).
    pub fn build<'a>(crds: impl IntoIterator<Item = &'a Value>) -> Self {
        let mut kinds = builtin_kinds();
        for crd in crds {
            if let Ok(kind) = kind_from_crd(crd)
                && !kinds.iter().any(|k| k.key() == kind.key())
            {
                kinds.push(kind);
            }
        }
        Self { kinds }
    }

    /// The kind served at `group/version/plural`.
    pub fn find(&self, group: &str, version: &str, plural: &str) -> Option<&ResourceKind> {
        self.kinds
            .iter()
            .find(|k| k.group == group && k.plural == plural && k.serves(version))
    }

    pub fn by_key(&self, key: &str) -> Option<&ResourceKind> {
        self.kinds.iter().find(|k| k.key() == key)
    }

    /// Groups in discovery order, each with its versions (preferred first).
    pub fn groups(&self) -> Vec<(String, Vec<String>)> {
        let mut groups: Vec<(String, Vec<String>)> = Vec::new();
        for kind in self.kinds.iter().filter(|k| !k.group.is_empty()) {
            match groups.iter_mut().find(|(g, _)| *g == kind.group) {
                Some((_, versions)) => {
                    for v in &kind.versions {
                        if !versions.contains(v) {
                            versions.push(v.clone());
                        }
                    }
                }
                None => groups.push((kind.group.clone(), kind.versions.clone())),
            }
        }
        groups
    }

    /// Kinds served at one group-version.
    pub fn in_group_version<'a>(
        &'a self,
        group: &'a str,
        version: &'a str,
    ) -> impl Iterator<Item = &'a ResourceKind> + 'a {
        self.kinds
            .iter()
            .filter(move |k| k.group == group && k.serves(version))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rollout_crd() -> Value {
        json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "rollouts.argoproj.io"},
            "spec": {"group": "argoproj.io", "scope": "Namespaced",
                "names": {"plural": "rollouts", "singular": "rollout", "kind": "Rollout",
                          "shortNames": ["ro"], "categories": ["all"]},
                "versions": [
                    {"name": "v1beta1", "served": true, "storage": false},
                    {"name": "v1alpha1", "served": true, "storage": true,
                     "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas",
                        "statusReplicasPath": ".status.HPAReplicas", "labelSelectorPath": ".status.selector"}},
                     "additionalPrinterColumns": [{"name": "Desired", "type": "integer", "jsonPath": ".spec.replicas"}]}
                ]}
        })
    }

    #[test]
    fn crd_kind_has_names_versions_and_subresources() {
        let kind = kind_from_crd(&rollout_crd()).unwrap();
        assert_eq!(kind.key(), "argoproj.io/rollouts");
        assert_eq!(kind.versions, vec!["v1alpha1", "v1beta1"]);
        assert_eq!(kind.short_names, vec!["ro"]);
        assert!(kind.namespaced && kind.status && kind.custom);
        assert_eq!(
            kind.scale.as_ref().unwrap().status_replicas,
            ".status.HPAReplicas"
        );
        assert_eq!(kind.printer_columns[0].name, "Desired");
    }

    #[test]
    fn crd_errors() {
        let mut crd = rollout_crd();
        crd["metadata"]["name"] = json!("wrong");
        assert!(matches!(
            kind_from_crd(&crd),
            Err(CrdError::NameMismatch { .. })
        ));
        assert_eq!(kind_from_crd(&json!({})), Err(CrdError::Missing("spec")));
    }

    #[test]
    fn registry_finds_builtins_and_crds() {
        let crd = rollout_crd();
        let registry = Registry::build([&crd]);
        assert!(registry.find("", "v1", "pods").is_some());
        assert!(registry.find("apps", "v1", "deployments").is_some());
        assert!(
            registry
                .find("argoproj.io", "v1beta1", "rollouts")
                .is_some()
        );
        assert!(registry.find("argoproj.io", "v2", "rollouts").is_none());
        assert!(registry.groups().iter().any(|(g, _)| g == "argoproj.io"));
    }
}
