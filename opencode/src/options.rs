//! Where the server is and how to talk to it: URL, project directory, Basic auth.
//!
//! The core reads no environment: a driver that honours `OPENCODE_SERVER_USERNAME` / `OPENCODE_SERVER_PASSWORD`
//! reads them itself and hands the values to [`Auth::from_env_values`].

use core::fmt;

/// How the project directory travels with each request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DirectoryMode {
    /// `?directory=/path` appended to every request (what OpenCode's own SDK does).
    #[default]
    Query,
    /// An `x-opencode-directory` header on every request (the value is percent-encoded when it is not plain
    /// visible ASCII, since a header cannot carry raw UTF-8).
    Header,
}

/// HTTP Basic credentials for a server started with `OPENCODE_SERVER_PASSWORD`.
#[derive(Clone, PartialEq, Eq)]
pub struct Auth {
    /// The user name (`opencode` unless the server was told otherwise).
    pub username: String,
    /// The password.
    pub password: String,
}

impl fmt::Debug for Auth {
    // Credentials never reach logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auth")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl Auth {
    /// The user name OpenCode assumes when only a password is configured.
    pub const DEFAULT_USERNAME: &'static str = "opencode";

    /// Credentials from the values of `OPENCODE_SERVER_USERNAME` and `OPENCODE_SERVER_PASSWORD` as the caller
    /// read them. No password (or an empty one) means the server is unsecured: `None`. A missing or empty user
    /// name defaults to `opencode`, as the server does.
    pub fn from_env_values(username: Option<&str>, password: Option<&str>) -> Option<Auth> {
        let password = password.filter(|p| !p.is_empty())?;
        let username = username
            .filter(|u| !u.is_empty())
            .unwrap_or(Self::DEFAULT_USERNAME);
        Some(Auth {
            username: username.to_string(),
            password: password.to_string(),
        })
    }

    /// The `Authorization` header value: `Basic base64(user:password)`.
    pub fn header_value(&self) -> String {
        let token = plue_http_core::request::base64_encode(
            format!("{}:{}", self.username, self.password).as_bytes(),
        );
        format!("Basic {token}")
    }
}

/// Options of an OpenCode client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenCodeOptions {
    /// The server URL, e.g. `http://127.0.0.1:4096`. Credentials in the URL become Basic auth.
    pub url: String,
    /// The project directory the server should act in; `None` lets the server use its working directory.
    pub directory: Option<String>,
    /// How [`OpenCodeOptions::directory`] is sent.
    pub directory_mode: DirectoryMode,
    /// Basic auth applied to every request, event streams included.
    pub auth: Option<Auth>,
}

impl OpenCodeOptions {
    /// Options for `url` with no directory and no auth.
    pub fn new(url: impl Into<String>) -> Self {
        OpenCodeOptions {
            url: url.into(),
            directory: None,
            directory_mode: DirectoryMode::Query,
            auth: None,
        }
    }

    /// Set the project directory.
    pub fn directory(mut self, dir: impl Into<String>) -> Self {
        self.directory = Some(dir.into());
        self
    }

    /// Send the directory as an `x-opencode-directory` header instead of a query parameter.
    pub fn directory_header(mut self) -> Self {
        self.directory_mode = DirectoryMode::Header;
        self
    }

    /// Set Basic auth.
    pub fn auth(mut self, auth: Option<Auth>) -> Self {
        self.auth = auth;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opencode_auth_from_env_values_defaults_the_user_and_needs_a_password() {
        assert_eq!(Auth::from_env_values(Some("me"), None), None);
        assert_eq!(Auth::from_env_values(None, Some("")), None);
        let a = Auth::from_env_values(None, Some("pw")).unwrap();
        assert_eq!(a.username, "opencode");
        assert_eq!(a.header_value(), "Basic b3BlbmNvZGU6cHc=");
        let a = Auth::from_env_values(Some("alice"), Some("s3cret")).unwrap();
        assert_eq!(a.username, "alice");
        assert!(!format!("{a:?}").contains("s3cret"));
    }
}
