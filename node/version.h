// Copyright shoal authors. What this build of shoal is: the release
// version (CMake's project version) and the wire protocol version it
// speaks. Shown by `shoald --version`, `shoal version` and the admin
// `status` answer.

#ifndef SHOAL_NODE_VERSION_H_
#define SHOAL_NODE_VERSION_H_

#include <cstdint>
#include <string_view>

namespace shoal {

// "0.1.0"
std::string_view version();
// membership::kProtocolVersion
uint32_t protocol_version();
// The protocol minor version this process speaks (membership::kProtocolMinor,
// or one more under shoald --test-protocol-next-minor).
uint32_t protocol_minor();

}  // namespace shoal

#endif  // SHOAL_NODE_VERSION_H_
