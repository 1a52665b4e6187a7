//! The glue to the Workers runtime (wasm32 only): handlers, KV, the queue, `fetch`, clock, ids.
//!
//! Each request copies its headers into a [`RequestHead`], calls the pure modules and turns the
//! [`Reply`] into a runtime response. The isolate keeps its [`SnapshotCache`] and parsed
//! [`Config`] in thread-locals (an isolate runs one thread). Errors from the runtime never
//! reach a visitor as a 5xx on `/v1/assign`: without a snapshot the answer is still a 200.

use std::cell::RefCell;
use std::rc::Rc;

use edgewise_shared::beacon::Event;
use edgewise_shared::CompiledSnapshot;
use worker::wasm_bindgen::{self, prelude::wasm_bindgen, JsValue};
use worker::{
    console_error, console_log, console_warn, event, Context, Date, Env, Fetch, Headers,
    MessageBatch, MessageBuilder, MessageExt, Method, QueueContentType, QueueRetryOptionsBuilder,
    RawMessage, Request, RequestInit,
};

use crate::admin::{self, StoredMeta, META_KEY, SNAPSHOT_KEY};
use crate::cache::{Cached, SnapshotCache};
use crate::config::Config;
use crate::events::{self, BeaconContext};
use crate::forward::{self, IngestReply, Outcome};
use crate::http::{Reply, RequestHead};
use crate::render::RenderCache;
use crate::router::{route, Route};
use crate::stats::Stats;
use crate::{assign, cors};

/// KV namespace binding holding the snapshot.
const KV_BINDING: &str = "SNAPSHOTS";
/// Queue producer binding for beacons.
const QUEUE_BINDING: &str = "EVENTS";

#[wasm_bindgen]
extern "C" {
    /// `crypto.randomUUID()`: 122 random bits, nothing derived from the visitor.
    #[wasm_bindgen(js_namespace = crypto, js_name = randomUUID)]
    pub(crate) fn random_uuid() -> String;
}

thread_local! {
    static CACHE: RefCell<SnapshotCache> = RefCell::new(SnapshotCache::default());
    static CONFIG: RefCell<Option<Rc<Config>>> = const { RefCell::new(None) };
    pub(crate) static RENDER: RefCell<RenderCache> = RefCell::new(RenderCache::default());
    static STATS: RefCell<Stats> = RefCell::new(Stats::default());
}

/// Counts something in this isolate's [`Stats`].
fn count(f: impl FnOnce(&mut Stats)) {
    STATS.with(|s| {
        let mut s = s.borrow_mut();
        if s.since_ms == 0 {
            s.since_ms = now_ms();
        }
        f(&mut s);
    });
}

pub(crate) fn now_ms() -> i64 {
    i64::try_from(Date::now().as_millis()).unwrap_or(i64::MAX)
}

pub(crate) fn config(env: &Env) -> Rc<Config> {
    CONFIG.with(|c| {
        c.borrow_mut()
            .get_or_insert_with(|| {
                Rc::new(Config::from_vars(|name| {
                    env.var(name).ok().map(|v| v.to_string())
                }))
            })
            .clone()
    })
}

fn secret(env: &Env, name: &str) -> Option<String> {
    env.secret(name).ok().map(|s| s.to_string())
}

