//! The sandbox's publishing endpoints, ledger and scripting, over HTTP. Each test starts its own
//! sandbox on a free loopback port, so tests run in parallel without sharing a world.

use reqwest::header::HeaderMap;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

const APP_ID: &str = "1000000000000001";
const SECRET: &str = "publishing-test-secret";
// The default world's user, Page and Instagram account.
const USER: &str = "1000000000000101";
const PAGE: &str = "1000000000000201";
const IG: &str = "17841400000000301";

struct Sandbox {
    url: String,
    http: reqwest::Client,
}

struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Value,
}

async fn start() -> Sandbox {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, meta_sandbox::app(APP_ID, SECRET)).await.unwrap() });
    Sandbox { url, http: reqwest::Client::new() }
}

impl Sandbox {
    async fn control(&self, path: &str, body: Value) -> Value {
        let response = self.http.post(format!("{}/_sandbox/{path}", self.url)).json(&body).send().await.unwrap();
        assert!(response.status().is_success(), "{path}: {}", response.status());
        response.json().await.unwrap()
    }

    async fn read(&self, path: &str) -> Value {
        self.http.get(format!("{}/_sandbox/{path}", self.url)).send().await.unwrap().json().await.unwrap()
    }

    async fn ledger(&self) -> Vec<Value> {
        serde_json::from_value(self.read("ledger").await).unwrap()
    }

    async fn token(&self, page_id: Option<&str>) -> String {
        let body = self.control("tokens", json!({"user_id": USER, "page_id": page_id})).await;
        body["token"].as_str().unwrap().to_string()
    }

    fn signed(&self, token: &str, params: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut all: Vec<(String, String)> = params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        all.push(("access_token".into(), token.into()));
        all.push(("appsecret_proof".into(), meta_sandbox::graph::proof(SECRET, token)));
        all
    }

    /// A POST as the service's Graph client sends it: a form body.
    async fn post(&self, path: &str, token: &str, params: &[(&str, &str)]) -> Answer {
        let request = self.http.post(format!("{}/v26.0/{path}", self.url)).form(&self.signed(token, params));
        answer(request.send().await.unwrap()).await
    }

    async fn get(&self, path: &str, token: &str, params: &[(&str, &str)]) -> Answer {
        let request = self.http.get(format!("{}/v26.0/{path}", self.url)).query(&self.signed(token, params));
        answer(request.send().await.unwrap()).await
    }
}

async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.json().await.unwrap_or(Value::Null);
    Answer { status, headers, body }
}

fn error_codes(answer: &Answer) -> (u16, i64, Option<i64>) {
    let error = &answer.body["error"];
    (answer.status, error["code"].as_i64().unwrap_or(-1), error["error_subcode"].as_i64())
}

