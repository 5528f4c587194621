//! The Argo CRD types against YAML fixtures in `tests/fixtures/crd`: every document reads and
//! writes back to the same JSON (nothing lost, nothing invented), the typed accessors see what
//! the manifests say, the generated CRDs carry upstream's names, columns and subresources, and
//! the duration parsers follow Argo's rules.

use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use rolltop::crd::{
    AnalysisPhase, AnalysisRun, AnalysisTemplate, CanaryStep, ClusterAnalysisTemplate,
    DurationError, Experiment, Rollout, RolloutPhase, RolloutSpec, StrategyKind, crds, crds_yaml,
    parse_go_duration, parse_pause_duration,
};
use rolltop::crd::{InstallError, install, unknown_fields_of, wait_established};
use rolltop::sandbox::{Sandbox, SandboxConfig};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/crd")
}

/// Every document of a fixture file, as JSON values.
fn documents(file: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(fixture_dir().join(file)).unwrap();
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text).unwrap();
    assert!(!docs.is_empty(), "{file} has no documents");
    docs
}

fn fixture_files() -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(fixture_dir())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| Path::new(name).extension().is_some_and(|ext| ext == "yaml"))
        .collect();
    files.sort();
    files
}

/// The document of `kind` named `name` in `file`, typed.
fn typed<T: DeserializeOwned>(file: &str, kind: &str, name: &str) -> T {
    let doc = documents(file)
        .into_iter()
        .find(|doc| doc["kind"] == kind && doc["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in {file}"));
    serde_json::from_value(doc).unwrap()
}

/// JSON -> typed -> JSON, and YAML text -> typed -> YAML text -> typed: both must give back the
/// input.
fn round_trip<T: DeserializeOwned + Serialize + PartialEq + std::fmt::Debug>(doc: &Value) -> Value {
    let from_json: T = serde_json::from_value(doc.clone()).unwrap();
    let yaml = serde_saphyr::to_string(doc).unwrap();
    let from_yaml: T = serde_saphyr::from_str(&yaml).unwrap();
    assert_eq!(from_json, from_yaml, "JSON and YAML readings differ");
    let written_yaml = serde_saphyr::to_string(&from_json).unwrap();
    let reread_yaml: T = serde_saphyr::from_str(&written_yaml).unwrap();
    assert_eq!(
        reread_yaml, from_json,
        "writing YAML and reading it back changed the object"
    );
    let written = serde_json::to_value(&from_json).unwrap();
    let reread: T = serde_json::from_value(written.clone()).unwrap();
    assert_eq!(reread, from_json, "a second round-trip changed the object");
    written
}

fn round_trip_by_kind(doc: &Value) -> Value {
    match doc["kind"].as_str().unwrap() {
        "Rollout" => round_trip::<Rollout>(doc),
        "AnalysisTemplate" => round_trip::<AnalysisTemplate>(doc),
        "ClusterAnalysisTemplate" => round_trip::<ClusterAnalysisTemplate>(doc),
        "AnalysisRun" => round_trip::<AnalysisRun>(doc),
        "Experiment" => round_trip::<Experiment>(doc),
        other => panic!("fixture kind {other} has no type"),
    }
}

#[test]
fn every_fixture_round_trips_losslessly() {
    let files = fixture_files();
    assert!(files.len() >= 10, "fixtures missing: {files:?}");
    let mut count = 0;
    for file in &files {
        for doc in documents(file) {
            let written = round_trip_by_kind(&doc);
            assert_eq!(
                written, doc,
                "{file}: {} {} changed in a round-trip",
                doc["kind"], doc["metadata"]["name"]
            );
            count += 1;
        }
    }
    assert!(count >= 18, "only {count} documents");
}

#[test]
fn new_objects_carry_no_invented_fields() {
    let rollout = Rollout::new("minimal", RolloutSpec::default());
    assert_eq!(
        serde_json::to_value(&rollout).unwrap(),
        json!({
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Rollout",
            "metadata": {"name": "minimal"},
            "spec": {}
        })
    );
}

#[test]
fn r1_istio_canary_reads_typed() {
    let rollout: Rollout = typed("r1-istio-canary.yaml", "Rollout", "rollouts-demo");
    assert_eq!(rollout.strategy_kind(), Some(StrategyKind::Canary));
    let kinds: Vec<_> = rollout.steps().iter().map(CanaryStep::kind_name).collect();
    assert_eq!(kinds, [Some("setWeight"), Some("pause")]);
    assert_eq!(rollout.steps()[0].set_weight, Some(5));
    assert_eq!(rollout.steps()[1].pause.as_ref().unwrap().duration(), None);
    let canary = rollout.canary().unwrap();
    assert_eq!(
        canary.canary_service.as_deref(),
        Some("rollouts-demo-canary")
    );
    assert_eq!(
        canary.stable_service.as_deref(),
        Some("rollouts-demo-stable")
    );
    let istio = rollout.traffic_routing().unwrap().istio.as_ref().unwrap();
    let services = istio.all_virtual_services();
    assert_eq!(services.len(), 1);
    assert_eq!(services[0].name, "rollouts-demo-vsvc");
    assert_eq!(
        services[0].routes.as_deref(),
        Some(&["primary".to_owned()][..])
    );
    assert_eq!(rollout.spec.revision_history_limit, Some(2));

    let template = rollout.pod_template().unwrap().unwrap();
    let container = &template.spec.unwrap().containers[0];
    assert_eq!(
        container.image.as_deref(),
        Some("argoproj/rollouts-demo:yellow")
    );

    let status = rollout.status.as_ref().unwrap();
    assert_eq!(status.phase(), Some(RolloutPhase::Paused));
    assert_eq!(status.observed_generation(), Some(2));
    assert_eq!(status.current_step_index, Some(1));
    assert_eq!(status.controller_pause, Some(true));
    assert_eq!(status.pause_conditions()[0].reason, "CanaryPauseStep");
    assert_eq!(status.hpa_replicas, Some(2));
    assert_eq!(status.stable_rs.as_deref(), Some("687d76d795"));
    assert_eq!(status.condition("Paused").unwrap().status, "True");
    let weights = status.canary.as_ref().unwrap().weights.as_ref().unwrap();
    assert_eq!((weights.canary.weight, weights.stable.weight), (5, 95));
    assert_eq!(
        weights.canary.pod_template_hash.as_deref(),
        Some("6cf78c66c5")
    );
}

