// The feed's wire types come from core, type-only: nothing of core (ws, node:crypto) reaches
// the browser bundle.
export type {
  Commit,
  FeedMessage,
  HistoryRelation,
  JsonValue,
  Member,
  MemberState,
  MergeReport,
  NodeStatus,
  PeerStatus,
} from '@mesh/core'