#[tokio::test]
async fn feed_photo_and_instagram_posts_reach_the_ledger_in_order() {
    let sandbox = start().await;
    let page = sandbox.token(Some(PAGE)).await;

    let feed = sandbox.post(&format!("{PAGE}/feed"), &page, &[("message", "Hello"), ("link", "https://example.com/a")]).await;
    assert_eq!(feed.status, 200, "{}", feed.body);
    let post_id = feed.body["id"].as_str().unwrap().to_string();
    assert!(post_id.starts_with(&format!("{PAGE}_")));

    let photo =
        sandbox.post(&format!("{PAGE}/photos"), &page, &[("url", "https://example.com/p.jpg"), ("caption", "A photo")]).await;
    assert_eq!(photo.status, 200, "{}", photo.body);
    let photo_id = photo.body["id"].as_str().unwrap().to_string();
    let photo_post = photo.body["post_id"].as_str().unwrap().to_string();
    assert!(photo_post.starts_with(&format!("{PAGE}_")));

    let container =
        sandbox.post(&format!("{IG}/media"), &page, &[("image_url", "https://example.com/i.jpg"), ("caption", "Insta")]).await;
    let container_id = container.body["id"].as_str().unwrap().to_string();
    assert!(container_id.starts_with("1790") && container_id.chars().all(|c| c.is_ascii_digit()), "{container_id}");
    let status = sandbox.get(&container_id, &page, &[("fields", "status_code,status")]).await;
    assert_eq!(status.body["status_code"], "FINISHED", "finished at once by default");
    assert_eq!(status.body["id"], container_id.as_str());

    let published = sandbox.post(&format!("{IG}/media_publish"), &page, &[("creation_id", &container_id)]).await;
    assert_eq!(published.status, 200, "{}", published.body);
    let media_id = published.body["id"].as_str().unwrap().to_string();
    let after = sandbox.get(&container_id, &page, &[("fields", "status_code")]).await;
    assert_eq!(after.body["status_code"], "PUBLISHED");

    // Reading back: permalinks, and the classic field mix-up refused as Graph does.
    let media = sandbox.get(&media_id, &page, &[("fields", "permalink")]).await;
    assert!(media.body["permalink"].as_str().unwrap().starts_with("https://www.instagram.com/p/"), "{}", media.body);
    let wrong = sandbox.get(&media_id, &page, &[("fields", "permalink_url")]).await;
    assert_eq!(error_codes(&wrong), (400, 100, None));
    let number = post_id.split('_').nth(1).unwrap();
    let post = sandbox.get(&post_id, &page, &[("fields", "permalink_url")]).await;
    assert_eq!(post.body["permalink_url"], format!("https://www.facebook.com/{PAGE}/posts/{number}"));
    let by_photo = sandbox.get(&photo_id, &page, &[("fields", "permalink_url")]).await;
    assert!(by_photo.body["permalink_url"].as_str().unwrap().ends_with(photo_post.split('_').nth(1).unwrap()));

    let ledger = sandbox.ledger().await;
    assert_eq!(ledger.len(), 3);
    assert_eq!((ledger[0]["kind"].as_str(), ledger[0]["destination_id"].as_str()), (Some("feed"), Some(PAGE)));
    assert_eq!(ledger[0]["external_id"], post_id.as_str());
    assert_eq!((ledger[0]["message"].as_str(), ledger[0]["link"].as_str()), (Some("Hello"), Some("https://example.com/a")));
    assert_eq!((ledger[1]["kind"].as_str(), ledger[1]["external_id"].as_str()), (Some("photo"), Some(photo_post.as_str())));
    assert_eq!(
        (ledger[1]["caption"].as_str(), ledger[1]["image_url"].as_str()),
        (Some("A photo"), Some("https://example.com/p.jpg"))
    );
    assert_eq!((ledger[2]["kind"].as_str(), ledger[2]["destination_id"].as_str()), (Some("instagram"), Some(IG)));
    assert_eq!(
        (ledger[2]["external_id"].as_str(), ledger[2]["container_id"].as_str()),
        (Some(media_id.as_str()), Some(container_id.as_str()))
    );
    assert_eq!(ledger[2]["caption"], "Insta");
    assert!(ledger.iter().all(|entry| entry["at_ms"].as_u64().unwrap() > 0));

    // Recorded without token values.
    let calls = sandbox.read("calls").await;
    let feed_call = calls.as_array().unwrap().iter().find(|c| c["path"] == format!("/v26.0/{PAGE}/feed")).unwrap();
    assert_eq!(feed_call["token_owner"], format!("page:{PAGE}"));
    assert_eq!(feed_call["appsecret_proof_valid"], true);
    assert_eq!(feed_call["params"]["message"], "Hello");
    assert!(!calls.to_string().contains(&page));
}

