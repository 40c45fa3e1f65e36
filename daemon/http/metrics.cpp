// /metrics: heraldd's counters, the store's gauges and the dispatcher's, as Prometheus text.
#include "http/api.hpp"

namespace herald::http {

std::string metrics_text(ApiContext& ctx, const std::string& loop_part) {
  const Metrics& m = ctx.metrics;
  std::string out;
  auto counter = [&](const char* name, const char* help, const std::string& labels, uint64_t v) {
    if (!help[0]) {
      out += std::string(name) + labels + " " + std::to_string(v) + "\n";
      return;
    }
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " counter\n";
    out += std::string(name) + labels + " " + std::to_string(v) + "\n";
  };
  counter("herald_directives_received_total", "Directive messages taken from the queue.", "",
          m.directives_received);
  counter("herald_directives_created_total", "Directives committed as new.", "", m.directives_created);
  counter("herald_directives_duplicate_total", "Directives whose id was already taken in.", "",
          m.directives_duplicate);
  counter("herald_directives_rejected_total", "Directives sent to the dead-letter queue.",
          "{reason=\"invalid\"}", m.directives_rejected_invalid);
  counter("herald_directives_rejected_total", "", "{reason=\"unresolved\"}",
          m.directives_rejected_unresolved);
  counter("herald_deliveries_planned_total", "Deliveries created by intake.", "", m.deliveries_planned);
  counter("herald_store_errors_total", "Store operations that failed.", "", m.store_errors);
  counter("herald_broker_connects_total", "Successful broker connections.", "", m.broker_connects);
  out += "# HELP herald_broker_connected Whether the directive consumer is connected.\n"
         "# TYPE herald_broker_connected gauge\n";
  out += "herald_broker_connected " + std::string(m.broker_connected ? "1" : "0") + "\n";
  if (ctx.writer) {
    out += "# HELP herald_store_writable Whether the store took the last batch of writes (0: disk full, locked, I/O errors).\n"
           "# TYPE herald_store_writable gauge\n";
    out += "herald_store_writable " + std::string(ctx.writer->unavailable() ? "0" : "1") + "\n";
  }
  out += "# HELP herald_deliveries Deliveries in the store by channel and state.\n"
         "# TYPE herald_deliveries gauge\n";
  try {
    for (const auto& c : ctx.store.delivery_counts())
      out += "herald_deliveries{channel=\"" + std::string(to_string(c.channel)) + "\",state=\"" +
             std::string(to_string(c.state)) + "\"} " + std::to_string(c.count) + "\n";
    out += "# HELP herald_directives Directives in the store.\n# TYPE herald_directives gauge\n";
    out += "herald_directives " + std::to_string(ctx.store.directive_count()) + "\n";
  } catch (const StoreError&) {
    out += "# store unavailable\n";
  }
  counter("herald_send_attempts_total", "Requests handed to a gateway.", "", m.send_attempts);
  counter("herald_send_accepted_total", "Messages a gateway accepted.", "", m.send_accepted);
  counter("herald_send_retries_total", "Transient failures with a retry scheduled.", "", m.send_retries);
  counter("herald_send_failed_total", "Sends given up (permanent, attempts or deadline).", "", m.send_failed);
  counter("herald_receipts_total", "Provider receipts by outcome.", "{outcome=\"applied\"}", m.receipts_applied);
  counter("herald_receipts_total", "", "{outcome=\"unchanged\"}", m.receipts_unchanged);
  counter("herald_receipts_total", "", "{outcome=\"ignored\"}", m.receipts_ignored);
  counter("herald_receipts_total", "", "{outcome=\"rejected\"}", m.receipts_rejected);
  if (ctx.operations) {
    out += "# HELP herald_operations_running Cancels and replays with batches still to run.\n"
           "# TYPE herald_operations_running gauge\n";
    out += "herald_operations_running " + std::to_string(ctx.operations->running()) + "\n";
  }
  out += loop_part;
  return out;
}

}  // namespace herald::http
