//! `GET /api/v1/stream`: server-sent events of what changes (`results`, `alert`, `status`),
//! from [`crate::hub`], which reads them from the database; a `ready` event first, a
//! keep-alive comment every [`KEEP_ALIVE`].

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use axum::Router;
use futures_util::stream::{self, Stream};
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

use crate::auth::{Caller, Viewer};
use crate::hub::{Change, Subscription};
use crate::state::AppState;

pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// How long `ready` waits for the first poll after subscribing (the database may be slow).
const READY_WAIT: Duration = Duration::from_secs(5);

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/stream", get(live))
}

fn event(c: &Change) -> Event {
    Event::default()
        .event(c.event)
        .id(c.id.to_string())
        .data(c.data.to_string())
}

async fn live(
    State(state): State<AppState>,
    _: Caller<Viewer>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let hub = state.hub.clone();
    let sub = hub.subscribe();
    let events = stream::unfold((sub, false), move |(mut sub, ready)| {
        let hub = hub.clone();
        async move {
            if !ready {
                let Subscription {
                    ready_at_poll,
                    done,
                    ..
                } = &mut sub;
                let at = *ready_at_poll;
                let _ = tokio::time::timeout(READY_WAIT, done.wait_for(|n| *n >= at)).await;
                let ready = Change {
                    id: hub.next_id(),
                    event: "ready",
                    data: json!({"at": crate::db::now_ms()}),
                };
                return Some((Ok(event(&ready)), (sub, true)));
            }
            let next = tokio::select! {
                _ = sub.closing.wait_for(|c| *c) => None,
                r = sub.changes.recv() => Some(r),
            };
            let out = match next? {
                Ok(c) => event(&c),
                Err(RecvError::Lagged(missed)) => Event::default()
                    .event("resync")
                    .data(json!({"missed": missed}).to_string()),
                Err(RecvError::Closed) => return None,
            };
            Some((Ok(out), (sub, true)))
        }
    });
    Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("keep-alive"))
}
