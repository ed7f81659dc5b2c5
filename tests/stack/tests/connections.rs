//! Connections, destinations, defaults and OAuth states against the real database.

use meta_publisher::store::connections::ConnectionStatus;
use meta_publisher::store::oauth_states::NewOAuthState;
use meta_publisher::store::StoreError;
use reqwest::Method;
use serde_json::json;
use stack_tests::{meta_id, new_id, Stack, TestPage};

const CREATE: &[&str] = &["CREATE_CONTENT", "MODERATE"];

#[tokio::test]
async fn saving_a_connection_picks_the_only_usable_destinations_as_defaults() {
    let stack = Stack::from_env();
    let store = stack.service_store();
    let workspace = stack.workspace("growth", &[]).await;
    let (usable, unticked, no_task, ig) = (meta_id(), meta_id(), meta_id(), meta_id());
    let (connection_id, defaults) = stack
        .connect(&workspace, &meta_id(), "user-token-a", &[
            TestPage { id: &usable, token: Some("page-token-a"), tasks: CREATE, instagram: Some(&ig) },
            TestPage { id: &unticked, token: None, tasks: CREATE, instagram: None },
            TestPage { id: &no_task, token: Some("page-token-b"), tasks: &["ANALYZE"], instagram: None },
        ])
        .await;
    assert_eq!(defaults.connection_id, connection_id);
    assert_eq!(defaults.facebook_page_id.as_deref(), Some(usable.as_str()));
    assert_eq!(defaults.instagram_account_id.as_deref(), Some(ig.as_str()));

    let pages = store.pages(&connection_id).await.unwrap();
    let reason = |id: &str| pages.iter().find(|p| p.page_id == id).unwrap().unusable_reason.clone();
    assert_eq!(reason(&usable), None);
    assert_eq!(reason(&unticked).as_deref(), Some("no_page_token"));
    assert_eq!(reason(&no_task).as_deref(), Some("missing_create_content_task"));
    let connection = store.connection(&workspace).await.unwrap().unwrap();
    assert_eq!(connection.status, "active");
    assert_eq!(store.instagram_accounts(&connection_id).await.unwrap().len(), 1);
}

#[tokio::test]
async fn reconnecting_replaces_everything_and_keeps_a_still_valid_choice() {
    let stack = Stack::from_env();
    let store = stack.service_store();
    let workspace = stack.workspace("pro", &[]).await;
    let (a, b) = (meta_id(), meta_id());
    let both = [
        TestPage { id: &a, token: Some("t-a"), tasks: CREATE, instagram: None },
        TestPage { id: &b, token: Some("t-b"), tasks: CREATE, instagram: None },
    ];
    let (first, defaults) = stack.connect(&workspace, &meta_id(), "u1", &both).await;
    assert_eq!(defaults.facebook_page_id, None, "two usable Pages: the user chooses");
    store.set_defaults(&workspace, &first, Some(&b), None).await.unwrap();

    let (second, defaults) = stack.connect(&workspace, &meta_id(), "u2", &both).await;
    assert_ne!(first, second);
    assert_eq!(defaults.facebook_page_id.as_deref(), Some(b.as_str()), "the choice survives a reconnect");
    assert!(store.pages(&first).await.unwrap().is_empty(), "the old connection's Pages are gone");
    let db = stack.db().await;
    let count: i64 = db.query_one("select count(*) from public.meta_connections where workspace_id = $1::text::uuid", &[&workspace]).await.unwrap().get(0);
    assert_eq!(count, 1);
}

#[tokio::test]
async fn defaults_must_belong_to_the_workspaces_current_connection() {
    let stack = Stack::from_env();
    let store = stack.service_store();
    let (mine, theirs) = (stack.workspace("growth", &[]).await, stack.workspace("growth", &[]).await);
    let (my_page, their_page, their_ig) = (meta_id(), meta_id(), meta_id());
    let (my_connection, _) = stack.connect(&mine, &meta_id(), "u", &[TestPage { id: &my_page, token: Some("t"), tasks: CREATE, instagram: None }]).await;
    let (their_connection, _) = stack
        .connect(&theirs, &meta_id(), "u", &[TestPage { id: &their_page, token: Some("t"), tasks: CREATE, instagram: Some(&their_ig) }])
        .await;

    for (connection, page, ig) in [
        (my_connection.as_str(), Some(their_page.as_str()), None),
        (my_connection.as_str(), None, Some(their_ig.as_str())),
        (their_connection.as_str(), Some(their_page.as_str()), None), // another workspace's connection
    ] {
        let err = store.set_defaults(&mine, connection, page, ig).await.unwrap_err();
        assert!(matches!(err, StoreError::InvalidReference { .. }), "{connection} {page:?} {ig:?}: {err:?}");
    }
    let ok = store.set_defaults(&mine, &my_connection, Some(&my_page), None).await.unwrap();
    assert_eq!(ok.facebook_page_id.as_deref(), Some(my_page.as_str()));
}

