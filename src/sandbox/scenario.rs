//! The demo scenarios `r1`..`r5`: the five field reports of the design (`seeds.md`) as
//! Kubernetes manifests. The YAML lives in the repository's `scenarios/` folder and is embedded
//! here, so `rolltop sandbox --scenario r5` loads exactly the objects `rolltop demo` shows.
//!
//! [`documents`] is pure: it picks the manifests of the chosen scenarios (R4 and R5 with their
//! Prometheus or web-provider AnalysisTemplate), replaces the address placeholders and orders
//! the objects so every object finds what it needs (namespaces, CRDs, services, templates,
//! rollouts, routers). [`load`] applies them through a `kube::Client` (server-side apply), and
//! [`register_loopback_service`] publishes a loopback process (the traffic exporter, the demo's
//! Prometheus) as a Service so the sandbox's `services/proxy` reaches it.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};
use serde_json::{Value, json};

/// Placeholder, in the Prometheus templates, for the Prometheus address.
pub const PROMETHEUS_PLACEHOLDER: &str = "${PROMETHEUS_URL}";
/// Placeholder, in the web templates, for the traffic statistics address.
pub const TRAFFIC_PLACEHOLDER: &str = "${TRAFFIC_URL}";
/// Where the traffic exporter is published as a Service.
pub const TRAFFIC_NAMESPACE: &str = "rolltop-system";
pub const TRAFFIC_SERVICE: &str = "rolltop-traffic";
/// Where the demo's Prometheus is published, as in R4 (`http://prometheus.istio-system:9090`).
pub const PROMETHEUS_NAMESPACE: &str = "istio-system";
pub const PROMETHEUS_SERVICE: &str = "prometheus";
pub const PROMETHEUS_PORT: u16 = 9090;
/// Field manager of the applied objects.
const FIELD_MANAGER: &str = "rolltop-scenario";

/// One field report as a runnable scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scenario {
    /// `r1`..`r5`.
    pub name: &'static str,
    /// One line for screens and docs.
    pub title: &'static str,
    pub namespace: &'static str,
    pub rollout: &'static str,
    /// The update the demo's story makes: container and new image.
    pub update: (&'static str, &'static str),
    manifests: &'static str,
    prometheus_template: Option<&'static str>,
    web_template: Option<&'static str>,
}

/// The five scenarios, in order.
pub const SCENARIOS: [Scenario; 5] = [
    Scenario {
        name: "r1",
        title: "Istio host-level canary, manual promotion",
        namespace: "argo-apl",
        rollout: "rollouts-demo",
        update: ("rollouts-demo", "argoproj/rollouts-demo:yellow"),
        manifests: include_str!("../../scenarios/r1.yaml"),
        prometheus_template: None,
        web_template: None,
    },
    Scenario {
        name: "r2",
        title: "ALB ingress canary with an X-Canary header override",
        namespace: "tomozo",
        rollout: "tomozo",
        update: ("tomozo", "argoproj/rollouts-demo:green"),
        manifests: include_str!("../../scenarios/r2.yaml"),
        prometheus_template: None,
        web_template: None,
    },
    Scenario {
        name: "r3",
        title: "Istio blue/green by header, as a blueGreen rollout",
        namespace: "sample-ns",
        rollout: "nginx",
        update: ("nginx", "nginx:1.24.0"),
        manifests: include_str!("../../scenarios/r3.yaml"),
        prometheus_template: None,
        web_template: None,
    },
    Scenario {
        name: "r4",
        title: "background Prometheus analysis, 30/60/100 with timed pauses",
        namespace: "default",
        rollout: "nginx",
        update: ("nginx", "nginx:1.24.0"),
        manifests: include_str!("../../scenarios/r4.yaml"),
        prometheus_template: Some(include_str!("../../scenarios/r4-template-prometheus.yaml")),
        web_template: Some(include_str!("../../scenarios/r4-template-web.yaml")),
    },
    Scenario {
        name: "r5",
        title: "a failing canary: analysis fails, rollout aborts, a later retry passes",
        namespace: "kubota-test",
        rollout: "rollouts-demo",
        update: (
            "rollouts-demo",
            "quay.io/brancz/prometheus-example-app:v0.3.0",
        ),
        manifests: include_str!("../../scenarios/r5.yaml"),
        prometheus_template: Some(include_str!("../../scenarios/r5-template-prometheus.yaml")),
        web_template: Some(include_str!("../../scenarios/r5-template-web.yaml")),
    },
];

