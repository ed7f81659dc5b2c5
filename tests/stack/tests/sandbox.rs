//! The Meta sandbox answers like Graph: health, and Graph-shaped errors for unknown paths.

use stack_tests::Stack;

#[tokio::test]
async fn sandbox_health_answers() {
    let stack = Stack::from_env();
    let response = reqwest::get(format!("{}/health", stack.sandbox_url)).await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
}

#[tokio::test]
async fn unknown_graph_paths_get_a_graph_error() {
    let stack = Stack::from_env();
    let response = reqwest::get(format!("{}/v26.0/a/b/c", stack.sandbox_url)).await.unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], 2500);
    assert_eq!(body["error"]["type"], "OAuthException");
    assert!(body["error"]["fbtrace_id"].as_str().is_some_and(|id| !id.is_empty()));
    assert!(body["error"]["message"].as_str().unwrap().contains("/v26.0/a/b/c"));
}

#[tokio::test]
async fn the_host_app_stand_in_shows_the_return_query_escaped() {
    let stack = Stack::from_env();
    let url = format!("{}/app?meta=connected&x=%3Cb%3E", stack.sandbox_url);
    let response = reqwest::get(url).await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let page = response.text().await.unwrap();
    assert!(page.contains("<code>meta</code> = <code>connected</code>"));
    assert!(page.contains("<code>&lt;b&gt;</code>"), "decoded and escaped: {page}");
}
