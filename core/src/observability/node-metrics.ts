import { CALL_LATENCY_BUCKETS } from '../common/index.js'
import type { Metric } from './prometheus.js'
import type { NodeView } from './status.js'
import { storageMetrics } from './storage-metrics.js'

/** Assembles `node.metrics()`: counters and gauges for monitoring. */
export const nodeMetrics = (node: NodeView): Metric[] => {
  const links = [...node.links()]
  const rooms = [...node.rooms()]
  const m = node.counters
  const counter = (name: string, help: string, value: number): Metric => ({
    name,
    help,
    type: 'counter',
    values: [{ value }],
  })
  const gauge = (name: string, help: string, value: number): Metric => ({
    name,
    help,
    type: 'gauge',
    values: [{ value }],
  })
  const states = new Map<string, number>()
  for (const member of node.members()) {
    const key = `${member.role}:${member.state}`
    states.set(key, (states.get(key) ?? 0) + 1)
  }
  let pending = 0
  for (const link of node.links()) {
    for (const state of Object.values(link.roomStates())) if (state.state !== 'synced') pending++
  }
  const memory = process.memoryUsage()
  const now = Date.now()
  return [
    gauge('mesh_peers', 'Open peer links.', links.length),
    gauge('mesh_light_peers', 'Connected light peers (browser tabs, y-websocket clients).', node.lightPeers),
    gauge('mesh_rooms', 'Rooms hosted.', rooms.length),
    {
      name: 'mesh_members',
      help: 'Known members by role and state.',
      type: 'gauge',
      values: [...states].map(([key, value]) => {
        const [role = '', state = ''] = key.split(':')
        return { labels: { role, state }, value }
      }),
    },
    counter('mesh_commits_total', 'Yjs updates applied (local and remote).', node.commits),
    counter('mesh_peer_frames_in_total', 'Frames received on peer links.', m.peerFramesIn),
    counter('mesh_peer_frames_out_total', 'Frames sent on peer links.', m.peerFramesOut),
    counter('mesh_peer_bytes_in_total', 'Bytes received on peer links.', m.peerBytesIn),
    counter('mesh_peer_bytes_out_total', 'Bytes sent on peer links.', m.peerBytesOut),
    counter('mesh_light_frames_in_total', 'Frames received from light peers.', m.lightFramesIn),
    counter('mesh_light_frames_out_total', 'Frames sent to light peers.', m.lightFramesOut),
    counter('mesh_light_bytes_in_total', 'Bytes received from light peers.', m.lightBytesIn),
    counter('mesh_light_bytes_out_total', 'Bytes sent to light peers.', m.lightBytesOut),
    {
      name: 'mesh_rejected_total',
      help: 'Sockets closed for bad input or limits, by reason.',
      type: 'counter',
      values: [...m.rejected].map(([reason, value]) => ({ labels: { reason }, value })),
    },
    gauge('mesh_sync_pending_rooms', 'Rooms on open links whose (re)sync has not finished.', pending),
    {
      name: 'mesh_peer_silence_seconds',
      help: 'Seconds since the last frame from each peer (sync lag when it grows).',
      type: 'gauge',
      values: links.map((link) => ({
        labels: { peer: link.remote?.name ?? link.peerId ?? '' },
        value: (now - link.lastReceivedAt) / 1000,
      })),
    },
    gauge(
      'mesh_rooms_pending_structs',
      'Rooms holding updates that wait for something they depend on (a gap anti-entropy repairs).',
      rooms.filter((room) => room.pending).length,
    ),
    counter('mesh_anti_entropy_repairs_sent_total', 'Repairs sent to peers that lacked updates.', m.repairsSent),
    counter('mesh_anti_entropy_repairs_received_total', 'Repairs received from peers.', m.repairsReceived),
    counter('mesh_anti_entropy_checks_sent_total', 'Anti-entropy round checks sent to peers.', m.checksSent),
    counter(
      'mesh_anti_entropy_checks_skipped_total',
      'Anti-entropy round checks left out: neither side had changed since the last.',
      m.checksSkipped,
    ),
    counter(
      'mesh_duplicate_updates_applied_total',
      'Live updates from peers that held nothing new (duplicates; not applied again).',
      m.duplicatesApplied,
    ),
    counter(
      'mesh_duplicate_relays_dropped_total',
      'Relays not sent because the peer gets the update from the node it came from.',
      m.duplicatesDropped,
    ),
    counter(
      'mesh_pending_dropped_total',
      'Times a room dropped updates that stayed pending: what they depend on never arrived.',
      m.pendingDropped,
    ),
    {
      name: 'mesh_internal_errors_total',
      help: 'Errors caught in timers and handlers (each logged), by where.',
      type: 'counter',
      values: [...m.failures].map(([where, value]) => ({ labels: { where }, value })),
    },
    counter('mesh_calls_total', 'Routed calls this node made.', m.calls),
    counter('mesh_casts_total', 'Routed casts (calls without an answer) this node sent.', m.casts),
    counter('mesh_calls_served_total', "Calls and casts this node's actors ran.", m.callsServed),
    counter(
      'mesh_calls_joined_total',
      'Copies of calls in progress here, sent again after their link closed: answered once, not run again.',
      m.callsJoined,
    ),
    counter(
      'mesh_calls_relayed_total',
      'Calls this node relayed to an owner its caller had no link to.',
      m.callsRelayed,
    ),
    counter('mesh_pubsub_published_total', 'Pub/sub messages published on this node.', m.pubsubPublished),
    counter('mesh_pubsub_delivered_total', "Pub/sub deliveries to this node's subscribers.", m.pubsubDelivered),
    counter('mesh_pubsub_relayed_total', 'Pub/sub messages passed on to other peers.', m.pubsubRelayed),
    counter('mesh_pubsub_duplicates_total', 'Copies of pub/sub messages dropped as seen.', m.pubsubDuplicates),
    counter('mesh_pubsub_refused_total', 'Light-peer subscribes and publishes refused.', m.pubsubRefused),
    {
      name: 'mesh_call_errors_total',
      help: 'Routed calls this node made that failed, by code.',
      type: 'counter',
      values: [...m.callErrors].map(([code, value]) => ({ labels: { code }, value })),
    },
    {
      name: 'mesh_call_duration_seconds',
      help: 'Time from call to answer of the routed calls this node made.',
      type: 'histogram',
      values: [
        ...CALL_LATENCY_BUCKETS.map((le, i) => ({
          suffix: '_bucket',
          labels: { le: String(le) },
          value: m.callLatency.buckets.slice(0, i + 1).reduce((a, b) => a + b, 0),
        })),
        { suffix: '_bucket', labels: { le: '+Inf' }, value: m.callLatency.count },
        { suffix: '_sum', value: m.callLatency.sum },
        { suffix: '_count', value: m.callLatency.count },
      ],
    },
    gauge('mesh_actors', 'Live actors on this node.', node.actors),
    gauge('mesh_conflicts_pending', 'Rooms quarantined by onConflict "exception".', node.conflicts().length),
    gauge('mesh_heap_used_bytes', 'V8 heap in use.', memory.heapUsed),
    gauge('mesh_rss_bytes', 'Resident set size.', memory.rss),
    gauge('mesh_uptime_seconds', 'Seconds since the node started.', (now - node.startedAt) / 1000),
    ...storageMetrics(node.persistence()),
  ]
}