#[tokio::test]
async fn a_scripted_container_stays_in_progress_for_n_checks() {
    let sandbox = start().await;
    let page = sandbox.token(Some(PAGE)).await;
    sandbox.control("containers/script", json!({"in_progress_checks": 2, "final": "FINISHED", "times": 1})).await;
    let id = sandbox.post(&format!("{IG}/media"), &page, &[("image_url", "https://example.com/i.jpg")]).await.body["id"]
        .as_str()
        .unwrap()
        .to_string();

    let early = sandbox.post(&format!("{IG}/media_publish"), &page, &[("creation_id", &id)]).await;
    assert_eq!(error_codes(&early), (400, 9007, Some(2_207_027)));
    for _ in 0..2 {
        let check = sandbox.get(&id, &page, &[("fields", "status_code,status")]).await;
        assert_eq!(check.body["status_code"], "IN_PROGRESS");
    }
    let done = sandbox.get(&id, &page, &[("fields", "status_code,status")]).await;
    assert_eq!(done.body["status_code"], "FINISHED");
    assert_eq!(sandbox.post(&format!("{IG}/media_publish"), &page, &[("creation_id", &id)]).await.status, 200);

    // The script was for one container: the next is finished at once.
    let next = sandbox.post(&format!("{IG}/media"), &page, &[("image_url", "https://example.com/j.jpg")]).await.body["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(sandbox.get(&next, &page, &[("fields", "status_code")]).await.body["status_code"], "FINISHED");
}

#[tokio::test]
async fn failed_and_expired_containers_do_not_publish() {
    let sandbox = start().await;
    let page = sandbox.token(Some(PAGE)).await;
    sandbox.control("containers/script", json!({"final": "ERROR", "match_caption": "#broken"})).await;
    let create = |caption: &'static str| {
        let (sandbox, page) = (&sandbox, &page);
        async move {
            let body = sandbox
                .post(&format!("{IG}/media"), page, &[("image_url", "https://example.com/i.jpg"), ("caption", caption)])
                .await
                .body;
            body["id"].as_str().unwrap().to_string()
        }
    };
    let broken = create("this one is #broken").await;
    let fine = create("this one is fine").await;
    let status = sandbox.get(&broken, &page, &[("fields", "status_code,status")]).await;
    assert_eq!((status.body["status_code"].as_str(), status.body["status"].as_str()), (Some("ERROR"), Some("Error: 2207026")));
    let refused = sandbox.post(&format!("{IG}/media_publish"), &page, &[("creation_id", &broken)]).await;
    assert_eq!(error_codes(&refused), (400, 9, Some(2_207_008)));

    sandbox.control("containers/set", json!({"container_id": fine, "status_code": "EXPIRED"})).await;
    assert_eq!(sandbox.get(&fine, &page, &[("fields", "status_code")]).await.body["status_code"], "EXPIRED");
    let expired = sandbox.post(&format!("{IG}/media_publish"), &page, &[("creation_id", &fine)]).await;
    assert_eq!(error_codes(&expired), (400, 9, Some(2_207_008)));
    assert!(sandbox.ledger().await.is_empty());
}

#[tokio::test]
async fn publishing_a_container_twice_yields_one_ledger_entry() {
    let sandbox = start().await;
    let page = sandbox.token(Some(PAGE)).await;
    let id = sandbox.post(&format!("{IG}/media"), &page, &[("image_url", "https://example.com/i.jpg")]).await.body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let first = sandbox.post(&format!("{IG}/media_publish"), &page, &[("creation_id", &id)]).await;
    assert_eq!(first.status, 200);
    let second = sandbox.post(&format!("{IG}/media_publish"), &page, &[("creation_id", &id)]).await;
    assert_eq!(error_codes(&second), (400, 9, Some(2_207_008)));
    assert!(second.body["error"]["message"].as_str().unwrap().contains("already been published"));
    assert_eq!(sandbox.ledger().await.len(), 1);
}

#[tokio::test]
async fn the_publishing_limit_counts_the_ledger_and_stops_at_the_quota() {
    let sandbox = start().await;
    let page = sandbox.token(Some(PAGE)).await;
    let limit = sandbox.get(&format!("{IG}/content_publishing_limit"), &page, &[("fields", "quota_usage,config")]).await;
    assert_eq!(limit.body, json!({"data": [{"quota_usage": 0, "config": {"quota_total": 50, "quota_duration": 86400}}]}));

    sandbox.control("quota", json!({"ig_user_id": IG, "quota_total": 1})).await;
    for expected in [Ok(()), Err(2_207_042)] {
        let id = sandbox.post(&format!("{IG}/media"), &page, &[("image_url", "https://example.com/i.jpg")]).await.body["id"]
            .as_str()
            .unwrap()
            .to_string();
        let published = sandbox.post(&format!("{IG}/media_publish"), &page, &[("creation_id", &id)]).await;
        match expected {
            Ok(()) => assert_eq!(published.status, 200),
            Err(subcode) => assert_eq!(error_codes(&published), (400, 9, Some(subcode))),
        }
    }
    let limit = sandbox.get(&format!("{IG}/content_publishing_limit"), &page, &[("fields", "quota_usage,config")]).await;
    assert_eq!(limit.body["data"][0]["quota_usage"], 1);
    assert_eq!(limit.body["data"][0]["config"]["quota_total"], 1);
    assert_eq!(sandbox.ledger().await.len(), 1);
}

