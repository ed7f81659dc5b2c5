//! The Graph API client: typed calls to graph.facebook.com (or the Meta sandbox), shared by the
//! connect, publish and token-health capabilities.
//!
//! Every call made with a user or Page token carries `appsecret_proof`
//! (HMAC-SHA256 of the token, keyed with the app secret). Tokens travel only in request
//! parameters; errors ([`GraphError`]) never contain them. Runs on the host and in the Worker
//! (reqwest uses `fetch` there).

pub mod error;
pub mod login;
pub mod pages;
pub mod tokens;
pub mod usage;

pub use error::{ErrorClass, GraphError};
pub use usage::Usage;

use crate::clock::Clock;
use crate::config::{Config, Secret};
use crate::vault::AccessToken;
use hmac::{Hmac, Mac};
use serde::de::DeserializeOwned;
use sha2::Sha256;
use std::rc::Rc;
use std::time::Duration;

pub struct GraphClient {
    http: reqwest::Client,
    /// `{graph base}/{version}`.
    base: String,
    app_id: String,
    app_secret: Secret,
    /// How long a call may take before it counts as unanswered (reqwest has no timeout in wasm).
    deadline: Option<(Duration, Rc<dyn Clock>)>,
}

/// A successful answer and the rate-limit usage Graph reported with it.
#[derive(Debug)]
pub struct GraphReply<T> {
    pub body: T,
    pub usage: Usage,
}

impl GraphClient {
    pub fn new(graph_url: impl Into<String>, app_id: impl Into<String>, app_secret: Secret) -> GraphClient {
        GraphClient { http: reqwest::Client::new(), base: graph_url.into(), app_id: app_id.into(), app_secret, deadline: None }
    }

    /// Calls that take longer than `after` end with a [`GraphError::timeout`].
    pub fn with_timeout(mut self, after: Duration, clock: Rc<dyn Clock>) -> GraphClient {
        self.deadline = Some((after, clock));
        self
    }

    pub fn from_config(config: &Config) -> GraphClient {
        GraphClient::new(config.graph_url(), config.meta_app_id.clone(), config.meta_app_secret.clone())
    }

    pub fn app_id(&self) -> &str {
        &self.app_id
    }

    /// `hex(HMAC-SHA256(key = app secret, message = token))`.
    pub fn appsecret_proof(&self, token: &AccessToken) -> String {
        appsecret_proof(&self.app_secret, token)
    }

    /// `GET {base}/{path}` with the token and its proof.
    pub async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        token: &AccessToken,
        params: &[(&str, &str)],
    ) -> Result<T, GraphError> {
        self.get_with_usage(path, token, params).await.map(|reply| reply.body)
    }

    /// `POST {base}/{path}` with form parameters, the token and its proof.
    pub async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        token: &AccessToken,
        params: &[(&str, &str)],
    ) -> Result<T, GraphError> {
        self.post_with_usage(path, token, params).await.map(|reply| reply.body)
    }

    /// [`GraphClient::get`], with the rate-limit usage of the answer.
    pub async fn get_with_usage<T: DeserializeOwned>(
        &self,
        path: &str,
        token: &AccessToken,
        params: &[(&str, &str)],
    ) -> Result<GraphReply<T>, GraphError> {
        let proof = self.appsecret_proof(token);
        let request = self.http.get(self.url(path)).query(&with_token(params, token, &proof));
        self.send(request).await.map_err(|err| err.scrubbed(&[token.expose(), self.app_secret.expose()]))
    }

    /// [`GraphClient::post`], with the rate-limit usage of the answer.
    pub async fn post_with_usage<T: DeserializeOwned>(
        &self,
        path: &str,
        token: &AccessToken,
        params: &[(&str, &str)],
    ) -> Result<GraphReply<T>, GraphError> {
        let proof = self.appsecret_proof(token);
        let request = self.http.post(self.url(path)).form(&with_token(params, token, &proof));
        self.send(request).await.map_err(|err| err.scrubbed(&[token.expose(), self.app_secret.expose()]))
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{}", self.base, path.trim_start_matches('/'))
    }

    /// A GET made with the app's own credentials (the OAuth token endpoints).
    pub async fn get_as_app<T: DeserializeOwned>(&self, path: &str, params: &[(&str, &str)]) -> Result<T, GraphError> {
        let mut query: Vec<(&str, &str)> = params.to_vec();
        query.push(("client_id", &self.app_id));
        query.push(("client_secret", self.app_secret.expose()));
        let request = self.http.get(self.url(path)).query(&query);
        let secrets: Vec<&str> = params.iter().map(|(_, value)| *value).chain([self.app_secret.expose()]).collect();
        self.send(request).await.map(|reply| reply.body).map_err(|err| err.scrubbed(&secrets))
    }

    /// Follows a `paging.next` URL, which carries its own token; its proof is added again.
    pub async fn get_url<T: DeserializeOwned>(&self, url: &str, token: &AccessToken) -> Result<T, GraphError> {
        if !url.starts_with(&self.base) {
            return Err(GraphError::network("a paging link pointed outside the Graph API"));
        }
        let proof = self.appsecret_proof(token);
        let request = self.http.get(url).query(&[("appsecret_proof", proof.as_str())]);
        self.send(request).await.map(|reply| reply.body).map_err(|err| err.scrubbed(&[token.expose(), self.app_secret.expose()]))
    }

    async fn send<T: DeserializeOwned>(&self, request: reqwest::RequestBuilder) -> Result<GraphReply<T>, GraphError> {
        let exchange = async {
            // reqwest's errors name the URL, which holds the token: never pass them on.
            let response = request.send().await.map_err(|_| GraphError::network("no answer from the Graph API"))?;
            let status = response.status().as_u16();
            let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
            let usage = Usage::from_headers(header("x-app-usage").as_deref(), header("x-business-use-case-usage").as_deref());
            let body = response.text().await.map_err(|_| GraphError::network("the Graph API answer was cut off"))?;
            if !(200..300).contains(&status) {
                return Err(GraphError::from_response(status, &body).with_usage(usage));
            }
            // A success whose body cannot be read may still have acted: as good as no answer.
            let body = serde_json::from_str(&body).map_err(|_| GraphError::network("the Graph API answer could not be read"))?;
            Ok(GraphReply { body, usage })
        };
        let Some((after, clock)) = &self.deadline else {
            return exchange.await;
        };
        let timer = clock.sleep(*after);
        futures::pin_mut!(exchange);
        match futures::future::select(exchange, timer).await {
            futures::future::Either::Left((result, _)) => result,
            futures::future::Either::Right(_) => Err(GraphError::timeout(*after)),
        }
    }
}

/// The call's parameters plus the token and its proof.
fn with_token<'a>(params: &[(&'a str, &'a str)], token: &'a AccessToken, proof: &'a str) -> Vec<(&'a str, &'a str)> {
    let mut all = params.to_vec();
    all.push(("access_token", token.expose()));
    all.push(("appsecret_proof", proof));
    all
}

pub fn appsecret_proof(app_secret: &Secret, token: &AccessToken) -> String {
    // HMAC accepts keys of any length: new_from_slice cannot fail here.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(app_secret.expose().as_bytes()) else {
        return String::new();
    };
    mac.update(token.expose().as_bytes());
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appsecret_proof_matches_an_independent_hmac() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let proof = appsecret_proof(&Secret::new("Jefe"), &AccessToken::new("what do ya want for nothing?"));
        assert_eq!(proof, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }
}
