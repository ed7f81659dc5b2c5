//! The vault with the real store: sealed tokens come back from claiming and open only for their
//! own row; key rotation re-seals every stored token; and after storing known plaintext tokens,
//! no table row, log file or error message contains them.

use meta_publisher::config::TokenEncryptionKey;
use meta_publisher::store::connections::NewConnection;
use meta_publisher::store::StoreError;
use meta_publisher::vault::{SealedToken, TokenSlot, Vault, VaultError};
use stack_tests::{meta_id, new_id, reseal_everything, Stack, TestPage};
use tokio::sync::Mutex;

/// These tests seal and re-seal tokens across the whole database: they take turns.
static TOKENS: Mutex<()> = Mutex::const_new(());

const CREATE: &[&str] = &["CREATE_CONTENT"];

#[tokio::test]
async fn claimed_tokens_open_for_their_row_only() {
    let _turn = TOKENS.lock().await;
    let stack = Stack::from_env();
    let store = stack.service_store();
    let vault = stack.vault();
    let workspace = stack.workspace("growth", &[]).await;
    let (page, ig) = (meta_id(), meta_id());
    let (user_plain, page_plain) = (format!("plain-user-{}", new_id()), format!("plain-page-{}", new_id()));
    let (connection_id, _) = stack
        .connect(&workspace, &meta_id(), &user_plain, &[TestPage { id: &page, token: Some(&page_plain), tasks: CREATE, instagram: Some(&ig) }])
        .await;
    let db = stack.db().await;
    db.execute(
        "insert into public.publish_jobs (workspace_id, targets, payload_json, scheduled_at)
         values ($1::text::uuid, array['facebook','instagram'], '{\"version\":1}', now() - interval '1 minute')",
        &[&workspace],
    )
    .await
    .unwrap();

    let mut mine = None;
    loop {
        let batch = store.claim_due_jobs(20, 60, "vault-test").await.unwrap();
        if batch.is_empty() {
            break;
        }
        mine = mine.or(batch.into_iter().find(|job| job.workspace_id == workspace));
    }
    let job = mine.expect("the due job was claimed");
    assert_eq!(job.connection_status.as_deref(), Some("active"));
    assert_eq!(job.facebook_page_id.as_deref(), Some(page.as_str()));
    assert_eq!(job.instagram_account_id.as_deref(), Some(ig.as_str()));
    let user_slot = TokenSlot::UserToken { connection_id: connection_id.clone() };
    let page_slot = TokenSlot::PageToken { connection_id: connection_id.clone(), page_id: page.clone() };
    let user_sealed = job.user_token_sealed.expect("user token");
    let page_sealed = job.page_token_sealed.expect("page token");
    assert_eq!(vault.open(&user_sealed, &user_slot).unwrap().expose(), user_plain);
    assert_eq!(vault.open(&page_sealed, &page_slot).unwrap().expose(), page_plain);
    assert_eq!(vault.open(&job.instagram_page_token_sealed.expect("IG goes through its Page"), &page_slot).unwrap().expose(), page_plain);

    // An envelope moved into another row's column passes the format check but does not open.
    db.execute(
        "update public.meta_connections set user_token_sealed = $1 where id = $2::text::uuid",
        &[&page_sealed.as_str(), &connection_id],
    )
    .await
    .unwrap();
    let moved: String = db.query_one("select user_token_sealed from public.meta_connections where id = $1::text::uuid", &[&connection_id]).await.unwrap().get(0);
    assert_eq!(vault.open(&SealedToken::from_stored(moved), &user_slot).unwrap_err(), VaultError::Unauthentic);
}

