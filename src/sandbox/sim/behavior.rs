//! The documented rules that make simulated pods misbehave (see `docs/sandbox-sim.md`,
//! "Simulated controllers"). The kubelet asks [`container_script`] what a container will do
//! once started: exit with a code after some time, become ready after some time, or both.
//!
//! Rules, first match wins:
//! 1. Pod annotation `sandbox.rolltop.dev/behavior`: `crash` (exit 1 soon, restarted per the
//!    pod's restartPolicy: CrashLoopBackOff), `never-ready` (runs, never Ready), `fail` (exit 1,
//!    never restarted: phase Failed). Unknown values are ignored.
//! 2. Image tag containing `crashloop` (crash) or `never-ready`, per container.
//! 3. Container command/args containing `exit N`: exits with N after the run duration.
//! 4. Containers of pods owned by a Job exit 0 after the run duration.
//! 5. Everything else runs forever and becomes Ready after the ready delay (pod annotation
//!    `sandbox.rolltop.dev/ready-delay: 5s` overrides the configured delay).

use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Pod};

use super::SimConfig;

/// Pod annotation selecting a misbehaviour.
pub const BEHAVIOR_ANNOTATION: &str = "sandbox.rolltop.dev/behavior";
/// Pod annotation overriding the ready delay (`500ms`, `5s`, `2m`, or plain seconds).
pub const READY_DELAY_ANNOTATION: &str = "sandbox.rolltop.dev/ready-delay";

/// A named misbehaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behavior {
    /// Exits 1 shortly after each start; restarted per restartPolicy.
    Crash,
    /// Runs but never passes readiness.
    NeverReady,
    /// Exits 1 and is never restarted, so the pod ends Failed.
    Fail,
}

impl Behavior {
    /// Parses an annotation value; `None` for anything unknown.
    pub fn parse(value: &str) -> Option<Self> {
        match value.trim().to_ascii_lowercase().as_str() {
            "crash" | "crashloop" => Some(Self::Crash),
            "never-ready" | "neverready" | "unready" => Some(Self::NeverReady),
            "fail" | "failed" => Some(Self::Fail),
            _ => None,
        }
    }
}

/// How a container ends, if it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exit {
    pub code: i32,
    /// How long the container runs before exiting.
    pub after: Duration,
}

/// What a started container will do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Script {
    pub exit: Option<Exit>,
    /// Time from start to Ready, or `None` for never.
    pub ready_after: Option<Duration>,
    /// Whether the kubelet may restart the container after it exits (restartPolicy, unless
    /// the `fail` behaviour forbids it).
    pub restartable: bool,
}

/// The behaviour annotation of a pod, if it names a known behaviour.
pub fn pod_behavior(pod: &Pod) -> Option<Behavior> {
    pod.metadata
        .annotations
        .as_ref()?
        .get(BEHAVIOR_ANNOTATION)
        .and_then(|value| Behavior::parse(value))
}

/// The ready delay of a pod: its annotation if it parses, else the configured one.
pub fn ready_delay(pod: &Pod, config: &SimConfig) -> Duration {
    pod.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(READY_DELAY_ANNOTATION))
        .and_then(|value| parse_duration(value))
        .unwrap_or(config.ready_delay)
}

/// What `container` of `pod` does once started.
pub fn container_script(pod: &Pod, container: &Container, config: &SimConfig) -> Script {
    let restart_policy = pod
        .spec
        .as_ref()
        .and_then(|s| s.restart_policy.as_deref())
        .unwrap_or("Always");
    let behavior = pod_behavior(pod).or_else(|| image_behavior(container.image.as_deref()));
    let ready_after = Some(ready_delay(pod, config));
    let by_policy = |code: i32| match restart_policy {
        "Never" => false,
        "OnFailure" => code != 0,
        _ => true,
    };
    match behavior {
        Some(Behavior::Crash) => Script {
            exit: Some(Exit {
                code: 1,
                after: config.crash_after,
            }),
            ready_after: None,
            restartable: by_policy(1),
        },
        Some(Behavior::NeverReady) => Script {
            exit: None,
            ready_after: None,
            restartable: true,
        },
        Some(Behavior::Fail) => Script {
            exit: Some(Exit {
                code: 1,
                after: config.run_duration,
            }),
            ready_after: None,
            restartable: false,
        },
        None => {
            let code = command_exit_code(container).or_else(|| owned_by_job(pod).then_some(0));
            Script {
                exit: code.map(|code| Exit {
                    code,
                    after: config.run_duration,
                }),
                ready_after,
                restartable: by_policy(code.unwrap_or(0)),
            }
        }
    }
}

