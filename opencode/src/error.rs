//! OpenCode error bodies, classified.
//!
//! The body itself is parsed once, by [`ApiError::from_body`] (every shape OpenCode sends: `{name, data:{message}}`,
//! `{_tag, message?}`, plain text, an empty 401). This file only names what an error *means* for a caller, so code
//! can match on [`ApiErrorKind`] instead of comparing strings.

use plue_http_core::error::{ApiError, ErrorKind};

/// What an OpenCode error answer means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ApiErrorKind {
    /// 401: the server wants (other) Basic credentials. Terminal: retrying cannot help.
    Unauthorized,
    /// 404 `NotFoundError`: no such session or message.
    NotFound,
    /// 404 `PermissionNotFoundError` / `QuestionNotFoundError`: the request was already answered or never existed.
    RequestNotFound,
    /// 400 `BadRequest` (`_tag` for a body that is not JSON, `name` with `data.message` for a schema mismatch).
    BadRequest,
    /// 5xx: the server failed.
    Server,
    /// Any other status.
    Other,
}

impl ApiErrorKind {
    /// Classify a parsed error body.
    pub fn of(e: &ApiError) -> ApiErrorKind {
        let name = e.name.as_deref().unwrap_or("");
        match e.status {
            401 => ApiErrorKind::Unauthorized,
            404 if name == "PermissionNotFoundError" || name == "QuestionNotFoundError" => {
                ApiErrorKind::RequestNotFound
            }
            404 => ApiErrorKind::NotFound,
            400 => ApiErrorKind::BadRequest,
            500..=599 => ApiErrorKind::Server,
            _ => ApiErrorKind::Other,
        }
    }

    /// Classify any error: `Some` for a status answer, `None` for transport and decoding errors.
    pub fn of_error(e: &ErrorKind) -> Option<ApiErrorKind> {
        match e {
            ErrorKind::Status(api) => Some(ApiErrorKind::of(api)),
            _ => None,
        }
    }

    /// `true` when repeating the same request cannot succeed: bad credentials or a bad request.
    /// The health monitor stops instead of reconnecting on these.
    pub fn is_terminal(self) -> bool {
        matches!(self, ApiErrorKind::Unauthorized | ApiErrorKind::BadRequest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opencode_error_not_found_from_real_body() {
        let e = ApiError::from_body(404, fixture!("err_notfound.json").as_bytes());
        assert_eq!(e.name.as_deref(), Some("NotFoundError"));
        assert_eq!(e.message.as_deref(), Some("Session not found: ses_nope"));
        assert_eq!(ApiErrorKind::of(&e), ApiErrorKind::NotFound);
        assert!(!ApiErrorKind::of(&e).is_terminal());
    }

    #[test]
    fn opencode_error_bad_request_tag_and_schema_shapes() {
        let e = ApiError::from_body(400, fixture!("err_badjson.json").as_bytes());
        assert_eq!(
            (e.name.as_deref(), e.message.as_deref()),
            (Some("BadRequest"), None)
        );
        assert_eq!(ApiErrorKind::of(&e), ApiErrorKind::BadRequest);
        let e = ApiError::from_body(400, fixture!("err_badbody.json").as_bytes());
        assert_eq!(e.name.as_deref(), Some("BadRequest"));
        assert!(e.message.unwrap().starts_with("Expected array"));
    }

    #[test]
    fn opencode_error_tag_with_top_level_message() {
        let e = ApiError::from_body(404, fixture!("perm_reply.json").as_bytes());
        assert_eq!(e.name.as_deref(), Some("PermissionNotFoundError"));
        assert_eq!(
            e.message.as_deref(),
            Some("Permission request not found: per_nope")
        );
        assert_eq!(ApiErrorKind::of(&e), ApiErrorKind::RequestNotFound);
    }

    #[test]
    fn opencode_error_empty_401_is_terminal_and_plain_text_500_is_server() {
        let e = ApiError::from_body(401, b"");
        assert_eq!((&e.name, &e.message, e.body.as_str()), (&None, &None, ""));
        assert_eq!(ApiErrorKind::of(&e), ApiErrorKind::Unauthorized);
        assert!(ApiErrorKind::Unauthorized.is_terminal());
        let e = ApiError::from_body(500, b"Internal Server Error\n");
        assert_eq!(e.message.as_deref(), Some("Internal Server Error"));
        assert_eq!(ApiErrorKind::of(&e), ApiErrorKind::Server);
        assert_eq!(
            ApiErrorKind::of_error(&ErrorKind::Status(e)),
            Some(ApiErrorKind::Server)
        );
        assert_eq!(ApiErrorKind::of_error(&ErrorKind::Aborted), None);
    }
}
