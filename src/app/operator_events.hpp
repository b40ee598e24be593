// What the receiver tells the operator (src/notify/) of a committed batch: each new alert as one
// event (JSON for the webhook, a line for the log and syslog), and newly stored spoofing suspects
// grouped by source: one event per source per window, with a count. The first suspects of a source
// are told at once (count: those of that batch); more from it within `window` are held and told as
// one event with their count at the first commit after the window ends. The writer calls the
// observer this makes on its thread.
#pragma once

#include <chrono>

#include "core/clock.hpp"
#include "notify/notifier.hpp"
#include "store/writer.hpp"

namespace overflowd::app {

inline constexpr std::chrono::seconds kSuspectWindow{60};
// Sources with an open window at most; beyond, a new source's suspects are told per batch.
inline constexpr std::size_t kMaxSuspectSources = 10'000;

[[nodiscard]] store::BatchObserver operator_events(notify::Notifier& notifier,
                                                   std::chrono::milliseconds window = kSuspectWindow,
                                                   const core::Clock& clock = core::system_clock());

}  // namespace overflowd::app
