// Where signed reports go: stdout or a file (JSON lines) and, opt-in, the flow's endpoints over
// UDP, HTTP and HTTPS (see delivery_sink.hpp). Several sinks run at once; the pipeline writes each
// report to every sink in order, the stdout/file sink first, so that no delivery trouble can cost
// the line. Sinks take the signed bytes as they are; they never re-serialize.
#pragma once

#include <vector>

#include "core/counters.hpp"
#include "core/flow_record.hpp"
#include "report/signer.hpp"

namespace overflowd::sink {

class Sink {
public:
  virtual ~Sink() = default;
  // `flow` is the flow `report` is about: the network sinks send to its endpoints. Never blocks
  // on the network.
  virtual void write(const core::FlowRecord& flow, const report::SignedReport& report) = 0;
  // The end of the run: write out what is buffered. Network sinks wait a bounded time for pending
  // sends, then drop (and count) what is left.
  virtual void flush() = 0;
  // Log rotation (SIGHUP): a sink that owns a named file reopens it. Others do nothing.
  virtual void reopen() {}
  // Its counters for the summary ("udp.sent", "guard.suppressed.special_purpose", ...).
  virtual void append_counters(std::vector<core::NamedCount>& out) const { (void)out; }
};

}  // namespace overflowd::sink
