//! `Served`: the real `tollgate serve` binary as a child process, with its log.

use std::{
    net::SocketAddr,
    process::{Child, ExitStatus, Stdio},
    time::Duration,
};

use tokio::sync::mpsc;

use crate::helpers::{database_url, tollgate_command};

/// Generous: only a hung process ever waits this long.
pub const PATIENCE: Duration = Duration::from_secs(60);

const PASSWORD_MARKER: &str = "initial admin password: ";

/// A `tollgate serve` process on a database in `dir`, killed when dropped.
pub struct Served {
    pub child: Child,
    log: mpsc::UnboundedReceiver<String>,
    /// Every log line read so far.
    pub lines: Vec<String>,
}

impl Served {
    pub fn start(dir: &tempfile::TempDir) -> Self {
        Self::start_with(dir, &[], &[])
    }

    /// Starts with extra environment variables and `serve` flags.
    pub fn start_with(dir: &tempfile::TempDir, env: &[(&str, &str)], flags: &[&str]) -> Self {
        Self::start_on(&database_url(&dir.path().join("tollgate.db")), env, flags)
    }

    /// Starts on any database URL (SQLite or PostgreSQL).
    pub fn start_on(url: &str, env: &[(&str, &str)], flags: &[&str]) -> Self {
        let mut child = tollgate_command(url)
            .arg("serve")
            .args(flags)
            .env("TOLLGATE_BIND", "127.0.0.1:0")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary starts");
        let stderr = child.stderr.take().unwrap();
        let (lines, log) = mpsc::unbounded_channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                let _ = lines.send(line);
            }
        });
        Self {
            child,
            log,
            lines: Vec::new(),
        }
    }

    /// Reads the log up to the next line containing `needle`, and returns it.
    pub async fn log_until(&mut self, needle: &str) -> String {
        loop {
            let line = tokio::time::timeout(PATIENCE, self.log.recv()).await;
            let Ok(Some(line)) = line else {
                panic!("no `{needle}` in the log: {:#?}", self.lines);
            };
            self.lines.push(line.clone());
            if line.contains(needle) {
                return line;
            }
        }
    }

    /// The first start's admin password, from its log line.
    pub async fn admin_password(&mut self) -> String {
        let line = self.log_until(PASSWORD_MARKER).await;
        // Up to the end of the word: a JSON log line goes on with `"}`.
        let rest = line.split(PASSWORD_MARKER).nth(1).unwrap();
        rest.split(|c: char| c.is_whitespace() || c == '"')
            .next()
            .unwrap()
            .to_owned()
    }

    /// The address from the `listening` line.
    pub async fn addr(&mut self) -> SocketAddr {
        let line = self.log_until("listening").await;
        let addr = line
            .split("addr=")
            .nth(1)
            .expect("the line names the address");
        addr.split_whitespace().next().unwrap().parse().unwrap()
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let pid = self.child.id().to_string();
        let kill = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status();
        assert!(kill.unwrap().success());
    }

    /// Waits for the process to exit, then reads the rest of its log.
    pub async fn exit_status(&mut self) -> ExitStatus {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the process did not exit"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        while let Ok(Some(line)) = tokio::time::timeout(PATIENCE, self.log.recv()).await {
            self.lines.push(line);
        }
        status
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