#[test]
fn r2_alb_canary_reads_typed() {
    let rollout: Rollout = typed("r2-alb-canary.yaml", "Rollout", "tomozo");
    let alb = rollout.traffic_routing().unwrap().alb.as_ref().unwrap();
    assert_eq!(alb.ingress.as_deref(), Some("tomozo"));
    assert_eq!(alb.service_port, Some(8080));
    assert_eq!(
        alb.stickiness_config.as_ref().unwrap().duration_seconds,
        Some(3600)
    );
    assert!(rollout.status.is_none());
}

#[test]
fn r3_blue_green_reads_typed() {
    let rollout: Rollout = typed("r3-blue-green.yaml", "Rollout", "bluegreen-demo");
    assert_eq!(rollout.strategy_kind(), Some(StrategyKind::BlueGreen));
    assert!(rollout.steps().is_empty());
    let blue_green = rollout.blue_green().unwrap();
    assert_eq!(blue_green.active_service.as_deref(), Some("bluegreen-demo"));
    assert_eq!(
        blue_green.preview_service.as_deref(),
        Some("bluegreen-demo-preview")
    );
    assert_eq!(blue_green.auto_promotion_enabled, Some(false));
    assert_eq!(blue_green.preview_replica_count, Some(1));
    assert_eq!(blue_green.max_unavailable, Some(IntOrString::Int(1)));
    let post = blue_green.post_promotion_analysis.as_ref().unwrap();
    assert_eq!(post.templates()[0].template_name, "success-rate");
    assert_eq!(post.templates()[0].cluster_scope, Some(true));
    let hash_arg = &post.args()[1];
    assert_eq!(
        hash_arg
            .value_from
            .as_ref()
            .unwrap()
            .pod_template_hash_value
            .as_deref(),
        Some("Latest")
    );
    let status = rollout.status.unwrap();
    assert_eq!(status.phase(), Some(RolloutPhase::Paused));
    assert_eq!(status.message.as_deref(), Some("BlueGreenPause"));
    let bg = status.blue_green.unwrap();
    assert_eq!(bg.active_selector.as_deref(), Some("6cbccd9f99"));
    assert_eq!(bg.preview_selector.as_deref(), Some("74b948fccb"));
    assert_eq!(bg.scale_up_preview_check_point, Some(true));
    assert_eq!(
        bg.pre_promotion_analysis_run_status.unwrap().status,
        "Successful"
    );
}

#[test]
fn r4_background_analysis_reads_typed() {
    let template: AnalysisTemplate = typed(
        "r4-background-analysis.yaml",
        "AnalysisTemplate",
        "http-req-check",
    );
    let metric = &template.spec.metrics[0];
    assert_eq!(metric.name, "request-success-rate");
    assert_eq!(
        parse_go_duration(metric.interval.as_deref().unwrap()),
        Ok(Duration::from_secs(60))
    );
    assert_eq!(metric.failure_limit, Some(IntOrString::Int(1)));
    assert_eq!(
        metric.success_condition.as_deref(),
        Some("result[0] >= 0.95")
    );
    let prometheus = metric.provider.prometheus.as_ref().unwrap();
    assert_eq!(
        prometheus.address.as_deref(),
        Some("http://prometheus.istio-system:9090")
    );
    assert!(
        prometheus
            .query
            .as_deref()
            .unwrap()
            .contains("{{args.service-name}}")
    );
    assert_eq!(
        template.spec.args.as_ref().unwrap()[0].value.as_deref(),
        Some("nginx")
    );

    let rollout: Rollout = typed("r4-background-analysis.yaml", "Rollout", "nginx");
    let canary = rollout.canary().unwrap();
    assert_eq!(canary.max_surge, Some(IntOrString::Int(1)));
    assert_eq!(canary.max_unavailable, Some(IntOrString::Int(0)));
    assert!(canary.traffic_routing.is_none());
    let background = canary.analysis.as_ref().unwrap();
    assert_eq!(background.starting_step, Some(1));
    assert_eq!(
        background.analysis.templates()[0].template_name,
        "http-req-check"
    );
    let pauses: Vec<Duration> = rollout
        .steps()
        .iter()
        .filter_map(|step| step.pause.as_ref()?.duration())
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        pauses,
        [30, 30, 10].map(Duration::from_secs),
        "pause durations of R4"
    );
    let weights: Vec<i32> = rollout
        .steps()
        .iter()
        .filter_map(|s| s.set_weight)
        .collect();
    assert_eq!(weights, [30, 60, 100]);
}

