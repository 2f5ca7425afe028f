// Copyright shoal authors. See udp_transport.h.

#include "shoal/node/udp_transport.h"

#include <asio/post.hpp>

namespace shoal::node {

using asio::ip::udp;

UdpTransport::UdpTransport(asio::io_context& io, NodeCounters& counters, EndpointCache& endpoints)
    : io_(io), socket_(io), counters_(counters), endpoints_(endpoints) {}

std::string UdpTransport::open(const udp::endpoint& at) {
  asio::error_code ec;
  socket_.open(at.protocol(), ec);
  if (!ec) socket_.bind(at, ec);
  if (!ec) socket_.non_blocking(true, ec);
  if (ec) return ec.message();
  // Room for bursts (a cold start's syncs and gossip) in the kernel.
  socket_.set_option(asio::socket_base::receive_buffer_size(4 << 20), ec);
  return "";
}

void UdpTransport::start(Receive receive) {
  receive_ = std::move(receive);
  wait_readable();
}

void UdpTransport::wait_readable() {
  socket_.async_wait(udp::socket::wait_read, [this](const asio::error_code& ec) {
    if (ec == asio::error::operation_aborted || !socket_.is_open()) return;
    on_readable();
  });
}

void UdpTransport::on_readable() {
  if (drain(kBatch)) {
    wait_readable();
  } else {  // more queued than one drain reads: let other handlers run first
    asio::post(io_, [this] {
      if (socket_.is_open()) on_readable();
    });
  }
}

bool UdpTransport::drain(int bound) {
  for (int i = 0; i < bound; ++i) {
    asio::error_code ec;
    const size_t n = socket_.receive_from(asio::buffer(rx_), rx_from_, 0, ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) return true;
    if (ec == asio::error::bad_descriptor || !socket_.is_open()) return true;  // closed
    if (ec) {
      ++counters_.receive_errors;  // e.g. ENOMEM; what is queued stays readable
      continue;
    }
    // The sender as a member address: "ip:port", IPv6 in brackets.
    const asio::ip::address ip = rx_from_.address();
    const std::string from = (ip.is_v6() ? "[" + ip.to_string() + "]" : ip.to_string()) + ":" +
                             std::to_string(rx_from_.port());
    receive_(from, std::string_view(rx_.data(), n));
  }
  return false;
}

void UdpTransport::send(const std::string& to, std::string_view bytes) {
  auto ep = endpoints_.resolve(to);
  if (!ep) {
    ++counters_.send_errors;
    return;
  }
  asio::error_code ec;
  socket_.send_to(asio::buffer(bytes.data(), bytes.size()), *ep, 0, ec);
  if (ec) {
    ++counters_.send_errors;  // would_block (full socket buffer) included: UDP may drop
    return;
  }
  ++counters_.datagrams_out;
  counters_.bytes_out += bytes.size();
}

void UdpTransport::close() {
  asio::error_code ignored;
  socket_.close(ignored);
}

}  // namespace shoal::node
