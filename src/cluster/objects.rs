//! Single objects for the cockpit's pagers: one object's YAML (managedFields and the
//! last-applied annotation stripped, as `kubectl get -o yaml` users usually want), and a pod's
//! log followed line by line through `pods/log`. Secrets are never fetched here.

use futures::{AsyncBufReadExt, StreamExt};
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DynamicObject, LogParams};
use kube::core::ApiResource;
use kube::{Client, Resource};

use crate::crd::{AnalysisRun, Rollout};

/// The kinds the YAML view opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKind {
    Rollout,
    ReplicaSet,
    Pod,
    AnalysisRun,
}

impl ObjectKind {
    pub fn word(self) -> &'static str {
        match self {
            Self::Rollout => "Rollout",
            Self::ReplicaSet => "ReplicaSet",
            Self::Pod => "Pod",
            Self::AnalysisRun => "AnalysisRun",
        }
    }

    fn resource(self) -> ApiResource {
        fn erase<K: Resource<DynamicType = ()>>() -> ApiResource {
            ApiResource::erase::<K>(&())
        }
        match self {
            Self::Rollout => erase::<Rollout>(),
            Self::ReplicaSet => erase::<ReplicaSet>(),
            Self::Pod => erase::<Pod>(),
            Self::AnalysisRun => erase::<AnalysisRun>(),
        }
    }
}

/// Why an object's YAML could not be shown.
#[derive(Debug, thiserror::Error)]
pub enum FetchYamlError {
    #[error("getting {kind} {namespace}/{name}: {source}")]
    Get {
        kind: &'static str,
        namespace: String,
        name: String,
        source: kube::Error,
    },
    #[error("writing {0} as YAML: {1}")]
    Encode(&'static str, String),
}

const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// The object as YAML, without managedFields or the last-applied annotation.
pub async fn fetch_yaml(
    client: &Client,
    kind: ObjectKind,
    namespace: &str,
    name: &str,
) -> Result<String, FetchYamlError> {
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &kind.resource());
    let mut object = api.get(name).await.map_err(|source| FetchYamlError::Get {
        kind: kind.word(),
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        source,
    })?;
    strip(&mut object);
    serde_saphyr::to_string(&object).map_err(|e| FetchYamlError::Encode(kind.word(), e.to_string()))
}

/// Drops what nobody reads on screen and what can be huge.
pub fn strip(object: &mut DynamicObject) {
    object.metadata.managed_fields = None;
    if let Some(annotations) = object.metadata.annotations.as_mut() {
        annotations.remove(LAST_APPLIED);
        if annotations.is_empty() {
            object.metadata.annotations = None;
        }
    }
}

/// What a followed log produces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogEvent {
    Lines(Vec<String>),
    /// The stream ended: `None` when the server closed it, else the error.
    Ended(Option<String>),
}

/// Lines sent in one batch at most; a chatty pod cannot flood the loop with one message per line.
const LOG_BATCH: usize = 256;

/// Follows the log of `pod` (last `tail` lines first) until the stream ends or `send` says
/// the receiver is gone (returns false).
pub async fn follow_log(
    client: Client,
    namespace: String,
    pod: String,
    container: Option<String>,
    tail: i64,
    send: impl Fn(LogEvent) -> bool + Send + 'static,
) {
    let api: Api<Pod> = Api::namespaced(client, &namespace);
    let params = LogParams {
        container,
        follow: true,
        tail_lines: Some(tail),
        ..LogParams::default()
    };
    let reader = match api.log_stream(&pod, &params).await {
        Ok(reader) => reader,
        Err(error) => {
            send(LogEvent::Ended(Some(error.to_string())));
            return;
        }
    };
    let mut lines = reader.lines().ready_chunks(LOG_BATCH);
    while let Some(batch) = lines.next().await {
        let mut good = Vec::with_capacity(batch.len());
        let mut failed = None;
        for line in batch {
            match line {
                Ok(line) => good.push(line),
                Err(error) => failed = Some(error.to_string()),
            }
        }
        if !good.is_empty() && !send(LogEvent::Lines(good)) {
            return;
        }
        if let Some(error) = failed {
            send(LogEvent::Ended(Some(error)));
            return;
        }
    }
    send(LogEvent::Ended(None));
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn strip_drops_managed_fields_and_last_applied() {
        let mut object: DynamicObject = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "namespace": "n",
                "managedFields": [{"manager": "kubectl"}],
                "annotations": {LAST_APPLIED: "{}", "team": "shop"}},
        }))
        .unwrap();
        strip(&mut object);
        assert!(object.metadata.managed_fields.is_none());
        let annotations = object.metadata.annotations.unwrap();
        assert_eq!(annotations.len(), 1);
        assert_eq!(annotations["team"], "shop");
    }
}