#[test]
fn r5_failed_run_and_aborted_rollout_read_typed() {
    let rollout: Rollout = typed("r5-failing-canary.yaml", "Rollout", "rollouts-demo");
    let kinds: Vec<_> = rollout
        .steps()
        .iter()
        .filter_map(CanaryStep::kind_name)
        .collect();
    assert_eq!(kinds, ["setWeight", "pause", "analysis"]);
    let status = rollout.status.as_ref().unwrap();
    assert_eq!(status.abort, Some(true));
    assert_eq!(status.phase(), Some(RolloutPhase::Degraded));
    assert!(
        status
            .message
            .as_deref()
            .unwrap()
            .starts_with("RolloutAborted: ")
    );
    let step_run = status
        .canary
        .as_ref()
        .unwrap()
        .current_step_analysis_run_status
        .as_ref()
        .unwrap();
    assert_eq!(step_run.status, "Failed");

    let run: AnalysisRun = typed(
        "r5-failing-canary.yaml",
        "AnalysisRun",
        "rollouts-demo-5b9f8d7c6d-3-2",
    );
    assert_eq!(run.phase(), Some(AnalysisPhase::Failed));
    let status = run.status.as_ref().unwrap();
    let result = status.metric_result("http_error_count").unwrap();
    assert_eq!(result.phase(), Some(AnalysisPhase::Failed));
    assert_eq!((result.count, result.failed), (Some(1), Some(1)));
    assert_eq!(
        result.measurements()[0].value.as_deref(),
        Some("[16.311243770937153]")
    );
    assert!(result.metadata.as_ref().unwrap()["ResolvedPrometheusQuery"].starts_with("delta("));
    assert_eq!(status.run_summary.as_ref().unwrap().failed, Some(1));
    assert_eq!(status.dry_run_summary.as_ref().unwrap().count, None);
}

#[test]
fn analysis_run_with_measurements_reads_typed() {
    let run: AnalysisRun = typed(
        "analysisrun-measurements.yaml",
        "AnalysisRun",
        "checkout-7d4f9c8b6-5",
    );
    assert_eq!(run.phase(), Some(AnalysisPhase::Running));
    assert!(!run.is_terminating());
    let spec = &run.spec;
    let kinds: Vec<Vec<String>> = spec.metrics.iter().map(|m| m.provider.kinds()).collect();
    assert_eq!(kinds, [["prometheus"], ["web"], ["job"]]);
    let success = &spec.metrics[0];
    assert_eq!(success.count, Some(IntOrString::Int(10)));
    assert_eq!(
        success.inconclusive_limit,
        Some(IntOrString::String("1".into()))
    );
    assert_eq!(
        parse_go_duration(success.initial_delay.as_deref().unwrap()),
        Ok(Duration::from_secs(60))
    );
    let basic = success
        .provider
        .prometheus
        .as_ref()
        .unwrap()
        .authentication
        .as_ref()
        .unwrap()
        .basic_auth
        .as_ref()
        .unwrap();
    assert_eq!(basic.username.as_deref(), Some("reader"));
    assert_eq!(
        spec.metrics[1].count,
        Some(IntOrString::String("{{args.count}}".into()))
    );
    let job = spec.metrics[2]
        .provider
        .job
        .as_ref()
        .unwrap()
        .job_spec()
        .unwrap();
    assert_eq!(job.backoff_limit, Some(1));
    let secret = spec.args.as_ref().unwrap()[1]
        .value_from
        .as_ref()
        .unwrap()
        .secret_key_ref
        .as_ref()
        .unwrap();
    assert_eq!(
        (secret.name.as_str(), secret.key.as_str()),
        ("datadog", "api-token")
    );
    assert_eq!(
        spec.ttl_strategy.as_ref().unwrap().seconds_after_success,
        Some(600)
    );
    assert_eq!(spec.measurement_retention.as_ref().unwrap()[0].limit, 20);

    let status = run.status.as_ref().unwrap();
    let success_result = status.metric_result("success-rate").unwrap();
    let phases: Vec<_> = success_result
        .measurements()
        .iter()
        .map(|m| m.phase().unwrap())
        .collect();
    assert_eq!(
        phases,
        [
            AnalysisPhase::Successful,
            AnalysisPhase::Successful,
            AnalysisPhase::Error,
            AnalysisPhase::Error,
            AnalysisPhase::Error
        ]
    );
    assert_eq!(success_result.consecutive_error, Some(3));
    assert!(
        success_result.measurements()[2]
            .message
            .as_deref()
            .unwrap()
            .contains("metric result is nil or empty")
    );
    assert_eq!(
        status.metric_result("latency-p99").unwrap().dry_run,
        Some(true)
    );
    let smoke = &status.metric_result("smoke").unwrap().measurements()[0];
    assert_eq!(smoke.metadata.as_ref().unwrap()["job-namespace"], "shop");
    assert_eq!(smoke.resume_at.as_deref(), Some("2024-02-10T14:00:36Z"));
    assert!(status.metric_result("missing").is_none());
}

#[test]
fn cluster_analysis_template_keeps_raw_providers() {
    let template: ClusterAnalysisTemplate = typed(
        "cluster-analysis-template.yaml",
        "ClusterAnalysisTemplate",
        "success-rate",
    );
    assert!(template.metadata.namespace.is_none());
    let spec = &*template.spec;
    let kinds: Vec<String> = spec
        .metrics
        .iter()
        .flat_map(|metric| metric.provider.kinds())
        .collect();
    assert_eq!(
        kinds,
        [
            "datadog",
            "newRelic",
            "wavefront",
            "kayenta",
            "cloudWatch",
            "graphite",
            "influxdb",
            "skywalking",
            "plugin/argoproj-labs/sample-prometheus",
            "web",
            "prometheus"
        ]
    );
    let datadog = spec.metrics[0].provider.datadog.as_ref().unwrap();
    assert_eq!(datadog["formula"], "a / b");
    let web = spec.metrics[9].provider.web.as_ref().unwrap();
    assert_eq!(web.method.as_deref(), Some("POST"));
    assert_eq!(
        web.json_body.as_ref().unwrap()["checks"],
        json!(["latency", "errors"])
    );
    assert_eq!(spec.metrics[9].failure_limit, Some(IntOrString::Int(-1)));
    let range = spec.metrics[10]
        .provider
        .prometheus
        .as_ref()
        .unwrap()
        .range_query
        .as_ref()
        .unwrap();
    assert_eq!(
        parse_go_duration(range.step.as_deref().unwrap()),
        Ok(Duration::from_secs(60))
    );
    let nested = spec.templates.as_ref().unwrap();
    assert_eq!(nested[0].template_name, "base-checks");
    assert!(
        spec.args.as_ref().unwrap()[0].value.is_none(),
        "a required arg has no value"
    );
}

