// Where signed reports go. Sinks take the signed bytes as they are; they never re-serialize.
#pragma once

#include "report/signer.hpp"

namespace overflowd::sink {

class Sink {
public:
  virtual ~Sink() = default;
  virtual void write(const report::SignedReport& report) = 0;
  virtual void flush() = 0;
};

}  // namespace overflowd::sink