/// Answers one request of the worker's own routes (the entry point is `crate::entry`).
pub(crate) async fn handle(mut req: Request, env: &Env, ctx: &Context) -> Reply {
    let url = req.inner().url();
    let method = req.inner().method();
    let route = route(&method, crate::http::split_target(&url).0);
    // Each header read crosses into JS: read only what the route uses.
    let visitor_facing = matches!(route, Route::Assign | Route::Events | Route::Preflight);
    let h = |name: &str, wanted: bool| {
        if wanted {
            req.headers().get(name).ok().flatten()
        } else {
            None
        }
    };
    let (user_agent, cookie, referer, origin, sec_gpc, persona) = (
        h("user-agent", visitor_facing),
        h("cookie", visitor_facing),
        h("referer", route == Route::Assign),
        h("origin", visitor_facing),
        h("sec-gpc", route == Route::Assign),
        h("x-edgewise-persona", visitor_facing),
    );
    let (content_type, content_length, authorization) = (
        h("content-type", route == Route::Events),
        h("content-length", route == Route::Events),
        h(
            "authorization",
            matches!(route, Route::PutSnapshot | Route::Stats),
        ),
    );
    let country = if route == Route::Assign {
        req.cf().and_then(|cf| cf.country())
    } else {
        None
    };
    let head = RequestHead {
        method: &method,
        url: &url,
        user_agent: user_agent.as_deref(),
        cookie: cookie.as_deref(),
        referer: referer.as_deref(),
        origin: origin.as_deref(),
        sec_gpc: sec_gpc.as_deref(),
        persona: persona.as_deref(),
        content_type: content_type.as_deref(),
        content_length: content_length.as_deref(),
        authorization: authorization.as_deref(),
        country: country.as_deref(),
    };
    let cfg = config(env);
    let now = now_ms();
    match route {
        Route::Assign => {
            let snapshot = snapshot(env, &cfg, now).await;
            count(|s| {
                s.assign_requests += 1;
                s.fallbacks += u64::from(snapshot.is_none());
            });
            let out = RENDER.with(|c| {
                let mut cache = c.borrow_mut();
                assign::assign(
                    snapshot.as_deref(),
                    &head,
                    &cfg,
                    now,
                    &mut random_uuid,
                    &mut cache,
                )
            });
            if !out.exposures.is_empty() {
                enqueue_in_background(env, ctx, out.exposures);
            }
            out.reply
        }
        Route::Events => {
            let snapshot = snapshot(env, &cfg, now).await;
            let mut reply =
                match beacons(&mut req, env, &head, &cfg, snapshot.as_deref(), now).await {
                    Ok(r) | Err(r) => r,
                };
            reply
                .headers
                .extend(cors::allow_headers(snapshot.as_deref(), head.origin));
            reply
        }
        Route::PutSnapshot => put_snapshot(&mut req, env, &head, now).await,
        Route::Stats => {
            let secret = secret(env, "EDGE_ADMIN_SECRET");
            if !admin::authorized(head.authorization, secret.as_deref()) {
                return admin::unauthorized();
            }
            count(|_| {});
            let version = CACHE.with(|c| c.borrow().version());
            STATS.with(|s| s.borrow().reply(version))
        }
        Route::Health => {
            snapshot(env, &cfg, now).await;
            CACHE.with(|c| c.borrow().health(now))
        }
        Route::Sdk => Reply::sdk(),
        Route::Preflight => {
            let snapshot = snapshot(env, &cfg, now).await;
            cors::preflight(snapshot.as_deref(), &head)
        }
        Route::MethodNotAllowed => Reply::error(405, "method_not_allowed", "method not allowed"),
        Route::NotFound => Reply::error(404, "not_found", "no such route"),
    }
}

/// The isolate's snapshot, refreshed from KV when its TTL has passed.
pub(crate) async fn snapshot(env: &Env, cfg: &Config, now: i64) -> Option<Rc<CompiledSnapshot>> {
    let (due, have) = CACHE.with(|c| {
        let c = c.borrow();
        (
            c.needs_check(now, cfg.snapshot_ttl_ms),
            c.current().is_some(),
        )
    });
    if due {
        if have {
            // Others keep serving the current snapshot while this request refreshes it.
            CACHE.with(|c| c.borrow_mut().start_check(now));
        }
        let ok = refresh(env).await;
        CACHE.with(|c| c.borrow_mut().mark_checked(now, ok));
    }
    CACHE.with(|c| c.borrow().current().map(|c| c.snapshot.clone()))
}

