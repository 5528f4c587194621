//! `rolltop lint FILE` through the built binary, on the fixtures in `tests/fixtures/lint/`:
//! exit codes, the report lines and the summary.

use std::path::PathBuf;
use std::process::{Command, Output};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/lint")
        .join(name)
}

fn lint(args: &[&std::ffi::OsStr]) -> (Option<i32>, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new(env!("CARGO_BIN_EXE_rolltop"))
        .arg("lint")
        .args(args)
        .output()
        .expect("runs rolltop");
    (
        status.code(),
        String::from_utf8(stdout).unwrap(),
        String::from_utf8(stderr).unwrap(),
    )
}

fn lint_fixture(name: &str) -> (Option<i32>, String, String) {
    lint(&[fixture(name).as_os_str()])
}

#[test]
fn r5_template_warns_with_both_guards_and_exits_0() {
    let (code, out, _) = lint_fixture("r5.yaml");
    assert_eq!(code, Some(0), "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(
        lines[0].ends_with(
            "r5.yaml:2 AnalysisTemplate/failure-count: warning: \
             spec.metrics[0].successCondition: successCondition \"result[0] <= 5\" indexes \
             result without checking len(result): when the query returns no data every \
             measurement is Error, and the analysis fails after consecutiveErrorLimit+1 of them"
        ),
        "{out}"
    );
    assert!(lines[1].starts_with("    hint: "), "{out}");
    assert!(
        lines[1].contains("\"len(result) > 0 && result[0] <= 5\""),
        "{out}"
    );
    assert!(
        lines[1].contains("\"len(result) == 0 || result[0] <= 5\""),
        "{out}"
    );
    assert_eq!(lines[2], "0 errors, 1 warning");
}

#[test]
fn clean_file_has_no_findings() {
    let (code, out, err) = lint_fixture("clean.yaml");
    assert_eq!(code, Some(0), "{out}{err}");
    assert_eq!(out, "0 errors, 0 warnings\n");
    assert_eq!(err, "");
}

#[test]
fn file_with_errors_reports_each_and_exits_1() {
    let (code, out, _) = lint_fixture("errors.yaml");
    assert_eq!(code, Some(1), "{out}");
    let expected = [
        ":3 Rollout/api: warning: spec.strategy.canary.steps[4].setweight: unknown field",
        ":3 Rollout/api: error: spec.strategy.canary.maxSurge: MaxSurge and MaxUnavailable both \
         can not be zero",
        ":3 Rollout/api: error: spec.strategy.canary.canaryService: Service \"api-canary\" has \
         unmatch label \"app\" in rollout",
        ":3 Rollout/api: error: spec.strategy.canary.trafficRouting.istio.virtualService.routes[0]: \
         HTTP Route 'main' is not found in the defined Virtual Service.",
        ":3 Rollout/api: error: spec.strategy.canary.steps[0].setWeight: SetWeight needs to be \
         between 0 and 100",
        ":3 Rollout/api: error: spec.strategy.canary.steps[1]: Step must have one of the \
         following set: experiment, setWeight, setCanaryScale or pause (this step sets setWeight \
         and pause)",
        ":3 Rollout/api: error: spec.strategy.canary.steps[2].pause.duration: Duration needs to \
         be greater than 0",
        ":3 Rollout/api: error: spec.strategy.canary.steps[3]: Step must have one of the \
         following set: experiment, setWeight, setCanaryScale or pause",
        ":3 Rollout/api: warning: spec.strategy.canary.steps[5].analysis.templates[0]: \
         AnalysisTemplate \"latency\" is not defined in this file",
        ":3 Rollout/api: error: spec.strategy.canary.steps[6].analysis.templates[0]: \
         AnalysisTemplate \"error-rate\" requires argument \"service\"",
        ":3 Rollout/api: error: spec.strategy.canary.steps[6].analysis.templates[0]: \
         AnalysisTemplate error-rate has metric errors which runs indefinitely. Invalid value for \
         count: <nil>",
        ":5 AnalysisTemplate/error-rate: error: spec.metrics[1]: metrics[1]: duplicate name \
         'errors'",
        ":5 AnalysisTemplate/error-rate: error: spec.metrics[0].successCondition: \
         successCondition \"result < 0.01\" compares result as a number",
        ":6 Rollout/checkout: error: spec.strategy.blueGreen.activeService: This rollout uses the \
         same service for the active and preview services, but two different services are \
         required.",
    ];
    for line in expected {
        assert!(
            out.lines()
                .any(|l| l.contains(&format!("errors.yaml{line}"))),
            "missing {line:?} in\n{out}"
        );
    }
    assert!(out.contains("    hint: did you mean `setWeight`?"), "{out}");
    assert_eq!(out.lines().last(), Some("13 errors, 3 warnings"), "{out}");
}

#[test]
fn malformed_yaml_names_file_and_document() {
    let (code, out, _) = lint_fixture("malformed.yaml");
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.lines()
            .any(|l| l.contains("malformed.yaml:2: error: malformed YAML: ")
                && l.contains("line 10")),
        "{out}"
    );
}

#[test]
fn missing_file_exits_1_naming_it() {
    let missing = fixture("does-not-exist.yaml");
    let (code, out, err) = lint(&[missing.as_os_str()]);
    assert_eq!(code, Some(1));
    assert_eq!(out, "");
    assert!(err.contains("does-not-exist.yaml"), "{err}");
}

#[test]
fn missing_argument_is_bad_usage() {
    let (code, _, err) = lint(&[]);
    assert_eq!(code, Some(2), "{err}");
}
