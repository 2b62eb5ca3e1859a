//! Why a proxy failed: typed, and distinct from the origin server's errors.
//!
//! An origin's answer is a [`crate::Response`] (or [`crate::ErrorKind::Status`]); a proxy's refusal never is.
//! A `CONNECT` answered with 403 is `ProxyError::Refused { status: 403 }`, not a response from the target, so
//! callers can tell "the proxy said no" from "the server said no". None of these carry the proxy URL: its
//! userinfo holds credentials, and credentials never reach an error message.

use core::fmt;

/// A SOCKS5 reply code other than "succeeded" (RFC 1928 §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SocksReply {
    /// X'01' general SOCKS server failure.
    GeneralFailure,
    /// X'02' connection not allowed by ruleset.
    NotAllowed,
    /// X'03' network unreachable.
    NetworkUnreachable,
    /// X'04' host unreachable.
    HostUnreachable,
    /// X'05' connection refused.
    ConnectionRefused,
    /// X'06' TTL expired.
    TtlExpired,
    /// X'07' command not supported.
    CommandNotSupported,
    /// X'08' address type not supported.
    AddressTypeNotSupported,
    /// Any other (unassigned) code.
    Other(u8),
}

impl SocksReply {
    /// The reply for a non-zero `REP` byte. (`0` is success and never becomes a `SocksReply`; it maps to
    /// `Other(0)` only if a caller passes it anyway.)
    pub fn from_code(code: u8) -> SocksReply {
        match code {
            1 => SocksReply::GeneralFailure,
            2 => SocksReply::NotAllowed,
            3 => SocksReply::NetworkUnreachable,
            4 => SocksReply::HostUnreachable,
            5 => SocksReply::ConnectionRefused,
            6 => SocksReply::TtlExpired,
            7 => SocksReply::CommandNotSupported,
            8 => SocksReply::AddressTypeNotSupported,
            other => SocksReply::Other(other),
        }
    }

    /// The code on the wire.
    pub fn code(self) -> u8 {
        match self {
            SocksReply::GeneralFailure => 1,
            SocksReply::NotAllowed => 2,
            SocksReply::NetworkUnreachable => 3,
            SocksReply::HostUnreachable => 4,
            SocksReply::ConnectionRefused => 5,
            SocksReply::TtlExpired => 6,
            SocksReply::CommandNotSupported => 7,
            SocksReply::AddressTypeNotSupported => 8,
            SocksReply::Other(c) => c,
        }
    }
}

impl fmt::Display for SocksReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            SocksReply::GeneralFailure => "general SOCKS server failure",
            SocksReply::NotAllowed => "connection not allowed by ruleset",
            SocksReply::NetworkUnreachable => "network unreachable",
            SocksReply::HostUnreachable => "host unreachable",
            SocksReply::ConnectionRefused => "connection refused",
            SocksReply::TtlExpired => "TTL expired",
            SocksReply::CommandNotSupported => "command not supported",
            SocksReply::AddressTypeNotSupported => "address type not supported",
            SocksReply::Other(_) => "unassigned reply code",
        };
        write!(f, "{text} (code {})", self.code())
    }
}

/// How a proxy handshake failed. Every one is fatal for the connection, and none means the request reached the
/// origin: the request is only written once the tunnel is established.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProxyError {
    /// The HTTP proxy answered `CONNECT` with a final status other than 2xx or 407.
    Refused {
        /// The proxy's status code.
        status: u16,
    },
    /// The HTTP proxy answered 407 Proxy Authentication Required. Only Basic credentials from the proxy URL are
    /// supported (sent on the first request); NTLM and Negotiate are not.
    AuthRequired {
        /// Credentials were sent and the proxy rejected them (otherwise none were configured).
        credentials_sent: bool,
    },
    /// The HTTP proxy's answer to `CONNECT` was not an HTTP/1.x response head (or was larger than 64 KiB).
    InvalidResponse,
    /// The proxy closed the connection before the handshake completed.
    ClosedDuringHandshake,
    /// The proxy did not complete the handshake before the connect deadline (`connect_timeout`).
    HandshakeTimeout,
    /// The SOCKS server answered the connect request with a failure code.
    Socks(SocksReply),
    /// The SOCKS server answered with a version byte other than 5: it is not a SOCKS5 server.
    SocksVersion {
        /// The version byte received.
        got: u8,
    },
    /// The SOCKS server accepted none of the offered authentication methods (or picked one never offered).
    SocksNoAcceptableMethod,
    /// The SOCKS server rejected the username and password (RFC 1929).
    SocksAuthFailed,
    /// The SOCKS server's answer was malformed (unknown address type, bad reserved field).
    SocksProtocol,
    /// The proxy credentials cannot be sent: SOCKS5 allows at most 255 bytes each for username and password.
    CredentialsTooLong,
    /// The target host name cannot be sent: SOCKS5 allows at most 255 bytes for a domain name.
    TargetTooLong,
}

impl fmt::Display for ProxyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProxyError::Refused { status } => {
                write!(f, "the proxy refused the tunnel with status {status}")
            }
            ProxyError::AuthRequired {
                credentials_sent: true,
            } => f.write_str("the proxy rejected the credentials (407 Proxy Authentication Required)"),
            ProxyError::AuthRequired {
                credentials_sent: false,
            } => f.write_str(
                "the proxy requires authentication (407 Proxy Authentication Required); put user:password in the proxy URL",
            ),
            ProxyError::InvalidResponse => {
                f.write_str("the proxy's answer to CONNECT is not a valid HTTP response")
            }
            ProxyError::ClosedDuringHandshake => {
                f.write_str("the proxy closed the connection during the handshake")
            }
            ProxyError::HandshakeTimeout => {
                f.write_str("the proxy did not complete the handshake in time (connect_timeout)")
            }
            ProxyError::Socks(reply) => write!(f, "the SOCKS5 proxy failed the request: {reply}"),
            ProxyError::SocksVersion { got } => write!(
                f,
                "the proxy is not a SOCKS5 server (it answered with version byte {got})"
            ),
            ProxyError::SocksNoAcceptableMethod => {
                f.write_str("the SOCKS5 proxy accepted none of the offered authentication methods")
            }
            ProxyError::SocksAuthFailed => {
                f.write_str("the SOCKS5 proxy rejected the username and password")
            }
            ProxyError::SocksProtocol => f.write_str("the SOCKS5 proxy's answer is malformed"),
            ProxyError::CredentialsTooLong => f.write_str(
                "the SOCKS5 proxy credentials are too long (at most 255 bytes each)",
            ),
            ProxyError::TargetTooLong => {
                f.write_str("the host name is too long for SOCKS5 (at most 255 bytes)")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_socks_reply_codes_round_trip() {
        for code in 1..=255u8 {
            assert_eq!(SocksReply::from_code(code).code(), code);
        }
        assert_eq!(SocksReply::from_code(5), SocksReply::ConnectionRefused);
        assert_eq!(
            ProxyError::Socks(SocksReply::from_code(2)).to_string(),
            "the SOCKS5 proxy failed the request: connection not allowed by ruleset (code 2)"
        );
    }
}
