#pragma once
// Names the calling thread (at most 15 characters): top -H, perf and /proc/PID/task show
// which of heraldd's threads is busy (scripts/bench reads them).
#include <pthread.h>

namespace herald {

inline void name_this_thread(const char* name) { pthread_setname_np(pthread_self(), name); }

}  // namespace herald
