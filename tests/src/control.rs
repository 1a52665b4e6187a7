//! The real control plane (`edgewise serve`) on a fresh SQLite file, for end-to-end tests.
//!
//! It is started by a small shell script that records the server's pid, so a test (or the
//! simulator's `--restart-command`) can kill it with `kill -9` and start it again on the same
//! port and database: a crash restart, which must lose nothing that was acknowledged.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::http::{Client, Resp};
use crate::tools::{self, TempDir};
use crate::worker::{Worker, ADMIN_SECRET};

#[derive(Debug)]
pub struct ControlPlane {
    pub base: String,
    pub admin_token: String,
    pub ingest_key: String,
    pub client: Client,
    dir: TempDir,
    /// The port it listens on, across restarts.
    _port: tools::PortLease,
}

impl ControlPlane {
    /// Creates the database, an admin token and an ingestion key; does not start the server.
    pub fn prepare() -> ControlPlane {
        let dir = TempDir::new("edgewise-control");
        let port = tools::PortLease::new();
        let mut control = ControlPlane {
            base: format!("http://127.0.0.1:{}", port.port),
            admin_token: String::new(),
            ingest_key: String::new(),
            client: Client::new(),
            dir,
            _port: port,
        };
        control.admin_token = control.token("admin");
        control.ingest_key = control.cli(&["ingest-key", "create", "--site", "e2e"]);
        control
    }

