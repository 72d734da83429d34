#pragma once
// placeholder, replaced by the TCP endpoint
namespace hearth::virtio::net::mmds {
class TcpEndpoint {};
}
