/* core/probes.h — USDT probes (provider "fanout") at the points one event passes through,
 * so perf or bpftrace can follow it without rebuilding:
 *   fanout:ingest     (conn slot, events in the batch)      a PublishBatch decoded
 *   fanout:append     (partition, offset, frame bytes)      an event encoded into its log
 *   fanout:route      (subscription id, frames gathered)    frames picked for a send
 *   fanout:send_done  (conn slot, bytes, -errno or 0)       a send completed
 * List them with `perf list sdt_fanout:*` after `perf buildid-cache --add fanoutd`.
 * Each is a single nop when nobody is tracing. Without <sys/sdt.h> they compile away. */
#ifndef FANOUT_CORE_PROBES_H
#define FANOUT_CORE_PROBES_H

#ifdef FANOUT_HAVE_SDT
#include <sys/sdt.h>
#define PROBE_INGEST(slot, n)            DTRACE_PROBE2(fanout, ingest, slot, n)
#define PROBE_APPEND(part, offset, len)  DTRACE_PROBE3(fanout, append, part, offset, len)
#define PROBE_ROUTE(sub, frames)         DTRACE_PROBE2(fanout, route, sub, frames)
#define PROBE_SEND_DONE(slot, bytes, rc) DTRACE_PROBE3(fanout, send_done, slot, bytes, rc)
#else
#define PROBE_INGEST(slot, n)            do { } while (0)
#define PROBE_APPEND(part, offset, len)  do { } while (0)
#define PROBE_ROUTE(sub, frames)         do { } while (0)
#define PROBE_SEND_DONE(slot, bytes, rc) do { } while (0)
#endif

#endif