#[tokio::test]
async fn a_dropped_connection_leaves_the_post_live() {
    let sandbox = start().await;
    let page = sandbox.token(Some(PAGE)).await;
    sandbox.control("faults", json!({"path_prefix": format!("/v26.0/{PAGE}/feed"), "kind": "drop"})).await;
    let request =
        sandbox.http.post(format!("{}/v26.0/{PAGE}/feed", sandbox.url)).form(&sandbox.signed(&page, &[("message", "dropped")]));
    let response = request.send().await.expect("the status line arrives");
    assert_eq!(response.status().as_u16(), 200);
    assert!(response.text().await.is_err(), "the body never completes");
    let ledger = sandbox.ledger().await;
    assert_eq!((ledger.len(), ledger[0]["message"].as_str()), (1, Some("dropped")));
    let again = sandbox.post(&format!("{PAGE}/feed"), &page, &[("message", "next")]).await;
    assert_eq!(again.status, 200, "the fault fired once");
}

#[tokio::test]
async fn a_hang_answers_late_acting_before_or_after() {
    let sandbox = start().await;
    let page = sandbox.token(Some(PAGE)).await;
    let feed = format!("/v26.0/{PAGE}/feed");

    // Acted first: the client times out, yet the post is live.
    sandbox.control("faults", json!({"path_prefix": feed, "kind": "hang", "hang_ms": 1500, "after_action": true})).await;
    let request = sandbox.http.post(format!("{}{feed}", sandbox.url)).timeout(Duration::from_millis(200));
    let timed_out = request.form(&sandbox.signed(&page, &[("message", "late")])).send().await.expect_err("a timeout");
    assert!(timed_out.is_timeout());
    assert_eq!(sandbox.ledger().await.len(), 1);

    // Hang, then act and answer normally.
    sandbox.control("faults", json!({"path_prefix": feed, "kind": "hang", "hang_ms": 300})).await;
    let started = Instant::now();
    let answer = sandbox.post(&format!("{PAGE}/feed"), &page, &[("message", "slow")]).await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(sandbox.ledger().await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn latency_delays_calls_without_serialising_them() {
    let sandbox = std::sync::Arc::new(start().await);
    let page = sandbox.token(Some(PAGE)).await;
    sandbox.control("latency", json!({"ms": 200})).await;
    let started = Instant::now();
    let calls: Vec<_> = (0..6)
        .map(|n| {
            let (sandbox, page) = (sandbox.clone(), page.clone());
            tokio::spawn(async move {
                sandbox.post(&format!("{PAGE}/feed"), &page, &[("message", &format!("concurrent {n}"))]).await.status
            })
        })
        .collect();
    for call in calls {
        assert_eq!(call.await.unwrap(), 200);
    }
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(200), "{elapsed:?}");
    assert!(elapsed < Duration::from_millis(900), "six calls of 200 ms overlap: {elapsed:?}");
    assert_eq!(sandbox.ledger().await.len(), 6);

    sandbox.control("latency", json!({"ms": 0})).await;
    let started = Instant::now();
    sandbox.post(&format!("{PAGE}/feed"), &page, &[("message", "fast")]).await;
    assert!(started.elapsed() < Duration::from_millis(200));
}

#[tokio::test]
async fn a_fault_can_target_one_job_by_a_parameter() {
    let sandbox = start().await;
    let page = sandbox.token(Some(PAGE)).await;
    sandbox
        .control(
            "faults",
            json!({"path_prefix": format!("/v26.0/{PAGE}/feed"), "match_param": {"name": "message", "contains": "[job-b]"},
            "error": {"message": "Please reduce the amount of data", "type": "OAuthException", "code": 1, "is_transient": true}}),
        )
        .await;
    let a = sandbox.post(&format!("{PAGE}/feed"), &page, &[("message", "post [job-a]")]).await;
    let b = sandbox.post(&format!("{PAGE}/feed"), &page, &[("message", "post [job-b]")]).await;
    assert_eq!(a.status, 200);
    assert_eq!(error_codes(&b), (400, 1, None));
    let ledger = sandbox.ledger().await;
    assert_eq!((ledger.len(), ledger[0]["message"].as_str()), (1, Some("post [job-a]")));
}

#[tokio::test]
async fn faults_and_usage_headers_add_response_headers() {
    let sandbox = start().await;
    let page = sandbox.token(Some(PAGE)).await;
    let usage = json!({PAGE: [{"type": "pages", "call_count": 100, "estimated_time_to_regain_access": 7}]});
    sandbox
        .control(
            "faults",
            json!({"path_prefix": format!("/v26.0/{PAGE}/feed"), "headers": {"X-Business-Use-Case-Usage": usage},
            "error": {"message": "User request limit reached", "type": "OAuthException", "code": 80001, "is_transient": true}}),
        )
        .await;
    let limited = sandbox.post(&format!("{PAGE}/feed"), &page, &[("message", "x")]).await;
    assert_eq!(error_codes(&limited), (400, 80001, None));
    let header: Value = serde_json::from_str(limited.headers["x-business-use-case-usage"].to_str().unwrap()).unwrap();
    assert_eq!(header, usage);

    sandbox
        .control("usage-headers", json!({"headers": {"X-App-Usage": {"call_count": 95, "total_cputime": 10, "total_time": 12}}}))
        .await;
    let fine = sandbox.post(&format!("{PAGE}/feed"), &page, &[("message", "x")]).await;
    assert_eq!(fine.status, 200);
    assert!(fine.headers["x-app-usage"].to_str().unwrap().contains("\"call_count\":95"));
    let failed = sandbox.get("nothing-here", &page, &[]).await;
    assert!(failed.headers.contains_key("x-app-usage"), "errors carry them too");
    sandbox.control("usage-headers", json!({"headers": {}})).await;
    assert!(!sandbox.post(&format!("{PAGE}/feed"), &page, &[("message", "x")]).await.headers.contains_key("x-app-usage"));

    // A non-Graph answer from something in front of Graph.
    sandbox.control("faults", json!({"path_prefix": format!("/v26.0/{PAGE}/photos"), "kind": "http", "status": 502})).await;
    let response = sandbox
        .http
        .post(format!("{}/v26.0/{PAGE}/photos", sandbox.url))
        .form(&sandbox.signed(&page, &[("url", "https://e.com/a.jpg")]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 502);
    assert!(response.text().await.unwrap().starts_with("<html>"));
    assert_eq!(sandbox.ledger().await.len(), 2, "the two posts that got through, not the faulted ones");
}

#[tokio::test]
async fn tokens_and_proofs_are_checked() {
    let sandbox = start().await;
    let page = sandbox.token(Some(PAGE)).await;
    let path = format!("{PAGE}/feed");

    let unknown = sandbox.post(&path, "SBXnot-a-token", &[("message", "x")]).await;
    assert_eq!(error_codes(&unknown), (400, 190, Some(460)));
    assert_eq!(unknown.body["error"]["type"], "OAuthException");

    // No proof, then a wrong one.
    let bare = sandbox
        .http
        .post(format!("{}/v26.0/{path}", sandbox.url))
        .form(&[("message", "x"), ("access_token", page.as_str())])
        .send()
        .await
        .unwrap();
    let bare = answer(bare).await;
    assert_eq!(error_codes(&bare), (400, 100, None));
    assert!(bare.body["error"]["message"].as_str().unwrap().contains("appsecret_proof"));
    let wrong = [("message", "x"), ("access_token", page.as_str()), ("appsecret_proof", "00")];
    let wrong = answer(sandbox.http.post(format!("{}/v26.0/{path}", sandbox.url)).form(&wrong).send().await.unwrap()).await;
    assert_eq!(error_codes(&wrong), (400, 100, None));

    // A Page token of another Page, and a user token, may not post to this Page.
    let other_user = json!({"id": "1000000000000102", "name": "Other", "pages": [{"id": "1000000000000202", "name": "Other Page",
        "instagram": {"id": "17841400000000302", "username": "other_ig"}}]});
    sandbox.control("users", json!({"users": [other_user]})).await;
    let other = sandbox.control("tokens", json!({"user_id": "1000000000000102", "page_id": "1000000000000202"})).await;
    let other = other["token"].as_str().unwrap();
    assert_eq!(error_codes(&sandbox.post(&path, other, &[("message", "x")]).await), (403, 200, None));
    assert_eq!(
        error_codes(&sandbox.post(&format!("{IG}/media"), other, &[("image_url", "https://e.com/i.jpg")]).await),
        (403, 200, None)
    );
    let user = sandbox.token(None).await;
    assert_eq!(error_codes(&sandbox.post(&path, &user, &[("message", "x")]).await), (403, 200, None));
    // The added user did not replace the default one.
    assert_eq!(sandbox.post(&path, &page, &[("message", "x")]).await.status, 200);
    assert_eq!(
        sandbox.post(&format!("{IG}/media"), &user, &[("image_url", "https://e.com/i.jpg")]).await.status,
        200,
        "a user token may use its Pages' Instagram"
    );

    // Invalidated tokens read as a changed password.
    sandbox.control("invalidate", json!({"user_id": USER})).await;
    assert_eq!(error_codes(&sandbox.post(&path, &page, &[("message", "x")]).await), (400, 190, Some(460)));
}

#[tokio::test]
async fn unknown_objects_and_paths_get_graph_errors() {
    let sandbox = start().await;
    let page = sandbox.token(Some(PAGE)).await;
    let missing = sandbox.get("123456", &page, &[("fields", "status_code")]).await;
    assert_eq!(error_codes(&missing), (400, 100, Some(33)));
    assert!(missing.body["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("Unsupported get request. Object with ID '123456' does not exist"));
    let path = sandbox.get("a/b/c", &page, &[]).await;
    assert_eq!(error_codes(&path), (400, 2500, None));
    // The static Graph routes keep priority over the object route.
    assert_eq!(sandbox.get("me", &page, &[]).await.body["error"]["message"], "This call needs a user access token");
}

#[tokio::test]
async fn reset_clears_the_publishing_world() {
    let sandbox = start().await;
    let page = sandbox.token(Some(PAGE)).await;
    sandbox.post(&format!("{PAGE}/feed"), &page, &[("message", "x")]).await;
    sandbox.control("latency", json!({"ms": 50})).await;
    sandbox.control("usage-headers", json!({"headers": {"X-App-Usage": "{}"}})).await;
    sandbox.control("containers/script", json!({"in_progress_checks": 5})).await;
    sandbox.control("reset", json!({})).await;
    assert!(sandbox.ledger().await.is_empty());
    let page = sandbox.token(Some(PAGE)).await;
    let started = Instant::now();
    let container = sandbox.post(&format!("{IG}/media"), &page, &[("image_url", "https://e.com/i.jpg")]).await;
    assert!(started.elapsed() < Duration::from_millis(50));
    assert!(!container.headers.contains_key("x-app-usage"));
    let id = container.body["id"].as_str().unwrap();
    assert_eq!(sandbox.get(id, &page, &[("fields", "status_code")]).await.body["status_code"], "FINISHED");
}

/// The `access_token` of a `/oauth/access_token` answer.
async fn token_from(sandbox: &Sandbox, query: &[(&str, &str)]) -> String {
    let answer: Value =
        sandbox.http.get(format!("{}/v26.0/oauth/access_token", sandbox.url)).query(query).send().await.unwrap().json().await.unwrap();
    answer["access_token"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn the_login_endpoints_answer_as_before() {
    let sandbox = start().await;
    let redirect = "http://127.0.0.1:9/callback";
    let code = sandbox.control("codes", json!({"user_id": USER, "redirect_uri": redirect})).await;
    let query =
        [("client_id", APP_ID), ("client_secret", SECRET), ("redirect_uri", redirect), ("code", code["code"].as_str().unwrap())];
    let short = token_from(&sandbox, &query).await;
    let short = short.as_str();
    let query =
        [("grant_type", "fb_exchange_token"), ("client_id", APP_ID), ("client_secret", SECRET), ("fb_exchange_token", short)];
    let long = token_from(&sandbox, &query).await;
    let long = long.as_str();
    assert_eq!(sandbox.get("me", long, &[]).await.body["id"], USER);

    sandbox
        .control(
            "faults",
            json!({"path_prefix": "/v26.0/me", "error": {"message": "limit", "type": "OAuthException", "code": 4}}),
        )
        .await;
    assert_eq!(error_codes(&sandbox.get("me/accounts", long, &[]).await), (400, 4, None));
    let accounts = sandbox.get("me/accounts", long, &[("fields", "id,name,access_token")]).await;
    let page = accounts.body["data"][0]["access_token"].as_str().unwrap();
    assert_eq!(sandbox.post(&format!("{PAGE}/feed"), page, &[("message", "from the login flow")]).await.status, 200);

    let app_token = format!("{APP_ID}|{SECRET}");
    let debug = sandbox.get("debug_token", &app_token, &[("input_token", page)]).await;
    assert_eq!(debug.body["data"]["is_valid"], true);
}
