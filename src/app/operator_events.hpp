// What the receiver tells the operator (src/notify/) of a committed batch: each new alert, and each
// newly stored report judged a spoofing suspect, as one event (JSON for the webhook, a line for the
// log and syslog). The writer calls the observer this makes on its thread.
#pragma once

#include "notify/notifier.hpp"
#include "store/writer.hpp"

namespace overflowd::app {

[[nodiscard]] store::BatchObserver operator_events(notify::Notifier& notifier);

}  // namespace overflowd::app