    /// Runs the CLI on its database; returns what it printed on stdout, trimmed.
    pub fn cli(&self, args: &[&str]) -> String {
        let db = format!("sqlite://{}", self.database_file().display());
        let out = Command::new(tools::edgewise_cli())
            .args(args)
            .args(["--database-url", &db])
            .output()
            .unwrap_or_else(|e| panic!("edgewise {args:?}: {e}"));
        assert!(
            out.status.success(),
            "edgewise {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// A new API token of `role`.
    pub fn token(&self, role: &str) -> String {
        self.cli(&["token", "create", "--role", role])
    }

    /// Writes `start.sh` and `restart.sh` and starts the server, pushing to `edge` with
    /// `edge_secret`.
    pub fn start(&self, edge: &str, edge_secret: &str) {
        self.start_with(edge, edge_secret, &[]);
    }

    /// Like [`ControlPlane::start`], with more `edgewise serve` arguments.
    pub fn start_with(&self, edge: &str, edge_secret: &str, args: &[&str]) {
        let d = self.dir.path();
        let extra = args.join(" ");
        let listen = self.base.trim_start_matches("http://");
        let start = format!(
            "#!/bin/sh\nset -e\nsetsid {bin} serve --database-url sqlite://{db} --listen {listen} \
             --edge-url {edge} --edge-secret {edge_secret} {extra} >> {log} 2>&1 < /dev/null &\n\
             echo $! > {pid}\n\
             for i in $(seq 1 200); do curl -fsS -o /dev/null {base}/healthz && exit 0; sleep 0.1; done\n\
             echo 'control plane did not start' >&2; exit 1\n",
            bin = tools::edgewise_cli().display(),
            db = d.join("edgewise.db").display(),
            log = d.join("control.log").display(),
            pid = d.join("control.pid").display(),
            base = self.base,
        );
        let restart = format!(
            "#!/bin/sh\nkill -9 $(cat {pid}) 2>/dev/null\nsleep 0.2\nexec sh {start}\n",
            pid = d.join("control.pid").display(),
            start = d.join("start.sh").display(),
        );
        std::fs::write(d.join("start.sh"), start).unwrap_or_else(|e| panic!("write start.sh: {e}"));
        std::fs::write(d.join("restart.sh"), restart)
            .unwrap_or_else(|e| panic!("write restart.sh: {e}"));
        let status = Command::new("sh")
            .arg(d.join("start.sh"))
            .status()
            .unwrap_or_else(|e| panic!("sh start.sh: {e}"));
        assert!(
            status.success(),
            "the control plane did not start:\n{}",
            self.log_text()
        );
    }

    /// A shell command that kills the server with SIGKILL and starts it again.
    pub fn restart_command(&self) -> String {
        format!("sh {}", self.dir.path().join("restart.sh").display())
    }

    /// Its SQLite database's main file (the others are `FILE.shard1`, …).
    pub fn database_file(&self) -> PathBuf {
        self.dir.path().join("edgewise.db")
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("control.log")
    }

    /// An admin API call; `body` is JSON.
    pub fn api(&self, method: &str, path: &str, body: Option<&Value>) -> Resp {
        self.api_as(&self.admin_token, method, path, body)
    }

    /// An API call with `token`; `body` is JSON.
    pub fn api_as(&self, token: &str, method: &str, path: &str, body: Option<&Value>) -> Resp {
        let auth = format!("Bearer {token}");
        let text = body.map(Value::to_string);
        self.client.send(
            method,
            &format!("{}{path}", self.base),
            &[
                ("authorization", &auth),
                ("content-type", "application/json"),
            ],
            text.as_deref().map(str::as_bytes),
        )
    }

    /// Waits until `check` holds for the worker's answer, returning how long it took.
    pub fn wait_until(timeout: Duration, mut check: impl FnMut() -> bool) -> Option<Duration> {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if check() {
                return Some(start.elapsed());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        None
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(self.dir.path().join("control.pid")) {
            let _ = Command::new("kill").args(["-TERM", pid.trim()]).status();
        }
    }
}

/// What the edge assigns `unit` (a desktop Chrome visitor); `Null` when the request does not
/// get through (a caller waiting for the edge to serve a test asks again until its deadline:
/// wrangler dev has dropped a connection while several system tests ran side by side).
pub fn edge_assign(worker: &Worker, unit: &str) -> Value {
    let ua = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
    let url = worker.url(&format!("/v1/assign?unit={unit}"));
    match worker
        .client
        .request("GET", &url, &[("user-agent", ua)], None)
    {
        Ok(r) => r.json(),
        Err(e) => {
            eprintln!("GET {url}: {e}; asking again");
            Value::Null
        }
    }
}

/// The decision for test `key` in an assign reply.
pub fn decision_of(reply: &Value, key: &str) -> Option<Value> {
    reply["decisions"]
        .as_array()?
        .iter()
        .find(|d| d["test"] == key)
        .cloned()
}

/// Runs `edgewise simulate --json` on `scenario` against the worker and the control plane and
/// returns its report; `restart` lets the scenario's `faults.restart_at` kill -9 and restart
/// the control plane.
pub fn simulate(control: &ControlPlane, worker: &Worker, scenario: &Value, restart: bool) -> Value {
    let dir = TempDir::new("edgewise-sim");
    let file = dir.path().join("scenario.json");
    std::fs::write(&file, scenario.to_string()).unwrap_or_else(|e| panic!("write scenario: {e}"));
    let mut cmd = Command::new(tools::edgewise_cli());
    cmd.args([
        "simulate",
        "--json",
        "--quiet",
        "--concurrency",
        "64",
        "--settle-seconds",
        "120",
    ])
    .arg("--scenario")
    .arg(&file)
    .args(["--edge", &worker.base, "--control", &control.base])
    .args(["--token", &control.admin_token]);
    if restart {
        cmd.args(["--restart-command", &control.restart_command()]);
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("edgewise simulate: {e}"));
    assert!(
        out.status.success(),
        "simulate failed: {}\ncontrol log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        control.log_text()
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("simulate's report: {e}"))
}

/// Starts the control plane and the worker, creates `spec` and starts it, and waits until the
/// edge assigns it; returns how long that took after the start.
pub fn system_with(spec: &Value) -> (ControlPlane, Worker, Duration) {
    system_serving(spec, &[])
}

/// The control plane (started with `args`) and the worker (with `vars` too) on workerd, each
/// knowing the other: the worker forwards beacons to it, it publishes to the worker.
pub fn control_and_worker(vars: &[(&str, &str)], args: &[&str]) -> (ControlPlane, Worker) {
    let control = ControlPlane::prepare();
    let mut all = vec![
        ("CONTROL_URL", control.base.as_str()),
        ("INGEST_KEY", control.ingest_key.as_str()),
    ];
    all.extend_from_slice(vars);
    let worker = Worker::start(&all);
    control.start_with(&worker.base, ADMIN_SECRET, args);
    (control, worker)
}

/// [`system_with`], the control plane started with `args` too.
pub fn system_serving(spec: &Value, args: &[&str]) -> (ControlPlane, Worker, Duration) {
    let (control, worker) = control_and_worker(&[], args);
    let key = spec["key"].as_str().unwrap();
    let created = control.api("POST", "/api/v1/tests", Some(spec));
    assert_eq!(created.status, 201, "{}", created.body);
    let started = control.api("POST", &format!("/api/v1/tests/{key}/start"), None);
    assert_eq!(started.status, 200, "{}", started.body);
    let served = ControlPlane::wait_until(Duration::from_secs(30), || {
        decision_of(&edge_assign(&worker, "probe"), key).is_some_and(|d| d["reason"] == "assigned")
    })
    .unwrap_or_else(|| panic!("the edge never served {key}"));
    (control, worker, served)
}
