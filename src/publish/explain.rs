//! Every reason a job or target can stop for, as one sentence a non-engineer understands and
//! one thing to do about it. Returned with jobs (`explanation`), used by the operator API and
//! the README's troubleshooting table.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Explanation {
    pub summary: &'static str,
    pub action: &'static str,
}

const fn says(summary: &'static str, action: &'static str) -> Explanation {
    Explanation { summary, action }
}

/// Every reason code the service stores, with its explanation.
pub const REASONS: &[(&str, Explanation)] = &[
    ("reconnect_required", says(
        "Facebook no longer accepts this workspace's connection (the password changed, the app was removed, or access expired).",
        "Reconnect Facebook in the workspace settings, then queue the post again.")),
    ("permission_missing", says(
        "Facebook refused because a permission the post needs was not granted or was removed.",
        "Reconnect Facebook and keep every requested permission ticked, then queue the post again.")),
    ("rate_limited", says(
        "Facebook asked us to slow down for this Page or Instagram account.",
        "Nothing to do: the post is retried automatically once the limit frees up.")),
    ("publishing_limit_reached", says(
        "The Instagram account has published as many posts through apps as Instagram allows in 24 hours.",
        "Nothing to do: the post waits and goes out when the 24-hour window frees up.")),
    ("graph_unavailable", says(
        "Facebook did not complete the request because of a temporary problem on its side.",
        "It was retried automatically several times; queue the post again later.")),
    ("media_fetch_failed", says(
        "Instagram could not download the image from its address.",
        "Make sure the image URL is public and answers quickly, then queue the post again.")),
    ("content_rejected", says(
        "Facebook or Instagram refused the content (size, format, caption or policy).",
        "Read the message from Meta, fix the image or text, and queue the post again.")),
    ("app_access", says(
        "The Meta app is not yet approved to publish for this account.",
        "An operator must finish App Review for the permissions, or give the account a role on the app.")),
    ("outcome_unknown", says(
        "The post was sent to Facebook but no answer came back, so it may already be live.",
        "Check the Page: if the post is missing, ask an operator to retry it; if it is there, leave it.")),
    ("publish_unconfirmed", says(
        "Instagram did not confirm the publish; the next run checks whether it went live.",
        "Nothing to do: it is checked again automatically.")),
    ("container_unverified", says(
        "The Instagram post may already be live, but it could not be checked.",
        "Check the Instagram account: if the post is missing, ask an operator to retry it.")),
    ("cancelled_in_flight", says(
        "The job was cancelled after Instagram had started processing the post, which may be live.",
        "Check the Instagram account and delete the post there if it should not be live.")),
    ("container_error", says(
        "Instagram could not process the image.",
        "Use a JPEG with an aspect ratio between 4:5 and 1.91:1, at most 8 MB, and queue the post again.")),
    ("container_expired", says(
        "Instagram discarded the prepared post before it could be published.",
        "Queue the post again.")),
    ("destination_changed", says(
        "The default Instagram account changed while the post was being prepared for the old one.",
        "Check the old account; if the post is not there, ask an operator to retry it.")),
    ("invalid_content", says(
        "The post's content cannot be published as it stands.",
        "Fix the text or image as the message says and queue the post again.")),
    ("not_connected", says(
        "The workspace has no Facebook connection.",
        "Connect Facebook in the workspace settings, then queue the post again.")),
    ("no_default_page", says(
        "No default Facebook Page is chosen for the workspace.",
        "Choose a default Page in the workspace settings, then queue the post again.")),
    ("no_default_instagram_account", says(
        "No default Instagram account is chosen for the workspace.",
        "Choose a default Instagram account in the workspace settings, then queue the post again.")),
    ("page_not_usable", says(
        "The chosen Page cannot be posted to with the current connection.",
        "Reconnect Facebook, tick that Page, and make sure you can create content on it.")),
    ("plan_required", says(
        "Publishing to Facebook and Instagram needs the Growth plan or higher.",
        "Upgrade the workspace, then queue the post again.")),
    ("token_unreadable", says(
        "The stored connection could not be read with the service's current keys.",
        "An operator must check the token encryption keys (see the key rotation guide); the post is retried.")),
    ("database_unavailable", says(
        "The service's database did not answer in time.",
        "Nothing to do: the post is retried automatically.")),
    ("meta_data_deleted", says(
        "The Facebook user asked Meta to delete their data, so the connection was removed.",
        "Connect Facebook again with an account that should publish, then queue the post again.")),
    ("token_expiring", says(
        "The workspace's Facebook connection expires within a week; posts still go out until then.",
        "Reconnect Facebook in the workspace settings before it expires.")),
    ("data_access_expiring", says(
        "Facebook's permission to use the connection's data runs out within a week; posts still go out until then.",
        "Reconnect Facebook in the workspace settings before it runs out.")),
    ("graph_error", says(
        "Facebook refused the request.",
        "Read the message from Meta; if it is unclear, an operator can look up its trace id.")),
];

