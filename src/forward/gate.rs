//! The HTTP gate in front of a forward. Browsers sign in through a one-time link:
//! `/?raydar_token=L` is good once — it is exchanged for a session of its own (an HttpOnly,
//! SameSite=Strict cookie with a different random value) and a redirect to the clean URL, and
//! is void after that, so a link read later from scrollback, history or a shared screen opens
//! nothing. Each link is minted when it is printed or opened. Scripts send the forward's
//! header token, `X-Raydar-Token: T`, which no URL carries. The Host must be `127.0.0.1:PORT` or `localhost:PORT` (DNS rebinding is
//! how a web page in the user's own browser reaches a localhost dashboard: Ray's advisories
//! GHSA-q279-jhrf-cc6v and GHSA-q5fh-2hc8-f6rq in `assets/advisories`), and a non-GET with an
//! Origin must come from that same origin. raydar's
//! cookie and header never go upstream; the cluster's Ray token is added when there is one.
//! The token is compared in constant time and never logged.

use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, COOKIE, HOST, LOCATION, ORIGIN, SET_COOKIE};
use hyper::{Request, Response, StatusCode};

pub type Body = BoxBody<Bytes, hyper::Error>;

/// A fresh token: 32 random URL-safe characters.
pub fn new_token() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..32)
        .map(|_| {
            char::from(
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
                    [rng.random_range(0..62)],
            )
        })
        .collect()
}

