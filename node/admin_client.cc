// Copyright shoal authors. See admin_client.h.

#include "shoal/node/admin_client.h"

#include <array>
#include <asio.hpp>

#include "shoal/node/host_port.h"
#include "shoal/node/seal.h"
#include "shoal/proto/codec.h"

namespace shoal::node {

namespace {

// The node's answer frame (its body): opened, decoded, and its error or
// JSON as an AdminResult.
AdminResult read_answer(Seal& seal, std::string_view body) {
  AdminResult result;
  Seal::Opened opened = seal.open(Seal::Channel::kFrame, body);
  if (!opened.ok()) {
    result.error = "its answer did not open: " + opened.detail;
    return result;
  }
  std::string_view frame = opened.plain;
  if (opened.sealed) {  // a record: the answer is its first frame
    const auto n = proto::parse_frame_header(frame);
    if (!n || *n > frame.size() - proto::kFrameHeaderBytes) {
      result.error = "bad answer: a sealed record whose frames do not add up";
      return result;
    }
    frame = frame.substr(proto::kFrameHeaderBytes, *n);
  }
  auto decoded = proto::decode_frame(frame, seal.cluster(), proto::kDefaultMaxFrameBytes);
  if (decoded.error == proto::DecodeError::kWrongCluster) {
    result.error =
        "a node of another cluster (" + decoded.detail + "); pass its name with --cluster";
    return result;
  }
  if (!decoded.ok()) {
    result.error = "bad answer: " + decoded.detail;
    return result;
  }
  auto* resp = std::get_if<proto::AdminResponse>(&decoded.value->body);
  if (resp == nullptr) {
    result.error = "bad answer: not an admin response";
    return result;
  }
  if (!resp->error.empty()) {
    result.error = resp->error;
    return result;
  }
  result.ok = true;
  result.json = std::move(resp->json);
  return result;
}

AdminResult call_once(const std::string& address, const std::string& cluster,
                      const std::string& command, const std::string& args_json,
                      std::chrono::milliseconds timeout, const Keyring* keyring) {
  AdminResult result;
  std::string perr;
  auto hp = parse_host_port(address, &perr);
  if (!hp) {
    result.error = perr;
    return result;
  }
  asio::io_context io;
  asio::ip::tcp::resolver resolver(io);
  asio::ip::tcp::socket socket(io);
  // Answers are opened in accept-plaintext mode: a node that refuses us
  // says why in plaintext.
  const bool sealed = keyring != nullptr && !keyring->empty();
  Seal seal(cluster, sealed ? Encryption::kAcceptPlaintext : Encryption::kOff,
            sealed ? *keyring : Keyring());
  std::string out;
  seal.append_frame(out, 1, proto::AdminRequest{command, args_json},
                    sealed ? SealWith(keyring->primary_id()) : std::nullopt);
  std::array<char, 4> header{};
  std::string body;
  std::string failure;

  auto fail = [&](const std::string& what, const asio::error_code& ec) {
    if (failure.empty()) failure = what + ": " + ec.message();
    asio::error_code ignored;
    socket.close(ignored);
  };
  resolver.async_resolve(
      hp->host, std::to_string(hp->port), [&](const asio::error_code& ec, auto results) {
        if (ec) return fail("resolve " + hp->host, ec);
        asio::async_connect(socket, results, [&](const asio::error_code& ec2, const auto&) {
          if (ec2) return fail("connect " + address, ec2);
          asio::async_write(socket, asio::buffer(out), [&](const asio::error_code& ec3, size_t) {
            if (ec3) return fail("send", ec3);
            asio::async_read(
                socket, asio::buffer(header), [&](const asio::error_code& ec4, size_t) {
                  if (ec4 == asio::error::eof) {
                    failure =
                        "closed the connection without an answer (not a shoal node, or one "
                        "that refused the request)";
                    return;
                  }
                  if (ec4) return fail("read", ec4);
                  const uint32_t len =
                      *proto::parse_frame_header(std::string_view(header.data(), 4));
                  if (len > proto::kDefaultMaxFrameBytes) {
                    failure = "answer of " + std::to_string(len) + " bytes is over the frame limit";
                    return;
                  }
                  body.resize(len);
                  asio::async_read(socket, asio::buffer(body),
                                   [&](const asio::error_code& ec5, size_t) {
                                     if (ec5) return fail("read", ec5);
                                   });
                });
          });
        });
      });
  io.run_for(timeout);
  if (!io.stopped()) {
    result.error =
        "no answer from " + address + " within " + std::to_string(timeout.count()) + " ms";
    return result;
  }
  if (!failure.empty()) {
    result.error = failure;
    return result;
  }
  return read_answer(seal, body);
}

}  // namespace

AdminResult admin_call(const std::string& address, const std::string& cluster,
                       const std::string& command, const std::string& args_json,
                       std::chrono::milliseconds timeout, const Keyring* keyring) {
  AdminResult r = call_once(address, cluster, command, args_json, timeout, keyring);
  // A node without a keyring (a cluster halfway through its conversion)
  // cannot open a sealed request and says so: ask it again in plaintext,
  // but only on this host (such a node takes admin from loopback only, and
  // the unsealed answer could be forged on a network) and never with a key
  // in the arguments.
  auto hp = parse_host_port(address);
  asio::error_code ec;
  const bool loopback = hp && asio::ip::make_address(hp->host, ec).is_loopback() && !ec;
  if (keyring != nullptr && !r.ok && loopback && !command.starts_with("keys.") &&
      r.error.ends_with(std::string(": ") + std::string(kNoKeyringDetail))) {
    r = call_once(address, cluster, command, args_json, timeout, nullptr);
  }
  return r;
}

}  // namespace shoal::node
