//! `GET /v1/assign` on the built worker (workerd via `wrangler dev`): parity with
//! `edgewise assign`, the identity cookie, consent, bots, CORS, and life without a snapshot.

use std::collections::BTreeMap;
use std::process::Command;

use edgewise_tests::gen::{self, Rng, VisitorCase, NOW_MS, NOW_RFC3339};
use edgewise_tests::http::{encode, Resp};
use edgewise_tests::tools::{self, TempDir};
use edgewise_tests::worker::Worker;
use serde_json::{json, Value};

const DESKTOP: &str = gen::USER_AGENTS[0];
const GOOGLEBOT: &str = gen::USER_AGENTS[7];

fn example_snapshot() -> String {
    std::fs::read_to_string(tools::root().join("docs/example-snapshot.json"))
        .unwrap_or_else(|e| panic!("docs/example-snapshot.json: {e}"))
}

fn set_cookie(r: &Resp) -> Option<&str> {
    r.header("set-cookie")
}

/// The fields `edgewise assign` prints, taken from the worker's answer.
fn engine_part(edge: &Value) -> Value {
    json!({
        "unit_id": edge["unit_id"],
        "snapshot_version": edge["snapshot_version"],
        "device": edge["device"],
        "persona": edge["persona"],
        "decisions": edge["decisions"],
    })
}

fn edge_request(worker: &Worker, v: &VisitorCase) -> Value {
    let mut q = format!(
        "/v1/assign?now={NOW_MS}&country={}&url={}",
        v.country,
        encode(&v.url)
    );
    if let Some(p) = v.persona {
        q.push_str(&format!("&persona={p}"));
    }
    if let Some(r) = v.referrer {
        q.push_str(&format!("&ref={}", encode(r)));
    }
    if let Some(h) = v.local_hour {
        q.push_str(&format!("&local_hour={h}"));
    }
    if let Some(n) = v.company_size {
        q.push_str(&format!("&attr.company_size={n}"));
    }
    let cookie = format!("edgewise_uid={}", v.unit);
    let mut headers = vec![("user-agent", v.user_agent)];
    if v.via_cookie {
        headers.push(("cookie", &cookie));
    } else {
        q.push_str(&format!("&unit={}", v.unit));
    }
    let r = worker.get(&q, &headers);
    assert_eq!(r.status, 200, "{q}: {}", r.body);
    let body = r.json();
    let source = if v.via_cookie { "cookie" } else { "site" };
    assert_eq!(body["unit_source"], source, "{q}");
    assert!(
        set_cookie(&r).is_none(),
        "an existing id sets no cookie: {q}"
    );
    body
}