/// Schema-less Istio and SMI CRDs, so routers can be stored.
const ROUTER_CRDS: [&str; 2] = [
    include_str!("../../scenarios/crds-istio.yaml"),
    include_str!("../../scenarios/crds-smi.yaml"),
];

/// Where the analysis templates of R4 and R5 read their numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetricsSource {
    /// A Prometheus at this URL (templates as in the reports).
    Prometheus(String),
    /// The traffic exporter's JSON at this URL (web-provider variants).
    Web(String),
}

/// Why scenarios could not be chosen or loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadScenarioError {
    #[error("unknown scenario {0:?}: use none, all or r1..r5")]
    Unknown(String),
    #[error("scenario manifest {file} is not valid YAML: {message}")]
    Manifest { file: &'static str, message: String },
    #[error("no API resource known for {api_version} {kind} in the scenarios")]
    Kind { api_version: String, kind: String },
    #[error("installing the rollout CRDs: {0}")]
    Crds(#[from] crate::crd::InstallError),
    #[error("applying {kind} {namespace}/{name}: {source}")]
    Apply {
        kind: String,
        namespace: String,
        name: String,
        #[source]
        source: Box<kube::Error>,
    },
}

/// `none`, `all`, `r1`..`r5` (also comma-separated, e.g. `r1,r5`).
pub fn select(argument: &str) -> Result<Vec<&'static Scenario>, LoadScenarioError> {
    match argument.trim() {
        "none" | "" => Ok(Vec::new()),
        "all" => Ok(SCENARIOS.iter().collect()),
        list => list
            .split(',')
            .map(|name| {
                SCENARIOS
                    .iter()
                    .find(|s| s.name == name.trim())
                    .ok_or_else(|| LoadScenarioError::Unknown(name.trim().to_owned()))
            })
            .collect(),
    }
}

fn parse(file: &'static str, text: &str) -> Result<Vec<Value>, LoadScenarioError> {
    let docs: Vec<Value> =
        serde_saphyr::from_multiple(text).map_err(|e| LoadScenarioError::Manifest {
            file,
            message: e.to_string(),
        })?;
    Ok(docs.into_iter().filter(Value::is_object).collect())
}

/// Apply order: what an object refers to comes before it.
fn rank(kind: &str) -> u8 {
    match kind {
        "Namespace" => 0,
        "CustomResourceDefinition" => 1,
        "Service" | "Endpoints" => 2,
        "Ingress" => 3,
        "AnalysisTemplate" | "ClusterAnalysisTemplate" => 4,
        "Rollout" => 5,
        _ => 6,
    }
}

/// The ordered objects of `scenarios`, placeholders filled in from `metrics`. The router CRDs
/// come first whenever any scenario is chosen.
pub fn documents(
    scenarios: &[&Scenario],
    metrics: &MetricsSource,
) -> Result<Vec<Value>, LoadScenarioError> {
    let mut objects = Vec::new();
    if !scenarios.is_empty() {
        for crds in ROUTER_CRDS {
            objects.extend(parse("scenarios/crds-*.yaml", crds)?);
        }
    }
    for scenario in scenarios {
        objects.extend(parse(scenario.name, scenario.manifests)?);
        let template = match metrics {
            MetricsSource::Prometheus(url) => scenario
                .prometheus_template
                .map(|t| t.replace(PROMETHEUS_PLACEHOLDER, url)),
            MetricsSource::Web(url) => scenario
                .web_template
                .map(|t| t.replace(TRAFFIC_PLACEHOLDER, url)),
        };
        if let Some(template) = template {
            objects.extend(parse(scenario.name, &template)?);
        }
    }
    // Stable: objects of one rank keep the manifests' order.
    objects.sort_by_key(|o| rank(o.get("kind").and_then(Value::as_str).unwrap_or_default()));
    Ok(objects)
}

