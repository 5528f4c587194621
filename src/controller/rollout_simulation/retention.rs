//! Retention of completed AnalysisRuns through a whole update: three step analyses with
//! `analysis.successfulRunHistoryLimit: 1` leave only the newest run behind.

use kube::ResourceExt;
use serde_json::json;

use super::{World, rollout, sleep_job_template};

impl World {
    /// Plays the API server's creation timestamps on runs that have none (retention orders
    /// runs by creation time).
    fn stamp_runs(&mut self) {
        for (i, run) in self.analysis_runs.iter_mut().enumerate() {
            if run.metadata.creation_timestamp.is_none() {
                let at = self.now.timestamp() + i64::try_from(i).unwrap();
                run.metadata.creation_timestamp =
                    Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                        k8s_openapi::jiff::Timestamp::from_second(at).unwrap(),
                    ));
            }
        }
    }
}

#[test]
fn successful_runs_beyond_the_history_limit_are_deleted() {
    let analysis = json!({"analysis": {"templates": [{"templateName": "sleep-job"}]}});
    let mut r = rollout(
        2,
        &json!({"steps": [analysis.clone(), analysis.clone(), analysis]}),
    );
    r.spec.analysis =
        Some(serde_json::from_value(json!({"successfulRunHistoryLimit": 1})).unwrap());
    let mut w = World::new(r);
    w.analysis_templates.push(sleep_job_template());
    w.settle();
    w.set_image("nginx:2");
    let mut names = Vec::new();
    for step in 0..3 {
        w.settle();
        w.stamp_runs();
        let run = w.analysis_runs.last().unwrap().name_any();
        assert!(run.ends_with(&format!("-2-{step}")), "{run}");
        // Only the newest completed run is ever kept beside the running one.
        assert!(
            w.analysis_runs.len() <= 2,
            "{:?}",
            w.analysis_runs
                .iter()
                .map(ResourceExt::name_any)
                .collect::<Vec<_>>()
        );
        w.finish_run(&run, "Successful", "");
        w.advance(1);
        names.push(run);
    }
    w.settle();
    assert_eq!(w.phase(), ("Healthy".into(), String::new()));
    let left: Vec<String> = w.analysis_runs.iter().map(ResourceExt::name_any).collect();
    assert_eq!(left, [names[2].clone()]);
}
