//! PostgreSQL for the fault tests: a throwaway cluster of a test's own (to
//! stop, pause or restart without disturbing other tests), a TCP relay that
//! can pause its connections or close their server side, and PgBouncer.

use std::{
    process::{Child, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::watch,
};

use crate::helpers::postgres_url;

/// The URL of the suite's PostgreSQL server; a test marked
/// `#[ignore = "needs PostgreSQL"]` that is run without one fails here,
/// saying what it needs.
pub fn require_postgres() -> String {
    postgres_url().expect(
        "this test needs PostgreSQL: set TOLLGATE_TEST_DATABASE_URL=postgres://... \
         (`just test-pg` starts a throwaway server)",
    )
}

/// `url` with its host and port replaced by 127.0.0.1:`port`.
pub fn via_port(url: &str, port: u16) -> String {
    let mut parsed = url::Url::parse(url).expect("a database URL");
    parsed.set_host(Some("127.0.0.1")).unwrap();
    parsed.set_port(Some(port)).unwrap();
    parsed.to_string()
}

/// The port of a database URL.
pub fn port_of(url: &str) -> u16 {
    url::Url::parse(url)
        .expect("a database URL")
        .port()
        .unwrap_or(5432)
}

/// A throwaway cluster on a free port, deleted when dropped.
pub struct Cluster {
    dir: String,
    pub port: u16,
}

impl Cluster {
    pub fn start() -> Self {
        let port = free_port();
        let dir = format!("/tmp/tollgate-test-pg-{port}");
        let cluster = Self { dir, port };
        cluster.run("start");
        cluster
    }

    pub fn url(&self) -> String {
        format!(
            "postgres://tollgate:tollgate@127.0.0.1:{}/tollgate",
            self.port
        )
    }

    pub fn run(&self, action: &str) {
        let status = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/pg.sh"))
            .arg(action)
            .env("PG_DIR", &self.dir)
            .env("PG_PORT", self.port.to_string())
            .stdout(Stdio::null())
            .status()
            .expect("scripts/pg.sh runs");
        assert!(status.success(), "scripts/pg.sh {action} failed");
    }

    /// Sends `signal` (`STOP`, `CONT`) to the server and every backend of
    /// it: a server that is paused whole, as a VM or container can be.
    pub fn signal(&self, signal: &str) {
        let pid_file = format!("{}/data/postmaster.pid", self.dir);
        let postmaster: u32 = std::fs::read_to_string(&pid_file)
            .expect("postmaster.pid")
            .lines()
            .next()
            .and_then(|line| line.trim().parse().ok())
            .expect("a pid");
        let mut pids = vec![postmaster];
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let status = std::fs::read_to_string(entry.path().join("status")).unwrap_or_default();
            let parent = status
                .lines()
                .find_map(|line| line.strip_prefix("PPid:"))
                .and_then(|ppid| ppid.trim().parse::<u32>().ok());
            if parent == Some(postmaster)
                && let Ok(pid) = entry.file_name().to_string_lossy().parse()
            {
                pids.push(pid);
            }
        }
        let list = pids
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(" ");
        let status = Command::new("sh")
            .args(["-c", &format!("kill -{signal} {list}")])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal} {list}");
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // A paused server must run again to be stopped.
        let _ = std::panic::catch_unwind(|| self.signal("CONT"));
        self.run("clean");
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A TCP relay to a PostgreSQL port. [`freeze`](Relay::freeze) stops it
/// passing bytes on while every connection stays open (a paused connection,
/// a network partition); [`cut`](Relay::cut) closes the server side of every
/// connection open now while their client side stays open and silent (a
/// half-open connection: the server has let go, the node is not told).
/// Connections made after a cut pass as usual.
pub struct Relay {
    pub port: u16,
    frozen: Arc<AtomicBool>,
    cuts: watch::Sender<u64>,
}

impl Relay {
    pub async fn start(to: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let frozen = Arc::new(AtomicBool::new(false));
        let (cuts, _) = watch::channel(0);
        let held = Arc::clone(&frozen);
        let watch_cuts = cuts.subscribe();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(("127.0.0.1", to)).await else {
                    continue;
                };
                let mut cut = watch_cuts.clone();
                cut.mark_unchanged();
                tokio::spawn(pipe(client, server, Arc::clone(&held), cut));
            }
        });
        Self { port, frozen, cuts }
    }

    /// `url` (a database URL on the relayed server) through this relay.
    pub fn url(&self, url: &str) -> String {
        via_port(url, self.port)
    }

    pub fn freeze(&self, frozen: bool) {
        self.frozen.store(frozen, Ordering::SeqCst);
    }

    pub fn cut(&self) {
        self.cuts.send_modify(|n| *n += 1);
    }
}

async fn pipe(
    client: TcpStream,
    server: TcpStream,
    frozen: Arc<AtomicBool>,
    mut cut: watch::Receiver<u64>,
) {
    let (mut client_rd, mut client_wr) = client.into_split();
    let (mut server_rd, mut server_wr) = server.into_split();
    let (mut up, mut down) = (vec![0u8; 16 * 1024], vec![0u8; 16 * 1024]);
    loop {
        tokio::select! {
            read = client_rd.read(&mut up) => {
                let Ok(n @ 1..) = read else { return };
                wait_while(&frozen).await;
                if server_wr.write_all(&up[..n]).await.is_err() { return }
            }
            read = server_rd.read(&mut down) => {
                let Ok(n @ 1..) = read else { return };
                wait_while(&frozen).await;
                if client_wr.write_all(&down[..n]).await.is_err() { return }
            }
            _ = cut.changed() => break,
        }
    }
    // Half-open: the server side is closed; the client is told nothing, and
    // whatever it sends is swallowed until it closes.
    drop((server_rd, server_wr));
    while let Ok(1..) = client_rd.read(&mut up).await {}
    drop(client_wr);
}

async fn wait_while(frozen: &AtomicBool) {
    while frozen.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// PgBouncer (Debian's package) in front of a PostgreSQL port, in `mode`
/// (`session` or `transaction`), stopped when dropped.
pub struct Bouncer {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Bouncer {
    pub fn start(to: u16, mode: &str) -> Self {
        let binary = ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer"]
            .into_iter()
            .find(|path| std::path::Path::new(path).exists())
            .expect(
                "this test needs PgBouncer (Debian's package `pgbouncer`; .ci/run installs it)",
            );
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let config = dir.path().join("pgbouncer.ini");
        std::fs::write(dir.path().join("users.txt"), "\"tollgate\" \"tollgate\"\n").unwrap();
        std::fs::write(
            &config,
            format!(
                "[databases]\n* = host=127.0.0.1 port={to}\n\n[pgbouncer]\n\
                 listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n\
                 auth_type = plain\nauth_file = {users}\npool_mode = {mode}\n\
                 max_client_conn = 200\ndefault_pool_size = 40\n\
                 ignore_startup_parameters = extra_float_digits\nlogfile = {log}\n",
                users = dir.path().join("users.txt").display(),
                log = dir.path().join("pgbouncer.log").display(),
            ),
        )
        .unwrap();
        let mut command = Command::new(binary);
        // PgBouncer refuses to run as root.
        if is_root() {
            let status = Command::new("chown")
                .args(["-R", "postgres:"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(status.success());
            command.args(["-u", "postgres"]);
        }
        let child = command
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("pgbouncer starts");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Self {
            child,
            port,
            _dir: dir,
        }
    }

    pub fn url(&self, url: &str) -> String {
        via_port(url, self.port)
    }
}

impl Drop for Bouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .any(|line| line.starts_with("Uid:") && line.split_whitespace().nth(1) == Some("0"))
}