fn api_resource(api_version: &str, kind: &str) -> Option<ApiResource> {
    let plural = match kind {
        "Namespace" => "namespaces",
        "Service" => "services",
        "Endpoints" => "endpoints",
        "Ingress" => "ingresses",
        "CustomResourceDefinition" => "customresourcedefinitions",
        "Rollout" => "rollouts",
        "AnalysisTemplate" => "analysistemplates",
        "VirtualService" => "virtualservices",
        "DestinationRule" => "destinationrules",
        "Gateway" => "gateways",
        "TrafficSplit" => "trafficsplits",
        _ => return None,
    };
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    Some(ApiResource {
        group: group.to_owned(),
        version: version.to_owned(),
        api_version: api_version.to_owned(),
        kind: kind.to_owned(),
        plural: plural.to_owned(),
    })
}

/// Server-side applies one object; a kind whose CRD was just created may take a moment to be
/// served, so 404s are retried for a few seconds.
pub async fn apply(client: &Client, object: &Value) -> Result<(), LoadScenarioError> {
    let text = |p: &str| {
        object
            .pointer(p)
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    let (api_version, kind) = (text("/apiVersion"), text("/kind"));
    let (namespace, name) = (text("/metadata/namespace"), text("/metadata/name"));
    let resource = api_resource(api_version, kind).ok_or_else(|| LoadScenarioError::Kind {
        api_version: api_version.to_owned(),
        kind: kind.to_owned(),
    })?;
    let api: Api<DynamicObject> = if matches!(kind, "Namespace" | "CustomResourceDefinition") {
        Api::all_with(client.clone(), &resource)
    } else {
        Api::namespaced_with(client.clone(), namespace, &resource)
    };
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match api.patch(name, &params, &Patch::Apply(object)).await {
            Ok(_) => return Ok(()),
            Err(kube::Error::Api(status)) if status.code == 404 && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(source) => {
                return Err(LoadScenarioError::Apply {
                    kind: kind.to_owned(),
                    namespace: namespace.to_owned(),
                    name: name.to_owned(),
                    source: Box::new(source),
                });
            }
        }
    }
}

/// Installs the rollout CRDs and applies the chosen scenarios; returns `kind namespace/name`
/// lines of what was applied.
pub async fn load(
    client: &Client,
    scenarios: &[&Scenario],
    metrics: &MetricsSource,
) -> Result<Vec<String>, LoadScenarioError> {
    let objects = documents(scenarios, metrics)?;
    if scenarios.is_empty() {
        return Ok(Vec::new());
    }
    crate::crd::install(client).await?;
    crate::crd::wait_established(client, Duration::from_secs(30)).await?;
    let mut applied = Vec::new();
    for object in &objects {
        apply(client, object).await?;
        let text = |p: &str| {
            object
                .pointer(p)
                .and_then(Value::as_str)
                .unwrap_or_default()
        };
        applied.push(format!(
            "{} {}/{}",
            text("/kind"),
            text("/metadata/namespace"),
            text("/metadata/name")
        ));
    }
    Ok(applied)
}

/// Publishes a loopback process as Service `namespace/name` (port `port`, named `http`) with
/// Endpoints pointing at `target`, so `services/proxy` reaches it; creates the namespace.
pub async fn register_loopback_service(
    client: &Client,
    namespace: &str,
    name: &str,
    port: u16,
    target: SocketAddr,
) -> Result<(), LoadScenarioError> {
    let objects = [
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}),
        json!({"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": name, "namespace": namespace,
                            "labels": {"app.kubernetes.io/managed-by": "rolltop"}},
               "spec": {"ports": [{"name": "http", "port": port, "protocol": "TCP",
                                   "targetPort": target.port()}]}}),
        json!({"apiVersion": "v1", "kind": "Endpoints",
               "metadata": {"name": name, "namespace": namespace},
               "subsets": [{"addresses": [{"ip": target.ip().to_string()}],
                            "ports": [{"name": "http", "port": target.port(), "protocol": "TCP"}]}]}),
    ];
    for object in &objects {
        apply(client, object).await?;
    }
    Ok(())
}

