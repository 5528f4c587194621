//! The one tmux driver the terminal tests share: a private tmux server (`-L`) per test, killed
//! when dropped (also when the test fails), a 120×40 session named `app` running one shell
//! command, and screen reads with `capture-pane` polled until the expected text appears (no
//! fixed sleeps). The shell command records rolltop's exit status in a file, so tests can check
//! how it ended after the pane's process is gone.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// How long a screen wait may take unless a test says otherwise; generous for a loaded CI.
pub const SCREEN_DEADLINE: Duration = Duration::from_secs(60);

pub struct Tmux {
    socket: String,
    config: PathBuf,
}

impl Tmux {
    /// A server named `socket` whose configuration lives in `dir`; nothing runs yet.
    pub fn new(socket: &str, dir: &Path) -> Self {
        let config = dir.join("tmux.conf");
        std::fs::write(
            &config,
            "set -g status off\nset -g default-size 120x40\nset -g remain-on-exit on\n\
             set -g history-limit 5000\n",
        )
        .unwrap();
        Self {
            socket: format!("{socket}-{}", std::process::id()),
            config,
        }
    }

    /// Starts the session `app` (120×40, `TERM=xterm-256color`, plus `env` as `NAME=value`)
    /// running `command` under the shell.
    pub fn start(&self, env: &[&str], command: &str) {
        self.start_sized(120, 40, env, command);
    }

    /// As [`Tmux::start`] with another size.
    pub fn start_sized(&self, width: u16, height: u16, env: &[&str], command: &str) {
        let (width, height) = (width.to_string(), height.to_string());
        let mut args = vec![
            "new-session",
            "-d",
            "-s",
            "app",
            "-x",
            &width,
            "-y",
            &height,
            "-e",
            "TERM=xterm-256color",
        ];
        for pair in env {
            args.extend(["-e", pair]);
        }
        args.push(command);
        let started = self.cmd(&args);
        assert!(started.status.success(), "{started:?}");
    }

    pub fn cmd(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .arg("-f")
            .arg(&self.config)
            .args(args)
            .output()
            .unwrap()
    }

    pub fn screen(&self) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-p", "-t", "app"]).stdout).into_owned()
    }

    pub fn display(&self, format: &str) -> String {
        let out = self.cmd(&["display", "-p", "-t", "app", format]);
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "app"];
        args.extend_from_slice(keys);
        assert!(self.cmd(&args).status.success());
    }

    pub fn literal(&self, text: &str) {
        assert!(
            self.cmd(&["send-keys", "-t", "app", "-l", text])
                .status
                .success()
        );
    }

    /// Polls the pane until `done` holds; fails with the last screen after [`SCREEN_DEADLINE`].
    pub async fn wait_for(&self, what: &str, done: impl Fn(&str) -> bool) -> String {
        self.wait_for_within(what, SCREEN_DEADLINE, done).await
    }

    /// As [`Tmux::wait_for`] with its own deadline.
    pub async fn wait_for_within(
        &self,
        what: &str,
        timeout: Duration,
        done: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let screen = self.screen();
            if done(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; screen:\n{screen}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits for the exit status the pane's shell wrote to `exit_file`; panics with the screen
    /// after [`SCREEN_DEADLINE`].
    pub async fn exit_status(&self, exit_file: &Path) -> String {
        let deadline = Instant::now() + SCREEN_DEADLINE;
        loop {
            if let Ok(text) = std::fs::read_to_string(exit_file)
                && text.ends_with('\n')
            {
                return text.trim().to_owned();
            }
            assert!(
                Instant::now() < deadline,
                "rolltop did not exit: {}",
                self.screen()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}
