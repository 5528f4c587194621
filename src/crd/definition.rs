//! The CustomResourceDefinitions rolltop installs (`rolltop install-crds`), and their
//! server-side apply.
//!
//! Names, short names, printer columns and subresources follow upstream Argo Rollouts (only
//! Rollout serves `status` and `scale`; see [`crds`]). The schemas are deliberately permissive
//! (`spec` and `status` are objects that preserve unknown fields, plus the few typed paths the
//! scale subresource reads): a derived schema would make the API server prune or reject fields of
//! newer Argo versions, and Argo's own controller validates specs itself.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, CustomResourceValidation, JSONSchemaProps,
};
use kube::api::{Api, Patch, PatchParams};
use kube::core::crd::v1::CustomResourceExt;
use serde_json::json;

use super::analysis::{AnalysisRun, AnalysisTemplate, ClusterAnalysisTemplate};
use super::experiment::Experiment;
use super::rollout::Rollout;

/// The field manager for rolltop's server-side applies.
pub const FIELD_MANAGER: &str = "rolltop";

/// Why installing the CRDs failed.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("reading CustomResourceDefinition {name}: {source}")]
    Read {
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("applying CustomResourceDefinition {name}: {source}")]
    Apply {
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("waiting for CustomResourceDefinition {name} to be established: {source}")]
    Wait {
        name: String,
        #[source]
        source: kube::runtime::wait::Error,
    },
    #[error("CustomResourceDefinition {name} was not established within {timeout:?}")]
    NotEstablished {
        name: String,
        timeout: std::time::Duration,
    },
}

/// A `{type: object, x-kubernetes-preserve-unknown-fields: true}` schema with the given typed
/// properties.
fn open_object(properties: serde_json::Value) -> serde_json::Value {
    let mut schema = json!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true,
    });
    if properties.as_object().is_some_and(|p| !p.is_empty()) {
        schema["properties"] = properties;
    }
    schema
}

/// The permissive structural schema shared by all kinds.
fn permissive_schema(
    spec_properties: serde_json::Value,
    status_properties: serde_json::Value,
) -> JSONSchemaProps {
    let schema = json!({
        "type": "object",
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": open_object(spec_properties),
            "status": open_object(status_properties),
        }
    });
    // The literal above is a valid JSONSchemaProps by construction; a failure here would be a
    // programming error caught by the unit tests, so fall back to an empty schema rather than
    // panic in library code.
    serde_json::from_value(schema).unwrap_or_default()
}

/// Which subresources a kind serves. Only Rollout has `status` (and `scale`): Argo's analysis
/// and experiment controllers write AnalysisRun and Experiment status with merge patches on the
/// main resource, which an API server would silently drop if a status subresource existed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Subresources {
    /// Keep what the derive declared (status + scale for Rollout).
    AsDerived,
    /// Serve none.
    None,
}

/// Fills in what the derive leaves open: the schema, and the subresources upstream serves.
fn finish(
    mut crd: CustomResourceDefinition,
    schema: &JSONSchemaProps,
    subresources: Subresources,
) -> CustomResourceDefinition {
    // Upstream states the list kind; the API server would default it to the same value.
    crd.spec.names.list_kind = Some(format!("{}List", crd.spec.names.kind));
    for version in &mut crd.spec.versions {
        version.schema = Some(CustomResourceValidation {
            open_api_v3_schema: Some(schema.clone()),
        });
        if subresources == Subresources::None {
            version.subresources = None;
        }
    }
    crd
}

