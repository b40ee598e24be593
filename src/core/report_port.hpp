// The UDP port reports are sent to and taken on (the sender's --report-port, the receiver's
// --udp-port and the port its capture filters on). Flows of this port are never reported.
#pragma once

#include <cstdint>

namespace overflowd::core {

inline constexpr std::uint16_t kReportPort = 65535;

}  // namespace overflowd::core
