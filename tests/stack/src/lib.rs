//! Where the local stack is, and fixtures for tests against it. `npm test` starts PostgreSQL,
//! postrust, the REST gateway and the Meta sandbox on the test ports and passes their
//! addresses in `STACK_*` variables (STACK_WORKER_VARS holds the Worker's variables).

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use meta_publisher::config::{Secret, TokenEncryptionKey};
use meta_publisher::store::Store;
use meta_publisher::vault::Vault;
use serde_json::{json, Value};
use sha2::Sha256;

pub struct Stack {
    /// Like Supabase's project URL: PostgREST is under `/rest/v1`.
    pub supabase_url: String,
    pub service_role_key: Secret,
    pub anon_key: Secret,
    pub sandbox_url: String,
    pub database_url: String,
    pub worker_vars: Value,
}

impl Stack {
    pub fn from_env() -> Stack {
        let worker_vars: Value = serde_json::from_str(&required("STACK_WORKER_VARS")).expect("STACK_WORKER_VARS is JSON");
        Stack {
            supabase_url: required("STACK_SUPABASE_URL"),
            service_role_key: Secret::new(required("STACK_SERVICE_ROLE_KEY")),
            anon_key: Secret::new(required("STACK_ANON_KEY")),
            sandbox_url: required("STACK_SANDBOX_URL"),
            database_url: required("STACK_DATABASE_URL"),
            worker_vars,
        }
    }

    pub fn rest_url(&self) -> String {
        format!("{}/rest/v1", self.supabase_url)
    }

    /// The store as the Worker uses it: service role key.
    pub fn service_store(&self) -> Store {
        Store::new(&self.rest_url(), &self.service_role_key)
    }

    /// The vault with the Worker's key.
    pub fn vault(&self) -> Vault {
        Vault::new(&self.encryption_key(), None)
    }

    pub fn encryption_key(&self) -> TokenEncryptionKey {
        let text = self.worker_vars["META_TOKEN_ENCRYPTION_KEY"].as_str().expect("key in worker vars");
        let bytes: [u8; 32] = STANDARD.decode(text).expect("base64 key").try_into().expect("32 bytes");
        TokenEncryptionKey::from_bytes(bytes)
    }

    /// A Supabase-style HS256 JWT signed with the stack's secret.
    pub fn jwt(&self, claims: Value) -> String {
        let secret = self.worker_vars["SUPABASE_JWT_SECRET"].as_str().expect("jwt secret in worker vars");
        sign_jwt(secret, claims)
    }

    /// The JWT of a signed-in user (`authenticated`, `sub` = user id).
    pub fn user_jwt(&self, user_id: &str) -> String {
        self.jwt(json!({ "role": "authenticated", "sub": user_id, "exp": 4102444800u64 }))
    }

    /// A superuser connection for fixtures and whole-database checks (bypasses the API).
    pub async fn db(&self) -> tokio_postgres::Client {
        let (client, connection) = tokio_postgres::connect(&self.database_url, tokio_postgres::NoTls)
            .await
            .expect("connect to the test database");
        tokio::spawn(connection);
        client
    }

    /// A workspace on `plan`, with `members` as (user id, role).
    pub async fn workspace(&self, plan: &str, members: &[(&str, &str)]) -> String {
        let db = self.db().await;
        let row = db
            .query_one("insert into public.workspaces (name, plan) values ('test', $1) returning id::text", &[&plan])
            .await
            .expect("insert workspace");
        let id: String = row.get(0);
        for (user, role) in members {
            db.execute(
                "insert into public.workspace_members (workspace_id, user_id, role) values ($1::text::uuid, $2::text::uuid, $3)",
                &[&id, user, role],
            )
            .await
            .expect("insert member");
        }
        id
    }

    /// A raw PostgREST request with `token` as both apikey and bearer.
    pub async fn rest(&self, method: reqwest::Method, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
        let client = reqwest::Client::new();
        let mut request = client
            .request(method, format!("{}{}", self.rest_url(), path))
            .header("apikey", token)
            .header("Authorization", format!("Bearer {token}"))
            .header("Prefer", "return=representation");
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("PostgREST answers");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }
}

pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