#[test]
fn kitchen_sink_canary_reads_every_step_kind() {
    let rollout: Rollout = typed("canary-kitchen-sink.yaml", "Rollout", "kitchen-sink");
    let kinds: Vec<_> = rollout
        .steps()
        .iter()
        .map(|step| step.kind_name().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "setCanaryScale",
            "setWeight",
            "setHeaderRoute",
            "setMirrorRoute",
            "pause",
            "setHeaderRoute",
            "setMirrorRoute",
            "setCanaryScale",
            "setWeight",
            "experiment",
            "analysis",
            "setCanaryScale",
            "plugin",
            "pause",
            "setWeight"
        ]
    );
    let steps = rollout.steps();
    let header = steps[2].set_header_route.as_ref().unwrap();
    let header_matches = header.matches.as_ref().unwrap();
    assert_eq!(
        header_matches[1]
            .header_value
            .as_ref()
            .unwrap()
            .regex
            .as_deref(),
        Some("firefox(.*)")
    );
    assert!(
        steps[5]
            .set_header_route
            .as_ref()
            .unwrap()
            .matches
            .is_none()
    );
    let mirror = steps[3].set_mirror_route.as_ref().unwrap();
    assert_eq!(mirror.percentage, Some(35));
    let route_match = &mirror.matches.as_ref().unwrap()[0];
    assert_eq!(
        route_match.path.as_ref().unwrap().prefix.as_deref(),
        Some("/api")
    );
    assert_eq!(
        route_match.headers.as_ref().unwrap()["x-debug"]
            .exact
            .as_deref(),
        Some("1")
    );
    assert_eq!(
        steps[4].pause.as_ref().unwrap().duration(),
        Some(Ok(Duration::from_secs(3600)))
    );
    let experiment = steps[9].experiment.as_ref().unwrap();
    assert_eq!(experiment.templates[0].spec_ref, "stable");
    assert_eq!(experiment.scale_down_delay_seconds, Some(15));
    assert_eq!(experiment.templates[0].weight, Some(5));
    assert_eq!(
        experiment.analyses.as_ref().unwrap()[0].template_name,
        "mann-whitney"
    );
    assert_eq!(
        steps[11]
            .set_canary_scale
            .as_ref()
            .unwrap()
            .match_traffic_weight,
        Some(true)
    );
    assert_eq!(
        steps[12].plugin.as_ref().unwrap().config.as_ref().unwrap()["channel"],
        "#releases"
    );

    let canary = rollout.canary().unwrap();
    assert_eq!(canary.max_surge, Some(IntOrString::String("25%".into())));
    assert_eq!(
        canary.max_unavailable,
        Some(IntOrString::String("0".into()))
    );
    assert_eq!(
        canary
            .anti_affinity
            .as_ref()
            .unwrap()
            .preferred
            .as_ref()
            .unwrap()
            .weight,
        50
    );
    assert_eq!(
        canary.replica_progress_threshold.as_ref().unwrap().kind,
        "Percent"
    );
    let routing = rollout.traffic_routing().unwrap();
    let managed: Vec<_> = routing
        .managed_routes
        .iter()
        .flatten()
        .map(|r| r.name.as_str())
        .collect();
    assert_eq!(managed, ["header-route", "mirror-route"]);
    let istio = routing.istio.as_ref().unwrap();
    let rule = istio.destination_rule.as_ref().unwrap();
    assert_eq!(
        (
            rule.canary_subset_name.as_str(),
            rule.stable_subset_name.as_str()
        ),
        ("canary", "stable")
    );
    let vs = istio.virtual_service.as_ref().unwrap();
    assert_eq!(vs.tls_routes.as_ref().unwrap()[0].port, Some(443));
    assert_eq!(vs.tcp_routes.as_ref().unwrap()[0].port, Some(9000));
    assert_eq!(
        rollout.spec.rollback_window.as_ref().unwrap().revisions,
        Some(2)
    );
    assert_eq!(rollout.spec.progress_deadline_abort, Some(true));
    let background = canary.analysis.as_ref().unwrap();
    let region = &background.analysis.args()[2];
    assert_eq!(
        region
            .value_from
            .as_ref()
            .unwrap()
            .field_ref
            .as_ref()
            .unwrap()
            .field_path,
        "metadata.labels['region']"
    );

    let routers: Rollout = typed("canary-kitchen-sink.yaml", "Rollout", "routers");
    let routing = routers.traffic_routing().unwrap();
    assert_eq!(
        routing.nginx.as_ref().unwrap().stable_ingress.as_deref(),
        Some("routers")
    );
    assert_eq!(
        routing
            .alb
            .as_ref()
            .unwrap()
            .ingresses
            .as_ref()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        routing.smi.as_ref().unwrap().traffic_split_name.as_deref(),
        Some("routers-split")
    );
    assert!(
        routing
            .plugins
            .as_ref()
            .unwrap()
            .contains_key("argoproj-labs/gatewayAPI")
    );
    assert!(routing.ambassador.is_some() && routing.traefik.is_some());
    assert!(routing.app_mesh.is_some() && routing.apisix.is_some());
    assert_eq!(
        routers
            .canary()
            .unwrap()
            .ping_pong
            .as_ref()
            .unwrap()
            .pong_service,
        "routers-pong"
    );
    assert_eq!(routers.desired_replicas(), 1, "replicas default to 1");
    assert_eq!(
        routers.steps()[1].pause.as_ref().unwrap().duration(),
        Some(Ok(Duration::from_secs(45)))
    );
}

