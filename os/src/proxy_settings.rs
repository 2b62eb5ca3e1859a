//! The operating system's proxy settings, for the proxy configuration's last source (after explicit options and
//! the environment): [`system_proxy_settings`] reads them, `ProxyConfig::from_system` in the core maps them.
//!
//! - **macOS**: SystemConfiguration's `SCDynamicStoreCopyProxies` — the web (HTTP), secure web (HTTPS) and SOCKS
//!   proxies that are enabled, the bypass list (`ExceptionsList`) and "exclude simple hostnames". Read through
//!   the `system-configuration` crate; PAC files (`ProxyAutoConfigEnable`) and keychain credentials are not used.
//!   This module is compiled only on macOS: the mapping from these values to a configuration is the core's and
//!   is tested on every platform.
//! - **Elsewhere**: there are no system settings to read (Linux desktops keep them in per-desktop stores, and
//!   their proxy tools export `http_proxy` & co. into the environment, which is read before this); `None`.

use plue_http_core::proxy::SystemProxySettings;

/// The system's proxy settings, or `None` where the platform has none to read (or reading failed).
pub fn system_proxy_settings() -> Option<SystemProxySettings> {
    imp::read()
}

#[cfg(not(target_os = "macos"))]
mod imp {
    use plue_http_core::proxy::SystemProxySettings;

    pub(super) fn read() -> Option<SystemProxySettings> {
        None
    }
}

#[cfg(target_os = "macos")]
mod imp {
    use plue_http_core::proxy::{SystemProxy, SystemProxySettings};
    use system_configuration::core_foundation::array::CFArray;
    use system_configuration::core_foundation::base::{CFType, CFTypeRef, TCFType};
    use system_configuration::core_foundation::dictionary::CFDictionary;
    use system_configuration::core_foundation::number::CFNumber;
    use system_configuration::core_foundation::string::CFString;
    use system_configuration::dynamic_store::SCDynamicStoreBuilder;

    type Dict = CFDictionary<CFString, CFType>;

    pub(super) fn read() -> Option<SystemProxySettings> {
        let store = SCDynamicStoreBuilder::new("plue-http").build();
        let dict = store.get_proxies()?;
        // The keys are the values of the `kSCPropNetProxies*` constants, spelled out (no extern statics).
        Some(SystemProxySettings {
            http: proxy(&dict, "HTTPEnable", "HTTPProxy", "HTTPPort"),
            https: proxy(&dict, "HTTPSEnable", "HTTPSProxy", "HTTPSPort"),
            socks: proxy(&dict, "SOCKSEnable", "SOCKSProxy", "SOCKSPort"),
            exceptions: exceptions(&dict),
            exclude_simple_hostnames: number(&dict, "ExcludeSimpleHostnames") == Some(1),
        })
    }

    fn number(dict: &Dict, key: &'static str) -> Option<i64> {
        dict.find(&CFString::from_static_string(key))
            .and_then(|v| v.downcast::<CFNumber>())
            .and_then(|n| n.to_i64())
    }

    fn string(dict: &Dict, key: &'static str) -> Option<String> {
        dict.find(&CFString::from_static_string(key))
            .and_then(|v| v.downcast::<CFString>())
            .map(|s| s.to_string())
    }

    fn proxy(
        dict: &Dict,
        enable: &'static str,
        host: &'static str,
        port: &'static str,
    ) -> Option<SystemProxy> {
        if number(dict, enable)? != 1 {
            return None;
        }
        let host = string(dict, host).filter(|h| !h.is_empty())?;
        let port = u16::try_from(number(dict, port)?)
            .ok()
            .filter(|&p| p != 0)?;
        Some(SystemProxy { host, port })
    }

    fn exceptions(dict: &Dict) -> Vec<String> {
        let Some(array) = dict
            .find(&CFString::from_static_string("ExceptionsList"))
            .and_then(|v| v.downcast::<CFArray>())
        else {
            return Vec::new();
        };
        array
            .iter()
            .filter_map(|item| {
                // SAFETY: `item` is an element of a CFArray that `dict` keeps alive for this call; every element
                // of a property-list array is a CF object. The get rule retains it for the wrapper's lifetime.
                #[allow(unsafe_code)]
                let obj = unsafe { CFType::wrap_under_get_rule(*item as CFTypeRef) };
                obj.downcast::<CFString>().map(|s| s.to_string())
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(not(target_os = "macos"))]
    fn os_proxy_settings_none_off_macos() {
        assert_eq!(super::system_proxy_settings(), None);
    }
}
