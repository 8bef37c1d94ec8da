//! The local gateway's delivery queue, as the functions nudge it: its name
//! in every local stack, and a client of it signed with made-up
//! credentials (the local gateway checks no signature).

use std::net::SocketAddr;

use aws_credential_types::Credentials;
use shared::aws_http::SignedHttp;
use shared::realtime::DeliveryQueue;

/// The delivery queue's name in every local stack.
pub const DELIVERY_QUEUE: &str = "delivery.fifo";

/// Requests signed with made-up credentials: the local gateway checks no
/// signature.
pub fn local_signer(service: &'static str) -> SignedHttp {
    SignedHttp::new(
        service,
        "us-east-1",
        Credentials::new("local", "local", None, None, "tests"),
    )
}

/// The queue `name` of the local gateway at `gateway`, as the functions
/// nudge it.
pub fn delivery_queue(gateway: SocketAddr, name: &str) -> DeliveryQueue {
    DeliveryQueue::new(
        &local_gateway::queue_url(gateway, name),
        Some(&format!("http://{gateway}")),
        local_signer("sqs"),
    )
    .expect("a local queue URL")
}