#[test]
fn workload_ref_rollout_has_no_template() {
    let rollout: Rollout = typed("workload-ref.yaml", "Rollout", "checkout");
    assert!(rollout.pod_template().unwrap().is_none());
    let workload = rollout.spec.workload_ref.as_ref().unwrap();
    assert_eq!(workload.kind.as_deref(), Some("Deployment"));
    assert_eq!(workload.scale_down.as_deref(), Some("progressively"));
    let pauses: Vec<_> = rollout
        .steps()
        .iter()
        .filter_map(|s| s.pause.as_ref()?.duration())
        .collect();
    assert_eq!(
        pauses,
        [Ok(Duration::from_secs(600)), Ok(Duration::from_secs(300))]
    );
    let status = rollout.status.unwrap();
    assert_eq!(status.workload_observed_generation.as_deref(), Some("4"));
    assert_eq!(status.observed_generation(), Some(1));
}

#[test]
fn unmodelled_fields_land_in_extra() {
    let rollout: Rollout = typed("future-fields.yaml", "Rollout", "from-the-future");
    assert!(rollout.spec.extra.contains_key("futureTopLevel"));
    let strategy = rollout.spec.strategy.as_ref().unwrap();
    assert!(strategy.extra.contains_key("futureStrategy"));
    let canary = rollout.canary().unwrap();
    assert_eq!(canary.extra["newThing"]["nested"], json!([1, 2, 3]));
    assert_eq!(
        canary.max_unavailable,
        Some(IntOrString::String("10%".into()))
    );
    let steps = rollout.steps();
    assert_eq!(steps[0].kind_name(), Some("setWeight"));
    assert!(steps[0].extra.contains_key("futureStepOption"));
    assert_eq!(
        steps[1].kind_name(),
        None,
        "an unknown step kind is not guessed"
    );
    assert!(steps[1].kind_names().is_empty());
    assert_eq!(steps[1].extra["futureStepKind"]["value"], 7);
    assert_eq!(
        steps[2].pause.as_ref().unwrap().extra["futurePauseOption"],
        "jitter"
    );
    // The pod template is raw: a future pod field survives and the typed view still works.
    assert_eq!(
        rollout.spec.template.as_ref().unwrap()["spec"]["futurePodField"],
        42
    );
    assert!(rollout.pod_template().unwrap().is_some());
    let status = rollout.status.as_ref().unwrap();
    assert_eq!(status.extra["futureStatusField"], "something");
    assert_eq!(
        status.duration.as_ref().unwrap()["completionStatus"],
        "Promoted"
    );
    let weights = status.canary.as_ref().unwrap().weights.as_ref().unwrap();
    assert_eq!(weights.verified, Some(true));
    assert_eq!(
        weights.additional.as_ref().unwrap()[0]
            .service_name
            .as_deref(),
        Some("exp-svc")
    );

    let template: AnalysisTemplate =
        typed("future-fields.yaml", "AnalysisTemplate", "future-template");
    let metric = &template.spec.metrics[0];
    assert!(
        metric.provider.kinds().is_empty(),
        "an unknown provider is not a known kind"
    );
    assert!(metric.provider.extra.contains_key("futureProvider"));
}

#[test]
fn crds_carry_upstream_names_columns_and_subresources() {
    let crds = crds();
    let names: Vec<_> = crds
        .iter()
        .map(|c| c.metadata.name.clone().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "rollouts.argoproj.io",
            "analysistemplates.argoproj.io",
            "clusteranalysistemplates.argoproj.io",
            "analysisruns.argoproj.io",
            "experiments.argoproj.io"
        ]
    );
    let expected = [
        (
            "Rollout",
            "rollouts",
            "ro",
            "Namespaced",
            &["Desired", "Current", "Up-to-date", "Available", "Age"][..],
        ),
        (
            "AnalysisTemplate",
            "analysistemplates",
            "at",
            "Namespaced",
            &["Age"][..],
        ),
        (
            "ClusterAnalysisTemplate",
            "clusteranalysistemplates",
            "cat",
            "Cluster",
            &["Age"][..],
        ),
        (
            "AnalysisRun",
            "analysisruns",
            "ar",
            "Namespaced",
            &["Status", "Age"][..],
        ),
        (
            "Experiment",
            "experiments",
            "exp",
            "Namespaced",
            &["Status", "Age"][..],
        ),
    ];
    for (crd, (kind, plural, short, scope, columns)) in crds.iter().zip(expected) {
        assert_eq!(crd.spec.group, "argoproj.io");
        assert_eq!(crd.spec.names.kind, kind);
        assert_eq!(crd.spec.names.plural, plural);
        assert_eq!(crd.spec.names.list_kind, Some(format!("{kind}List")));
        assert_eq!(
            crd.spec.names.singular.as_deref(),
            Some(kind.to_lowercase().as_str())
        );
        assert!(
            crd.spec.names.categories.is_none(),
            "upstream sets no categories"
        );
        assert_eq!(
            crd.spec.names.short_names.as_deref(),
            Some(&[short.to_owned()][..])
        );
        assert_eq!(crd.spec.scope, scope);
        assert_eq!(crd.spec.versions.len(), 1);
        let version = &crd.spec.versions[0];
        assert_eq!(version.name, "v1alpha1");
        assert!(version.served && version.storage);
        let column_names: Vec<_> = version
            .additional_printer_columns
            .iter()
            .flatten()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(column_names, columns, "columns of {kind}");
        // Only Rollout serves subresources: Argo's analysis and experiment controllers write
        // status through the main resource, which a status subresource would make a no-op.
        match &version.subresources {
            Some(subresources) => {
                assert_eq!(kind, "Rollout", "{kind} serves subresources");
                assert!(subresources.status.is_some() && subresources.scale.is_some());
            }
            None => assert_ne!(kind, "Rollout", "Rollout lacks its subresources"),
        }
    }
    let scale = crds[0].spec.versions[0]
        .subresources
        .as_ref()
        .unwrap()
        .scale
        .as_ref()
        .unwrap();
    assert_eq!(scale.spec_replicas_path, ".spec.replicas");
    assert_eq!(scale.status_replicas_path, ".status.HPAReplicas");
    assert_eq!(
        scale.label_selector_path.as_deref(),
        Some(".status.selector")
    );
    let columns = crds[0].spec.versions[0]
        .additional_printer_columns
        .as_ref()
        .unwrap();
    let paths: Vec<_> = columns.iter().map(|c| c.json_path.as_str()).collect();
    assert_eq!(
        paths,
        [
            ".spec.replicas",
            ".status.replicas",
            ".status.updatedReplicas",
            ".status.availableReplicas",
            ".metadata.creationTimestamp"
        ]
    );
    assert_eq!(
        crds[3].spec.versions[0]
            .additional_printer_columns
            .as_ref()
            .unwrap()[0]
            .json_path,
        ".status.phase"
    );
}

