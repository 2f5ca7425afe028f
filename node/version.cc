// Copyright shoal authors. See version.h.

#include "shoal/node/version.h"

#include "shoal/membership/messages.h"
#include "shoal/proto/codec.h"

#ifndef SHOAL_VERSION
#error "SHOAL_VERSION comes from CMake (node/CMakeLists.txt)"
#endif

namespace shoal {

std::string_view version() { return SHOAL_VERSION; }
uint32_t protocol_version() { return membership::kProtocolVersion; }
uint32_t protocol_minor() { return proto::advertised_minor(); }

}  // namespace shoal