#[tokio::test]
async fn one_connection_per_workspace_and_only_envelopes_in_token_columns() {
    let stack = Stack::from_env();
    let workspace = stack.workspace("growth", &[]).await;
    let page = meta_id();
    let (connection_id, _) = stack.connect(&workspace, &meta_id(), "u", &[TestPage { id: &page, token: Some("t"), tasks: CREATE, instagram: None }]).await;
    let key = stack.service_role_key.expose();
    let sealed = stack.vault().seal(&meta_publisher::vault::AccessToken::new("x"), &meta_publisher::vault::TokenSlot::UserToken { connection_id: new_id() }).unwrap();
    let row = |token: &str| json!({"id": new_id(), "workspace_id": workspace, "fb_user_id": "1", "user_token_sealed": token, "connected_by": new_id()});

    let (status, body) = stack.rest(Method::POST, "/meta_connections", key, Some(row(sealed.as_str()))).await;
    assert_eq!((status, body["code"].as_str()), (409, Some("23505")), "a second connection: {body}");

    let other = stack.workspace("growth", &[]).await;
    for plaintext in ["EAAGm0PX4ZCpsBAKZAZAplaintexttoken", "mpt1.notreally", ""] {
        let mut attempt = row(plaintext);
        attempt["workspace_id"] = json!(other);
        let (status, body) = stack.rest(Method::POST, "/meta_connections", key, Some(attempt)).await;
        assert_eq!(body["code"], "23514", "{plaintext:?} must be refused: {status} {body}");
    }
    let (_, body) = stack
        .rest(Method::PATCH, &format!("/meta_pages?connection_id=eq.{connection_id}"), key, Some(json!({"page_token_sealed": "EAAplain"})))
        .await;
    assert_eq!(body["code"], "23514", "plaintext Page token refused: {body}");
}

#[tokio::test]
async fn revoking_erases_every_token_of_the_connection() {
    let stack = Stack::from_env();
    let store = stack.service_store();
    let workspace = stack.workspace("growth", &[]).await;
    let page = meta_id();
    let (connection_id, _) = stack.connect(&workspace, &meta_id(), "u", &[TestPage { id: &page, token: Some("t"), tasks: CREATE, instagram: None }]).await;
    store.set_connection_status(&connection_id, ConnectionStatus::Revoked, Some("app removed")).await.unwrap();
    let db = stack.db().await;
    let row = db
        .query_one(
            "select c.status, c.user_token_sealed is null, p.page_token_sealed is null, p.usable
               from public.meta_connections c join public.meta_pages p on p.connection_id = c.id where c.id = $1::text::uuid",
            &[&connection_id],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "revoked");
    assert!(row.get::<_, bool>(1) && row.get::<_, bool>(2) && !row.get::<_, bool>(3));
    assert_eq!(store.set_connection_status(&new_id(), ConnectionStatus::NeedsReauth, None).await, Err(StoreError::NotFound));
}

#[tokio::test]
async fn an_oauth_state_is_used_once_and_expires() {
    let stack = Stack::from_env();
    let store = stack.service_store();
    let user = new_id();
    let workspace = stack.workspace("growth", &[(&user, "owner")]).await;
    let hash = format!("{:064x}", uuid::Uuid::new_v4().as_u128());
    store
        .insert_oauth_state(&NewOAuthState { state_hash: hash.clone(), workspace_id: workspace.clone(), user_id: user.clone(), return_to: None })
        .await
        .unwrap();
    // Two consumers at once: exactly one gets it.
    let (a, b) = tokio::join!(store.consume_oauth_state(&hash), store.consume_oauth_state(&hash));
    let winners = [a.unwrap(), b.unwrap()].into_iter().flatten().collect::<Vec<_>>();
    assert_eq!(winners.len(), 1);
    assert_eq!((winners[0].workspace_id.as_str(), winners[0].user_id.as_str()), (workspace.as_str(), user.as_str()));
    assert_eq!(store.consume_oauth_state(&hash).await.unwrap(), None, "reuse");

    let expired = format!("{:064x}", uuid::Uuid::new_v4().as_u128());
    store
        .insert_oauth_state(&NewOAuthState { state_hash: expired.clone(), workspace_id: workspace, user_id: user, return_to: None })
        .await
        .unwrap();
    let db = stack.db().await;
    db.execute(
        "update public.meta_oauth_states set created_at = now() - interval '11 minutes', expires_at = now() - interval '1 minute' where state_hash = $1",
        &[&expired],
    )
    .await
    .unwrap();
    assert_eq!(store.consume_oauth_state(&expired).await.unwrap(), None, "expired");
    assert_eq!(store.consume_oauth_state(&"0".repeat(64)).await.unwrap(), None, "unknown");
    let bad = NewOAuthState { state_hash: "not-a-hash".into(), workspace_id: new_id(), user_id: new_id(), return_to: None };
    assert!(store.insert_oauth_state(&bad).await.is_err(), "only hashes are stored");
}

#[tokio::test]
async fn workspace_plan_and_membership_are_read() {
    let stack = Stack::from_env();
    let store = stack.service_store();
    let (owner, member) = (new_id(), new_id());
    let growth = stack.workspace("growth", &[(&owner, "owner"), (&member, "member")]).await;
    let free = stack.workspace("free", &[]).await;
    assert!(store.workspace(&growth).await.unwrap().unwrap().plan_allows_meta());
    assert!(!store.workspace(&free).await.unwrap().unwrap().plan_allows_meta());
    assert_eq!(store.workspace(&new_id()).await.unwrap(), None);
    assert_eq!(store.member_role(&growth, &owner).await.unwrap().as_deref(), Some("owner"));
    assert_eq!(store.member_role(&growth, &member).await.unwrap().as_deref(), Some("member"));
    assert_eq!(store.member_role(&free, &owner).await.unwrap(), None);
}