pub fn page(code: StatusCode, title: &str, text: &str) -> Response<Body> {
    let html = format!("<!doctype html><html><head><title>raydar: {title}</title></head><body><h1>{title}</h1><p>{text}</p></body></html>");
    Response::builder()
        .status(code)
        .header("content-type", "text/html; charset=utf-8")
        .header("cache-control", "no-store")
        .body(Full::new(Bytes::from(html)).map_err(|never| match never {}).boxed())
        .unwrap_or_else(|_| {
            Response::new(Full::new(Bytes::new()).map_err(|never| match never {}).boxed())
        })
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// What the gate decided about a request.
pub enum Verdict {
    /// Answer locally (401, 403, or the cookie-setting redirect).
    Answer(Response<Body>),
    /// Pass upstream (already cleaned of raydar's credentials).
    Pass(Request<Incoming>),
}

pub struct Gate {
    /// The header token for scripts (`X-Raydar-Token`).
    pub token: String,
    pub port: u16,
    /// The cluster's Ray token, added upstream as `X-Ray-Authorization: Bearer …`.
    pub ray_token: Option<String>,
    /// One-time sign-in links not used yet.
    links: std::sync::Mutex<Vec<String>>,
    /// The browser sessions the links were exchanged for (cookie values).
    sessions: std::sync::Mutex<Vec<String>>,
}

/// Whether `list` holds `t` (compared in constant time against each), removing it if `take`.
fn holds(list: &std::sync::Mutex<Vec<String>>, t: &str, take: bool) -> bool {
    let mut l = list.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let hit = l.iter().fold(None, |found, x| {
        if constant_time_eq(x.as_bytes(), t.as_bytes()) {
            Some(x.clone())
        } else {
            found
        }
    });
    match hit {
        Some(x) if take => {
            l.retain(|y| *y != x);
            true
        }
        Some(_) => true,
        None => false,
    }
}

impl Gate {
    pub fn new(port: u16, ray_token: Option<String>) -> Self {
        Gate {
            token: new_token(),
            port,
            ray_token,
            links: Default::default(),
            sessions: Default::default(),
        }
    }

    /// A fresh one-time sign-in link's token (good for one browser sign-in).
    /// Voids every session and every unused link (the forward stopped): nothing signed in
    /// through this gate is honoured any more.
    pub fn revoke(&self) {
        for l in [&self.links, &self.sessions] {
            l.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clear();
        }
    }

    pub fn new_link(&self) -> String {
        let t = new_token();
        self.links.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(t.clone());
        t
    }

    pub fn cookie_name(&self) -> String {
        format!("raydar_{}", self.port)
    }

    fn host_ok(&self, req: &Request<Incoming>) -> bool {
        let host = req.headers().get(HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
        host == format!("127.0.0.1:{}", self.port) || host == format!("localhost:{}", self.port)
    }

    fn origin_ok(&self, req: &Request<Incoming>) -> bool {
        if matches!(*req.method(), hyper::Method::GET | hyper::Method::HEAD) {
            return true;
        }
        match req.headers().get(ORIGIN).and_then(|o| o.to_str().ok()) {
            None => true,
            Some(o) => {
                o == format!("http://127.0.0.1:{}", self.port)
                    || o == format!("http://localhost:{}", self.port)
            }
        }
    }

    /// Whether the request carries the header token or a session's cookie.
    fn signed_in(&self, req: &Request<Incoming>) -> bool {
        if let Some(h) = req.headers().get("x-raydar-token").and_then(|h| h.to_str().ok()) {
            return constant_time_eq(h.as_bytes(), self.token.as_bytes());
        }
        let name = self.cookie_name();
        req.headers()
            .get_all(COOKIE)
            .iter()
            .filter_map(|c| c.to_str().ok())
            .flat_map(|c| c.split(';'))
            .filter_map(|kv| {
                let (k, v) = kv.trim().split_once('=')?;
                (k == name).then_some(v)
            })
            .any(|v| holds(&self.sessions, v, false))
    }

    pub fn check(&self, mut req: Request<Incoming>) -> Verdict {
        if !self.host_ok(&req) {
            return Verdict::Answer(page(StatusCode::FORBIDDEN, "forbidden host", "raydar only answers to 127.0.0.1 and localhost on this port (DNS-rebinding protection)."));
        }
        if !self.origin_ok(&req) {
            return Verdict::Answer(page(
                StatusCode::FORBIDDEN,
                "forbidden origin",
                "a page from another origin may not send requests to this dashboard.",
            ));
        }
        // The one-time URL: set the cookie and redirect to the clean URL.
        let query = req.uri().query().unwrap_or("");
        if let Some(t) = url::form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == "raydar_token")
            .map(|(_, v)| v.into_owned())
        {
            if !holds(&self.links, &t, true) {
                return Verdict::Answer(page(
                    StatusCode::UNAUTHORIZED,
                    "sign in through raydar",
                    "this sign-in link was used already (each is good once) or is wrong: ask raydar for a new one (o in the TUI; Enter where raydar forward runs).",
                ));
            }
            let session = new_token();
            self.sessions
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(session.clone());
            let rest: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
                .filter(|(k, _)| k != "raydar_token")
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            let mut clean = req.uri().path().to_string();
            if !rest.is_empty() {
                clean.push('?');
                clean.push_str(
                    &url::form_urlencoded::Serializer::new(String::new())
                        .extend_pairs(rest)
                        .finish(),
                );
            }
            let cookie =
                format!("{}={session}; HttpOnly; SameSite=Strict; Path=/", self.cookie_name());
            let mut r = page(StatusCode::SEE_OTHER, "signed in", "redirecting…");
            if let (Ok(loc), Ok(c)) =
                (HeaderValue::from_str(&clean), HeaderValue::from_str(&cookie))
            {
                r.headers_mut().insert(LOCATION, loc);
                r.headers_mut().insert(SET_COOKIE, c);
            }
            return Verdict::Answer(r);
        }
        if !self.signed_in(&req) {
            return Verdict::Answer(page(StatusCode::UNAUTHORIZED, "sign in through raydar", "open the sign-in link raydar printed (good once), or send the X-Raydar-Token header."));
        }
        // Clean: raydar's credentials stay here.
        let name = self.cookie_name();
        let headers = req.headers_mut();
        headers.remove("x-raydar-token");
        let kept: Vec<String> = headers
            .get_all(COOKIE)
            .iter()
            .filter_map(|c| c.to_str().ok())
            .flat_map(|c| c.split(';'))
            .map(str::trim)
            .filter(|kv| !kv.is_empty() && kv.split_once('=').is_none_or(|(k, _)| k != name))
            .map(str::to_string)
            .collect();
        headers.remove(COOKIE);
        if !kept.is_empty() {
            if let Ok(v) = HeaderValue::from_str(&kept.join("; ")) {
                headers.insert(COOKIE, v);
            }
        }
        if let Some(rt) = &self.ray_token {
            if !headers.contains_key("x-ray-authorization") {
                if let Ok(v) = HeaderValue::from_str(&format!("Bearer {rt}")) {
                    headers.insert("x-ray-authorization", v);
                }
            }
        }
        Verdict::Pass(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revoking_voids_every_link_and_session() {
        let g = Gate::new(1, None);
        let link = g.new_link();
        g.sessions.lock().unwrap().push("session".into());
        assert!(holds(&g.links, &link, false));
        g.revoke();
        assert!(!holds(&g.links, &link, false), "an unused link is void after the stop");
        assert!(!holds(&g.sessions, "session", false), "a session is void after the stop");
    }
}