#[test]
fn crd_yaml_is_a_stream_of_the_same_crds() {
    let yaml = crds_yaml();
    assert!(yaml.starts_with("---\n"));
    let parsed: Vec<CustomResourceDefinition> = serde_saphyr::from_multiple(&yaml).unwrap();
    assert_eq!(parsed, crds());
    let raw: Vec<Value> = serde_saphyr::from_multiple(&yaml).unwrap();
    for crd in &raw {
        assert_eq!(crd["apiVersion"], "apiextensions.k8s.io/v1");
        assert_eq!(crd["kind"], "CustomResourceDefinition");
        let schema = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
        assert_eq!(
            schema["properties"]["spec"]["x-kubernetes-preserve-unknown-fields"],
            true
        );
        assert_eq!(
            schema["properties"]["status"]["x-kubernetes-preserve-unknown-fields"],
            true
        );
        assert_structural(schema, "openAPIV3Schema");
    }
}

/// The structural-schema rules a real API server enforces that a permissive schema could
/// break: every node states a type (or preserves unknown fields), and `properties` never
/// appears next to `additionalProperties`.
fn assert_structural(schema: &Value, path: &str) {
    let preserves = schema["x-kubernetes-preserve-unknown-fields"] == true;
    let int_or_string = schema["x-kubernetes-int-or-string"] == true;
    assert!(
        schema.get("type").is_some() || preserves || int_or_string,
        "{path} has no type"
    );
    assert!(
        !(schema.get("properties").is_some() && schema.get("additionalProperties").is_some()),
        "{path} mixes properties and additionalProperties"
    );
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        for (name, child) in properties {
            assert_structural(child, &format!("{path}.{name}"));
        }
    }
}

#[test]
fn spec_types_derive_a_json_schema() {
    let schema = serde_json::to_value(schemars::schema_for!(RolloutSpec)).unwrap();
    assert!(schema["properties"]["strategy"].is_object());
}

#[test]
fn duration_parsers_follow_argo_rules() {
    let go: &[(&str, Result<Duration, DurationError>)] = &[
        ("30s", Ok(Duration::from_secs(30))),
        ("1m", Ok(Duration::from_secs(60))),
        ("1h30m", Ok(Duration::from_secs(5400))),
        ("250ms", Ok(Duration::from_millis(250))),
        ("0", Ok(Duration::ZERO)),
        ("30", Err(DurationError::MissingUnit("30".into()))),
        ("??", Err(DurationError::Invalid("??".into()))),
    ];
    for (input, expected) in go {
        assert_eq!(
            &parse_go_duration(input),
            expected,
            "metric duration {input:?}"
        );
    }
    let pause: &[(IntOrString, Result<Duration, DurationError>)] = &[
        (IntOrString::Int(600), Ok(Duration::from_secs(600))),
        (
            IntOrString::String("300".into()),
            Ok(Duration::from_secs(300)),
        ),
        (
            IntOrString::String("30s".into()),
            Ok(Duration::from_secs(30)),
        ),
        (
            IntOrString::String("1h".into()),
            Ok(Duration::from_secs(3600)),
        ),
        (
            IntOrString::String("2500ms".into()),
            Ok(Duration::from_secs(2)),
        ),
        (
            IntOrString::String("forever".into()),
            Err(DurationError::Invalid("forever".into())),
        ),
    ];
    for (input, expected) in pause {
        assert_eq!(
            &parse_pause_duration(input),
            expected,
            "pause duration {input:?}"
        );
    }
}

/// A fixture document made creatable: server-owned metadata removed, moved to `namespace`.
fn creatable(mut doc: Value, namespace: &str) -> Value {
    let metadata = doc["metadata"].as_object_mut().unwrap();
    for owned in [
        "resourceVersion",
        "uid",
        "creationTimestamp",
        "generation",
        "managedFields",
        "ownerReferences",
    ] {
        metadata.remove(owned);
    }
    metadata.insert("namespace".into(), json!(namespace));
    doc
}

fn fixture_doc(file: &str, kind: &str, name: &str) -> Value {
    documents(file)
        .into_iter()
        .find(|doc| doc["kind"] == kind && doc["metadata"]["name"] == name)
        .unwrap()
}

