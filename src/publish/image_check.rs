//! Looks at an Instagram post's image before the job is accepted: Meta downloads it itself at
//! publish time, so it must answer over HTTPS as a JPEG of at most 8 MB. Asks for the first
//! bytes only (`Range`), so a large file is not downloaded to learn its size.

use super::content::ImageUrl;
use crate::api_error::ApiError;
use crate::clock::Clock;
use std::time::Duration;

pub const MAX_IMAGE_BYTES: u64 = 8 * 1024 * 1024;
const PROBE_BYTES: u64 = 1024;

pub async fn check(http: &reqwest::Client, image: &ImageUrl, clock: &dyn Clock, timeout: Duration) -> Result<(), ApiError> {
    let host = image.url().host_str().unwrap_or("the image host").to_string();
    let unreachable =
        |why: String| ApiError::new(422, "image_unreachable", format!("The image could not be fetched from {host}: {why}"));
    // The deadline covers the whole exchange, body included.
    let exchange = probe(http, image, &unreachable);
    let timer = clock.sleep(timeout);
    futures::pin_mut!(exchange);
    match futures::future::select(exchange, timer).await {
        futures::future::Either::Left((result, _)) => result,
        futures::future::Either::Right(_) => Err(unreachable(format!("no answer within {} s", timeout.as_secs()))),
    }
}

async fn probe(http: &reqwest::Client, image: &ImageUrl, unreachable: &dyn Fn(String) -> ApiError) -> Result<(), ApiError> {
    let response = http
        .get(image.as_str())
        .header("Range", format!("bytes=0-{}", PROBE_BYTES - 1))
        .send()
        .await
        .map_err(|_| unreachable("no answer".into()))?;
    let status = response.status().as_u16();
    if status != 200 && status != 206 {
        return Err(unreachable(format!("it answered HTTP {status}")));
    }
    let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let content_type = header("content-type").unwrap_or_default();
    let mime = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if mime != "image/jpeg" && mime != "image/jpg" {
        let shown: String = content_type.chars().filter(|c| !c.is_control()).take(60).collect();
        return Err(ApiError::new(
            422,
            "image_not_jpeg",
            format!(
                "Instagram needs a JPEG image; the server says it is {}",
                if shown.is_empty() { "of no stated type".into() } else { shown }
            ),
        ));
    }
    // 206: "bytes 0-1023/123456" gives the whole size; 200: the server sends it all.
    let size = if status == 206 {
        header("content-range").and_then(|range| range.rsplit('/').next()?.trim().parse::<u64>().ok())
    } else {
        header("content-length").and_then(|length| length.trim().parse::<u64>().ok())
    };
    if let Some(size) = size.filter(|size| *size > MAX_IMAGE_BYTES) {
        return Err(too_large(size));
    }
    let body = response.bytes().await.map_err(|_| unreachable("the answer was cut off".into()))?;
    if status == 200 && body.len() as u64 > MAX_IMAGE_BYTES {
        return Err(too_large(body.len() as u64));
    }
    if !body.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Err(ApiError::new(422, "image_not_jpeg", "Instagram needs a JPEG image; the file is not one"));
    }
    Ok(())
}

fn too_large(size: u64) -> ApiError {
    ApiError::new(
        422,
        "image_too_large",
        format!("The image is {:.1} MB; Instagram accepts at most 8 MB", size as f64 / (1024.0 * 1024.0)),
    )
}
