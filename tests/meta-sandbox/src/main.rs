//! `meta-sandbox [PORT]`: serves the sandbox on 127.0.0.1 (default port from `META_SANDBOX_PORT`,
//! else 54340) until SIGINT or SIGTERM.

use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};

#[tokio::main]
async fn main() {
    let port: u16 = match std::env::args().nth(1).or_else(|| std::env::var("META_SANDBOX_PORT").ok()).map(|text| text.parse()) {
        None => 54340,
        Some(Ok(port)) => port,
        Some(Err(_)) => {
            eprintln!("meta-sandbox: the port must be a number");
            std::process::exit(2);
        }
    };
    let listener = match TcpListener::bind(("127.0.0.1", port)).await {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("meta-sandbox: cannot listen on 127.0.0.1:{port}: {err}");
            std::process::exit(1);
        }
    };
    println!("meta-sandbox listening on http://127.0.0.1:{port}");
    let shutdown = async {
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {},
            _ = term.recv() => {},
        }
    };
    // The app the sandbox plays Meta for: the Worker's META_APP_ID / META_APP_SECRET.
    let app_id = std::env::var("META_APP_ID").unwrap_or_else(|_| "1000000000000001".into());
    let app_secret = std::env::var("META_APP_SECRET").unwrap_or_else(|_| "sandbox-app-secret".into());
    if let Err(err) = axum::serve(listener, meta_sandbox::app(&app_id, &app_secret)).with_graceful_shutdown(shutdown).await {
        eprintln!("meta-sandbox: {err}");
        std::process::exit(1);
    }
}
