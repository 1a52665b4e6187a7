//! The built worker running on workerd through `wrangler dev`, in its own process group.
//!
//! `wrangler dev` runs several processes (node, esbuild, two workerd); it is started with
//! `setsid` so [`Worker`]'s drop can stop the whole group by its id. Each worker gets its own
//! leased port and inspector port ([`tools::PortLease`]) and `--persist-to` directory, so tests
//! never share a port, KV or queue state.

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::http::{Client, Resp};
use crate::tools::{self, TempDir};

/// The admin secret every test worker is started with.
pub const ADMIN_SECRET: &str = "test-admin-secret";
/// The ingestion key the worker forwards beacons with.
pub const INGEST_KEY: &str = "test-ingest-key";

#[derive(Debug)]
pub struct Worker {
    child: Child,
    pub base: String,
    pub client: Client,
    log: PathBuf,
    persist: PathBuf,
    /// Its port and its inspector's, held while it runs.
    _ports: [tools::PortLease; 2],
    _state: TempDir,
}

impl Worker {
    /// Starts the worker with test mode on and `vars` on top of `wrangler.toml`'s, on leased
    /// ports ([`tools::PortLease`]); if wrangler still finds one taken (by a program outside
    /// the tests), it starts again on fresh ones.
    pub fn start(vars: &[(&str, &str)]) -> Worker {
        let mut attempt = 1;
        loop {
            match Worker::try_start(vars) {
                Ok(worker) => return worker,
                Err(log) if attempt < 4 && log.contains("Address already in use") => {
                    eprintln!(
                        "wrangler dev found its port taken; starting again (attempt {attempt})"
                    );
                    attempt += 1;
                }
                Err(log) => panic!("wrangler dev exited before serving:\n{log}"),
            }
        }
    }

