//! The hotline service: a small read-only web service for call-centre agents, on the tokio
//! runtime with axum; the page is rendered with Tera (autoescaped), with no script at all.
//!
//! - `GET /` — the sign-in form, or the lookup form once signed in;
//! - `POST /sign-in` (form `token`) sets a session cookie (HttpOnly, SameSite=Strict, and
//!   Secure unless the service listens on loopback); `POST /sign-out` ends the session;
//! - `GET /lookup?q=KEY` and `POST /check-name` (form `q`, `name`) — the page's answers;
//! - `GET /api/lookup/{key}` and `POST /api/check-name` (JSON `query`, `name`) — the same
//!   answers as JSON, with `Authorization: Bearer TOKEN`.
//!
//! Without a valid token or session every route but the sign-in form answers 401 and nothing
//! else. Every lookup and name check counts against the agent's rate limit (a keyed
//! `governor` limiter: so many per minute, against enumeration) and is appended to the audit
//! log before the answer leaves. Answers are computed by [`crate::report::answer`], the same
//! function `tsuchi lookup` prints, so the API and the command never disagree; the work runs
//! on tokio's blocking pool, reading the journals as they are, so a `send` running meanwhile
//! is seen as far as it has journaled.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::Result;
use axum::Router;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::{Deserialize, Serialize};

use super::agents;
use super::audit::{AuditEntry, AuditLog};
use crate::config::Config;
use crate::ingest::Encoding;
use crate::report::Answer;

/// What the service answers from.
pub struct ServeSettings {
    pub config: Config,
    pub recipients: PathBuf,
    pub encoding: Encoding,
    /// One, or the shards' state directories; agents and the audit log live in the first.
    pub state_dirs: Vec<PathBuf>,
    /// Lookups and name checks per agent per minute.
    pub per_minute: NonZeroU32,
    /// Mark the session cookie `Secure` (the service is reached over TLS, through a proxy).
    pub secure_cookie: bool,
}

struct App {
    settings: ServeSettings,
    audit: AuditLog,
    limiter: DefaultKeyedRateLimiter<String>,
    /// Session cookie value → agent name. In memory: a restart signs everybody out.
    sessions: Mutex<HashMap<String, Session>>,
    tera: tera::Tera,
}

const SESSION_COOKIE: &str = "tsuchi_hotline";
/// How long a sign-in lasts: a call-centre shift. Sessions live in the service's memory, so
/// restarting `tsuchi serve` also signs everyone out.
const SESSION_LIFETIME: std::time::Duration = std::time::Duration::from_secs(12 * 3600);

/// A signed-in browser: the agent, the hash of the token it signed in with, and when the
/// session ends.
struct Session {
    agent: String,
    token_sha256: String,
    until: std::time::Instant,
}

/// Serves the hotline on `listener` until `shutdown` completes.
pub async fn serve<L>(
    listener: L,
    settings: ServeSettings,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()>
where
    L: axum::serve::Listener<Addr = std::net::SocketAddr>,
{
    // A lookup never waits while the journal index takes in a running send's tail.
    crate::report::merge_in_background();
    let mut tera = tera::Tera::default();
    tera.add_raw_template("page.html", include_str!("page.html.tera"))?;
    let app = Arc::new(App {
        audit: AuditLog::open(&settings.state_dirs[0])?,
        limiter: RateLimiter::keyed(Quota::per_minute(settings.per_minute)),
        sessions: Mutex::new(HashMap::new()),
        tera,
        settings,
    });
    let router = Router::new()
        .route("/", get(home))
        .route("/sign-in", post(sign_in))
        .route("/sign-out", post(sign_out))
        .route("/lookup", get(page_lookup))
        .route("/check-name", post(page_check_name))
        .route("/api/lookup/{key}", get(api_lookup))
        .route("/api/check-name", post(api_check_name))
        .with_state(app);
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}

type Shared = State<Arc<App>>;

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))],
    )
        .into_response()
}

fn internal(e: &anyhow::Error) -> Response {
    // The error may name a file; it never carries a cell of the list (errors of this crate
    // do not), but the agent needs none of it: the operator reads the service's stderr.
    eprintln!("hotline: {e:#}");
    (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
}

/// The agent of a `Bearer` token.
fn bearer_agent(app: &App, headers: &HeaderMap) -> Result<Option<String>> {
    let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return Ok(None);
    };
    agents::agent_of_token(&app.settings.state_dirs[0], token.trim())
}