/// The five Argo Rollouts CRDs: Rollout, AnalysisTemplate, ClusterAnalysisTemplate, AnalysisRun,
/// Experiment (in that order). Only Rollout serves subresources (`status`, `scale`).
pub fn crds() -> Vec<CustomResourceDefinition> {
    let plain = || permissive_schema(json!({}), json!({}));
    // The scale subresource reads these three paths; typing them lets the API server and the HPA
    // rely on them while everything else stays open.
    let rollout_schema = permissive_schema(
        json!({"replicas": {"type": "integer", "format": "int32"}}),
        json!({
            "HPAReplicas": {"type": "integer", "format": "int32"},
            "selector": {"type": "string"},
        }),
    );
    vec![
        finish(Rollout::crd(), &rollout_schema, Subresources::AsDerived),
        finish(AnalysisTemplate::crd(), &plain(), Subresources::None),
        finish(ClusterAnalysisTemplate::crd(), &plain(), Subresources::None),
        finish(AnalysisRun::crd(), &plain(), Subresources::None),
        finish(Experiment::crd(), &plain(), Subresources::None),
    ]
}

/// The CRDs as one multi-document YAML stream (`rolltop install-crds --print`).
pub fn crds_yaml() -> String {
    crds()
        .iter()
        .map(|crd| match serde_saphyr::to_string(crd) {
            Ok(text) => format!("---\n{text}"),
            // Serializing plain data to YAML cannot fail; keep the stream well-formed anyway.
            Err(error) => format!("---\n# failed to render {:?}: {error}\n", crd.metadata.name),
        })
        .collect()
}

/// Server-side applies every CRD with field manager `rolltop` (forcing ownership, as
/// `kubectl apply --server-side --force-conflicts` would) and reports per CRD what happened, in
/// kubectl's words: `customresourcedefinition.apiextensions.k8s.io/<name> created|configured|unchanged`.
pub async fn install(client: &kube::Client) -> Result<Vec<String>, InstallError> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let mut report = Vec::new();
    for crd in crds() {
        let name = crd.metadata.name.clone().unwrap_or_default();
        let before = api
            .get_opt(&name)
            .await
            .map_err(|source| InstallError::Read {
                name: name.clone(),
                source,
            })?;
        let after = api
            .patch(&name, &params, &Patch::Apply(&crd))
            .await
            .map_err(|source| InstallError::Apply {
                name: name.clone(),
                source,
            })?;
        // Compare what we apply, not resourceVersions: the API server's own CRD controller
        // writes status conditions (Established, NamesAccepted) at any time.
        let action = match before {
            None => "created",
            Some(old)
                if old.spec == after.spec
                    && old.metadata.labels == after.metadata.labels
                    && old.metadata.annotations == after.metadata.annotations =>
            {
                "unchanged"
            }
            Some(_) => "configured",
        };
        report.push(format!(
            "customresourcedefinition.apiextensions.k8s.io/{name} {action}"
        ));
    }
    Ok(report)
}

/// Waits until every CRD reports the `Established` condition, so that objects of the new kinds
/// can be created at once (a real API server needs a moment after the first install).
pub async fn wait_established(
    client: &kube::Client,
    timeout: std::time::Duration,
) -> Result<(), InstallError> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in crds() {
        let name = crd.metadata.name.unwrap_or_default();
        let established = kube::runtime::wait::await_condition(
            api.clone(),
            &name,
            kube::runtime::wait::conditions::is_crd_established(),
        );
        match tokio::time::timeout(timeout, established).await {
            Ok(Ok(_)) => {}
            Ok(Err(source)) => return Err(InstallError::Wait { name, source }),
            Err(_) => return Err(InstallError::NotEstablished { name, timeout }),
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_crd_has_a_permissive_structural_schema() {
        for crd in crds() {
            let version = &crd.spec.versions[0];
            let schema = serde_json::to_value(
                version
                    .schema
                    .as_ref()
                    .unwrap()
                    .open_api_v3_schema
                    .as_ref()
                    .unwrap(),
            )
            .unwrap();
            assert_eq!(schema["type"], "object");
            for part in ["spec", "status"] {
                assert_eq!(schema["properties"][part]["type"], "object");
                assert_eq!(
                    schema["properties"][part]["x-kubernetes-preserve-unknown-fields"], true,
                    "{part} of {:?}",
                    crd.metadata.name
                );
            }
        }
    }
}