    fn try_start(vars: &[(&str, &str)]) -> Result<Worker, String> {
        let wrangler = tools::wrangler();
        let state = TempDir::new("edgewise-wrangler");
        let port = tools::PortLease::new();
        let inspector = tools::PortLease::new();
        let log = state.path().join("wrangler.log");
        let persist = state.path().join("persist");
        let log_file = File::create(&log).unwrap_or_else(|e| panic!("create log: {e}"));
        let err_file = log_file
            .try_clone()
            .unwrap_or_else(|e| panic!("dup log: {e}"));
        let mut cmd = Command::new("setsid");
        cmd.arg(&wrangler)
            .args(["dev", "--config"])
            .arg(tools::root().join("wrangler.toml"))
            .args(["--ip", "127.0.0.1", "--port", &port.port.to_string()])
            .args(["--inspector-port", &inspector.port.to_string()])
            .arg("--persist-to")
            .arg(&persist)
            .args(["--log-level", "info"]);
        let base_vars = [
            ("EDGE_ADMIN_SECRET", ADMIN_SECRET),
            ("INGEST_KEY", INGEST_KEY),
            ("EDGEWISE_TEST_MODE", "1"),
            // Nothing listens on the discard port: forwarding fails unless a test sets its own.
            ("CONTROL_URL", "http://127.0.0.1:9"),
            ("EVENTS_RETRY_BASE_SECONDS", "1"),
            ("EVENTS_RETRY_MAX_SECONDS", "2"),
        ];
        for (k, v) in base_vars.iter().chain(vars) {
            cmd.arg("--var").arg(format!("{k}:{v}"));
        }
        let child = cmd
            .current_dir(tools::root())
            .env("CLOUDFLARE_CF_FETCH_ENABLED", "false")
            .env("WRANGLER_SEND_METRICS", "false")
            .env("WRANGLER_LOG_PATH", state.path().join("wrangler-logs"))
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(log_file)
            .stderr(err_file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start `setsid wrangler dev`: {e}"));
        let mut worker = Worker {
            child,
            base: format!("http://127.0.0.1:{}", port.port),
            client: Client::new(),
            log,
            persist,
            _ports: [port, inspector],
            _state: state,
        };
        worker.wait_ready()?;
        Ok(worker)
    }

    /// The built worker on plain `workerd` (no wrangler, no Miniflare in front of it), with
    /// `vars` on top of the test defaults, an in-memory KV namespace (`scripts/bench/kv.js`)
    /// and no queue. For what the local proxy chain of `wrangler dev` does not let through.
    pub fn start_workerd(vars: &[(&str, &str)]) -> Worker {
        let state = TempDir::new("edgewise-workerd");
        let port = tools::PortLease::new();
        let root = tools::root();
        for (from, to) in [
            ("edge/build/index.js", "index.js"),
            ("edge/build/index_bg.wasm", "index_bg.wasm"),
            ("scripts/bench/kv.js", "kv.js"),
        ] {
            std::fs::copy(root.join(from), state.path().join(to))
                .unwrap_or_else(|e| panic!("{from}: {e} (scripts/build-edge builds the worker)"));
        }
        let toml = std::fs::read_to_string(root.join("wrangler.toml")).expect("wrangler.toml");
        let date = toml
            .lines()
            .find_map(|l| l.strip_prefix("compatibility_date = "))
            .expect("compatibility_date in wrangler.toml")
            .trim_matches('"');
        let bindings: Vec<String> = [
            ("EDGE_ADMIN_SECRET", ADMIN_SECRET),
            ("INGEST_KEY", INGEST_KEY),
            ("COOKIE_NAME", "edgewise_uid"),
            ("CONTROL_URL", "http://127.0.0.1:9"),
        ]
        .iter()
        .chain(vars)
        .map(|(k, v)| format!("(name = {k:?}, text = {v:?})"))
        .collect();
        let config = format!(
            r#"using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [(name = "edge", worker = .edge), (name = "kv", worker = .kv),
              (name = "internet", network = (allow = ["private", "public", "local"]))],
  sockets = [(name = "http", address = "127.0.0.1:{port}", http = (), service = "edge")],
);
const edge :Workerd.Worker = (
  modules = [(name = "index.js", esModule = embed "index.js"),
             (name = "index_bg.wasm", wasm = embed "index_bg.wasm")],
  compatibilityDate = "{date}",
  globalOutbound = "internet",
  bindings = [(name = "SNAPSHOTS", kvNamespace = "kv"), {bindings}],
);
const kv :Workerd.Worker = (modules = [(name = "kv.js", esModule = embed "kv.js")],
                            compatibilityDate = "{date}");
"#,
            port = port.port,
            bindings = bindings.join(", "),
        );
        let file = state.path().join("config.capnp");
        std::fs::write(&file, config).expect("write the workerd config");
        let log = state.path().join("workerd.log");
        let out = File::create(&log).unwrap_or_else(|e| panic!("create log: {e}"));
        let err = out.try_clone().unwrap_or_else(|e| panic!("dup log: {e}"));
        let child = Command::new("setsid")
            .arg(root.join("node_modules/.bin/workerd"))
            .arg("serve")
            .arg(&file)
            .current_dir(state.path())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start workerd: {e}"));
        let mut worker = Worker {
            child,
            base: format!("http://127.0.0.1:{}", port.port),
            client: Client::new(),
            persist: state.path().join("persist"),
            log,
            _ports: [port, tools::PortLease::new()],
            _state: state,
        };
        if let Err(log) = worker.wait_ready() {
            panic!("workerd exited before serving:\n{log}");
        }
        worker
    }

    /// Waits for the first 200 from `/v1/health`; the log if wrangler exits first.
    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("({status})\n{}", self.log_text()));
            }
            if let Ok(r) = self
                .client
                .request("GET", &self.url("/v1/health"), &[], None)
            {
                if r.status == 200 {
                    return Ok(());
                }
            }
            assert!(
                Instant::now() < deadline,
                "wrangler dev not ready after 90 s:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub fn url(&self, path_and_query: &str) -> String {
        format!("{}{path_and_query}", self.base)
    }

    /// Everything wrangler and the worker printed so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Writes `value` under `key` in the worker's local KV namespace behind its back, the way
    /// a push handled by another location shows up in production.
    pub fn kv_put(&self, key: &str, value: &str) {
        let file = self
            .persist
            .with_extension(format!("value-{}", key.replace('/', "_")));
        std::fs::write(&file, value).unwrap_or_else(|e| panic!("write {}: {e}", file.display()));
        let out = Command::new(tools::wrangler())
            .args([
                "kv",
                "key",
                "put",
                "--binding",
                "SNAPSHOTS",
                "--local",
                "--persist-to",
            ])
            .arg(&self.persist)
            .arg("--config")
            .arg(tools::root().join("wrangler.toml"))
            .arg(key)
            .arg("--path")
            .arg(&file)
            .current_dir(tools::root())
            .env("CLOUDFLARE_CF_FETCH_ENABLED", "false")
            .env("WRANGLER_SEND_METRICS", "false")
            .output()
            .unwrap_or_else(|e| panic!("wrangler kv key put: {e}"));
        assert!(
            out.status.success(),
            "wrangler kv key put {key} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `PUT /v1/admin/snapshot` with `secret`.
    pub fn push_snapshot_with(&self, body: &str, secret: &str) -> Resp {
        let auth = format!("Bearer {secret}");
        self.client.send(
            "PUT",
            &self.url("/v1/admin/snapshot"),
            &[
                ("authorization", &auth),
                ("content-type", "application/json"),
            ],
            Some(body.as_bytes()),
        )
    }

    pub fn push_snapshot(&self, body: &str) -> Resp {
        self.push_snapshot_with(body, ADMIN_SECRET)
    }

    pub fn get(&self, path_and_query: &str, headers: &[(&str, &str)]) -> Resp {
        self.client.get(&self.url(path_and_query), headers)
    }

    pub fn post(&self, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
        self.client
            .send("POST", &self.url(path), headers, Some(body))
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // setsid made the child the leader of its own group: signal the whole group.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-TERM", "--", &group])
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.wait();
    }
}