fn cli_assign(snapshot: &std::path::Path, v: &VisitorCase) -> Value {
    let mut cmd = Command::new(tools::edgewise_cli());
    cmd.arg("assign")
        .arg("--snapshot")
        .arg(snapshot)
        .args(["--unit", &v.unit, "--user-agent", v.user_agent])
        .args([
            "--country",
            v.country,
            "--url",
            &v.url,
            "--now",
            NOW_RFC3339,
        ]);
    if let Some(p) = v.persona {
        cmd.args(["--persona", p]);
    }
    if let Some(r) = v.referrer {
        cmd.args(["--referrer", r]);
    }
    if let Some(h) = v.local_hour {
        cmd.args(["--local-hour", &h.to_string()]);
    }
    if let Some(n) = v.company_size {
        cmd.args(["--attr", &format!("company_size={n}")]);
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("edgewise assign: {e}"));
    assert!(
        out.status.success(),
        "edgewise assign failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("CLI output not JSON: {e}"))
}

#[test]
fn decisions_match_the_cli_for_1000_random_visitors() {
    let worker = Worker::start(&[]);
    let snapshot = gen::snapshot(1, 100, 42).to_string();
    let dir = TempDir::new("edgewise-parity");
    let file = dir.path().join("snapshot.json");
    std::fs::write(&file, &snapshot).unwrap_or_else(|e| panic!("write snapshot: {e}"));
    let r = worker.push_snapshot(&snapshot);
    assert_eq!(r.status, 200, "{}", r.body);

    let mut rng = Rng::new(7);
    let visitors: Vec<VisitorCase> = (0..1000).map(|_| VisitorCase::random(&mut rng)).collect();
    let reasons: BTreeMap<String, usize> = std::thread::scope(|s| {
        let handles: Vec<_> = visitors
            .chunks(500)
            .map(|chunk| {
                let (worker, file) = (&worker, &file);
                s.spawn(move || {
                    let mut reasons = BTreeMap::new();
                    for v in chunk {
                        let edge = edge_request(worker, v);
                        let cli = cli_assign(file, v);
                        assert_eq!(engine_part(&edge), cli, "visitor {v:?}");
                        for d in cli["decisions"].as_array().into_iter().flatten() {
                            let reason = d["reason"].as_str().unwrap_or("?").to_owned();
                            *reasons.entry(reason).or_insert(0) += 1;
                        }
                    }
                    reasons
                })
            })
            .collect();
        let mut all = BTreeMap::new();
        for h in handles {
            for (k, n) in h
                .join()
                .unwrap_or_else(|_| panic!("parity thread panicked"))
            {
                *all.entry(k).or_insert(0) += n;
            }
        }
        all
    });
    // The visitors must exercise the engine, not just one branch of it.
    eprintln!("parity: reasons over 100,000 decisions: {reasons:?}");
    for reason in [
        "assigned",
        "bot",
        "not_targeted",
        "in_holdout",
        "excluded_by_layer",
        "outside_coverage",
        "not_started",
        "ended",
    ] {
        assert!(
            reasons.get(reason).copied().unwrap_or(0) > 0,
            "no decision with reason {reason}: {reasons:?}"
        );
    }
    assert_eq!(reasons.values().sum::<usize>(), 100_000);
}

#[test]
fn cookie_is_minted_once_then_reused_and_consent_is_respected() {
    let worker = Worker::start(&[]);
    assert_eq!(worker.push_snapshot(&example_snapshot()).status, 200);
    let ua = [("user-agent", DESKTOP)];

    let first = worker.get("/v1/assign", &ua);
    assert_eq!(first.status, 200);
    assert_eq!(first.header("cache-control"), Some("private, no-store"));
    let cookie = set_cookie(&first).unwrap_or_else(|| panic!("no Set-Cookie: {:?}", first.headers));
    let id = cookie
        .strip_prefix("edgewise_uid=")
        .and_then(|c| c.split(';').next())
        .unwrap_or_else(|| panic!("unexpected cookie {cookie}"));
    assert!(id.len() >= 32, "minted id too short: {id}");
    for attr in [
        "HttpOnly",
        "Secure",
        "SameSite=Lax",
        "Path=/",
        "Max-Age=31536000",
    ] {
        assert!(cookie.contains(attr), "{cookie} lacks {attr}");
    }
    let body = first.json();
    assert_eq!(body["unit_id"], id);
    assert_eq!(body["unit_source"], "minted");
    assert_eq!(body["cookie_set"], true);
    assert_eq!(body["consent"], true);

    let jar = format!("other=1; edgewise_uid={id}");
    let again = worker.get("/v1/assign", &[ua[0], ("cookie", &jar)]);
    assert!(
        set_cookie(&again).is_none(),
        "cookie re-set: {:?}",
        again.headers
    );
    let again = again.json();
    assert_eq!(again["unit_id"], id);
    assert_eq!(again["unit_source"], "cookie");
    assert_eq!(again["decisions"], body["decisions"]);

    // Each no-consent signal alone: no cookie, a one-off id, consent false.
    let signals: [(&str, Vec<(&str, &str)>); 3] = [
        ("/v1/assign?consent=0", vec![ua[0]]),
        ("/v1/assign", vec![ua[0], ("sec-gpc", "1")]),
        ("/v1/assign", vec![ua[0], ("cookie", "edgewise_consent=0")]),
    ];
    for (path, headers) in &signals {
        let r = worker.get(path, headers);
        assert_eq!(r.status, 200);
        assert!(
            set_cookie(&r).is_none(),
            "{path} {headers:?} set {:?}",
            set_cookie(&r)
        );
        let b = r.json();
        assert_eq!(b["consent"], false, "{path} {headers:?}");
        assert_eq!(b["unit_source"], "ephemeral");
        assert_eq!(b["cookie_set"], false);
    }
    // Withdrawn consent: the stored id is not used and its cookie is expired.
    let r = worker.get("/v1/assign", &[ua[0], ("cookie", &jar), ("sec-gpc", "1")]);
    let expired = set_cookie(&r).unwrap_or_else(|| panic!("id cookie not expired"));
    assert!(
        expired.starts_with("edgewise_uid=;") && expired.contains("Max-Age=0"),
        "{expired}"
    );
    assert_ne!(r.json()["unit_id"], id);
    // A site id works without consent too, and still sets nothing.
    let r = worker.get("/v1/assign?consent=0&unit=site-user-1", &ua);
    assert!(set_cookie(&r).is_none());
    assert_eq!(r.json()["unit_id"], "site-user-1");
}

#[test]
fn bots_get_the_control_and_are_never_counted() {
    let worker = Worker::start(&[]);
    let snapshot = example_snapshot();
    assert_eq!(worker.push_snapshot(&snapshot).status, 200);
    let wire: Value = serde_json::from_str(&snapshot).unwrap_or_default();
    for ua in [GOOGLEBOT, gen::USER_AGENTS[8], gen::USER_AGENTS[9]] {
        for unit in ["u1", "u2", "u3", "u4", "u5"] {
            let r = worker.get(
                &format!("/v1/assign?unit={unit}&now={NOW_MS}&expose=1"),
                &[("user-agent", ua)],
            );
            assert_eq!(r.status, 200);
            let b = r.json();
            assert_eq!(b["device"], "bot", "{ua}");
            assert_eq!(b["exposures_logged"], 0);
            let decisions = b["decisions"].as_array().cloned().unwrap_or_default();
            assert_eq!(decisions.len(), 4);
            for (d, t) in decisions
                .iter()
                .zip(wire["tests"].as_array().into_iter().flatten())
            {
                assert!(d["variant"].is_null(), "{ua}: {d}");
                assert_eq!(d["counted"], false);
                assert_eq!(d["content"], t["variants"][0]["content"], "control content");
                let reason = d["reason"].as_str().unwrap_or_default();
                assert!(reason == "bot" || reason == "paused", "{ua}: {d}");
            }
        }
    }
}

#[test]
fn without_a_snapshot_assign_still_answers_200() {
    let worker = Worker::start(&[]);
    for (path, headers) in [
        ("/v1/assign", vec![("user-agent", DESKTOP)]),
        (
            "/v1/assign?expose=1&persona=x&force.t=v",
            vec![("user-agent", GOOGLEBOT)],
        ),
        (
            "/v1/assign?unit=abc",
            vec![("cookie", "edgewise_uid=%%%; junk")],
        ),
    ] {
        let r = worker.get(path, &headers);
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        let b = r.json();
        assert_eq!(b["snapshot_loaded"], false);
        assert!(b["snapshot_version"].is_null());
        assert_eq!(b["decisions"], json!([]));
    }
    let health = worker.get("/v1/health", &[]).json();
    assert_eq!(health["status"], "no_snapshot");
    assert!(health["snapshot_version"].is_null());
}

#[test]
fn cors_is_limited_to_the_snapshots_origins() {
    let worker = Worker::start(&[]);
    assert_eq!(worker.push_snapshot(&example_snapshot()).status, 200);
    let pre = |origin: &str| {
        worker.client.send(
            "OPTIONS",
            &worker.url("/v1/events"),
            &[
                ("origin", origin),
                ("access-control-request-method", "POST"),
            ],
            None,
        )
    };
    let ok = pre("https://shop.example");
    assert_eq!(ok.status, 204);
    assert_eq!(
        ok.header("access-control-allow-origin"),
        Some("https://shop.example")
    );
    assert_eq!(ok.header("access-control-allow-credentials"), Some("true"));
    assert!(ok
        .header("access-control-allow-methods")
        .is_some_and(|m| m.contains("POST")));
    let evil = pre("https://evil.example");
    assert_eq!(evil.status, 204);
    assert!(evil.header("access-control-allow-origin").is_none());

    let r = worker.get(
        "/v1/assign",
        &[("origin", "http://localhost:8080"), ("user-agent", DESKTOP)],
    );
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("http://localhost:8080")
    );
    let r = worker.get(
        "/v1/assign",
        &[("origin", "https://evil.example"), ("user-agent", DESKTOP)],
    );
    assert_eq!(r.status, 200);
    assert!(r.header("access-control-allow-origin").is_none());
}