#[tokio::test]
async fn install_applies_crds_and_objects_survive_the_api_server() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let client = sandbox.client().await.unwrap();

    // An older rollouts CRD without short names is already there: install takes it over.
    let crd_api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let mut stale = crds().remove(0);
    stale.spec.names.short_names = None;
    crd_api
        .create(&PostParams::default(), &stale)
        .await
        .unwrap();

    let first = install(&client).await.unwrap();
    let expected: Vec<String> = [
        "rollouts.argoproj.io configured",
        "analysistemplates.argoproj.io created",
        "clusteranalysistemplates.argoproj.io created",
        "analysisruns.argoproj.io created",
        "experiments.argoproj.io created",
    ]
    .iter()
    .map(|line| format!("customresourcedefinition.apiextensions.k8s.io/{line}"))
    .collect();
    assert_eq!(first, expected);
    wait_established(&client, Duration::from_secs(10))
        .await
        .unwrap();
    let second = install(&client).await.unwrap();
    assert!(
        second.iter().all(|line| line.ends_with(" unchanged")),
        "re-applying identical CRDs: {second:?}"
    );

    for wanted in crds() {
        let name = wanted.metadata.name.clone().unwrap();
        let stored = crd_api.get(&name).await.unwrap();
        assert_eq!(stored.spec, wanted.spec, "{name} as stored");
    }

    // Discovery now serves the kinds with upstream's short names (what `kubectl get ro` needs).
    let request = http::Request::get("/apis/argoproj.io/v1alpha1")
        .body(Vec::new())
        .unwrap();
    let discovery: Value = client.request(request).await.unwrap();
    let resources = discovery["resources"].as_array().unwrap();
    let short_names = |plural: &str| {
        resources
            .iter()
            .find(|r| r["name"] == plural)
            .map(|r| r["shortNames"].clone())
    };
    assert_eq!(short_names("rollouts"), Some(json!(["ro"])));
    assert_eq!(short_names("analysisruns"), Some(json!(["ar"])));
    assert!(short_names("rollouts/status").is_some());
    assert!(short_names("analysisruns/status").is_none());

    // A Rollout with fields rolltop does not model goes in and comes back unchanged, spec and
    // status (status through its subresource, as controllers write it).
    let doc = creatable(
        fixture_doc("future-fields.yaml", "Rollout", "from-the-future"),
        "default",
    );
    let rollout: Rollout = serde_json::from_value(doc.clone()).unwrap();
    let rollouts: Api<Rollout> = Api::namespaced(client.clone(), "default");
    rollouts
        .create(&PostParams::default(), &rollout)
        .await
        .unwrap();
    rollouts
        .patch_status(
            "from-the-future",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": doc["status"].clone()})),
        )
        .await
        .unwrap();
    let read = rollouts.get("from-the-future").await.unwrap();
    let read_json = serde_json::to_value(&read).unwrap();
    assert_eq!(read_json["spec"], doc["spec"]);
    assert_eq!(read_json["status"], doc["status"]);
    assert_eq!(read.metadata.annotations, rollout.metadata.annotations);
    let listed = rollouts.list(&ListParams::default()).await.unwrap();
    assert_eq!(listed.items.len(), 1);
    assert_eq!(listed.items[0].spec, rollout.spec);

    // The same for an AnalysisRun with measurements and a cluster-scoped template.
    let run_doc = creatable(
        fixture_doc(
            "analysisrun-measurements.yaml",
            "AnalysisRun",
            "checkout-7d4f9c8b6-5",
        ),
        "default",
    );
    // No status subresource: the status is stored with the object, as Argo's analysis
    // controller expects when it merge-patches `status` on the main resource.
    let run: AnalysisRun = serde_json::from_value(run_doc.clone()).unwrap();
    let runs: Api<AnalysisRun> = Api::namespaced(client.clone(), "default");
    let created_run = runs.create(&PostParams::default(), &run).await.unwrap();
    assert_eq!(created_run.status, run.status);
    runs.patch(
        "checkout-7d4f9c8b6-5",
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"phase": "Successful"}})),
    )
    .await
    .unwrap();
    let read_run = runs.get("checkout-7d4f9c8b6-5").await.unwrap();
    assert_eq!(read_run.spec, run.spec);
    assert_eq!(read_run.phase(), Some(AnalysisPhase::Successful));
    assert_eq!(
        read_run.status.as_ref().unwrap().metric_results,
        run.status.as_ref().unwrap().metric_results
    );

    let template: ClusterAnalysisTemplate = serde_json::from_value(fixture_doc(
        "cluster-analysis-template.yaml",
        "ClusterAnalysisTemplate",
        "success-rate",
    ))
    .unwrap();
    let templates: Api<ClusterAnalysisTemplate> = Api::all(client.clone());
    templates
        .create(&PostParams::default(), &template)
        .await
        .unwrap();
    assert_eq!(
        templates.get("success-rate").await.unwrap().spec,
        template.spec
    );

    sandbox.shutdown().await;
}

