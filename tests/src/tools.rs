//! Locating and building what the end-to-end tests run. Nothing is skipped: a missing tool or
//! a failed build panics with what to do about it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::SystemTime;

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Cargo's target directory (honours `CARGO_TARGET_DIR`).
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) => {
            let d = PathBuf::from(d);
            if d.is_absolute() {
                d
            } else {
                root().join(d)
            }
        }
        None => root().join("target"),
    }
}

fn newest_mtime(path: &Path) -> Option<SystemTime> {
    let meta = std::fs::metadata(path).ok()?;
    if meta.is_file() {
        return meta.modified().ok();
    }
    std::fs::read_dir(path)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| newest_mtime(&e.path()))
        .max()
}

/// `edge/build/index.js` and `index_bg.wasm`, built by `scripts/build-edge` unless they are
/// newer than every source they come from. Panics if the build fails.
pub fn worker_build() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let root = root();
        let out = root.join("edge/build");
        let built = [out.join("index.js"), out.join("index_bg.wasm")]
            .iter()
            .map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
            .collect::<Option<Vec<_>>>()
            .and_then(|v| v.into_iter().min());
        let sources = [
            "edge/src",
            "edge/Cargo.toml",
            "shared/src",
            "shared/Cargo.toml",
            "Cargo.lock",
        ]
        .iter()
        .filter_map(|p| newest_mtime(&root.join(p)))
        .max();
        let fresh = matches!((built, sources), (Some(b), Some(s)) if b >= s);
        if !fresh {
            eprintln!("edgewise-tests: worker build missing or stale, running scripts/build-edge");
            let status = Command::new(root.join("scripts/build-edge"))
                .env("CARGO_TARGET_DIR", target_dir())
                .status()
                .unwrap_or_else(|e| panic!("cannot run scripts/build-edge: {e}"));
            assert!(
                status.success(),
                "scripts/build-edge failed ({status}); run it by hand to see why"
            );
        }
        out
    })
}

/// The npm `wrangler` (installed by `scripts/build-edge` / `npm ci`).
pub fn wrangler() -> PathBuf {
    worker_build();
    let p = root().join("node_modules/.bin/wrangler");
    assert!(
        p.exists(),
        "{} is missing: run `npm ci` (or scripts/build-edge) at the repository root",
        p.display()
    );
    p
}

/// The `edgewise` CLI, built once per test binary with `cargo build -p edgewise-control`.
pub fn edgewise_cli() -> &'static Path {
    static CLI: OnceLock<PathBuf> = OnceLock::new();
    CLI.get_or_init(|| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-q", "-p", "edgewise-control", "--bin", "edgewise"])
            .current_dir(root())
            .env("CARGO_TARGET_DIR", target_dir())
            .status()
            .unwrap_or_else(|e| panic!("cannot run cargo build: {e}"));
        assert!(status.success(), "cargo build -p edgewise-control failed");
        let bin = target_dir().join("debug/edgewise");
        assert!(bin.exists(), "{} missing after the build", bin.display());
        bin
    })
}

/// A fresh empty directory under the system temp dir, removed on drop.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
        static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = std::env::temp_dir().join(format!("{prefix}-{}-{n}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A TCP port on 127.0.0.1 reserved for one server a test starts, for as long as the lease
/// lives. Servers that can bind port 0 and report the port they got do that instead; a lease is
/// for those that must be told their port: `wrangler dev` and its inspector, a control plane
/// restarted on the address the worker forwards to, python's `http.server`.
///
/// Ports used to be "free a moment ago" (bind port 0, close, hand the number over), and another
/// test's server could take one in between. A leased port is never handed out that way:
/// - it lies below the kernel's ephemeral range, where every port-0 bind lands, so no server
///   binding port 0 (workerd inside wrangler, control planes, receivers) can take it;
/// - an exclusive lock on a file named after it, held by this process until the lease is
///   dropped (or the process dies), keeps every other test process from leasing it too;
/// - it was free when leased (bound once), so nothing outside the tests held it.
///
/// What is left is another program on the machine binding it explicitly; [`crate::worker`]
/// retries with fresh leases when wrangler reports the address in use.
#[derive(Debug)]
pub struct PortLease {
    pub port: u16,
    _lock: std::fs::File,
}

impl PortLease {
    pub fn new() -> PortLease {
        let dir = std::env::temp_dir().join("edgewise-test-ports");
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
        // Below the ephemeral range (Linux: 32768..=60999 unless configured otherwise).
        let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse::<u16>().ok())
            .unwrap_or(32768);
        let (low, high) = (20_000u16, ephemeral_low.max(21_000));
        let span = u32::from(high - low);
        let seed = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos())
            ^ std::process::id().wrapping_mul(2_654_435_761);
        for i in 0..span {
            let port =
                low + u16::try_from((seed.wrapping_add(i.wrapping_mul(7919))) % span).unwrap_or(0);
            let Ok(lock) = std::fs::File::create(dir.join(port.to_string())) else {
                continue;
            };
            if lock.try_lock().is_err() {
                continue;
            }
            if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
                return PortLease { port, _lock: lock };
            }
        }
        panic!("no free port in {low}..{high}");
    }
}

impl Default for PortLease {
    fn default() -> Self {
        PortLease::new()
    }
}