const UNKNOWN: Explanation = says("The post could not be published.", "Ask an operator to look at the job's attempt log.");

/// The explanation of a stored reason; unknown reasons get a generic one, never an error.
pub fn explain(reason: &str) -> Explanation {
    REASONS.iter().find(|(code, _)| *code == reason).map(|(_, explanation)| *explanation).unwrap_or(UNKNOWN)
}

/// The reason at the front of a job's `last_error` ("reason: message").
pub fn reason_of_job_error(last_error: &str) -> &str {
    last_error.split(':').next().unwrap_or("").trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_the_code_stores_is_explained() {
        // Reasons written by the pass, the planner, the migrations and the outcome policy.
        let sources = [
            include_str!("outcome.rs"),
            include_str!("plan.rs"),
            include_str!("facebook.rs"),
            include_str!("instagram.rs"),
            include_str!("pass.rs"),
            include_str!("context.rs"),
            include_str!("../../migrations/0007_meta_data_deletion.sql"),
            include_str!("../../migrations/0006_publish_pass.sql"),
            include_str!("../../migrations/0008_operations.sql"),
        ];
        let mut missing = Vec::new();
        for source in sources {
            for (i, _) in source.match_indices("reason") {
                let rest = &source[i..];
                // `reason: "x"`, `reason = 'x'`, `("step", "x", ...)` forms are all quoted next.
                let Some(start) = rest.find(['"', '\'']) else { continue };
                if start > 30 {
                    continue;
                }
                let quoted = &rest[start + 1..];
                let Some(end) = quoted.find(['"', '\'']) else { continue };
                let code = &quoted[..end];
                let status = ["pending", "container_created", "published", "failed", "needs_review", "cancelled"].contains(&code);
                if !status
                    && code.len() > 3
                    && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
                    && explain(code) == UNKNOWN
                {
                    missing.push(code.to_string());
                }
            }
        }
        missing.sort();
        missing.dedup();
        assert!(missing.is_empty(), "reasons without an explanation: {missing:?}");
    }

    #[test]
    fn the_operator_guide_lists_every_reason() {
        let readme = include_str!("../../README.md");
        for (code, _) in REASONS {
            assert!(readme.contains(&format!("| `{code}` |")), "README's troubleshooting table lacks {code}");
        }
    }

    #[test]
    fn explanations_are_single_plain_sentences() {
        for (code, explanation) in REASONS {
            for text in [explanation.summary, explanation.action] {
                assert!(text.ends_with('.'), "{code}: {text}");
                assert!(!text.contains('_') && !text.contains("Graph"), "{code} uses jargon: {text}");
                assert!(text.len() < 140, "{code}: too long");
            }
        }
        assert_eq!(explain("no_such_reason"), UNKNOWN);
        assert_eq!(reason_of_job_error("rate_limited: Meta is rate limiting"), "rate_limited");
    }
}
