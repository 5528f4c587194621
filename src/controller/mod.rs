//! The in-process Argo Rollouts controller, a library: pure `plan(snapshot, now)` decisions and
//! an `apply` step that patches through `kube::Client`. It never imports the cockpit.

pub mod analysis;