fn cookies<'r>(r: &'r Resp, name: &str) -> Vec<&'r str> {
    r.headers
        .iter()
        .filter(|(k, v)| k.eq_ignore_ascii_case("set-cookie") && v.starts_with(&format!("{name}=")))
        .map(|(_, v)| v.as_str())
        .collect()
}

/// The cookie's `name=value` part, to send back.
fn jar_entry(set_cookie: &str) -> &str {
    set_cookie.split(';').next().unwrap()
}

fn sticky_snapshot(version: u64, weights: [f64; 3]) -> String {
    json!({
        "schema_version": 1, "snapshot_version": version, "hash_version": 1,
        "tests": [{
            "key": "bandit", "status": "running", "sticky": true,
            "variants": [
                {"key": "a", "weight": weights[0], "content": {"arm": "a"}},
                {"key": "b", "weight": weights[1], "content": {"arm": "b"}},
                {"key": "c", "weight": weights[2], "content": {"arm": "c"}}
            ]
        }]
    })
    .to_string()
}

#[test]
fn bandit_visitors_keep_their_variant_when_weights_change() {
    let worker = Worker::start(&[]);
    assert_eq!(
        worker
            .push_snapshot(&sticky_snapshot(1, [1.0, 1.0, 1.0]))
            .status,
        200
    );
    let ua = ("user-agent", DESKTOP);

    // 300 visitors arrive under equal weights; each gets an id cookie and an arms cookie.
    let mut first = Vec::new();
    for _ in 0..300 {
        let r = worker.get("/v1/assign", &[ua]);
        let id = cookies(&r, "edgewise_uid");
        let arms = cookies(&r, "edgewise_arms");
        assert_eq!((id.len(), arms.len()), (1, 1), "{:?}", r.headers);
        for attr in [
            "HttpOnly",
            "Secure",
            "SameSite=Lax",
            "Path=/",
            "Max-Age=31536000",
        ] {
            assert!(arms[0].contains(attr), "{} lacks {attr}", arms[0]);
        }
        let d = r.json()["decisions"][0].clone();
        assert_eq!(d["snapshot_version"], 1);
        assert!(
            (d["propensity"].as_f64().unwrap() - 1.0 / 3.0).abs() < 1e-3,
            "{d}"
        );
        let jar = format!("{}; {}", jar_entry(id[0]), jar_entry(arms[0]));
        first.push((jar, jar_entry(id[0]).to_owned(), d["variant"].clone()));
    }

    // The bandit moves traffic: 10%, 10%, 80%.
    assert_eq!(
        worker
            .push_snapshot(&sticky_snapshot(2, [0.1, 0.1, 0.8]))
            .status,
        200
    );
    let mut would_move = 0;
    for (jar, id_only, variant) in &first {
        let r = worker.get("/v1/assign", &[ua, ("cookie", jar)]);
        let d = r.json()["decisions"][0].clone();
        assert_eq!(
            &d["variant"], variant,
            "a returning visitor changed variant"
        );
        assert_eq!(d["snapshot_version"], 1, "{d}");
        assert!(
            cookies(&r, "edgewise_arms").is_empty(),
            "re-set: {:?}",
            r.headers
        );
        // The same visitor without the arms cookie is bucketed by the new weights.
        let bare = worker.get("/v1/assign", &[ua, ("cookie", id_only)]).json();
        if &bare["decisions"][0]["variant"] != variant {
            would_move += 1;
        }
    }
    assert!(would_move > 60, "only {would_move} of 300 would have moved");

    // New visitors follow the new weights (site ids, so the draw is fixed): χ² at 2 df.
    let mut counts = [0u32; 3];
    for i in 0..3_000 {
        let r = worker.get(&format!("/v1/assign?unit=newcomer-{i}"), &[ua]);
        let d = r.json()["decisions"][0].clone();
        let k = ["a", "b", "c"]
            .iter()
            .position(|v| d["variant"] == *v)
            .unwrap();
        counts[k] += 1;
        assert_eq!(d["snapshot_version"], 2);
        assert_eq!(d["propensity"].as_f64(), Some([0.1, 0.1, 0.8][k]));
        assert_eq!(cookies(&r, "edgewise_arms").len(), 1);
    }
    let chi2: f64 = counts
        .iter()
        .zip([0.1, 0.1, 0.8])
        .map(|(&o, p)| (f64::from(o) - 3_000.0 * p).powi(2) / (3_000.0 * p))
        .sum();
    assert!(chi2 < 13.8, "χ² {chi2} for {counts:?} (p < 0.001)");

    // Without consent: a valid variant, no cookie; a stored arms cookie is expired.
    let r = worker.get("/v1/assign?consent=0", &[ua]);
    assert!(set_cookie(&r).is_none(), "{:?}", r.headers);
    let d = r.json()["decisions"][0].clone();
    assert!(["a", "b", "c"].iter().any(|v| d["variant"] == *v), "{d}");
    let (jar, _, _) = &first[0];
    let r = worker.get("/v1/assign", &[ua, ("cookie", jar), ("sec-gpc", "1")]);
    let expired = cookies(&r, "edgewise_arms");
    assert!(
        expired.len() == 1 && expired[0].contains("Max-Age=0"),
        "{:?}",
        r.headers
    );
}
