//! Minimal, schemaless CRDs for the optional router kinds (Istio VirtualService and
//! DestinationRule at `v1alpha3`, SMI TrafficSplit at `v1alpha3`), for a sandbox or demo cluster
//! that has no mesh installed. They only make the kinds servable so the field reports' objects
//! can be applied; they validate nothing (`x-kubernetes-preserve-unknown-fields`).

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::json;

use super::RouterKind;

/// The version each schemaless CRD serves.
pub const SCHEMALESS_VERSION: &str = "v1alpha3";

/// A schemaless, namespaced CRD for `kind` (Ingress is built in: `None`).
pub fn schemaless_crd(kind: RouterKind) -> Option<CustomResourceDefinition> {
    if kind == RouterKind::Ingress {
        return None;
    }
    serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{}.{}", kind.plural(), kind.group())},
        "spec": {
            "group": kind.group(), "scope": "Namespaced",
            "names": {"plural": kind.plural(), "singular": kind.kind().to_lowercase(),
                      "kind": kind.kind(), "listKind": format!("{}List", kind.kind())},
            "versions": [{"name": SCHEMALESS_VERSION, "served": true, "storage": true,
                          "schema": {"openAPIV3Schema": {"type": "object",
                                     "x-kubernetes-preserve-unknown-fields": true}}}]
        }
    }))
    .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_crd_per_optional_kind() {
        let names: Vec<String> = RouterKind::ALL
            .into_iter()
            .filter_map(schemaless_crd)
            .filter_map(|crd| crd.metadata.name)
            .collect();
        assert_eq!(
            names,
            [
                "virtualservices.networking.istio.io",
                "destinationrules.networking.istio.io",
                "trafficsplits.split.smi-spec.io"
            ]
        );
    }
}