fn session_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == SESSION_COOKIE)
        .map(|(_, v)| v.to_string())
}

/// The agent of the session cookie, if the session is open and the agent still allowed.
fn session_agent(app: &App, headers: &HeaderMap) -> Result<Option<String>> {
    let Some(id) = session_id(headers) else {
        return Ok(None);
    };
    let session = {
        let mut sessions = app.sessions.lock().unwrap_or_else(|p| p.into_inner());
        let now = std::time::Instant::now();
        sessions.retain(|_, s| s.until > now);
        sessions
            .get(&id)
            .map(|s| (s.agent.clone(), s.token_sha256.clone()))
    };
    match session {
        Some((agent, token))
            if agents::still_allowed(&app.settings.state_dirs[0], &agent, &token)? =>
        {
            Ok(Some(agent))
        }
        _ => Ok(None),
    }
}

#[derive(Serialize, Default)]
struct PageData {
    campaign: String,
    agent: Option<String>,
    refused: bool,
    limited: bool,
    query: String,
    answer: Option<Answer>,
    name_check: Option<&'static str>,
}

fn page(app: &App, status: StatusCode, mut data: PageData) -> Response {
    data.campaign = app.settings.config.campaign.id.clone();
    let ctx = match tera::Context::from_serialize(&data) {
        Ok(c) => c,
        Err(e) => return internal(&e.into()),
    };
    match app.tera.render("page.html", &ctx) {
        Ok(html) => (
            status,
            [
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
                (
                    header::CONTENT_SECURITY_POLICY,
                    HeaderValue::from_static(
                        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
                    ),
                ),
            ],
            Html(html),
        )
            .into_response(),
        Err(e) => internal(&e.into()),
    }
}

async fn home(State(app): Shared, headers: HeaderMap) -> Response {
    match session_agent(&app, &headers) {
        Ok(agent) => page(
            &app,
            StatusCode::OK,
            PageData {
                agent,
                ..Default::default()
            },
        ),
        Err(e) => internal(&e),
    }
}

#[derive(Deserialize)]
struct SignIn {
    token: String,
}

