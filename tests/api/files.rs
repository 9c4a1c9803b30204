//! The SQLite file holds every password hash and the signing secret: it is
//! created private to its owner whatever the umask, and an existing readable
//! one is warned about. (SQLite only: PostgreSQL keeps its own files.)

use std::{os::unix::fs::PermissionsExt, process::Stdio};

use crate::helpers::{database_url, skip_on_postgres, tollgate_command};

fn mode(path: &str) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn database_files_are_created_0600_even_under_a_permissive_umask() {
    if skip_on_postgres("file modes") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tollgate.db");
    let base = tollgate_command(&database_url(&path));
    // `umask 000` first, as a careless service unit might leave it.
    let mut shell = std::process::Command::new("sh");
    shell
        .args([
            "-c",
            "umask 000 && exec \"$0\" serve",
            base.get_program().to_str().unwrap(),
        ])
        .envs(base.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .env("TOLLGATE_BIND", "127.0.0.1:0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (name, value) in base.get_envs() {
        if value.is_none() {
            shell.env_remove(name);
        }
    }
    let mut child = shell.spawn().unwrap();
    let wal = format!("{}-wal", path.display());
    let shm = format!("{}-shm", path.display());
    for _ in 0..200 {
        if std::path::Path::new(&shm).exists() && std::path::Path::new(&wal).exists() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    let modes = [mode(path.to_str().unwrap()), mode(&wal), mode(&shm)];
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(modes, [0o600; 3], "database, -wal and -shm");
}

#[test]
fn an_existing_database_readable_by_others_is_warned_about_once() {
    if skip_on_postgres("file modes") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tollgate.db");
    let url = database_url(&path);
    assert!(
        tollgate_command(&url)
            .arg("migrate")
            .status()
            .unwrap()
            .success()
    );
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let output = tollgate_command(&url).arg("migrate").output().unwrap();
    assert!(output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("can be read by other users"))
        .collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(warnings[0].contains("644"), "{stderr}");
}
