// Copyright shoal authors. The UDP transport: one non-blocking socket,
// read reactor-style, and fire-and-forget sends.
//
// Reads: wait until the socket is readable, then read every queued
// datagram with non-blocking reads, kBatch per wake-up before timers and
// TCP get a turn. One wake-up handles a whole backlog, and drain() can run
// the same reads before late timers (the engine's driver contract: inputs
// that arrived by now are delivered before tick(now)) without a pending
// asynchronous read owning the buffer.
//
// Sends: to a member address through the endpoint cache. A send the kernel
// refuses (full buffer, unroutable) is counted (send_errors) and dropped,
// as UDP may drop anyway.
//
// Counters: datagrams/bytes out, send_errors and receive_errors go to the
// NodeCounters the transport is given. Thread safety: the io thread only.

#ifndef SHOAL_NODE_UDP_TRANSPORT_H_
#define SHOAL_NODE_UDP_TRANSPORT_H_

#include <array>
#include <asio/io_context.hpp>
#include <asio/ip/udp.hpp>
#include <functional>
#include <string>
#include <string_view>

#include "shoal/node/counters.h"
#include "shoal/node/endpoints.h"

namespace shoal::node {

class UdpTransport {
 public:
  // Called for each datagram read: sender "ip:port", bytes (valid during
  // the call).
  using Receive = std::function<void(const std::string& from, std::string_view bytes)>;

  // Datagrams read per readable wake-up (a few ms of work at most).
  static constexpr int kBatch = 64;

  UdpTransport(asio::io_context& io, NodeCounters& counters, EndpointCache& endpoints);

  // Binds; "" on success, else why not.
  std::string open(const asio::ip::udp::endpoint& at);
  // Starts reading; `receive` runs on the io thread.
  void start(Receive receive);
  // Reads up to `bound` queued datagrams without waiting; true once the
  // socket is empty (or closed), false if it stopped at the bound.
  bool drain(int bound);
  void send(const std::string& to, std::string_view bytes);
  void close();

 private:
  void wait_readable();
  void on_readable();

  asio::io_context& io_;
  asio::ip::udp::socket socket_;
  NodeCounters& counters_;
  EndpointCache& endpoints_;
  Receive receive_;
  std::array<char, 65536> rx_{};
  asio::ip::udp::endpoint rx_from_;
};

}  // namespace shoal::node

#endif  // SHOAL_NODE_UDP_TRANSPORT_H_
