// Copyright shoal authors. The replicator's state machine (replicator.h).

#include "shoal/node/replicator.h"

#include <memory>
#include <utility>

namespace shoal::node {

namespace {

using State = ReplicaAnswer::State;

// One replicate call: lives as long as an owner's answer may still come.
class Fan : public std::enable_shared_from_this<Fan> {
 public:
  Fan(const ReplicaOptions& o, ReplicaSend send, std::function<void(ReplicaResult)> done)
      : quorum_(o.quorum),
        serial_(o.fan_out == FanOut::kSerial),
        wait_all_(o.wait_all),
        send_(std::move(send)),
        done_(std::move(done)) {}

  void start(std::vector<std::string> owners) {
    for (size_t i = 0; i < owners.size(); ++i) {
      result_.answers.push_back({std::move(owners[i]), static_cast<int>(i), State::kNotAsked, {}});
    }
    // An owner may answer before the next is asked (an unknown member ends
    // at once): the call completes only after start, so its result shows
    // every owner asked. In parallel, every owner is asked even once the
    // quorum is decided (a write goes to all n).
    starting_ = true;
    if (serial_) {
      ask(0);
    } else {
      for (size_t i = 0; i < result_.answers.size(); ++i) ask(i);
    }
    starting_ = false;
    if (decided_ && (!wait_all_ || in_flight_ == 0)) deliver();
  }

 private:
  void ask(size_t i) {
    ReplicaAnswer& a = result_.answers[i];
    a.state = State::kPending;
    ++in_flight_;
    next_ = i + 1;
    send_(a.member, a.replica,
          [self = shared_from_this(), i](ForwardResult r) { self->answered(i, std::move(r)); });
  }

  void answered(size_t i, ForwardResult r) {
    --in_flight_;
    // The call has completed (its result moved out): a late answer is dropped.
    if (delivered_) return;
    ReplicaAnswer& a = result_.answers[i];
    a.state = State::kAnswered;
    if (r.ok()) {
      ++result_.ok_count;
    } else {
      ++failed_;
      if (result_.error == ForwardError::kOk) result_.error = r.error;
      if (!result_.message.empty()) result_.message += "; ";
      result_.message += a.member + ": " + std::string(to_string(r.error)) +
                         (r.message.empty() ? "" : " (" + r.message + ")");
    }
    a.result = std::move(r);
    const size_t n = result_.answers.size();
    if (result_.ok_count >= quorum_ || failed_ > n - quorum_) decided_ = true;
    if (!decided_ && serial_ && next_ < n) return ask(next_);
    if (decided_ && !starting_ && (!wait_all_ || in_flight_ == 0)) deliver();
  }

  void deliver() {
    delivered_ = true;
    if (result_.ok_count >= quorum_) {
      result_.error = ForwardError::kOk;
      result_.message.clear();
    } else {
      result_.message = std::to_string(result_.ok_count) + " of " +
                        std::to_string(result_.answers.size()) + " owners answered ok, " +
                        std::to_string(quorum_) + " needed: " + result_.message;
    }
    done_(std::move(result_));
  }

  size_t quorum_;
  bool serial_;
  bool wait_all_;
  ReplicaSend send_;
  std::function<void(ReplicaResult)> done_;
  ReplicaResult result_;
  size_t next_ = 0;
  size_t in_flight_ = 0;
  size_t failed_ = 0;
  bool starting_ = false;
  bool decided_ = false;
  bool delivered_ = false;
};

}  // namespace

std::string check_replica_options(const ReplicaOptions& o, size_t members) {
  if (o.n == 0 || o.n > kReplicasMax) {
    return "replica count " + std::to_string(o.n) + " is outside 1.." +
           std::to_string(kReplicasMax);
  }
  if (o.n > members) {
    return "replica count " + std::to_string(o.n) + " is above the ring's " +
           std::to_string(members) + " members";
  }
  if (o.quorum == 0 || o.quorum > o.n) {
    return "quorum " + std::to_string(o.quorum) + " is outside 1.." + std::to_string(o.n) +
           " (the replica count)";
  }
  return "";
}

void replicate_over(std::vector<std::string> owners, const ReplicaOptions& options,
                    ReplicaSend send, std::function<void(ReplicaResult)> done) {
  auto fan = std::make_shared<Fan>(options, std::move(send), std::move(done));
  fan->start(std::move(owners));
}

}  // namespace shoal::node
