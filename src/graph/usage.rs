//! Rate-limit headers: how close the app (`X-App-Usage`) and the Page or Instagram account
//! (`X-Business-Use-Case-Usage`) are to Graph's limits, and how long Graph says to wait.
//!
//! The publish pass slows down before 100 % and, once throttled, waits at least
//! `estimated_time_to_regain_access`.

use serde_json::Value;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// The highest percentage reported (call count, CPU time or total time), app or business.
    pub max_percent: Option<u32>,
    /// `estimated_time_to_regain_access`, in minutes, when Graph sent one above zero.
    pub regain_access_minutes: Option<u32>,
}

/// Above this, the pass stops sending to the object (or, for the app's own usage, everywhere).
pub const SLOW_DOWN_PERCENT: u32 = 90;

impl Usage {
    pub fn from_headers(app_usage: Option<&str>, business_usage: Option<&str>) -> Usage {
        let mut usage = Usage::default();
        if let Some(Value::Object(app)) = app_usage.and_then(|text| serde_json::from_str(text).ok()) {
            usage.note(&app);
        }
        if let Some(Value::Object(objects)) = business_usage.and_then(|text| serde_json::from_str(text).ok()) {
            for entries in objects.values() {
                for entry in entries.as_array().into_iter().flatten() {
                    if let Value::Object(entry) = entry {
                        usage.note(entry);
                    }
                }
            }
        }
        usage
    }

    fn note(&mut self, fields: &serde_json::Map<String, Value>) {
        for key in ["call_count", "total_cputime", "total_time"] {
            if let Some(percent) = fields.get(key).and_then(number) {
                self.max_percent = Some(self.max_percent.unwrap_or(0).max(percent));
            }
        }
        if let Some(minutes) = fields.get("estimated_time_to_regain_access").and_then(number).filter(|m| *m > 0) {
            self.regain_access_minutes = Some(self.regain_access_minutes.unwrap_or(0).max(minutes));
        }
    }

    /// Whether the pass should stop sending more calls this way for now.
    pub fn near_limit(&self) -> bool {
        self.max_percent.is_some_and(|p| p >= SLOW_DOWN_PERCENT) || self.regain_access_minutes.is_some()
    }
}

/// Graph sends these as numbers, occasionally as numeric strings; bounded to sane values.
fn number(value: &Value) -> Option<u32> {
    let n = match value {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    (n.is_finite() && n >= 0.0).then(|| n.min(100_000.0) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_highest_figure_of_either_header() {
        let usage = Usage::from_headers(Some(r#"{"call_count":12,"total_cputime":40,"total_time":7}"#), None);
        assert_eq!(usage, Usage { max_percent: Some(40), regain_access_minutes: None });
        assert!(!usage.near_limit());
        let business = r#"{"1000000000000201":[{"type":"pages","call_count":95,"total_cputime":10,"total_time":12,
            "estimated_time_to_regain_access":0}],"17841400000000301":[{"type":"instagram","call_count":"20",
            "estimated_time_to_regain_access":7}]}"#;
        let usage = Usage::from_headers(Some(r#"{"call_count":3}"#), Some(business));
        assert_eq!(usage, Usage { max_percent: Some(95), regain_access_minutes: Some(7) });
        assert!(usage.near_limit());
    }

    #[test]
    fn malformed_headers_mean_nothing_known() {
        for text in ["", "nope", "[]", "{\"call_count\":-4}", "{\"call_count\":\"x\"}", "{\"a\":{\"b\":1}}"] {
            assert_eq!(Usage::from_headers(Some(text), Some(text)), Usage::default(), "{text}");
        }
        assert_eq!(Usage::from_headers(None, None), Usage::default());
    }
}