fn owned_by_job(pod: &Pod) -> bool {
    pod.metadata
        .owner_references
        .iter()
        .flatten()
        .any(|o| o.kind == "Job" && o.api_version.starts_with("batch/"))
}

fn image_behavior(image: Option<&str>) -> Option<Behavior> {
    let tag = image_tag(image?)?;
    if tag.contains("crashloop") {
        Some(Behavior::Crash)
    } else if tag.contains("never-ready") {
        Some(Behavior::NeverReady)
    } else {
        None
    }
}

/// The tag of an image reference (`repo/name:tag@digest` -> `tag`), if it has one.
pub fn image_tag(image: &str) -> Option<&str> {
    let without_digest = image.split('@').next().unwrap_or(image);
    let name = without_digest.rsplit('/').next().unwrap_or(without_digest);
    name.split_once(':').map(|(_, tag)| tag)
}

/// The code of the first `exit N` in a container's command and args, shell-style modulo 256.
pub fn command_exit_code(container: &Container) -> Option<i32> {
    let words: Vec<&str> = container
        .command
        .iter()
        .flatten()
        .chain(container.args.iter().flatten())
        .map(String::as_str)
        .collect();
    let line = words.join(" ");
    let bytes = line.as_bytes();
    let is_word = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'-';
    let mut search_from = 0;
    while let Some(found) = line[search_from..].find("exit") {
        let start = search_from + found;
        let end = start + "exit".len();
        search_from = end;
        if start > 0 && is_word(bytes[start - 1]) {
            continue;
        }
        let rest = &line[end..];
        let trimmed = rest.trim_start();
        if trimmed.len() == rest.len() {
            continue; // `exited`, `exit;` and the like are not `exit N`
        }
        let digits: String = trimmed.chars().take_while(char::is_ascii_digit).collect();
        let after = trimmed[digits.len()..].bytes().next();
        if digits.is_empty() || after.is_some_and(is_word) {
            continue;
        }
        let code = digits.parse::<u64>().map_or(255, |n| (n % 256) as i32);
        return Some(code);
    }
    None
}

