//! Who may do what: the caller's Supabase access token is verified by PostgREST while it answers
//! the caller's role and the workspace's plan (one round trip, see migration 0005).

use crate::api_error::ApiError;
use crate::store::workspaces::AccessError;
use crate::store::Store;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Any member: read the connection, queue jobs.
    Member,
    /// Any member, whatever the plan: read and cancel existing jobs.
    MemberAnyPlan,
    /// `owner` or `admin`: connect, change defaults.
    Admin,
    /// `owner` or `admin`, whatever the plan: disconnect.
    AdminAnyPlan,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The Supabase Auth user id (the token's `sub`, as PostgREST read it).
    pub user_id: String,
    pub role: String,
}

/// The bearer token of an `Authorization` header, if it is shaped like a JWT.
pub fn bearer_token(authorization: Option<&str>) -> Option<&str> {
    let token = authorization?.strip_prefix("Bearer ")?.trim();
    let shaped = !token.is_empty()
        && token.len() <= 8192
        && token.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && token.split('.').count() == 3;
    shaped.then_some(token)
}

/// A workspace id must be a UUID before it goes anywhere.
pub fn workspace_id(value: Option<&str>) -> Result<String, ApiError> {
    let value = value.map(str::trim).unwrap_or_default();
    let is_uuid = value.len() == 36
        && value.char_indices().all(|(i, c)| if [8, 13, 18, 23].contains(&i) { c == '-' } else { c.is_ascii_hexdigit() });
    if is_uuid {
        Ok(value.to_ascii_lowercase())
    } else {
        Err(ApiError::new(400, "invalid_request", "workspace_id must be a workspace's UUID"))
    }
}

pub async fn authorize(store: &Store, authorization: Option<&str>, workspace_id: &str, need: Need) -> Result<Caller, ApiError> {
    let unauthenticated = || ApiError::new(401, "unauthenticated", "Sign in again: a valid Supabase access token is required");
    let token = bearer_token(authorization).ok_or_else(unauthenticated)?;
    let access = match store.workspace_access(token, workspace_id).await {
        Ok(access) => access,
        Err(AccessError::Unauthenticated) => return Err(unauthenticated()),
        Err(AccessError::Store(err)) => {
            return Err(ApiError::new(503, "database_unavailable", format!("Could not check access: {err}")))
        }
    };
    let Some(access) = access else {
        return Err(ApiError::new(403, "forbidden", "You are not a member of this workspace"));
    };
    if matches!(need, Need::Admin | Need::AdminAnyPlan) && !matches!(access.role.as_str(), "owner" | "admin") {
        return Err(ApiError::new(403, "forbidden", "Only a workspace owner or admin can change the Meta connection"));
    }
    if matches!(need, Need::Member | Need::Admin) && !matches!(access.plan.as_str(), "growth" | "pro" | "enterprise") {
        return Err(ApiError::new(
            403,
            "plan_required",
            "Publishing to Facebook and Instagram needs the Growth plan or higher (Growth, Pro or Enterprise)",
        ));
    }
    Ok(Caller { user_id: access.user_id, role: access.role })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_jwt_shaped_bearers_pass() {
        assert_eq!(bearer_token(Some("Bearer a.b.c")), Some("a.b.c"));
        for bad in [None, Some("a.b.c"), Some("Bearer "), Some("Bearer a.b"), Some("Bearer a b.c.d"), Some("Bearer ä.b.c")] {
            assert_eq!(bearer_token(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn workspace_ids_are_uuids() {
        assert_eq!(workspace_id(Some("0B731C9C-1652-4133-A69D-76FD764117A1")).unwrap(), "0b731c9c-1652-4133-a69d-76fd764117a1");
        for bad in
            [None, Some(""), Some("1"), Some("0b731c9c-1652-4133-a69d-76fd764117a"), Some("0b731c9c_1652-4133-a69d-76fd764117a1")]
        {
            assert_eq!(workspace_id(bad).unwrap_err().code, "invalid_request");
        }
    }
}
