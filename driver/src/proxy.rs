//! The proxy configuration's outside inputs, read here and never in the core: when the caller left
//! `Options::proxy` unset ([`ProxySource::None`]), the environment (`http_proxy`, `HTTPS_PROXY`, `all_proxy`,
//! `no_proxy`, …, as curl reads them, plus reqwest's `HTTP_PROXY` outside CGI) and then, on macOS, the system
//! settings. An explicit configuration is used as given.

use plue_http_core::client::Options;
use plue_http_core::proxy::{ProxyConfig, ProxySource};

/// `options` with `proxy` filled from the environment and the system when the caller did not set it.
pub fn with_default_proxy(mut options: Options) -> Options {
    if options.proxy.source() != ProxySource::None {
        return options;
    }
    let env = ProxyConfig::from_env(|name| std::env::var(name).ok());
    for ignored in env.ignored_variables() {
        // The name only: the value may hold credentials.
        tracing::warn!(
            variable = ignored.name,
            reason = ignored.reason,
            "proxy variable ignored"
        );
    }
    let system = plue_http_os::proxy_settings::system_proxy_settings()
        .map(|s| ProxyConfig::from_system(&s))
        .unwrap_or_default();
    options.proxy = options.proxy.clone().or(env).or(system);
    options
}