/// Loads a newer snapshot from KV, if there is one; false when KV or the snapshot failed.
async fn refresh(env: &Env) -> bool {
    let Ok(kv) = env.kv(KV_BINDING) else {
        console_error!("edgewise: KV binding {KV_BINDING} missing");
        return false;
    };
    let meta = match kv.get(META_KEY).json::<StoredMeta>().await {
        Ok(Some(m)) => m,
        Ok(None) => return true,
        Err(e) => {
            console_error!("edgewise: reading {META_KEY}: {e}");
            return false;
        }
    };
    if CACHE
        .with(|c| c.borrow().version())
        .is_some_and(|v| v >= meta.version)
    {
        return true;
    }
    let text = match kv.get(SNAPSHOT_KEY).text().await {
        Ok(Some(t)) => t,
        Ok(None) => return false,
        Err(e) => {
            console_error!("edgewise: reading {SNAPSHOT_KEY}: {e}");
            return false;
        }
    };
    match CompiledSnapshot::from_json(&text) {
        Ok((snapshot, _)) => {
            CACHE.with(|c| {
                c.borrow_mut().offer(Cached {
                    snapshot: Rc::new(snapshot),
                    stored_at_ms: meta.stored_at_ms,
                })
            });
            true
        }
        Err(e) => {
            console_error!(
                "edgewise: stored snapshot does not compile, keeping the last good: {e}"
            );
            false
        }
    }
}

async fn put_snapshot(req: &mut Request, env: &Env, head: &RequestHead<'_>, now: i64) -> Reply {
    let secret = secret(env, "EDGE_ADMIN_SECRET");
    if !admin::authorized(head.authorization, secret.as_deref()) {
        return admin::unauthorized();
    }
    let Ok(body) = req.text().await else {
        return Reply::error(400, "unreadable_body", "the body is not UTF-8 text");
    };
    let Ok(kv) = env.kv(KV_BINDING) else {
        return Reply::error(503, "kv_unavailable", "KV binding missing");
    };
    let stored = match kv.get(META_KEY).json::<StoredMeta>().await {
        Ok(m) => m.map(|m| m.version),
        Err(e) => {
            console_error!("edgewise: reading {META_KEY}: {e}");
            return Reply::error(503, "kv_unavailable", "cannot read the stored version");
        }
    };
    let cached = CACHE.with(|c| c.borrow().version());
    let current = stored.max(cached);
    let (snapshot, warnings) = match admin::check_snapshot(&body, current) {
        Ok(s) => s,
        Err(reply) => return reply,
    };
    let meta = StoredMeta {
        version: snapshot.version(),
        stored_at_ms: now,
    };
    let meta_json = serde_json::to_string(&meta).unwrap_or_default();
    let write = async {
        kv.put(SNAPSHOT_KEY, body.as_str())?.execute().await?;
        kv.put(META_KEY, meta_json.as_str())?.execute().await
    };
    if let Err(e) = write.await {
        console_error!("edgewise: writing the snapshot to KV: {e}");
        return Reply::error(503, "kv_unavailable", "cannot store the snapshot");
    }
    let version = snapshot.version();
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        c.offer(Cached {
            snapshot: Rc::new(snapshot),
            stored_at_ms: now,
        });
        c.mark_checked(now, true);
    });
    console_log!("edgewise: snapshot {version} stored");
    admin::stored(version, &warnings)
}

async fn beacons(
    req: &mut Request,
    env: &Env,
    head: &RequestHead<'_>,
    cfg: &Config,
    snapshot: Option<&CompiledSnapshot>,
    now: i64,
) -> Result<Reply, Reply> {
    events::check_head(head)?;
    let body = req
        .bytes()
        .await
        .map_err(|_| Reply::error(400, "unreadable_body", "cannot read the body"))?;
    let ctx = BeaconContext::from_request(head, cfg, snapshot.map(CompiledSnapshot::version), now);
    let parsed = events::parse_beacons(&body, &ctx)?;
    send_to_queue(env, &parsed).await.map_err(|e| {
        count(|s| s.queue_failures += 1);
        console_error!("edgewise: queueing beacons: {e}");
        Reply::error(
            503,
            "queue_unavailable",
            "beacons cannot be buffered right now",
        )
    })?;
    count(|s| s.beacons_queued += parsed.len() as u64);
    Ok(events::accepted(parsed.len()))
}