async fn sign_in(State(app): Shared, axum::Form(form): axum::Form<SignIn>) -> Response {
    let agent = match agents::sign_in(&app.settings.state_dirs[0], form.token.trim()) {
        Ok(a) => a,
        Err(e) => return internal(&e),
    };
    let Some((agent, token_sha256)) = agent else {
        return page(
            &app,
            StatusCode::UNAUTHORIZED,
            PageData {
                refused: true,
                ..Default::default()
            },
        );
    };
    let id = hex::encode(rand::random::<[u8; 32]>());
    app.sessions
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(
            id.clone(),
            Session {
                agent,
                token_sha256,
                until: std::time::Instant::now() + SESSION_LIFETIME,
            },
        );
    let secure = if app.settings.secure_cookie {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{SESSION_COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        SESSION_LIFETIME.as_secs()
    );
    let mut response = Redirect::to("/").into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
}

async fn sign_out(State(app): Shared, headers: HeaderMap) -> Response {
    if let Some(id) = session_id(&headers) {
        app.sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
    }
    let mut response = Redirect::to("/").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("tsuchi_hotline=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    response
}

/// What one lookup or name check came to.
enum Outcome {
    Limited,
    Answer(Box<Answer>, Option<&'static str>),
}

/// Looks `key` up for `agent` (and checks `name` against the list when given): rate limit,
/// answer, audit — in that order, on the blocking pool.
async fn ask(app: &Arc<App>, agent: &str, key: &str, name: Option<String>) -> Result<Outcome> {
    let app = app.clone();
    let agent = agent.to_string();
    let key = key.to_string();
    tokio::task::spawn_blocking(move || -> Result<Outcome> {
        let action = if name.is_some() {
            "name_check"
        } else {
            "lookup"
        };
        let log = |answer: &str, state: Option<&str>| {
            app.audit.append(&AuditEntry {
                at: crate::util::time::now_rfc3339(),
                agent: &agent,
                action,
                query: &key,
                answer,
                state,
            })
        };
        if app.limiter.check_key(&agent).is_err() {
            log("rate_limited", None)?;
            return Ok(Outcome::Limited);
        }
        let s = &app.settings;
        let answer =
            crate::report::answer(&s.config, &s.recipients, s.encoding, &s.state_dirs, &key)?;
        let check = match (&name, answer.row) {
            (Some(given), Some(row)) => Some(
                match crate::report::name_matches(
                    &s.config,
                    &s.recipients,
                    s.encoding,
                    &s.state_dirs,
                    row,
                    given,
                )? {
                    Some(true) => "matches",
                    Some(false) => "does_not_match",
                    None => "unknown",
                },
            ),
            (Some(_), None) => Some("unknown"),
            _ => None,
        };
        log(check.unwrap_or(answer.answer), answer.state)?;
        Ok(Outcome::Answer(Box::new(answer), check))
    })
    .await?
}

#[derive(Deserialize)]
struct LookupQuery {
    #[serde(default)]
    q: String,
}

async fn page_lookup(
    State(app): Shared,
    headers: HeaderMap,
    Query(q): Query<LookupQuery>,
) -> Response {
    page_answer(app, headers, q.q, None).await
}

#[derive(Deserialize)]
struct NameForm {
    q: String,
    name: String,
}

async fn page_check_name(
    State(app): Shared,
    headers: HeaderMap,
    axum::Form(f): axum::Form<NameForm>,
) -> Response {
    page_answer(app, headers, f.q, Some(f.name)).await
}

async fn page_answer(
    app: Arc<App>,
    headers: HeaderMap,
    key: String,
    name: Option<String>,
) -> Response {
    let agent = match session_agent(&app, &headers) {
        Ok(Some(a)) => a,
        Ok(None) => return page(&app, StatusCode::UNAUTHORIZED, PageData::default()),
        Err(e) => return internal(&e),
    };
    let key = key.trim().to_string();
    if key.is_empty() {
        return page(
            &app,
            StatusCode::OK,
            PageData {
                agent: Some(agent),
                ..Default::default()
            },
        );
    }
    match ask(&app, &agent, &key, name).await {
        Ok(Outcome::Limited) => page(
            &app,
            StatusCode::TOO_MANY_REQUESTS,
            PageData {
                agent: Some(agent),
                limited: true,
                query: key,
                ..Default::default()
            },
        ),
        Ok(Outcome::Answer(answer, check)) => page(
            &app,
            StatusCode::OK,
            PageData {
                agent: Some(agent),
                query: key,
                answer: Some(*answer),
                name_check: check,
                ..Default::default()
            },
        ),
        Err(e) => internal(&e),
    }
}

fn too_many() -> Response {
    (
        StatusCode::TOO_MANY_REQUESTS,
        [(header::RETRY_AFTER, HeaderValue::from_static("60"))],
        axum::Json(serde_json::json!({"error": "rate limited"})),
    )
        .into_response()
}

async fn api_lookup(
    State(app): Shared,
    headers: HeaderMap,
    UrlPath(key): UrlPath<String>,
) -> Response {
    let agent = match bearer_agent(&app, &headers) {
        Ok(Some(a)) => a,
        Ok(None) => return unauthorized(),
        Err(e) => return internal(&e),
    };
    match ask(&app, &agent, key.trim(), None).await {
        Ok(Outcome::Limited) => too_many(),
        Ok(Outcome::Answer(answer, _)) => axum::Json(*answer).into_response(),
        Err(e) => internal(&e),
    }
}

#[derive(Deserialize)]
struct NameCheck {
    query: String,
    name: String,
}

async fn api_check_name(
    State(app): Shared,
    headers: HeaderMap,
    body: axum::Json<NameCheck>,
) -> Response {
    let agent = match bearer_agent(&app, &headers) {
        Ok(Some(a)) => a,
        Ok(None) => return unauthorized(),
        Err(e) => return internal(&e),
    };
    let NameCheck { query, name } = body.0;
    match ask(&app, &agent, query.trim(), Some(name)).await {
        Ok(Outcome::Limited) => too_many(),
        Ok(Outcome::Answer(answer, check)) => axum::Json(serde_json::json!({
            "query": answer.query,
            "answer": answer.answer,
            "name_check": check,
        }))
        .into_response(),
        Err(e) => internal(&e),
    }
}
