//! The dashboard's sign-in: an API token exchanged for a session cookie that works on every
//! `/api/v1` route with the token's role, changes only with the session's CSRF value; pages
//! redirect to sign-in without a live session; sign-out, revocation of the token and expiry
//! each end it.

use edgewise_control::api::session::SESSION_TTL_MS;
use edgewise_control::db::now_ms;
use edgewise_control::db::sessions;
use edgewise_control::db::tokens::Role;
use reqwest::{header, Method, StatusCode};
use serde_json::{json, Value};

use crate::common::{test_spec, TestApp};

struct Browser {
    client: reqwest::Client,
    base: String,
    cookie: Option<String>,
    csrf: Option<String>,
}

impl Browser {
    fn new(app: &TestApp) -> Browser {
        Browser {
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: app.base.clone(),
            cookie: None,
            csrf: None,
        }
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(c) = &self.cookie {
            req = req.header(header::COOKIE, format!("ew_session={c}"));
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        req.send().await.unwrap()
    }

    /// Sends with the session's CSRF value, as the dashboard does.
    async fn change(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let csrf = self.csrf.clone().unwrap_or_default();
        let r = self
            .send(method, path, body, &[("x-csrf-token", &csrf)])
            .await;
        (r.status(), r.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let r = self.send(Method::GET, path, None, &[]).await;
        (r.status(), r.json().await.unwrap_or(Value::Null))
    }

    /// Signs in with `token`; returns the Set-Cookie header.
    async fn sign_in(&mut self, token: &str, headers: &[(&str, &str)]) -> String {
        let r = self
            .send(
                Method::POST,
                "/api/v1/session",
                Some(&json!({ "token": token })),
                headers,
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        let set = r.headers()[header::SET_COOKIE].to_str().unwrap().to_owned();
        let b: Value = r.json().await.unwrap();
        let secret = set
            .strip_prefix("ew_session=")
            .and_then(|s| s.split(';').next())
            .unwrap();
        self.cookie = Some(secret.to_owned());
        self.csrf = Some(b["csrf"].as_str().unwrap().to_owned());
        set
    }
}

crate::both!(sign_in_to_sign_out, sign_in_to_sign_out);
async fn sign_in_to_sign_out(app: TestApp) {
    app.running_test("hero").await;
    let approver = app.token(Role::Approver).await;
    let mut b = Browser::new(&app);

    // A wrong token is refused; no cookie is set.
    let r = b
        .send(
            Method::POST,
            "/api/v1/session",
            Some(&json!({"token": "ew_nope"})),
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().get(header::SET_COOKIE).is_none());
    let (s, e) = b.get("/api/v1/session").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{e}");

    // Without a session a page redirects to sign-in, remembering where it was going.
    let r = b.send(Method::GET, "/tests/hero?tab=a", None, &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        r.headers()[header::LOCATION],
        "/signin?next=%2Ftests%2Fhero%3Ftab%3Da"
    );
    let r = b.send(Method::GET, "/signin", None, &[]).await;
    assert_eq!(r.status(), StatusCode::OK);

    let set = b.sign_in(&approver, &[]).await;
    for part in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(set.contains(part), "{part} missing from {set}");
    }
    assert!(!set.contains("Secure"), "plain HTTP: {set}");
    let (s, me) = b.get("/api/v1/session").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(me["role"], "approver");
    assert_eq!(me["csrf"].as_str(), b.csrf.as_deref());

    // The cookie reads like the token…
    let (s, tests) = b.get("/api/v1/tests").await;
    assert_eq!(s, StatusCode::OK, "{tests}");
    // …and changes only with the session's CSRF value.
    let spec = test_spec("banner");
    let r = b
        .send(Method::POST, "/api/v1/tests", Some(&spec), &[])
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["errors"][0]["field"], "X-CSRF-Token", "{e}");
    let r = b
        .send(
            Method::POST,
            "/api/v1/tests",
            Some(&spec),
            &[("x-csrf-token", "0123")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let (s, e) = b.change(Method::POST, "/api/v1/tests", Some(&spec)).await;
    assert_eq!(s, StatusCode::CREATED, "{e}");
    let (s, e) = b
        .change(Method::POST, "/api/v1/tests/banner/start", None)
        .await;
    assert_eq!(s, StatusCode::OK, "{e}");
    // The audit names the token the session was made from.
    let (_, audit) = app.get("/api/v1/audit?limit=5").await;
    let me_id = me["token_id"].as_str().unwrap();
    assert!(
        audit["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["actor"] == me_id && e["action"] == "test.start"),
        "{audit}"
    );

    // A page is the app, with its security headers.
    let r = b.send(Method::GET, "/tests/hero", None, &[]).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let csp = r.headers()[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(r.text().await.unwrap().contains("/ui/js/app.js"));

    // Sign-out needs the CSRF value too, then the cookie is dead.
    let r = b.send(Method::DELETE, "/api/v1/session", None, &[]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let csrf = b.csrf.clone().unwrap();
    let r = b
        .send(
            Method::DELETE,
            "/api/v1/session",
            None,
            &[("x-csrf-token", &csrf)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(r.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    let (s, _) = b.get("/api/v1/session").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = b.get("/api/v1/tests").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let r = b.send(Method::GET, "/", None, &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    app.shutdown().await;
}

crate::both!(roles_revocation_expiry, roles_revocation_expiry);
async fn roles_revocation_expiry(app: TestApp) {
    app.running_test("hero").await;
    // A viewer's session reads but cannot change, CSRF value or not.
    let viewer = app.token(Role::Viewer).await;
    let mut v = Browser::new(&app);
    v.sign_in(&viewer, &[("x-forwarded-proto", "https")])
        .await
        .contains("; Secure")
        .then_some(())
        .expect("Secure under HTTPS");
    let (s, _) = v.get("/api/v1/tests/hero/results").await;
    assert_eq!(s, StatusCode::OK);
    let (s, e) = v
        .change(Method::POST, "/api/v1/tests/hero/pause", None)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{e}");
    assert!(
        e["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("editor"),
        "{e}"
    );

    // Revoking the token ends its sessions at once.
    let (_, me) = v.get("/api/v1/session").await;
    let id = me["token_id"].as_str().unwrap().to_owned();
    let (s, e) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/tokens/{id}"),
            Some(&app.admin),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{e}");
    let (s, _) = v.get("/api/v1/session").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = v.get("/api/v1/tests").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // An expired session is no session.
    let editor = app.token(Role::Editor).await;
    let mut e = Browser::new(&app);
    e.sign_in(&editor, &[]).await;
    let (_, me) = e.get("/api/v1/session").await;
    let (secret, _) = sessions::create(
        &app.db,
        me["token_id"].as_str().unwrap(),
        Role::Editor,
        now_ms() - SESSION_TTL_MS - 1,
        SESSION_TTL_MS,
    )
    .await
    .unwrap();
    e.cookie = Some(secret);
    let (s, _) = e.get("/api/v1/session").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let r = e.send(Method::GET, "/alerts", None, &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    app.shutdown().await;
}

crate::both!(assets, assets);
async fn assets(app: TestApp) {
    let b = Browser::new(&app);
    let r = b.send(Method::GET, "/ui/js/app.js", None, &[]).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/javascript"));
    let etag = r.headers()[header::ETAG].to_str().unwrap().to_owned();
    let plain = r.bytes().await.unwrap();
    let r = b
        .send(
            Method::GET,
            "/ui/js/app.js",
            None,
            &[("accept-encoding", "gzip")],
        )
        .await;
    assert_eq!(r.headers()[header::CONTENT_ENCODING], "gzip");
    let gz = r.bytes().await.unwrap();
    let mut unzipped = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut unzipped).unwrap();
    assert_eq!(unzipped, plain);
    let r = b
        .send(
            Method::GET,
            "/ui/js/app.js",
            None,
            &[("if-none-match", &etag)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    let (s, _) = b.get("/ui/nope.js").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = b.get("/ui/../Cargo.toml").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    app.shutdown().await;
}