pub fn sign_jwt(secret: &str, claims: Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let body = URL_SAFE_NO_PAD.encode(claims.to_string());
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("{header}.{body}").as_bytes());
    format!("{header}.{body}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
}

fn required(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run these tests through `npm test`, which starts the local stack")
    })
}

/// A Page to discover in a test connection: id, plaintext token (if the user ticked it), tasks.
pub struct TestPage<'a> {
    pub id: &'a str,
    pub token: Option<&'a str>,
    pub tasks: &'a [&'a str],
    /// The Instagram account linked to it, if any.
    pub instagram: Option<&'a str>,
}

impl Stack {
    /// Saves a connection the way the connect flow will: tokens sealed for their rows.
    pub async fn connect(
        &self,
        workspace_id: &str,
        fb_user_id: &str,
        user_token: &str,
        pages: &[TestPage<'_>],
    ) -> (String, meta_publisher::store::connections::Defaults) {
        use meta_publisher::store::connections::{InstagramAccount, NewConnection, NewPage};
        use meta_publisher::vault::{AccessToken, TokenSlot};
        let vault = self.vault();
        let connection_id = new_id();
        let user_token_sealed = vault
            .seal(&AccessToken::new(user_token), &TokenSlot::UserToken { connection_id: connection_id.clone() })
            .unwrap();
        let connection = NewConnection {
            id: connection_id.clone(),
            workspace_id: workspace_id.into(),
            fb_user_id: fb_user_id.into(),
            fb_user_name: Some("Test User".into()),
            user_token_sealed,
            token_expires_at: Some("2099-01-01T00:00:00Z".into()),
            data_access_expires_at: None,
            granted_permissions: vec!["pages_show_list".into(), "pages_manage_posts".into()],
            declined_permissions: vec![],
            connected_by: new_id(),
        };
        let new_pages: Vec<NewPage> = pages
            .iter()
            .map(|page| {
                let sealed = page.token.map(|token| {
                    let slot = TokenSlot::PageToken { connection_id: connection_id.clone(), page_id: page.id.into() };
                    vault.seal(&AccessToken::new(token), &slot).unwrap()
                });
                let reason = if sealed.is_none() {
                    Some("no_page_token".to_string())
                } else if !page.tasks.contains(&"CREATE_CONTENT") {
                    Some("missing_create_content_task".to_string())
                } else {
                    None
                };
                NewPage {
                    page_id: page.id.into(),
                    name: format!("Page {}", page.id),
                    picture_url: None,
                    page_token_sealed: sealed,
                    tasks: page.tasks.iter().map(|t| t.to_string()).collect(),
                    usable: reason.is_none(),
                    unusable_reason: reason,
                }
            })
            .collect();
        let accounts: Vec<InstagramAccount> = pages
            .iter()
            .filter_map(|page| {
                page.instagram.map(|ig| InstagramAccount {
                    ig_user_id: ig.into(),
                    page_id: page.id.into(),
                    username: Some(format!("ig_{ig}")),
                    name: None,
                    profile_picture_url: None,
                })
            })
            .collect();
        let defaults = self.service_store().save_connection(&connection, &new_pages, &accounts).await.expect("save connection");
        (connection_id, defaults)
    }
}

/// A fresh numeric Meta-style id (unique enough across one test run).
pub fn meta_id() -> String {
    let uuid = uuid::Uuid::new_v4().as_u128();
    format!("{}", 10_000_000_000_000u128 + uuid % 9_000_000_000_000_000u128)
}

/// Runs the re-seal in batches, as an operator would, until no cursor is left; the sum of the batches.
pub async fn reseal_everything(store: &Store, vault: &Vault) -> meta_publisher::vault::reseal::ResealReport {
    use meta_publisher::vault::reseal::{reseal_batch, Cursor, ResealReport};
    let mut total = ResealReport::default();
    let mut cursor = Cursor::START;
    loop {
        let batch = reseal_batch(store, vault, cursor).await.expect("reseal batch");
        total.examined += batch.examined;
        total.resealed += batch.resealed;
        total.changed_meanwhile += batch.changed_meanwhile;
        total.unknown_key += batch.unknown_key;
        total.unreadable += batch.unreadable;
        match batch.next_cursor.as_deref().and_then(Cursor::parse) {
            Some(next) => cursor = next,
            None => return total,
        }
    }
}
