// What the receiver tells the operator (src/notify/) of a committed batch: each new alert as one
// event (JSON for the webhook, a line for the log and syslog), and newly stored spoofing suspects
// grouped by source: one event per source per window, with a count. The first suspects of a source
// are told at once (count: those of that batch); more from it within `window` are held and told as
// one event with their count when the window ends: at the first commit after it, or at the next
// tick (the writer's idle loop calls it about once a second) if nothing more arrives; flush() tells
// every held count at stop. The writer calls the observer and the tick on its thread; flush() is
// called after the writer has stopped (all three are serialised by one mutex anyway).
#pragma once

#include <chrono>
#include <functional>

#include "core/clock.hpp"
#include "notify/notifier.hpp"
#include "store/writer.hpp"

namespace overflowd::app {

inline constexpr std::chrono::seconds kSuspectWindow{60};
// Sources with an open window at most; beyond, a new source's suspects are told per batch.
inline constexpr std::size_t kMaxSuspectSources = 10'000;

struct OperatorEvents {
  store::BatchObserver observer;  // each committed batch
  std::function<void()> tick;     // tells the windows ended by now (no new commit needed)
  std::function<void()> flush;    // tells every held count, ended or not (at stop)
};

[[nodiscard]] OperatorEvents operator_events(notify::Notifier& notifier,
                                                   std::chrono::milliseconds window = kSuspectWindow,
                                                   const core::Clock& clock = core::system_clock());

}  // namespace overflowd::app
