//! What a publish job posts, checked once at the boundary.
//!
//! A job's content is stored in `publish_jobs.payload_json`, version 1:
//! `{"version":1,"text"?:string,"link"?:string,"image_url"?:string}`. [`Content::from_payload`]
//! turns that JSON into [`Content`] for the job's targets, both when a job is created through the
//! API ([`JobRequest`]) and at publish time, for rows the host app inserted directly. Every type
//! here exists only once its rules hold, so the publishing code never re-checks them.
//!
//! Rules, from Meta's documentation:
//! - Facebook posts `text` and `link` to `/feed`, or the image with a caption to `/photos`; it
//!   needs at least one of the three.
//! - Instagram needs an HTTPS image that Meta downloads itself; `text` is the caption
//!   (<= 2,200 characters, <= 30 hashtags, <= 20 @mentions). A `link` is not posted to Instagram:
//!   links in captions are not clickable there, so it goes to Facebook only.
//!
//! Pure Rust, no Worker types: compiles natively and for wasm32.

use crate::api_error::ApiError;
use crate::clock;
use crate::connect::access;
use crate::store::jobs::{NewJob, Target};
use serde_json::{Map, Value};
use std::fmt;
use url::Url;

/// Instagram's caption limits.
const CAPTION_MAX_CHARS: usize = 2_200;
const CAPTION_MAX_HASHTAGS: usize = 30;
const CAPTION_MAX_MENTIONS: usize = 20;
/// Facebook's limit on a post's text.
const POST_TEXT_MAX_CHARS: usize = 63_206;
/// Longer URLs are refused by browsers and crawlers alike; Meta's fetchers are no exception.
const URL_MAX_CHARS: usize = 2_000;
/// `publish_jobs.payload_json` is checked against `pg_column_size <= 65536`. jsonb stores strings
/// unescaped, plus headers per key and value; 128 bytes covers the keys, headers and `version`.
const PAYLOAD_MAX_BYTES: usize = 65_536;
const PAYLOAD_OVERHEAD_BYTES: usize = 128;
const IDEMPOTENCY_KEY_MAX_CHARS: usize = 200;
/// Bad input quoted back in a message is cut to this many characters.
const EXCERPT_CHARS: usize = 100;
/// Unix seconds of 10000-01-01T00:00:00Z: RFC 3339 has four-digit years.
const UNIX_YEAR_10000: i64 = 253_402_300_800;

/// Why content cannot be published: a machine `code` and one sentence for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentError {
    pub code: &'static str,
    pub message: String,
}

impl ContentError {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        ContentError { code, message: message.into() }
    }
}

impl fmt::Display for ContentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ContentError {}

impl From<ContentError> for ApiError {
    fn from(err: ContentError) -> Self {
        // A date the parser cannot read is a malformed request; everything else is well-formed
        // content that cannot be published as it stands.
        let status = if err.code == "invalid_scheduled_at" { 400 } else { 422 };
        ApiError::new(status, err.code, err.message)
    }
}

