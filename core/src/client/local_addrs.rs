//! The local address of each connection, as the driver reported it: a network change closes exactly the
//! connections whose address is gone (decisions in `lifecycle.rs`).

use core::net::IpAddr;
use std::collections::HashMap;

use super::io::ConnId;

/// Local addresses by connection. Entries of closed connections are pruned in bulk, so the table stays
/// bounded without a hook in every close path.
#[derive(Debug, Default)]
pub(crate) struct LocalAddrs {
    pub(crate) map: HashMap<ConnId, IpAddr>,
}