/// `{sandbox}/api/v1/namespaces/{ns}/services/{name}:{port}/proxy`, without a trailing slash.
pub fn proxy_url(sandbox_url: &str, namespace: &str, name: &str, port: &str) -> String {
    format!(
        "{}/api/v1/namespaces/{namespace}/services/{name}:{port}/proxy",
        sandbox_url.trim_end_matches('/')
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn kinds(objects: &[Value]) -> Vec<String> {
        objects
            .iter()
            .map(|o| {
                format!(
                    "{} {}/{}",
                    o["kind"].as_str().unwrap(),
                    o["metadata"]["namespace"].as_str().unwrap_or(""),
                    o["metadata"]["name"].as_str().unwrap()
                )
            })
            .collect()
    }

    #[test]
    fn selection() {
        assert_eq!(select("all").unwrap().len(), 5);
        assert!(select("none").unwrap().is_empty());
        let two = select("r1,r5").unwrap();
        assert_eq!((two[0].name, two[1].name), ("r1", "r5"));
        assert!(matches!(select("r9"), Err(LoadScenarioError::Unknown(n)) if n == "r9"));
    }

    #[test]
    fn every_manifest_parses_and_names_what_the_reports_name() {
        let all = select("all").unwrap();
        let objects = documents(&all, &MetricsSource::Web("http://x".into())).unwrap();
        let names = kinds(&objects);
        for expected in [
            "Rollout argo-apl/rollouts-demo",
            "VirtualService argo-apl/rollouts-demo-vsvc",
            "Gateway argo-apl/rollouts-demo-gateway",
            "Ingress tomozo/tomozo",
            "Rollout tomozo/tomozo",
            "Rollout sample-ns/nginx",
            "VirtualService sample-ns/nginx",
            "Rollout default/nginx",
            "AnalysisTemplate default/http-req-check",
            "Rollout kubota-test/rollouts-demo",
            "AnalysisTemplate kubota-test/failure-count",
            "VirtualService kubota-test/rollouts-demo-vsvc",
        ] {
            assert!(
                names.contains(&expected.to_owned()),
                "{expected} in {names:?}"
            );
        }
        for object in &objects {
            let kind = object["kind"].as_str().unwrap();
            assert!(
                api_resource(object["apiVersion"].as_str().unwrap(), kind).is_some(),
                "{kind}"
            );
        }
        // Order: namespaces, then CRDs, ..., rollouts before the routers that name them.
        let ranks: Vec<u8> = objects
            .iter()
            .map(|o| rank(o["kind"].as_str().unwrap()))
            .collect();
        assert!(ranks.windows(2).all(|w| w[0] <= w[1]), "{names:?}");
    }

    #[test]
    fn templates_follow_the_metrics_source() {
        let r5 = select("r5").unwrap();
        let prometheus = documents(&r5, &MetricsSource::Prometheus("http://p:1".into())).unwrap();
        let template = prometheus
            .iter()
            .find(|o| o["kind"] == "AnalysisTemplate")
            .unwrap();
        let provider = &template["spec"]["metrics"][0]["provider"]["prometheus"];
        assert_eq!(provider["address"], "http://p:1");
        assert_eq!(
            provider["query"],
            "delta(http_requests_total{code=\"500\",namespace=\"kubota-test\",service=\"rollouts-demo-canary\"}[5m])"
        );
        let web = documents(&r5, &MetricsSource::Web("http://t:2".into())).unwrap();
        let template = web
            .iter()
            .find(|o| o["kind"] == "AnalysisTemplate")
            .unwrap();
        assert_eq!(
            template["spec"]["metrics"][0]["provider"]["web"]["url"],
            "http://t:2/traffic/kubota-test/rollouts-demo-canary?window=5m"
        );
        let text = serde_json::to_string(&web).unwrap();
        assert!(!text.contains("${"), "a placeholder was left: {text}");
    }

    #[test]
    fn proxy_urls() {
        assert_eq!(
            proxy_url("http://127.0.0.1:1/", "istio-system", "prometheus", "9090"),
            "http://127.0.0.1:1/api/v1/namespaces/istio-system/services/prometheus:9090/proxy"
        );
    }
}
