//! The Graph client against the Meta sandbox: the login calls, discovery across several result
//! pages, appsecret_proof on every token call, and Graph errors parsed and classified.
//! The sandbox's world is shared: these tests take turns and reset it.

use meta_publisher::config::Secret;
use meta_publisher::graph::{ErrorClass, GraphClient};
use serde_json::{json, Value};
use stack_tests::Stack;
use tokio::sync::Mutex;

static SANDBOX: Mutex<()> = Mutex::const_new(());
const REDIRECT: &str = "http://127.0.0.1:58787/api/meta/oauth/callback";

fn client(stack: &Stack) -> GraphClient {
    let vars = &stack.worker_vars;
    GraphClient::new(
        format!("{}/v26.0", vars["META_GRAPH_BASE_URL"].as_str().unwrap()),
        vars["META_APP_ID"].as_str().unwrap(),
        Secret::new(vars["META_APP_SECRET"].as_str().unwrap()),
    )
}

async fn control(stack: &Stack, path: &str, body: Value) -> Value {
    let response = reqwest::Client::new().post(format!("{}/_sandbox/{path}", stack.sandbox_url)).json(&body).send().await.unwrap();
    assert!(response.status().is_success(), "{path}: {}", response.status());
    response.json().await.unwrap()
}

async fn calls(stack: &Stack) -> Vec<Value> {
    reqwest::get(format!("{}/_sandbox/calls", stack.sandbox_url)).await.unwrap().json().await.unwrap()
}

fn user_with_pages(count: usize) -> Value {
    let pages: Vec<Value> = (0..count)
        .map(|n| {
            let mut page = json!({"id": format!("2000000000{n:04}"), "name": format!("Page {n}")});
            if n == 0 {
                page["has_token"] = json!(false);
            }
            if n == 1 {
                page["instagram"] = json!({"id": "17841400000000001", "username": "shop_ig"});
            }
            page
        })
        .collect();
    json!({"id": "1000000000000777", "name": "Graph Test User", "pages": pages})
}

#[tokio::test]
async fn login_and_discovery_carry_appsecret_proof() {
    let _turn = SANDBOX.lock().await;
    let stack = Stack::from_env();
    control(&stack, "reset", json!({"users": [user_with_pages(7)]})).await;
    let code = control(&stack, "codes", json!({"user_id": "1000000000000777", "redirect_uri": REDIRECT})).await;
    let graph = client(&stack);

    let short = graph.exchange_code(code["code"].as_str().unwrap(), REDIRECT).await.unwrap();
    let long = graph.long_lived(&short.token).await.unwrap();
    assert_eq!(long.expires_in, Some(5_184_000));
    let me = graph.me(&long.token).await.unwrap();
    assert_eq!((me.id.as_str(), me.name.as_deref()), ("1000000000000777", Some("Graph Test User")));
    assert!(graph.permissions(&long.token).await.unwrap().missing().is_empty());

    let pages = graph.discover_pages(&long.token).await.unwrap();
    assert_eq!(pages.len(), 7);
    assert!(pages[0].token.is_none(), "an unticked Page has no token");
    assert!(pages[1..].iter().all(|p| p.token.is_some()));
    assert_eq!(pages[1].instagram.as_ref().map(|ig| ig.id.as_str()), Some("17841400000000001"));

    let recorded = calls(&stack).await;
    let token_calls: Vec<&Value> = recorded.iter().filter(|c| c["token_owner"].as_str().is_some_and(|o| o.starts_with("user:"))).collect();
    assert!(!token_calls.is_empty());
    for call in &token_calls {
        assert_eq!(call["appsecret_proof_valid"], true, "{call}");
    }
    let secret = stack.worker_vars["META_APP_SECRET"].as_str().unwrap();
    assert!(!recorded.iter().any(|c| c.to_string().contains(secret)), "the record never shows the secret");
}

#[tokio::test]
async fn discovery_pages_through_many_results() {
    let _turn = SANDBOX.lock().await;
    let stack = Stack::from_env();
    // 230 Pages at the client's 100 per answer: three answers, two `next` links followed.
    control(&stack, "reset", json!({"users": [user_with_pages(230)]})).await;
    let code = control(&stack, "codes", json!({"user_id": "1000000000000777", "redirect_uri": REDIRECT})).await;
    let graph = client(&stack);
    let token = graph.exchange_code(code["code"].as_str().unwrap(), REDIRECT).await.unwrap().token;
    let pages = graph.discover_pages(&token).await.unwrap();
    assert_eq!(pages.len(), 230);
    let mut ids: Vec<&str> = pages.iter().map(|p| p.id.as_str()).collect();
    ids.dedup();
    assert_eq!(ids.len(), 230, "no Page twice");
    let accounts_calls = calls(&stack).await.into_iter().filter(|c| c["path"] == "/v26.0/me/accounts").count();
    assert_eq!(accounts_calls, 3);
}

#[tokio::test]
async fn graph_errors_are_typed_and_calls_without_proof_are_refused() {
    let _turn = SANDBOX.lock().await;
    let stack = Stack::from_env();
    control(&stack, "reset", json!({"users": [user_with_pages(1)]})).await;
    let graph = client(&stack);

    // A code used twice.
    let code = control(&stack, "codes", json!({"user_id": "1000000000000777", "redirect_uri": REDIRECT})).await;
    let code = code["code"].as_str().unwrap();
    let token = graph.exchange_code(code, REDIRECT).await.unwrap().token;
    let reused = graph.exchange_code(code, REDIRECT).await.err().expect("a code works once");
    assert_eq!((reused.http_status, reused.code), (400, Some(100)));

    // An injected rate limit, then a token that died.
    control(&stack, "faults", json!({"path_prefix": "/v26.0/me", "status": 400,
        "error": {"message": "Application request limit reached", "type": "OAuthException", "code": 4, "is_transient": true, "fbtrace_id": "SBXTRACE1"}})).await;
    let limited = graph.me(&token).await.err().expect("fault");
    assert_eq!(limited.class(), ErrorClass::Throttled);
    assert_eq!(limited.fbtrace_id.as_deref(), Some("SBXTRACE1"));
    assert!(graph.me(&token).await.is_ok(), "the fault fired once");
    control(&stack, "invalidate", json!({"user_id": "1000000000000777"})).await;
    let dead = graph.me(&token).await.err().expect("invalid token");
    assert_eq!(dead.class(), ErrorClass::TokenInvalid);
    assert!(!dead.to_string().contains(token.expose()));

    // Straight to the sandbox without appsecret_proof: refused like an app requiring it.
    let code = control(&stack, "codes", json!({"user_id": "1000000000000777", "redirect_uri": REDIRECT})).await;
    let token = graph.exchange_code(code["code"].as_str().unwrap(), REDIRECT).await.unwrap().token;
    let url = format!("{}/v26.0/me?access_token={}", stack.sandbox_url, token.expose());
    let body: Value = reqwest::get(url).await.unwrap().json().await.unwrap();
    assert_eq!(body["error"]["code"], 100);
    assert!(body["error"]["message"].as_str().unwrap().contains("appsecret_proof"));
}