/// Runs the real kubectl against a kubeconfig and returns stdout (stderr on failure).
fn kubectl(kubeconfig: &Path, args: &[&str]) -> String {
    let output = std::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_uses_short_names_and_printer_columns() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let client = sandbox.client().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, sandbox.kubeconfig_yaml()).unwrap();
    // The `install-crds --print` path: the YAML stream applied by kubectl itself.
    let manifest = dir.path().join("crds.yaml");
    std::fs::write(&manifest, crds_yaml()).unwrap();
    let applied = {
        let kubeconfig = kubeconfig.clone();
        tokio::task::spawn_blocking(move || {
            kubectl(
                &kubeconfig,
                &["apply", "--server-side", "-f", manifest.to_str().unwrap()],
            )
        })
        .await
        .unwrap()
    };
    let applied_lines: Vec<&str> = applied.lines().collect();
    assert_eq!(
        applied_lines,
        [
            "customresourcedefinition.apiextensions.k8s.io/rollouts.argoproj.io serverside-applied",
            "customresourcedefinition.apiextensions.k8s.io/analysistemplates.argoproj.io serverside-applied",
            "customresourcedefinition.apiextensions.k8s.io/clusteranalysistemplates.argoproj.io serverside-applied",
            "customresourcedefinition.apiextensions.k8s.io/analysisruns.argoproj.io serverside-applied",
            "customresourcedefinition.apiextensions.k8s.io/experiments.argoproj.io serverside-applied",
        ]
    );
    wait_established(&client, Duration::from_secs(10))
        .await
        .unwrap();

    let rollout: Rollout = serde_json::from_value(creatable(
        fixture_doc("r1-istio-canary.yaml", "Rollout", "rollouts-demo"),
        "default",
    ))
    .unwrap();
    let rollouts: Api<Rollout> = Api::namespaced(client.clone(), "default");
    rollouts
        .create(&PostParams::default(), &rollout)
        .await
        .unwrap();
    let status = serde_json::to_value(rollout.status.as_ref().unwrap()).unwrap();
    rollouts
        .patch_status(
            "rollouts-demo",
            &PatchParams::default(),
            &Patch::Merge(json!({ "status": status })),
        )
        .await
        .unwrap();
    let run: AnalysisRun = serde_json::from_value(creatable(
        fixture_doc(
            "r5-failing-canary.yaml",
            "AnalysisRun",
            "rollouts-demo-5b9f8d7c6d-3-2",
        ),
        "default",
    ))
    .unwrap();
    Api::<AnalysisRun>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &run)
        .await
        .unwrap();

    let rows = tokio::task::spawn_blocking(move || {
        (
            kubectl(&kubeconfig, &["get", "ro"]),
            kubectl(&kubeconfig, &["get", "ar"]),
        )
    })
    .await
    .unwrap();

    let words = |text: &str| -> Vec<Vec<String>> {
        text.lines()
            .map(|line| line.split_whitespace().map(str::to_owned).collect())
            .collect()
    };
    let ro = words(&rows.0);
    assert_eq!(
        ro[0],
        [
            "NAME",
            "DESIRED",
            "CURRENT",
            "UP-TO-DATE",
            "AVAILABLE",
            "AGE"
        ]
    );
    assert_eq!(ro[1][..5], ["rollouts-demo", "1", "2", "1", "2"]);
    let ar = words(&rows.1);
    assert_eq!(ar[0], ["NAME", "STATUS", "AGE"]);
    assert_eq!(ar[1][..2], ["rollouts-demo-5b9f8d7c6d-3-2", "Failed"]);

    sandbox.shutdown().await;
}

#[test]
fn only_the_future_fixture_has_unmodelled_fields() {
    for file in fixture_files() {
        for doc in documents(&file) {
            let unknown = unknown_fields_of(&doc).unwrap();
            if file == "future-fields.yaml" {
                continue;
            }
            assert!(
                unknown.is_empty(),
                "{file}: {} {} has unmodelled fields {unknown:?}",
                doc["kind"],
                doc["metadata"]["name"]
            );
        }
    }
    let future: Vec<Vec<String>> = documents("future-fields.yaml")
        .iter()
        .map(|doc| unknown_fields_of(doc).unwrap())
        .collect();
    let expected: [&[&str]; 4] = [
        &[
            "spec.futureTopLevel",
            "spec.strategy.futureStrategy",
            "spec.strategy.canary.newThing",
            "spec.strategy.canary.trafficRouting.istio.virtualService.futureVsField",
            "spec.strategy.canary.trafficRouting.istio.futureIstioField",
            "spec.strategy.canary.trafficRouting.futureRouter",
            "spec.strategy.canary.steps[0].futureStepOption",
            "spec.strategy.canary.steps[1].futureStepKind",
            "spec.strategy.canary.steps[2].pause.futurePauseOption",
            "spec.strategy.canary.steps[3].analysis.templates[0].futureRefField",
            "spec.strategy.canary.steps[3].analysis.futureAnalysisField",
            "status.futureStatusField",
            "status.canary.futureCanaryStatus",
            "status.canary.weights.canary.futureWeightField",
            "status.conditions[0].futureConditionField",
            "status.pauseConditions[0].futurePauseField",
        ],
        &[
            "spec.futureSpecField",
            "spec.metrics[0].futureMetricField",
            "spec.metrics[0].provider.futureProvider",
            "spec.metrics[1].provider.prometheus.futurePromField",
            "spec.args[0].futureArgField",
        ],
        &[
            "spec.metrics[0].provider.web.futureWebField",
            "status.futureRunStatus",
            "status.metricResults[0].futureResultField",
            "status.metricResults[0].measurements[0].futureMeasurementField",
        ],
        &[
            "spec.futureExperimentField",
            "spec.templates[0].futureTemplateField",
            "status.futureExperimentStatus",
        ],
    ];
    assert_eq!(future, expected);
}

#[tokio::test]
async fn install_names_the_crd_and_step_that_failed() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sandbox = Sandbox::start(SandboxConfig {
        deny: vec!["patch:customresourcedefinitions".parse().unwrap()],
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let client = sandbox.client().await.unwrap();
    let error = install(&client).await.unwrap_err();
    assert!(
        matches!(&error, InstallError::Apply { name, source: kube::Error::Api(status) }
            if name == "rollouts.argoproj.io" && status.code == 403),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .starts_with("applying CustomResourceDefinition rollouts.argoproj.io: "),
        "{error}"
    );
    sandbox.shutdown().await;
}