/// A letter, digit or underscore, of any script.
fn is_word_char(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// jsonb (hence `payload_json`) cannot hold U+0000: the insert would fail in the database.
fn reject_nul(text: &str) -> Result<(), ContentError> {
    if text.contains('\0') {
        Err(ContentError::new("invalid_text", "The text must not contain NUL characters (U+0000)"))
    } else {
        Ok(())
    }
}

/// Bad input quoted in a message: control characters removed, at most [`EXCERPT_CHARS`].
fn excerpt(input: &str) -> String {
    let mut chars = input.chars().filter(|c| !c.is_control());
    let mut out: String = chars.by_ref().take(EXCERPT_CHARS).collect();
    if chars.next().is_some() {
        out.push('…');
    }
    out
}

/// `63206` as `63,206`, matching the limits quoted next to it.
fn grouped(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// An Instagram caption within Instagram's limits. Empty is allowed: the image goes out alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caption(String);

impl Caption {
    /// Characters are Unicode scalar values, so an emoji counts once, as Instagram counts it.
    ///
    /// A hashtag is `#` followed by a word character (letter, digit or `_` of any script),
    /// wherever it stands: counting `a#b` too errs toward a clear error here rather than a
    /// rejection from Meta. A mention is `@` followed by a word character at the start or after
    /// a non-word character, so e-mail addresses (`a@b.com`) are not mentions.
    pub fn parse(text: &str) -> Result<Caption, ContentError> {
        reject_nul(text)?;
        let chars = text.chars().count();
        if chars > CAPTION_MAX_CHARS {
            return Err(ContentError::new(
                "caption_too_long",
                format!("The Instagram caption has {} characters; Instagram allows at most 2,200", grouped(chars)),
            ));
        }
        let (hashtags, mentions) = count_tags(text);
        if hashtags > CAPTION_MAX_HASHTAGS {
            return Err(ContentError::new(
                "too_many_hashtags",
                format!("The Instagram caption has {hashtags} hashtags; Instagram allows at most 30"),
            ));
        }
        if mentions > CAPTION_MAX_MENTIONS {
            return Err(ContentError::new(
                "too_many_mentions",
                format!("The Instagram caption has {mentions} @mentions; Instagram allows at most 20"),
            ));
        }
        Ok(Caption(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// (hashtags, mentions) as [`Caption::parse`] defines them.
fn count_tags(text: &str) -> (usize, usize) {
    let (mut hashtags, mut mentions) = (0, 0);
    let mut previous: Option<char> = None;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let word_follows = chars.peek().is_some_and(|&next| is_word_char(next));
        match c {
            '#' if word_follows => hashtags += 1,
            '@' if word_follows && !previous.is_some_and(is_word_char) => mentions += 1,
            _ => {}
        }
        previous = Some(c);
    }
    (hashtags, mentions)
}

/// The text of a Facebook post: not blank, within Facebook's limit, kept exactly as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostText(String);

impl PostText {
    /// `Ok(None)` for empty or whitespace-only text, which counts as no text: forms send `""`
    /// for a field left empty.
    pub fn parse(text: &str) -> Result<Option<PostText>, ContentError> {
        if text.trim().is_empty() {
            return Ok(None);
        }
        reject_nul(text)?;
        let chars = text.chars().count();
        if chars > POST_TEXT_MAX_CHARS {
            return Err(ContentError::new(
                "text_too_long",
                format!("The text has {} characters; Facebook allows at most 63,206", grouped(chars)),
            ));
        }
        Ok(Some(PostText(text.to_owned())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An absolute web URL with a host and no credentials, at most [`URL_MAX_CHARS`] as given and
/// once encoded. Credentials are refused for links too: a post would publish them.
fn web_url(raw: &str, field: &str, code: &'static str, https_only: bool) -> Result<Url, ContentError> {
    let raw = raw.trim();
    let too_long = || ContentError::new(code, format!("{field} must be at most 2,000 characters"));
    if raw.chars().count() > URL_MAX_CHARS {
        return Err(too_long());
    }
    let example = if https_only { "https://example.com/photo.jpg" } else { "https://example.com/page" };
    let url = Url::parse(raw).map_err(|_| {
        ContentError::new(code, format!("{field} must be an absolute URL such as {example} (got \"{}\")", excerpt(raw)))
    })?;
    // Before anything that quotes the URL back: it holds a password.
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ContentError::new(code, format!("{field} must not contain a user name or password")));
    }
    let scheme_ok = match url.scheme() {
        "https" => true,
        "http" => !https_only,
        _ => false,
    };
    if !scheme_ok {
        let message = if https_only {
            format!(
                "{field} must be an https URL, because Meta downloads the image itself and requires HTTPS (got \"{}\")",
                excerpt(raw)
            )
        } else {
            format!("{field} must be an http or https URL (got \"{}\")", excerpt(raw))
        };
        return Err(ContentError::new(code, message));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(ContentError::new(code, format!("{field} must name a host (got \"{}\")", excerpt(raw))));
    }
    // Encoding can lengthen a URL (non-ASCII paths become %XX); Meta receives the encoded form.
    if url.as_str().len() > URL_MAX_CHARS {
        return Err(too_long());
    }
    Ok(url)
}

/// The image Meta downloads for a photo post: public HTTPS, so absolute, with a host, without
/// credentials, at most 2,000 characters. Held in its encoded (WHATWG) form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageUrl(Url);

impl ImageUrl {
    pub fn parse(raw: &str) -> Result<ImageUrl, ContentError> {
        web_url(raw, "image_url", "invalid_image_url", true).map(ImageUrl)
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    pub fn url(&self) -> &Url {
        &self.0
    }
}

/// A link for a Facebook post: absolute http or https, with a host, without credentials, at most
/// 2,000 characters. Held in its encoded (WHATWG) form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link(Url);

impl Link {
    pub fn parse(raw: &str) -> Result<Link, ContentError> {
        web_url(raw, "link", "invalid_link", false).map(Link)
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    pub fn url(&self) -> &Url {
        &self.0
    }
}

/// An instant given as ISO 8601 with an explicit offset, held as UTC Unix seconds between
/// 1970-01-01T00:00:00Z and 9999-12-31T23:59:59Z.
///
/// Accepted: `YYYY-MM-DDThh:mm[:ss[.fff…]]` then `Z` or `±hh:mm` (offsets up to ±23:59), with `t`
/// and `z` also in lower case. Seconds may be left out (ISO 8601 allows it, and browsers' time
/// inputs do it); fractions are dropped, since posts are scheduled to the second. Without an
/// offset the instant would depend on whose clock reads it, so it is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ScheduledAt(i64);

impl ScheduledAt {
    pub fn parse(input: &str) -> Result<ScheduledAt, ContentError> {
        let shape = || {
            ContentError::new("invalid_scheduled_at", "scheduled_at must be ISO 8601 with an offset, e.g. 2026-12-03T10:00:00Z")
        };
        let mut cursor = Cursor(input.trim().as_bytes());
        let year = cursor.digits(4).ok_or_else(shape)?;
        cursor.expect(b"-").ok_or_else(shape)?;
        let month = cursor.digits(2).ok_or_else(shape)?;
        cursor.expect(b"-").ok_or_else(shape)?;
        let day = cursor.digits(2).ok_or_else(shape)?;
        cursor.expect(b"Tt").ok_or_else(shape)?;
        let hour = cursor.digits(2).ok_or_else(shape)?;
        cursor.expect(b":").ok_or_else(shape)?;
        let minute = cursor.digits(2).ok_or_else(shape)?;
        let mut second = 0;
        if cursor.expect(b":").is_some() {
            second = cursor.digits(2).ok_or_else(shape)?;
            if cursor.expect(b".").is_some() && cursor.skip_digits() == 0 {
                return Err(shape());
            }
        }
        let offset_seconds = match cursor.next() {
            None => {
                return Err(ContentError::new(
                    "invalid_scheduled_at",
                    "scheduled_at must include an offset (Z or +hh:mm), e.g. 2026-12-03T10:00:00Z",
                ))
            }
            Some(b'Z' | b'z') => 0,
            Some(sign @ (b'+' | b'-')) => {
                let hours = cursor.digits(2).ok_or_else(shape)?;
                cursor.expect(b":").ok_or_else(shape)?;
                let minutes = cursor.digits(2).ok_or_else(shape)?;
                if hours > 23 || minutes > 59 {
                    return Err(ContentError::new(
                        "invalid_scheduled_at",
                        "The offset of scheduled_at must be between -23:59 and +23:59",
                    ));
                }
                let magnitude = hours * 3_600 + minutes * 60;
                if sign == b'-' {
                    -magnitude
                } else {
                    magnitude
                }
            }
            Some(_) => return Err(shape()),
        };
        if !cursor.0.is_empty() {
            return Err(shape());
        }
        let real = (1..=12).contains(&month)
            && (1..=days_in_month(year, month)).contains(&day)
            && hour <= 23
            && minute <= 59
            && second <= 59;
        if !real {
            return Err(ContentError::new(
                "invalid_scheduled_at",
                "scheduled_at is not a real date and time: check the month, day, hours, minutes and seconds",
            ));
        }
        let local = days_from_civil(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second;
        let utc = local - offset_seconds;
        if !(0..UNIX_YEAR_10000).contains(&utc) {
            return Err(ContentError::new(
                "invalid_scheduled_at",
                "scheduled_at must fall between 1970-01-01T00:00:00Z and 9999-12-31T23:59:59Z",
            ));
        }
        Ok(ScheduledAt(utc))
    }

    pub fn unix_seconds(self) -> i64 {
        self.0
    }

    /// `2026-12-03T10:00:00Z`.
    pub fn rfc3339_utc(self) -> String {
        // Never negative: parse refuses instants before 1970.
        clock::rfc3339(self.0.unsigned_abs())
    }
}

/// What is left of the input while [`ScheduledAt::parse`] reads it.
struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn next(&mut self) -> Option<u8> {
        let (&first, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(first)
    }

    /// One byte out of `allowed`.
    fn expect(&mut self, allowed: &[u8]) -> Option<()> {
        let (&first, rest) = self.0.split_first()?;
        allowed.contains(&first).then(|| self.0 = rest)
    }

    /// Exactly `count` ASCII digits as a number.
    fn digits(&mut self, count: usize) -> Option<i64> {
        let taken = self.0.get(..count)?;
        if !taken.iter().all(u8::is_ascii_digit) {
            return None;
        }
        self.0 = &self.0[count..];
        Some(taken.iter().fold(0, |n, &d| n * 10 + i64::from(d - b'0')))
    }

    /// Skips a run of digits; returns how many.
    fn skip_digits(&mut self) -> usize {
        let run = self.0.iter().take_while(|b| b.is_ascii_digit()).count();
        self.0 = &self.0[run..];
        run
    }
}

fn days_in_month(year: i64, month: i64) -> i64 {
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 (Howard Hinnant's days-from-civil, the inverse of `clock::rfc3339`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The Graph call a job's Facebook target makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FacebookPost {
    /// `POST /{page-id}/feed`.
    Feed { message: Option<String>, link: Option<String> },
    /// `POST /{page-id}/photos`.
    Photo { url: String, caption: Option<String> },
}

/// A job's content, valid for the job's targets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Content {
    text: Option<PostText>,
    link: Option<Link>,
    image: Option<ImageUrl>,
    /// Present exactly when Instagram is a target.
    caption: Option<Caption>,
}

impl Content {
    /// Reads a version-1 payload for `targets`. Never panics, whatever the JSON: rows inserted by
    /// the host app reach this unchecked. `null` and blank strings count as absent; unknown keys
    /// are ignored. With no targets, only the rules of each field apply.
    pub fn from_payload(payload: &Value, targets: &[Target]) -> Result<Content, ContentError> {
        let Some(object) = payload.as_object() else {
            return Err(ContentError::new("invalid_payload", "The job's payload must be a JSON object"));
        };
        // `1.0` is the number 1 too; a database or another client may write it that way.
        if object.get("version").and_then(Value::as_f64) != Some(1.0) {
            return Err(ContentError::new(
                "unsupported_payload_version",
                "The job's payload must have \"version\": 1, the only version this service reads",
            ));
        }
        let text = string_field(object, "text")?;
        let link = string_field(object, "link")?;
        let image = string_field(object, "image_url")?;
        let instagram = targets.contains(&Target::Instagram);
        let facebook = targets.contains(&Target::Facebook);

        // The caption first: its limits are the tighter ones, and its error names Instagram.
        let caption = if instagram { Some(Caption::parse(text.unwrap_or(""))?) } else { None };
        let text = text.map(PostText::parse).transpose()?.flatten();
        let link = link.map(Link::parse).transpose()?;
        let image = image.map(ImageUrl::parse).transpose()?;

        if facebook && text.is_none() && link.is_none() && image.is_none() {
            return Err(ContentError::new("facebook_needs_content", "A Facebook post needs text, a link or an image_url"));
        }
        if instagram && image.is_none() {
            return Err(ContentError::new(
                "instagram_needs_image",
                "An Instagram post needs an image_url: Instagram does not publish text-only posts",
            ));
        }
        let content = Content { text, link, image, caption };
        if facebook {
            // A photo's caption carries the link as well; the sum must fit Facebook's limit.
            if let FacebookPost::Photo { caption: Some(caption), .. } = content.facebook_post() {
                let chars = caption.chars().count();
                if chars > POST_TEXT_MAX_CHARS {
                    return Err(ContentError::new(
                        "text_too_long",
                        format!(
                            "The text and link make a photo caption of {} characters; Facebook allows at most 63,206",
                            grouped(chars)
                        ),
                    ));
                }
            }
        }
        Ok(content)
    }

    pub fn text(&self) -> Option<&str> {
        self.text.as_ref().map(PostText::as_str)
    }

    pub fn link(&self) -> Option<&Link> {
        self.link.as_ref()
    }

    pub fn image(&self) -> Option<&ImageUrl> {
        self.image.as_ref()
    }

    /// The Instagram caption (possibly empty), present exactly when Instagram is a target.
    pub fn caption(&self) -> Option<&Caption> {
        self.caption.as_ref()
    }

    /// The Facebook call for this content: a photo when there is an image, else a feed post.
    /// `/photos` has no link field, so the link goes into the caption, on its own paragraph.
    pub fn facebook_post(&self) -> FacebookPost {
        let text = self.text();
        let link = self.link.as_ref().map(Link::as_str);
        match &self.image {
            Some(image) => {
                let caption = match (text, link) {
                    (Some(text), Some(link)) => Some(format!("{}\n\n{link}", text.trim_end())),
                    (Some(text), None) => Some(text.to_owned()),
                    (None, Some(link)) => Some(link.to_owned()),
                    (None, None) => None,
                };
                FacebookPost::Photo { url: image.as_str().to_owned(), caption }
            }
            None => FacebookPost::Feed { message: text.map(str::to_owned), link: link.map(str::to_owned) },
        }
    }

    /// The canonical version-1 payload: only the fields present, URLs in encoded form.
    pub fn to_payload(&self) -> Value {
        let mut object = Map::new();
        object.insert("version".into(), Value::from(1));
        if let Some(text) = self.text() {
            object.insert("text".into(), Value::from(text));
        }
        if let Some(link) = &self.link {
            object.insert("link".into(), Value::from(link.as_str()));
        }
        if let Some(image) = &self.image {
            object.insert("image_url".into(), Value::from(image.as_str()));
        }
        Value::Object(object)
    }

    /// An upper bound on the payload's size as jsonb.
    fn stored_bytes(&self) -> usize {
        let text = self.text().map_or(0, str::len);
        let link = self.link.as_ref().map_or(0, |link| link.as_str().len());
        let image = self.image.as_ref().map_or(0, |image| image.as_str().len());
        text + link + image + PAYLOAD_OVERHEAD_BYTES
    }
}

/// A payload field: absent, `null` or a blank string is `None`.
fn string_field<'a>(object: &'a Map<String, Value>, name: &'static str) -> Result<Option<&'a str>, ContentError> {
    match object.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(value)) if value.trim().is_empty() => Ok(None),
        Some(Value::String(value)) => Ok(Some(value)),
        Some(_) => Err(ContentError::new("invalid_payload", format!("The payload's {name} must be a string"))),
    }
}

/// The body of `POST /api/publish/jobs`, checked:
/// `{workspace_id, scheduled_at, targets, content: {text?, link?, image_url?}, idempotency_key?}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRequest {
    workspace_id: String,
    scheduled_at: ScheduledAt,
    targets: Vec<Target>,
    content: Content,
    idempotency_key: Option<String>,
}

impl JobRequest {
    /// Shape problems of the request are 400s (`invalid_request`, `invalid_scheduled_at`,
    /// `invalid_targets`) and are all reported before content that cannot be published (422,
    /// see [`Content::from_payload`]). Unknown keys are ignored. Never panics.
    pub fn parse(body: &Value) -> Result<JobRequest, ApiError> {
        let invalid = |message: &str| ApiError::new(400, "invalid_request", message);
        let Some(body) = body.as_object() else {
            return Err(invalid("The request body must be a JSON object"));
        };
        let workspace_id = access::workspace_id(body.get("workspace_id").and_then(Value::as_str))?;

        let scheduled_at = match body.get("scheduled_at") {
            None | Some(Value::Null) => return Err(invalid("scheduled_at is required, e.g. 2026-12-03T10:00:00Z")),
            Some(Value::String(value)) => ScheduledAt::parse(value)?,
            Some(_) => {
                return Err(ApiError::new(
                    400,
                    "invalid_scheduled_at",
                    "scheduled_at must be a string in ISO 8601 with an offset, e.g. 2026-12-03T10:00:00Z",
                ))
            }
        };

        let targets = targets(body.get("targets"))?;

        let content = match body.get("content") {
            None | Some(Value::Null) => return Err(invalid("content is required: an object with text, link and/or image_url")),
            Some(Value::Object(content)) => content,
            Some(_) => return Err(invalid("content must be an object with text, link and/or image_url")),
        };
        let mut payload = Map::new();
        payload.insert("version".into(), Value::from(1));
        for name in ["text", "link", "image_url"] {
            match content.get(name) {
                None | Some(Value::Null) => {}
                Some(value @ Value::String(_)) => {
                    payload.insert(name.into(), value.clone());
                }
                Some(_) => return Err(invalid(&format!("content.{name} must be a string"))),
            }
        }

        let idempotency_key = match body.get("idempotency_key") {
            None | Some(Value::Null) => None,
            Some(Value::String(key))
                if (1..=IDEMPOTENCY_KEY_MAX_CHARS).contains(&key.chars().count()) && !key.chars().any(char::is_control) =>
            {
                Some(key.clone())
            }
            Some(_) => return Err(invalid("idempotency_key must be a string of 1 to 200 characters without control characters")),
        };

        let content = Content::from_payload(&Value::Object(payload), &targets)?;
        if content.stored_bytes() > PAYLOAD_MAX_BYTES {
            return Err(ApiError::new(
                422,
                "content_too_large",
                "The text, link and image_url together must stay under 64 KiB (UTF-8)",
            ));
        }
        Ok(JobRequest { workspace_id, scheduled_at, targets, content, idempotency_key })
    }

    /// Lower-case UUID.
    pub fn workspace_id(&self) -> &str {
        &self.workspace_id
    }

    pub fn scheduled_at(&self) -> ScheduledAt {
        self.scheduled_at
    }

    /// Non-empty, no duplicates, Facebook first.
    pub fn targets(&self) -> &[Target] {
        &self.targets
    }

    pub fn content(&self) -> &Content {
        &self.content
    }

    pub fn idempotency_key(&self) -> Option<&str> {
        self.idempotency_key.as_deref()
    }

    /// The canonical version-1 payload to store in `publish_jobs.payload_json`.
    pub fn payload_json(&self) -> Value {
        self.content.to_payload()
    }

    /// The row to insert; `created_by` is the caller's user id.
    pub fn into_new_job(self, created_by: Option<String>) -> NewJob {
        NewJob {
            payload_json: self.content.to_payload(),
            scheduled_at: self.scheduled_at.rfc3339_utc(),
            workspace_id: self.workspace_id,
            targets: self.targets,
            idempotency_key: self.idempotency_key,
            created_by,
        }
    }
}

/// `targets`: a non-empty list of known, distinct targets, returned Facebook first.
fn targets(value: Option<&Value>) -> Result<Vec<Target>, ApiError> {
    let invalid = || {
        ApiError::new(
            400,
            "invalid_targets",
            "targets must be a non-empty list of distinct targets: \"facebook\" and/or \"instagram\"",
        )
    };
    let list = value.and_then(Value::as_array).filter(|list| !list.is_empty()).ok_or_else(invalid)?;
    let mut targets = Vec::with_capacity(2);
    for item in list {
        let target = match item.as_str() {
            Some("facebook") => Target::Facebook,
            Some("instagram") => Target::Instagram,
            _ => return Err(invalid()),
        };
        if targets.contains(&target) {
            return Err(invalid());
        }
        targets.push(target);
    }
    targets.sort();
    Ok(targets)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const FB: &[Target] = &[Target::Facebook];
    const IG: &[Target] = &[Target::Instagram];
    const BOTH: &[Target] = &[Target::Facebook, Target::Instagram];
    const WORKSPACE: &str = "0b731c9c-1652-4133-a69d-76fd764117a1";
    const IMAGE: &str = "https://cdn.example.com/p/1.jpg";

    fn code<T: fmt::Debug>(result: Result<T, ContentError>) -> &'static str {
        result.unwrap_err().code
    }

    fn tags(prefix: char, count: usize) -> String {
        (0..count).map(|i| format!("{prefix}tag{i}")).collect::<Vec<_>>().join(" ")
    }

    // --- Caption ---

    #[test]
    fn caption_length_counts_characters_not_bytes() {
        assert_eq!(Caption::parse(&"a".repeat(2_200)).unwrap().as_str().len(), 2_200);
        assert_eq!(code(Caption::parse(&"a".repeat(2_201))), "caption_too_long");
        // Four bytes each, one character each.
        assert!(Caption::parse(&"😀".repeat(2_200)).is_ok());
        let err = Caption::parse(&"😀".repeat(2_201)).unwrap_err();
        assert_eq!(err.code, "caption_too_long");
        assert!(err.message.contains("2,201") && err.message.contains("2,200"), "{}", err.message);
        assert!(Caption::parse("").unwrap().is_empty());
    }

    #[test]
    fn caption_allows_thirty_hashtags() {
        assert!(Caption::parse(&tags('#', 30)).is_ok());
        let err = Caption::parse(&tags('#', 31)).unwrap_err();
        assert_eq!(err.code, "too_many_hashtags");
        assert!(err.message.contains("31"), "{}", err.message);
    }

    #[test]
    fn caption_allows_twenty_mentions() {
        assert!(Caption::parse(&tags('@', 20)).is_ok());
        let err = Caption::parse(&tags('@', 21)).unwrap_err();
        assert_eq!(err.code, "too_many_mentions");
        assert!(err.message.contains("21"), "{}", err.message);
    }

    #[test]
    fn what_counts_as_a_hashtag_or_a_mention() {
        for (text, expected) in [
            ("#", (0, 0)),
            ("# tag", (0, 0)),
            ("C# and F#!", (0, 0)),
            ("##tag", (1, 0)),
            ("#tag#two", (2, 0)),
            ("a#b", (1, 0)),
            ("#café #日本 #_ #2026", (4, 0)),
            ("@", (0, 0)),
            ("@ user", (0, 0)),
            ("@user", (0, 1)),
            ("(@user), @über", (0, 2)),
            ("write to a@b.com or ab_c@d.org", (0, 0)),
            ("@@user", (0, 1)),
        ] {
            assert_eq!(count_tags(text), expected, "{text:?}");
        }
        // E-mail addresses never hit the mention limit.
        let emails = (0..25).map(|i| format!("u{i}@example.com")).collect::<Vec<_>>().join(" ");
        assert!(Caption::parse(&emails).is_ok());
        // A lone `#` does not count towards the hashtag limit.
        assert!(Caption::parse(&format!("{} # # #", tags('#', 30))).is_ok());
    }

    #[test]
    fn counts_are_grouped_like_the_limits() {
        for (n, text) in [(0, "0"), (999, "999"), (2_201, "2,201"), (63_207, "63,207"), (1_234_567, "1,234,567")] {
            assert_eq!(grouped(n), text);
        }
    }

    // --- Text ---

    #[test]
    fn post_text_is_kept_as_written_and_blank_is_absent() {
        assert_eq!(PostText::parse("  hi \n").unwrap().unwrap().as_str(), "  hi \n");
        assert_eq!(PostText::parse("").unwrap(), None);
        assert_eq!(PostText::parse(" \n\t ").unwrap(), None);
        assert!(PostText::parse(&"é".repeat(63_206)).unwrap().is_some());
        let err = PostText::parse(&"é".repeat(63_207)).unwrap_err();
        assert_eq!(err.code, "text_too_long");
        assert!(err.message.contains("63,207") && err.message.contains("63,206"), "{}", err.message);
        assert_eq!(code(PostText::parse("a\0b")), "invalid_text");
        assert_eq!(code(Caption::parse("a\0b")), "invalid_text");
    }

    // --- URLs ---

    #[test]
    fn image_urls_must_be_https_with_a_host_and_no_credentials() {
        let image = ImageUrl::parse(" https://cdn.example.com/a b.jpg?x=1 ").unwrap();
        assert_eq!(image.as_str(), "https://cdn.example.com/a%20b.jpg?x=1");
        assert_eq!(image.url().host_str(), Some("cdn.example.com"));

        let http = ImageUrl::parse("http://cdn.example.com/a.jpg").unwrap_err();
        assert_eq!(http.code, "invalid_image_url");
        assert!(http.message.contains("https") && http.message.contains("http://cdn.example.com/a.jpg"));

        let secret = ImageUrl::parse("https://user:hunter2@cdn.example.com/a.jpg").unwrap_err();
        assert_eq!(secret.code, "invalid_image_url");
        assert!(!secret.message.contains("hunter2"), "{}", secret.message);
        assert_eq!(code(ImageUrl::parse("https://user@cdn.example.com/a.jpg")), "invalid_image_url");
        // The password is not echoed even when the scheme is wrong too.
        assert!(!ImageUrl::parse("ftp://u:hunter2@h/a.jpg").unwrap_err().message.contains("hunter2"));

        for bad in [
            "/a.jpg",
            "cdn.example.com/a.jpg",
            "",
            "https://",
            "ftp://cdn.example.com/a.jpg",
            "data:image/png;base64,AA",
            "file:///etc/passwd",
        ] {
            assert_eq!(code(ImageUrl::parse(bad)), "invalid_image_url", "{bad:?}");
        }
    }

    #[test]
    fn urls_are_at_most_two_thousand_characters() {
        let base = "https://cdn.example.com/";
        let at_limit = format!("{base}{}", "a".repeat(2_000 - base.len()));
        assert!(ImageUrl::parse(&at_limit).is_ok());
        assert!(Link::parse(&at_limit).is_ok());
        let over = format!("{at_limit}a");
        assert_eq!(code(ImageUrl::parse(&over)), "invalid_image_url");
        assert_eq!(code(Link::parse(&over)), "invalid_link");
        // 1,000 characters that become 6,000 once percent-encoded.
        assert_eq!(code(Link::parse(&format!("{base}{}", "é".repeat(1_000)))), "invalid_link");
    }

    #[test]
    fn messages_quote_at_most_a_clean_excerpt() {
        let garbage = format!("\u{7}not a url {}", "x".repeat(1_500));
        let err = ImageUrl::parse(&garbage).unwrap_err();
        assert!(err.message.len() < 300, "{}", err.message.len());
        assert!(!err.message.chars().any(char::is_control));
        assert!(err.message.contains("not a url"));
        let err = Link::parse("mailto:\u{1b}[31mx@example.com").unwrap_err();
        assert!(!err.message.chars().any(char::is_control), "{}", err.message);
    }

    #[test]
    fn links_are_http_or_https() {
        assert_eq!(Link::parse("http://example.com").unwrap().as_str(), "http://example.com/");
        assert_eq!(Link::parse("https://example.com/a?b#c").unwrap().as_str(), "https://example.com/a?b#c");
        assert_eq!(Link::parse("https://EXAMPLE.com").unwrap().url().host_str(), Some("example.com"));
        for bad in ["mailto:a@example.com", "javascript:alert(1)", "ftp://example.com", "example.com", "https://u:p@example.com"]
        {
            assert_eq!(code(Link::parse(bad)), "invalid_link", "{bad:?}");
        }
    }

    // --- ScheduledAt ---

    fn utc(input: &str) -> String {
        ScheduledAt::parse(input).unwrap().rfc3339_utc()
    }

    #[test]
    fn scheduled_at_converts_offsets_to_utc() {
        assert_eq!(utc("2026-12-03T10:00:00Z"), "2026-12-03T10:00:00Z");
        assert_eq!(ScheduledAt::parse("2026-12-03T10:00:00Z").unwrap().unix_seconds(), 1_796_292_000);
        assert_eq!(utc("2026-12-03T12:30:00+02:30"), "2026-12-03T10:00:00Z");
        assert_eq!(utc("2026-12-03t10:00:00z"), "2026-12-03T10:00:00Z");
        assert_eq!(utc("2026-12-03T10:00:00-00:00"), "2026-12-03T10:00:00Z");
        assert_eq!(utc("2026-12-31T22:00:00-05:00"), "2027-01-01T03:00:00Z");
        assert_eq!(utc("2026-11-30T20:15:00-05:00"), "2026-12-01T01:15:00Z");
        assert_eq!(utc("2027-01-01T01:00:00+23:59"), "2026-12-31T01:01:00Z");
        assert_eq!(utc("2026-12-03T10:00Z"), "2026-12-03T10:00:00Z");
        assert_eq!(utc("1970-01-01T00:00:00Z"), "1970-01-01T00:00:00Z");
        assert_eq!(utc("9999-12-31T23:59:59Z"), "9999-12-31T23:59:59Z");
    }

    #[test]
    fn scheduled_at_truncates_fractional_seconds() {
        assert_eq!(utc("2026-12-03T10:00:00.999Z"), "2026-12-03T10:00:00Z");
        assert_eq!(utc("2026-12-03T10:00:59.123456789+01:00"), "2026-12-03T09:00:59Z");
        assert!(ScheduledAt::parse("2026-12-03T10:00:00.Z").is_err());
    }

    #[test]
    fn scheduled_at_checks_the_calendar() {
        assert_eq!(utc("2028-02-29T00:00:00Z"), "2028-02-29T00:00:00Z");
        assert_eq!(utc("2000-02-29T00:00:00Z"), "2000-02-29T00:00:00Z");
        for bad in [
            "2027-02-29T00:00:00Z",
            "2100-02-29T00:00:00Z",
            "2026-04-31T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-00-10T00:00:00Z",
            "2026-12-00T00:00:00Z",
            "2026-12-03T24:00:00Z",
            "2026-12-03T10:60:00Z",
            "2026-12-03T10:00:60Z",
            "2026-12-03T10:00:00+24:00",
            "2026-12-03T10:00:00+02:60",
        ] {
            assert_eq!(code(ScheduledAt::parse(bad)), "invalid_scheduled_at", "{bad:?}");
        }
    }

    #[test]
    fn scheduled_at_needs_an_offset_and_a_sane_shape() {
        let err = ScheduledAt::parse("2026-12-03T10:00:00").unwrap_err();
        assert_eq!(err.code, "invalid_scheduled_at");
        assert!(err.message.contains("offset") && err.message.contains("2026-12-03T10:00:00Z"), "{}", err.message);
        assert_eq!(code(ScheduledAt::parse("2026-12-03T10:00:00.5")), "invalid_scheduled_at");
        for bad in [
            "",
            "tomorrow",
            "2026-12-03",
            "2026-12-03 10:00:00Z",
            "2026-12-03T10:00:00+0200",
            "2026-12-03T10:00:00+02",
            "2026-12-03T10:00:00ZZ",
            "2026-12-03T10:00:00Z trailing",
            "26-12-03T10:00:00Z",
            "2026-1-03T10:00:00Z",
            "+2026-12-03T10:00:00Z",
            "２０２６-12-03T10:00:00Z",
            "1796292000",
        ] {
            let err = ScheduledAt::parse(bad).unwrap_err();
            assert_eq!(err.code, "invalid_scheduled_at", "{bad:?}");
            assert!(err.message.len() < 150);
        }
    }

    #[test]
    fn scheduled_at_stays_between_1970_and_9999_in_utc() {
        for bad in ["1969-12-31T23:59:59Z", "1970-01-01T00:30:00+01:00", "0000-01-01T00:00:00Z", "9999-12-31T23:00:00-05:00"] {
            assert_eq!(code(ScheduledAt::parse(bad)), "invalid_scheduled_at", "{bad:?}");
        }
        assert!(ScheduledAt::parse("2026-01-01T00:00:00Z").unwrap() < ScheduledAt::parse("2026-01-01T00:00:01Z").unwrap());
    }

    #[test]
    fn days_from_civil_inverts_the_clock() {
        for seconds in [0, 951_782_400, 1_796_288_625, 4_102_444_799, 253_402_300_799_u64] {
            let text = clock::rfc3339(seconds);
            assert_eq!(ScheduledAt::parse(&text).unwrap().unix_seconds(), seconds as i64, "{text}");
        }
    }

    // --- Content ---

    #[test]
    fn payload_must_be_a_version_one_object() {
        for bad in [json!(null), json!([]), json!("x"), json!(1)] {
            assert_eq!(code(Content::from_payload(&bad, FB)), "invalid_payload", "{bad}");
        }
        for bad in [
            json!({"text": "x"}),
            json!({"version": 2, "text": "x"}),
            json!({"version": "1", "text": "x"}),
            json!({"version": null, "text": "x"}),
            json!({"version": 1.5, "text": "x"}),
        ] {
            assert_eq!(code(Content::from_payload(&bad, FB)), "unsupported_payload_version", "{bad}");
        }
        assert!(Content::from_payload(&json!({"version": 1.0, "text": "x"}), FB).is_ok());
        for bad in [
            json!({"version": 1, "text": 5}),
            json!({"version": 1, "link": ["x"]}),
            json!({"version": 1, "text": "x", "image_url": {}}),
        ] {
            let err = Content::from_payload(&bad, FB).unwrap_err();
            assert_eq!(err.code, "invalid_payload", "{bad}");
        }
        let extra = Content::from_payload(&json!({"version": 1, "text": "x", "link": null, "extra": [1]}), FB).unwrap();
        assert_eq!(extra.text(), Some("x"));
        assert_eq!(extra.link(), None);
    }

    #[test]
    fn facebook_needs_text_a_link_or_an_image() {
        for empty in
            [json!({"version": 1}), json!({"version": 1, "text": "  \n"}), json!({"version": 1, "link": "", "image_url": " "})]
        {
            assert_eq!(code(Content::from_payload(&empty, FB)), "facebook_needs_content", "{empty}");
        }
        for enough in [
            json!({"version": 1, "text": "hi"}),
            json!({"version": 1, "link": "https://example.com"}),
            json!({"version": 1, "image_url": IMAGE}),
        ] {
            assert!(Content::from_payload(&enough, FB).is_ok(), "{enough}");
        }
        // Facebook alone does not apply Instagram's caption limits.
        let long = Content::from_payload(&json!({"version": 1, "text": tags('#', 40)}), FB).unwrap();
        assert_eq!(long.caption(), None);
        assert_eq!(code(Content::from_payload(&json!({"version": 1, "text": "a".repeat(63_207)}), FB)), "text_too_long");
    }

    #[test]
    fn instagram_needs_an_image_and_a_valid_caption() {
        for bad in [json!({"version": 1, "text": "hi"}), json!({"version": 1, "text": "hi", "link": "https://example.com"})] {
            assert_eq!(code(Content::from_payload(&bad, IG)), "instagram_needs_image");
            assert_eq!(code(Content::from_payload(&bad, BOTH)), "instagram_needs_image");
        }
        let bare = Content::from_payload(&json!({"version": 1, "image_url": IMAGE, "text": "  "}), IG).unwrap();
        assert_eq!(bare.caption().map(Caption::as_str), Some(""));
        assert_eq!(bare.text(), None);

        let with = |text: String| json!({"version": 1, "image_url": IMAGE, "text": text});
        assert_eq!(code(Content::from_payload(&with("a".repeat(2_201)), BOTH)), "caption_too_long");
        // Instagram's limit names the problem even where Facebook's would too.
        assert_eq!(code(Content::from_payload(&with("a".repeat(70_000)), IG)), "caption_too_long");
        assert_eq!(code(Content::from_payload(&with(tags('#', 31)), IG)), "too_many_hashtags");
        assert_eq!(code(Content::from_payload(&with(tags('@', 21)), IG)), "too_many_mentions");
        let ok = Content::from_payload(&with("Hello #rust @ferris".into()), BOTH).unwrap();
        assert_eq!(ok.caption().unwrap().as_str(), "Hello #rust @ferris");

        let http = json!({"version": 1, "image_url": "http://cdn.example.com/1.jpg"});
        let err = Content::from_payload(&http, IG).unwrap_err();
        assert_eq!(err.code, "invalid_image_url");
        assert!(err.message.contains("https"));
        let link = json!({"version": 1, "image_url": IMAGE, "link": "nope"});
        assert_eq!(code(Content::from_payload(&link, IG)), "invalid_link");
    }

    #[test]
    fn facebook_posts_map_to_feed_or_photo() {
        let post = |payload: Value| Content::from_payload(&payload, FB).unwrap().facebook_post();
        let feed = |message: Option<&str>, link: Option<&str>| FacebookPost::Feed {
            message: message.map(Into::into),
            link: link.map(Into::into),
        };
        let photo = |caption: Option<&str>| FacebookPost::Photo { url: IMAGE.into(), caption: caption.map(Into::into) };

        assert_eq!(post(json!({"version": 1, "text": "hi"})), feed(Some("hi"), None));
        assert_eq!(post(json!({"version": 1, "link": "https://example.com"})), feed(None, Some("https://example.com/")));
        assert_eq!(
            post(json!({"version": 1, "text": "hi", "link": "https://example.com/a"})),
            feed(Some("hi"), Some("https://example.com/a"))
        );
        assert_eq!(post(json!({"version": 1, "image_url": IMAGE})), photo(None));
        assert_eq!(post(json!({"version": 1, "image_url": IMAGE, "text": "hi"})), photo(Some("hi")));
        assert_eq!(
            post(json!({"version": 1, "image_url": IMAGE, "link": "https://example.com/a"})),
            photo(Some("https://example.com/a"))
        );
        assert_eq!(
            post(json!({"version": 1, "image_url": IMAGE, "text": "hi\n", "link": "https://example.com/a"})),
            photo(Some("hi\n\nhttps://example.com/a"))
        );
    }

    #[test]
    fn a_photo_caption_with_its_link_must_fit_facebooks_limit() {
        let link = "https://example.com/a";
        let payload = |chars: usize| json!({"version": 1, "image_url": IMAGE, "link": link, "text": "a".repeat(chars)});
        let fits = 63_206 - 2 - link.len();
        assert!(Content::from_payload(&payload(fits), FB).is_ok());
        assert_eq!(code(Content::from_payload(&payload(fits + 1), FB)), "text_too_long");
        // Without an image the link is a field of its own.
        let feed = json!({"version": 1, "link": link, "text": "a".repeat(63_206)});
        assert!(Content::from_payload(&feed, FB).is_ok());
    }

    #[test]
    fn to_payload_is_canonical_and_round_trips() {
        let content = Content::from_payload(
            &json!({"image_url": "https://CDN.example.com/a b.jpg", "extra": 1, "link": "", "text": "Hi #x", "version": 1}),
            BOTH,
        )
        .unwrap();
        let payload = content.to_payload();
        assert_eq!(
            serde_json::to_string(&payload).unwrap(),
            r#"{"version":1,"text":"Hi #x","image_url":"https://cdn.example.com/a%20b.jpg"}"#
        );
        assert_eq!(Content::from_payload(&payload, BOTH).unwrap(), content);
        assert_eq!(Content::from_payload(&json!({"version": 1, "text": " "}), &[]).unwrap().to_payload(), json!({"version": 1}));
    }

    #[test]
    fn content_errors_become_422s_and_dates_400s() {
        let err: ApiError = Caption::parse(&tags('#', 31)).unwrap_err().into();
        assert_eq!((err.status, err.code), (422, "too_many_hashtags"));
        let err: ApiError = ScheduledAt::parse("soon").unwrap_err().into();
        assert_eq!((err.status, err.code), (400, "invalid_scheduled_at"));
        assert!(ContentError::new("x", "y").to_string().contains("x: y"));
    }

    // --- JobRequest ---

    fn body() -> Value {
        json!({
            "workspace_id": WORKSPACE.to_uppercase(),
            "scheduled_at": "2026-12-03T12:30:00+02:30",
            "targets": ["instagram", "facebook"],
            "content": {"text": "Hello #rust", "link": "https://example.com/a", "image_url": IMAGE, "note": "ignored"},
            "idempotency_key": "post-42",
            "unknown": true
        })
    }

    fn with(change: impl FnOnce(&mut Map<String, Value>)) -> Value {
        let mut body = body();
        change(body.as_object_mut().unwrap());
        body
    }

    fn rejected(body: &Value) -> (u16, &'static str) {
        let err = JobRequest::parse(body).unwrap_err();
        assert!(!err.message.is_empty() && err.message.len() < 300, "{}", err.message);
        (err.status, err.code)
    }

    #[test]
    fn a_job_request_parses_into_checked_parts() {
        let request = JobRequest::parse(&body()).unwrap();
        assert_eq!(request.workspace_id(), WORKSPACE);
        assert_eq!(request.scheduled_at().rfc3339_utc(), "2026-12-03T10:00:00Z");
        assert_eq!(request.targets(), BOTH);
        assert_eq!(request.content().caption().unwrap().as_str(), "Hello #rust");
        assert_eq!(request.idempotency_key(), Some("post-42"));
        let payload = json!({"version": 1, "text": "Hello #rust", "link": "https://example.com/a", "image_url": IMAGE});
        assert_eq!(request.payload_json(), payload);

        let job = request.into_new_job(Some("user-1".into()));
        assert_eq!(job.workspace_id, WORKSPACE);
        assert_eq!(job.targets, BOTH);
        assert_eq!(job.payload_json, payload);
        assert_eq!(job.scheduled_at, "2026-12-03T10:00:00Z");
        assert_eq!(job.idempotency_key.as_deref(), Some("post-42"));
        assert_eq!(job.created_by.as_deref(), Some("user-1"));

        let minimal = json!({
            "workspace_id": WORKSPACE,
            "scheduled_at": "2026-12-03T10:00:00Z",
            "targets": ["facebook"],
            "content": {"text": "hi", "image_url": null},
            "idempotency_key": null
        });
        let minimal = JobRequest::parse(&minimal).unwrap();
        assert_eq!(minimal.idempotency_key(), None);
        assert_eq!(minimal.content().caption(), None);
        assert_eq!(minimal.payload_json(), json!({"version": 1, "text": "hi"}));
    }

    #[test]
    fn job_request_shape_problems_are_400s() {
        let invalid = (400, "invalid_request");
        assert_eq!(rejected(&json!([])), invalid);
        assert_eq!(rejected(&with(|b| drop(b.remove("workspace_id")))), invalid);
        assert_eq!(rejected(&with(|b| drop(b.insert("workspace_id".into(), json!("ws-1"))))), invalid);
        assert_eq!(rejected(&with(|b| drop(b.insert("workspace_id".into(), json!(7))))), invalid);

        assert_eq!(rejected(&with(|b| drop(b.remove("scheduled_at")))), invalid);
        assert_eq!(rejected(&with(|b| drop(b.insert("scheduled_at".into(), Value::Null)))), invalid);
        for bad in [json!("2026-12-03T10:00:00"), json!("soon"), json!(1_796_292_000), json!({})] {
            assert_eq!(rejected(&with(|b| drop(b.insert("scheduled_at".into(), bad)))), (400, "invalid_scheduled_at"));
        }

        for bad in [
            json!([]),
            json!(["facebook", "facebook"]),
            json!(["threads"]),
            json!(["Facebook"]),
            json!("facebook"),
            json!([1]),
            Value::Null,
        ] {
            assert_eq!(rejected(&with(|b| drop(b.insert("targets".into(), bad)))), (400, "invalid_targets"));
        }
        assert_eq!(rejected(&with(|b| drop(b.remove("targets")))), (400, "invalid_targets"));

        assert_eq!(rejected(&with(|b| drop(b.remove("content")))), invalid);
        assert_eq!(rejected(&with(|b| drop(b.insert("content".into(), json!("hi"))))), invalid);
        assert_eq!(rejected(&with(|b| drop(b.insert("content".into(), json!({"text": 1, "image_url": IMAGE}))))), invalid);

        for bad in [json!(""), json!("k".repeat(201)), json!("a\nb"), json!(42)] {
            assert_eq!(rejected(&with(|b| drop(b.insert("idempotency_key".into(), bad)))), invalid);
        }
        assert!(JobRequest::parse(&with(|b| drop(b.insert("idempotency_key".into(), json!("é".repeat(200)))))).is_ok());

        // Shape problems come before content problems.
        let both = with(|b| {
            b.insert("targets".into(), json!(["nope"]));
            b.insert("content".into(), json!({}));
        });
        assert_eq!(rejected(&both), (400, "invalid_targets"));
    }

    #[test]
    fn job_request_content_problems_are_422s() {
        let content = |content: Value| with(|b| drop(b.insert("content".into(), content)));
        assert_eq!(rejected(&content(json!({"text": "hi"}))), (422, "instagram_needs_image"));
        assert_eq!(rejected(&content(json!({"image_url": "http://x.example/a.jpg"}))), (422, "invalid_image_url"));
        assert_eq!(rejected(&content(json!({"image_url": IMAGE, "text": tags('@', 21)}))), (422, "too_many_mentions"));
        let facebook_only = with(|b| {
            b.insert("targets".into(), json!(["facebook"]));
            b.insert("content".into(), json!({"text": " "}));
        });
        assert_eq!(rejected(&facebook_only), (422, "facebook_needs_content"));
        // The table refuses payloads over 64 KiB; say so before the insert fails.
        let large = with(|b| {
            b.insert("targets".into(), json!(["facebook"]));
            b.insert("content".into(), json!({"text": "é".repeat(33_000)}));
        });
        assert_eq!(rejected(&large), (422, "content_too_large"));
    }

    #[test]
    fn odd_json_never_panics() {
        let huge = "x".repeat(200_000);
        let mut nested = json!("2026-12-03T10:00:00Z");
        for _ in 0..200 {
            nested = json!([{"text": nested, "version": 1}]);
        }
        let odd = [
            Value::Null,
            json!(true),
            json!(0),
            json!(-1),
            json!(1.0e308),
            json!(u64::MAX),
            json!(i64::MIN),
            json!(""),
            json!(huge),
            json!("\u{0}\u{7f}\u{202e}😀"),
            json!([]),
            json!({}),
            nested.clone(),
            json!(["facebook", "instagram", "facebook"]),
            json!({"text": 1, "link": 2, "image_url": 3}),
            json!(format!("https://{huge}")),
            json!("2026-02-30T25:61:61+99:99"),
            json!("9999-99-99T99:99:99.99999999999999999999Z"),
        ];
        for a in &odd {
            for version in [json!(1), a.clone()] {
                for field in ["text", "link", "image_url"] {
                    let payload = json!({"version": version, field: a});
                    for targets in [FB, IG, BOTH, &[][..]] {
                        let _ = Content::from_payload(&payload, targets);
                    }
                }
            }
            let _ = Content::from_payload(a, BOTH);
            let _ = JobRequest::parse(a);
            for key in ["workspace_id", "scheduled_at", "targets", "content", "idempotency_key"] {
                let _ = JobRequest::parse(&with(|b| drop(b.insert(key.into(), a.clone()))));
                let _ = JobRequest::parse(&with(|b| {
                    b.insert("content".into(), json!({"text": a, "link": a, "image_url": a}));
                    b.insert(key.into(), a.clone());
                }));
            }
            if let Some(text) = a.as_str() {
                let _ = ScheduledAt::parse(text);
                let _ = Caption::parse(text);
                let _ = ImageUrl::parse(text);
                let _ = Link::parse(text);
            }
        }
        for text in [
            "2026-12-03T10:00:00+",
            "2026-12-03T10:00:00+02:",
            "2026-12-03T10:00:",
            "2026-12-03T",
            "9",
            "2026-12-03T10:00:00.",
            "😀😀😀😀-12-03T10:00:00Z",
        ] {
            assert!(ScheduledAt::parse(text).is_err(), "{text:?}");
        }
    }
}