async fn send_to_queue(env: &Env, events: &[Event]) -> worker::Result<()> {
    let queue = env.queue(QUEUE_BINDING)?;
    for chunk in events::queue_chunks(events) {
        queue
            .send(
                MessageBuilder::new(chunk)
                    .content_type(QueueContentType::Text)
                    .build(),
            )
            .await?;
    }
    Ok(())
}

/// Exposure events from `/v1/assign?expose=1`, queued after the answer has gone out.
pub(crate) fn enqueue_in_background(env: &Env, ctx: &Context, exposures: Vec<Event>) {
    let env = env.clone();
    ctx.wait_until(async move {
        if let Err(e) = send_to_queue(&env, &exposures).await {
            console_error!("edgewise: queueing exposures: {e}");
        }
    });
}

#[event(queue)]
async fn consume(batch: MessageBatch<String>, env: Env, _ctx: Context) -> worker::Result<()> {
    let cfg = config(&env);
    // Raw bodies: a message that is not our text (say, sent by hand) must not fail the batch.
    let messages: Vec<RawMessage> = batch.raw_iter().collect();
    let bodies: Vec<String> = messages
        .iter()
        .map(|m| m.body().as_string().unwrap_or_default())
        .collect();
    let (groups, unreadable) = forward::group_messages(&bodies);
    for i in unreadable {
        if let Some(m) = messages.get(i) {
            console_error!("edgewise: dropping unreadable queue message {}", m.id());
            m.ack();
        }
    }
    let key = secret(&env, "INGEST_KEY").unwrap_or_default();
    let now = now_ms();
    for group in groups {
        let outcome = post_events(&cfg, &key, &group.body).await;
        count(|s| match outcome {
            Outcome::Ack => s.forward_acked += 1,
            Outcome::Retry => s.forward_retried += 1,
            Outcome::Drop => s.forward_dropped += 1,
        });
        for m in group.messages.iter().filter_map(|&i| messages.get(i)) {
            match outcome {
                Outcome::Ack | Outcome::Drop => m.ack(),
                Outcome::Retry => {
                    let sent = i64::try_from(m.timestamp().as_millis()).unwrap_or(now);
                    let delay = forward::retry_delay_s(now - sent, &cfg);
                    m.retry_with_options(
                        &QueueRetryOptionsBuilder::new()
                            .with_delay_seconds(delay)
                            .build(),
                    );
                }
            }
        }
    }
    Ok(())
}

/// One ingestion POST; the outcome decides the fate of the messages it carried.
async fn post_events(cfg: &Config, key: &str, body: &str) -> Outcome {
    if cfg.control_url.is_empty() {
        console_error!("edgewise: CONTROL_URL is not set; beacons stay queued");
        return Outcome::Retry;
    }
    let url = format!("{}/v1/events", cfg.control_url);
    let headers = Headers::new();
    let _ = headers.set("content-type", "application/json");
    let _ = headers.set("authorization", &format!("Bearer {key}"));
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_body(Some(JsValue::from_str(body)));
    let request = match Request::new_with_init(&url, &init) {
        Ok(r) => r,
        Err(e) => {
            console_error!("edgewise: bad CONTROL_URL {url}: {e}");
            return Outcome::Retry;
        }
    };
    let mut response = match Fetch::Request(request).send().await {
        Ok(r) => r,
        Err(e) => {
            console_warn!("edgewise: control plane unreachable, will retry: {e}");
            return Outcome::Retry;
        }
    };
    let status = response.status_code();
    let outcome = forward::classify(status);
    match outcome {
        Outcome::Ack => {
            if let Ok(r) = response.json::<IngestReply>().await {
                for rej in &r.rejected {
                    console_warn!(
                        "edgewise: control plane rejected event {}: {}: {}",
                        rej.index,
                        rej.field,
                        rej.message
                    );
                }
            }
        }
        Outcome::Retry => console_warn!("edgewise: control plane answered {status}, will retry"),
        Outcome::Drop => {
            let text = response.text().await.unwrap_or_default();
            console_error!("edgewise: control plane refused a batch with {status}: {text}");
        }
    }
    outcome
}