#[tokio::test]
async fn rotation_reseals_every_token_and_the_old_key_is_no_longer_needed() {
    let _turn = TOKENS.lock().await;
    let stack = Stack::from_env();
    let store = stack.service_store();
    let workspace = stack.workspace("growth", &[]).await;
    let page = meta_id();
    let (user_plain, page_plain) = (format!("plain-user-{}", new_id()), format!("plain-page-{}", new_id()));
    let (connection_id, _) = stack
        .connect(&workspace, &meta_id(), &user_plain, &[TestPage { id: &page, token: Some(&page_plain), tasks: CREATE, instagram: None }])
        .await;
    let old_key = stack.encryption_key();
    let new_key = TokenEncryptionKey::from_bytes([42; 32]);

    // More tokens than one batch, so the cursor is exercised.
    let extra: Vec<String> = (0..30).map(|_| meta_id()).collect();
    let pages: Vec<TestPage> = extra.iter().map(|id| TestPage { id, token: Some("extra-page-token"), tasks: CREATE, instagram: None }).collect();
    let other = stack.workspace("growth", &[]).await;
    stack.connect(&other, &meta_id(), "extra-user-token", &pages).await;

    let rotated = Vault::new(&new_key, Some(&old_key));
    let first = reseal_everything(&store, &rotated).await;
    assert!(first.resealed >= 33, "{first:?}");
    assert_eq!(first.examined, first.resealed + first.changed_meanwhile + first.unknown_key + first.unreadable);
    let second = reseal_everything(&store, &rotated).await;
    assert_eq!(second.resealed, 0, "nothing is left under the old key: {second:?}");
    assert_eq!(second.examined, second.unknown_key + second.unreadable, "only tokens no key opens remain: {second:?}");

    // The new key alone opens this connection's tokens now.
    let new_only = Vault::new(&new_key, None);
    let db = stack.db().await;
    let row = db
        .query_one(
            "select c.user_token_sealed, p.page_token_sealed from public.meta_connections c
               join public.meta_pages p on p.connection_id = c.id where c.id = $1::text::uuid",
            &[&connection_id],
        )
        .await
        .unwrap();
    let user_slot = TokenSlot::UserToken { connection_id: connection_id.clone() };
    let page_slot = TokenSlot::PageToken { connection_id: connection_id.clone(), page_id: page.clone() };
    assert_eq!(new_only.open(&SealedToken::from_stored(row.get::<_, String>(0)), &user_slot).unwrap().expose(), user_plain);
    assert_eq!(new_only.open(&SealedToken::from_stored(row.get::<_, String>(1)), &page_slot).unwrap().expose(), page_plain);

    // Rotate back, so the rest of the suite finds tokens under the Worker's key.
    let back = reseal_everything(&store, &Vault::new(&old_key, Some(&new_key))).await;
    assert_eq!(back.resealed, first.resealed);
}

#[tokio::test]
async fn no_plaintext_token_in_any_row_log_or_error() {
    let _turn = TOKENS.lock().await;
    let stack = Stack::from_env();
    let store = stack.service_store();
    let workspace = stack.workspace("growth", &[]).await;
    let page = meta_id();
    let user_plain = format!("EAAleakcheckuser{}", new_id().replace('-', ""));
    let page_plain = format!("EAAleakcheckpage{}", new_id().replace('-', ""));
    stack.connect(&workspace, &meta_id(), &user_plain, &[TestPage { id: &page, token: Some(&page_plain), tasks: CREATE, instagram: None }]).await;

    // A plaintext token where an envelope belongs is refused, and the error does not quote it.
    let other = stack.workspace("growth", &[]).await;
    let mistaken = NewConnection {
        id: new_id(),
        workspace_id: other,
        fb_user_id: meta_id(),
        fb_user_name: None,
        user_token_sealed: SealedToken::from_stored(user_plain.clone()),
        token_expires_at: None,
        data_access_expires_at: None,
        granted_permissions: vec![],
        declined_permissions: vec![],
        connected_by: new_id(),
    };
    let err = store.save_connection(&mistaken, &[], &[]).await.unwrap_err();
    assert!(matches!(err, StoreError::ConstraintViolation { .. }), "{err:?}");
    assert!(!format!("{err} {err:?}").contains(&user_plain));

    // Every row of every table, as text.
    let db = stack.db().await;
    let tables = db
        .query(
            "select format('%I.%I', table_schema, table_name) from information_schema.tables
              where table_type = 'BASE TABLE' and table_schema not in ('pg_catalog', 'information_schema')",
            &[],
        )
        .await
        .unwrap();
    assert!(tables.len() >= 10);
    for table in tables {
        let name: String = table.get(0);
        let hits: i64 = db
            .query_one(&format!("select count(*) from {name} t where t::text like '%' || $1 || '%' or t::text like '%' || $2 || '%'"), &[&user_plain, &page_plain])
            .await
            .unwrap()
            .get(0);
        assert_eq!(hits, 0, "{name} holds a plaintext token");
    }

    // Every log the stack wrote so far (PostgreSQL, postrust, the sandbox).
    let log_dir = std::env::var("STACK_LOG_DIR").expect("STACK_LOG_DIR");
    let mut scanned = 0;
    for entry in std::fs::read_dir(&log_dir).unwrap() {
        let path = entry.unwrap().path();
        let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
        assert!(!text.contains(&user_plain) && !text.contains(&page_plain), "{} holds a plaintext token", path.display());
        scanned += 1;
    }
    assert!(scanned >= 2);
}