/// Parses a Go duration (`500ms`, `5s`, `2m`, `1h30m`) or plain seconds (`3`, `1.5`).
pub fn parse_duration(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<f64>() {
        return Duration::try_from_secs_f64(seconds).ok();
    }
    crate::crd::parse_go_duration(value).ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

    fn config() -> SimConfig {
        SimConfig {
            ready_delay: Duration::from_secs(2),
            run_duration: Duration::from_secs(3),
            crash_after: Duration::from_secs(1),
            ..SimConfig::default()
        }
    }

    fn container(image: &str, command: &[&str], args: &[&str]) -> Container {
        Container {
            name: "main".into(),
            image: Some(image.into()),
            command: (!command.is_empty()).then(|| command.iter().map(|s| (*s).into()).collect()),
            args: (!args.is_empty()).then(|| args.iter().map(|s| (*s).into()).collect()),
            ..Default::default()
        }
    }

    fn pod(annotations: &[(&str, &str)], restart_policy: &str, job: bool) -> Pod {
        let mut pod = Pod::default();
        pod.metadata.annotations = Some(
            annotations
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
        );
        pod.spec = Some(k8s_openapi::api::core::v1::PodSpec {
            restart_policy: Some(restart_policy.into()),
            ..Default::default()
        });
        if job {
            pod.metadata.owner_references = Some(vec![OwnerReference {
                api_version: "batch/v1".into(),
                kind: "Job".into(),
                name: "j".into(),
                uid: "u".into(),
                controller: Some(true),
                ..Default::default()
            }]);
        }
        pod
    }

    #[test]
    fn exit_code_table() {
        let cases: &[(&[&str], &[&str], Option<i32>)] = &[
            (&[], &[], None),
            (&["sh", "-c"], &["echo hi; exit 1"], Some(1)),
            (&["sh", "-c", "exit 0"], &[], Some(0)),
            (&["/bin/sh"], &["-c", "sleep 2 && exit 42"], Some(42)),
            (&["sh", "-c", "exit 300"], &[], Some(44)),
            (&["sh", "-c", "echo exited 3"], &[], None),
            (&["sh", "-c", "my-exit 3"], &[], None),
            (&["sh", "-c", "exit $CODE"], &[], None),
            (&["sh", "-c", "exit 1x"], &[], None),
            (&["sh", "-c", "exit; exit 7"], &[], Some(7)),
        ];
        for (command, args, want) in cases {
            let c = container("busybox", command, args);
            assert_eq!(command_exit_code(&c), *want, "{command:?} {args:?}");
        }
    }

    #[test]
    fn image_tag_table() {
        let cases = [
            ("nginx", None),
            ("nginx:1.27", Some("1.27")),
            ("registry:5000/app:crashloop-v2", Some("crashloop-v2")),
            ("registry:5000/app", None),
            ("app:v1@sha256:abc", Some("v1")),
        ];
        for (image, want) in cases {
            assert_eq!(image_tag(image), want, "{image}");
        }
    }

    #[test]
    fn behavior_parsing() {
        assert_eq!(Behavior::parse(" Crash "), Some(Behavior::Crash));
        assert_eq!(Behavior::parse("never-ready"), Some(Behavior::NeverReady));
        assert_eq!(Behavior::parse("fail"), Some(Behavior::Fail));
        assert_eq!(Behavior::parse("explode"), None);
    }

    #[test]
    fn duration_parsing() {
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("5s"), Some(Duration::from_secs(5)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("-1s"), None);
        assert_eq!(parse_duration("soon"), None);
    }

    #[test]
    fn script_table() {
        let cfg = config();
        let ready = Some(Duration::from_secs(2));
        let exit = |code, secs| {
            Some(Exit {
                code,
                after: Duration::from_secs(secs),
            })
        };
        let cases = vec![
            (
                "plain",
                pod(&[], "Always", false),
                container("app:v1", &[], &[]),
                None,
                ready,
                true,
            ),
            (
                "annotated crash",
                pod(&[(BEHAVIOR_ANNOTATION, "crash")], "Always", false),
                container("app:v1", &[], &[]),
                exit(1, 1),
                None,
                true,
            ),
            (
                "crashloop tag",
                pod(&[], "Always", false),
                container("app:crashloop", &[], &[]),
                exit(1, 1),
                None,
                true,
            ),
            (
                "crash under Never",
                pod(&[(BEHAVIOR_ANNOTATION, "crash")], "Never", false),
                container("app:v1", &[], &[]),
                exit(1, 1),
                None,
                false,
            ),
            (
                "never-ready",
                pod(&[(BEHAVIOR_ANNOTATION, "never-ready")], "Always", false),
                container("app:v1", &[], &[]),
                None,
                None,
                true,
            ),
            (
                "fail is never restarted",
                pod(&[(BEHAVIOR_ANNOTATION, "fail")], "Always", false),
                container("app:v1", &[], &[]),
                exit(1, 3),
                None,
                false,
            ),
            (
                "job pod succeeds",
                pod(&[], "Never", true),
                container("busybox", &[], &[]),
                exit(0, 3),
                ready,
                false,
            ),
            (
                "job pod exit 2 under OnFailure",
                pod(&[], "OnFailure", true),
                container("busybox", &["sh", "-c", "exit 2"], &[]),
                exit(2, 3),
                ready,
                true,
            ),
            (
                "custom ready delay",
                pod(&[(READY_DELAY_ANNOTATION, "250ms")], "Always", false),
                container("app:v1", &[], &[]),
                None,
                Some(Duration::from_millis(250)),
                true,
            ),
            (
                "unknown behaviour is ignored",
                pod(&[(BEHAVIOR_ANNOTATION, "explode")], "Always", false),
                container("app:v1", &[], &[]),
                None,
                ready,
                true,
            ),
        ];
        for (name, pod, c, exit, ready_after, restartable) in cases {
            let want = Script {
                exit,
                ready_after,
                restartable,
            };
            assert_eq!(container_script(&pod, &c, &cfg), want, "{name}");
        }
    }
}
